use base64::Engine;
use entity::user;
use jsonwebtoken::{EncodingKey, Header, encode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, JWT_SECRET, TestApp, error_code},
    on_both_backends,
};

on_both_backends!(
    protected_operations_refuse_anonymous_and_bad_tokens,
    roles_are_enforced,
    login_and_me,
    deactivated_users_lose_access
);

const PROTECTED: &[&str] = &[
    "{ me { id } }",
    "{ leads { totalCount } }",
    "{ lead(id: \"01a1fb8e-2337-72d9-b1ea-6f93e9d6dba7\") { id } }",
    "{ users { id } }",
    "mutation { updateLeadStatus(id: \"01a1fb8e-2337-72d9-b1ea-6f93e9d6dba7\", status: REACHED_OUT) { id } }",
    "mutation { createUser(input: { email: \"x@y.example\", fullName: \"X\", role: ADMIN, password: \"long-enough-password\" }) { id } }",
];

fn token(claims: Value, secret: &str) -> String {
    encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn protected_operations_refuse_anonymous_and_bad_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.state.db.clone();
    let admin_id = user::Entity::find().one(&admin).await.unwrap().unwrap().id.to_string();
    let now = chrono::Utc::now().timestamp();
    // The sign-in a real login started: forged claims name it too.
    let sid = {
        let token = app.admin_token().await;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
        serde_json::from_slice::<Value>(&payload).unwrap()["sid"].clone()
    };
    let claims = |iat: i64, exp: i64| json!({ "sub": admin_id, "role": "ADMIN", "ver": 0, "sid": sid, "iat": iat, "exp": exp, "iss": "intake" });
    let unsigned = {
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(json!({ "alg": "none", "typ": "JWT" })), b64(claims(now, now + 600)))
    };
    let valid = token(claims(now, now + 600), JWT_SECRET);
    let tampered = {
        let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims(now, now + 99_999).to_string());
        parts.join(".")
    };
    let bad_tokens = [
        None,
        Some(token(claims(now, now + 600), "some-other-secret-of-enough-length!!")),
        Some(token(claims(now - 7200, now - 3600), JWT_SECRET)),
        Some(unsigned),
        Some(tampered),
        Some("not-a-jwt".to_owned()),
        Some(token(
            json!({ "sub": admin_id, "role": "ADMIN", "ver": 0, "sid": sid, "iat": now, "exp": now + 600, "iss": "someone-else" }),
            JWT_SECRET,
        )),
        // No `iat`: issued when, nobody can tell.
        Some(token(
            json!({ "sub": admin_id, "role": "ADMIN", "ver": 0, "sid": sid, "exp": now + 600, "iss": "intake" }),
            JWT_SECRET,
        )),
        Some(
            encode(
                &Header::new(jsonwebtoken::Algorithm::HS512),
                &claims(now, now + 600),
                &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
            )
            .unwrap(),
        ),
    ];
    for query in PROTECTED {
        for bad in &bad_tokens {
            let body = app.graphql(query, json!({}), bad.as_deref()).await;
            assert_eq!(error_code(&body), "UNAUTHENTICATED", "{query} with {bad:?}: {body}");
            assert!(body["data"].is_null() || body["data"].as_object().is_some_and(|d| d.values().all(Value::is_null)));
        }
    }
    // The same claims, correctly signed, are accepted: the refusals above were about the token.
    let ok = app.graphql("{ me { email } }", json!({}), Some(&valid)).await;
    assert_eq!(ok["data"]["me"]["email"], ADMIN_EMAIL, "{ok}");
    // An expired token and a forged one are told the same thing.
    let expired = app.graphql("{ me { email } }", json!({}), bad_tokens[2].as_deref()).await;
    let forged = app.graphql("{ me { email } }", json!({}), bad_tokens[1].as_deref()).await;
    assert_eq!(expired["errors"][0]["message"], forged["errors"][0]["message"], "{expired} {forged}");
    assert!(expired["errors"][0]["message"].as_str().unwrap().contains("expired"), "{expired}");
}

async fn roles_are_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let attorney = app.attorney("alex@firm.test").await;
    for query in ["{ users { id } }", PROTECTED[5]] {
        let body = app.graphql(query, json!({}), Some(&attorney)).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
    }
    assert_eq!(user::Entity::find().all(&app.state.db).await.unwrap().len(), 2, "no user was created");
    for query in &PROTECTED[..3] {
        let body = app.graphql(query, json!({}), Some(&attorney)).await;
        assert!(body["errors"].is_null(), "attorney may run {query}: {body}");
    }
    let admin = app.admin_token().await;
    let users = app.graphql("{ users { email role active } }", json!({}), Some(&admin)).await;
    assert_eq!(users["data"]["users"].as_array().unwrap().len(), 2, "{users}");
}

async fn login_and_me(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken tokenType expiresIn user { email role active } } }";
    let ok = app.graphql(login, json!({ "e": "ADMIN@firm.test", "p": ADMIN_PASSWORD }), None).await;
    let payload = &ok["data"]["login"];
    assert_eq!(payload["tokenType"], "Bearer", "{ok}");
    assert_eq!(payload["expiresIn"], 1800);
    assert_eq!(payload["user"]["role"], "ADMIN");
    let me = app
        .graphql("{ me { email fullName role active createdAt } }", json!({}), payload["accessToken"].as_str())
        .await;
    assert_eq!(me["data"]["me"]["email"], ADMIN_EMAIL);

    let wrong_password = app.graphql(login, json!({ "e": ADMIN_EMAIL, "p": "not-the-password" }), None).await;
    let unknown_email = app.graphql(login, json!({ "e": "nobody@firm.test", "p": "not-the-password" }), None).await;
    assert_eq!(error_code(&wrong_password), "UNAUTHENTICATED");
    assert_eq!(error_code(&unknown_email), "UNAUTHENTICATED");
    // Nothing tells an attacker which of the two it was.
    assert_eq!(wrong_password["errors"][0]["message"], unknown_email["errors"][0]["message"]);
}

async fn deactivated_users_lose_access(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.attorney("alex@firm.test").await;
    assert!(app.graphql("{ leads { totalCount } }", json!({}), Some(&token)).await["errors"].is_null());
    let attorney = user::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.email == "alex@firm.test")
        .unwrap();
    let admin = app.admin_token().await;
    let deactivate = "mutation($id: ID!) { updateUser(id: $id, input: { active: false }) { active } }";
    let off = app.graphql(deactivate, json!({ "id": attorney.id }), Some(&admin)).await;
    assert!(off["errors"].is_null(), "{off}");
    let body = app.graphql("{ leads { totalCount } }", json!({}), Some(&token)).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    let login = app
        .graphql(
            "mutation { login(email: \"alex@firm.test\", password: \"attorney-password-1\") { accessToken } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED");
}
