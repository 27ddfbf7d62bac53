//! Downloads through signed links: résumés, and admins' exports of a lead. Each link names the
//! user (or webhook endpoint) it was issued to; the download is theirs only while their account
//! and role (or the endpoint) stay active.

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use uuid::Uuid;

use super::HttpState;
use crate::{
    accounts::session::Session,
    error::AppError,
    infra::clock,
    leads::privacy::{
        access::{self, Downloader},
        export,
    },
    leads::resume::content_disposition,
};

#[derive(Deserialize)]
pub struct LinkParams {
    user: Option<Uuid>,
    expires: Option<i64>,
    sig: Option<String>,
}

/// The holder of a valid link to `path`, as a session whose role the caller checks.
async fn holder(state: &HttpState, path: &str, params: LinkParams) -> Result<Session, Response> {
    let (Some(user), Some(expires), Some(sig)) = (params.user, params.expires, params.sig) else {
        return Err(refuse(StatusCode::FORBIDDEN, "this download link is not valid"));
    };
    if let Err(e) = state.app.links.verify(path, user, expires, &sig, clock::now()) {
        return Err(refuse(StatusCode::FORBIDDEN, &e.to_string()));
    }
    Session::link_holder(&state.app.accounts, user).await.map_err(failed)
}

pub async fn download(
    State(state): State<HttpState>,
    Path(key): Path<String>,
    Query(params): Query<LinkParams>,
) -> Response {
    let user = params.user;
    let session = match holder(&state, &access::resume_path(&key), params).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let leads = &state.app.leads;
    let opened = match session.staff() {
        Ok(staff) => access::open_resume(leads, &key, Downloader::Staff(staff)).await,
        // Not a user's link: perhaps one a webhook delivery carried, or an API key read.
        Err(refused) => match access::integration_holder(leads, user.unwrap_or_default()).await {
            Ok(Some(holder)) => access::open_resume(leads, &key, holder).await,
            Ok(None) => Err(refused),
            Err(e) => Err(e),
        },
    };
    let (file, object) = match opened {
        Ok(opened) => opened,
        Err(e) => return failed(e),
    };
    let mut response = Body::from_stream(object.stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, object.size.into());
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    attachment(headers, &file.file_name);
    response
}

pub async fn export(
    State(state): State<HttpState>,
    Path(id): Path<Uuid>,
    Query(params): Query<LinkParams>,
) -> Response {
    let session = match holder(&state, &export::export_path(id), params).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let archived = match session.admin() {
        Ok(admin) => export::archive(&state.app.leads, id, admin).await,
        Err(e) => Err(e),
    };
    let (name, zip) = match archived {
        Ok(archived) => archived,
        Err(e) => return failed(e),
    };
    let mut response = Body::from(zip).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    attachment(headers, &name);
    response
}

fn attachment(headers: &mut axum::http::HeaderMap, name: &str) {
    if let Ok(v) = HeaderValue::from_str(&content_disposition(name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
}

/// A refusal a browser shows as it is: the link's user may no longer download (403), the file
/// is gone (404: erased or never there), or our side failed (500, logged).
fn failed(e: AppError) -> Response {
    match e {
        AppError::Unauthenticated(_) => {
            refuse(StatusCode::FORBIDDEN, "the account this link was issued to can no longer download")
        }
        AppError::Forbidden(message) => refuse(StatusCode::FORBIDDEN, &message),
        AppError::NotFound(_) => refuse(StatusCode::NOT_FOUND, "this file no longer exists"),
        other => refuse(StatusCode::INTERNAL_SERVER_ERROR, &other.public_message()),
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], format!("{message}\n")).into_response()
}
