//! The web layer: HTTP routes and the layers around them, GraphQL over HTTP (`endpoint.rs`)
//! and WebSocket (`socket.rs`), the GraphQL schema with thin resolvers (`graphql/`), uploads,
//! signed downloads, the public form, GraphiQL and health. It uses the domains (`leads`,
//! `accounts`) and `infra`, never `app`.

mod answers;
pub mod client_ip;
mod endpoint;
mod files;
mod form;
mod graphiql;
pub mod graphql;
mod health;
mod multipart;
mod negotiate;
mod persisted;
pub mod server;
pub mod settings;
mod socket;
mod spool;
pub mod state;

use std::sync::Arc;

use axum::{
    Router,
    http::{HeaderName, HeaderValue, Method, Request, StatusCode, header},
    routing::get,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    web::graphql::{IntakeSchema, parse_cache::ParseCache},
    web::state::AppState,
    web::{answers::Answers, persisted::PersistedQueries},
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
pub struct HttpState {
    /// Behind an `Arc`: the router clones the state for every request, and the services hold
    /// many shared counters (pools, channels) that would each be touched by a deep clone.
    pub app: Arc<AppState>,
    pub schema: IntakeSchema,
    pub parses: Arc<ParseCache>,
    pub answers: Arc<Answers>,
    pub persisted: Arc<PersistedQueries>,
}

pub fn router(app: AppState) -> Router {
    let schema = crate::web::graphql::build(app.clone());
    let config = app.settings.clone();
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
        // The path only: query strings carry download signatures.
        tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
    });
    let mut router = Router::new().merge(graphiql::routes());
    if config.public_form {
        router = router.merge(form::routes(&config));
    }
    let router = router
        .route("/graphql", get(endpoint::get).post(endpoint::post))
        .route("/files/{*key}", get(files::download))
        .route("/exports/{id}", get(files::export))
        .route("/healthz", get(health::healthz));
    // With an operations listener, the public one keeps no operational detail.
    let router = match config.ops_addr {
        Some(_) => router.route("/readyz", get(health::readyz_bare).with_state(app.clone())),
        None => router
            .route("/readyz", get(health::readyz).with_state(app.clone()))
            .route("/metrics", get(health::metrics).with_state(app.clone())),
    };
    let router = router
        .with_state(HttpState {
            answers: Arc::new(Answers::new(app.settings.read_cache_max_age, app.settings.read_cache_max_bytes)),
            app: Arc::new(app),
            schema,
            parses: Arc::new(ParseCache::default()),
            persisted: Arc::new(PersistedQueries::default()),
        })
        .route_layer(axum::middleware::from_fn(record_duration))
        // The GraphQL handler enforces tighter limits of its own; this bounds every other route.
        .layer(RequestBodyLimitLayer::new((config.max_upload_bytes + 2 * 1024 * 1024) as usize))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout));
    let router = security_headers(router, config.public_url.starts_with("https://"));
    let router = match cors(&config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The operations listener (`INTAKE_OPS_ADDR`): metrics and detailed readiness, nothing else.
pub fn ops_router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics))
        .route("/readyz", get(health::readyz_detailed))
        .route("/healthz", get(health::healthz))
        .with_state(app)
}

/// Records every request's duration by method, route pattern (never the raw path: it would carry
/// file keys) and status.
async fn record_duration(
    matched: Option<axum::extract::MatchedPath>,
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = method_label(request.method());
    let route = matched.map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::infra::metrics::http_request(method, &route, response.status().as_u16(), started.elapsed());
    response
}

/// Labels come from closed sets, so that made-up methods add no series to `/metrics`.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD.iter().find(|m| *m == method).map_or("other", |m| m.as_str())
}

fn security_headers(router: Router, https: bool) -> Router {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let router = router
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"))
        .layer(set(HeaderName::from_static("cross-origin-opener-policy"), "same-origin"))
        .layer(set(HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()"));
    if https {
        router.layer(set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"))
    } else {
        router
    }
}

/// Cross-origin calls only from the configured origins (e.g. the firm's website); with none
/// configured, browsers allow same-origin calls only.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("apollo-require-preflight"),
                HeaderName::from_static("x-apollo-operation-name"),
                REQUEST_ID,
            ])
            .expose_headers([header::RETRY_AFTER, REQUEST_ID])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}
