//! Automatic persisted queries, as Apollo Client's persisted-query link sends them: a request
//! may carry `extensions.persistedQuery.sha256Hash` instead of the query's text. An unknown hash
//! is answered `PERSISTED_QUERY_NOT_FOUND`, and the client sends the hash with the text, which
//! is kept (when it matches the hash and passes the shape checks) for the next time. A
//! dashboard polling the same queries then sends 100 bytes instead of kilobytes.
//!
//! The store is bounded in entries and bytes; the least recently used go first.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use async_graphql::Request;
use sha2::{Digest, Sha256};

/// Queries kept at most, and their total size.
const MAX_ENTRIES: usize = 2048;
const MAX_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum PersistedError {
    /// The hash is not known: send it again with the query's text.
    NotFound,
    /// The extension is malformed, or the hash does not match the text.
    Invalid(String),
}

/// What a request's persisted-query extension asks for.
pub enum Persisted {
    /// No extension: an ordinary request.
    None,
    /// The text came with its hash: keep it once it has passed the shape checks.
    ToKeep(String),
    /// The text was filled in from the store.
    Found,
}

#[derive(Default)]
pub struct PersistedQueries {
    inner: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    queries: HashMap<String, String>,
    /// Hashes, least recently used first.
    order: VecDeque<String>,
    bytes: usize,
}

impl PersistedQueries {
    /// Fills in the text of a request that carries only a hash, and checks one that carries
    /// both. Requests without the extension pass untouched.
    pub fn resolve(&self, request: &mut Request) -> Result<Persisted, PersistedError> {
        let Some(extension) = request.extensions.get("persistedQuery") else {
            return Ok(Persisted::None);
        };
        let extension = serde_json::to_value(extension)
            .map_err(|_| PersistedError::Invalid("extensions.persistedQuery is not an object".into()))?;
        if extension.get("version").and_then(|v| v.as_i64()) != Some(1) {
            return Err(PersistedError::Invalid("extensions.persistedQuery.version must be 1".into()));
        }
        let hash = extension
            .get("sha256Hash")
            .and_then(|h| h.as_str())
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                PersistedError::Invalid("extensions.persistedQuery.sha256Hash must be 64 hex digits".into())
            })?
            .to_ascii_lowercase();
        if request.query.is_empty() {
            let mut store = self.inner.lock().expect("not poisoned");
            let text = store.queries.get(&hash).cloned().ok_or(PersistedError::NotFound)?;
            store.touch(&hash);
            request.query = text;
            return Ok(Persisted::Found);
        }
        if hex(&Sha256::digest(request.query.as_bytes())) != hash {
            return Err(PersistedError::Invalid("provided sha does not match query".into()));
        }
        Ok(Persisted::ToKeep(hash))
    }

    /// Keeps a query whose text matched its hash.
    pub fn keep(&self, hash: String, query: &str) {
        self.inner.lock().expect("not poisoned").insert(hash, query.to_owned());
    }
}

impl Store {
    fn touch(&mut self, hash: &str) {
        if let Some(at) = self.order.iter().position(|h| h == hash) {
            let hash = self.order.remove(at).expect("found");
            self.order.push_back(hash);
        }
    }

    fn insert(&mut self, hash: String, query: String) {
        if self.queries.contains_key(&hash) {
            self.touch(&hash);
            return;
        }
        while self.queries.len() >= MAX_ENTRIES || self.bytes + query.len() > MAX_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(text) = self.queries.remove(&oldest) {
                self.bytes -= text.len();
            }
        }
        self.bytes += query.len();
        self.order.push_back(hash.clone());
        self.queries.insert(hash, query);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use async_graphql::Value;

    use super::*;

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        let extension: Value = serde_json::from_value(serde_json::json!({ "version": 1, "sha256Hash": hash })).unwrap();
        request.extensions.insert("persistedQuery".into(), extension);
        request
    }

    #[test]
    fn unknown_then_kept_then_found() {
        let store = PersistedQueries::default();
        let query = "{ me { id } }";
        let hash = hex(&Sha256::digest(query.as_bytes()));
        assert_eq!(store.resolve(&mut with_hash("", &hash)).err(), Some(PersistedError::NotFound));
        let Ok(Persisted::ToKeep(kept)) = store.resolve(&mut with_hash(query, &hash)) else { panic!("not to keep") };
        store.keep(kept, query);
        let mut request = with_hash("", &hash.to_uppercase());
        assert!(matches!(store.resolve(&mut request), Ok(Persisted::Found)));
        assert_eq!(request.query, query);
        assert!(matches!(store.resolve(&mut with_hash("{ other }", &hash)), Err(PersistedError::Invalid(_))));
        assert!(matches!(store.resolve(&mut with_hash("", "abc")), Err(PersistedError::Invalid(_))));
    }

    #[test]
    fn the_store_is_bounded() {
        let mut store = Store::default();
        for i in 0..MAX_ENTRIES + 10 {
            store.insert(format!("{i:064}"), "x".repeat(10));
        }
        assert_eq!(store.queries.len(), MAX_ENTRIES);
        assert!(!store.queries.contains_key(&format!("{:064}", 0)), "the oldest went first");
        store.insert("big".into(), "y".repeat(MAX_BYTES));
        assert!(store.bytes <= MAX_BYTES);
    }
}
