//! History types: `LeadEvent` (one type for every kind, with the fields that kind fills in),
//! `LeadNote` and who did it (`Actor`).

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{lead_event, lead_note};
use serde_json::Value;

use super::{
    email_jobs::EmailJob,
    lead::{Resume, user},
    loaders::{MailId, NoteId, ReplacedResumeKey},
    loaders_of,
    types::{LeadStatus, User},
};
use crate::{leads::history::id_in, leads::submission::ResumeFile};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LeadEventKind {
    Submitted,
    StatusChanged,
    FieldsUpdated,
    ResumeReplaced,
    /// Assigned, reassigned or unassigned (`assignee` null).
    Assigned,
    NoteAdded,
    EmailSent,
    /// A send attempt failed; `willRetry` says whether another follows.
    EmailFailed,
    /// No acknowledgement was sent to the prospect: their address had been sent as many as
    /// `INTAKE_ACK_PER_RECIPIENT` allows in 24 hours (the attorneys were notified as usual).
    AcknowledgementCapped,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ActorKind {
    /// A signed-in attorney or admin: see `user`.
    User,
    /// Intake itself: the mail worker, round-robin assignment.
    System,
    /// The prospect, through the public form.
    Prospect,
}

/// Who caused an event.
pub struct Actor(lead_event::Model);

#[Object]
impl Actor {
    async fn kind(&self) -> ActorKind {
        match self.0.actor_kind {
            lead_event::ActorKind::User => ActorKind::User,
            lead_event::ActorKind::System => ActorKind::System,
            lead_event::ActorKind::Prospect => ActorKind::Prospect,
        }
    }
    /// The user, for `USER`; null once the account is gone.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, self.0.actor_id).await
    }
    /// A name to show: the user's full name, "system" or "prospect".
    async fn name(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(match self.0.actor_kind {
            lead_event::ActorKind::User => match user(ctx, self.0.actor_id).await? {
                Some(User(u)) => u.full_name,
                None => "a deleted user".into(),
            },
            lead_event::ActorKind::System => "system".into(),
            lead_event::ActorKind::Prospect => "prospect".into(),
        })
    }
}

/// One corrected field: its name as in `UpdateLeadInput`, and the values before and after.
#[derive(SimpleObject)]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
}

pub struct LeadEvent(pub lead_event::Model);

impl LeadEvent {
    fn text(&self, field: &str) -> Option<&str> {
        self.0.data.get(field)?.as_str()
    }

    fn is(&self, kind: lead_event::EventKind) -> bool {
        self.0.kind == kind
    }
}

fn status(name: Option<&str>) -> Option<LeadStatus> {
    match name? {
        "PENDING" => Some(LeadStatus::Pending),
        "REACHED_OUT" => Some(LeadStatus::ReachedOut),
        _ => None,
    }
}

#[Object]
impl LeadEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> LeadEventKind {
        use lead_event::EventKind as K;
        match self.0.kind {
            K::Submitted => LeadEventKind::Submitted,
            K::StatusChanged => LeadEventKind::StatusChanged,
            K::FieldsUpdated => LeadEventKind::FieldsUpdated,
            K::ResumeReplaced => LeadEventKind::ResumeReplaced,
            K::Assigned => LeadEventKind::Assigned,
            K::NoteAdded => LeadEventKind::NoteAdded,
            K::EmailSent => LeadEventKind::EmailSent,
            K::EmailFailed => LeadEventKind::EmailFailed,
            K::AcknowledgementCapped => LeadEventKind::AcknowledgementCapped,
        }
    }
    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn actor(&self) -> Actor {
        Actor(self.0.clone())
    }
    /// STATUS_CHANGED: the status before.
    async fn from_status(&self) -> Option<LeadStatus> {
        status(self.text("from").filter(|_| self.is(lead_event::EventKind::StatusChanged)))
    }
    /// STATUS_CHANGED: the status after.
    async fn to_status(&self) -> Option<LeadStatus> {
        status(self.text("to").filter(|_| self.is(lead_event::EventKind::StatusChanged)))
    }
    /// FIELDS_UPDATED: each corrected field with its old and new value.
    async fn changes(&self) -> Vec<FieldChange> {
        let Some(Value::Array(changes)) = self.0.data.get("changes") else { return Vec::new() };
        changes
            .iter()
            .map(|c| FieldChange {
                field: c["field"].as_str().unwrap_or_default().to_owned(),
                from: c["from"].as_str().unwrap_or_default().to_owned(),
                to: c["to"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }
    /// RESUME_REPLACED: the file it replaced, still downloadable.
    async fn previous_resume(&self, ctx: &Context<'_>) -> Result<Option<Resume>> {
        let Some(key) = self.text("previousKey") else { return Ok(None) };
        let old = loaders_of(ctx).load_one(ReplacedResumeKey(key.to_owned())).await?;
        Ok(old.map(|r| Resume(ResumeFile::from(r))))
    }
    /// ASSIGNED: who it is assigned to now (null: nobody).
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, id_in(&self.0.data, "to").filter(|_| self.is(lead_event::EventKind::Assigned))).await
    }
    /// ASSIGNED: who it was assigned to before (null: nobody).
    async fn previous_assignee(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, id_in(&self.0.data, "from").filter(|_| self.is(lead_event::EventKind::Assigned))).await
    }
    /// NOTE_ADDED: the note.
    async fn note(&self, ctx: &Context<'_>) -> Result<Option<LeadNote>> {
        let Some(id) = id_in(&self.0.data, "noteId") else { return Ok(None) };
        Ok(loaders_of(ctx).load_one(NoteId(id)).await?.map(LeadNote))
    }
    /// EMAIL_SENT, EMAIL_FAILED: the mail, as it is now.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<EmailJob>> {
        let Some(id) = id_in(&self.0.data, "jobId") else { return Ok(None) };
        Ok(loaders_of(ctx).load_one(MailId(id)).await?.map(EmailJob))
    }
    /// EMAIL_SENT, EMAIL_FAILED: to whom.
    async fn recipient(&self) -> Option<&str> {
        self.text("recipient")
    }
    /// EMAIL_FAILED: what the mail server said.
    async fn error(&self) -> Option<&str> {
        self.text("error")
    }
    /// EMAIL_FAILED: whether another attempt is scheduled.
    async fn will_retry(&self) -> Option<bool> {
        self.0.data.get("willRetry")?.as_bool()
    }
    /// SUBMITTED: the earlier lead this submission repeats, by id.
    async fn duplicate_of_id(&self) -> Option<ID> {
        id_in(&self.0.data, "duplicateOf").map(|id| ID(id.to_string()))
    }
}

pub struct LeadNote(pub lead_note::Model);

#[Object]
impl LeadNote {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn lead_id(&self) -> ID {
        ID(self.0.lead_id.to_string())
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// Null once the author's account is gone.
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, self.0.author_id).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
