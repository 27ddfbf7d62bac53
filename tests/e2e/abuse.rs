//! Abuse limits, the honeypot and idempotent retries of the public form.

use std::time::Duration;

use api::{app::config::Config, infra::limits::Rate};
use entity::{email_job, lead};
use sea_orm::{ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, Statement};
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PDF, TestApp, error_code, error_field, lead_input, submit_form},
    on_both_backends,
};

on_both_backends!(
    submissions_are_rate_limited_per_client_and_recover,
    forwarded_addresses_count_only_behind_trusted_proxies,
    sign_ins_are_limited_per_address_and_per_account,
    the_honeypot_stores_and_sends_nothing,
    a_retried_submission_creates_nothing_new,
    a_burst_with_racing_retries_gives_each_its_own_answer,
);

async fn leads(app: &TestApp) -> u64 {
    lead::Entity::find().count(&app.state.db).await.unwrap()
}

/// `submitLead` as the multipart spec sends it, with extra headers.
async fn submit_as(app: &TestApp, input: Value, forwarded_for: Option<&str>) -> (reqwest::header::HeaderMap, Value) {
    let form = submit_form(input, "cv.pdf", PDF.to_vec());
    let mut request = app.client.post(format!("{}/graphql", app.address)).multipart(form);
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    let response = request.send().await.unwrap();
    (response.headers().clone(), response.json().await.unwrap())
}

async fn submissions_are_rate_limited_per_client_and_recover(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.submit = Rate::parse("1/s", 2).unwrap()).await;
    for _ in 0..2 {
        let (_, body) = submit_as(&app, lead_input("Ada", "Lovelace", "ada@example.com"), None).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let (headers, limited) = submit_as(&app, lead_input("Ada", "Lovelace", "ada@example.com"), None).await;
    assert_eq!(error_code(&limited), "RATE_LIMITED", "{limited}");
    let retry_after = limited["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((1..=2).contains(&retry_after), "{limited}");
    assert_eq!(headers["retry-after"], retry_after.to_string().as_str());
    assert_eq!(leads(&app).await, 2, "the refused submission stored nothing");

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (_, again) = submit_as(&app, lead_input("Ada", "Lovelace", "ada@example.com"), None).await;
    assert!(again["errors"].is_null(), "the allowance refills: {again}");
    assert_eq!(leads(&app).await, 3);

    // PostgreSQL keeps the allowances out of the write-ahead log: submissions from one address
    // would otherwise queue on its row for one log flush each.
    if app.state.db.get_database_backend() == DatabaseBackend::Postgres {
        let persistence = "SELECT relpersistence::text AS p FROM pg_class WHERE relname = 'rate_limits'";
        let row = app.state.db.query_one_raw(Statement::from_string(DatabaseBackend::Postgres, persistence)).await;
        assert_eq!(row.unwrap().unwrap().try_get::<String>("", "p").unwrap(), "u", "rate_limits is not UNLOGGED");
    }
}

async fn forwarded_addresses_count_only_behind_trusted_proxies(backend: Backend) {
    let limit = |c: &mut Config| c.limits.submit = Rate::parse("1/h", 1).unwrap();
    // Not behind a trusted proxy: X-Forwarded-For is the client's own claim and is ignored.
    let app = TestApp::spawn_with(backend.clone(), limit).await;
    let input = || lead_input("Ada", "Lovelace", "ada@example.com");
    assert!(submit_as(&app, input(), Some("198.51.100.1")).await.1["errors"].is_null());
    assert_eq!(error_code(&submit_as(&app, input(), Some("198.51.100.2")).await.1), "RATE_LIMITED");

    // Behind one: each forwarded client has its own allowance.
    let app = TestApp::spawn_with(backend, |c| {
        limit(c);
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()];
    })
    .await;
    assert!(submit_as(&app, input(), Some("198.51.100.1")).await.1["errors"].is_null());
    assert!(submit_as(&app, input(), Some("198.51.100.2")).await.1["errors"].is_null());
    assert_eq!(error_code(&submit_as(&app, input(), Some("198.51.100.2")).await.1), "RATE_LIMITED");
    // A client cannot dodge the limit by prepending addresses: the proxy appends the real one.
    assert_eq!(error_code(&submit_as(&app, input(), Some("203.0.113.50, 198.51.100.2")).await.1), "RATE_LIMITED");
}

async fn sign_ins_are_limited_per_address_and_per_account(backend: Backend) {
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";
    let app = TestApp::spawn_with(backend.clone(), |c| c.limits.login_failures = Rate::parse("3/h", 3).unwrap()).await;
    app.attorney("alex@firm.test").await;
    for _ in 0..3 {
        let body = app.graphql(login, json!({ "e": ADMIN_EMAIL, "p": "guess-guess-guess" }), None).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    // This address waits now at this account (INTAKE_LOGIN_BACKOFF, 30 s at first), even with
    // the right password...
    let locked = app.graphql(login, json!({ "e": ADMIN_EMAIL.to_uppercase(), "p": ADMIN_PASSWORD }), None).await;
    assert_eq!(error_code(&locked), "RATE_LIMITED", "{locked}");
    assert!((1..=30).contains(&locked["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap()), "{locked}");
    // ...while other accounts sign in as usual.
    let other = app.graphql(login, json!({ "e": "alex@firm.test", "p": "attorney-password-1" }), None).await;
    assert!(other["errors"].is_null(), "{other}");

    let app = TestApp::spawn_with(backend, |c| c.limits.login = Rate::parse("2/h", 2).unwrap()).await;
    for _ in 0..2 {
        assert!(app.graphql(login, json!({ "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD }), None).await["errors"].is_null());
    }
    let body = app.graphql(login, json!({ "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD }), None).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
}

async fn the_honeypot_stores_and_sends_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut input = lead_input("Spam", "Bot", "bot@spam.example");
    input["website"] = json!("https://cheap-pills.example");
    let body = app.submit_lead(input, "cv.pdf", PDF.to_vec()).await;
    let receipt = &body["data"]["submitLead"];
    assert_eq!(receipt["status"], "PENDING", "looks accepted: {body}");
    assert!(receipt["id"].as_str().is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()));
    assert_eq!(leads(&app).await, 0);
    assert_eq!(email_job::Entity::find().count(&app.state.db).await.unwrap(), 0);
    assert_eq!(std::fs::read_dir(app.data_dir().join("uploads/resumes")).map(|d| d.count()).unwrap_or(0), 0);

    let mut human = lead_input("Ada", "Lovelace", "ada@example.com");
    human["website"] = json!("  ");
    app.submit_lead(human, "cv.pdf", PDF.to_vec()).await;
    assert_eq!(leads(&app).await, 1, "an empty honeypot is a person");
}

async fn a_retried_submission_creates_nothing_new(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = uuid::Uuid::new_v4().to_string();
    let mut input = lead_input("Ada", "Lovelace", "ada@example.com");
    input["clientSubmissionId"] = json!(key);
    let first = app.submit_lead(input.clone(), "cv.pdf", PDF.to_vec()).await["data"]["submitLead"].clone();
    let second = app.submit_lead(input.clone(), "cv.pdf", PDF.to_vec()).await["data"]["submitLead"].clone();
    assert_eq!(first, second, "the same receipt");
    // Retries racing each other still make one lead.
    let (a, b, c) = tokio::join!(
        app.submit_lead(input.clone(), "cv.pdf", PDF.to_vec()),
        app.submit_lead(input.clone(), "cv.pdf", PDF.to_vec()),
        app.submit_lead(input.clone(), "cv.pdf", PDF.to_vec()),
    );
    for body in [a, b, c] {
        assert_eq!(body["data"]["submitLead"], first, "{body}");
    }
    assert_eq!(leads(&app).await, 1);
    assert_eq!(email_job::Entity::find().count(&app.state.db).await.unwrap(), 2, "no second emails");
    assert_eq!(std::fs::read_dir(app.data_dir().join("uploads/resumes")).unwrap().count(), 1, "no stray files");

    input["clientSubmissionId"] = json!("not-a-uuid");
    let (_, bad) = app.submit_lead_raw(input, "cv.pdf", PDF.to_vec()).await;
    assert_eq!((error_code(&bad), error_field(&bad)), ("BAD_USER_INPUT", "clientSubmissionId"), "{bad}");
}

/// Leads that arrive together are written together (api/src/lead_writer.rs). Racing retries of
/// one new submission in the same burst make the shared write fail; every other lead must still
/// be written, and every retry must get the one receipt.
async fn a_burst_with_racing_retries_gives_each_its_own_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = uuid::Uuid::new_v4().to_string();
    let mut retried = lead_input("Ada", "Lovelace", "ada@example.com");
    retried["clientSubmissionId"] = json!(key);
    let submissions = (0..30)
        .map(|i| lead_input("Grace", &format!("Hopper{i}"), &format!("grace{i}@example.com")))
        .chain(std::iter::repeat_n(retried, 5));
    let bodies =
        futures_util::future::join_all(submissions.map(|input| app.submit_lead(input, "cv.pdf", PDF.to_vec()))).await;
    let ids: Vec<&str> = bodies.iter().map(|b| b["data"]["submitLead"]["id"].as_str().unwrap()).collect();
    let retry_ids: std::collections::HashSet<_> = ids[30..].iter().collect();
    assert_eq!(retry_ids.len(), 1, "every retry gets the one receipt: {ids:?}");
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 31);
    assert_eq!(leads(&app).await, 31);
    assert_eq!(email_job::Entity::find().count(&app.state.db).await.unwrap(), 62);
    assert_eq!(std::fs::read_dir(app.data_dir().join("uploads/resumes")).unwrap().count(), 31, "no stray files");
}
