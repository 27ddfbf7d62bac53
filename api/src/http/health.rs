use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::HttpState;
use crate::db;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do its work: database and storage answer.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<Value>) {
    let database = db::ping(&state.app.db).await.map_err(|e| e.to_string());
    let storage = state.app.storage.ping().await.map_err(|e| e.to_string());
    let report = |r: &Result<(), String>| match r {
        Ok(()) => json!({ "status": "ok" }),
        Err(e) => json!({ "status": "error", "error": e }),
    };
    let ready = database.is_ok() && storage.is_ok();
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": report(&database),
        "storage": report(&storage),
    });
    (code, Json(body))
}

/// Prometheus exposition.
pub async fn metrics(State(state): State<HttpState>) -> impl axum::response::IntoResponse {
    let body = crate::metrics::render(&state.app.db).await;
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
