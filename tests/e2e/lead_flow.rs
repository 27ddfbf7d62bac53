use entity::{email_job, lead};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::{
    helpers::{Backend, PDF, TestApp, lead_input},
    on_both_backends,
};

const LEAD_QUERY: &str = "query($id: ID!) { lead(id: $id) { id firstName lastName email status createdAt updatedAt \
    reachedOutAt reachedOutBy { email fullName role } resume { fileName contentType sizeBytes downloadUrl } } }";

on_both_backends!(full_flow, listing_pages_filters_and_searches, restart_keeps_everything);

/// Prospect submits → two mails go out → attorney signs in, lists, opens, downloads, reaches out.
async fn full_flow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let attorney = app.attorney("alex@firm.test").await;

    let receipt = app.submit_lead(lead_input(" Ada ", "Lovelace", "ada@example.com"), "My CV.pdf", PDF.to_vec()).await;
    let receipt = &receipt["data"]["submitLead"];
    assert_eq!(receipt["status"], "PENDING");
    let id = receipt["id"].as_str().unwrap().to_owned();
    assert!(receipt["submittedAt"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().is_ok());
    // The receipt says nothing beyond its own id, status and time.
    assert_eq!(receipt.as_object().unwrap().len(), 3);

    // The lead and its two jobs were written together; nothing is sent until the worker runs.
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 1);
    assert_eq!(email_job::Entity::find().count(&app.state.db).await.unwrap(), 2);
    assert!(app.smtp.messages().is_empty());
    assert_eq!(app.drain_mail().await.sent, 2);
    let mut recipients: Vec<_> = app.smtp.messages().iter().flat_map(|m| m.rcpt_to.clone()).collect();
    recipients.sort();
    assert_eq!(recipients, ["ada@example.com", "alex@firm.test"]);

    let list = app.graphql("{ leads { totalCount nodes { id firstName status } } }", json!({}), Some(&attorney)).await;
    assert_eq!(list["data"]["leads"]["totalCount"], 1, "{list}");
    assert_eq!(list["data"]["leads"]["nodes"][0]["id"], id.as_str());
    assert_eq!(list["data"]["leads"]["nodes"][0]["firstName"], "Ada", "names are trimmed");

    let opened = app.graphql(LEAD_QUERY, json!({ "id": id }), Some(&attorney)).await;
    let lead = &opened["data"]["lead"];
    assert_eq!(lead["email"], "ada@example.com", "{opened}");
    assert_eq!(lead["resume"]["fileName"], "My CV.pdf");
    assert_eq!(lead["resume"]["contentType"], "application/pdf");
    assert_eq!(lead["resume"]["sizeBytes"], PDF.len());
    assert!(lead["reachedOutBy"].is_null());

    // The signed link works without the Authorization header and returns the same bytes.
    let download = app.client.get(lead["resume"]["downloadUrl"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert!(download.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(download.headers()["x-content-type-options"], "nosniff");
    assert_eq!(download.bytes().await.unwrap().as_ref(), PDF);

    let update = "mutation($id: ID!, $s: LeadStatus!) { updateLeadStatus(id: $id, status: $s) { status reachedOutAt reachedOutBy { email } } }";
    let moved = app.graphql(update, json!({ "id": id, "s": "REACHED_OUT" }), Some(&attorney)).await;
    let moved = &moved["data"]["updateLeadStatus"];
    assert_eq!(moved["status"], "REACHED_OUT");
    assert_eq!(moved["reachedOutBy"]["email"], "alex@firm.test");
    let first_time = moved["reachedOutAt"].clone();
    assert!(first_time.is_string());

    // Setting the same status again changes nothing and is not an error.
    let again = app.graphql(update, json!({ "id": id, "s": "REACHED_OUT" }), Some(&attorney)).await;
    assert!(again["errors"].is_null(), "{again}");
    assert_eq!(again["data"]["updateLeadStatus"]["reachedOutAt"], first_time);

    let pending = app.graphql("{ leads(status: PENDING) { totalCount } }", json!({}), Some(&attorney)).await;
    assert_eq!(pending["data"]["leads"]["totalCount"], 0);
    let reached = app.graphql("{ leads(status: REACHED_OUT) { totalCount } }", json!({}), Some(&attorney)).await;
    assert_eq!(reached["data"]["leads"]["totalCount"], 1);
}

async fn listing_pages_filters_and_searches(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    let people = [
        ("Grace", "Hopper", "grace@navy.example"),
        ("Alan", "Turing", "alan@bletchley.example"),
        ("Ada", "Lovelace", "ada@analytical.example"),
        ("Edsger", "Dijkstra", "ewd@tue.example"),
        ("Barbara", "Liskov", "liskov@mit.example"),
    ];
    let mut ids = Vec::new();
    for (first, last, email) in people {
        ids.push(app.submit_id(lead_input(first, last, email)).await);
    }
    ids.reverse(); // newest first

    let page = "query($after: String) { leads(first: 2, after: $after) { totalCount edges { cursor node { id } } \
        nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    for expected_next in [true, true, false] {
        let body = app.graphql(page, json!({ "after": after }), Some(&token)).await;
        let conn = &body["data"]["leads"];
        assert_eq!(conn["totalCount"], 5, "{body}");
        assert_eq!(conn["pageInfo"]["hasNextPage"], expected_next);
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], !after.is_null());
        assert_eq!(conn["edges"].as_array().unwrap().len(), conn["nodes"].as_array().unwrap().len());
        assert_eq!(conn["pageInfo"]["endCursor"], conn["edges"].as_array().unwrap().last().unwrap()["cursor"]);
        seen.extend(conn["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ids, "every lead once, newest first");

    let search = "query($s: String) { leads(search: $s) { totalCount nodes { lastName } } }";
    for (term, expected) in [
        ("LOVELACE", vec!["Lovelace"]),
        ("bletchley", vec!["Turing"]),
        ("gRaCe", vec!["Hopper"]),
        ("%", vec![]),
        ("_", vec![]),
        // Each field on its own: neither a term with a space nor one without matches across two.
        ("ada lovelace", vec![]),
        ("adalovelace", vec![]),
        ("hopper grace", vec![]),
        ("lace ada@", vec![]),
    ] {
        let body = app.graphql(search, json!({ "s": term }), Some(&token)).await;
        let names: Vec<_> = body["data"]["leads"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["lastName"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, expected, "search {term:?}: {body}");
    }
    let injection = app.graphql(search, json!({ "s": "' OR 1=1 --" }), Some(&token)).await;
    assert_eq!(injection["data"]["leads"]["totalCount"], 0, "{injection}");
    let quoted = app.graphql(search, json!({ "s": "\"love\" OR x*" }), Some(&token)).await;
    assert_eq!(quoted["data"]["leads"]["totalCount"], 0, "the text index's query syntax is not the user's: {quoted}");

    // The text index follows a correction: the new name is found, the old one no longer.
    let fix = "mutation($id: ID!) { updateLead(id: $id, input: { lastName: \"Byron\" }) { id } }";
    let ada = &ids[2];
    assert!(app.graphql(fix, json!({ "id": ada }), Some(&token)).await["errors"].is_null());
    let found = |term: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            let body = app.graphql(search, json!({ "s": term }), Some(token)).await;
            body["data"]["leads"]["totalCount"].as_i64().unwrap_or_else(|| panic!("{body}"))
        }
    };
    assert_eq!(found("byron").await, 1);
    assert_eq!(found("lovelace").await, 0);
    assert_eq!(found("analytical").await, 1, "the unchanged email still matches");
}

async fn restart_keeps_everything(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    app.restart().await;
    // The same admin, the same lead, the same file, and the mail still queued.
    let token = app.admin_token().await;
    let body = app.graphql(LEAD_QUERY, json!({ "id": id }), Some(&token)).await;
    let url = body["data"]["lead"]["resume"]["downloadUrl"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    assert_eq!(app.client.get(url).send().await.unwrap().bytes().await.unwrap().as_ref(), PDF);
    assert_eq!(app.drain_mail().await.sent, 2);
}

/// Closed, the embedded database is one file again: every connection, the lead writer's own
/// included, is closed, so SQLite has put the write-ahead log's pages back into the file (a
/// backup of `intake.db` alone, as `bench` copies it, holds every lead).
#[tokio::test]
async fn closing_the_state_leaves_every_lead_in_the_database_file() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    app.state.close().await.unwrap();

    let wal = app.data_dir().join("intake.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0, "the write-ahead log was left behind");
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(app.data_dir().join("intake.db"), copy.path().join("intake.db")).unwrap();
    let url = format!("sqlite://{}?mode=ro", copy.path().join("intake.db").display());
    let alone = sea_orm::Database::connect(url).await.unwrap();
    assert_eq!(lead::Entity::find().count(&alone).await.unwrap(), 1);
}
