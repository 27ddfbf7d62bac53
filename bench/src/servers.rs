//! The servers under test run as child processes of this binary (`bench serve-intake …` and
//! `bench serve-floor`), so that their memory can be read on its own and the load generator
//! is not sharing their runtime.

use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::Context;
use tokio::process::{Child, Command};

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// From spawning the process to the first `/readyz` 200.
    pub started_in: Duration,
}

#[derive(Clone, Copy)]
pub enum Kind {
    /// `intake serve --no-worker`: the API as an API replica runs it.
    IntakeApi,
    /// `intake serve`: the embedded default, mail worker included.
    IntakeWithWorker,
    Floor,
    /// `bench/src/bare.rs`: the physical work alone.
    Bare,
}

impl Server {
    /// Starts a server with `env` (on top of a clean environment) and waits until it is ready.
    /// Its log goes to `log_dir/<kind>.log`.
    pub async fn start(kind: Kind, env: &[(String, String)], log_dir: &Path) -> anyhow::Result<Self> {
        let addr = free_port()?;
        let args: &[&str] = match kind {
            Kind::IntakeApi => &["serve-intake", "serve", "--no-worker"],
            Kind::IntakeWithWorker => &["serve-intake", "serve"],
            Kind::Floor => &["serve-floor"],
            Kind::Bare => &["serve-bare"],
        };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_dir.join(match kind {
            Kind::Floor => "floor.log",
            Kind::Bare => "bare.log",
            Kind::IntakeApi | Kind::IntakeWithWorker => "intake.log",
        }))?;
        let started = Instant::now();
        let child = Command::new(std::env::current_exe()?)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            // Settings to compare by hand, e.g. `BENCH_SERVER_ENV="MALLOC_ARENA_MAX=8 INTAKE_READ_CACHE_MS=0"`.
            .envs(extra_env())
            .env("INTAKE_ADDR", addr.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting a server")?;
        let mut server = Self { child, addr, started_in: Duration::ZERO };
        server.started_in = server.wait_ready(started).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, started: Instant) -> anyhow::Result<Duration> {
        while started.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the server exited with {status} before it was ready (see its log)");
            }
            if ready(self.addr).await {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        anyhow::bail!("the server was not ready within 60 s")
    }

    /// The most memory the process has held at once (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        self.status_kib("VmHWM:")
    }

    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<f64> {
        let pid = self.child.id().context("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
        Ok(kib / 1024.0)
    }

    /// SIGTERM, then wait for the graceful stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.context("the server did not stop")??;
        Ok(())
    }
}

/// A port nobody is listening on right now, for the child to bind.
fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

async fn ready(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let request = b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && &head[9..12] == b"200"
}

/// `BENCH_SERVER_ENV`: space-separated `NAME=value` pairs given to every server under test.
fn extra_env() -> Vec<(String, String)> {
    let pairs = std::env::var("BENCH_SERVER_ENV").unwrap_or_default();
    pairs.split_whitespace().filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect()
}
