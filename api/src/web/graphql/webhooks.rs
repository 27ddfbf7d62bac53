//! Webhook endpoints and their deliveries. Admins only, all of it.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{webhook_delivery, webhook_endpoint};
use uuid::Uuid;

use super::{
    parse_id, session, state,
    types::{Page, PageInfo, decode_id_cursor, id_cursor},
};
use crate::{
    error::AppError,
    leads::webhooks::{self, WebhookEvent as Event, endpoints},
};

const MAX_PAGE_SIZE: i32 = 100;

/// What an endpoint hears about.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::leads::webhooks::WebhookEvent")]
#[allow(clippy::enum_variant_names)] // the names are the API's
pub enum WebhookEvent {
    /// A lead was submitted (`lead.submitted`).
    LeadSubmitted,
    /// Its names, email or résumé were corrected, a note added, or a conflict decided.
    LeadUpdated,
    LeadStatusChanged,
    LeadAssigned,
    LeadOutcomeSet,
    /// The person's data was erased: the body carries the lead's id only.
    LeadErased,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::webhook_delivery::DeliveryState")]
pub enum WebhookDeliveryState {
    /// Not tried yet.
    Pending,
    /// A 2xx answer.
    Delivered,
    /// The last attempt failed; another follows after a backoff.
    Failed,
    /// Given up on (attempts used up, or 410 Gone); `redeliverWebhook` sends it again.
    Dead,
}

pub struct WebhookEndpoint(webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn events(&self) -> Vec<WebhookEvent> {
        webhooks::events_of(&self.0).into_iter().map(Into::into).collect()
    }
    /// False once an admin deactivated it or it answered 410 Gone: nothing is sent to it.
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Its deliveries, newest first.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        state: Option<WebhookDeliveryState>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<WebhookDeliveryConnection> {
        session(ctx).admin()?;
        let first = first.unwrap_or(20);
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(AppError::bad_input("first", format!("must be between 0 and {MAX_PAGE_SIZE}")).into());
        }
        let after_id = after.as_deref().map(decode_cursor).transpose()?;
        let mut rows =
            endpoints::deliveries(&self::state(ctx).db, self.0.id, state.map(Into::into), first as u64, after_id)
                .await?;
        let has_next_page = rows.len() > first as usize;
        rows.truncate(first as usize);
        let Page { edges, nodes, page_info } = Page::of(
            rows,
            (has_next_page, after_id.is_some()),
            cursor,
            |cursor, d| WebhookDeliveryEdge { cursor, node: WebhookDelivery(d.clone()) },
            WebhookDelivery,
        );
        Ok(WebhookDeliveryConnection { edges, nodes, page_info })
    }
}

pub struct WebhookDelivery(webhook_delivery::Model);

#[Object]
impl WebhookDelivery {
    /// Also the `webhook-id` header of every attempt.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn event(&self) -> Result<WebhookEvent> {
        let event = Event::named(&self.0.event).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("delivery {} has an unknown event {}", self.0.id, self.0.event))
        })?;
        Ok(event.into())
    }
    async fn lead_id(&self) -> ID {
        ID(self.0.lead_id.to_string())
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn state(&self) -> WebhookDeliveryState {
        self.0.state.into()
    }
    /// The HTTP status of the last answer, if there was one.
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When the next attempt is due (PENDING, FAILED).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        matches!(self.0.state, webhook_delivery::DeliveryState::Pending | webhook_delivery::DeliveryState::Failed)
            .then_some(self.0.run_at)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
}

#[derive(SimpleObject)]
pub struct WebhookDeliveryEdge {
    pub cursor: String,
    pub node: WebhookDelivery,
}

#[derive(SimpleObject)]
pub struct WebhookDeliveryConnection {
    pub edges: Vec<WebhookDeliveryEdge>,
    pub nodes: Vec<WebhookDelivery>,
    pub page_info: PageInfo,
}

fn cursor(delivery: &webhook_delivery::Model) -> String {
    id_cursor("delivery", delivery.id)
}

fn decode_cursor(raw: &str) -> Result<Uuid, AppError> {
    decode_id_cursor("delivery", raw)
}

/// An endpoint with its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: give it to the receiver's Standard Webhooks library.
    pub secret: String,
}

impl From<webhook_endpoint::Model> for CreatedWebhookEndpoint {
    fn from(endpoint: webhook_endpoint::Model) -> Self {
        Self { secret: endpoint.secret.clone(), endpoint: WebhookEndpoint(endpoint) }
    }
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// `https://…` (plain http only with INTAKE_WEBHOOK_ALLOW_HTTP=on).
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEvent>>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

fn input(
    url: Option<String>,
    events: Option<Vec<WebhookEvent>>,
    description: Option<String>,
    active: Option<bool>,
) -> endpoints::EndpointInput {
    endpoints::EndpointInput {
        url,
        events: events.map(|e| e.into_iter().map(Into::into).collect()),
        description,
        active,
    }
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Every webhook endpoint, oldest first. Admins only.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        let admin = session(ctx).admin()?;
        Ok(endpoints::list(&state(ctx).db, admin).await?.into_iter().map(WebhookEndpoint).collect())
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Adds an endpoint; its secret is in the answer and never shown again. Admins only.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> Result<CreatedWebhookEndpoint> {
        let admin = session(ctx).admin()?;
        let app = state(ctx);
        let input = self::input(Some(input.url), Some(input.events), input.description, None);
        Ok(endpoints::create(&app.db, &app.webhooks, input, admin).await?.into())
    }

    /// Changes what is given; `active: false` pauses deliveries (they wait). Admins only.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookEndpointInput,
    ) -> Result<WebhookEndpoint> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        let app = state(ctx);
        let input = self::input(input.url, input.events, input.description, input.active);
        Ok(WebhookEndpoint(endpoints::update(&app.db, &app.webhooks, id, input, admin).await?))
    }

    /// Removes the endpoint and its deliveries; false when there was none. Admins only.
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        Ok(endpoints::delete(&state(ctx).db, id, admin).await?)
    }

    /// A new secret signs from now on; for `graceSeconds` the old one signs beside it, so the
    /// receiver can switch without missing an event. Admins only.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = 0)] grace_seconds: Option<i32>,
    ) -> Result<CreatedWebhookEndpoint> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        let grace = grace_seconds.unwrap_or(0);
        Ok(endpoints::rotate_secret(&state(ctx).db, id, grace, admin).await?.into())
    }

    /// Sends a delivery again (as soon as the dispatcher gets to it), under the same
    /// `webhook-id`, with a fresh set of attempts. Admins only.
    async fn redeliver_webhook(&self, ctx: &Context<'_>, delivery_id: ID) -> Result<WebhookDelivery> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&delivery_id, "deliveryId")?;
        Ok(WebhookDelivery(endpoints::redeliver(&state(ctx).db, id, admin).await?))
    }
}
