//! `POST /graphql` (JSON and multipart uploads) and `GET /graphql` (GraphiQL).
//!
//! The request is parsed here rather than by async-graphql-axum's extractor, which ignores
//! multipart limits: an oversized upload must be stopped while it streams in, and a request
//! with more files than allowed refused (see `multipart.rs`).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use async_graphql::{BatchResponse, Value};
use async_graphql_axum::GraphQLResponse;
use axum::{
    Json,
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;

use super::{
    HttpState, answers,
    multipart::{self, MultipartError, MultipartLimits},
};
use crate::{
    auth::{PasswordBudget, Session},
    client_ip,
    error::AppError,
    graphql::{
        ClientIp,
        request_shape::{self, ShapeError},
    },
};

/// Room for the `operations` and `map` parts and multipart framing around the file.
const MULTIPART_OVERHEAD: u64 = 1024 * 1024;
const MAX_JSON_BODY: u64 = 1024 * 1024;

/// GraphiQL, or the GraphQL WebSocket when the request asks for an upgrade.
pub async fn graphiql_or_subscriptions(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    if request.headers().contains_key(header::UPGRADE) {
        let client = client_ip::resolve(peer.ip(), request.headers(), &state.app.config.trusted_proxies);
        return super::live::upgrade(state, client, request).await;
    }
    super::graphiql::page().await.into_response()
}

pub async fn execute(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let multipart =
        content_type.as_deref().is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("multipart/"));
    let max_file = state.app.config.max_upload_bytes;
    let body_limit = if multipart { max_file + MULTIPART_OVERHEAD } else { MAX_JSON_BODY };

    // Refuse an announced oversize body before reading any of it.
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > body_limit) {
        return too_large(multipart, max_file);
    }

    let exceeded = Arc::new(AtomicBool::new(false));
    let read = Arc::new(AtomicU64::new(0));
    let flag = exceeded.clone();
    let stream = body.into_data_stream().map_err(std::io::Error::other).map(move |chunk| {
        let chunk = chunk?;
        if read.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64 > body_limit {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request body too large"));
        }
        Ok(chunk)
    });
    let boundary = content_type.as_deref().filter(|_| multipart).map(multer::parse_boundary);
    let mut request = match boundary {
        Some(Ok(boundary)) => {
            let limits = MultipartLimits { max_file_bytes: max_file, max_files: 1 };
            match multipart::receive(stream, &boundary, &limits).await {
                Ok(request) => request,
                Err(MultipartError::FileTooLarge) => return too_large(multipart, max_file),
                Err(_) if exceeded.load(Ordering::Relaxed) => return too_large(multipart, max_file),
                Err(MultipartError::Malformed(message)) => return bad_request(&message),
            }
        }
        Some(Err(_)) => return bad_request("the multipart Content-Type has no valid boundary"),
        None => {
            match async_graphql::http::receive_batch_body(content_type, stream.into_async_read(), Default::default())
                .await
            {
                Ok(request) => request,
                Err(_) if exceeded.load(Ordering::Relaxed) => return too_large(multipart, max_file),
                Err(e) => return bad_request(&format!("the body is not a GraphQL request: {e}")),
            }
        }
    };

    match request_shape::check(&request) {
        Ok(()) => {}
        Err(ShapeError::Request(message)) => return bad_request(&message),
        Err(ShapeError::Operation(message)) => {
            return error_body(StatusCode::BAD_REQUEST, "GRAPHQL_VALIDATION_FAILED", &message, None);
        }
    }
    let client = client_ip::resolve(peer.ip(), &headers, &state.app.config.trusted_proxies);

    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let read = state.app.freshness.now();
    let session = match Session::resolve(authorization, &state.app, read).await {
        Ok(session) => session,
        Err(e) => {
            return error_body(StatusCode::INTERNAL_SERVER_ERROR, e.code(), &e.public_message(), None);
        }
    };
    // Looked up by the text alone: an answer was kept only if that text was a query.
    let key = state.answers.key(&request, &session);
    if let Some(key) = &key
        && let Some(answer) = state.answers.get(key, read)
    {
        return answer;
    }
    state.parses.fill(&mut request);
    let changes_data = answers::may_change_data(&mut request);
    let key = key.filter(|_| !changes_data);
    // One budget for the whole batch: one password check per HTTP request.
    let request = request.data(session).data(ClientIp(client)).data(PasswordBudget::default());
    let mut response = state.schema.execute_batch(request).await;
    if changes_data {
        // After the change committed: answers read before it are out of date.
        state.app.freshness.changed();
    }
    if let Some(key) = key
        && let Some(answer) = state.answers.keep(key, &response, read)
    {
        return answer;
    }
    add_missing_codes(match &mut response {
        BatchResponse::Single(r) => std::slice::from_mut(r),
        BatchResponse::Batch(rs) => rs.as_mut_slice(),
    });
    let retry_after = retry_after(&response);
    let mut http = GraphQLResponse::from(response).into_response();
    if let Some(seconds) = retry_after {
        http.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    http
}

/// The longest wait any RATE_LIMITED error in the response asks for.
fn retry_after(response: &BatchResponse) -> Option<u64> {
    let responses = match response {
        BatchResponse::Single(r) => std::slice::from_ref(r),
        BatchResponse::Batch(rs) => rs.as_slice(),
    };
    responses
        .iter()
        .flat_map(|r| r.errors.iter())
        .filter_map(|e| e.extensions.as_ref()?.get("retryAfter"))
        .filter_map(|v| match v {
            Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .max()
}

/// Errors raised before resolvers run (syntax, validation, variable coercion) carry no code of
/// their own; give them one so that every error a client sees has `extensions.code`.
pub(super) fn add_missing_codes(responses: &mut [async_graphql::Response]) {
    for error in responses.iter_mut().flat_map(|r| r.errors.iter_mut()) {
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_some() {
            continue;
        }
        if let Some(rest) = error.message.strip_prefix("Invalid value for argument \"") {
            let path = rest.split('"').next().unwrap_or_default();
            let field = path.rsplit('.').next().unwrap_or(path).to_owned();
            ext.set("code", "BAD_USER_INPUT");
            ext.set("field", Value::String(field));
        } else if error.path.is_empty() {
            ext.set(
                "code",
                if error.message.contains(" --> ") { "GRAPHQL_PARSE_FAILED" } else { "GRAPHQL_VALIDATION_FAILED" },
            );
        } else {
            ext.set("code", "INTERNAL");
        }
    }
}

fn too_large(multipart: bool, max_file: u64) -> Response {
    if multipart {
        let e = AppError::FileTooLarge { limit_bytes: max_file };
        error_body(StatusCode::PAYLOAD_TOO_LARGE, e.code(), &e.to_string(), e.field())
    } else {
        let message = format!("the request body is larger than {}", crate::error::human_bytes(MAX_JSON_BODY));
        error_body(StatusCode::PAYLOAD_TOO_LARGE, "BAD_REQUEST", &message, None)
    }
}

fn bad_request(message: &str) -> Response {
    error_body(StatusCode::BAD_REQUEST, "BAD_REQUEST", message, None)
}

fn error_body(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    let mut extensions = json!({ "code": code });
    if let Some(field) = field {
        extensions["field"] = json!(field);
    }
    // A request that was not read to the end leaves the connection in an unknown state.
    let close = if status == StatusCode::PAYLOAD_TOO_LARGE { "close" } else { "keep-alive" };
    (
        status,
        [(header::CONNECTION, close)],
        Json(json!({ "errors": [{ "message": message, "extensions": extensions }] })),
    )
        .into_response()
}
