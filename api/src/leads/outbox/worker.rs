//! The mail worker: claims due jobs, renders and sends them concurrently over pooled SMTP
//! connections while renewing their lease, and settles them in batches (one transaction for
//! every send finished meanwhile).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use entity::{
    email_job::{self, EmailKind, JobState},
    lead::{self, LeadStatus},
};
use futures_util::{StreamExt, stream};
use sea_orm::{DatabaseBackend, DatabaseConnection, EntityTrait};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::queue::{self, Attempt};
use crate::{
    infra::announce::{Announcer, LeadChange},
    infra::clock,
    infra::lease::{self, Held},
    infra::listen,
    infra::mail::{
        Mailer, SendError,
        messages::{self, LeadMail, Sender},
    },
    infra::mask::{mask_email, mask_emails_in},
    infra::metrics,
    leads::outbox::JobSettings,
    leads::privacy::deletions::{Deleter, DeletionReport},
};

#[derive(Clone)]
pub struct Worker {
    db: DatabaseConnection,
    /// Sent and failed mails are history: subscribers to the lead hear of them.
    announcer: Announcer,
    mailer: Mailer,
    /// Erasures' file deletions ride along: retried on the worker's rounds until they succeed.
    deleter: Deleter,
    settings: JobSettings,
    wake: Arc<Notify>,
}

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
    /// Reminders dropped unsent: their lead was answered before they fell due.
    pub cancelled: usize,
}

impl Worker {
    pub fn new(
        db: DatabaseConnection,
        announcer: Announcer,
        mailer: Mailer,
        deleter: Deleter,
        settings: JobSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Self { db, announcer, mailer, deleter, settings, wake }
    }

    /// Runs until `shutdown`: drains what is due, then sleeps until woken (a job enqueued in this
    /// process, or a NOTIFY from another) or the poll interval passes. A batch in flight is
    /// finished before stopping.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(concurrency = self.settings.concurrency, "mail worker started");
        // On PostgreSQL, jobs enqueued by other processes wake this one through LISTEN.
        let listener = (self.db.get_database_backend() == DatabaseBackend::Postgres).then(|| {
            let pool = self.db.get_postgres_connection_pool().clone();
            let (on_connect, on_payload) = (self.wake.clone(), self.wake.clone());
            // After a reconnect, look once: something may have been enqueued meanwhile.
            listen::spawn_listener(
                pool,
                listen::CHANNEL,
                shutdown.child_token(),
                move || on_connect.notify_one(),
                move |_| on_payload.notify_one(),
            )
        });
        loop {
            if let Err(e) = self.drain(clock::now(), Some(&shutdown)).await {
                tracing::error!(error = %mask_emails_in(&format!("{e:#}")), "mail worker: draining the queue failed; will retry");
            }
            if let Err(e) = self.deleter.run_due(clock::now(), None).await {
                tracing::error!(error = %e, "worker: running the erasures' deletions failed; will retry");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.idle_wait()) => {}
            }
        }
        if let Some(listener) = listener {
            let _ = listener.await;
        }
        tracing::info!("mail worker stopped");
    }

    /// Sends every job due at `now`, batch after batch, until none is left. Tests pass a time in
    /// the future to make retries due without waiting.
    pub async fn run_pending(&self, now: DateTime<Utc>) -> anyhow::Result<DrainReport> {
        self.drain(now, None).await
    }

    /// Runs the file deletions due at `now` (tests pass a later time to make retries due).
    pub async fn run_deletions(&self, now: DateTime<Utc>) -> anyhow::Result<DeletionReport> {
        Ok(self.deleter.run_due(now, None).await?)
    }

    /// As `run_pending`, but stops after the batch in progress once `stop` is cancelled: a
    /// long queue must not hold up a shutdown (the rest waits for the next start, or for
    /// another worker).
    async fn drain(&self, now: DateTime<Utc>, stop: Option<&CancellationToken>) -> anyhow::Result<DrainReport> {
        let mut report = DrainReport::default();
        loop {
            if stop.is_some_and(CancellationToken::is_cancelled) {
                return Ok(report);
            }
            let jobs = queue::claim_due(&self.db, now, self.settings.lease, self.settings.batch_size()).await?;
            if jobs.is_empty() {
                return Ok(report);
            }
            tracing::debug!(count = jobs.len(), "mail worker: claimed jobs");
            let mut leads: Vec<Uuid> = jobs.iter().filter_map(|j| j.lead_id).collect();
            leads.sort_unstable();
            leads.dedup();
            // Attempts are settled as they finish, all those finished by then in one
            // transaction: a batch's mails are not held back by its slowest send. The lease of
            // the mails not settled yet is renewed meanwhile, however long a send takes.
            let held = Held::new(jobs.iter().map(|job| job.id));
            let jobs = &jobs;
            let work = async {
                let mut finished = stream::iter(0..jobs.len())
                    .map(|i| async move { (&jobs[i], self.attempt(&jobs[i]).await) })
                    .buffer_unordered(self.settings.concurrency)
                    .ready_chunks(self.settings.batch_size() as usize);
                let mut settled = Ok(());
                while let Some(attempts) = finished.next().await {
                    let ids: Vec<Uuid> = attempts.iter().map(|(job, _)| job.id).collect();
                    match self.settle(attempts, now).await {
                        Ok(states) => {
                            held.release(ids);
                            for state in states {
                                match state {
                                    JobState::Sent => report.sent += 1,
                                    JobState::Queued => report.retrying += 1,
                                    JobState::Dead => report.dead += 1,
                                    JobState::Cancelled => report.cancelled += 1,
                                }
                            }
                        }
                        Err(e) => settled = Err(e),
                    }
                }
                settled
            };
            let settled = lease::renewing::<email_job::Entity, _>(&self.db, &held, self.settings.lease, work).await;
            // Each mail settled is in its lead's history: one announcement per batch, not per mail.
            let changes: Vec<LeadChange> = leads.into_iter().map(LeadChange::Updated).collect();
            self.announcer.lead_changed(&changes).await;
            settled?;
        }
    }

    /// Sends one claimed job, or finds that it is no longer needed; writes nothing.
    async fn attempt(&self, job: &email_job::Model) -> (Attempt, Duration) {
        if job.kind.is_chaser() {
            // Answered after the job was claimed; the answer's own transaction dropped it
            // if it came earlier.
            match moot(&self.db, job).await {
                Ok(Some(reason)) => return (Attempt::Moot(reason), Duration::ZERO),
                Ok(None) => {}
                Err(e) => {
                    let error = format!("cannot read the lead: {e}");
                    return (Attempt::Failed { error, permanent: false }, Duration::ZERO);
                }
            }
        }
        let started = Instant::now();
        let result = match self.render(job) {
            Ok(message) => self.mailer.send(job.id, message).await,
            Err(e) => Err(SendError::Permanent(format!("cannot render the message: {e:#}"))),
        };
        let attempt = match result {
            Ok(()) => Attempt::Sent,
            Err(e) => Attempt::Failed { permanent: matches!(e, SendError::Permanent(_)), error: e.to_string() },
        };
        (attempt, started.elapsed())
    }

    /// Records finished attempts in one transaction, then logs and counts them.
    async fn settle(
        &self,
        finished: Vec<(&email_job::Model, (Attempt, Duration))>,
        claimed_at: DateTime<Utc>,
    ) -> anyhow::Result<Vec<JobState>> {
        // Settle at the later of the claim time and the clock, so that a drain driven with a
        // future time schedules retries after it.
        let now = claimed_at.max(clock::now());
        let (attempts, latencies): (Vec<_>, Vec<_>) =
            finished.into_iter().map(|(job, (attempt, latency))| ((job, attempt), latency)).unzip();
        let txn = crate::infra::db::begin_write(&self.db).await?;
        let states = queue::settle(&txn, &attempts, now, &self.settings).await?;
        txn.commit().await?;
        for (((job, attempt), latency), state) in attempts.iter().zip(latencies).zip(&states) {
            self.report(job, attempt, latency, *state).await?;
        }
        Ok(states)
    }

    async fn report(
        &self,
        job: &email_job::Model,
        attempt: &Attempt,
        latency: Duration,
        state: JobState,
    ) -> anyhow::Result<()> {
        let to = mask_email(&job.recipient);
        match (attempt, state) {
            (Attempt::Moot(reason), _) => {
                tracing::info!(job = %job.id, kind = ?job.kind, to, reason, "email dropped unsent");
            }
            (Attempt::Sent, JobState::Sent) => {
                metrics::email_attempt(job.kind, "sent", latency);
                tracing::info!(job = %job.id, kind = ?job.kind, to, attempt = job.attempts, "email sent");
            }
            (Attempt::Sent, _) => {
                // Cancelled in flight, by an erasure most likely: keep no copy of it.
                self.mailer.copies().remove(job.id).await?;
                tracing::info!(job = %job.id, kind = ?job.kind, to, "email sent after it was cancelled");
            }
            (Attempt::Failed { .. }, JobState::Cancelled) => {}
            (Attempt::Failed { error, .. }, state) => {
                // Servers quote the recipient in their answers: keep the full text in the job
                // row, but not in the log.
                let logged = mask_emails_in(error);
                if state == JobState::Dead {
                    metrics::email_attempt(job.kind, "dead", latency);
                    tracing::error!(job = %job.id, kind = ?job.kind, to, attempt = job.attempts, error = %logged, "email dead: giving up");
                } else {
                    metrics::email_attempt(job.kind, "failed", latency);
                    tracing::warn!(job = %job.id, kind = ?job.kind, to, attempt = job.attempts, error = %logged, "email failed; will retry");
                }
            }
        }
        Ok(())
    }

    fn render(&self, job: &email_job::Model) -> anyhow::Result<lettre::Message> {
        let build = match job.kind {
            EmailKind::LeadAcknowledgement => messages::acknowledgement,
            EmailKind::LeadNotification => messages::notification,
            EmailKind::ResponseReminder => messages::reminder,
            EmailKind::ResponseEscalation => messages::escalation,
            EmailKind::LeadAssigned => messages::assigned,
        };
        let lead = LeadMail::deserialize(&job.payload)?;
        let sender = Sender {
            from: &self.mailer.from,
            reply_to: self.mailer.reply_to.as_ref(),
            firm_name: &self.mailer.firm_name,
        };
        build(job.id, &job.recipient, &lead, &sender)
    }
}

/// Why a reminder or escalation is no longer needed, if it is not.
async fn moot(db: &DatabaseConnection, job: &email_job::Model) -> anyhow::Result<Option<&'static str>> {
    let Some(lead_id) = job.lead_id else { return Ok(None) };
    Ok(match lead::Entity::find_by_id(lead_id).one(db).await? {
        None => Some("the lead no longer exists"),
        Some(lead) if lead.status != LeadStatus::Pending => Some("the lead was reached out before this fell due"),
        Some(lead) if lead.outcome.is_decided() => Some("the lead had an outcome before this fell due"),
        Some(_) => None,
    })
}
