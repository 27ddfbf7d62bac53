//! How the process gives memory back to the system.
//!
//! glibc's malloc serves a block of 128 KiB or more with a mapping of its own, unmapped when
//! freed, but raises that threshold to the size of each such block freed (up to 32 MiB): after
//! the first large request or answer buffer, every later one is carved from the per-thread
//! arenas (sixteen on two cores). And an arena gives its free pages back only from its top, so
//! under load each keeps its high-water mark: under `bench memory` the arenas held 40 MB more
//! than was in use. So large blocks are always mapped on their own, and the free pages inside
//! the arenas are handed back every second. Fewer arenas (`MALLOC_ARENA_MAX`) kept less too, but
//! cost a sixth to a quarter of the submission rate in lock contention (BENCHMARKS.md).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Blocks of this size or more are mapped on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 64 * 1024;

const TRIM_EVERY: Duration = Duration::from_secs(1);

/// Sets the threshold, unless the operator chose one (`MALLOC_MMAP_THRESHOLD_`, glibc's own
/// variable). Called first thing, before the threads that allocate the most exist.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt takes two ints and changes a setting of the allocator, which it
        // guards with its own lock; it touches no memory of ours.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        }
    }
}

/// Hands the arenas' free pages back every second until `stop`.
pub fn spawn_trimmer(stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(TRIM_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            // It walks every arena's free lists under their locks: off the async threads.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes an int and works under the allocator's own locks; it touches
    // no memory of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl's, the BSDs') give memory back on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
