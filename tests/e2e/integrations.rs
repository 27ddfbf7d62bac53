//! API keys for the firm's other systems, and where each lead came from.

use api::infra::limits::Rate;
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, PDF, TestApp, error_code, error_field, lead_input, submit_form},
    on_both_backends,
};

on_both_backends!(
    api_keys_are_shown_once_scoped_and_revocable,
    submissions_by_key_are_counted_per_key,
    attribution_is_bounded_filtered_and_counted
);

const CREATE_KEY: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) {
    key apiKey { id name prefix scopes createdAt expiresAt lastUsedAt revokedAt } } }";

async fn create_key(app: &TestApp, admin: &str, name: &str, scopes: Value) -> (String, String) {
    let body = app.graphql(CREATE_KEY, json!({ "i": { "name": name, "scopes": scopes } }), Some(admin)).await;
    assert!(body["errors"].is_null(), "{body}");
    let created = &body["data"]["createApiKey"];
    (created["apiKey"]["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned())
}

/// A GraphQL request sent with `X-API-Key` instead of `Authorization`.
async fn with_header_key(app: &TestApp, query: &str, key: &str) -> Value {
    let request = app.client.post(format!("{}/graphql", app.address)).header("X-API-Key", key);
    request.json(&json!({ "query": query })).send().await.unwrap().json().await.unwrap()
}

/// `submitLead` with a key, as the multipart request spec lays it out.
async fn submit_with_key(app: &TestApp, input: Value, key: &str) -> Value {
    let form = submit_form(input, "cv.pdf", PDF.to_vec());
    let request = app.client.post(format!("{}/graphql", app.address)).bearer_auth(key).multipart(form);
    request.send().await.unwrap().json().await.unwrap()
}

async fn api_keys_are_shown_once_scoped_and_revocable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    let body =
        app.graphql(CREATE_KEY, json!({ "i": { "name": "CRM", "scopes": ["LEADS_READ"] } }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    for (input, field) in [
        (json!({ "name": " ", "scopes": ["LEADS_READ"] }), "name"),
        (json!({ "name": "CRM", "scopes": [] }), "scopes"),
        (json!({ "name": "CRM", "scopes": ["LEADS_READ"], "expiresAt": "2020-01-01T00:00:00Z" }), "expiresAt"),
    ] {
        let body = app.graphql(CREATE_KEY, json!({ "i": input }), Some(&admin)).await;
        assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", field), "{body}");
    }

    let (reader_id, reader) = create_key(&app, &admin, "Practice manager", json!(["LEADS_READ"])).await;
    let (_, submitter) = create_key(&app, &admin, "Answering service", json!(["LEADS_SUBMIT"])).await;
    assert!(reader.starts_with("ik_") && reader.len() > 40, "{reader}");
    let listed = app.graphql("{ apiKeys { name prefix scopes } }", json!({}), Some(&admin)).await;
    let keys = listed["data"]["apiKeys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(reader.starts_with(&format!("ik_{}_", keys[0]["prefix"].as_str().unwrap())));
    assert!(!listed.to_string().contains(&reader[12..]), "the secret is never shown again");
    let stored: Vec<String> = entity::api_key::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|k| format!("{k:?}"))
        .collect();
    assert!(stored.iter().all(|row| !row.contains(&reader[12..])), "only a hash is stored");

    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    // LEADS_READ: lead, leads and leadStats, by either header; nothing else.
    let read = format!(
        "{{ lead(id: \"{id}\") {{ email resume {{ downloadUrl }} }} leads {{ totalCount }} leadStats {{ total }} }}"
    );
    let body = app.graphql(&read, json!({}), Some(&reader)).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["lead"]["email"], "ada@example.com");
    assert_eq!(body["data"]["leads"]["totalCount"], 1);
    let link = body["data"]["lead"]["resume"]["downloadUrl"].as_str().unwrap();
    assert_eq!(app.client.get(link).send().await.unwrap().status(), 200, "its résumé links work");
    assert_eq!(with_header_key(&app, "{ leads { totalCount } }", &reader).await["data"]["leads"]["totalCount"], 1);
    for forbidden in [
        "{ me { id } }".to_owned(),
        "{ users { id } }".to_owned(),
        "{ emailJobs { totalCount } }".to_owned(),
        format!("mutation {{ updateLeadStatus(id: \"{id}\", status: REACHED_OUT) {{ id }} }}"),
        "mutation { login(email: \"admin@firm.test\", password: \"x\") { accessToken } }".to_owned(),
        "{ apiKeys { id } }".to_owned(),
    ] {
        let body = app.graphql(&forbidden, json!({}), Some(&reader)).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{forbidden}: {body}");
    }
    let body = app.graphql("{ leads { totalCount } }", json!({}), Some(&submitter)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "a submit-only key cannot read: {body}");
    let mut input = lead_input("Grace", "Hopper", "grace@example.com");
    input["source"] = json!("partner site");
    let body = submit_with_key(&app, input.clone(), &reader).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "a read-only key cannot submit: {body}");
    let body = submit_with_key(&app, input, &submitter).await;
    assert!(body["errors"].is_null(), "{body}");

    let listed = app.graphql("{ apiKeys { name lastUsedAt } }", json!({}), Some(&admin)).await;
    assert!(listed["data"]["apiKeys"][0]["lastUsedAt"].is_string(), "{listed}");

    // Revoked: refused at once, as an unknown or mangled key is.
    let revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }";
    let body = app.graphql(revoke, json!({ "id": reader_id }), Some(&admin)).await;
    assert!(body["data"]["revokeApiKey"]["revokedAt"].is_string(), "{body}");
    for dead in [reader.clone(), format!("{}x", &reader[..reader.len() - 1]), "ik_nope_nope".to_owned()] {
        let body = app.graphql("{ leads { totalCount } }", json!({}), Some(&dead)).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{dead}: {body}");
    }
    assert_eq!(app.client.get(link).send().await.unwrap().status(), 403, "a revoked key's links end with it");

    // Expired: refused too.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let body = app
        .graphql(
            CREATE_KEY,
            json!({ "i": { "name": "Short", "scopes": ["LEADS_READ"], "expiresAt": soon } }),
            Some(&admin),
        )
        .await;
    let short = body["data"]["createApiKey"]["key"].as_str().unwrap().to_owned();
    let short_id = body["data"]["createApiKey"]["apiKey"]["id"].as_str().unwrap().to_owned();
    let past = api::infra::clock::now() - chrono::Duration::seconds(1);
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    entity::api_key::Entity::update_many()
        .col_expr(entity::api_key::Column::ExpiresAt, Expr::value(past))
        .filter(entity::api_key::Column::Id.eq(uuid::Uuid::parse_str(&short_id).unwrap()))
        .exec(&app.state.db)
        .await
        .unwrap();
    let body = app.graphql("{ leads { totalCount } }", json!({}), Some(&short)).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");

    // Keys never reach subscriptions.
    let (_, live) = create_key(&app, &admin, "Live", json!(["LEADS_READ"])).await;
    let refused = crate::workflow_live::refused_socket(&app.address, &live).await;
    assert!(refused.contains("API keys"), "{refused}");
}

async fn submissions_by_key_are_counted_per_key(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.submit = Rate::parse("1/h", 1).unwrap();
        c.limits.api_key_submit = Rate::parse("2/h", 2).unwrap();
    })
    .await;
    let admin = app.admin_token().await;
    let (_, key) = create_key(&app, &admin, "Answering service", json!(["LEADS_SUBMIT"])).await;
    let (_, other) = create_key(&app, &admin, "Chat widget", json!(["LEADS_SUBMIT"])).await;
    // The address's own allowance (one) does not limit the key, which has two of its own.
    for n in 0..2 {
        let body = submit_with_key(&app, lead_input("Ada", "Lovelace", &format!("ada{n}@example.com")), &key).await;
        assert!(body["errors"].is_null(), "{n}: {body}");
    }
    let body = submit_with_key(&app, lead_input("Ada", "Lovelace", "ada9@example.com"), &key).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    assert!(body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0);
    let body = submit_with_key(&app, lead_input("Bo", "Brown", "bo@example.com"), &other).await;
    assert!(body["errors"].is_null(), "another key has its own count: {body}");

    let leads = "{ leads(orderBy: { field: CREATED_AT, direction: ASC }) { nodes { source } } }";
    let body = app.graphql(leads, json!({}), Some(&admin)).await;
    let sources: Vec<&str> =
        body["data"]["leads"]["nodes"].as_array().unwrap().iter().map(|n| n["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["Answering service", "Answering service", "Chat widget"], "the key's name by default");
}

async fn attribution_is_bounded_filtered_and_counted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let mut input = lead_input("Ada", "Lovelace", "ada@example.com");
    input["source"] = json!("google-ads");
    input["attribution"] = json!({
        "utmSource": "google", "utmMedium": "cpc", "utmCampaign": "spring", "utmTerm": "divorce lawyer",
        "utmContent": "ad-1", "referrer": "https://www.google.com/", "landingPage": "https://firm.example/?utm_source=google",
        "gclid": "Cj0KCQ", "fbclid": null
    });
    let ada = app.submit_id(input).await;
    let mut input = lead_input("Bo", "Brown", "bo@example.com");
    input["source"] = json!("referral");
    let bo = app.submit_id(input).await;
    app.submit_id(lead_input("Cy", "Young", "cy@example.com")).await;
    let retain = "mutation($id: ID!) { setLeadOutcome(id: $id, outcome: RETAINED) { id } }";
    assert!(app.graphql(retain, json!({ "id": bo }), Some(&admin)).await["errors"].is_null());

    let body = app
        .graphql(
            "query($id: ID!) { lead(id: $id) { source attribution { utmSource utmTerm referrer landingPage gclid fbclid } } }",
            json!({ "id": ada }),
            Some(&admin),
        )
        .await;
    assert_eq!(body["data"]["lead"]["source"], "google-ads");
    assert_eq!(
        body["data"]["lead"]["attribution"],
        json!({ "utmSource": "google", "utmTerm": "divorce lawyer", "referrer": "https://www.google.com/",
                "landingPage": "https://firm.example/?utm_source=google", "gclid": "Cj0KCQ", "fbclid": null })
    );

    let filter = "query($s: [String!]) { leads(filter: { source: $s }) { totalCount nodes { id } } }";
    let body = app.graphql(filter, json!({ "s": ["google-ads", "referral"] }), Some(&admin)).await;
    assert_eq!(body["data"]["leads"]["totalCount"], 2, "{body}");
    let body = app.graphql(filter, json!({ "s": ["referral"] }), Some(&admin)).await;
    assert_eq!(body["data"]["leads"]["nodes"][0]["id"], bo);

    let body = app.graphql("{ leadStats { bySource { source count retained } } }", json!({}), Some(&admin)).await;
    let by_source = body["data"]["leadStats"]["bySource"].as_array().unwrap();
    assert_eq!(by_source.len(), 3, "{body}");
    assert!(by_source.contains(&json!({ "source": "referral", "count": 1, "retained": 1 })), "{body}");
    assert!(by_source.contains(&json!({ "source": null, "count": 1, "retained": 0 })), "{body}");

    // Each bound, named by its field; nothing is stored.
    for (attribution, field) in [
        (json!({ "utmSource": "x".repeat(201) }), "attribution.utmSource"),
        (json!({ "gclid": "a\u{0}b" }), "attribution.gclid"),
        (json!({ "referrer": "javascript:alert(1)" }), "attribution.referrer"),
        (json!({ "landingPage": format!("https://firm.example/{}", "x".repeat(2000)) }), "attribution.landingPage"),
    ] {
        let mut input = lead_input("Dee", "Dee", "dee@example.com");
        input["attribution"] = attribution;
        let (_, body) = app.submit_lead_raw(input, "cv.pdf", PDF.to_vec()).await;
        assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", field), "{body}");
    }
    let mut input = lead_input("Dee", "Dee", "dee@example.com");
    input["source"] = json!("s".repeat(101));
    let (_, body) = app.submit_lead_raw(input, "cv.pdf", PDF.to_vec()).await;
    assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "source"), "{body}");
    let mut input = lead_input("Dee", "Dee", "dee@example.com");
    input["attribution"] = json!({ "utmSauce": "typo" });
    let (_, body) = app.submit_lead_raw(input, "cv.pdf", PDF.to_vec()).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("utmSauce"), "an unknown field is named: {body}");
    assert_eq!(
        app.graphql("{ leads { totalCount } }", json!({}), Some(&admin)).await["data"]["leads"]["totalCount"],
        3
    );
}
