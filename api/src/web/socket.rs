//! `GET /graphql` with a WebSocket upgrade: GraphQL over graphql-transport-ws (what GraphiQL and
//! the `graphql-ws` client speak; the older subscriptions-transport-ws too).
//!
//! The protocol is driven here rather than by async-graphql's socket, because a socket must
//! follow its account as HTTP does: every operation and every event of a running subscription
//! is checked against the account's current state (active, session version, sign-in, role,
//! token expiry), and the socket is closed with 4401 (or 4403 after a role change) as soon as
//! access has ended. Operations pass the same shape and abuse limits as over HTTP, each with the
//! client's real address and a password-check budget of its own.
//!
//! The access token comes in `connection_init`'s payload, as `{"Authorization": "Bearer …"}`
//! (GraphiQL's headers), `{"authorization": …}`, `{"token"|"accessToken"|"authToken": "…"}`
//! or `{"headers": {…}}`; without a valid attorney's or admin's token the socket is closed.

use std::{collections::HashMap, net::IpAddr, time::Duration};

use async_graphql::{Request, Response, Variables, parser::types::OperationType};
use axum::{
    extract::{
        FromRequestParts, Request as HttpRequest, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::{StatusCode, header},
    response::{IntoResponse, Response as HttpResponse},
};
use entity::user::{self, Role};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{
    sync::{mpsc, watch},
    task::{AbortHandle, JoinSet},
    time::Instant,
};

use super::{HttpState, endpoint::add_missing_codes};
use crate::{
    accounts::{password::PasswordBudget, session, session::Session},
    error::ErrorCode,
    web::graphql::{ClientIp, request_shape},
};

/// Larger messages are refused (the socket closes with 1009).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Operations running at once on one socket.
const MAX_OPERATIONS: usize = 100;
/// How often an idle socket's account is read again even when no change was announced (a
/// change made where no announcement reaches, such as another process on SQLite).
const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// Answers waiting for the client; a slow reader holds back its own operations only.
const OUTBOX: usize = 64;

/// graphql-transport-ws close codes (the legacy protocol has none of its own).
mod close {
    pub const TOO_BIG: u16 = 1009;
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    pub const INTERNAL: u16 = 4500;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// graphql-transport-ws.
    TransportWs,
    /// subscriptions-transport-ws, whose subprotocol is confusingly named `graphql-ws`.
    Legacy,
}

impl Protocol {
    fn from_offer(offer: &str) -> Option<Self> {
        match offer.trim() {
            "graphql-transport-ws" => Some(Self::TransportWs),
            "graphql-ws" => Some(Self::Legacy),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::Legacy => "graphql-ws",
        }
    }

    fn result_type(self) -> &'static str {
        match self {
            Self::TransportWs => "next",
            Self::Legacy => "data",
        }
    }
}

/// Why the server closes a socket.
struct Close(u16, String);

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self(code, reason.into())
    }

    fn access_ended() -> Self {
        Self::new(close::UNAUTHORIZED, "Unauthorized: access has ended; sign in again")
    }
}

pub async fn upgrade(state: HttpState, client: IpAddr, request: HttpRequest) -> HttpResponse {
    let (mut parts, _) = request.into_parts();
    let protocol = parts
        .headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(Protocol::from_offer);
    let Some(protocol) = protocol else {
        let message = "Sec-WebSocket-Protocol must offer graphql-transport-ws (or the legacy graphql-ws)";
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .protocols([protocol.name()])
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| Connection::new(state, client, protocol).run(socket))
}

/// The account a socket was opened for, as last checked.
struct Authority {
    token: String,
    /// The role at sign-in: a socket does not outlive a change of role.
    role: Role,
    expires_at: Instant,
    user: user::Model,
    /// The account-change count when `user` was read.
    checked_at: u64,
    /// Read the account again at the next check, announced change or not.
    recheck: bool,
}

/// What an operation's task hands the socket.
struct Outgoing {
    id: String,
    /// Which run of `id` it belongs to: a client may reuse an id once an operation is complete.
    run: u64,
    response: Option<Response>,
}

struct Connection {
    state: HttpState,
    client: IpAddr,
    protocol: Protocol,
    accounts: watch::Receiver<u64>,
    authority: Option<Authority>,
    operations: HashMap<String, (u64, AbortHandle)>,
    runs: u64,
}

#[derive(Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationPayload {
    query: String,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default)]
    operation_name: Option<String>,
}

impl Connection {
    fn new(state: HttpState, client: IpAddr, protocol: Protocol) -> Self {
        let accounts = state.app.announcer.accounts();
        Self { state, client, protocol, accounts, authority: None, operations: HashMap::new(), runs: 0 }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let (outbox, mut answers) = mpsc::channel(OUTBOX);
        let mut tasks = JoinSet::new();
        if let Err(Close(code, reason)) = self.serve(&mut socket, &outbox, &mut answers, &mut tasks).await {
            tracing::debug!(code, %reason, "closing a GraphQL socket");
            let frame = CloseFrame { code, reason: reason.into() };
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
        // Dropping the set stops every operation still running.
        drop(tasks);
    }

    async fn serve(
        &mut self,
        socket: &mut WebSocket,
        outbox: &mpsc::Sender<Outgoing>,
        answers: &mut mpsc::Receiver<Outgoing>,
        tasks: &mut JoinSet<()>,
    ) -> Result<(), Close> {
        let init_deadline = tokio::time::sleep(self.state.app.settings.socket_init_timeout);
        tokio::pin!(init_deadline);
        let mut recheck = tokio::time::interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
        loop {
            let signed_in = self.authority.is_some();
            let expires_at = self.authority.as_ref().map_or_else(Instant::now, |a| a.expires_at);
            tokio::select! {
                incoming = socket.recv() => match incoming {
                    None | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Ok(Message::Text(text))) => self.on_message(socket, text.as_str(), outbox, tasks).await?,
                    Some(Ok(Message::Binary(_))) => {
                        return Err(Close::new(close::BAD_REQUEST, "binary messages are not part of the protocol"));
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Err(e)) => return Err(read_error(&e)),
                },
                Some(answer) = answers.recv() => self.deliver(socket, answer).await?,
                // Finished operations are reaped, so that a long-lived socket holds only the
                // ones still running.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = &mut init_deadline, if !signed_in => {
                    return Err(Close::new(close::INIT_TIMEOUT, "Connection initialisation timeout"));
                }
                Ok(()) = self.accounts.changed(), if signed_in => {
                    self.current().await?;
                }
                () = tokio::time::sleep_until(expires_at), if signed_in => {
                    return Err(Close::new(close::UNAUTHORIZED, "Unauthorized: the access token has expired"));
                }
                _ = recheck.tick(), if signed_in => {
                    if let Some(authority) = &mut self.authority {
                        authority.recheck = true;
                    }
                    self.current().await?;
                }
            }
        }
    }

    async fn on_message(
        &mut self,
        socket: &mut WebSocket,
        text: &str,
        outbox: &mpsc::Sender<Outgoing>,
        tasks: &mut JoinSet<()>,
    ) -> Result<(), Close> {
        let message: ClientMessage = serde_json::from_str(text)
            .map_err(|_| Close::new(close::BAD_REQUEST, "Invalid message received: not a protocol message"))?;
        match (message.kind.as_str(), self.protocol) {
            ("connection_init", _) => {
                if self.authority.is_some() {
                    return Err(Close::new(close::TOO_MANY_INITS, "Too many initialisation requests"));
                }
                self.authority = Some(self.sign_in(&message.payload).await?);
                send(socket, json!({ "type": "connection_ack" })).await
            }
            ("ping", Protocol::TransportWs) => send(socket, json!({ "type": "pong" })).await,
            ("pong", Protocol::TransportWs) => Ok(()),
            ("subscribe", Protocol::TransportWs) | ("start", Protocol::Legacy) => {
                let id = message.id.filter(|id| !id.is_empty()).ok_or_else(|| {
                    Close::new(close::BAD_REQUEST, "Invalid message received: an operation needs an id")
                })?;
                self.start(socket, id, message.payload, outbox, tasks).await
            }
            ("complete", Protocol::TransportWs) | ("stop", Protocol::Legacy) => {
                if let Some((_, task)) = message.id.and_then(|id| self.operations.remove(&id)) {
                    task.abort();
                }
                Ok(())
            }
            ("connection_terminate", Protocol::Legacy) => Err(Close::new(1000, "terminated by the client")),
            (other, _) => Err(Close::new(close::BAD_REQUEST, format!("Invalid message received: type '{other}'"))),
        }
    }

    /// `connection_init`: the token must be an attorney's or an admin's, and current.
    async fn sign_in(&self, payload: &Value) -> Result<Authority, Close> {
        let token = bearer(payload).ok_or_else(|| {
            Close::new(close::UNAUTHORIZED, "Unauthorized: send {\"Authorization\": \"Bearer <accessToken>\"}")
        })?;
        if crate::accounts::api_keys::looks_like_key(&token) {
            return Err(Close::new(
                close::FORBIDDEN,
                "Forbidden: API keys cannot open subscriptions; sign in as a user",
            ));
        }
        let app = &self.state.app;
        let (claims, user) = session::account(&token, &app.accounts)
            .await
            .map_err(|_| Close::new(close::INTERNAL, "Internal server error"))?
            .ok_or_else(|| Close::new(close::UNAUTHORIZED, format!("Unauthorized: {}", session::TOKEN_REFUSED)))?;
        Session::User(user.clone()).staff().map_err(|e| Close::new(close::FORBIDDEN, format!("Forbidden: {e}")))?;
        let left = claims.exp - chrono::Utc::now().timestamp();
        Ok(Authority {
            token,
            role: user.role,
            expires_at: Instant::now() + Duration::from_secs(left.max(0) as u64),
            user,
            checked_at: *self.accounts.borrow(),
            recheck: false,
        })
    }

    /// The account as it is now, read again whenever accounts or sign-ins have changed since
    /// it was last read; an error once access has ended.
    async fn current(&mut self) -> Result<user::Model, Close> {
        let authority = self.authority.as_mut().ok_or_else(|| Close::new(close::UNAUTHORIZED, "Unauthorized"))?;
        if Instant::now() >= authority.expires_at {
            return Err(Close::new(close::UNAUTHORIZED, "Unauthorized: the access token has expired"));
        }
        let changes = *self.accounts.borrow_and_update();
        if changes != authority.checked_at || authority.recheck {
            let app = &self.state.app;
            let found = session::account(&authority.token, &app.accounts)
                .await
                .map_err(|_| Close::new(close::INTERNAL, "Internal server error"))?;
            let Some((_, user)) = found else {
                return Err(Close::access_ended());
            };
            if user.role != authority.role {
                return Err(Close::new(close::FORBIDDEN, "Forbidden: the account's role changed; connect again"));
            }
            authority.user = user;
            authority.checked_at = changes;
            authority.recheck = false;
        }
        Ok(authority.user.clone())
    }

    async fn start(
        &mut self,
        socket: &mut WebSocket,
        id: String,
        payload: Value,
        outbox: &mpsc::Sender<Outgoing>,
        tasks: &mut JoinSet<()>,
    ) -> Result<(), Close> {
        if self.authority.is_none() {
            return Err(Close::new(close::UNAUTHORIZED, "Unauthorized"));
        }
        if self.operations.contains_key(&id) {
            return Err(Close::new(close::SUBSCRIBER_EXISTS, format!("Subscriber for {id} already exists")));
        }
        let user = self.current().await?;
        let operation: OperationPayload = serde_json::from_value(payload).map_err(|_| {
            Close::new(close::BAD_REQUEST, "Invalid message received: the payload needs a query string")
        })?;
        let mut request = Request::new(operation.query);
        if let Some(variables) = operation.variables {
            request = request.variables(Variables::from_json(variables));
        }
        if let Some(name) = operation.operation_name {
            request = request.operation_name(name);
        }
        if let Err(message) = request_shape::check_operation(&request) {
            return self.refuse(socket, &id, ErrorCode::GraphqlValidationFailed, &message).await;
        }
        if let Err(missing) = request_shape::check_variables(&mut request) {
            return self.refuse(socket, &id, ErrorCode::BadUserInput, &missing.message).await;
        }
        if self.operations.len() >= MAX_OPERATIONS {
            let message = format!("at most {MAX_OPERATIONS} operations may run at once on one socket");
            return self.refuse(socket, &id, ErrorCode::GraphqlValidationFailed, &message).await;
        }
        let mutation = super::answers::operation_type(&mut request) == Some(OperationType::Mutation);
        let request = request.data(Session::User(user)).data(ClientIp(self.client)).data(PasswordBudget::default());
        self.runs += 1;
        let run = self.runs;
        let (schema, outbox, app) = (self.state.schema.clone(), outbox.clone(), self.state.app.clone());
        let task = tasks.spawn({
            let id = id.clone();
            async move {
                let mut responses = schema.execute_stream(request);
                while let Some(response) = responses.next().await {
                    if mutation {
                        // After the change committed: answers read before it are out of date.
                        app.announcer.data_changed();
                    }
                    let next = Outgoing { id: id.clone(), run, response: Some(response) };
                    if outbox.send(next).await.is_err() {
                        return;
                    }
                }
                let _ = outbox.send(Outgoing { id, run, response: None }).await;
            }
        });
        self.operations.insert(id, (run, task));
        Ok(())
    }

    /// An operation refused before it ran: its error, then its end.
    async fn refuse(&mut self, socket: &mut WebSocket, id: &str, code: ErrorCode, message: &str) -> Result<(), Close> {
        let error = json!({ "message": message, "extensions": { "code": code.as_str() } });
        match self.protocol {
            Protocol::TransportWs => send(socket, json!({ "type": "error", "id": id, "payload": [error] })).await,
            Protocol::Legacy => {
                send(socket, json!({ "type": "error", "id": id, "payload": error })).await?;
                send(socket, json!({ "type": "complete", "id": id })).await
            }
        }
    }

    /// An operation's answer or end, sent only while the account still holds.
    async fn deliver(&mut self, socket: &mut WebSocket, answer: Outgoing) -> Result<(), Close> {
        let current = self.operations.get(&answer.id).is_some_and(|(run, _)| *run == answer.run);
        if !current {
            // The client completed it meanwhile; it hears nothing more of it.
            return Ok(());
        }
        match answer.response {
            Some(mut response) => {
                self.current().await?;
                add_missing_codes(std::slice::from_mut(&mut response));
                let payload = serde_json::to_value(&response)
                    .map_err(|_| Close::new(close::INTERNAL, "Internal server error"))?;
                send(socket, json!({ "type": self.protocol.result_type(), "id": answer.id, "payload": payload })).await
            }
            None => {
                self.operations.remove(&answer.id);
                send(socket, json!({ "type": "complete", "id": answer.id })).await
            }
        }
    }
}

async fn send(socket: &mut WebSocket, message: Value) -> Result<(), Close> {
    // A client that has gone away cannot be told anything more; ending the loop is all.
    socket.send(Message::Text(message.to_string().into())).await.map_err(|_| Close::new(1001, "gone"))
}

/// A read error: a message over the limit is answered with 1009; anything else ends the socket.
fn read_error(error: &axum::Error) -> Close {
    let text = error.to_string();
    if text.contains("Message too long") || text.contains("Space limit exceeded") {
        Close::new(close::TOO_BIG, format!("messages may be at most {} KiB", MAX_MESSAGE_BYTES / 1024))
    } else {
        Close::new(close::BAD_REQUEST, "the WebSocket stream was malformed")
    }
}

/// The token from a connection_init payload, in any of the usual spellings.
fn bearer(payload: &Value) -> Option<String> {
    let headers = payload.get("headers").unwrap_or(payload);
    let value = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| headers.get(*key))
        .or_else(|| ["token", "accessToken", "authToken"].iter().find_map(|key| payload.get(*key)))?
        .as_str()?
        .trim();
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or(value).trim();
    (!token.is_empty() && !token.eq_ignore_ascii_case("bearer")).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_token_is_found_in_every_usual_place() {
        let expected = Some("abc".to_owned());
        assert_eq!(bearer(&json!({ "Authorization": "Bearer abc" })), expected);
        assert_eq!(bearer(&json!({ "authorization": "Bearer abc" })), expected);
        assert_eq!(bearer(&json!({ "headers": { "Authorization": "Bearer abc" } })), expected);
        assert_eq!(bearer(&json!({ "token": "abc" })), expected);
        assert_eq!(bearer(&json!({ "authToken": "abc" })), expected);
        assert_eq!(bearer(&json!({ "Authorization": "abc" })), expected);
        assert_eq!(bearer(&json!({})), None);
        assert_eq!(bearer(&json!({ "Authorization": "Bearer " })), None);
    }
}
