//! What an erasure deletes outside the database — résumé objects and the file transport's mail
//! copies — as jobs written in the erasure's transaction: tried at once, and retried with
//! backoff by the worker until they succeed, so neither a store that is down nor a crash
//! mid-way leaves a file behind.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::deletion_job::{self, DeletionTarget};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    infra::{
        lease::{self, Held},
        mail::MailCopies,
        storage::Storage,
    },
    leads::outbox::queue::backoff,
};

/// Before the first retry; doubling up to the outbox's cap.
const BACKOFF_BASE: Duration = Duration::from_secs(30);
const BATCH: u64 = 100;

pub async fn enqueue(
    conn: &impl ConnectionTrait,
    lead_id: Uuid,
    targets: Vec<(DeletionTarget, String)>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if targets.is_empty() {
        return Ok(());
    }
    let rows = targets.into_iter().map(|(target, key)| deletion_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        target: Set(target),
        key: Set(key),
        lead_id: Set(Some(lead_id)),
        attempts: Set(0),
        run_at: Set(now),
        locked_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
    });
    deletion_job::Entity::insert_many(rows).exec_without_returning(conn).await?;
    Ok(())
}

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeletionReport {
    pub deleted: usize,
    /// Failed this time; retried later.
    pub failed: usize,
}

#[derive(Clone)]
pub struct Deleter {
    pub db: DatabaseConnection,
    pub storage: Storage,
    pub copies: MailCopies,
}

impl Deleter {
    /// Runs every deletion due at `now` (only `lead`'s, when given), batch after batch.
    pub async fn run_due(&self, now: DateTime<Utc>, lead: Option<Uuid>) -> Result<DeletionReport, DbErr> {
        let mut report = DeletionReport::default();
        loop {
            let jobs = claim(&self.db, now, lead).await?;
            if jobs.is_empty() {
                return Ok(report);
            }
            let held = Held::new(jobs.iter().map(|job| job.id));
            let work = async {
                for job in jobs {
                    self.run_one(&job, now, &mut report).await?;
                    held.release([job.id]);
                }
                Ok::<_, DbErr>(())
            };
            lease::renewing::<deletion_job::Entity, _>(&self.db, &held, lease::LEASE, work).await?;
        }
    }

    async fn run_one(
        &self,
        job: &deletion_job::Model,
        now: DateTime<Utc>,
        report: &mut DeletionReport,
    ) -> Result<(), DbErr> {
        match self.delete(job).await {
            Ok(()) => {
                deletion_job::Entity::delete_by_id(job.id).exec(&self.db).await?;
                report.deleted += 1;
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::warn!(target = ?job.target, key = job.key, attempt = job.attempts, error, "erasure: a deletion failed; will retry");
                let retry_at = Ord::max(now, crate::infra::clock::now()) + backoff(BACKOFF_BASE, job.attempts as u32);
                deletion_job::Entity::update_many()
                    .col_expr(deletion_job::Column::RunAt, Expr::value(retry_at))
                    .col_expr(deletion_job::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
                    .col_expr(
                        deletion_job::Column::LastError,
                        Expr::value(error.chars().take(2000).collect::<String>()),
                    )
                    .filter(deletion_job::Column::Id.eq(job.id))
                    .exec(&self.db)
                    .await?;
                report.failed += 1;
            }
        }
        Ok(())
    }

    async fn delete(&self, job: &deletion_job::Model) -> anyhow::Result<()> {
        match job.target {
            DeletionTarget::Object => self.storage.delete(&job.key).await,
            DeletionTarget::MailCopy => Ok(self.copies.remove(job.key.parse()?).await?),
        }
    }
}

/// Deletions still waiting (for `lead`, when given).
pub async fn pending(conn: &impl ConnectionTrait, lead: Option<Uuid>) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    let mut select = deletion_job::Entity::find();
    if let Some(lead) = lead {
        select = select.filter(deletion_job::Column::LeadId.eq(lead));
    }
    select.count(conn).await
}

/// Leases up to a batch of due deletions (`infra::lease`).
async fn claim(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lead: Option<Uuid>,
) -> Result<Vec<deletion_job::Model>, DbErr> {
    let mut only = Condition::all();
    if let Some(lead) = lead {
        only = only.add(deletion_job::Column::LeadId.eq(lead));
    }
    lease::claim::<deletion_job::Entity>(conn, only, now, lease::LEASE, BATCH).await
}
