//! The accept loop: axum's router on hyper, with connection settings `axum::serve` does not
//! expose, and a graceful shutdown that lets requests in flight finish.

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// hyper reads a request body into a buffer that grows to 400 KiB; with a fast client every
/// read fills it, so each upload in flight held that much or more (64 uploads of 5 MB at once:
/// 177 MiB peak; BENCHMARKS.md). 64 KiB still moves a body in few reads.
const MAX_READ_BUFFER: usize = 64 * 1024;

/// Serves `router` on `listener` until `shutdown` completes, then waits for open requests.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(MAX_READ_BUFFER).timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait instead of spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small GraphQL answers must not wait for the peer's delayed ACK.
        let _ = stream.set_nodelay(true);
        let service =
            TowerToHyperService::new(router.clone().map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                request
            }));
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
