//! Content negotiation as the GraphQL-over-HTTP specification lays it out: the answer is
//! `application/graphql-response+json` when the client accepts it, `application/json` when
//! that is what it asks for (or it names no type, or `*/*`), and 406 when it accepts neither.

/// The media type of a GraphQL answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/graphql-response+json`: requests that fail before execution are 4xx and
    /// carry no `data` key.
    GraphQLResponse,
    /// `application/json`: what legacy clients expect: 200 for every well-formed request.
    Json,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::GraphQLResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }

    /// The format for an `Accept` header, or `None` when neither type is acceptable.
    pub fn negotiate(accept: Option<&str>) -> Option<Self> {
        let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
            return Some(Self::Json);
        };
        // For each format, the best (quality, specificity) among the ranges that match it.
        let (mut graphql, mut json) = (None::<(u16, u8)>, None::<(u16, u8)>);
        for range in media_ranges(accept) {
            let (gr, js) = match range.essence.as_str() {
                "application/graphql-response+json" => (Some(2), None),
                "application/json" => (None, Some(2)),
                "application/*" => (Some(1), Some(1)),
                "*/*" => (Some(0), Some(0)),
                _ => (None, None),
            };
            let better = |best: &mut Option<(u16, u8)>, specificity: Option<u8>| {
                if let Some(s) = specificity {
                    // A more specific range decides, whatever its quality (RFC 9110, 12.5.1).
                    if best.is_none_or(|(_, bs)| s > bs) {
                        *best = Some((range.quality, s));
                    }
                }
            };
            better(&mut graphql, gr);
            better(&mut json, js);
        }
        let acceptable = |best: Option<(u16, u8)>| best.filter(|(q, _)| *q > 0);
        match (acceptable(graphql), acceptable(json)) {
            (None, None) => None,
            (Some(_), None) => Some(Self::GraphQLResponse),
            (None, Some(_)) => Some(Self::Json),
            // Named outright, the spec's own type wins a tie; reached by a wildcard, JSON does.
            (Some((gq, gs)), Some((jq, js))) => {
                Some(if (gq, gs) > (jq, js) || (gq == jq && gs == 2) { Self::GraphQLResponse } else { Self::Json })
            }
        }
    }
}

/// Whether the client names `text/html` outright: a browser opening the page.
pub fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| media_ranges(accept).any(|r| r.essence == "text/html" && r.quality > 0))
}

/// Whether the client names a GraphQL answer type outright (not by a wildcard).
pub fn names_graphql_type(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        media_ranges(accept)
            .any(|r| matches!(r.essence.as_str(), "application/json" | "application/graphql-response+json"))
    })
}

struct MediaRange {
    essence: String,
    /// Quality in thousandths.
    quality: u16,
}

fn media_ranges(accept: &str) -> impl Iterator<Item = MediaRange> + '_ {
    accept.split(',').filter_map(|item| {
        let mut parts = item.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        if essence.is_empty() {
            return None;
        }
        let quality = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1000, |(_, v)| v.trim().parse::<f32>().map_or(0, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16));
        Some(MediaRange { essence, quality })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_spec() {
        use Format::*;
        let cases = [
            (None, Some(Json)),
            (Some("*/*"), Some(Json)),
            (Some("application/json"), Some(Json)),
            (Some("application/graphql-response+json"), Some(GraphQLResponse)),
            (Some("application/graphql-response+json, application/json;q=0.9"), Some(GraphQLResponse)),
            (Some("application/json, application/graphql-response+json;q=0.5"), Some(Json)),
            (Some("application/graphql-response+json, application/json"), Some(GraphQLResponse)),
            (Some("application/graphql-response+json, */*"), Some(GraphQLResponse)),
            (Some("text/html,application/xhtml+xml,*/*;q=0.8"), Some(Json)),
            (Some("application/*"), Some(Json)),
            (Some("text/plain"), None),
            (Some("application/json;q=0"), None),
            (Some("application/json;q=0, */*"), Some(GraphQLResponse)),
            (Some("APPLICATION/GRAPHQL-RESPONSE+JSON; charset=utf-8"), Some(GraphQLResponse)),
        ];
        for (accept, expected) in cases {
            assert_eq!(Format::negotiate(accept), expected, "{accept:?}");
        }
        assert!(wants_html(Some("text/html,*/*;q=0.8")));
        assert!(!wants_html(Some("*/*")) && !wants_html(None));
    }
}
