//! Access ends everywhere at once, and no door is left ajar: sockets that follow their account,
//! secrets nobody knows, password checks that cannot be multiplied, lock-outs without denial of
//! service, limits that hold across replicas, bounded metrics, the operations listener, and
//! writers that queue instead of failing.

use std::{net::IpAddr, sync::Arc, time::Duration};

use api::infra::limits::Rate;
use entity::user;
use futures_util::SinkExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    helpers::{
        ADMIN_EMAIL, ADMIN_PASSWORD, Backend, JWT_SECRET, TestApp, error_code, error_field, lead_input, post_graphql,
    },
    on_both_backends,
    workflow_live::{Socket, connect, connect_with, receive, send, signed_in_socket},
};

on_both_backends!(
    sockets_end_when_access_ends,
    a_socket_checks_every_operation_and_closes_at_token_expiry,
    sockets_have_the_limits_of_http,
    token_refusals_all_read_the_same,
    one_password_check_per_request,
    failed_sign_ins_slow_the_address_not_the_owner,
    acknowledgements_to_one_address_are_capped,
    account_updates_never_fail_for_a_busy_database,
    the_operations_listener_keeps_metrics_off_the_public_port,
    the_legacy_protocol_is_checked_the_same_way,
);

const LOGIN: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }";

/// Runs `{ me { email } }` on the socket as operation `id` and returns its answer.
async fn me_over(socket: &mut Socket, id: &str) -> Value {
    send(socket, json!({ "id": id, "type": "subscribe", "payload": { "query": "{ me { email active } }" } })).await;
    receive(socket).await
}

/// Waits for the close frame, skipping messages that were on their way.
async fn closed(socket: &mut Socket) -> (u64, String) {
    loop {
        let message = receive(socket).await;
        if let Some(code) = message["close"].as_u64() {
            return (code, message["reason"].as_str().unwrap_or_default().to_owned());
        }
    }
}

async fn create_user(app: &TestApp, admin: &str, email: &str, role: &str) -> String {
    let body = app
        .graphql(
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            json!({ "i": { "email": email, "fullName": "Pat Person", "role": role, "password": "a-long-password-1" } }),
            Some(admin),
        )
        .await;
    body["data"]["createUser"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let body = app.graphql(LOGIN, json!({ "e": email, "p": password }), None).await;
    let login = &body["data"]["login"];
    (
        login["accessToken"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned(),
        login["refreshToken"].as_str().unwrap().to_owned(),
    )
}

/// Deactivation, a role change, a password reset and a logout each end an open socket: its
/// running subscription, and any operation sent after.
async fn sockets_end_when_access_ends(backend: Backend) {
    let postgres = matches!(backend, Backend::Postgres(_));
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // On PostgreSQL the sockets are on another replica: the change must reach it too.
    let replica = if postgres { Some(app.replica().await) } else { None };
    let socket_host = replica.as_ref().map_or(app.address.clone(), |r| r.address.clone());
    let update = "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }";

    let cases: [(&str, &str, u64); 4] = [
        ("deactivated", "ATTORNEY", 4401),
        ("demoted", "ADMIN", 4403),
        ("reset", "ATTORNEY", 4401),
        ("logout", "ATTORNEY", 4401),
    ];
    for (case, role, code) in cases {
        let email = format!("{case}@firm.test");
        let id = create_user(&app, &admin, &email, role).await;
        let (token, refresh) = sign_in(&app, &email, "a-long-password-1").await;
        let mut socket = signed_in_socket(&socket_host, &token).await;
        let answer = me_over(&mut socket, "before").await;
        assert_eq!(answer["payload"]["data"]["me"], json!({ "email": email, "active": true }), "{case}: {answer}");
        assert_eq!(receive(&mut socket).await["type"], "complete");
        send(&mut socket, json!({ "id": "live", "type": "subscribe", "payload": { "query": "subscription { leadSubmitted { id } }" } }))
            .await;

        let changed = match case {
            "deactivated" => app.graphql(update, json!({ "id": id, "i": { "active": false } }), Some(&admin)).await,
            "demoted" => app.graphql(update, json!({ "id": id, "i": { "role": "ATTORNEY" } }), Some(&admin)).await,
            "reset" => {
                let reset = "mutation($id: ID!, $p: String!) { resetUserPassword(id: $id, password: $p) { id } }";
                app.graphql(reset, json!({ "id": id, "p": "another-long-password" }), Some(&admin)).await
            }
            _ => app.graphql("mutation($t: String!) { logout(refreshToken: $t) }", json!({ "t": refresh }), None).await,
        };
        assert!(changed["errors"].is_null(), "{case}: {changed}");
        let (closed_with, reason) = closed(&mut socket).await;
        assert_eq!(closed_with, code, "{case}: {reason}");

        // HTTP agrees: the token is refused (or, demoted, only the admin's part of it).
        let me = app.graphql("{ users { id } }", json!({}), Some(&token)).await;
        let expected = if case == "demoted" { "FORBIDDEN" } else { "UNAUTHENTICATED" };
        assert_eq!(error_code(&me), expected, "{case}: {me}");
        // Reconnecting with the same token: refused, but for the demoted account, which gets
        // its new (attorney's) access.
        let mut again = connect(&socket_host).await;
        send(
            &mut again,
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
        )
        .await;
        let answer = receive(&mut again).await;
        if case == "demoted" {
            assert_eq!(answer["type"], "connection_ack", "{answer}");
        } else {
            assert_eq!(answer["close"], 4401, "{case}: {answer}");
        }
    }

    // An operation sent right after the deactivation does not run: a departing admin cannot
    // make another admin from an open socket. (In the process that made the change, which
    // knows of it before it answers.)
    let id = create_user(&app, &admin, "departing@firm.test", "ADMIN").await;
    let (token, _) = sign_in(&app, "departing@firm.test", "a-long-password-1").await;
    let mut socket = signed_in_socket(&app.address, &token).await;
    let deactivated = app.graphql(update, json!({ "id": id, "i": { "active": false } }), Some(&admin)).await;
    assert!(deactivated["errors"].is_null(), "{deactivated}");
    let create = "mutation { createUser(input: { email: \"mole@firm.test\", fullName: \"Mole\", role: ADMIN, password: \"a-long-password-1\" }) { id } }";
    // The close may be on its way already; then the send may fail, which is as good.
    let _ = socket
        .send(Message::Text(
            json!({ "id": "m", "type": "subscribe", "payload": { "query": create } }).to_string().into(),
        ))
        .await;
    assert_eq!(closed(&mut socket).await.0, 4401);
    let moles = user::Entity::find().filter(user::Column::Email.eq("mole@firm.test")).all(&app.state.db).await.unwrap();
    assert!(moles.is_empty(), "no account was created over the revoked socket");
}

/// Each operation is checked at the time it is sent, and the socket closes when its token expires.
async fn a_socket_checks_every_operation_and_closes_at_token_expiry(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.token_ttl = Duration::from_secs(3);
        c.socket_init_timeout = Duration::from_secs(1);
    })
    .await;
    let token = app.attorney("alex@firm.test").await;
    let mut socket = signed_in_socket(&app.address, &token).await;
    assert_eq!(me_over(&mut socket, "1").await["payload"]["data"]["me"]["email"], "alex@firm.test");
    assert_eq!(receive(&mut socket).await["type"], "complete");
    let started = std::time::Instant::now();
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(8), "closed at the token's expiry");

    // A client that never says connection_init is let go.
    let mut idle = connect(&app.address).await;
    let (code, _) = closed(&mut idle).await;
    assert_eq!(code, 4408);
}

/// Shape limits, message size, and abuse limits keyed on the real client address.
async fn sockets_have_the_limits_of_http(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.login = Rate::parse("1/h", 2).unwrap();
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // Signed in from another forwarded address, so that its login does not count below.
    let body = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", "198.51.100.99")
        .json(&json!({ "query": LOGIN, "variables": { "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD } }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let token = body["data"]["login"]["accessToken"].as_str().unwrap().to_owned();
    let mut socket = connect_with(&app.address, &[("x-forwarded-for", "198.51.100.7")]).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");

    let aliases: String = (0..31).map(|i| format!("a{i}: me {{ id }} ")).collect();
    for (id, query) in
        [("aliases", format!("{{ {aliases} }}")), ("long", format!("{{ me {{ id }} }} #{}", "x".repeat(33 * 1024)))]
    {
        send(&mut socket, json!({ "id": id, "type": "subscribe", "payload": { "query": query } })).await;
        let answer = receive(&mut socket).await;
        assert_eq!(answer["type"], "error", "{id}: {answer}");
        assert_eq!(answer["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{id}: {answer}");
    }
    let deep = format!("{{ __schema {{ types {{ {} name {} }} }} }}", "fields { type { ".repeat(8), "} } ".repeat(8));
    send(&mut socket, json!({ "id": "deep", "type": "subscribe", "payload": { "query": deep } })).await;
    let answer = receive(&mut socket).await;
    assert!(
        answer["payload"]["errors"][0]["message"].as_str().is_some_and(|m| m.contains("nested too deep")),
        "{answer}"
    );
    assert_eq!(receive(&mut socket).await["type"], "complete");

    // login over the socket counts against the forwarded client's allowance, shared with HTTP.
    for expected in [None, None, Some("RATE_LIMITED")] {
        send(&mut socket, json!({ "id": "login", "type": "subscribe", "payload": { "query": LOGIN, "variables": { "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD } } }))
            .await;
        let answer = receive(&mut socket).await;
        match expected {
            None => assert!(answer["payload"]["errors"].is_null(), "{answer}"),
            Some(code) => assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], code, "{answer}"),
        }
        assert_eq!(receive(&mut socket).await["type"], "complete");
    }
    let http = |xff: &'static str| {
        app.client
            .post(format!("{}/graphql", app.address))
            .header("x-forwarded-for", xff)
            .json(&json!({ "query": LOGIN, "variables": { "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD } }))
            .send()
    };
    let same: Value = http("198.51.100.7").await.unwrap().json().await.unwrap();
    assert_eq!(error_code(&same), "RATE_LIMITED", "{same}");
    let other: Value = http("198.51.100.8").await.unwrap().json().await.unwrap();
    assert!(other["errors"].is_null(), "{other}");

    // A message over 64 KiB is refused.
    socket
        .send(Message::Text(format!("{{\"type\":\"ping\",\"payload\":\"{}\"}}", "x".repeat(70 * 1024)).into()))
        .await
        .unwrap();
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 1009, "{reason}");
}

/// A bad signature, an expired token, an ended session and an unknown account all get the same
/// answer, so the answer tells an attacker nothing.
async fn token_refusals_all_read_the_same(backend: Backend) {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let app = TestApp::spawn(backend).await;
    let (token, _) = sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let claims: Value = {
        use base64::Engine;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value, secret: &str| {
        encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    };
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        sign(c, JWT_SECRET)
    };
    let bad_signature = sign(claims.clone(), "another-secret-of-enough-length-Zq4tW9xK2mP7");
    let expired = {
        let mut c = claims.clone();
        c["iat"] = json!(now - 7200);
        c["exp"] = json!(now - 3600);
        sign(c, JWT_SECRET)
    };
    let unknown_user = with("sub", json!(uuid::Uuid::now_v7().to_string()));
    let wrong_version = with("ver", json!(7));
    let unknown_sign_in = with("sid", json!(uuid::Uuid::now_v7().to_string()));
    let mut messages = Vec::new();
    for (what, bad) in [
        ("bad signature", bad_signature),
        ("expired", expired),
        ("unknown user", unknown_user),
        ("wrong version", wrong_version),
        ("unknown sign-in", unknown_sign_in),
        ("garbage", "not-a-jwt".into()),
    ] {
        let body = app.graphql("{ me { id } }", json!({}), Some(&bad)).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
        messages.push(body["errors"][0]["message"].as_str().unwrap().to_owned());
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let ok = app.graphql("{ me { email } }", json!({}), Some(&token)).await;
    assert_eq!(ok["data"]["me"]["email"], ADMIN_EMAIL, "the real token still works: {ok}");
}

/// A second password check in one operation, one batch or one socket message is refused
/// before hashing; changePassword's guesses count against the sign-in allowance.
async fn one_password_check_per_request(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.login_failures = Rate::parse("2/h", 2).unwrap()).await;
    let twice = "mutation($e: String!, $p: String!) { a: login(email: $e, password: $p) { accessToken } \
                 b: login(email: $e, password: $p) { accessToken } }";
    let body = app.graphql(twice, json!({ "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD }), None).await;
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(errors[0]["extensions"]["field"], "password");
    assert!(body["data"]["a"]["accessToken"].is_string() != body["data"]["b"]["accessToken"].is_string(), "{body}");

    let batch: Value = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!([
            { "query": LOGIN, "variables": { "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD } },
            { "query": LOGIN, "variables": { "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD } },
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused =
        batch.as_array().unwrap().iter().filter(|r| r["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT").count();
    assert_eq!(refused, 1, "{batch}");

    // changePassword's wrong guesses use up the same allowance as failed sign-ins.
    let (token, _) = sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let change =
        "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken } }";
    for _ in 0..2 {
        let body =
            app.graphql(change, json!({ "c": "a-wrong-guess-123", "n": "a-new-password-123" }), Some(&token)).await;
        assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "currentPassword"), "{body}");
    }
    let body = app.graphql(change, json!({ "c": ADMIN_PASSWORD, "n": "a-new-password-123" }), Some(&token)).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    let body = app.graphql(LOGIN, json!({ "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD }), None).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "the same address and account: {body}");
}

/// A client bound to another loopback address, as a second machine would be.
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(address.parse::<IpAddr>().unwrap()).build().unwrap()
}

/// An attacker failing from one address slows that address only; the owner signs in from
/// another. Failures from many addresses reach the account's ceiling.
async fn failed_sign_ins_slow_the_address_not_the_owner(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.login_failures = Rate::parse("3/h", 3).unwrap();
        c.limits.account_failures = Rate::parse("8/h", 8).unwrap();
        c.limits.login_backoff = std::time::Duration::from_secs(20);
    })
    .await;
    let attacker = client_from("127.0.0.1");
    let login = |client: reqwest::Client, password: &'static str| {
        let address = app.address.clone();
        async move { post_graphql(&client, &address, LOGIN, json!({ "e": ADMIN_EMAIL, "p": password }), None).await }
    };
    let mut waits = Vec::new();
    for _ in 0..6 {
        let body = login(attacker.clone(), "guess-guess-guess").await;
        match error_code(&body) {
            "UNAUTHENTICATED" => waits.push(0),
            "RATE_LIMITED" => waits.push(body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap()),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(&waits[..3], [0, 0, 0], "three failures are free: {waits:?}");
    assert!(waits[3..].iter().all(|w| (1..=20).contains(w)), "then the address waits: {waits:?}");
    let right = login(attacker.clone(), ADMIN_PASSWORD).await;
    assert_eq!(error_code(&right), "RATE_LIMITED", "even with the right password, from that address: {right}");

    let owner = client_from("127.0.0.2");
    let body = login(owner, ADMIN_PASSWORD).await;
    assert!(body["errors"].is_null(), "the owner, from elsewhere, gets in: {body}");

    // Five more addresses fail once each: the account's ceiling (8) is reached, and now every
    // address waits, the right password or not.
    for i in 3..8 {
        let body = login(client_from(&format!("127.0.0.{i}")), "guess-guess-guess").await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    }
    let body = login(client_from("127.0.0.9"), ADMIN_PASSWORD).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "the account ceiling holds for everyone: {body}");
}

/// Beyond INTAKE_ACK_PER_RECIPIENT acknowledgements in 24 h, a lead is still stored and the
/// attorneys told, but the address gets no more mail, and the lead's history says so.
async fn acknowledgements_to_one_address_are_capped(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.ack_per_recipient = 2).await;
    let mut ids = Vec::new();
    for email in ["victim@example.com", "Victim@Example.com", "VICTIM@example.com", "other@example.com"] {
        ids.push(app.submit_id(lead_input("Vic", "Tim", email)).await);
    }
    app.drain_mail().await;
    let mails = app.smtp.messages();
    let to = |address: &str| mails.iter().filter(|m| m.rcpt_to.iter().any(|t| t.eq_ignore_ascii_case(address))).count();
    assert_eq!(to("victim@example.com"), 2, "two acknowledgements, then none");
    assert_eq!(to("other@example.com"), 1);
    assert_eq!(to(ADMIN_EMAIL), 4, "the firm hears of every lead");

    let admin = app.admin_token().await;
    let history = "query($id: ID!) { lead(id: $id) { history { kind } } }";
    let kinds = |body: &Value| -> Vec<String> {
        body["data"]["lead"]["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let third = app.graphql(history, json!({ "id": ids[2] }), Some(&admin)).await;
    assert!(kinds(&third).contains(&"ACKNOWLEDGEMENT_CAPPED".to_owned()), "{third}");
    let first = app.graphql(history, json!({ "id": ids[0] }), Some(&admin)).await;
    assert!(!kinds(&first).contains(&"ACKNOWLEDGEMENT_CAPPED".to_owned()), "{first}");
}

/// Account updates, submissions and mail sends at once, for a while: none fails for a busy
/// database (SQLite: every write transaction takes the lock when it begins, and waits for it).
async fn account_updates_never_fail_for_a_busy_database(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(create_user(&app, &admin, &format!("busy{i}@firm.test"), "ATTORNEY").await);
        }
        ids
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (n, id) in ids.into_iter().enumerate() {
        let (app, admin) = (app.clone(), admin.clone());
        tasks.spawn(async move {
            let update = "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }";
            let mut codes = Vec::new();
            for round in 0..40 {
                let body = app
                    .graphql(
                        update,
                        json!({ "id": id, "i": { "fullName": format!("Name {n} {round}") } }),
                        Some(&admin),
                    )
                    .await;
                if !body["errors"].is_null() {
                    codes.push(body.to_string());
                }
            }
            codes
        });
    }
    for t in 0..3 {
        let app = app.clone();
        tasks.spawn(async move {
            let mut codes = Vec::new();
            for round in 0..25 {
                let (status, body) = app
                    .submit_lead_raw(
                        lead_input("Busy", "Bee", &format!("bee{t}.{round}@example.com")),
                        "cv.pdf",
                        crate::helpers::PDF.to_vec(),
                    )
                    .await;
                if !status.is_success() || !body["errors"].is_null() {
                    codes.push(body.to_string());
                }
                app.drain_mail().await;
            }
            codes
        });
    }
    let mut failures = Vec::new();
    while let Some(result) = tasks.join_next().await {
        failures.extend(result.unwrap());
    }
    assert!(failures.is_empty(), "{failures:?}");
    // Each lead: the acknowledgement and one notification per active attorney (four).
    assert_eq!(app.smtp.messages().len(), 75 * 5, "every mail went out");
}

/// With INTAKE_OPS_ADDR, `/metrics` and the detailed `/readyz` are on that listener only.
async fn the_operations_listener_keeps_metrics_off_the_public_port(backend: Backend) {
    let app = TestApp::spawn_with(backend.clone(), |c| c.ops_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let ops = app.ops_address.clone().expect("an operations listener");
    let get = |url: String| {
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    assert_eq!(get(format!("{}/metrics", app.address)).await.status(), 404);
    let public = get(format!("{}/readyz", app.address)).await;
    assert_eq!(public.status(), 200);
    assert_eq!(public.text().await.unwrap(), "", "a bare status code");
    let metrics = get(format!("{ops}/metrics")).await;
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("intake_db_statements_total"));
    let ready: Value = get(format!("{ops}/readyz")).await.json().await.unwrap();
    assert_eq!((&ready["status"], &ready["database"]["status"]), (&json!("ready"), &json!("ok")), "{ready}");
    assert!(app.client.post(format!("{ops}/graphql")).send().await.unwrap().status().is_client_error(), "no API there");

    // Without it nothing moves, and the public report names no error text.
    let plain = TestApp::spawn(backend).await;
    let ready: Value =
        plain.client.get(format!("{}/readyz", plain.address)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["database"], json!({ "status": "ok" }), "{ready}");
    assert_eq!(plain.client.get(format!("{}/metrics", plain.address)).send().await.unwrap().status(), 200);
}

/// Two API processes on one PostgreSQL database give the configured allowance, not twice it.
#[tokio::test]
#[cfg_attr(not(intake_postgres), ignore = "no PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432")]
async fn replicas_share_one_submit_allowance() {
    let backend = Backend::postgres();
    let app = TestApp::spawn_with(backend, |c| c.limits.submit = Rate::parse("1/h", 2).unwrap()).await;
    let replica = app.replica().await;
    let submit = |base: String| {
        let form = crate::helpers::submit_form(
            lead_input("Ada", "Lovelace", "ada@example.com"),
            "cv.pdf",
            crate::helpers::PDF.to_vec(),
        );
        let client = app.client.clone();
        async move {
            client.post(format!("{base}/graphql")).multipart(form).send().await.unwrap().json::<Value>().await.unwrap()
        }
    };
    assert!(submit(app.address.clone()).await["errors"].is_null());
    assert!(submit(replica.address.clone()).await["errors"].is_null());
    for base in [&app.address, &replica.address] {
        let body = submit(base.clone()).await;
        assert_eq!(error_code(&body), "RATE_LIMITED", "{base}: {body}");
    }
}

/// Made-up methods and paths add no series to `/metrics` (a process of its own, so that no
/// other test's requests change the count).
#[tokio::test]
async fn made_up_methods_and_paths_add_no_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_intake"));
    command
        .arg("serve")
        .env_clear()
        .env("INTAKE_DATA_DIR", dir.path())
        .env("INTAKE_ADDR", format!("127.0.0.1:{port}"))
        .env("INTAKE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stderr(std::process::Stdio::null());
    let _server = crate::helpers::KillOnDrop(command.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "intake serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let method = |name: String| reqwest::Method::from_bytes(name.as_bytes()).unwrap();
    // Every series a made-up request can touch exists once before counting.
    for path in ["/graphql", "/nowhere"] {
        client.request(method("WARMUP".into()), format!("{base}{path}")).send().await.unwrap();
    }
    client.get(format!("{base}/metrics")).send().await.unwrap();
    let series = || async {
        let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && l.starts_with("intake_http"))
            .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    let before = series().await;
    for i in 0..1000 {
        let path = if i % 2 == 0 { "/graphql".to_owned() } else { format!("/made-up-{i}") };
        client.request(method(format!("M{i}")), format!("{base}{path}")).send().await.unwrap();
    }
    let after = series().await;
    assert_eq!(before, after);
    assert!(!after.iter().any(|s| s.contains("M99") || s.contains("made-up")), "{after:?}");
}

/// Published, placeholder and low-entropy signing secrets stop `serve` and `worker` at once.
#[test]
fn known_and_weak_secrets_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (command, secret) in [
        ("serve", "compose-placeholder-secret-change-me-in-dot-env"),
        ("worker", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("serve", "0123456789abcd0123456789abcd0123456789"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
            .arg(command)
            .env_clear()
            .env("INTAKE_DATA_DIR", dir.path())
            .env("INTAKE_JWT_SECRET", secret)
            .env("INTAKE_ADDR", "127.0.0.1:0")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{command} with {secret}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("INTAKE_JWT_SECRET"), "{stderr}");
        assert!(!stderr.contains(secret), "the secret is not echoed: {stderr}");
    }
}

/// subscriptions-transport-ws (subprotocol `graphql-ws`), as older Apollo clients speak it:
/// the same sign-in and the same end of access.
async fn the_legacy_protocol_is_checked_the_same_way(backend: Backend) {
    use tokio_tungstenite::{connect_async, tungstenite::client::IntoClientRequest};
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = create_user(&app, &admin, "old@firm.test", "ATTORNEY").await;
    let (token, _) = sign_in(&app, "old@firm.test", "a-long-password-1").await;
    let mut request = (app.address.replacen("http://", "ws://", 1) + "/graphql").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-ws".parse().unwrap());
    let (mut socket, response) = connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-ws");
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authToken": token } })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "1", "type": "start", "payload": { "query": "{ me { email } }" } })).await;
    let data = receive(&mut socket).await;
    assert_eq!((&data["type"], &data["payload"]["data"]["me"]["email"]), (&json!("data"), &json!("old@firm.test")));
    assert_eq!(receive(&mut socket).await["type"], "complete");
    let update = "mutation($id: ID!) { updateUser(id: $id, input: { active: false }) { id } }";
    assert!(app.graphql(update, json!({ "id": id }), Some(&admin)).await["errors"].is_null());
    assert_eq!(closed(&mut socket).await.0, 4401);
}
