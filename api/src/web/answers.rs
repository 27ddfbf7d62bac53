//! Answers to repeated queries. A dashboard asks for the same page of leads over and over, and
//! computing one costs the whole stack (GraphQL execution, the ORM, the database), which tops
//! out at 2,000–3,000 lists/s on the benchmark machine (BENCHMARKS.md); an unchanged answer is
//! served again from memory instead. Correctness comes from `freshness.rs`: an answer is reused
//! only while this process has made or heard of no change since it was read, and for at most
//! `INTAKE_READ_CACHE_MS`. Answers are kept per account (roles and `me` differ), only for
//! queries without errors.

use std::time::Duration;

use async_graphql::{
    BatchRequest, BatchResponse,
    parser::types::{DocumentOperations, OperationType},
};
use axum::body::Bytes;
use uuid::Uuid;

use crate::{
    accounts::session::Session,
    infra::freshness::{ReadAt, Recent},
};

/// Larger answers are computed each time: one big list must not push out many small ones.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

#[derive(Clone, Hash, PartialEq, Eq)]
pub struct AnswerKey {
    user: Option<Uuid>,
    query: String,
    operation: Option<String>,
    variables: String,
}

impl AnswerKey {
    /// What keeping `body` under this key costs, roughly: the texts and their bookkeeping.
    fn weight(&self, body: &Bytes) -> usize {
        const OVERHEAD: usize = 256;
        self.query.len() + self.variables.len() + self.operation.as_ref().map_or(0, String::len) + body.len() + OVERHEAD
    }
}

pub struct Answers {
    recent: Recent<AnswerKey, Bytes>,
    // Registered once: they are counted on every query.
    hits: metrics::Counter,
    misses: metrics::Counter,
}

impl Answers {
    /// Answers whose bodies and keys add up to at most `max_bytes` are kept.
    pub fn new(max_age: Duration, max_bytes: usize) -> Self {
        Self {
            recent: Recent::weighed(max_age, max_bytes, AnswerKey::weight),
            hits: metrics::counter!("intake_read_cache_total", "outcome" => "hit"),
            misses: metrics::counter!("intake_read_cache_total", "outcome" => "miss"),
        }
    }

    /// The key for a request whose answer may be kept: a single request without files, from
    /// an anonymous caller or an account in good standing. Only queries are kept (the caller
    /// checks, with `may_change_data`, once the request is parsed).
    pub fn key(&self, batch: &BatchRequest, session: &Session) -> Option<AnswerKey> {
        if !self.recent.is_enabled() {
            return None;
        }
        let user = match session {
            Session::Anonymous => None,
            Session::User(user) => Some(user.id),
            // A key's answers are not kept: its revocation must end them at once.
            Session::Rejected | Session::Malformed | Session::ApiKey(_) | Session::RejectedKey => return None,
        };
        let BatchRequest::Single(request) = batch else { return None };
        if !request.uploads.is_empty() {
            return None;
        }
        Some(AnswerKey {
            user,
            query: request.query.clone(),
            operation: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).ok()?,
        })
    }

    /// The kept answer's body, if it is still current.
    pub fn get(&self, key: &AnswerKey, read: ReadAt) -> Option<Bytes> {
        let body = self.recent.get(key, read)?;
        self.hits.increment(1);
        Some(body)
    }

    /// The body of the answer `response` (a miss: it was computed), kept under `key` when it
    /// is a clean single answer; `None` when it is not one.
    pub fn keep(&self, key: AnswerKey, response: &BatchResponse, read: ReadAt) -> Option<Bytes> {
        self.misses.increment(1);
        let BatchResponse::Single(single) = response else { return None };
        if !single.errors.is_empty() || !single.http_headers.is_empty() || single.cache_control.value().is_some() {
            return None;
        }
        let text = serde_json::to_vec(response).ok()?;
        if text.len() > MAX_ANSWER_BYTES {
            return Some(Bytes::from(text));
        }
        // Exactly as long as the text: a vector grown by doubling would keep up to twice what
        // the byte budget counts, for as long as the answer is kept. (Only a kept answer is
        // worth the copy that shrinking may take.)
        let body = Bytes::from(text.into_boxed_slice());
        self.recent.put(key, body.clone(), read);
        Some(body)
    }
}

/// True when the batch may change data (a mutation, or an operation that cannot be told).
pub fn may_change_data(batch: &mut BatchRequest) -> bool {
    batch.iter_mut().any(|request| operation_type(request) != Some(OperationType::Query))
}

pub(super) fn operation_type(request: &mut async_graphql::Request) -> Option<OperationType> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match (&document.operations, name.as_deref()) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?,
        // Without a name, a document's one operation is meant.
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some(operation.node.ty)
}
