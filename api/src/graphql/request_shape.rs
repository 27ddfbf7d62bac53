//! Limits on what one HTTP request may ask, checked before anything executes: the schema itself
//! limits depth and complexity; this adds batch size, query size, aliases and files.

use async_graphql::{
    BatchRequest,
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

pub const MAX_BATCH: usize = 10;
pub const MAX_QUERY_BYTES: usize = 32 * 1024;
pub const MAX_ALIASES: usize = 30;

#[derive(Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// The request as a whole is refused (HTTP 400).
    Request(String),
    /// One operation is refused as invalid.
    Operation(String),
}

pub fn check(batch: &BatchRequest) -> Result<(), ShapeError> {
    let requests = match batch {
        BatchRequest::Single(r) => std::slice::from_ref(r),
        BatchRequest::Batch(rs) => rs.as_slice(),
    };
    if requests.len() > MAX_BATCH {
        return Err(ShapeError::Request(format!(
            "a batch may hold at most {MAX_BATCH} operations; this one has {}",
            requests.len()
        )));
    }
    let files: usize = requests.iter().map(|r| r.uploads.len()).sum();
    if files > 1 {
        return Err(ShapeError::Request(format!("one file per request; this one maps {files}")));
    }
    for request in requests {
        if request.query.len() > MAX_QUERY_BYTES {
            return Err(ShapeError::Operation(format!(
                "the query is {} bytes; at most {MAX_QUERY_BYTES} are accepted",
                request.query.len()
            )));
        }
        // Syntax errors are left to the executor, which reports them with their position.
        if let Ok(doc) = async_graphql::parser::parse_query(&request.query)
            && count_aliases(&doc) > MAX_ALIASES
        {
            return Err(ShapeError::Operation(format!("the query uses more than {MAX_ALIASES} aliases")));
        }
    }
    Ok(())
}

fn count_aliases(doc: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) => usize::from(f.node.alias.is_some()) + walk(&f.node.selection_set.node),
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = doc.operations.iter().map(|(_, op)| walk(&op.node.selection_set.node)).sum();
    operations + doc.fragments.values().map(|f| walk(&f.node.selection_set.node)).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use async_graphql::Request;

    use super::*;

    #[test]
    fn shapes() {
        let ok = BatchRequest::Single(Request::new("{ a: me { id } b: me { id } }"));
        assert_eq!(check(&ok), Ok(()));
        let aliases: String = (0..31).map(|i| format!("a{i}: me {{ id }} ")).collect();
        assert!(matches!(
            check(&BatchRequest::Single(Request::new(format!("{{ {aliases} }}")))),
            Err(ShapeError::Operation(_))
        ));
        let batch = BatchRequest::Batch((0..11).map(|_| Request::new("{ me { id } }")).collect());
        assert!(matches!(check(&batch), Err(ShapeError::Request(_))));
        let big = BatchRequest::Single(Request::new(format!("{{ me {{ id }} }} #{}", "x".repeat(MAX_QUERY_BYTES))));
        assert!(matches!(check(&big), Err(ShapeError::Operation(_))));
    }
}
