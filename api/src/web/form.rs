//! The firm's public intake form at `GET /` and `/form`: one HTML page, its script and its
//! styles, all served from here (compiled in), so it works without any CDN or build step.
//! `INTAKE_FORM=off` leaves these routes out for firms that embed their own form.

use axum::{
    Router,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
};
use minijinja::{Environment, context};

use super::HttpState;
use super::settings::WebSettings;
use crate::error::human_bytes;

/// Scripts and styles from this origin only; the page posts to `/graphql` on this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page depends on configuration only, so it is rendered once, when the routes are built:
/// a campaign's traffic on the form costs no templating.
pub fn routes(config: &WebSettings) -> Router<HttpState> {
    let html = render(config);
    let page = move || {
        let html = html.clone();
        async move { ([(header::CONTENT_SECURITY_POLICY, CSP), (header::CACHE_CONTROL, "no-cache")], Html(html)) }
    };
    Router::new()
        .route("/", get(page.clone()))
        .route("/form", get(page))
        .route("/form.js", get(script))
        .route("/form.css", get(styles))
}

fn render(config: &WebSettings) -> String {
    let mut env = Environment::new();
    // `.html`: every value is escaped (the firm's name comes from configuration).
    env.add_template("form.html", include_str!("../../templates/form/form.html")).expect("the form template parses");
    let context = context! {
        firm_name => config.firm_name,
        consent_text => config.consent_text,
        max_bytes => config.max_upload_bytes,
        max_size => human_size(config.max_upload_bytes),
    };
    env.get_template("form.html").and_then(|t| t.render(context)).expect("the form renders from any configuration")
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
