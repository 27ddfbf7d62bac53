//! Cross-process signals on PostgreSQL: a writer sends NOTIFY on a channel (delivered when its
//! transaction commits) and every interested process LISTENs. Enqueued mail wakes workers
//! (polling remains only as a backstop for retries coming due); lead changes reach the
//! subscribers of every API replica (`live.rs`).

use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use tokio_util::sync::CancellationToken;

pub const CHANNEL: &str = "intake_email_jobs";

/// Listens on `channel` until `stop`, calling `on_payload` for each notification; reconnects
/// after a lost connection and calls `on_connect` each time it (re)connects, since
/// notifications sent meanwhile are lost.
pub fn spawn_listener(
    pool: PgPool,
    channel: &'static str,
    stop: CancellationToken,
    on_connect: impl Fn() + Send + 'static,
    on_payload: impl Fn(&str) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listen(&pool, channel).await {
                Ok(mut listener) => {
                    tracing::info!(channel, "listening for notifications (LISTEN)");
                    on_connect();
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            received = listener.try_recv() => match received {
                                Ok(Some(notification)) => on_payload(notification.payload()),
                                Ok(None) => {
                                    tracing::warn!(channel, "LISTEN connection lost; reconnecting");
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!(channel, error = %e, "LISTEN failed; reconnecting");
                                    break;
                                }
                            },
                        }
                    }
                }
                Err(e) => tracing::warn!(channel, error = %e, "cannot LISTEN; retrying"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    })
}

async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    // Through the pool: the same connect options (TLS choice, timeouts) as every connection.
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
