//! A lead's history: every change is recorded as an event, in the same transaction as the
//! change itself, so nothing that changes a lead can skip it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::lead_event::{self, ActorKind, EventKind};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::webhooks::WebhookEvent;

/// Who caused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    System,
    Prospect,
    /// A webhook endpoint or an API key, by id.
    Integration(Uuid),
}

pub struct NewEvent {
    pub lead_id: Uuid,
    pub actor: Actor,
    pub data: EventData,
}

/// What an event says: the one type its `data` is written and read through, one variant per
/// kind (the kind is stored beside it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventData {
    Submitted(Submitted),
    StatusChanged(StatusChanged),
    FieldsUpdated(FieldsUpdated),
    ResumeReplaced(ResumeReplaced),
    Assigned(Assigned),
    NoteAdded(NoteAdded),
    EmailSent(Mail),
    EmailFailed(FailedMail),
    AcknowledgementCapped(AcknowledgementCapped),
    ConflictChecked(ConflictChecked),
    ConflictResolved(ConflictResolved),
    OutcomeSet(OutcomeSet),
    ResumeDownloaded(ResumeDownloaded),
    LeadExported(LeadExported),
    LeadErased(LeadErased),
    LegalHoldSet(LegalHoldSet),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    /// The earlier lead this submission repeats.
    pub duplicate_of: Option<Uuid>,
}

/// Statuses by their GraphQL names (`PENDING`, `REACHED_OUT`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldsUpdated {
    pub changes: Vec<FieldChange>,
}

/// One corrected field, named as in `UpdateLeadInput`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeReplaced {
    pub previous_key: String,
    pub new_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned {
    pub from: Option<Uuid>,
    pub to: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteAdded {
    pub note_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mail {
    pub job_id: Uuid,
    pub recipient: String,
    pub attempt: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedMail {
    #[serde(flatten)]
    pub mail: Mail,
    /// What the mail server said.
    pub error: String,
    pub will_retry: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcknowledgementCapped {
    /// Acknowledgements the address had been sent in the window, the most allowed.
    pub acknowledgements_in_window: u32,
    pub window_hours: u32,
}

/// States, decisions and outcomes by their GraphQL names (`POSSIBLE_CONFLICT`, `RETAINED`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictChecked {
    /// The state after the check.
    pub state: String,
    /// Hits found (repeats by the same person included).
    pub hits: u32,
    /// Hits that the previous check did not have.
    #[serde(default)]
    pub new_hits: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictResolved {
    pub decision: String,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeSet {
    pub from: String,
    pub to: String,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeDownloaded {
    pub key: String,
    pub file_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadExported {
    /// Résumé files in the export.
    pub files: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadErased {
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalHoldSet {
    pub hold: bool,
    pub reason: Option<String>,
}

/// What personal values in history read as once the lead is erased.
pub const ERASED: &str = "[erased]";

impl EventData {
    /// The event with the person's values taken out: corrected fields, their address as a
    /// recipient (and the server's answer quoting it), free-text notes and file names.
    /// `is_theirs` says whether an address was one of theirs.
    pub fn erased(self, is_theirs: impl Fn(&str) -> bool) -> Self {
        let erased = || ERASED.to_owned();
        let mail =
            |mail: Mail| Mail { recipient: if is_theirs(&mail.recipient) { erased() } else { mail.recipient }, ..mail };
        match self {
            Self::FieldsUpdated(FieldsUpdated { changes }) => Self::FieldsUpdated(FieldsUpdated {
                changes: changes.into_iter().map(|c| FieldChange { from: erased(), to: erased(), ..c }).collect(),
            }),
            Self::EmailSent(sent) => Self::EmailSent(mail(sent)),
            Self::EmailFailed(failed) => {
                let theirs = is_theirs(&failed.mail.recipient);
                Self::EmailFailed(FailedMail {
                    mail: mail(failed.mail),
                    error: if theirs { erased() } else { failed.error },
                    ..failed
                })
            }
            Self::ConflictResolved(resolved) => {
                Self::ConflictResolved(ConflictResolved { note: resolved.note.map(|_| erased()), ..resolved })
            }
            Self::OutcomeSet(set) => Self::OutcomeSet(OutcomeSet { reason: set.reason.map(|_| erased()), ..set }),
            Self::ResumeDownloaded(downloaded) => {
                Self::ResumeDownloaded(ResumeDownloaded { file_name: erased(), ..downloaded })
            }
            other => other,
        }
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Self::Submitted(_) => EventKind::Submitted,
            Self::StatusChanged(_) => EventKind::StatusChanged,
            Self::FieldsUpdated(_) => EventKind::FieldsUpdated,
            Self::ResumeReplaced(_) => EventKind::ResumeReplaced,
            Self::Assigned(_) => EventKind::Assigned,
            Self::NoteAdded(_) => EventKind::NoteAdded,
            Self::EmailSent(_) => EventKind::EmailSent,
            Self::EmailFailed(_) => EventKind::EmailFailed,
            Self::AcknowledgementCapped(_) => EventKind::AcknowledgementCapped,
            Self::ConflictChecked(_) => EventKind::ConflictChecked,
            Self::ConflictResolved(_) => EventKind::ConflictResolved,
            Self::OutcomeSet(_) => EventKind::OutcomeSet,
            Self::ResumeDownloaded(_) => EventKind::ResumeDownloaded,
            Self::LeadExported(_) => EventKind::LeadExported,
            Self::LeadErased(_) => EventKind::LeadErased,
            Self::LegalHoldSet(_) => EventKind::LegalHoldSet,
        }
    }

    /// The data of a stored event, or `None` when it cannot be read as its kind says.
    pub fn read(event: &lead_event::Model) -> Option<Self> {
        fn as_<T: serde::de::DeserializeOwned>(data: &Value) -> Option<T> {
            serde_json::from_value(data.clone()).ok()
        }
        let data = &event.data;
        Some(match event.kind {
            EventKind::Submitted => Self::Submitted(as_(data)?),
            EventKind::StatusChanged => Self::StatusChanged(as_(data)?),
            EventKind::FieldsUpdated => Self::FieldsUpdated(as_(data)?),
            EventKind::ResumeReplaced => Self::ResumeReplaced(as_(data)?),
            EventKind::Assigned => Self::Assigned(as_(data)?),
            EventKind::NoteAdded => Self::NoteAdded(as_(data)?),
            EventKind::EmailSent => Self::EmailSent(as_(data)?),
            EventKind::EmailFailed => Self::EmailFailed(as_(data)?),
            EventKind::AcknowledgementCapped => Self::AcknowledgementCapped(as_(data)?),
            EventKind::ConflictChecked => Self::ConflictChecked(as_(data)?),
            EventKind::ConflictResolved => Self::ConflictResolved(as_(data)?),
            EventKind::OutcomeSet => Self::OutcomeSet(as_(data)?),
            EventKind::ResumeDownloaded => Self::ResumeDownloaded(as_(data)?),
            EventKind::LeadExported => Self::LeadExported(as_(data)?),
            EventKind::LeadErased => Self::LeadErased(as_(data)?),
            EventKind::LegalHoldSet => Self::LegalHoldSet(as_(data)?),
        })
    }

    pub fn to_value(&self) -> Value {
        let value = match self {
            Self::Submitted(d) => serde_json::to_value(d),
            Self::StatusChanged(d) => serde_json::to_value(d),
            Self::FieldsUpdated(d) => serde_json::to_value(d),
            Self::ResumeReplaced(d) => serde_json::to_value(d),
            Self::Assigned(d) => serde_json::to_value(d),
            Self::NoteAdded(d) => serde_json::to_value(d),
            Self::EmailSent(d) => serde_json::to_value(d),
            Self::EmailFailed(d) => serde_json::to_value(d),
            Self::AcknowledgementCapped(d) => serde_json::to_value(d),
            Self::ConflictChecked(d) => serde_json::to_value(d),
            Self::ConflictResolved(d) => serde_json::to_value(d),
            Self::OutcomeSet(d) => serde_json::to_value(d),
            Self::ResumeDownloaded(d) => serde_json::to_value(d),
            Self::LeadExported(d) => serde_json::to_value(d),
            Self::LeadErased(d) => serde_json::to_value(d),
            Self::LegalHoldSet(d) => serde_json::to_value(d),
        };
        value.expect("event data serialises")
    }
}

impl NewEvent {
    pub fn submitted(lead_id: Uuid, duplicate_of: Option<Uuid>) -> Self {
        Self { lead_id, actor: Actor::Prospect, data: EventData::Submitted(Submitted { duplicate_of }) }
    }

    pub fn assigned(lead_id: Uuid, actor: Actor, from: Option<Uuid>, to: Option<Uuid>) -> Self {
        Self { lead_id, actor, data: EventData::Assigned(Assigned { from, to }) }
    }

    /// The acknowledgement to the prospect was not queued: `sent` had gone to the address in
    /// the last 24 hours, the most allowed.
    pub fn acknowledgement_capped(lead_id: Uuid, sent: u32) -> Self {
        let data = AcknowledgementCapped { acknowledgements_in_window: sent, window_hours: 24 };
        Self { lead_id, actor: Actor::System, data: EventData::AcknowledgementCapped(data) }
    }

    fn into_row(self, now: DateTime<Utc>) -> lead_event::ActiveModel {
        let (actor_kind, actor_id) = match self.actor {
            Actor::User(id) => (ActorKind::User, Some(id)),
            Actor::System => (ActorKind::System, None),
            Actor::Prospect => (ActorKind::Prospect, None),
            Actor::Integration(id) => (ActorKind::Integration, Some(id)),
        };
        lead_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            lead_id: Set(self.lead_id),
            kind: Set(self.data.kind()),
            actor_kind: Set(actor_kind),
            actor_id: Set(actor_id),
            data: Set(self.data.to_value()),
            created_at: Set(now),
        }
    }
}

/// Rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits.
const EVENTS_PER_STATEMENT: usize = 1000;

/// Writes the events, and the webhook deliveries they cause, in the caller's transaction.
pub async fn record(conn: &impl ConnectionTrait, events: Vec<NewEvent>, now: DateTime<Utc>) -> Result<(), DbErr> {
    let hooks = events.iter().filter_map(|e| Some((e.lead_id, WebhookEvent::of(&e.data)?))).collect();
    super::webhooks::enqueue(conn, hooks, now).await?;
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let rows: Vec<_> = events.by_ref().take(EVENTS_PER_STATEMENT).map(|e| e.into_row(now)).collect();
        lead_event::Entity::insert_many(rows).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// The histories of several leads in one query, each newest first.
pub async fn for_leads(
    conn: &impl ConnectionTrait,
    lead_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<lead_event::Model>>, DbErr> {
    use lead_event::Column as C;
    let rows = lead_event::Entity::find()
        .filter(C::LeadId.is_in(lead_ids.iter().copied()))
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .all(conn)
        .await?;
    let mut by_lead: HashMap<Uuid, Vec<lead_event::Model>> = HashMap::new();
    for row in rows {
        by_lead.entry(row.lead_id).or_default().push(row);
    }
    Ok(by_lead)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stored(kind: EventKind, data: Value) -> lead_event::Model {
        lead_event::Model {
            id: Uuid::now_v7(),
            lead_id: Uuid::now_v7(),
            kind,
            actor_kind: ActorKind::System,
            actor_id: None,
            data,
            created_at: Utc::now(),
        }
    }

    /// Data written before the type existed reads back through it, and the type writes the
    /// same keys.
    #[test]
    fn event_data_keeps_its_stored_shape() {
        let job = Uuid::now_v7();
        let cases = [
            (EventKind::Submitted, json!({ "duplicateOf": null })),
            (EventKind::StatusChanged, json!({ "from": "PENDING", "to": "REACHED_OUT" })),
            (EventKind::FieldsUpdated, json!({ "changes": [{ "field": "email", "from": "a@x.io", "to": "b@x.io" }] })),
            (EventKind::ResumeReplaced, json!({ "previousKey": "resumes/a", "newKey": "resumes/b" })),
            (EventKind::Assigned, json!({ "from": null, "to": job })),
            (EventKind::NoteAdded, json!({ "noteId": job })),
            (EventKind::EmailSent, json!({ "jobId": job, "recipient": "a@x.io", "attempt": 1 })),
            (
                EventKind::EmailFailed,
                json!({ "jobId": job, "recipient": "a@x.io", "attempt": 2, "error": "421", "willRetry": true }),
            ),
            (EventKind::AcknowledgementCapped, json!({ "acknowledgementsInWindow": 3, "windowHours": 24 })),
            (EventKind::ConflictChecked, json!({ "state": "POSSIBLE_CONFLICT", "hits": 2, "newHits": 1 })),
            (EventKind::ConflictResolved, json!({ "decision": "CONFLICT", "note": "adverse in Doe v. Roe" })),
            (EventKind::OutcomeSet, json!({ "from": "OPEN", "to": "DECLINED", "reason": "out of scope" })),
            (EventKind::ResumeDownloaded, json!({ "key": "resumes/a", "fileName": "cv.pdf" })),
            (EventKind::LeadExported, json!({ "files": 2 })),
            (EventKind::LeadErased, json!({ "reason": "retention" })),
            (EventKind::LegalHoldSet, json!({ "hold": true, "reason": "litigation" })),
        ];
        for (kind, data) in cases {
            let read = EventData::read(&stored(kind, data.clone())).unwrap_or_else(|| panic!("{kind:?} unread"));
            assert_eq!(read.kind(), kind);
            assert_eq!(read.to_value(), data, "{kind:?} written back the same");
        }
        assert_eq!(EventData::read(&stored(EventKind::NoteAdded, json!({ "noteId": "not an id" }))), None);
    }
}
