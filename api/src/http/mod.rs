//! The HTTP surface: routes and the layers around them.

mod files;
mod graphql;
mod health;

use axum::{
    Router,
    http::{HeaderName, Request},
    routing::get,
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{graphql::IntakeSchema, state::AppState};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: IntakeSchema,
}

pub fn router(app: AppState) -> Router {
    let schema = crate::graphql::build(app.clone());
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
        // The path only: query strings carry download signatures.
        tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
    });
    Router::new()
        .route("/graphql", get(graphql::graphiql).post(graphql::execute))
        .route("/files/{*key}", get(files::download))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(HttpState { app, schema })
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
