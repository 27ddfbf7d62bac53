//! Where an uploaded file goes while the request streams in. Small files (most résumés) stay
//! in memory, in an anonymous memory-backed file (`memfd`), so a submission creates and deletes
//! no file on disk just to hold its upload; once a file passes `MEMORY_LIMIT` it moves to an
//! anonymous temporary file on disk, so memory never grows with file size.
//!
//! (Measured: creating and deleting a temporary file per submission cost about a quarter of the
//! server's CPU under load, in ext4's inode allocator; see BENCHMARKS.md.)

use std::{
    fs::File,
    io::{self, Seek, SeekFrom, Write},
};

/// Per upload; with 64 uploads in flight that is at most 16 MiB.
pub const MEMORY_LIMIT: u64 = 256 * 1024;

pub struct Spool {
    file: File,
    in_memory: bool,
    written: u64,
}

impl Spool {
    pub fn new() -> io::Result<Self> {
        match rustix::fs::memfd_create("intake-upload", rustix::fs::MemfdFlags::CLOEXEC) {
            Ok(fd) => Ok(Self { file: File::from(fd), in_memory: true, written: 0 }),
            // Kernels or sandboxes without memfd: straight to disk.
            Err(_) => Ok(Self { file: tempfile::tempfile()?, in_memory: false, written: 0 }),
        }
    }

    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.in_memory && self.written + chunk.len() as u64 > MEMORY_LIMIT {
            let mut disk = tempfile::tempfile()?;
            self.file.seek(SeekFrom::Start(0))?;
            io::copy(&mut self.file, &mut disk)?;
            self.file = disk;
            self.in_memory = false;
        }
        self.file.write_all(chunk)?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    pub fn into_file(self) -> File {
        self.file
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn contents(spool: Spool) -> Vec<u8> {
        let mut file = spool.into_file();
        file.seek(SeekFrom::Start(0)).unwrap();
        let mut out = Vec::new();
        file.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_small_file_stays_in_memory() {
        let mut spool = Spool::new().unwrap();
        spool.write(b"%PDF-1.7 ").unwrap();
        spool.write(b"small").unwrap();
        assert!(spool.in_memory);
        assert_eq!(contents(spool), b"%PDF-1.7 small");
    }

    #[test]
    fn a_large_file_moves_to_disk_whole() {
        let mut spool = Spool::new().unwrap();
        let chunk = vec![7u8; 100 * 1024];
        for _ in 0..5 {
            spool.write(&chunk).unwrap();
        }
        assert!(!spool.in_memory, "500 KiB is past the memory limit");
        let all = contents(spool);
        assert_eq!(all.len(), 500 * 1024);
        assert!(all.iter().all(|&b| b == 7));
    }
}
