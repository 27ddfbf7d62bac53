//! Signed webhooks: the firm's other systems hear about leads. Each change's history events name
//! the webhook events it causes; a delivery per subscribed endpoint is written in the change's
//! own transaction (`enqueue`, called by `history::record`), so no path can change a lead
//! without its event and none is lost. The dispatcher delivers them per endpoint, signed as
//! Standard Webhooks prescribe, retrying with backoff.

pub mod dispatcher;
pub mod endpoints;
pub mod signature;

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{
    webhook_delivery::{self, DeliveryState},
    webhook_endpoint,
};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::history::EventData;
use crate::infra::outbound::OutboundSettings;

/// What an endpoint can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)] // as the API names them
pub enum WebhookEvent {
    LeadSubmitted,
    LeadUpdated,
    LeadStatusChanged,
    LeadAssigned,
    LeadOutcomeSet,
    LeadErased,
}

impl WebhookEvent {
    pub const ALL: [Self; 6] = [
        Self::LeadSubmitted,
        Self::LeadUpdated,
        Self::LeadStatusChanged,
        Self::LeadAssigned,
        Self::LeadOutcomeSet,
        Self::LeadErased,
    ];

    /// The GraphQL name, as stored.
    pub fn name(self) -> &'static str {
        match self {
            Self::LeadSubmitted => "LEAD_SUBMITTED",
            Self::LeadUpdated => "LEAD_UPDATED",
            Self::LeadStatusChanged => "LEAD_STATUS_CHANGED",
            Self::LeadAssigned => "LEAD_ASSIGNED",
            Self::LeadOutcomeSet => "LEAD_OUTCOME_SET",
            Self::LeadErased => "LEAD_ERASED",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The body's `type`: `lead.submitted`, `lead.status_changed`…
    pub fn type_name(self) -> String {
        self.name().to_lowercase().replacen('_', ".", 1)
    }

    /// The event a history event makes, if any.
    pub fn of(data: &EventData) -> Option<Self> {
        Some(match data {
            EventData::Submitted(_) => Self::LeadSubmitted,
            EventData::FieldsUpdated(_)
            | EventData::ResumeReplaced(_)
            | EventData::NoteAdded(_)
            | EventData::ConflictResolved(_) => Self::LeadUpdated,
            EventData::StatusChanged(_) => Self::LeadStatusChanged,
            EventData::Assigned(_) => Self::LeadAssigned,
            EventData::OutcomeSet(_) => Self::LeadOutcomeSet,
            EventData::LeadErased(_) => Self::LeadErased,
            _ => return None,
        })
    }
}

/// Comma-separated names, as stored.
pub fn events_text(events: &[WebhookEvent]) -> String {
    events.iter().map(|e| e.name()).collect::<Vec<_>>().join(",")
}

pub fn events_of(endpoint: &webhook_endpoint::Model) -> Vec<WebhookEvent> {
    endpoint.events.split(',').filter_map(WebhookEvent::named).collect()
}

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `INTAKE_WEBHOOK_BACKOFF_BASE`: before the first retry, doubling after.
    pub backoff_base: Duration,
    /// `INTAKE_WEBHOOK_MAX_ATTEMPTS`: then the delivery is DEAD.
    pub max_attempts: u32,
    pub outbound: OutboundSettings,
    /// For the whole exchange with a receiver.
    pub timeout: Duration,
    /// How often the dispatcher looks for due deliveries.
    pub poll_interval: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_secs(30),
            max_attempts: 15,
            outbound: OutboundSettings::default(),
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Writes a delivery for every active endpoint subscribed to each (lead, event), once per
/// pair even when one change records several history events of a kind.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    mut events: Vec<(Uuid, WebhookEvent)>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    events.sort_by_key(|(lead, event)| (*lead, event.name()));
    events.dedup();
    if events.is_empty() {
        return Ok(());
    }
    let endpoints: Vec<(Uuid, String)> = webhook_endpoint::Entity::find()
        .select_only()
        .column(webhook_endpoint::Column::Id)
        .column(webhook_endpoint::Column::Events)
        .filter(webhook_endpoint::Column::Active.eq(true))
        .into_tuple()
        .all(conn)
        .await?;
    let mut rows = Vec::new();
    for (endpoint, subscribed) in &endpoints {
        for (lead, event) in &events {
            if subscribed.split(',').any(|name| name == event.name()) {
                rows.push(webhook_delivery::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    endpoint_id: Set(*endpoint),
                    lead_id: Set(*lead),
                    event: Set(event.name().to_owned()),
                    occurred_at: Set(now),
                    state: Set(DeliveryState::Pending),
                    attempts: Set(0),
                    run_at: Set(now),
                    locked_until: Set(None),
                    response_status: Set(None),
                    last_error: Set(None),
                    created_at: Set(now),
                    delivered_at: Set(None),
                });
            }
        }
    }
    if !rows.is_empty() {
        webhook_delivery::Entity::insert_many(rows).exec_without_returning(conn).await?;
    }
    Ok(())
}
