//! Where résumés live: an `object_store` behind one small API, so that the local disk of the
//! embedded default and S3-compatible stores (AWS, MinIO) are used the same way.

use std::{
    path::{Path as FsPath, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart, aws::AmazonS3Builder,
    local::LocalFileSystem, path::Path, prefix::PrefixStore,
};
use tokio::io::AsyncReadExt;

#[derive(Clone)]
pub enum StorageSettings {
    /// A folder on the local disk.
    Local(PathBuf),
    S3(S3Settings),
}

impl Default for StorageSettings {
    /// The local disk, in `./data/uploads`.
    fn default() -> Self {
        Self::Local(PathBuf::from("./data/uploads"))
    }
}

#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix inside the bucket, without slashes at either end; may be empty.
    pub prefix: String,
    /// An S3-compatible server such as MinIO; `None` means AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// Bytes read from the spooled upload per write to S3, where parts of 5 MiB go out as they fill.
const CHUNK: usize = 256 * 1024;
/// S3 parts must be at least 5 MiB (but for the last); four go out at once, for speed.
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
const S3_PARTS_IN_FLIGHT: usize = 4;
/// Files up to this size are read into memory and stored in one put (S3).
const SINGLE_PUT_MAX: u64 = 256 * 1024;

/// A spooled upload on its way into the store.
pub enum Content {
    Memory(Bytes),
    File(std::fs::File),
    /// Already in its place on the local disk, written when it was prepared.
    Placed,
}

impl Content {
    /// The spooled `file` of `size` bytes, read into memory if they are few
    /// (blocking I/O: call it off the async threads).
    fn from_spooled(mut file: std::fs::File, size: u64) -> std::io::Result<Self> {
        use std::io::{Read, Seek, SeekFrom};
        if size > SINGLE_PUT_MAX {
            return Ok(Self::File(file));
        }
        file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(size).read_to_end(&mut bytes)?;
        Ok(Self::Memory(bytes.into()))
    }
}

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Set for the local disk: uploads are copied file to file by the kernel.
    local_root: Option<PathBuf>,
}

pub struct StoredObject {
    pub size: u64,
    pub stream: BoxStream<'static, object_store::Result<Bytes>>,
}

impl Storage {
    pub fn new(settings: &StorageSettings) -> anyhow::Result<Self> {
        match settings {
            StorageSettings::Local(dir) => Self::local(dir),
            StorageSettings::S3(s3) => Self::s3(s3),
        }
    }

    pub fn local(dir: &FsPath) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let store =
            LocalFileSystem::new_with_prefix(dir).with_context(|| format!("opening {} for résumés", dir.display()))?;
        // Absolute, as the store's own root is, so both name the same files.
        let root = std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
        Ok(Self { store: Arc::new(store), local_root: Some(root) })
    }

    fn s3(settings: &S3Settings) -> anyhow::Result<Self> {
        let client = s3_builder(settings).build().context("configuring S3 storage")?;
        let store: Arc<dyn ObjectStore> = if settings.prefix.is_empty() {
            Arc::new(client)
        } else {
            Arc::new(PrefixStore::new(client, settings.prefix.as_str()))
        };
        Ok(Self { store, local_root: None })
    }

    /// The first `size` bytes of a spooled upload, made ready to be stored under `key` (blocking
    /// I/O: call it off the async threads). The local disk takes the file from the spool by a
    /// kernel copy at once, in the same hop off the async threads as the upload's inspection
    /// (reading it into memory first cost a copy more per submission, a second hop a thread
    /// switch more); S3 gets a small upload in memory, a larger one as the file.
    pub fn prepare(&self, key: &str, file: std::fs::File, size: u64) -> anyhow::Result<Content> {
        match &self.local_root {
            Some(root) => {
                copy_into_place(file, size, &root.join(Path::parse(key)?.as_ref()))?;
                Ok(Content::Placed)
            }
            None => Ok(Content::from_spooled(file, size)?),
        }
    }

    /// Finishes storing prepared content: a small upload in one put, a larger one in parts
    /// (S3), never holding it whole in memory; on the local disk it is already in place.
    pub async fn put(&self, key: &str, content: Content) -> anyhow::Result<()> {
        let path = Path::parse(key)?;
        let file = match content {
            Content::Placed => return Ok(()),
            // One request instead of a multipart upload's three.
            Content::Memory(bytes) => {
                self.store.put(&path, bytes.into()).await?;
                return Ok(());
            }
            Content::File(file) => file,
        };
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, S3_PART_BYTES);
        let mut file = tokio::fs::File::from_std(file);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e.into());
                }
            };
            if let Err(e) = writer.wait_for_capacity(S3_PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<StoredObject> {
        let result = self.store.get(&Path::parse(key)?).await?;
        Ok(StoredObject { size: result.meta.size, stream: result.into_stream() })
    }

    /// Deletes the object; one already gone counts as deleted (a deletion retried after it
    /// succeeded unseen, or a file removed by hand).
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.store.delete(&Path::parse(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Readiness: can the store take a write right now? (Listing is not enough: a store can be
    /// readable and still refuse the next résumé.) Overwrites one tiny marker object.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.store.put(&Path::from(".readyz"), Bytes::from_static(b"ok").into()).await?;
        Ok(())
    }
}

/// Copies the spooled upload to `target` inside the kernel (`copy_file_range`/`sendfile`), so
/// no upload passes through the server's memory; a failed copy (a full disk) leaves no file
/// behind. (Through object_store in 256 KiB parts, 64 uploads of 5 MB at once went
/// 25 % slower and peaked 25 MiB higher; BENCHMARKS.md.)
fn copy_into_place(mut file: std::fs::File, size: u64, target: &FsPath) -> anyhow::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    // Written in place, not staged and renamed: the key is new and no lead names it before
    // this write succeeds, so nobody can read it half written. A rename took the directory's
    // lock a second time, and concurrent submissions queued on it (BENCHMARKS.md).
    let create = || std::fs::OpenOptions::new().write(true).create_new(true).open(target);
    // The folder is made only when missing, not tried on every put.
    let created = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = target.parent().context("a résumé key names a file")?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            create()
        }
        created => created,
    };
    let mut placed = created.with_context(|| format!("creating {}", target.display()))?;
    let copied = file.seek(SeekFrom::Start(0)).and_then(|_| std::io::copy(&mut file.take(size), &mut placed));
    let written = match copied {
        Ok(copied) if copied == size => Ok(()),
        Ok(copied) => Err(anyhow::anyhow!("the spooled upload ended after {copied} of {size} bytes")),
        Err(e) => Err(anyhow::Error::new(e).context(format!("writing {}", target.display()))),
    };
    if written.is_err() {
        let _ = std::fs::remove_file(target);
    }
    written
}

fn s3_builder(settings: &S3Settings) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&settings.bucket)
        .with_region(&settings.region)
        // Path-style (`host/bucket/key`) works with MinIO and any S3-compatible server.
        .with_virtual_hosted_style_request(false)
        // A store that is down must fail a submission in seconds, not after minutes of retries.
        .with_retry(RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(10), ..Default::default() })
        .with_client_options(
            ClientOptions::new().with_connect_timeout(Duration::from_secs(3)).with_timeout(Duration::from_secs(60)),
        );
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    if let (Some(key), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
        builder = builder.with_access_key_id(key).with_secret_access_key(secret);
    }
    builder
}

/// True when this one cause says the object store could not be reached (refused, reset, timed
/// out) or the local disk is full, not that it answered with an error: the same request may
/// succeed once the store is back or room is made, and nothing stored is lost meanwhile. The
/// caller walks the chain of causes.
pub fn is_unavailable(cause: &(dyn std::error::Error + 'static)) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    use std::io::ErrorKind;
    if let Some(http) = cause.downcast_ref::<HttpError>() {
        return matches!(http.kind(), HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Interrupted);
    }
    cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
        matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::NotConnected
                | ErrorKind::TimedOut
                | ErrorKind::BrokenPipe
                | ErrorKind::StorageFull
                | ErrorKind::QuotaExceeded
        )
    })
}
