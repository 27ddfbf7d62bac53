//! Health and operations endpoints. With `INTAKE_OPS_ADDR` set, `/metrics` and the detailed
//! `/readyz` are served on that (private) listener only, and the public `/readyz` answers with
//! a bare status code. Raw error texts (which can name hosts and users) never reach the public.

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use crate::{infra::db, web::state::AppState};

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

struct Readiness {
    database: Result<(), String>,
    storage: Result<(), String>,
}

impl Readiness {
    async fn check(app: &AppState) -> Self {
        let database = db::ping(&app.db).await.map_err(|e| e.to_string());
        let storage = app.storage.ping().await.map_err(|e| e.to_string());
        for (what, result) in [("database", &database), ("storage", &storage)] {
            if let Err(e) = result {
                tracing::warn!(error = %e, "readiness: the {what} is not answering");
            }
        }
        Self { database, storage }
    }

    fn status(&self) -> StatusCode {
        if self.database.is_ok() && self.storage.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
    }

    /// Each part's state; the errors themselves only when `with_errors` (the private listener).
    fn report(&self, with_errors: bool) -> Value {
        let part = |r: &Result<(), String>| match r {
            Ok(()) => json!({ "status": "ok" }),
            Err(e) if with_errors => json!({ "status": "error", "error": e }),
            Err(_) => json!({ "status": "error" }),
        };
        let ready = self.status() == StatusCode::OK;
        json!({
            "status": if ready { "ready" } else { "unavailable" },
            "database": part(&self.database),
            "storage": part(&self.storage),
        })
    }
}

/// Readiness on the public listener: which part is down, without the errors' texts.
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let readiness = Readiness::check(&app).await;
    (readiness.status(), Json(readiness.report(false)))
}

/// Readiness on the public listener when an operations listener exists: the status code alone.
pub async fn readyz_bare(State(app): State<AppState>) -> StatusCode {
    Readiness::check(&app).await.status()
}

/// Readiness on the operations listener, with the errors.
pub async fn readyz_detailed(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let readiness = Readiness::check(&app).await;
    (readiness.status(), Json(readiness.report(true)))
}

/// Prometheus exposition.
pub async fn metrics(State(app): State<AppState>) -> impl axum::response::IntoResponse {
    let body = crate::infra::metrics::render(&app.db).await;
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
