//! Hostile input through HTTP: each case gets a clear error code and changes nothing stored.

use entity::{email_job, lead, user};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, PDF, SUBMIT_LEAD, TestApp, error_code, error_field, lead_input},
    on_both_backends,
};

on_both_backends!(
    two_files_are_refused,
    huge_file_names_are_cut_down,
    megabyte_strings_in_every_text_field,
    query_bombs_and_batches_are_refused,
    introspection_works_and_can_be_switched_off,
    cors_allows_only_configured_origins,
    responses_carry_security_headers,
    a_stalled_request_times_out,
);

/// graphql-js's standard introspection query, as GraphiQL and code generators send it.
pub const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}"#;

async fn stored(app: &TestApp) -> (u64, u64, u64) {
    (
        lead::Entity::find().count(&app.state.db).await.unwrap(),
        email_job::Entity::find().count(&app.state.db).await.unwrap(),
        user::Entity::find().count(&app.state.db).await.unwrap(),
    )
}

async fn two_files_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let operations =
        json!({ "query": SUBMIT_LEAD, "variables": { "input": lead_input("A", "B", "a@b.example"), "resume": null } });
    let file = || reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("cv.pdf");
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", r#"{"0":["variables.resume"],"1":["variables.input.website"]}"#)
        .part("0", file())
        .part("1", file());
    let response = app.client.post(format!("{}/graphql", app.address)).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
    assert_eq!(stored(&app).await, (0, 0, 1));
}

async fn huge_file_names_are_cut_down(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let name = format!("{}.pdf", "Résumé-".repeat(1500));
    assert!(name.len() > 10_000);
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), &name, PDF.to_vec()).await;
    let stored = lead::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert!(
        stored.resume_file_name.len() <= 200 && stored.resume_file_name.ends_with(".pdf"),
        "{}",
        stored.resume_file_name
    );
    assert!(!stored.resume_key.contains("Résumé"), "the key is ours, not the client's");
}

async fn megabyte_strings_in_every_text_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    let mb = "x".repeat(1_000_000);
    for (input, field) in [
        (lead_input(&mb, "Lovelace", "ada@example.com"), "firstName"),
        (lead_input("Ada", &mb, "ada@example.com"), "lastName"),
        (lead_input("Ada", "Lovelace", &format!("{mb}@example.com")), "email"),
    ] {
        let (_, body) = app.submit_lead_raw(input, "cv.pdf", PDF.to_vec()).await;
        assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", field), "{}", &body.to_string()[..200]);
    }
    let search =
        app.graphql("query($s: String) { leads(search: $s) { totalCount } }", json!({ "s": mb }), Some(&token)).await;
    assert_eq!((error_code(&search), error_field(&search)), ("BAD_USER_INPUT", "search"));
    let create = "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }";
    for (i, field) in [
        (
            json!({ "email": "x@firm.test", "fullName": mb, "role": "ATTORNEY", "password": "long-enough-password" }),
            "fullName",
        ),
        (json!({ "email": "x@firm.test", "fullName": "X", "role": "ATTORNEY", "password": mb }), "password"),
    ] {
        let body = app.graphql(create, json!({ "i": i }), Some(&token)).await;
        assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", field));
    }
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";
    for (email, password) in [(mb.as_str(), "a-password-123"), ("admin@firm.test", mb.as_str())] {
        let body = app.graphql(login, json!({ "e": email, "p": password }), None).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    // Past the JSON body limit the request is refused whole.
    let two_mb = "y".repeat(2_000_000);
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": "{ me { id } }", "variables": { "x": two_mb } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(stored(&app).await, (0, 0, 1));
}

async fn query_bombs_and_batches_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    let url = format!("{}/graphql", app.address);
    let post = |body: Value| {
        let (client, url, token) = (app.client.clone(), url.clone(), token.clone());
        async move {
            let response = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };

    let mut deep = String::from("kind");
    for _ in 0..20 {
        deep = format!("kind ofType {{ {deep} }}");
    }
    let (_, body) = post(json!({ "query": format!("{{ __schema {{ types {{ {deep} }} }} }}") })).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("nested too deep"), "{body}");

    let aliases: String = (0..200).map(|i| format!("a{i}: me {{ id }} ")).collect();
    // A legacy application/json client gets 200 for a request refused before execution, as
    // the GraphQL-over-HTTP spec asks (graphql_http.rs checks the 400 of the spec's own type).
    let (status, body) = post(json!({ "query": format!("{{ {aliases} }}") })).await;
    assert_eq!((status.as_u16(), error_code(&body)), (200, "GRAPHQL_VALIDATION_FAILED"), "{body}");

    let fields: String = (0..1200).map(|_| "leads { nodes { id } } ").collect();
    let (_, body) = post(json!({ "query": format!("{{ {fields} }}") })).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "a wide query is too complex or too big: {body}");

    let batch: Vec<Value> = (0..1000).map(|_| json!({ "query": "{ me { id } }" })).collect();
    let (status, body) = post(Value::Array(batch)).await;
    assert_eq!((status.as_u16(), error_code(&body)), (400, "BAD_REQUEST"), "{body}");

    let small: Vec<Value> = (0..3).map(|_| json!({ "query": "{ me { id } }" })).collect();
    let (status, body) = post(Value::Array(small)).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len(), 3, "small batches still work: {body}");
}

async fn introspection_works_and_can_be_switched_off(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let body = app.graphql(INTROSPECTION, json!({}), None).await;
    assert!(body["errors"].is_null(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Lead"));

    let app = TestApp::spawn_with(backend, |c| c.introspection = false).await;
    let body = app.graphql(INTROSPECTION, json!({}), None).await;
    assert!(body["data"].is_null() || body["data"]["__schema"].is_null(), "the schema is not revealed: {body}");
    let normal = app.graphql("{ __typename }", json!({}), None).await;
    assert_eq!(normal["data"]["__typename"], "Query");
}

async fn cors_allows_only_configured_origins(backend: Backend) {
    let preflight = |app: &TestApp, origin: &'static str| {
        let request = app
            .client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,authorization");
        async move { request.send().await.unwrap() }
    };
    let closed = TestApp::spawn(backend.clone()).await;
    let response = preflight(&closed, "https://www.firm.example").await;
    assert!(response.headers().get("access-control-allow-origin").is_none(), "nothing is allowed by default");

    let open = TestApp::spawn_with(backend, |c| {
        c.cors_origins = vec!["https://www.firm.example".into(), "https://dashboard.firm.example".into()]
    })
    .await;
    let response = preflight(&open, "https://www.firm.example").await;
    assert_eq!(response.headers()["access-control-allow-origin"], "https://www.firm.example");
    let allowed_headers = response.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed_headers.contains("authorization") && allowed_headers.contains("content-type"));
    let evil = preflight(&open, "https://evil.example").await;
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

async fn responses_carry_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for response in [
        app.client.get(format!("{}/healthz", app.address)).send().await.unwrap(),
        app.client
            .post(format!("{}/graphql", app.address))
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap(),
        app.client.get(format!("{}/graphql", app.address)).send().await.unwrap(),
    ] {
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    }
}

/// A client that starts a request and stops sending (slowloris) is cut off.
async fn a_stalled_request_times_out(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(backend, |c| c.request_timeout = std::time::Duration::from_secs(1)).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"query\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut response = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut response))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&response[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
