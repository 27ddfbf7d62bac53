//! Résumé downloads through signed links.

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::HttpState;
use crate::{infra::clock, leads::resume::content_disposition, leads::submission};

#[derive(Deserialize)]
pub struct LinkParams {
    expires: Option<i64>,
    sig: Option<String>,
}

pub async fn download(
    State(state): State<HttpState>,
    Path(key): Path<String>,
    Query(params): Query<LinkParams>,
) -> Response {
    let (Some(expires), Some(sig)) = (params.expires, params.sig) else {
        return refuse(StatusCode::FORBIDDEN, "this download link is not valid");
    };
    if let Err(e) = state.app.links.verify(&key, expires, &sig, clock::now()) {
        return refuse(StatusCode::FORBIDDEN, &e.to_string());
    }
    let file = match submission::find_resume(&state.app.db, &key).await {
        Ok(Some(file)) => file,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "this file no longer exists"),
        Err(e) => {
            tracing::error!(error = ?e, "looking up a résumé");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error; it has been logged");
        }
    };
    let object = match state.app.storage.get(&key).await {
        Ok(object) => object,
        Err(e) => {
            tracing::error!(error = ?e, key, "reading a résumé from storage");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, "the file cannot be read right now");
        }
    };
    let mut response = Body::from_stream(object.stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, object.size.into());
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&file.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], format!("{message}\n")).into_response()
}
