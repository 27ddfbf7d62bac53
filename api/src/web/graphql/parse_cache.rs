//! Parsed queries kept by their text. A dashboard or a form sends the same few queries over and
//! over (with different variables); parsing each one again was the largest single cost of a
//! lead list request after the resolvers themselves (BENCHMARKS.md). A cached document is cloned
//! into the request, which the executor then uses instead of parsing.

use std::{collections::HashMap, sync::Mutex};

use async_graphql::{BatchRequest, parser::types::ExecutableDocument};

/// Distinct queries kept; past this the cache starts over, so a client sending endless new
/// queries costs a parse each, as without the cache, and bounded memory.
const MAX_ENTRIES: usize = 256;
/// Longer queries are parsed each time (they are rare, and would make the cache large).
const MAX_QUERY_BYTES: usize = 8 * 1024;

#[derive(Default)]
pub struct ParseCache {
    documents: Mutex<HashMap<String, ExecutableDocument>>,
}

impl ParseCache {
    /// Gives each request its parsed document. Queries that do not parse are left alone: the
    /// executor reports their syntax errors with positions.
    pub fn fill(&self, batch: &mut BatchRequest) {
        for request in batch.iter_mut() {
            if request.query.len() > MAX_QUERY_BYTES {
                continue;
            }
            let cached = self.documents.lock().expect("not poisoned").get(&request.query).cloned();
            let document = match cached {
                Some(document) => document,
                None => {
                    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
                        continue;
                    };
                    let mut documents = self.documents.lock().expect("not poisoned");
                    if documents.len() >= MAX_ENTRIES {
                        documents.clear();
                    }
                    documents.insert(request.query.clone(), document.clone());
                    document
                }
            };
            request.set_parsed_query(document);
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Request;

    use super::*;

    #[test]
    fn parses_once_and_leaves_bad_queries_to_the_executor() {
        let cache = ParseCache::default();
        let mut first = BatchRequest::Single(Request::new("{ me { id } }"));
        cache.fill(&mut first);
        let mut bad = BatchRequest::Single(Request::new("{ me { id }"));
        cache.fill(&mut bad);
        assert_eq!(cache.documents.lock().unwrap().len(), 1, "the bad query is not kept");
        let BatchRequest::Single(mut bad) = bad else { unreachable!() };
        assert!(bad.parsed_query().is_err(), "still a syntax error for the executor");
        let mut again = BatchRequest::Single(Request::new("{ me { id } }"));
        cache.fill(&mut again);
        let BatchRequest::Single(mut again) = again else { unreachable!() };
        assert_eq!(again.parsed_query().unwrap().operations.iter().count(), 1);
    }

    #[test]
    fn starts_over_when_full() {
        let cache = ParseCache::default();
        for i in 0..=MAX_ENTRIES {
            cache.fill(&mut BatchRequest::Single(Request::new(format!("{{ f{i} }}"))));
        }
        assert_eq!(cache.documents.lock().unwrap().len(), 1);
    }
}
