//! History types: `LeadEvent` (one type for every kind, with the fields that kind fills in),
//! `LeadNote` and who did it (`Actor`).

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{email_job, lead_event, lead_note};

use super::{
    duties::{ConflictState, LeadOutcome},
    email_jobs::EmailJob,
    lead::{Resume, user},
    loaders::{ById, ReplacedResumeKey},
    loaders_of,
    types::{LeadStatus, User},
};
use crate::leads::{
    conflicts::decide,
    history::{self, EventData},
    outcome,
    submission::ResumeFile,
};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lead_event::EventKind")]
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
    /// The conflict check ran: at submission (by the system) or again on request.
    ConflictChecked,
    /// An attorney decided a possible conflict.
    ConflictResolved,
    OutcomeSet,
    /// A résumé was downloaded (by `actor`, through a link issued to them): see `fileName`.
    ResumeDownloaded,
    /// An admin exported the person's data.
    LeadExported,
    /// The person's data was erased: see `reason`.
    LeadErased,
    /// A legal hold was placed or lifted: see `legalHold` and `reason`.
    LegalHoldSet,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lead_event::ActorKind")]
pub enum ActorKind {
    /// A signed-in attorney or admin: see `user`.
    User,
    /// Intake itself: the mail worker, round-robin assignment.
    System,
    /// The prospect, through the public form.
    Prospect,
    /// One of the firm's other systems (a webhook endpoint or an API key) following a résumé
    /// link: see `integrationId`.
    Integration,
}

/// Who caused an event.
pub struct Actor(lead_event::Model);

#[Object]
impl Actor {
    async fn kind(&self) -> ActorKind {
        self.0.actor_kind.into()
    }
    /// The user, for `USER`; null once the account is gone.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        if self.0.actor_kind != lead_event::ActorKind::User {
            return Ok(None);
        }
        user(ctx, self.0.actor_id).await
    }
    /// The webhook endpoint's or API key's id, for `INTEGRATION`.
    async fn integration_id(&self) -> Option<ID> {
        let id = self.0.actor_id.filter(|_| self.0.actor_kind == lead_event::ActorKind::Integration)?;
        Some(ID(id.to_string()))
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
            lead_event::ActorKind::Integration => "integration".into(),
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
    /// What the event says; `None` for data its kind cannot read (none is written so).
    fn data(&self) -> Option<EventData> {
        EventData::read(&self.0)
    }
}

fn outcome_named(name: &str) -> Option<LeadOutcome> {
    use sea_orm::Iterable;
    entity::lead::LeadOutcome::iter().find(|o| outcome::outcome_name(*o) == name).map(Into::into)
}

fn status(name: &str) -> Option<LeadStatus> {
    match name {
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
        self.0.kind.into()
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
        match self.data()? {
            EventData::StatusChanged(change) => status(&change.from),
            _ => None,
        }
    }
    /// STATUS_CHANGED: the status after.
    async fn to_status(&self) -> Option<LeadStatus> {
        match self.data()? {
            EventData::StatusChanged(change) => status(&change.to),
            _ => None,
        }
    }
    /// FIELDS_UPDATED: each corrected field with its old and new value.
    async fn changes(&self) -> Vec<FieldChange> {
        match self.data() {
            Some(EventData::FieldsUpdated(updated)) => updated
                .changes
                .into_iter()
                .map(|history::FieldChange { field, from, to }| FieldChange { field, from, to })
                .collect(),
            _ => Vec::new(),
        }
    }
    /// RESUME_REPLACED: the file it replaced, still downloadable.
    async fn previous_resume(&self, ctx: &Context<'_>) -> Result<Option<Resume>> {
        let Some(EventData::ResumeReplaced(replaced)) = self.data() else { return Ok(None) };
        let old = loaders_of(ctx).load_one(ReplacedResumeKey(replaced.previous_key)).await?;
        Ok(old.map(|r| Resume(ResumeFile::from(r))))
    }
    /// ASSIGNED: who it is assigned to now (null: nobody).
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(EventData::Assigned(assigned)) = self.data() else { return Ok(None) };
        user(ctx, assigned.to).await
    }
    /// ASSIGNED: who it was assigned to before (null: nobody).
    async fn previous_assignee(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(EventData::Assigned(assigned)) = self.data() else { return Ok(None) };
        user(ctx, assigned.from).await
    }
    /// NOTE_ADDED: the note.
    async fn note(&self, ctx: &Context<'_>) -> Result<Option<LeadNote>> {
        let Some(EventData::NoteAdded(added)) = self.data() else { return Ok(None) };
        Ok(loaders_of(ctx).load_one(ById::<lead_note::Entity>::new(added.note_id)).await?.map(LeadNote))
    }
    /// EMAIL_SENT, EMAIL_FAILED: the mail, as it is now.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<EmailJob>> {
        let id = match self.data() {
            Some(EventData::EmailSent(mail)) => mail.job_id,
            Some(EventData::EmailFailed(failed)) => failed.mail.job_id,
            _ => return Ok(None),
        };
        Ok(loaders_of(ctx).load_one(ById::<email_job::Entity>::new(id)).await?.map(EmailJob))
    }
    /// EMAIL_SENT, EMAIL_FAILED: to whom.
    async fn recipient(&self) -> Option<String> {
        match self.data()? {
            EventData::EmailSent(mail) => Some(mail.recipient),
            EventData::EmailFailed(failed) => Some(failed.mail.recipient),
            _ => None,
        }
    }
    /// EMAIL_FAILED: what the mail server said.
    async fn error(&self) -> Option<String> {
        match self.data()? {
            EventData::EmailFailed(failed) => Some(failed.error),
            _ => None,
        }
    }
    /// EMAIL_FAILED: whether another attempt is scheduled.
    async fn will_retry(&self) -> Option<bool> {
        match self.data()? {
            EventData::EmailFailed(failed) => Some(failed.will_retry),
            _ => None,
        }
    }
    /// CONFLICT_CHECKED: the state the check left; CONFLICT_RESOLVED: the decision.
    async fn conflict_state(&self) -> Option<ConflictState> {
        let name = match self.data()? {
            EventData::ConflictChecked(checked) => checked.state,
            EventData::ConflictResolved(resolved) => resolved.decision,
            _ => return None,
        };
        [ConflictState::Clear, ConflictState::PossibleConflict, ConflictState::Cleared, ConflictState::Conflict]
            .into_iter()
            .find(|s| decide::state_name((*s).into()) == name)
    }
    /// CONFLICT_CHECKED: how many hits the check found.
    async fn hit_count(&self) -> Option<i32> {
        match self.data()? {
            EventData::ConflictChecked(checked) => Some(checked.hits as i32),
            _ => None,
        }
    }
    /// OUTCOME_SET: the outcome before.
    async fn from_outcome(&self) -> Option<LeadOutcome> {
        match self.data()? {
            EventData::OutcomeSet(set) => outcome_named(&set.from),
            _ => None,
        }
    }
    /// OUTCOME_SET: the outcome after.
    async fn to_outcome(&self) -> Option<LeadOutcome> {
        match self.data()? {
            EventData::OutcomeSet(set) => outcome_named(&set.to),
            _ => None,
        }
    }
    /// OUTCOME_SET: the reason given; CONFLICT_RESOLVED: the decision's note; LEAD_ERASED,
    /// LEGAL_HOLD_SET: why.
    async fn reason(&self) -> Option<String> {
        match self.data()? {
            EventData::OutcomeSet(set) => set.reason,
            EventData::ConflictResolved(resolved) => resolved.note,
            EventData::LeadErased(erased) => Some(erased.reason),
            EventData::LegalHoldSet(set) => set.reason,
            _ => None,
        }
    }
    /// RESUME_DOWNLOADED: the name of the file downloaded.
    async fn file_name(&self) -> Option<String> {
        match self.data()? {
            EventData::ResumeDownloaded(downloaded) => Some(downloaded.file_name),
            _ => None,
        }
    }
    /// LEGAL_HOLD_SET: whether the hold was placed (true) or lifted.
    async fn legal_hold(&self) -> Option<bool> {
        match self.data()? {
            EventData::LegalHoldSet(set) => Some(set.hold),
            _ => None,
        }
    }
    /// SUBMITTED: the earlier lead this submission repeats, by id.
    async fn duplicate_of_id(&self) -> Option<ID> {
        match self.data()? {
            EventData::Submitted(submitted) => submitted.duplicate_of.map(|id| ID(id.to_string())),
            _ => None,
        }
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
