//! A small HTTP/1.1 load generator: a fixed number of keep-alive connections, each sending its
//! next request as soon as the previous answer is read (a closed loop, like `oha -c N`), with
//! every latency recorded in an HDR histogram. It runs on hyper's bare client connection so that
//! it takes as little of the shared CPU as possible.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Makes the `n`th request of a run (numbered across all connections).
pub type MakeRequest = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;

pub struct Stats {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    latencies_us: Histogram<u64>,
    pub first_failure: Option<String>,
}

impl Stats {
    fn empty() -> Self {
        Self {
            ok: 0,
            failed: 0,
            elapsed: Duration::ZERO,
            latencies_us: Histogram::new(3).expect("valid precision"),
            first_failure: None,
        }
    }

    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latencies_us.value_at_quantile(q) as f64 / 1000.0
    }

    /// Fails the benchmark rather than report a speed built on errors.
    pub fn ensure_clean(&self, what: &str) -> anyhow::Result<()> {
        anyhow::ensure!(self.ok > 0, "{what}: no request succeeded; first failure: {:?}", self.first_failure);
        anyhow::ensure!(
            self.failed == 0,
            "{what}: {} of {} requests failed; first: {}",
            self.failed,
            self.ok + self.failed,
            self.first_failure.as_deref().unwrap_or("?")
        );
        Ok(())
    }
}

/// Runs `connections` closed-loop clients against `addr` for `duration`.
pub async fn run(addr: SocketAddr, connections: usize, duration: Duration, make: MakeRequest) -> anyhow::Result<Stats> {
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (make, counter) = (make.clone(), counter.clone());
        tasks.push(tokio::spawn(async move { client(addr, deadline, make, counter).await }));
    }
    let mut total = Stats::empty();
    for task in tasks {
        let part = task.await.context("a load client panicked")??;
        total.ok += part.ok;
        total.failed += part.failed;
        total.latencies_us.add(&part.latencies_us).expect("same precision");
        total.first_failure = total.first_failure.or(part.first_failure);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

async fn client(
    addr: SocketAddr,
    deadline: Instant,
    make: MakeRequest,
    counter: Arc<std::sync::atomic::AtomicU64>,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::empty();
    let mut sender = connect(addr).await?;
    while Instant::now() < deadline {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request = make(n);
        let sent = Instant::now();
        match exchange(&mut sender, request).await {
            Ok((status, body)) if status.is_success() && !has_graphql_errors(&body) => {
                stats.latencies_us.record(sent.elapsed().as_micros() as u64).expect("auto-resizing histogram");
                stats.ok += 1;
            }
            Ok((status, body)) => {
                stats.failed += 1;
                stats.first_failure.get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
            }
            Err(e) => {
                stats.failed += 1;
                stats.first_failure.get_or_insert_with(|| format!("{e:#}"));
                sender = connect(addr).await?;
            }
        }
    }
    Ok(stats)
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

fn has_graphql_errors(body: &[u8]) -> bool {
    body.windows(9).any(|w| w == b"\"errors\":")
}

/// One request, for setting a run up (signing in, looking ids up).
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> anyhow::Result<serde_json::Value> {
    let mut sender = connect(addr).await?;
    let (status, body) = exchange(&mut sender, request).await?;
    let json: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("{status}: not JSON: {}", String::from_utf8_lossy(&body)))?;
    anyhow::ensure!(status.is_success() && json.get("errors").is_none(), "{status}: {json}");
    Ok(json)
}

/// A GraphQL POST with a JSON body.
pub fn graphql(body: &serde_json::Value, token: Option<&str>) -> Request<Full<Bytes>> {
    let mut request =
        Request::post("/graphql").header(header::HOST, "localhost").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Full::new(Bytes::from(body.to_string()))).expect("valid request")
}
