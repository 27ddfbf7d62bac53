//! Cross-process wake-up on PostgreSQL: enqueuing sends NOTIFY on a channel (delivered when the
//! transaction commits) and every worker LISTENs, so a job is picked up at once by whichever
//! process is idle. Polling remains only as a backstop for retries coming due.

use std::{sync::Arc, time::Duration};

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const CHANNEL: &str = "intake_email_jobs";

/// Listens until `stop`, waking `wake` on every notification; reconnects after a lost
/// connection and then wakes once, in case something was enqueued meanwhile.
pub fn spawn_listener(pool: PgPool, wake: Arc<Notify>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listen(&pool).await {
                Ok(mut listener) => {
                    tracing::info!("mail worker: listening for new jobs (LISTEN {CHANNEL})");
                    wake.notify_one();
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            received = listener.try_recv() => match received {
                                Ok(Some(_)) => wake.notify_one(),
                                Ok(None) => {
                                    tracing::warn!("mail worker: LISTEN connection lost; reconnecting");
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "mail worker: LISTEN failed; reconnecting");
                                    break;
                                }
                            },
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "mail worker: cannot LISTEN; polling until it can"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    })
}

async fn listen(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    // Through the pool: the same connect options (TLS choice, timeouts) as every connection.
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
