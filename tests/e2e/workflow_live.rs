//! Subscriptions over WebSocket (graphql-transport-ws), in one process and across replicas.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};

use crate::{
    helpers::{Backend, TestApp, lead_input},
    on_both_backends,
};

on_both_backends!(subscriptions_deliver_changes_to_staff_only);

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect(address: &str) -> Socket {
    connect_with(address, &[]).await
}

/// A graphql-transport-ws socket, the upgrade request carrying `headers` too.
pub async fn connect_with(address: &str, headers: &[(&'static str, &str)]) -> Socket {
    let url = address.replacen("http://", "ws://", 1) + "/graphql";
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let (socket, response) = connect_async(request).await.expect("WebSocket upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    socket
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.unwrap();
}

/// The next protocol message, or the close frame as `{"close": code, "reason": …}`.
pub async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket stays open")
            .unwrap();
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "ping" {
                    return value;
                }
            }
            Message::Close(frame) => {
                let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or_default();
                return json!({ "close": code, "reason": reason });
            }
            _ => {}
        }
    }
}

/// A socket signed in with `token`, once the server acknowledged.
pub async fn signed_in_socket(address: &str, token: &str) -> Socket {
    let mut socket = connect(address).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    let ack = receive(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

/// The close frame's reason when signing in over a socket with `token` is refused.
pub async fn refused_socket(address: &str, token: &str) -> String {
    let mut socket = connect(address).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    let answer = receive(&mut socket).await;
    assert!(answer["close"].is_number(), "refused with a close frame: {answer}");
    answer["reason"].as_str().unwrap_or_default().to_owned()
}

/// Signs in over the socket and subscribes; returns once the server acknowledged.
async fn subscribed(address: &str, token: &str, subscriptions: &[(&str, &str)]) -> Socket {
    let mut socket = signed_in_socket(address, token).await;
    for (id, query) in subscriptions {
        send(&mut socket, json!({ "id": id, "type": "subscribe", "payload": { "query": query } })).await;
    }
    socket
}

async fn subscriptions_deliver_changes_to_staff_only(backend: Backend) {
    let postgres = matches!(backend, Backend::Postgres(_));
    let app = TestApp::spawn(backend).await;
    let token = app.attorney("alex@firm.test").await;

    let mut socket = subscribed(
        &app.address,
        &token,
        &[
            ("new", "subscription { leadSubmitted { id firstName status } }"),
            ("all", "subscription { leadUpdated { id status } }"),
        ],
    )
    .await;
    // Subscriptions start asynchronously: give them a moment before the first event.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let event = receive(&mut socket).await;
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(event["id"], "new");
    assert_eq!(event["payload"]["data"]["leadSubmitted"], json!({ "id": id, "firstName": "Ada", "status": "PENDING" }));

    let mut one = subscribed(
        &app.address,
        &token,
        &[("one", &format!("subscription {{ leadUpdated(id: \"{id}\") {{ id status }} }}"))],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other = app.submit_id(lead_input("Bob", "Other", "bob@example.com")).await;
    let mark = "mutation($id: ID!) { updateLeadStatus(id: $id, status: REACHED_OUT) { id } }";
    app.graphql(mark, json!({ "id": other }), Some(&token)).await;
    app.graphql(mark, json!({ "id": id }), Some(&token)).await;
    // The lead-specific subscription hears only its lead.
    let event = receive(&mut one).await;
    assert_eq!(event["payload"]["data"]["leadUpdated"], json!({ "id": id, "status": "REACHED_OUT" }), "{event}");
    // The general one hears the second submission, and both changes in order. (Two
    // subscriptions are two streams: how their events interleave is not promised.)
    let mut heard: Vec<(String, Value)> = Vec::new();
    while heard.len() < 3 {
        let event = receive(&mut socket).await;
        heard.push((event["id"].as_str().unwrap().to_owned(), event["payload"]["data"].clone()));
    }
    let of =
        |sub: &str| -> Vec<Value> { heard.iter().filter(|(id, _)| id == sub).map(|(_, data)| data.clone()).collect() };
    // The lead is read as it is when the event goes out: by then it may be REACHED_OUT already.
    let submitted = of("new");
    assert_eq!(submitted.len(), 1);
    assert_eq!(
        (&submitted[0]["leadSubmitted"]["id"], &submitted[0]["leadSubmitted"]["firstName"]),
        (&json!(other), &json!("Bob"))
    );
    assert_eq!(
        of("all"),
        [
            json!({ "leadUpdated": { "id": other, "status": "REACHED_OUT" } }),
            json!({ "leadUpdated": { "id": id, "status": "REACHED_OUT" } }),
        ]
    );
    // Mails sent are history too: the worker announces them.
    app.drain_mail().await;
    let event = receive(&mut one).await;
    assert_eq!(event["payload"]["data"]["leadUpdated"]["id"], id.as_str(), "{event}");

    // No token, or a bad one: the connection is refused before any subscription.
    for payload in [json!({}), json!({ "Authorization": "Bearer not-a-token" })] {
        let mut refused = connect(&app.address).await;
        send(&mut refused, json!({ "type": "connection_init", "payload": payload })).await;
        let answer = receive(&mut refused).await;
        assert!(answer["close"].as_u64().is_some_and(|c| c >= 1000), "{answer}");
        assert!(!answer["reason"].as_str().unwrap().is_empty(), "the reason is given: {answer}");
    }

    // With several API replicas on PostgreSQL, a subscriber on one hears what happens on another.
    if postgres {
        let replica = app.replica().await;
        let mut far = subscribed(&replica.address, &token, &[("far", "subscription { leadSubmitted { id } }")]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let id = app.submit_id(lead_input("Cy", "Far", "cy@example.com")).await;
        let event = receive(&mut far).await;
        assert_eq!(event["payload"]["data"]["leadSubmitted"]["id"], id.as_str(), "{event}");
    } else {
        eprintln!("SQLite is one process: the cross-replica part of this test runs on PostgreSQL only");
    }
}
