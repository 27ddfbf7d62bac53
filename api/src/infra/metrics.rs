//! Prometheus metrics, served at `GET /metrics`: leads submitted, emails by kind and outcome,
//! queue depth, send latency and HTTP request durations.

use std::{sync::OnceLock, time::Duration};

use entity::email_job::{self, EmailKind, JobState};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

/// Seconds: from a millisecond to a minute.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The process-wide recorder, installed on first use (one per process: tests start many apps).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("buckets are valid")
            .install_recorder()
            .expect("the only metrics recorder of the process")
    })
}

/// Counts SQL statements; registered once, as it is bumped for every statement.
pub fn db_statements() -> metrics::Counter {
    metrics::counter!("intake_db_statements_total")
}

pub fn lead_submitted() {
    metrics::counter!("intake_leads_submitted_total").increment(1);
}

/// A lead's personal data erased: `request` (an admin) or `retention` (the sweep).
pub fn lead_erased(reason: &'static str) {
    metrics::counter!("intake_leads_erased_total", "reason" => reason).increment(1);
}

/// One send attempt's outcome: `sent`, `failed` (will retry) or `dead`.
pub fn email_attempt(kind: EmailKind, outcome: &'static str, latency: Duration) {
    let kind = kind_label(kind);
    metrics::counter!("intake_emails_total", "kind" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!("intake_email_send_seconds", "kind" => kind).record(latency.as_secs_f64());
}

pub fn http_request(method: &'static str, route: &str, status: u16, duration: Duration) {
    metrics::histogram!(
        "intake_http_request_duration_seconds",
        "method" => method,
        "route" => route.to_owned(),
        "status" => status.to_string()
    )
    .record(duration.as_secs_f64());
}

/// The exposition text, with the queue depth read fresh from the database: `queued` is due
/// now, `scheduled` waits for its time (a retry's backoff, a response reminder), `dead` gave up.
pub async fn render(db: &DatabaseConnection) -> String {
    use email_job::Column as C;
    let now = crate::infra::clock::now();
    let queued = || email_job::Entity::find().filter(C::State.eq(JobState::Queued));
    for (select, label) in [
        (queued().filter(C::RunAt.lte(now)), "queued"),
        (queued().filter(C::RunAt.gt(now)), "scheduled"),
        (email_job::Entity::find().filter(C::State.eq(JobState::Dead)), "dead"),
    ] {
        match select.count(db).await {
            Ok(n) => metrics::gauge!("intake_email_queue_depth", "state" => label).set(n as f64),
            Err(e) => tracing::warn!(error = %e, "metrics: counting email jobs failed"),
        }
    }
    handle().render()
}

fn kind_label(kind: EmailKind) -> &'static str {
    match kind {
        EmailKind::LeadAcknowledgement => "acknowledgement",
        EmailKind::LeadNotification => "notification",
        EmailKind::ResponseReminder => "reminder",
        EmailKind::ResponseEscalation => "escalation",
        EmailKind::LeadAssigned => "assigned",
    }
}
