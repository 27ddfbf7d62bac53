//! `intake health`: asks this container's own server whether it is ready, so the runtime image
//! needs no curl for its healthcheck.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// GET /readyz on `addr` (an unspecified address such as 0.0.0.0 means this host).
pub async fn check(addr: SocketAddr) -> anyhow::Result<()> {
    let target = if addr.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], addr.port())) } else { addr };
    let probe = async {
        let mut stream = TcpStream::connect(target).await.with_context(|| format!("connecting to {target}"))?;
        stream.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n").await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(5), probe).await.context("no answer within 5 s")??;
    let status = response.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        bail!("not ready: {status} {body}");
    }
    Ok(())
}
