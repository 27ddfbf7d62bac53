//! The GraphQL multipart request spec (what apollo-upload-client and Python `gql` send), parsed
//! strictly: every part accounted for, sizes enforced while the body streams in, files spooled
//! (in memory while small, else to anonymous temporary files), and each mistake named.

use std::collections::HashMap;

use async_graphql::{BatchRequest, Request, UploadValue, parser::types::BaseType};
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
    // The spec's order: `operations`, then `map`, then the files. Both are checked before any
    // file is read, so a request that could not be honoured spools nothing.
    let mut request = match multipart.next_field().await.map_err(from_multer)? {
        Some(field) if field.name() == Some("operations") => {
            let operations = field.bytes().await.map_err(from_multer)?;
            async_graphql::http::receive_batch_json(&operations[..])
                .await
                .map_err(|e| malformed(&format!("the 'operations' part is not a GraphQL request in JSON: {e}")))?
        }
        _ => return Err(malformed("the first part must be 'operations'")),
    };
    let mut map = match multipart.next_field().await.map_err(from_multer)? {
        Some(field) if field.name() == Some("map") => file_paths(&field.bytes().await.map_err(from_multer)?, &request)?,
        _ => return Err(malformed("the second part must be 'map'")),
    };
    if map.len() > limits.max_files {
        return Err(malformed(&format!("one file per request; 'map' lists {}", map.len())));
    }
    while let Some(mut field) = multipart.next_field().await.map_err(from_multer)? {
        let name = field.name().unwrap_or_default().to_owned();
        let path = map.remove(&name).ok_or_else(|| {
            malformed(&format!("the part '{name}' is not a file listed in 'map' (or is listed twice)"))
        })?;
        let filename = field.file_name().unwrap_or_default().to_owned();
        let content_type = field.content_type().map(|m| m.to_string());
        let mut spool = Spool::new().map_err(|e| malformed(&format!("cannot spool the upload: {e}")))?;
        while let Some(chunk) = field.chunk().await.map_err(from_multer)? {
            spool.write(&chunk).map_err(|e| malformed(&format!("cannot spool the upload: {e}")))?;
        }
        let upload = UploadValue { filename, content_type, content: spool.into_file() };
        let (target, var_path) = operation_at(&mut request, &path).expect("checked with the map");
        target.set_upload(var_path, upload);
    }
    if let Some(name) = map.keys().next() {
        return Err(malformed(&format!("'map' lists a file part '{name}' that was not sent")));
    }
    Ok(request)
}

/// The `map` part, checked: each file goes to exactly one place, and that place is a variable
/// the operation declares as an `Upload` (or a list of them). Returns the path of each file.
fn file_paths(raw: &[u8], request: &BatchRequest) -> Result<HashMap<String, String>, MultipartError> {
    let map: HashMap<String, Vec<String>> = serde_json::from_slice(raw)
        .map_err(|_| malformed("the 'map' part must be a JSON object of part names to lists of variable paths"))?;
    let mut taken = std::collections::HashSet::new();
    let mut files = HashMap::with_capacity(map.len());
    for (name, paths) in map {
        let [path] = <[String; 1]>::try_from(paths)
            .map_err(|_| malformed(&format!("'map' must name exactly one variable path for the file '{name}'")))?;
        if !taken.insert(path.clone()) {
            return Err(malformed(&format!("'map' names the path '{path}' for more than one file")));
        }
        check_upload_path(request, &path)?;
        files.insert(name, path);
    }
    Ok(files)
}

/// The operation a path points into (`variables.x`, or in a batch `0.variables.x`) and the rest
/// of the path.
fn operation_at<'a, 'p>(request: &'a mut BatchRequest, path: &'p str) -> Option<(&'a mut Request, &'p str)> {
    match request {
        BatchRequest::Single(r) => Some((r, path)),
        BatchRequest::Batch(rs) => {
            let (index, rest) = path.split_once('.')?;
            Some((rs.get_mut(index.parse::<usize>().ok()?)?, rest))
        }
    }
}

fn check_upload_path(request: &BatchRequest, path: &str) -> Result<(), MultipartError> {
    let not_upload = || {
        malformed(&format!("'map' path '{path}' is not a variable of type Upload in the operation (set it to null)"))
    };
    let (operation, rest) = match request {
        BatchRequest::Single(r) => (Some(r), path),
        BatchRequest::Batch(rs) => {
            let (index, rest) = path.split_once('.').unwrap_or((path, ""));
            (index.parse::<usize>().ok().and_then(|i| rs.get(i)), rest)
        }
    };
    let operation = operation.ok_or_else(|| malformed(&format!("'map' path '{path}' names no operation")))?;
    let mut segments = rest.split('.');
    let (Some("variables"), Some(variable)) = (segments.next(), segments.next()) else {
        return Err(not_upload());
    };
    let index = segments.next();
    if segments.next().is_some() || index.is_some_and(|i| i.parse::<usize>().is_err()) {
        return Err(not_upload());
    }
    let document = async_graphql::parser::parse_query(&operation.query)
        .map_err(|e| malformed(&format!("the operation cannot be parsed: {e}")))?;
    let declared = document
        .operations
        .iter()
        .flat_map(|(_, op)| op.node.variable_definitions.iter())
        .find_map(|d| (d.node.name.node.as_str() == variable).then(|| d.node.var_type.node.clone()));
    let is_upload = declared.is_some_and(|ty| match (&ty.base, index) {
        (BaseType::Named(name), None) => name.as_str() == "Upload",
        (BaseType::List(inner), Some(_)) => matches!(&inner.base, BaseType::Named(name) if name.as_str() == "Upload"),
        _ => false,
    });
    if is_upload { Ok(()) } else { Err(not_upload()) }
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
