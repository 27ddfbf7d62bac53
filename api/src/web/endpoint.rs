//! GraphQL over HTTP, as the GraphQL-over-HTTP specification says: `POST /graphql` (JSON, or
//! multipart uploads) and `GET /graphql?query=…` (queries only), answered as
//! `application/graphql-response+json` or `application/json` by the client's `Accept`
//! (`negotiate.rs`), with automatic persisted queries (`persisted.rs`). A browser's
//! `GET /graphql` gets GraphiQL, and an upgrade request the WebSocket (`live.rs`).
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

use async_graphql::{BatchRequest, BatchResponse, Value, Variables, parser::types::OperationType};
use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;

use super::{
    HttpState, answers,
    multipart::{self, MultipartError, MultipartLimits},
    negotiate::{self, Format},
    persisted::{Persisted, PersistedError},
};
use crate::{
    accounts::{password::PasswordBudget, session::Session},
    error::{AppError, ErrorCode},
    web::client_ip,
    web::graphql::{
        ClientIp, UserAgent,
        request_shape::{self, ShapeError},
    },
};

/// Room for the `operations` and `map` parts and multipart framing around the file.
const MULTIPART_OVERHEAD: u64 = 1024 * 1024;
const MAX_JSON_BODY: u64 = 1024 * 1024;

/// How the request came: GET may only read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// `GET /graphql`: the WebSocket, GraphiQL for a browser, or a query.
pub async fn get(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let headers = request.headers();
    if headers.contains_key(header::UPGRADE) {
        let client = client_ip::resolve(peer.ip(), headers, &state.app.settings.trusted_proxies);
        return super::socket::upgrade(state, client, request).await;
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let query = request.uri().query().unwrap_or_default();
    let asks = query_string(query);
    let asks_something = asks.iter().any(|(k, _)| k == "query" || k == "extensions");
    // A browser (a person, or a link from a mail) gets GraphiQL, which runs the query itself.
    if negotiate::wants_html(accept) || (!asks_something && !negotiate::names_graphql_type(accept)) {
        return super::graphiql::page().await.into_response();
    }
    let Some(format) = Format::negotiate(accept) else {
        return not_acceptable();
    };
    let request = match get_request(asks) {
        Ok(request) => request,
        Err(message) => return bad_request(format, &message),
    };
    run(&state, peer, headers, BatchRequest::Single(request), format, Method::Get).await
}

/// `POST /graphql`: JSON, or a multipart upload.
pub async fn post(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let Some(format) = Format::negotiate(accept) else {
        return not_acceptable();
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let essence = content_type
        .as_deref()
        .map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default();
    let multipart = essence.starts_with("multipart/");
    if !multipart && essence != "application/json" && essence != "application/graphql" {
        return error_body(
            format,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadRequest,
            "send the request as Content-Type: application/json (or multipart/form-data for uploads)",
            None,
        );
    }
    let max_file = state.app.settings.max_upload_bytes;
    let body_limit = if multipart { max_file + MULTIPART_OVERHEAD } else { MAX_JSON_BODY };

    // Refuse an announced oversize body before reading any of it.
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > body_limit) {
        return too_large(format, multipart, max_file);
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
    let request = match boundary {
        Some(Ok(boundary)) => {
            let limits = MultipartLimits { max_file_bytes: max_file, max_files: 1 };
            match multipart::receive(stream, &boundary, &limits).await {
                Ok(request) => request,
                Err(MultipartError::FileTooLarge) => return too_large(format, multipart, max_file),
                Err(_) if exceeded.load(Ordering::Relaxed) => return too_large(format, multipart, max_file),
                Err(MultipartError::Malformed(message)) => return bad_request(format, &message),
            }
        }
        Some(Err(_)) => return bad_request(format, "the multipart Content-Type has no valid boundary"),
        None => {
            match async_graphql::http::receive_batch_body(content_type, stream.into_async_read(), Default::default())
                .await
            {
                Ok(request) => request,
                Err(_) if exceeded.load(Ordering::Relaxed) => return too_large(format, multipart, max_file),
                Err(e) => return bad_request(format, &format!("the body is not a GraphQL request: {e}")),
            }
        }
    };
    run(&state, peer, &headers, request, format, Method::Post).await
}

/// Everything after parsing, for GET and POST alike: persisted queries, shape checks, the
/// caller, kept answers, execution, and the answer in the negotiated format.
async fn run(
    state: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    mut request: BatchRequest,
    format: Format,
    method: Method,
) -> Response {
    let mut to_keep = Vec::new();
    for single in request.iter_mut() {
        match state.persisted.resolve(single) {
            Ok(Persisted::ToKeep(hash)) => to_keep.push((hash, single.query.clone())),
            Ok(Persisted::None | Persisted::Found) => {}
            Err(PersistedError::NotFound) => return persisted_query_not_found(format),
            Err(PersistedError::Invalid(message)) => return bad_request(format, &message),
        }
        if single.query.trim().is_empty() {
            return bad_request(format, "the request has no query: send {\"query\": \"{ … }\"}");
        }
    }
    match request_shape::check(&request) {
        Ok(()) => {}
        Err(ShapeError::Request(message)) => return bad_request(format, &message),
        Err(ShapeError::Operation(message)) => {
            return error_body(
                format,
                request_error_status(format),
                ErrorCode::GraphqlValidationFailed,
                &message,
                None,
            );
        }
    }
    for (hash, query) in to_keep {
        state.persisted.keep(hash, &query);
    }
    state.parses.fill(&mut request);
    for single in request.iter_mut() {
        if let Err(missing) = request_shape::check_variables(single) {
            let status = request_error_status(format);
            return error_body(format, status, ErrorCode::BadUserInput, &missing.message, Some(&missing.name));
        }
    }
    if method == Method::Get
        && let BatchRequest::Single(single) = &mut request
        && answers::operation_type(single).is_some_and(|ty| ty != OperationType::Query)
    {
        let mut response = error_body(
            format,
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadRequest,
            "only queries may be sent with GET; send mutations and subscriptions with POST",
            None,
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let client = client_ip::resolve(peer.ip(), headers, &state.app.settings.trusted_proxies);

    // `X-API-Key: ik_…` is the other way to send a key.
    let api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(|key| format!("Bearer {}", key.trim()));
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).or(api_key.as_deref());
    let read = state.app.freshness.now();
    let session = match Session::resolve(authorization, &state.app.accounts).await {
        Ok(session) => session,
        Err(e) => {
            return error_body(format, StatusCode::INTERNAL_SERVER_ERROR, e.code(), &e.public_message(), None);
        }
    };
    let signed_in = matches!(session, Session::User(_));
    let finish = |response: Response| with_cache_policy(response, method, signed_in);
    // Looked up by the text alone: an answer was kept only if that text was a query.
    let key = state.answers.key(&request, &session);
    if let Some(key) = &key
        && let Some(body) = state.answers.get(key, read)
    {
        return finish(answer(format, StatusCode::OK, body));
    }
    let changes_data = answers::may_change_data(&mut request);
    let key = key.filter(|_| !changes_data);
    // One budget for the whole batch: one password check per HTTP request.
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request = request.data(session).data(ClientIp(client)).data(UserAgent(agent)).data(PasswordBudget::default());
    let mut response = state.schema.execute_batch(request).await;
    if changes_data {
        // After the change committed: answers read before it are out of date.
        state.app.announcer.data_changed();
    }
    if let Some(key) = key
        && let Some(body) = state.answers.keep(key, &response, read)
    {
        return finish(answer(format, StatusCode::OK, body));
    }
    add_missing_codes(match &mut response {
        BatchResponse::Single(r) => std::slice::from_mut(r),
        BatchResponse::Batch(rs) => rs.as_mut_slice(),
    });
    finish(graphql_answer(format, response))
}

/// The query string's pairs, decoded.
fn query_string(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// A GET request's `query`, `operationName`, and JSON-encoded `variables` and `extensions`.
fn get_request(pairs: Vec<(String, String)>) -> Result<async_graphql::Request, String> {
    let mut request = async_graphql::Request::new("");
    for (key, value) in pairs {
        match key.as_str() {
            "query" => request.query = value,
            "operationName" if !value.is_empty() => request.operation_name = Some(value),
            "variables" if !value.is_empty() => {
                let variables: serde_json::Value =
                    serde_json::from_str(&value).map_err(|e| format!("the variables parameter is not JSON: {e}"))?;
                if !variables.is_object() && !variables.is_null() {
                    return Err("the variables parameter must be a JSON object".into());
                }
                request.variables = Variables::from_json(variables);
            }
            "extensions" if !value.is_empty() => {
                request.extensions =
                    serde_json::from_str(&value).map_err(|e| format!("the extensions parameter is not JSON: {e}"))?;
            }
            _ => {}
        }
    }
    if request.query.is_empty() && !request.extensions.contains_key("persistedQuery") {
        return Err("the query parameter is missing: GET /graphql?query={…}".into());
    }
    Ok(request)
}

/// GET answers are personal when signed in and never worth keeping when not: no cache may
/// store them. The format follows `Accept`, so caches must tell answers apart by it.
fn with_cache_policy(mut response: Response, method: Method, signed_in: bool) -> Response {
    if method == Method::Get {
        let policy = if signed_in { "private, no-store" } else { "no-store" };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        headers.insert(header::VARY, HeaderValue::from_static("Accept, Authorization"));
    }
    response
}

/// A serialised answer as `format` presents it.
fn answer(format: Format, status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()))], body).into_response()
}

/// An executed request's answer. With `application/graphql-response+json`, a request that
/// failed before execution (syntax, validation, variables) is a 400 without `data`.
fn graphql_answer(format: Format, response: BatchResponse) -> Response {
    let retry_after = retry_after(&response);
    let failed_before_execution = |r: &async_graphql::Response| {
        r.data == Value::Null && !r.errors.is_empty() && r.errors.iter().all(|e| e.path.is_empty())
    };
    let serialize = |r: &async_graphql::Response| {
        let mut value = serde_json::to_value(r).unwrap_or_else(|_| json!({}));
        if format == Format::GraphQLResponse
            && failed_before_execution(r)
            && let Some(object) = value.as_object_mut()
        {
            object.remove("data");
        }
        value
    };
    let (status, body) = match &response {
        BatchResponse::Single(r) => {
            let status = if failed_before_execution(r) {
                request_error_status(format)
            } else if unavailable(r) {
                // Transports with a status of their own say it too: proxies and clients
                // that know nothing of GraphQL know to retry a 503 after `Retry-After`.
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            (status, serialize(r))
        }
        BatchResponse::Batch(rs) => (StatusCode::OK, serde_json::Value::Array(rs.iter().map(serialize).collect())),
    };
    let mut http = answer(format, status, Bytes::from(body.to_string()));
    for (name, value) in response.http_headers_iter() {
        http.headers_mut().append(name, value);
    }
    if let Some(seconds) = retry_after {
        http.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    http
}

/// The status of a request that fails before execution: the spec's 400 where the client
/// understands `application/graphql-response+json`, 200 for legacy `application/json` clients.
fn request_error_status(format: Format) -> StatusCode {
    match format {
        Format::GraphQLResponse => StatusCode::BAD_REQUEST,
        Format::Json => StatusCode::OK,
    }
}

/// True when part of the answer failed because a backing service could not be reached.
fn unavailable(response: &async_graphql::Response) -> bool {
    response.errors.iter().any(|e| {
        e.extensions.as_ref().and_then(|ext| ext.get("code"))
            == Some(&Value::String(ErrorCode::ServiceUnavailable.as_str().into()))
    })
}

/// The longest wait any RATE_LIMITED or SERVICE_UNAVAILABLE error in the response asks for.
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
            ext.set("code", ErrorCode::BadUserInput.as_str());
            ext.set("field", Value::String(field));
        } else if error.path.is_empty() {
            let code = if error.message.contains(" --> ") {
                ErrorCode::GraphqlParseFailed
            } else {
                ErrorCode::GraphqlValidationFailed
            };
            ext.set("code", code.as_str());
        } else {
            ext.set("code", ErrorCode::Internal.as_str());
        }
    }
}

/// Apollo Client's persisted-query link retries with the text on this code (or this message).
fn persisted_query_not_found(format: Format) -> Response {
    error_body(format, request_error_status(format), ErrorCode::PersistedQueryNotFound, "PersistedQueryNotFound", None)
}

fn not_acceptable() -> Response {
    let message =
        "this endpoint answers application/graphql-response+json or application/json; the Accept header allows neither";
    error_body(Format::Json, StatusCode::NOT_ACCEPTABLE, ErrorCode::BadRequest, message, None)
}

fn too_large(format: Format, multipart: bool, max_file: u64) -> Response {
    if multipart {
        let e = AppError::FileTooLarge { limit_bytes: max_file };
        error_body(format, StatusCode::PAYLOAD_TOO_LARGE, e.code(), &e.to_string(), e.field())
    } else {
        let message = format!("the request body is larger than {}", crate::error::human_bytes(MAX_JSON_BODY));
        error_body(format, StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BadRequest, &message, None)
    }
}

fn bad_request(format: Format, message: &str) -> Response {
    error_body(format, StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message, None)
}

fn error_body(format: Format, status: StatusCode, code: ErrorCode, message: &str, field: Option<&str>) -> Response {
    let mut extensions = json!({ "code": code.as_str() });
    if let Some(field) = field {
        extensions["field"] = json!(field);
    }
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    let mut response = answer(format, status, Bytes::from(body.to_string()));
    // A request that was not read to the end leaves the connection in an unknown state.
    let close = if status == StatusCode::PAYLOAD_TOO_LARGE { "close" } else { "keep-alive" };
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static(close));
    response
}
