//! A real S3 protocol server in the test process (s3s + s3s-fs): objects land as files in a
//! temporary folder, requests are SigV4-authenticated, and it can be taken down mid-test or
//! made to hold writes until told to go on.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use hyper::Method;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder as ConnBuilder,
};
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};
use tokio::{net::TcpListener, sync::watch, task::AbortHandle};

pub const ACCESS_KEY: &str = "intake-test-access";
pub const SECRET_KEY: &str = "intake-test-secret-key";
pub const BUCKET: &str = "resumes";

pub struct S3Server {
    pub endpoint: String,
    root: tempfile::TempDir,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    /// True while writes are held; counts the writes that arrived meanwhile.
    held: Arc<watch::Sender<(bool, usize)>>,
}

impl S3Server {
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let held = Arc::new(watch::Sender::new((false, 0)));
        let server = Self { endpoint, root, tasks: Default::default(), held };
        server.serve(listener);
        server
    }

    /// Answers again, on the same address and with the same objects, after `stop`.
    pub async fn restart(&self) {
        let addr = self.endpoint.trim_start_matches("http://");
        self.serve(TcpListener::bind(addr).await.unwrap());
    }

    fn serve(&self, listener: TcpListener) {
        let mut builder = S3ServiceBuilder::new(s3s_fs::FileSystem::new(self.root.path()).unwrap());
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let s3 = builder.build();
        let held = self.held.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (s3, held) = (s3.clone(), held.clone());
            async move {
                if matches!(*request.method(), Method::PUT | Method::POST) && held.borrow().0 {
                    held.send_modify(|(_, arrived)| *arrived += 1);
                    let _ = held.subscribe().wait_for(|(holding, _)| !holding).await;
                }
                hyper::service::Service::call(&s3, request).await
            }
        });
        let registry = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                let conn = tokio::spawn(async move {
                    let _ =
                        ConnBuilder::new(TokioExecutor::new()).serve_connection(TokioIo::new(socket), service).await;
                });
                registry.lock().unwrap().push(conn.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
    }

    /// Stops answering: the listener and every open connection go away.
    pub fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Holds every write (PUT, POST) that arrives from now on until `release_writes`.
    pub fn hold_writes(&self) {
        self.held.send_modify(|(holding, _)| *holding = true);
    }

    /// Lets the held writes and any later ones through.
    pub fn release_writes(&self) {
        self.held.send_modify(|(holding, _)| *holding = false);
    }

    /// Waits until `n` writes have arrived while held.
    pub async fn writes_held(&self, n: usize) {
        let _ = self.held.subscribe().wait_for(|(_, arrived)| *arrived >= n).await;
    }

    /// Every object in the bucket (readiness markers aside), as paths relative to it.
    pub fn objects(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    out.push(path.strip_prefix(base).unwrap().to_owned());
                }
            }
        }
        let bucket = self.root.path().join(BUCKET);
        let mut out = Vec::new();
        walk(&bucket, &bucket, &mut out);
        out.retain(|p| !p.ends_with(".readyz"));
        out.sort();
        out
    }

    pub fn read(&self, relative: &std::path::Path) -> Vec<u8> {
        std::fs::read(self.root.path().join(BUCKET).join(relative)).unwrap()
    }
}
