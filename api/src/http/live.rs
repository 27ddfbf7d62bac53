//! `GET /graphql` with a WebSocket upgrade: subscriptions over graphql-transport-ws (what
//! GraphiQL and the `graphql-ws` client speak; the older subscriptions-transport-ws too).
//! The access token comes in `connection_init`'s payload, as `{"Authorization": "Bearer …"}`
//! (GraphiQL's headers), `{"authorization": …}`, `{"token": "…"}` or `{"headers": {…}}`;
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
                let session = Session::resolve(bearer(&payload).as_deref(), &app.tokens, &app.db)
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

/// The `Authorization` value from a connection_init payload, in any of the usual spellings.
fn bearer(payload: &Value) -> Option<String> {
    let headers = payload.get("headers").unwrap_or(payload);
    for key in ["Authorization", "authorization"] {
        if let Some(value) = headers.get(key).and_then(Value::as_str) {
            return Some(value.to_owned());
        }
    }
    let token = payload.get("token").or_else(|| payload.get("accessToken"))?.as_str()?;
    Some(format!("Bearer {token}"))
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
        assert_eq!(bearer(&json!({})), None);
    }
}
