//! A lead's history: every change is recorded as an event, in the same transaction as the
//! change itself, so nothing that changes a lead can skip it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::lead_event::{self, ActorKind, EventKind};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

/// Who caused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    System,
    Prospect,
}

pub struct NewEvent {
    pub lead_id: Uuid,
    pub kind: EventKind,
    pub actor: Actor,
    pub data: Value,
}

impl NewEvent {
    pub fn submitted(lead_id: Uuid, duplicate_of: Option<Uuid>) -> Self {
        Self {
            lead_id,
            kind: EventKind::Submitted,
            actor: Actor::Prospect,
            data: json!({ "duplicateOf": duplicate_of }),
        }
    }

    pub fn assigned(lead_id: Uuid, actor: Actor, from: Option<Uuid>, to: Option<Uuid>) -> Self {
        Self { lead_id, kind: EventKind::Assigned, actor, data: json!({ "from": from, "to": to }) }
    }

    /// The acknowledgement to the prospect was not queued: `sent` had gone to the address in
    /// the last 24 hours, the most allowed.
    pub fn acknowledgement_capped(lead_id: Uuid, sent: u32) -> Self {
        Self {
            lead_id,
            kind: EventKind::AcknowledgementCapped,
            actor: Actor::System,
            data: json!({ "acknowledgementsInWindow": sent, "windowHours": 24 }),
        }
    }

    fn into_row(self, now: DateTime<Utc>) -> lead_event::ActiveModel {
        let (actor_kind, actor_id) = match self.actor {
            Actor::User(id) => (ActorKind::User, Some(id)),
            Actor::System => (ActorKind::System, None),
            Actor::Prospect => (ActorKind::Prospect, None),
        };
        lead_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            lead_id: Set(self.lead_id),
            kind: Set(self.kind),
            actor_kind: Set(actor_kind),
            actor_id: Set(actor_id),
            data: Set(self.data),
            created_at: Set(now),
        }
    }
}

/// Rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits.
const EVENTS_PER_STATEMENT: usize = 1000;

pub async fn record(conn: &impl ConnectionTrait, events: Vec<NewEvent>, now: DateTime<Utc>) -> Result<(), DbErr> {
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

/// An id kept in an event's data (`to`, `noteId`, `jobId` …), if it is one.
pub fn id_in(data: &Value, field: &str) -> Option<Uuid> {
    data.get(field)?.as_str()?.parse().ok()
}
