//! Delivers webhook events: one task per endpoint with something due, so that a slow or dead
//! receiver delays only itself (and never mail, which has its own worker). Each attempt is
//! leased, built afresh (the lead as it is now, a new résumé link, a new timestamp and
//! signature) and settled: any 2xx delivers, 410 Gone deactivates the endpoint, anything else
//! is retried with backoff until the attempts run out.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use entity::{
    lead,
    webhook_delivery::{self, DeliveryState},
    webhook_endpoint,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{WebhookEvent, WebhookSettings, signature};
use crate::{
    infra::{
        clock, error_chain,
        lease::{self, Held},
        outbound,
    },
    leads::{
        changes::status_name, file_links::FileLinks, outbox::queue::backoff, outcome::outcome_name,
        privacy::access::resume_path,
    },
};

/// The résumé link in a delivery works this long.
const LINK_TTL: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct Dispatcher {
    db: DatabaseConnection,
    links: Arc<FileLinks>,
    client: reqwest::Client,
    settings: WebhookSettings,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub failed: usize,
    pub dead: usize,
}

impl Dispatcher {
    pub fn new(db: DatabaseConnection, links: Arc<FileLinks>, settings: WebhookSettings) -> Self {
        let client = outbound::client(settings.outbound, settings.timeout);
        Self { db, links, client, settings }
    }

    /// Runs until `shutdown`: every poll interval, starts a task for each endpoint with due
    /// deliveries that has none running. Deliveries in flight finish before it returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut running: HashMap<Uuid, JoinHandle<DeliveryReport>> = HashMap::new();
        loop {
            running.retain(|_, task| !task.is_finished());
            match due_endpoints(&self.db, clock::now()).await {
                Ok(endpoints) => {
                    for endpoint in endpoints {
                        running.entry(endpoint).or_insert_with(|| {
                            let me = self.clone();
                            tokio::spawn(async move { me.drain_endpoint(endpoint, None).await })
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "webhooks: looking for due deliveries failed; will retry"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
        for (_, task) in running {
            let _ = task.await;
        }
    }

    /// Delivers everything due at `now`, every endpoint at once, and waits (tests pass a later
    /// time to make retries due).
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> anyhow::Result<DeliveryReport> {
        let endpoints = due_endpoints(&self.db, now).await?;
        let tasks: Vec<_> = endpoints
            .into_iter()
            .map(|endpoint| {
                let me = self.clone();
                tokio::spawn(async move { me.drain_endpoint(endpoint, Some(now)).await })
            })
            .collect();
        let mut report = DeliveryReport::default();
        for task in tasks {
            let one = task.await?;
            report.delivered += one.delivered;
            report.failed += one.failed;
            report.dead += one.dead;
        }
        Ok(report)
    }

    /// One endpoint's due deliveries, oldest first, one at a time (a receiver sees them in
    /// order).
    async fn drain_endpoint(&self, endpoint: Uuid, at: Option<DateTime<Utc>>) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        loop {
            let now = at.unwrap_or_else(clock::now);
            let delivery = match claim(&self.db, endpoint, now).await {
                Ok(Some(delivery)) => delivery,
                Ok(None) => return report,
                Err(e) => {
                    tracing::error!(error = %e, %endpoint, "webhooks: claiming a delivery failed");
                    return report;
                }
            };
            let held = Held::new([delivery.id]);
            let attempt = self.attempt(&delivery, now);
            match lease::renewing::<webhook_delivery::Entity, _>(&self.db, &held, lease::LEASE, attempt).await {
                Ok(DeliveryState::Delivered) => report.delivered += 1,
                Ok(DeliveryState::Dead) => report.dead += 1,
                Ok(_) => report.failed += 1,
                Err(e) => {
                    tracing::error!(error = %e, delivery = %delivery.id, "webhooks: settling a delivery failed");
                    return report;
                }
            }
        }
    }

    async fn attempt(&self, delivery: &webhook_delivery::Model, now: DateTime<Utc>) -> Result<DeliveryState, DbErr> {
        let Some(endpoint) = webhook_endpoint::Entity::find_by_id(delivery.endpoint_id).one(&self.db).await? else {
            return Ok(DeliveryState::Dead);
        };
        let sent_at = Ord::max(now, clock::now());
        let result = match outbound::check_url(&endpoint.url, self.settings.outbound) {
            Ok(url) => {
                let body = self.body(delivery, &endpoint, sent_at).await?;
                let mut secrets = vec![endpoint.secret.as_str()];
                if let (Some(previous), Some(until)) = (&endpoint.previous_secret, endpoint.previous_secret_until)
                    && until > sent_at
                {
                    secrets.push(previous);
                }
                let id = delivery.id.to_string();
                let timestamp = sent_at.timestamp();
                let request = self
                    .client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature::sign(&secrets, &id, timestamp, &body))
                    .body(body);
                match request.send().await {
                    Ok(response) => Ok(response.status().as_u16()),
                    Err(e) => Err(error_chain(&e)),
                }
            }
            Err(why) => Err(format!("refused: the URL {why}")),
        };
        self.settle(delivery, &endpoint, result, sent_at).await
    }

    /// The body: the event, when it happened, and the lead as it is now (nothing but its id
    /// once erased), with a résumé link for this endpoint valid for an hour.
    async fn body(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, DbErr> {
        let lead = lead::Entity::find_by_id(delivery.lead_id).one(&self.db).await?;
        let data = match lead.filter(|l| l.erased_at.is_none()) {
            Some(l) => json!({
                "id": l.id,
                "firstName": l.first_name,
                "lastName": l.last_name,
                "email": l.email,
                "status": status_name(l.status),
                "outcome": outcome_name(l.outcome),
                "source": l.source,
                "submittedAt": l.created_at,
                "resume": {
                    "fileName": l.resume_file_name,
                    "contentType": l.resume_content_type,
                    "sizeBytes": l.resume_size_bytes,
                    "downloadUrl": self.links.url_valid_for(&resume_path(&l.resume_key), endpoint.id, now, LINK_TTL),
                },
            }),
            None => json!({ "id": delivery.lead_id }),
        };
        let event = WebhookEvent::named(&delivery.event).map(WebhookEvent::type_name).unwrap_or_default();
        let body: Value = json!({ "type": event, "timestamp": delivery.occurred_at, "data": data });
        Ok(serde_json::to_vec(&body).expect("JSON serialises"))
    }

    async fn settle(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
        result: Result<u16, String>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryState, DbErr> {
        use webhook_delivery::Column as C;
        let status = result.as_ref().ok().copied();
        let (state, error) = match result {
            Ok(code) if (200..300).contains(&code) => (DeliveryState::Delivered, None),
            Ok(410) => {
                webhook_endpoint::Entity::update_many()
                    .col_expr(webhook_endpoint::Column::Active, Expr::value(false))
                    .filter(webhook_endpoint::Column::Id.eq(endpoint.id))
                    .exec(&self.db)
                    .await?;
                tracing::warn!(endpoint = %endpoint.id, "webhook endpoint answered 410 Gone: deactivated");
                (DeliveryState::Dead, Some("410 Gone: the endpoint was deactivated".to_owned()))
            }
            Ok(code) if (300..400).contains(&code) => {
                (self.failure_state(delivery), Some(format!("HTTP {code}: redirects are not followed")))
            }
            Ok(code) => (self.failure_state(delivery), Some(format!("HTTP {code}"))),
            Err(error) => (self.failure_state(delivery), Some(error)),
        };
        let retry_at = now + backoff(self.settings.backoff_base, delivery.attempts as u32);
        webhook_delivery::Entity::update_many()
            .col_expr(C::State, Expr::value(state))
            .col_expr(C::ResponseStatus, Expr::value(status.map(i32::from)))
            .col_expr(C::LastError, Expr::value(error.clone().map(|e| e.chars().take(2000).collect::<String>())))
            .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::RunAt, Expr::value(if state == DeliveryState::Failed { retry_at } else { delivery.run_at }))
            .col_expr(C::DeliveredAt, Expr::value((state == DeliveryState::Delivered).then_some(now)))
            .filter(C::Id.eq(delivery.id))
            .exec(&self.db)
            .await?;
        match state {
            DeliveryState::Delivered => {
                tracing::info!(delivery = %delivery.id, endpoint = %endpoint.id, event = delivery.event, "webhook delivered")
            }
            _ => {
                tracing::warn!(delivery = %delivery.id, endpoint = %endpoint.id, attempt = delivery.attempts, error = error.unwrap_or_default(), ?state, "webhook not delivered")
            }
        }
        Ok(state)
    }

    fn failure_state(&self, delivery: &webhook_delivery::Model) -> DeliveryState {
        if delivery.attempts as u32 >= self.settings.max_attempts { DeliveryState::Dead } else { DeliveryState::Failed }
    }
}

fn waiting() -> Condition {
    use webhook_delivery::Column as C;
    Condition::any().add(C::State.eq(DeliveryState::Pending)).add(C::State.eq(DeliveryState::Failed))
}

/// Active endpoints with a delivery due at `now` and not leased.
async fn due_endpoints(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<Uuid>, DbErr> {
    use webhook_delivery::Column as C;
    let active = Query::select()
        .column(webhook_endpoint::Column::Id)
        .from(webhook_endpoint::Entity)
        .and_where(Expr::col(webhook_endpoint::Column::Active).eq(true))
        .to_owned();
    webhook_delivery::Entity::find()
        .select_only()
        .column(C::EndpointId)
        .distinct()
        .filter(waiting())
        .filter(C::RunAt.lte(now))
        .filter(Condition::any().add(C::LockedUntil.is_null()).add(C::LockedUntil.lte(now)))
        .filter(C::EndpointId.in_subquery(active))
        .into_tuple()
        .all(db)
        .await
}

/// Leases the endpoint's oldest due delivery (`infra::lease`).
async fn claim(
    db: &impl ConnectionTrait,
    endpoint: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<webhook_delivery::Model>, DbErr> {
    let mine = Condition::all().add(waiting()).add(webhook_delivery::Column::EndpointId.eq(endpoint));
    let claimed = lease::claim::<webhook_delivery::Entity>(db, mine, now, lease::LEASE, 1).await?;
    Ok(claimed.into_iter().next())
}
