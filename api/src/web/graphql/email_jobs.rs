//! The mail queue, as admins (all of it) and attorneys (a lead's mails) see it.

use async_graphql::{ComplexObject, Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::email_job::{self, JobState};
use uuid::Uuid;

use super::{
    parse_id, session, state,
    types::{Page, PageInfo, decode_id_cursor, id_cursor},
};
use crate::{error::AppError, infra::clock, leads::outbox::queue};

pub const MAX_PAGE_SIZE: i32 = 100;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::email_job::JobState")]
pub enum EmailJobState {
    /// Waiting to be sent, or to be retried at `runAt`.
    Queued,
    Sent,
    /// Given up on: see `lastError`. `retryEmailJob` puts it back in the queue.
    Dead,
    /// Dropped unsent because it was no longer needed (see `lastError`): a reminder for a lead
    /// answered before it fell due.
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::email_job::EmailKind")]
pub enum EmailKind {
    /// To the prospect.
    LeadAcknowledgement,
    /// To an attorney.
    LeadNotification,
    /// To the assignee (or the notification list): the lead is still PENDING at `respondBy`.
    ResponseReminder,
    /// To the admins: the lead is still PENDING at twice the response target.
    ResponseEscalation,
    /// To a user someone else assigned the lead to.
    LeadAssigned,
}

pub struct EmailJob(pub email_job::Model);

#[Object]
impl EmailJob {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> EmailKind {
        self.0.kind.into()
    }
    async fn recipient(&self) -> &str {
        &self.0.recipient
    }
    async fn state(&self) -> EmailJobState {
        self.0.state.into()
    }
    /// Send attempts so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The last failure, as the mail server put it.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When it is (or was) due.
    async fn run_at(&self) -> DateTime<Utc> {
        self.0.run_at
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn lead_id(&self) -> Option<ID> {
        self.0.lead_id.map(|id| ID(id.to_string()))
    }
}

#[derive(SimpleObject)]
pub struct EmailJobEdge {
    pub cursor: String,
    pub node: EmailJob,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct EmailJobConnection {
    pub edges: Vec<EmailJobEdge>,
    pub nodes: Vec<EmailJob>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub state: Option<JobState>,
}

#[ComplexObject]
impl EmailJobConnection {
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(queue::count(&state(ctx).db, self.state).await.map_err(AppError::from)? as i64)
    }
}

#[derive(SimpleObject)]
pub struct EmailJobStats {
    /// Waiting: due now, retrying later, or scheduled (see `scheduled`).
    pub queued: i64,
    /// Of the queued, those not due yet: retries in their backoff and response reminders.
    pub scheduled: i64,
    pub sent: i64,
    pub dead: i64,
    pub cancelled: i64,
}

fn cursor(job: &email_job::Model) -> String {
    id_cursor("job", job.id)
}

fn decode_cursor(raw: &str) -> Result<Uuid, AppError> {
    decode_id_cursor("job", raw)
}

#[derive(Default)]
pub struct EmailJobQuery;

#[Object]
impl EmailJobQuery {
    /// The mail queue, newest first. Admins only.
    async fn email_jobs(
        &self,
        ctx: &Context<'_>,
        state: Option<EmailJobState>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<EmailJobConnection> {
        let admin = session(ctx).admin()?;
        let first = first.unwrap_or(20);
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(AppError::bad_input("first", format!("must be between 0 and {MAX_PAGE_SIZE}")).into());
        }
        let after_id = after.as_deref().map(decode_cursor).transpose()?;
        let state_filter = state.map(JobState::from);
        let mut jobs = queue::list(&self::state(ctx).db, admin, state_filter, first as u64 + 1, after_id)
            .await
            .map_err(AppError::from)?;
        let has_next_page = jobs.len() > first as usize;
        jobs.truncate(first as usize);
        let Page { edges, nodes, page_info } = Page::of(
            jobs,
            (has_next_page, after_id.is_some()),
            cursor,
            |cursor, j| EmailJobEdge { cursor, node: EmailJob(j.clone()) },
            EmailJob,
        );
        Ok(EmailJobConnection { edges, nodes, page_info, state: state_filter })
    }

    /// How many mails are queued, sent, dead and cancelled. Admins only.
    async fn email_job_stats(&self, ctx: &Context<'_>) -> Result<EmailJobStats> {
        let admin = session(ctx).admin()?;
        let counts = queue::stats(&state(ctx).db, admin).await.map_err(AppError::from)?;
        let get = |wanted: JobState| counts.iter().find(|(s, _)| *s == wanted).map_or(0, |(_, n)| *n as i64);
        let scheduled = queue::scheduled(&state(ctx).db, clock::now()).await.map_err(AppError::from)? as i64;
        Ok(EmailJobStats {
            queued: get(JobState::Queued),
            scheduled,
            sent: get(JobState::Sent),
            dead: get(JobState::Dead),
            cancelled: get(JobState::Cancelled),
        })
    }
}

#[derive(Default)]
pub struct EmailJobMutation;

#[Object]
impl EmailJobMutation {
    /// Puts a dead mail back in the queue, due now, with a fresh set of attempts. A sent mail
    /// cannot be retried. Admins only.
    async fn retry_email_job(&self, ctx: &Context<'_>, id: ID) -> Result<EmailJob> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        let app = state(ctx);
        match queue::retry(&app.db, &app.announcer, admin, id, clock::now()).await.map_err(AppError::from)? {
            queue::RetryOutcome::Requeued(job) => Ok(EmailJob(job)),
            queue::RetryOutcome::AlreadySent => {
                Err(AppError::bad_input("id", "this mail was sent already; retrying would send it twice").into())
            }
            queue::RetryOutcome::NotFound => Err(AppError::NotFound("email job").into()),
        }
    }
}
