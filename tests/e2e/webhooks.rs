//! Signed webhooks, verified as a receiver would with the Standard Webhooks algorithm.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use api::infra::outbound::OutboundSettings;
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    helpers::{Backend, PDF, TestApp, error_code, error_field, later, lead_input},
    on_both_backends,
};

on_both_backends!(
    deliveries_are_signed_retried_and_redelivered,
    a_gone_endpoint_is_deactivated_and_a_silent_one_delays_nothing,
    private_addresses_are_refused_unless_allowed,
    a_delivery_is_dead_when_its_attempts_run_out,
    deliveries_due_together_are_claimed_in_writing_order,
    each_kind_of_change_is_delivered_once_per_change,
);

#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A receiver in the test: records every request and answers with the statuses queued, then 200.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start(path_host: &str) -> (Self, String) {
        let receiver = Self::default();
        let app = Router::new().route("/hook", post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, format!("http://{path_host}:{port}/hook"))
    }

    fn answer(&self, status: u16) {
        self.answers.lock().unwrap().push_back(status);
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.received().len() < n {
            assert!(Instant::now() < deadline, "{n} deliveries did not arrive: {:?}", self.received().len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.received()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver.received.lock().unwrap().push(Received { headers, body: body.to_vec() });
    let status = receiver.answers.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

/// The Standard Webhooks verification: some `v1,` signature in the header is the HMAC-SHA256,
/// keyed with the base64 after `whsec_`, of `id.timestamp.body`.
fn verifies(secret: &str, delivery: &Received) -> bool {
    let header = |name: &str| delivery.headers[name].to_str().unwrap().to_owned();
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
    mac.update(&delivery.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header("webhook-signature").split(' ').any(|sig| sig == expected)
}

fn payload(delivery: &Received) -> Value {
    serde_json::from_slice(&delivery.body).unwrap()
}

const CREATE: &str = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
    secret endpoint { id url events active description } } }";
const DELIVERIES: &str = "{ webhookEndpoints { id active deliveries { nodes { id event state attempts responseStatus lastError deliveredAt } } } }";

async fn open_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| c.webhooks.outbound = OutboundSettings { allow_http: true, allow_private: true })
        .await
}

async fn create(app: &TestApp, admin: &str, url: &str, events: Value) -> (String, String) {
    let body = app.graphql(CREATE, json!({ "i": { "url": url, "events": events } }), Some(admin)).await;
    assert!(body["errors"].is_null(), "{body}");
    let created = &body["data"]["createWebhookEndpoint"];
    (created["endpoint"]["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

async fn deliveries(app: &TestApp, admin: &str) -> Value {
    let body = app.graphql(DELIVERIES, json!({}), Some(admin)).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["webhookEndpoints"].clone()
}

async fn deliveries_are_signed_retried_and_redelivered(backend: Backend) {
    let app = open_app(backend).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    let (receiver, url) = Receiver::start("127.0.0.1").await;
    let body = app.graphql(CREATE, json!({ "i": { "url": url, "events": ["LEAD_SUBMITTED"] } }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let (endpoint, secret) = create(&app, &admin, &url, json!(["LEAD_SUBMITTED", "LEAD_STATUS_CHANGED"])).await;
    assert!(secret.starts_with("whsec_"));
    let listed = app.graphql("{ webhookEndpoints { secret } }", json!({}), Some(&admin)).await;
    assert_eq!(error_code(&listed), "GRAPHQL_VALIDATION_FAILED", "the secret is shown once: {listed}");

    receiver.answer(500);
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let dispatcher = app.state.dispatcher();
    let report = dispatcher.deliver_due(api::infra::clock::now()).await.unwrap();
    assert_eq!((report.delivered, report.failed), (0, 1));
    let listed = deliveries(&app, &admin).await;
    let first = &listed[0]["deliveries"]["nodes"][0];
    assert_eq!((first["state"].as_str(), first["attempts"].as_i64()), (Some("FAILED"), Some(1)), "{first}");
    assert_eq!(first["responseStatus"], 500);

    let report = dispatcher.deliver_due(later(Duration::from_secs(3600))).await.unwrap();
    assert_eq!(report.delivered, 1);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    for delivery in &got {
        assert!(verifies(&secret, delivery), "every attempt verifies: {:?}", delivery.headers);
    }
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"], "one id across retries");
    assert_eq!(got[0].headers["webhook-id"].to_str().unwrap(), first["id"].as_str().unwrap());
    assert_ne!(got[0].headers["webhook-timestamp"], got[1].headers["webhook-timestamp"], "signed afresh");
    let event = payload(&got[1]);
    assert_eq!(event["type"], "lead.submitted");
    assert!(event["timestamp"].is_string());
    assert_eq!(event["data"]["id"], id);
    assert_eq!(event["data"]["email"], "ada@example.com");
    assert_eq!(event["data"]["status"], "PENDING");
    let link = event["data"]["resume"]["downloadUrl"].as_str().unwrap();
    let download = app.client.get(link).send().await.unwrap();
    assert_eq!(download.status(), 200, "the link in a delivery works for the receiver");
    assert_eq!(download.bytes().await.unwrap().as_ref(), PDF);
    let log = app
        .graphql(
            "query($id: ID!) { lead(id: $id) { accessLog { kind actor { kind integrationId } } } }",
            json!({ "id": id }),
            Some(&admin),
        )
        .await;
    assert_eq!(
        log["data"]["lead"]["accessLog"][0]["actor"],
        json!({ "kind": "INTEGRATION", "integrationId": endpoint }),
        "{log}"
    );

    // Subscribed events only: an assignment goes nowhere, a status change does.
    let (attorney_id, _) = app.attorney_with_id("bo@firm.test").await;
    let assign = "mutation($id: ID!, $u: ID) { assignLead(id: $id, userId: $u) { id } }";
    assert!(app.graphql(assign, json!({ "id": id, "u": attorney_id }), Some(&admin)).await["errors"].is_null());
    let status = "mutation($id: ID!) { updateLeadStatus(id: $id, status: REACHED_OUT) { id } }";
    assert!(app.graphql(status, json!({ "id": id }), Some(&attorney)).await["errors"].is_null());
    dispatcher.deliver_due(api::infra::clock::now()).await.unwrap();
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(payload(&got[2])["type"], "lead.status_changed");
    assert_eq!(payload(&got[2])["data"]["status"], "REACHED_OUT");

    // By hand, again, under the same id.
    let redeliver = "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { state attempts } }";
    let again = app.graphql(redeliver, json!({ "d": first["id"] }), Some(&admin)).await;
    assert_eq!(again["data"]["redeliverWebhook"], json!({ "state": "PENDING", "attempts": 0 }), "{again}");
    dispatcher.deliver_due(api::infra::clock::now()).await.unwrap();
    let got = receiver.received();
    assert_eq!(got[3].headers["webhook-id"], got[0].headers["webhook-id"]);

    // A rotation with grace: both secrets sign until it ends; without, only the new one.
    let rotate = "mutation($id: ID!, $g: Int) { rotateWebhookSecret(id: $id, graceSeconds: $g) { secret } }";
    let rotated = app.graphql(rotate, json!({ "id": endpoint, "g": 3600 }), Some(&admin)).await;
    let new_secret = rotated["data"]["rotateWebhookSecret"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    app.graphql(redeliver, json!({ "d": first["id"] }), Some(&admin)).await;
    dispatcher.deliver_due(api::infra::clock::now()).await.unwrap();
    let during = &receiver.received()[4];
    assert_eq!(during.headers["webhook-signature"].to_str().unwrap().split(' ').count(), 2);
    assert!(verifies(&secret, during) && verifies(&new_secret, during), "old and new receivers both verify");
    let rotated = app.graphql(rotate, json!({ "id": endpoint, "g": 0 }), Some(&admin)).await;
    let newest = rotated["data"]["rotateWebhookSecret"]["secret"].as_str().unwrap().to_owned();
    app.graphql(redeliver, json!({ "d": first["id"] }), Some(&admin)).await;
    dispatcher.deliver_due(api::infra::clock::now()).await.unwrap();
    let after = &receiver.received()[5];
    assert!(verifies(&newest, after) && !verifies(&new_secret, after));
    let body = app.graphql(rotate, json!({ "id": endpoint, "g": -1 }), Some(&admin)).await;
    assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "graceSeconds"));

    // An erasure is announced with the lead's id and nothing else.
    let update = "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { events: [LEAD_ERASED], description: \"CRM\" }) { events description active } }";
    let updated = app.graphql(update, json!({ "id": endpoint }), Some(&admin)).await;
    assert_eq!(
        updated["data"]["updateWebhookEndpoint"],
        json!({ "events": ["LEAD_ERASED"], "description": "CRM", "active": true })
    );
    let erase = "mutation($id: ID!) { eraseLead(id: $id, reason: \"request\") { reason } }";
    assert!(app.graphql(erase, json!({ "id": id }), Some(&admin)).await["errors"].is_null());
    dispatcher.deliver_due(api::infra::clock::now()).await.unwrap();
    let erased = payload(&receiver.received()[6]);
    assert_eq!(erased["type"], "lead.erased");
    assert_eq!(erased["data"], json!({ "id": id }));
    let delete = "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }";
    assert_eq!(
        app.graphql(delete, json!({ "id": endpoint }), Some(&admin)).await["data"]["deleteWebhookEndpoint"],
        true
    );
    assert_eq!(deliveries(&app, &admin).await, json!([]));
}

async fn a_gone_endpoint_is_deactivated_and_a_silent_one_delays_nothing(backend: Backend) {
    let app = open_app(backend).await;
    let admin = app.admin_token().await;
    let (gone, gone_url) = Receiver::start("127.0.0.1").await;
    let (healthy, healthy_url) = Receiver::start("127.0.0.1").await;
    // Takes the connection and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    gone.answer(410);
    create(&app, &admin, &gone_url, json!(["LEAD_SUBMITTED"])).await;
    create(&app, &admin, &silent_url, json!(["LEAD_SUBMITTED"])).await;
    create(&app, &admin, &healthy_url, json!(["LEAD_SUBMITTED"])).await;
    app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;

    let dispatcher = app.state.dispatcher();
    let pass = tokio::spawn(async move { dispatcher.deliver_due(api::infra::clock::now()).await.unwrap() });
    healthy.wait_for(1).await;
    assert_eq!(app.drain_mail().await.sent, 2, "mail goes out meanwhile");
    assert!(!pass.is_finished(), "the silent endpoint is still being waited for, and held up neither");
    let report = pass.await.unwrap();
    assert_eq!((report.delivered, report.failed, report.dead), (1, 1, 1));

    let listed = deliveries(&app, &admin).await;
    assert_eq!(listed[0]["active"], false, "410 Gone deactivates: {listed}");
    assert_eq!(listed[0]["deliveries"]["nodes"][0]["state"], "DEAD");
    assert_eq!(listed[1]["deliveries"]["nodes"][0]["state"], "FAILED");
    assert!(listed[1]["deliveries"]["nodes"][0]["lastError"].as_str().unwrap().contains("timed out"), "{listed}");
    assert_eq!(listed[2]["deliveries"]["nodes"][0]["state"], "DELIVERED");
    app.submit_id(lead_input("Bo", "Brown", "bo@example.com")).await;
    app.state.dispatcher().deliver_due(api::infra::clock::now()).await.unwrap();
    assert_eq!(gone.received().len(), 1, "nothing more to a deactivated endpoint");
}

async fn private_addresses_are_refused_unless_allowed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.webhooks.outbound.allow_http = true).await;
    let admin = app.admin_token().await;
    let (receiver, url) = Receiver::start("127.0.0.1").await;
    let body = app.graphql(CREATE, json!({ "i": { "url": url, "events": ["LEAD_SUBMITTED"] } }), Some(&admin)).await;
    assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "url"), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("private"), "{body}");
    for bad in ["http://169.254.169.254/latest/meta-data", "http://[::1]/x", "ftp://hooks.example.com/x", "not a url"] {
        let body =
            app.graphql(CREATE, json!({ "i": { "url": bad, "events": ["LEAD_SUBMITTED"] } }), Some(&admin)).await;
        assert_eq!(error_field(&body), "url", "{bad}: {body}");
    }
    let body =
        app.graphql(CREATE, json!({ "i": { "url": "https://hooks.example.com/x", "events": [] } }), Some(&admin)).await;
    assert_eq!(error_field(&body), "events", "{body}");

    // A name is checked when it is resolved, at every delivery: localhost resolves to 127.0.0.1.
    let by_name = url.replace("127.0.0.1", "localhost");
    create(&app, &admin, &by_name, json!(["LEAD_SUBMITTED"])).await;
    app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let report = app.state.dispatcher().deliver_due(api::infra::clock::now()).await.unwrap();
    assert_eq!(report.failed, 1);
    assert!(receiver.received().is_empty(), "nothing reached the private address");
    let listed = deliveries(&app, &admin).await;
    let error = listed[0]["deliveries"]["nodes"][0]["lastError"].as_str().unwrap().to_owned();
    assert!(error.contains("private"), "{error}");

    let strict = TestApp::spawn(Backend::Sqlite).await;
    let admin = strict.admin_token().await;
    let body = strict
        .graphql(
            CREATE,
            json!({ "i": { "url": "http://hooks.example.com/x", "events": ["LEAD_SUBMITTED"] } }),
            Some(&admin),
        )
        .await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("https"), "{body}");
}

async fn a_delivery_is_dead_when_its_attempts_run_out(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.webhooks.outbound = OutboundSettings { allow_http: true, allow_private: true };
        c.webhooks.max_attempts = 2;
    })
    .await;
    let admin = app.admin_token().await;
    let (receiver, url) = Receiver::start("127.0.0.1").await;
    receiver.answer(503);
    receiver.answer(502);
    create(&app, &admin, &url, json!(["LEAD_SUBMITTED"])).await;
    app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let dispatcher = app.state.dispatcher();
    assert_eq!(dispatcher.deliver_due(api::infra::clock::now()).await.unwrap().failed, 1);
    // Not due again before its backoff.
    assert_eq!(dispatcher.deliver_due(api::infra::clock::now()).await.unwrap(), Default::default());
    assert_eq!(dispatcher.deliver_due(later(Duration::from_secs(3600))).await.unwrap().dead, 1);
    let dead = "{ webhookEndpoints { deliveries(state: DEAD) { nodes { state attempts responseStatus lastError } } } }";
    let body = app.graphql(dead, json!({}), Some(&admin)).await;
    assert_eq!(
        body["data"]["webhookEndpoints"][0]["deliveries"]["nodes"][0],
        json!({ "state": "DEAD", "attempts": 2, "responseStatus": 502, "lastError": "HTTP 502" })
    );
    assert_eq!(dispatcher.deliver_due(later(Duration::from_secs(86_400))).await.unwrap(), Default::default());
    assert_eq!(receiver.received().len(), 2, "nothing after it is dead");
}

/// Two deliveries of one endpoint due at the same instant are taken in the order they were
/// written (their UUIDv7 ids), so its receiver sees them in order. The later one is inserted
/// first, so that the table's own order would give it first.
async fn deliveries_due_together_are_claimed_in_writing_order(backend: Backend) {
    use api::infra::lease;
    use entity::webhook_delivery::{self, DeliveryState};
    use sea_orm::{ActiveModelTrait, Condition, IntoActiveModel};

    let app = open_app(backend).await;
    let admin = app.admin_token().await;
    let lead = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await.parse().unwrap();
    let (_receiver, url) = Receiver::start("127.0.0.1").await;
    let (endpoint, _) = create(&app, &admin, &url, json!(["LEAD_STATUS_CHANGED"])).await;
    let now = api::infra::clock::now();
    let delivery = |id| webhook_delivery::Model {
        id,
        endpoint_id: endpoint.parse().unwrap(),
        lead_id: lead,
        event: "LEAD_STATUS_CHANGED".into(),
        occurred_at: now,
        state: DeliveryState::Pending,
        attempts: 0,
        run_at: now,
        locked_until: None,
        response_status: None,
        last_error: None,
        created_at: now,
        delivered_at: None,
    };
    let (first, second) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    assert!(first < second);
    for id in [second, first] {
        delivery(id).into_active_model().insert(&app.state.db).await.unwrap();
    }
    let mut claimed = Vec::new();
    for _ in 0..2 {
        let rows = lease::claim::<webhook_delivery::Entity>(&app.state.db, Condition::all(), now, lease::LEASE, 1)
            .await
            .unwrap();
        claimed.extend(rows.into_iter().map(|row| row.id));
    }
    assert_eq!(claimed, [first, second], "claimed in the order written");
}

async fn each_kind_of_change_is_delivered_once_per_change(backend: Backend) {
    let app = open_app(backend).await;
    let admin = app.admin_token().await;
    let (attorney_id, attorney) = app.attorney_with_id("alex@firm.test").await;
    let (receiver, url) = Receiver::start("127.0.0.1").await;
    let (_, secret) = create(&app, &admin, &url, json!(["LEAD_UPDATED", "LEAD_ASSIGNED", "LEAD_OUTCOME_SET"])).await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let dispatcher = app.state.dispatcher();
    let report = dispatcher.deliver_due(api::infra::clock::now()).await.unwrap();
    assert_eq!(report.delivered, 0, "not subscribed to LEAD_SUBMITTED");

    // A correction that also replaces the résumé records two history events: one delivery.
    let fix =
        "mutation($id: ID!, $f: Upload) { updateLead(id: $id, input: { lastName: \"Byron\" }, resume: $f) { id } }";
    let fixed =
        app.graphql_with_file(fix, json!({ "id": id, "f": null }), "f", ("new.pdf", PDF.to_vec()), &attorney).await;
    assert!(fixed["errors"].is_null(), "{fixed}");
    let note = "mutation($id: ID!) { addLeadNote(leadId: $id, body: \"Called back\") { body } }";
    assert!(app.graphql(note, json!({ "id": id }), Some(&attorney)).await["errors"].is_null());
    let assign = "mutation($id: ID!, $u: ID) { assignLead(id: $id, userId: $u) { id } }";
    assert!(app.graphql(assign, json!({ "id": id, "u": attorney_id }), Some(&admin)).await["errors"].is_null());
    let outcome = "mutation($id: ID!) { setLeadOutcome(id: $id, outcome: CONSULTATION_SCHEDULED) { outcome } }";
    assert!(app.graphql(outcome, json!({ "id": id }), Some(&attorney)).await["errors"].is_null());
    // The same outcome again changes nothing, so it announces nothing.
    assert!(app.graphql(outcome, json!({ "id": id }), Some(&attorney)).await["errors"].is_null());

    let report = dispatcher.deliver_due(api::infra::clock::now()).await.unwrap();
    assert_eq!(report.delivered, 4);
    let got = receiver.received();
    let types: Vec<Value> = got.iter().map(|d| payload(d)["type"].clone()).collect();
    assert_eq!(
        types,
        ["lead.updated", "lead.updated", "lead.assigned", "lead.outcome_set"],
        "in the order of the changes"
    );
    for delivery in &got {
        assert!(verifies(&secret, delivery));
        let data = payload(delivery)["data"].clone();
        assert_eq!(data["id"], id);
        assert_eq!(data["lastName"], "Byron", "the lead as it is when delivered: {data}");
        assert_eq!(data["resume"]["fileName"], "new.pdf", "{data}");
    }
    assert_eq!(payload(&got[3])["data"]["outcome"], "CONSULTATION_SCHEDULED");
    let ids: std::collections::HashSet<_> = got.iter().map(|d| d.headers["webhook-id"].clone()).collect();
    assert_eq!(ids.len(), 4, "each delivery has its own id");
}
