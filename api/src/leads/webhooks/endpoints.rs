//! Webhook endpoints as admins manage them, and their deliveries.

use chrono::{DateTime, Utc};
use entity::{
    webhook_delivery::{self, DeliveryState},
    webhook_endpoint,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use super::{WebhookEvent, WebhookSettings, events_text, signature};
use crate::{accounts::session::Admin, error::AppError, infra::clock, infra::outbound};

const MAX_DESCRIPTION_CHARS: usize = 500;
const MAX_URL_CHARS: usize = 2000;
/// The longest a rotated-out secret keeps signing.
const MAX_GRACE_SECONDS: i32 = 7 * 86_400;

pub struct EndpointInput {
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEvent>>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

fn checked_url(url: &str, settings: &WebhookSettings) -> Result<String, AppError> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(AppError::bad_input("url", format!("must be at most {MAX_URL_CHARS} characters")));
    }
    Ok(outbound::check_url(url, settings.outbound).map_err(|m| AppError::bad_input("url", m))?.to_string())
}

fn checked_events(events: &[WebhookEvent]) -> Result<String, AppError> {
    if events.is_empty() {
        return Err(AppError::bad_input("events", "is empty; subscribe to at least one event"));
    }
    let mut events = events.to_vec();
    events.sort_by_key(|e| WebhookEvent::ALL.iter().position(|a| a == e));
    events.dedup();
    Ok(events_text(&events))
}

fn checked_description(description: Option<String>) -> Result<Option<String>, AppError> {
    let description = description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        return Err(AppError::bad_input("description", format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(description)
}

/// A new endpoint and its secret (shown this once).
pub async fn create(
    db: &impl ConnectionTrait,
    settings: &WebhookSettings,
    input: EndpointInput,
    admin: Admin<'_>,
) -> Result<webhook_endpoint::Model, AppError> {
    let url = checked_url(input.url.as_deref().unwrap_or_default(), settings)?;
    let events = checked_events(&input.events.unwrap_or_default())?;
    let endpoint = webhook_endpoint::Model {
        id: Uuid::now_v7(),
        url,
        events,
        active: true,
        description: checked_description(input.description)?,
        secret: signature::new_secret(),
        previous_secret: None,
        previous_secret_until: None,
        created_at: clock::now(),
        created_by: Some(admin.user().id),
    };
    webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel::from(endpoint.clone()))
        .exec_without_returning(db)
        .await?;
    tracing::info!(endpoint = %endpoint.id, by = %admin.user().id, "webhook endpoint created");
    Ok(endpoint)
}

pub async fn update(
    db: &impl ConnectionTrait,
    settings: &WebhookSettings,
    id: Uuid,
    input: EndpointInput,
    _admin: Admin<'_>,
) -> Result<webhook_endpoint::Model, AppError> {
    let found = find(db, id).await?;
    let mut row = webhook_endpoint::ActiveModel::from(found);
    if let Some(url) = input.url {
        row.url = Set(checked_url(&url, settings)?);
    }
    if let Some(events) = input.events {
        row.events = Set(checked_events(&events)?);
    }
    if input.description.is_some() {
        row.description = Set(checked_description(input.description)?);
    }
    if let Some(active) = input.active {
        row.active = Set(active);
    }
    Ok(webhook_endpoint::Entity::update(row).exec(db).await?)
}

/// Removes the endpoint and its deliveries; false when there was none.
pub async fn delete(db: &impl ConnectionTrait, id: Uuid, _admin: Admin<'_>) -> Result<bool, AppError> {
    webhook_delivery::Entity::delete_many().filter(webhook_delivery::Column::EndpointId.eq(id)).exec(db).await?;
    Ok(webhook_endpoint::Entity::delete_by_id(id).exec(db).await?.rows_affected > 0)
}

/// A new secret signs from now on; the old one signs beside it for `grace_seconds`.
pub async fn rotate_secret(
    db: &impl ConnectionTrait,
    id: Uuid,
    grace_seconds: i32,
    _admin: Admin<'_>,
) -> Result<webhook_endpoint::Model, AppError> {
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(AppError::bad_input("graceSeconds", format!("must be between 0 and {MAX_GRACE_SECONDS} (a week)")));
    }
    let found = find(db, id).await?;
    let mut row = webhook_endpoint::ActiveModel::from(found.clone());
    row.secret = Set(signature::new_secret());
    let grace = (grace_seconds > 0).then(|| clock::now() + chrono::Duration::seconds(grace_seconds.into()));
    row.previous_secret = Set(grace.map(|_| found.secret));
    row.previous_secret_until = Set(grace);
    Ok(webhook_endpoint::Entity::update(row).exec(db).await?)
}

pub async fn list(db: &impl ConnectionTrait, _admin: Admin<'_>) -> Result<Vec<webhook_endpoint::Model>, AppError> {
    Ok(webhook_endpoint::Entity::find().order_by_asc(webhook_endpoint::Column::CreatedAt).all(db).await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<webhook_endpoint::Model, AppError> {
    webhook_endpoint::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("webhook endpoint"))
}

/// The endpoint's deliveries, newest first, `first` after the delivery `after`; one more than
/// asked tells whether there is a next page.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    endpoint: Uuid,
    state: Option<DeliveryState>,
    first: u64,
    after: Option<Uuid>,
) -> Result<Vec<webhook_delivery::Model>, AppError> {
    use webhook_delivery::Column as C;
    let mut select = webhook_delivery::Entity::find().filter(C::EndpointId.eq(endpoint));
    if let Some(state) = state {
        select = select.filter(C::State.eq(state));
    }
    if let Some(after) = after {
        select = select.filter(C::Id.lt(after));
    }
    Ok(select.order_by_desc(C::Id).limit(first + 1).all(db).await?)
}

/// Puts the delivery back in line, due now with fresh attempts, under the same `webhook-id`.
pub async fn redeliver(
    db: &impl ConnectionTrait,
    id: Uuid,
    _admin: Admin<'_>,
) -> Result<webhook_delivery::Model, AppError> {
    use webhook_delivery::Column as C;
    let now: DateTime<Utc> = clock::now();
    let updated = webhook_delivery::Entity::update_many()
        .col_expr(C::State, Expr::value(DeliveryState::Pending))
        .col_expr(C::Attempts, Expr::value(0))
        .col_expr(C::RunAt, Expr::value(now))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected;
    if updated == 0 {
        return Err(AppError::NotFound("webhook delivery"));
    }
    webhook_delivery::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("webhook delivery"))
}
