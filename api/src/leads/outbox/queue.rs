//! Email job rows: enqueue, claim atomically, settle.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::email_job::{self, EmailKind, JobState};
use rand::Rng;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    accounts::session::Admin,
    infra::announce::Announcer,
    leads::history::{self, Actor, EventData, FailedMail, Mail, NewEvent},
    leads::outbox::JobSettings,
};

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

#[derive(Clone)]
pub struct NewEmailJob {
    pub lead_id: Option<Uuid>,
    pub kind: EmailKind,
    pub recipient: String,
    pub payload: serde_json::Value,
    /// Due then; `None`: now.
    pub run_at: Option<DateTime<Utc>>,
}

pub async fn enqueue(conn: &impl ConnectionTrait, jobs: Vec<NewEmailJob>, now: DateTime<Utc>) -> Result<(), DbErr> {
    if jobs.is_empty() {
        return Ok(());
    }
    let rows = jobs.into_iter().map(|job| email_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        lead_id: Set(job.lead_id),
        kind: Set(job.kind),
        recipient: Set(job.recipient),
        payload: Set(job.payload),
        state: Set(JobState::Queued),
        attempts: Set(0),
        run_at: Set(job.run_at.unwrap_or(now)),
        locked_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    });
    email_job::Entity::insert_many(rows).exec(conn).await?;
    notify_workers(conn).await
}

/// Wakes idle workers in every process (PostgreSQL; delivered when the transaction commits).
/// On SQLite, workers share this process's in-memory wake-up instead.
pub async fn notify_workers(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_unprepared(&format!("NOTIFY {}", crate::infra::listen::CHANNEL)).await?;
    }
    Ok(())
}

/// Takes up to `limit` queued jobs due at `now` and leases them (`infra::lease`).
pub async fn claim_due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<email_job::Model>, DbErr> {
    let queued = Condition::all().add(email_job::Column::State.eq(JobState::Queued));
    crate::infra::lease::claim::<email_job::Entity>(conn, queued, now, lease, limit).await
}

/// What one attempt at a claimed job came to.
pub enum Attempt {
    Sent,
    Failed {
        error: String,
        permanent: bool,
    },
    /// Not sent, and no longer needed: why.
    Moot(&'static str),
}

/// Settles a batch of attempts in one transaction (one commit, one history insert for all),
/// so that a busy worker costs the database a write per batch rather than per mail. Returns
/// each job's new state: CANCELLED for a mail that was cancelled while in flight (its lead was
/// erased, or answered), which records nothing.
pub async fn settle(
    conn: &impl ConnectionTrait,
    attempts: &[(&email_job::Model, Attempt)],
    now: DateTime<Utc>,
    settings: &JobSettings,
) -> Result<Vec<JobState>, DbErr> {
    let mut states = Vec::with_capacity(attempts.len());
    let mut events = Vec::new();
    for (job, attempt) in attempts {
        let (state, event) = match attempt {
            Attempt::Sent => match mark_sent(conn, job, now).await? {
                true => (JobState::Sent, Some(EventData::EmailSent(mail_of(job)))),
                false => (JobState::Cancelled, None),
            },
            Attempt::Failed { error, permanent } => {
                match mark_failed(conn, job, error, *permanent, now, settings).await? {
                    JobState::Cancelled => (JobState::Cancelled, None),
                    state => {
                        let failed = FailedMail {
                            mail: mail_of(job),
                            error: truncate(error, MAX_ERROR_CHARS),
                            will_retry: state == JobState::Queued,
                        };
                        (state, Some(EventData::EmailFailed(failed)))
                    }
                }
            }
            Attempt::Moot(reason) => {
                mark_cancelled(conn, job, reason, now).await?;
                (JobState::Cancelled, None)
            }
        };
        states.push(state);
        if let (Some(data), Some(lead_id)) = (event, job.lead_id) {
            events.push(NewEvent { lead_id, actor: Actor::System, data });
        }
    }
    // At the time it really happened, which a drain run for a later time (tests) is not.
    history::record(conn, events, crate::infra::clock::now()).await?;
    Ok(states)
}

const MAX_ERROR_CHARS: usize = 2000;

/// Records the send; `false` when the job was cancelled while in flight. One statement per
/// mail, through the primary key: with several ids and the state filter, SQLite (no
/// statistics) read the `(state, run_at)` index instead, i.e. every queued mail including
/// every reminder scheduled for later, while holding the write lock (the form's submissions
/// fell from 1,250/s to 300/s behind it).
async fn mark_sent(conn: &impl ConnectionTrait, job: &email_job::Model, now: DateTime<Utc>) -> Result<bool, DbErr> {
    use email_job::Column as C;
    let updated = email_job::Entity::update_many()
        .col_expr(C::State, Expr::value(JobState::Sent))
        .col_expr(C::SentAt, Expr::value(now))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(job.id))
        .filter(C::State.eq(JobState::Queued))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(updated == 1)
}

fn mail_of(job: &email_job::Model) -> Mail {
    Mail { job_id: job.id, recipient: job.recipient.clone(), attempt: job.attempts }
}

/// Drops a job unsent, saying why.
async fn mark_cancelled(
    conn: &impl ConnectionTrait,
    job: &email_job::Model,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use email_job::Column as C;
    email_job::Entity::update_many()
        .col_expr(C::State, Expr::value(JobState::Cancelled))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::LastError, Expr::value(reason))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(job.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Drops the lead's queued mails of these kinds, saying why; returns how many.
pub async fn cancel_queued(
    conn: &impl ConnectionTrait,
    lead_id: Uuid,
    kinds: &[EmailKind],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use email_job::Column as C;
    Ok(email_job::Entity::update_many()
        .col_expr(C::State, Expr::value(JobState::Cancelled))
        .col_expr(C::LastError, Expr::value(reason))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::LeadId.eq(lead_id))
        .filter(C::State.eq(JobState::Queued))
        .filter(C::Kind.is_in(kinds.iter().copied()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Records a failed attempt: the job is retried after a backoff, or is dead when the failure
/// is permanent or the attempts are used up. Returns the new state (CANCELLED, recording
/// nothing, when the job was cancelled while in flight).
async fn mark_failed(
    conn: &impl ConnectionTrait,
    job: &email_job::Model,
    error: &str,
    permanent: bool,
    now: DateTime<Utc>,
    settings: &JobSettings,
) -> Result<JobState, DbErr> {
    use email_job::Column as C;
    let exhausted = job.attempts as u32 >= settings.max_attempts;
    let (state, run_at) = if permanent || exhausted {
        (JobState::Dead, job.run_at)
    } else {
        (JobState::Queued, now + backoff(settings.backoff_base, job.attempts as u32))
    };
    let updated = email_job::Entity::update_many()
        .col_expr(C::State, Expr::value(state))
        .col_expr(C::RunAt, Expr::value(run_at))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::LastError, Expr::value(truncate(error, MAX_ERROR_CHARS)))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(job.id))
        .filter(C::State.eq(JobState::Queued))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(if updated == 0 { JobState::Cancelled } else { state })
}

/// `base · 2^(attempts−1)`, capped, with ±20 % jitter so that jobs failed together do not all
/// come back at the same instant.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(Ord::min(attempts.saturating_sub(1), 20)));
    let capped = exp.min(MAX_BACKOFF);
    capped.mul_f64(rand::rng().random_range(0.8..1.2))
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// Counts per state, for `emailJobStats`.
pub async fn stats(conn: &impl ConnectionTrait, _by: Admin<'_>) -> Result<Vec<(JobState, u64)>, DbErr> {
    let mut counts = Vec::new();
    for state in [JobState::Queued, JobState::Sent, JobState::Dead, JobState::Cancelled] {
        let n = email_job::Entity::find().filter(email_job::Column::State.eq(state)).count(conn).await?;
        counts.push((state, n));
    }
    Ok(counts)
}

/// Newest first, optionally in one state, `first` after the job `after` (an id).
pub async fn list(
    conn: &impl ConnectionTrait,
    _by: Admin<'_>,
    state: Option<JobState>,
    first: u64,
    after: Option<Uuid>,
) -> Result<Vec<email_job::Model>, DbErr> {
    let mut select = email_job::Entity::find();
    if let Some(state) = state {
        select = select.filter(email_job::Column::State.eq(state));
    }
    // Ids are UUIDv7, ordered by creation: the id alone is a stable cursor.
    if let Some(after) = after {
        select = select.filter(email_job::Column::Id.lt(after));
    }
    select.order_by_desc(email_job::Column::Id).limit(first).all(conn).await
}

/// Queued jobs not due yet at `now`.
pub async fn scheduled(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    use email_job::Column as C;
    email_job::Entity::find().filter(C::State.eq(JobState::Queued)).filter(C::RunAt.gt(now)).count(conn).await
}

pub async fn count(conn: &impl ConnectionTrait, state: Option<JobState>) -> Result<u64, DbErr> {
    let mut select = email_job::Entity::find();
    if let Some(state) = state {
        select = select.filter(email_job::Column::State.eq(state));
    }
    select.count(conn).await
}

pub enum RetryOutcome {
    Requeued(email_job::Model),
    AlreadySent,
    NotFound,
}

/// An admin puts a dead (or waiting) job back in the queue, due now, with a fresh set of
/// attempts; the workers hear of it. A sent job stays sent: sending it again would be a
/// duplicate.
pub async fn retry(
    conn: &impl ConnectionTrait,
    announcer: &Announcer,
    _by: Admin<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<RetryOutcome, DbErr> {
    use email_job::Column as C;
    let updated = email_job::Entity::update_many()
        .col_expr(C::State, Expr::value(JobState::Queued))
        .col_expr(C::Attempts, Expr::value(0))
        .col_expr(C::RunAt, Expr::value(now))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .filter(C::State.ne(JobState::Sent))
        .exec(conn)
        .await?
        .rows_affected;
    let job = email_job::Entity::find_by_id(id).one(conn).await?;
    Ok(match (updated, job) {
        (1, Some(job)) => {
            notify_workers(conn).await?;
            announcer.mail_enqueued();
            tracing::info!(job = %id, "email requeued by an admin");
            RetryOutcome::Requeued(job)
        }
        (_, Some(_)) => RetryOutcome::AlreadySent,
        (_, None) => RetryOutcome::NotFound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_rides_out_a_day() {
        let settings = crate::app::config::Config::from_lookup(|k| {
            (k == "INTAKE_DATA_DIR").then(|| std::env::temp_dir().join("intake-schedule").display().to_string())
        })
        .unwrap()
        .jobs;
        // The shortest the jitter can make it: every wait at 80 %.
        let shortest: Duration = (1..settings.max_attempts)
            .map(|attempt| {
                settings.backoff_base.saturating_mul(2u32.saturating_pow(attempt - 1)).min(MAX_BACKOFF).mul_f64(0.8)
            })
            .sum();
        assert!(shortest >= Duration::from_secs(24 * 3600), "{shortest:?}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_secs(30);
        let first = backoff(base, 1);
        assert!(first >= Duration::from_secs(24) && first <= Duration::from_secs(36));
        let fourth = backoff(base, 4);
        assert!(fourth >= Duration::from_secs(192) && fourth <= Duration::from_secs(288));
        assert!(backoff(base, 200) <= MAX_BACKOFF.mul_f64(1.2));
    }
}
