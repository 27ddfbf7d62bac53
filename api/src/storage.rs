//! Where résumés live: an `object_store` behind one small API, so that the local disk of the
//! embedded default and S3-compatible stores are used the same way.

use std::{path::Path as FsPath, sync::Arc};

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::{
    ObjectStore, ObjectStoreExt, WriteMultipart, local::LocalFileSystem, path::Path,
};
use tokio::io::AsyncReadExt;

/// Bytes read from the spooled upload per chunk written to the store.
const CHUNK: usize = 256 * 1024;

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
}

pub struct StoredObject {
    pub size: u64,
    pub stream: BoxStream<'static, object_store::Result<Bytes>>,
}

impl Storage {
    pub fn local(dir: &FsPath) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("opening {} for résumés", dir.display()))?;
        Ok(Self {
            store: Arc::new(store),
        })
    }

    /// Copies a spooled upload into the store in chunks, never holding it whole in memory.
    pub async fn put_file(&self, key: &str, file: std::fs::File) -> anyhow::Result<()> {
        let path = Path::parse(key)?;
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new(upload);
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
            writer.wait_for_capacity(4).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<StoredObject> {
        let result = self.store.get(&Path::parse(key)?).await?;
        Ok(StoredObject {
            size: result.meta.size,
            stream: result.into_stream(),
        })
    }

    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        Ok(self.store.delete(&Path::parse(key)?).await?)
    }

    /// Readiness: can the store take a write right now? (Listing is not enough: a store can be
    /// readable and still refuse the next résumé.) Overwrites one tiny marker object.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.store
            .put(&Path::from(".readyz"), Bytes::from_static(b"ok").into())
            .await?;
        Ok(())
    }
}
