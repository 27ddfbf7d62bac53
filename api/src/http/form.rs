//! The firm's public intake form at `GET /` and `/form`: one HTML page, its script and its
//! styles, all served from here (compiled in), so it works without any CDN or build step.
//! `INTAKE_FORM=off` leaves these routes out for firms that embed their own form.

use std::sync::LazyLock;

use axum::{
    Router,
    extract::State,
    http::header,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use minijinja::{Environment, context};

use super::HttpState;
use crate::error::human_bytes;

/// Scripts and styles from this origin only; the page posts to `/graphql` on this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

static PAGE: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // `.html`: every value is escaped (the firm's name comes from configuration).
    env.add_template("form.html", include_str!("../../templates/form/form.html")).expect("the form template parses");
    env
});

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(page))
        .route("/form", get(page))
        .route("/form.js", get(script))
        .route("/form.css", get(styles))
}

async fn page(State(state): State<HttpState>) -> Response {
    let config = &state.app.config;
    let rendered = PAGE.get_template("form.html").and_then(|t| {
        t.render(context! {
            firm_name => config.firm_name,
            max_bytes => config.max_upload_bytes,
            max_size => human_size(config.max_upload_bytes),
        })
    });
    match rendered {
        Ok(html) => {
            ([(header::CONTENT_SECURITY_POLICY, CSP), (header::CACHE_CONTROL, "no-cache")], Html(html)).into_response()
        }
        Err(e) => crate::error::AppError::Internal(e.into()).public_message().into_response(),
    }
}

async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", include_str!("../../static/form.js"))
}

async fn styles() -> impl IntoResponse {
    asset("text/css; charset=utf-8", include_str!("../../static/form.css"))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body)
}

/// "10 MB" rather than "10 MiB": what people read on a form.
fn human_size(bytes: u64) -> String {
    human_bytes(bytes).replace("MiB", "MB").replace("KiB", "KB")
}
