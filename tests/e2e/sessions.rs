//! Refresh tokens, sign-out, password changes and account management.

use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp, error_code, error_field},
    on_both_backends,
};

on_both_backends!(
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    logout_ends_the_sign_in,
    changing_a_password_ends_every_session,
    admins_manage_accounts,
    the_last_admin_stays_an_admin,
);

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken refreshExpiresIn } }";
const REFRESH: &str = "mutation($t: String!) { refreshToken(token: $t) { accessToken refreshToken user { email } } }";
const ME: &str = "{ me { email } }";

async fn login(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let body = app.graphql(LOGIN, json!({ "e": email, "p": password }), None).await;
    let payload = &body["data"]["login"];
    assert_eq!(payload["refreshExpiresIn"], 7 * 24 * 3600, "{body}");
    (payload["accessToken"].as_str().unwrap().into(), payload["refreshToken"].as_str().unwrap().into())
}

async fn refresh(app: &TestApp, token: &str) -> Value {
    app.graphql(REFRESH, json!({ "t": token }), None).await
}

async fn works(app: &TestApp, access: &str) -> bool {
    app.graphql(ME, json!({}), Some(access)).await["errors"].is_null()
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, first) = login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let rotated = refresh(&app, &first).await;
    let second =
        rotated["data"]["refreshToken"]["refreshToken"].as_str().unwrap_or_else(|| panic!("{rotated}")).to_owned();
    assert_ne!(second, first);
    assert!(works(&app, rotated["data"]["refreshToken"]["accessToken"].as_str().unwrap()).await);

    // A second, unrelated sign-in is a separate family.
    let (other_access, other_refresh) = login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // The first token again: it leaked. Its whole family ends, the newest token included.
    let reused = refresh(&app, &first).await;
    assert_eq!(error_code(&reused), "UNAUTHENTICATED", "{reused}");
    assert!(reused["errors"][0]["message"].as_str().unwrap().contains("already used"));
    assert_eq!(error_code(&refresh(&app, &second).await), "UNAUTHENTICATED");
    assert!(refresh(&app, &other_refresh).await["errors"].is_null(), "other sign-ins are untouched");
    assert!(works(&app, &other_access).await);

    for garbage in ["", "not-a-token", &"x".repeat(5000)] {
        assert_eq!(error_code(&refresh(&app, garbage).await), "UNAUTHENTICATED");
    }
}

async fn logout_ends_the_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let logout = "mutation($t: String!) { logout(refreshToken: $t) }";
    assert_eq!(app.graphql(logout, json!({ "t": token }), None).await["data"]["logout"], true);
    assert_eq!(error_code(&refresh(&app, &token).await), "UNAUTHENTICATED");
    assert_eq!(app.graphql(logout, json!({ "t": token }), None).await["data"]["logout"], false);
    assert_eq!(app.graphql(logout, json!({ "t": "unknown" }), None).await["data"]["logout"], false);
}

async fn changing_a_password_ends_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (access, refresh_token) = login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken refreshToken } }";
    for (current, new, field) in [
        ("wrong-password-1", "a-brand-new-password", "currentPassword"),
        (ADMIN_PASSWORD, "short", "newPassword"),
        (ADMIN_PASSWORD, ADMIN_EMAIL, "newPassword"),
    ] {
        let body = app.graphql(change, json!({ "c": current, "n": new }), Some(&access)).await;
        assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", field), "{body}");
    }
    assert!(works(&app, &access).await, "failed attempts change nothing");

    let changed = app.graphql(change, json!({ "c": ADMIN_PASSWORD, "n": "a-brand-new-password" }), Some(&access)).await;
    let fresh =
        changed["data"]["changePassword"]["accessToken"].as_str().unwrap_or_else(|| panic!("{changed}")).to_owned();
    assert!(!works(&app, &access).await, "the old access token ends");
    assert_eq!(error_code(&refresh(&app, &refresh_token).await), "UNAUTHENTICATED", "the old refresh token ends");
    assert!(works(&app, &fresh).await, "the new one works");
    let old_login = app.graphql(LOGIN, json!({ "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD }), None).await;
    assert_eq!(error_code(&old_login), "UNAUTHENTICATED");
    login(&app, ADMIN_EMAIL, "a-brand-new-password").await;
}

async fn admins_manage_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let attorney = app.attorney("alex@firm.test").await;
    let (_, attorney_refresh) = login(&app, "alex@firm.test", "attorney-password-1").await;
    let admin = app.admin_token().await;
    let users = app.graphql("{ users { id email } }", json!({}), Some(&admin)).await;
    let alex_id =
        users["data"]["users"].as_array().unwrap().iter().find(|u| u["email"] == "alex@firm.test").unwrap()["id"]
            .clone();

    let update = "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { fullName role active } }";
    let reset = "mutation($id: ID!, $p: String!) { resetUserPassword(id: $id, password: $p) { email } }";
    for (query, vars) in [
        (update, json!({ "id": alex_id, "i": { "role": "ADMIN" } })),
        (reset, json!({ "id": alex_id, "p": "self-chosen-password" })),
    ] {
        assert_eq!(error_code(&app.graphql(query, vars, Some(&attorney)).await), "FORBIDDEN");
    }

    let renamed =
        app.graphql(update, json!({ "id": alex_id, "i": { "fullName": "Alexandra Doe" } }), Some(&admin)).await;
    assert_eq!(
        renamed["data"]["updateUser"],
        json!({ "fullName": "Alexandra Doe", "role": "ATTORNEY", "active": true })
    );
    assert!(works(&app, &attorney).await, "a rename ends no session");
    let blank = app.graphql(update, json!({ "id": alex_id, "i": { "fullName": " " } }), Some(&admin)).await;
    assert_eq!((error_code(&blank), error_field(&blank)), ("BAD_USER_INPUT", "fullName"));
    let missing = app.graphql(update, json!({ "id": uuid::Uuid::now_v7().to_string(), "i": {} }), Some(&admin)).await;
    assert_eq!(error_code(&missing), "NOT_FOUND");

    let off = app.graphql(update, json!({ "id": alex_id, "i": { "active": false } }), Some(&admin)).await;
    assert_eq!(off["data"]["updateUser"]["active"], false, "{off}");
    assert!(!works(&app, &attorney).await);
    assert_eq!(error_code(&refresh(&app, &attorney_refresh).await), "UNAUTHENTICATED");
    app.graphql(update, json!({ "id": alex_id, "i": { "active": true } }), Some(&admin)).await;

    let weak = app.graphql(reset, json!({ "id": alex_id, "p": "short" }), Some(&admin)).await;
    assert_eq!((error_code(&weak), error_field(&weak)), ("BAD_USER_INPUT", "password"));
    let done = app.graphql(reset, json!({ "id": alex_id, "p": "reset-by-the-admin" }), Some(&admin)).await;
    assert!(done["errors"].is_null(), "{done}");
    login(&app, "alex@firm.test", "reset-by-the-admin").await;
}

async fn the_last_admin_stays_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let me = app.graphql("{ me { id } }", json!({}), Some(&admin)).await["data"]["me"]["id"].clone();
    let update = "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { role active } }";
    let demote = app.graphql(update, json!({ "id": me, "i": { "role": "ATTORNEY" } }), Some(&admin)).await;
    assert_eq!((error_code(&demote), error_field(&demote)), ("BAD_USER_INPUT", "role"), "{demote}");
    let deactivate = app.graphql(update, json!({ "id": me, "i": { "active": false } }), Some(&admin)).await;
    assert_eq!((error_code(&deactivate), error_field(&deactivate)), ("BAD_USER_INPUT", "active"));
    assert!(works(&app, &admin).await, "still an admin, still signed in");

    let create = "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }";
    let second = app
        .graphql(create, json!({ "i": { "email": "second@firm.test", "fullName": "Second Admin", "role": "ADMIN", "password": "second-admin-password" } }), Some(&admin))
        .await;
    assert!(second["errors"].is_null(), "{second}");
    let demoted = app.graphql(update, json!({ "id": me, "i": { "role": "ATTORNEY" } }), Some(&admin)).await;
    assert_eq!(demoted["data"]["updateUser"]["role"], "ATTORNEY", "with another admin, demotion is fine: {demoted}");
}
