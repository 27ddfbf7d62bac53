//! `GET /graphql` with a WebSocket upgrade: subscriptions over graphql-transport-ws (what
//! GraphiQL and the `graphql-ws` client speak; the older subscriptions-transport-ws too).
//! The access token comes in `connection_init`'s payload, as `{"Authorization": "Bearer …"}`
//! (GraphiQL's headers), `{"authorization": …}`, `{"token"|"accessToken"|"authToken": "…"}`
//! or `{"headers": {…}}`;
//! without a valid attorney's or admin's token the connection is refused.

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    extract::{FromRequestParts, Request, WebSocketUpgrade},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::HttpState;
use crate::auth::Session;

pub async fn upgrade(state: HttpState, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let schema = state.schema.clone();
    upgrade.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| {
        GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(move |payload| async move {
                let app = &state.app;
                let session = Session::resolve(bearer(&payload).as_deref(), app, app.freshness.now())
                    .await
                    .map_err(|e| async_graphql::Error::new(e.public_message()))?;
                session.staff().map_err(|e| async_graphql::Error::new(e.to_string()))?;
                let mut data = Data::default();
                data.insert(session);
                Ok(data)
            })
            .serve()
    })
}

/// The `Authorization` value from a connection_init payload, in any of the usual spellings;
/// a bare token is taken as a bearer token.
fn bearer(payload: &Value) -> Option<String> {
    let headers = payload.get("headers").unwrap_or(payload);
    let value = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| headers.get(*key))
        .or_else(|| ["token", "accessToken", "authToken"].iter().find_map(|key| payload.get(*key)))?
        .as_str()?
        .trim();
    let bare = !value.starts_with("Bearer ") && !value.starts_with("bearer ");
    Some(if bare { format!("Bearer {value}") } else { value.to_owned() })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_token_is_found_in_every_usual_place() {
        let expected = Some("Bearer abc".to_owned());
        assert_eq!(bearer(&json!({ "Authorization": "Bearer abc" })), expected);
        assert_eq!(bearer(&json!({ "authorization": "Bearer abc" })), expected);
        assert_eq!(bearer(&json!({ "headers": { "Authorization": "Bearer abc" } })), expected);
        assert_eq!(bearer(&json!({ "token": "abc" })), expected);
        assert_eq!(bearer(&json!({ "authToken": "abc" })), expected);
        assert_eq!(bearer(&json!({ "Authorization": "abc" })), expected);
        assert_eq!(bearer(&json!({})), None);
    }
}
