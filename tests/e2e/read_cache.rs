//! Answers kept for repeated queries (`http/answers.rs`) and remembered sign-ins: reused while
//! nothing changes, never after a change made through Intake, in this process or (PostgreSQL)
//! another replica, and not past `INTAKE_READ_CACHE_MS` for changes made behind its back.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use entity::{email_job, lead, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, error_code, lead_input, post_graphql},
    on_both_backends,
};

on_both_backends!(
    repeated_queries_are_served_from_memory_until_a_change,
    changes_made_behind_its_back_show_within_the_age_limit,
    replicas_hear_each_others_changes,
    kept_answers_stay_within_their_byte_budget,
    the_staff_told_of_a_lead_follow_account_changes_at_once,
    a_remembered_sign_in_outlives_submissions_but_not_account_changes
);

const LIST: &str = "{ leads(first: 20) { edges { node { id firstName status } } } }";
const HISTORY: &str = "query($id: ID!) { lead(id: $id) { history { kind } } }";

fn refused(body: &Value) -> bool {
    body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
}

/// Deactivates an account in SQL, behind Intake's back: no process hears of it.
async fn deactivate_by_hand(app: &TestApp, email: &str) {
    let mut account = user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    account.active = Set(false);
    account.update(&app.state.db).await.unwrap();
}

fn names(body: &Value) -> Vec<String> {
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["leads"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["node"]["firstName"].as_str().unwrap(), e["node"]["status"].as_str().unwrap()))
        .collect()
}

async fn repeated_queries_are_served_from_memory_until_a_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alex_id, alex) = app.attorney_with_id("alex@firm.test").await;
    let bea = app.attorney("bea@firm.test").await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;

    let first = app.graphql(LIST, json!({}), Some(&alex)).await;
    let before = app.state.statements.load(Ordering::SeqCst);
    let again = app.graphql(LIST, json!({}), Some(&alex)).await;
    assert_eq!(app.state.statements.load(Ordering::SeqCst), before, "the repeated list ran SQL");
    assert_eq!(again, first);
    assert_eq!(names(&again), ["Ada PENDING"]);

    // Each account has its own answers.
    let me = "{ me { email } }";
    assert_eq!(app.graphql(me, json!({}), Some(&alex)).await["data"]["me"]["email"], "alex@firm.test");
    assert_eq!(app.graphql(me, json!({}), Some(&bea)).await["data"]["me"]["email"], "bea@firm.test");
    assert_eq!(app.graphql(me, json!({}), Some(&alex)).await["data"]["me"]["email"], "alex@firm.test");

    // A change made through the API shows at once, to whoever asks next.
    let reached = "mutation($id: ID!) { updateLeadStatus(id: $id, status: REACHED_OUT) { id } }";
    assert!(app.graphql(reached, json!({ "id": id }), Some(&bea)).await["errors"].is_null());
    assert_eq!(names(&app.graphql(LIST, json!({}), Some(&alex)).await), ["Ada REACHED_OUT"]);
    app.submit_id(lead_input("Grace", "Hopper", "grace@example.com")).await;
    assert_eq!(names(&app.graphql(LIST, json!({}), Some(&alex)).await), ["Grace PENDING", "Ada REACHED_OUT"]);

    // So do the mail worker's changes.
    let kinds = |body: Value| body["data"]["lead"]["history"].to_string();
    let unsent = kinds(app.graphql(HISTORY, json!({ "id": id }), Some(&alex)).await);
    assert!(!unsent.contains("EMAIL_SENT"), "{unsent}");
    app.drain_mail().await;
    let sent = kinds(app.graphql(HISTORY, json!({ "id": id }), Some(&alex)).await);
    assert!(sent.contains("EMAIL_SENT"), "{sent}");

    // A deactivated account is refused on its very next request, remembered sign-in or not.
    let admin = app.admin_token().await;
    let deactivate = "mutation($id: ID!) { updateUser(id: $id, input: { active: false }) { active } }";
    assert!(app.graphql(deactivate, json!({ "id": alex_id }), Some(&admin)).await["errors"].is_null());
    assert_eq!(error_code(&app.graphql(LIST, json!({}), Some(&alex)).await), "UNAUTHENTICATED");
    assert_eq!(names(&app.graphql(LIST, json!({}), Some(&bea)).await).len(), 2);

    // An answer with an error is computed every time: an attorney asking for the admin-only
    // `users` beside the list runs the list's SQL again on each request.
    let partly = "{ leads(first: 20) { edges { node { id } } } users { id } }";
    assert_eq!(error_code(&app.graphql(partly, json!({}), Some(&bea)).await), "FORBIDDEN");
    let before = app.state.statements.load(Ordering::SeqCst);
    assert_eq!(error_code(&app.graphql(partly, json!({}), Some(&bea)).await), "FORBIDDEN");
    assert!(app.state.statements.load(Ordering::SeqCst) > before, "an answer with an error was kept");
}

/// A change Intake does not hear of (SQL by hand, another process on SQLite) waits out the
/// age limit at most.
async fn changes_made_behind_its_back_show_within_the_age_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.read_cache_max_age = std::time::Duration::from_millis(300)).await;
    let alex = app.attorney("alex@firm.test").await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    assert_eq!(names(&app.graphql(LIST, json!({}), Some(&alex)).await), ["Ada PENDING"]);

    let mut row = lead::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    row.first_name = Set("Augusta".into());
    row.update(&app.state.db).await.unwrap();
    let changed = Instant::now();
    loop {
        if names(&app.graphql(LIST, json!({}), Some(&alex)).await) == ["Augusta PENDING"] {
            break;
        }
        assert!(changed.elapsed() < Duration::from_secs(2), "the change never showed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    deactivate_by_hand(&app, "alex@firm.test").await;
    let changed = Instant::now();
    while !refused(&app.graphql(LIST, json!({}), Some(&alex)).await) {
        assert!(changed.elapsed() < Duration::from_secs(2), "the deactivated account kept its access");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// On PostgreSQL, each replica hears the others' changes (NOTIFY) and drops what it kept; the
/// age limit here is a minute, so only the announcement can explain a prompt update.
async fn replicas_hear_each_others_changes(backend: Backend) {
    if matches!(backend, Backend::Sqlite) {
        eprintln!("SQLite is one process: replicas_hear_each_others_changes runs on PostgreSQL only");
        return;
    }
    let app = TestApp::spawn_with(backend, |c| c.read_cache_max_age = std::time::Duration::from_millis(60000)).await;
    let replica = app.replica().await;
    let (alex_id, alex) = app.attorney_with_id("alex@firm.test").await;
    let admin = app.admin_token().await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let far = |token: &str| {
        let (client, address, token) = (app.client.clone(), replica.address.clone(), token.to_owned());
        async move { post_graphql(&client, &address, LIST, json!({}), Some(&token)).await }
    };
    assert_eq!(names(&far(&alex).await), ["Ada PENDING"]);

    let reached = "mutation($id: ID!) { updateLeadStatus(id: $id, status: REACHED_OUT) { id } }";
    assert!(app.graphql(reached, json!({ "id": id }), Some(&admin)).await["errors"].is_null());
    let changed = Instant::now();
    while names(&far(&alex).await) != ["Ada REACHED_OUT"] {
        assert!(changed.elapsed() < Duration::from_secs(5), "the other replica kept the old list");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let deactivate = "mutation($id: ID!) { updateUser(id: $id, input: { active: false }) { active } }";
    assert!(app.graphql(deactivate, json!({ "id": alex_id }), Some(&admin)).await["errors"].is_null());
    let changed = Instant::now();
    while !refused(&far(&alex).await) {
        assert!(changed.elapsed() < Duration::from_secs(5), "the other replica kept the deactivated sign-in");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `INTAKE_READ_CACHE_MAX_BYTES` bounds what is kept: with room for about one answer, asking
/// for a second one pushes out the first (least recently used), which is computed again.
async fn kept_answers_stay_within_their_byte_budget(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.read_cache_max_bytes = 600).await;
    let alex = app.attorney("alex@firm.test").await;
    app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let other = "{ leads(first: 10) { edges { node { id lastName } } } }";
    let statements = || app.state.statements.load(Ordering::SeqCst);

    app.graphql(LIST, json!({}), Some(&alex)).await;
    let before = statements();
    app.graphql(LIST, json!({}), Some(&alex)).await;
    assert_eq!(statements(), before, "one answer fits: it was kept");

    app.graphql(other, json!({}), Some(&alex)).await;
    let before = statements();
    app.graphql(other, json!({}), Some(&alex)).await;
    assert_eq!(statements(), before, "the newer answer was kept");
    app.graphql(LIST, json!({}), Some(&alex)).await;
    assert!(statements() > before, "the first answer should have made room for the second");
}

/// Who is notified of a new lead is remembered between submissions, but an account created or
/// deactivated through Intake counts from the very next submission, well within the age limit.
async fn the_staff_told_of_a_lead_follow_account_changes_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.read_cache_max_age = Duration::from_secs(3600)).await;
    let (alex_id, _) = app.attorney_with_id("alex@firm.test").await;
    let notified = |id: String| {
        let db = app.state.db.clone();
        async move {
            let mut to: Vec<String> = email_job::Entity::find()
                .filter(email_job::Column::LeadId.eq(id.parse::<uuid::Uuid>().unwrap()))
                .filter(email_job::Column::Kind.eq(email_job::EmailKind::LeadNotification))
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|job| job.recipient)
                .collect();
            to.sort();
            to
        }
    };
    let first = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    assert_eq!(notified(first).await, ["alex@firm.test"]);
    app.attorney("bea@firm.test").await;
    let after_create = app.submit_id(lead_input("Mary", "Jackson", "mary@example.com")).await;
    assert_eq!(notified(after_create).await, ["alex@firm.test", "bea@firm.test"]);

    let admin = app.admin_token().await;
    let deactivate = "mutation($id: ID!) { updateUser(id: $id, input: { active: false }) { active } }";
    assert!(app.graphql(deactivate, json!({ "id": alex_id }), Some(&admin)).await["errors"].is_null());
    let after_deactivate = app.submit_id(lead_input("Annie", "Easley", "annie@example.com")).await;
    assert_eq!(notified(after_deactivate).await, ["bea@firm.test"]);
}

/// The account behind a token is remembered across changes to leads (a stream of submissions
/// would otherwise send every signed-in request back to the database), and read again on the
/// next request after any change to accounts or sign-ins. With a one-hour age limit, an
/// account deactivated by hand (behind Intake's back) is still served until such a change.
async fn a_remembered_sign_in_outlives_submissions_but_not_account_changes(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.read_cache_max_age = Duration::from_secs(3600)).await;
    let alex = app.attorney("alex@firm.test").await;
    let me = "{ me { email } }";
    assert_eq!(app.graphql(me, json!({}), Some(&alex)).await["data"]["me"]["email"], "alex@firm.test");
    app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let before = app.state.statements.load(Ordering::SeqCst);
    let again = app.graphql("{ me { email role } }", json!({}), Some(&alex)).await;
    assert_eq!(again["data"]["me"]["email"], "alex@firm.test", "{again}");
    assert_eq!(app.state.statements.load(Ordering::SeqCst), before, "the account was read again after a submission");

    deactivate_by_hand(&app, "alex@firm.test").await;
    app.submit_id(lead_input("Grace", "Hopper", "grace@example.com")).await;
    assert!(!refused(&app.graphql(me, json!({}), Some(&alex)).await), "remembered, as the age limit allows");
    app.attorney("bea@firm.test").await;
    assert!(refused(&app.graphql(me, json!({}), Some(&alex)).await), "an account change reads it again");
}
