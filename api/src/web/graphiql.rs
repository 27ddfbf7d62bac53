//! GraphiQL at `GET /graphql`, with its scripts and styles served from `/graphiql/` (vendored
//! in `api/static/graphiql/`, compiled in), so it works offline and under a strict policy.

use axum::{
    Router,
    extract::Path,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};

/// Everything from this origin. React sets style attributes, hence 'unsafe-inline' for styles
/// (not for scripts); GraphiQL's fonts are data: URLs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
    font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub async fn page() -> impl IntoResponse {
    ([(header::CONTENT_SECURITY_POLICY, CSP)], Html(include_str!("graphiql.html")))
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/graphiql/{file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Response {
    macro_rules! vendored {
        ($name:literal) => {
            include_str!(concat!("../../static/graphiql/", $name))
        };
    }
    let (content_type, body) = match file.as_str() {
        "graphiql.min.js" => ("text/javascript", vendored!("graphiql.min.js")),
        "graphiql.min.css" => ("text/css", vendored!("graphiql.min.css")),
        "react.production.min.js" => ("text/javascript", vendored!("react.production.min.js")),
        "react-dom.production.min.js" => ("text/javascript", vendored!("react-dom.production.min.js")),
        "graphql-ws.min.js" => ("text/javascript", vendored!("graphql-ws.min.js")),
        "init.js" => ("text/javascript", vendored!("init.js")),
        "page.css" => ("text/css", vendored!("page.css")),
        _ => return (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}
