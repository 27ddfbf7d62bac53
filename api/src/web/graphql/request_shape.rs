//! Limits on what one HTTP request may ask, checked before anything executes: the schema itself
//! limits depth and complexity; this adds batch size, query size, aliases and files.

use async_graphql::{BatchRequest, Request, parser::types::DocumentOperations};

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
    requests.iter().try_for_each(|request| check_operation(request).map_err(ShapeError::Operation))
}

/// One operation's own limits, over HTTP and WebSocket alike (depth and complexity are the
/// schema's).
pub fn check_operation(request: &Request) -> Result<(), String> {
    if request.query.len() > MAX_QUERY_BYTES {
        return Err(format!("the query is {} bytes; at most {MAX_QUERY_BYTES} are accepted", request.query.len()));
    }
    if count_aliases(&request.query) > MAX_ALIASES {
        return Err(format!("the query uses more than {MAX_ALIASES} aliases"));
    }
    Ok(())
}

/// A required variable the request does not give: a variable coercion failure, which must be
/// refused before execution (async-graphql would only notice it at the field, mid-execution).
#[derive(Debug, PartialEq, Eq)]
pub struct MissingVariable {
    pub name: String,
    pub message: String,
}

/// Checks that every non-null variable without a default is given a value. A query that does
/// not parse is left to the executor, which reports where.
pub fn check_variables(request: &mut Request) -> Result<(), MissingVariable> {
    let given: Vec<(String, bool)> = request
        .variables
        .iter()
        .map(|(name, value)| (name.to_string(), *value != async_graphql::Value::Null))
        .collect();
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return Ok(()) };
    let operation = match (&document.operations, operation_name.as_deref()) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => match operations.get(name) {
            Some(operation) => operation,
            None => return Ok(()),
        },
        (DocumentOperations::Multiple(operations), None) => match operations.values().next() {
            Some(operation) if operations.len() == 1 => operation,
            _ => return Ok(()),
        },
    };
    for definition in &operation.node.variable_definitions {
        let definition = &definition.node;
        let required = !definition.var_type.node.nullable && definition.default_value.is_none();
        let name = definition.name.node.as_str();
        if required && !given.iter().any(|(given, non_null)| given == name && *non_null) {
            return Err(MissingVariable {
                name: name.to_owned(),
                message: format!(
                    "Variable \"${name}\" of required type \"{}\" was not provided.",
                    definition.var_type.node
                ),
            });
        }
    }
    Ok(())
}

/// Counts aliases (`name: field`) with a scan of the query's tokens rather than a parse: the
/// executor parses every query anyway, and parsing it twice cost 8% of the server's CPU on the
/// lead list (BENCHMARKS.md). Outside parentheses (arguments, variable definitions), a name
/// followed by a colon can only be an alias. Syntax errors are left to the executor, which
/// reports them with their position.
fn count_aliases(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut i, mut parens, mut aliases, mut after_name) = (0, 0usize, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => i = skip_string(bytes, i),
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                while i < bytes.len() && matches!(bytes[i], b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9') {
                    i += 1;
                }
                after_name = true;
                continue;
            }
            b'(' => parens += 1,
            b')' => parens = parens.saturating_sub(1),
            b':' if after_name && parens == 0 => aliases += 1,
            _ => {}
        }
        after_name = false;
        i += 1;
    }
    aliases
}

/// From the opening quote of a string or block string to just past its end.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    if bytes[start..].starts_with(b"\"\"\"") {
        let mut i = start + 3;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return i + 2;
            } else {
                i += 1;
            }
        }
        return i;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' | b'\n' => return i,
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
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
        let spaced =
            format!("{{ {} }}", (0..31).map(|i| format!("a{i} , # note\n : me {{ id }} ")).collect::<String>());
        assert!(matches!(check(&BatchRequest::Single(Request::new(spaced))), Err(ShapeError::Operation(_))));
        let big = BatchRequest::Single(Request::new(format!("{{ me {{ id }} }} #{}", "x".repeat(MAX_QUERY_BYTES))));
        assert!(matches!(check(&big), Err(ShapeError::Operation(_))));
    }

    /// The scan agrees with a real parse on what is and is not an alias.
    #[test]
    fn counts_aliases_as_the_parser_sees_them() {
        use async_graphql::parser::{
            parse_query,
            types::{Selection, SelectionSet},
        };
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
        for query in [
            "{ me { id } }",
            "{ a: me { id } b: me { id } }",
            "query Q($id: ID! = \"x:y\", $n: Int = 3) { lead(id: $id) { first: firstName, last : lastName } }",
            "{ leads(filter: { status: [PENDING], search: \"a: b\" }) @include(if: true) { x: totalCount } }",
            "{ a: me { ... on User { b: id } ...F } } fragment F on User { c: email }",
            "{ me { id } } # d: not an alias\n",
            "{ x: lead(id: \"\"\"block \\\"\"\" e: text\"\"\") { id } }",
            "{ s: me(a: \"quote \\\" f: inside\") { id } }",
        ] {
            let doc = parse_query(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            let parsed: usize = doc.operations.iter().map(|(_, op)| walk(&op.node.selection_set.node)).sum::<usize>()
                + doc.fragments.values().map(|f| walk(&f.node.selection_set.node)).sum::<usize>();
            assert_eq!(count_aliases(query), parsed, "{query}");
        }
    }
}
