//! The GraphQL multipart request spec (what apollo-upload-client and Python `gql` send), parsed
//! strictly: every part accounted for, sizes enforced while the body streams in, files spooled
//! (in memory while small, else to anonymous temporary files), and each mistake named.

use std::collections::HashMap;

use async_graphql::{BatchRequest, UploadValue};
use bytes::Bytes;
use futures_util::Stream;
use multer::{Constraints, Multipart, SizeLimit};

use super::spool::Spool;

/// The `operations` and `map` parts are small JSON documents.
const MAX_OPERATIONS_BYTES: u64 = 1024 * 1024;
const MAX_MAP_BYTES: u64 = 64 * 1024;
const SPEC: &str = "see https://github.com/jaydenseric/graphql-multipart-request-spec";

#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error("the file is larger than allowed")]
    FileTooLarge,
    #[error("{0}")]
    Malformed(String),
}

pub struct MultipartLimits {
    pub max_file_bytes: u64,
    pub max_files: usize,
}

pub async fn receive<S>(body: S, boundary: &str, limits: &MultipartLimits) -> Result<BatchRequest, MultipartError>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let sizes = SizeLimit::new()
        .per_field(limits.max_file_bytes)
        .for_field("operations", MAX_OPERATIONS_BYTES)
        .for_field("map", MAX_MAP_BYTES);
    let mut multipart = Multipart::with_constraints(body, boundary, Constraints::new().size_limit(sizes));
    let (mut operations, mut map, mut files) = (None, None, Vec::new());
    while let Some(mut field) = multipart.next_field().await.map_err(from_multer)? {
        let name = field.name().map(str::to_owned).ok_or_else(|| malformed("a part has no name"))?;
        match name.as_str() {
            "operations" => operations = Some(field.bytes().await.map_err(from_multer)?),
            "map" => map = Some(field.bytes().await.map_err(from_multer)?),
            _ => {
                if files.len() >= limits.max_files {
                    return Err(malformed(&format!("one file per request; part '{name}' is one too many")));
                }
                let filename = field.file_name().unwrap_or_default().to_owned();
                let content_type = field.content_type().map(|m| m.to_string());
                let mut spool = Spool::new().map_err(|e| malformed(&format!("cannot spool the upload: {e}")))?;
                while let Some(chunk) = field.chunk().await.map_err(from_multer)? {
                    spool.write(&chunk).map_err(|e| malformed(&format!("cannot spool the upload: {e}")))?;
                }
                files.push((name, UploadValue { filename, content_type, content: spool.into_file() }));
            }
        }
    }
    let operations = operations.ok_or_else(|| malformed("the request has no 'operations' part"))?;
    let mut request = async_graphql::http::receive_batch_json(&operations[..])
        .await
        .map_err(|e| malformed(&format!("the 'operations' part is not a GraphQL request in JSON: {e}")))?;
    let map = map.ok_or_else(|| malformed("the request has no 'map' part"))?;
    let mut map: HashMap<String, Vec<String>> = serde_json::from_slice(&map)
        .map_err(|_| malformed("the 'map' part must be a JSON object of part names to lists of variable paths"))?;
    for (name, upload) in files {
        let paths =
            map.remove(&name).ok_or_else(|| malformed(&format!("the file part '{name}' is not listed in 'map'")))?;
        for path in paths {
            attach(&mut request, &path, &upload)?;
        }
    }
    if let Some(name) = map.keys().next() {
        return Err(malformed(&format!("'map' lists a file part '{name}' that was not sent")));
    }
    Ok(request)
}

/// Puts the upload at `path` (`variables.x` or, in a batch, `0.variables.x`), refusing paths
/// that name no variable rather than dropping the file.
fn attach(request: &mut BatchRequest, path: &str, upload: &UploadValue) -> Result<(), MultipartError> {
    let copy = upload.try_clone().map_err(|e| malformed(&format!("cannot read the spooled upload: {e}")))?;
    let (target, var_path) = match request {
        BatchRequest::Single(r) => (Some(r), path),
        BatchRequest::Batch(rs) => {
            let (index, rest) = path.split_once('.').unwrap_or((path, ""));
            (index.parse::<usize>().ok().and_then(|i| rs.get_mut(i)), rest)
        }
    };
    let target = target.ok_or_else(|| malformed(&format!("'map' path '{path}' names no operation")))?;
    let before = target.uploads.len();
    target.set_upload(var_path, copy);
    if target.uploads.len() == before {
        return Err(malformed(&format!("'map' path '{path}' names no variable of the operation (set it to null)")));
    }
    Ok(())
}

fn malformed(message: &str) -> MultipartError {
    MultipartError::Malformed(format!("{message}; {SPEC}"))
}

fn from_multer(e: multer::Error) -> MultipartError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. }
            if !matches!(field_name.as_deref(), Some("operations" | "map")) =>
        {
            MultipartError::FileTooLarge
        }
        multer::Error::FieldSizeExceeded { field_name, limit } => {
            malformed(&format!("the '{}' part is larger than {limit} bytes", field_name.unwrap_or_default()))
        }
        other => MultipartError::Malformed(format!("malformed multipart body: {other}")),
    }
}
