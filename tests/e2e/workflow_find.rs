//! Finding leads: every filter and order, and Relay paging both ways while leads arrive.

use std::{collections::HashSet, sync::atomic::Ordering};

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, error_code, error_field, lead_input},
    on_both_backends,
};

on_both_backends!(
    every_filter_and_order,
    paging_both_ways_has_no_duplicates_or_gaps_while_leads_arrive,
    a_search_too_common_for_the_text_index_finds_the_same_leads,
    a_search_ignores_the_case_of_every_letter
);

const LIST: &str = "query($f: LeadFilter, $o: LeadOrder, $first: Int, $after: String, $last: Int, $before: String, \
    $status: LeadStatus, $search: String) { leads(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, \
    before: $before, status: $status, search: $search) { totalCount edges { cursor node { id lastName } } \
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

async fn list(app: &TestApp, token: &str, variables: Value) -> Value {
    let body = app.graphql(LIST, variables, Some(token)).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["leads"].clone()
}

fn last_names(page: &Value) -> Vec<String> {
    page["edges"].as_array().unwrap().iter().map(|e| e["node"]["lastName"].as_str().unwrap().to_owned()).collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect()
}

async fn every_filter_and_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alex, token) = app.attorney_with_id("alex@firm.test").await;
    let (blair, _) = app.attorney_with_id("blair@firm.test").await;
    // Submitted in this order; names mix cases to show the order ignores case.
    let people = [
        ("Ada", "Zeta", "ada@example.com"),
        ("Bob", "alpha", "bob@example.com"),
        ("Cy", "Mu", "cy@example.com"),
        ("Di", "beta", "di@example.com"),
        ("Ed", "Omega", "ed@example.com"),
        ("Flo", "Gamma", "flo@example.com"),
    ];
    let mut lead_ids = Vec::new();
    let mut created = Vec::new();
    for (first, last, email) in people {
        let receipt = app.submit_lead(lead_input(first, last, email), "cv.pdf", crate::helpers::PDF.to_vec()).await;
        lead_ids.push(receipt["data"]["submitLead"]["id"].as_str().unwrap().to_owned());
        created.push(receipt["data"]["submitLead"]["submittedAt"].as_str().unwrap().to_owned());
    }
    let mutate = |query: &'static str, vars: Value| {
        let (app, token) = (&app, &token);
        async move {
            let body = app.graphql(query, vars, Some(token)).await;
            assert!(body["errors"].is_null(), "{body}");
        }
    };
    for i in [1, 3] {
        mutate(
            "mutation($id: ID!) { updateLeadStatus(id: $id, status: REACHED_OUT) { id } }",
            json!({ "id": lead_ids[i] }),
        )
        .await;
    }
    for (i, user) in [(0, &alex), (2, &alex), (4, &blair)] {
        mutate(
            "mutation($id: ID!, $u: ID) { assignLead(id: $id, userId: $u) { id } }",
            json!({ "id": lead_ids[i], "u": user }),
        )
        .await;
    }
    // The last change of all: Gamma is the most recently updated.
    mutate("mutation($id: ID!) { addLeadNote(leadId: $id, body: \"called\") { id } }", json!({ "id": lead_ids[5] }))
        .await;

    let names = |vars: Value| {
        let (app, token) = (&app, &token);
        async move {
            let mut names = last_names(&list(app, token, vars).await);
            names.sort();
            names
        }
    };
    assert_eq!(names(json!({ "f": { "status": ["REACHED_OUT"] } })).await, ["alpha", "beta"]);
    assert_eq!(names(json!({ "f": { "status": ["PENDING", "REACHED_OUT"] } })).await.len(), 6);
    assert_eq!(names(json!({ "f": { "createdAfter": created[2] } })).await, ["Gamma", "Mu", "Omega", "beta"]);
    assert_eq!(names(json!({ "f": { "createdBefore": created[2] } })).await, ["Zeta", "alpha"]);
    assert_eq!(names(json!({ "f": { "createdAfter": created[2], "createdBefore": created[3] } })).await, ["Mu"]);
    assert_eq!(names(json!({ "f": { "assignedTo": alex } })).await, ["Mu", "Zeta"]);
    assert_eq!(names(json!({ "f": { "unassigned": true } })).await, ["Gamma", "alpha", "beta"]);
    assert_eq!(names(json!({ "f": { "unassigned": false } })).await, ["Mu", "Omega", "Zeta"]);
    assert_eq!(names(json!({ "f": { "search": "ETA" } })).await, ["Zeta", "beta"]);
    assert_eq!(names(json!({ "f": { "search": "flo@" } })).await, ["Gamma"]);
    assert_eq!(names(json!({ "f": { "status": ["PENDING"], "unassigned": false, "search": "ed" } })).await, ["Omega"]);
    // The older arguments still work, alone or beside a filter on other fields.
    assert_eq!(names(json!({ "status": "REACHED_OUT", "search": "alp" })).await, ["alpha"]);
    assert_eq!(names(json!({ "status": "PENDING", "f": { "assignedTo": alex } })).await, ["Mu", "Zeta"]);
    assert_eq!(names(json!({ "status": "REACHED_OUT", "f": { "assignedTo": alex } })).await, Vec::<String>::new());
    let page = list(&app, &token, json!({ "f": { "unassigned": true } })).await;
    assert_eq!(page["totalCount"], 3);

    let ordered = |field: &'static str, direction: &'static str| {
        let (app, token) = (&app, &token);
        async move { last_names(&list(app, token, json!({ "o": { "field": field, "direction": direction } })).await) }
    };
    assert_eq!(ordered("CREATED_AT", "ASC").await, ["Zeta", "alpha", "Mu", "beta", "Omega", "Gamma"]);
    assert_eq!(ordered("CREATED_AT", "DESC").await, ["Gamma", "Omega", "beta", "Mu", "alpha", "Zeta"]);
    assert_eq!(ordered("LAST_NAME", "ASC").await, ["alpha", "beta", "Gamma", "Mu", "Omega", "Zeta"]);
    assert_eq!(ordered("LAST_NAME", "DESC").await, ["Zeta", "Omega", "Mu", "Gamma", "beta", "alpha"]);
    let by_update = ordered("UPDATED_AT", "DESC").await;
    assert_eq!(by_update[..2], ["Gamma", "Omega"], "the note, then the last assignment");
    let mut reversed = ordered("UPDATED_AT", "ASC").await;
    reversed.reverse();
    assert_eq!(reversed, by_update);
    // The default order is newest first, as before orders existed.
    assert_eq!(last_names(&list(&app, &token, json!({})).await), ordered("CREATED_AT", "DESC").await);

    let refused = [
        (json!({ "f": { "assignedTo": alex, "unassigned": true } }), "unassigned"),
        (json!({ "f": { "createdAfter": created[3], "createdBefore": created[1] } }), "createdBefore"),
        (json!({ "status": "PENDING", "f": { "status": ["PENDING"] } }), "status"),
        (json!({ "first": 2, "last": 2 }), "last"),
        (json!({ "first": 101 }), "first"),
        (json!({ "last": -1 }), "last"),
        (json!({ "f": { "assignedTo": "not-an-id" } }), "assignedTo"),
        // No name or email holds a line break or a tab: such a term could only span two fields.
        (json!({ "f": { "search": "Zeta\nalpha" } }), "search"),
        (json!({ "search": "Zeta\talpha" }), "search"),
    ];
    for (vars, field) in refused {
        let body = app.graphql(LIST, vars.clone(), Some(&token)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{vars}: {body}");
        assert_eq!(error_field(&body), field, "{vars}: {body}");
    }
}

async fn paging_both_ways_has_no_duplicates_or_gaps_while_leads_arrive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.attorney("alex@firm.test").await;
    let mut originals = Vec::new();
    for i in 0..23 {
        // Last names in mixed case and out of submission order.
        let last = if i % 2 == 0 { format!("name{:02}", (i * 7) % 23) } else { format!("NAME{:02}", (i * 7) % 23) };
        originals.push(app.submit_id(lead_input("P", &last, &format!("p{i}@example.com"))).await);
    }
    let mut arrivals = 0;
    let mut arrive = || {
        arrivals += 1;
        let n = arrivals;
        let app = &app;
        async move { app.submit_id(lead_input("New", &format!("name{n:02}x"), &format!("new{n}@example.com"))).await }
    };

    // Forwards, newest first: leads that arrive meanwhile are newer, so they stay out.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = list(&app, &token, json!({ "first": 5, "after": after })).await;
        assert_eq!(page["pageInfo"]["hasPreviousPage"], after.is_some(), "{page}");
        seen.extend(ids(&page));
        pages += 1;
        arrive().await;
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = Some(page["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(pages, 5);
    let mut expected = originals.clone();
    expected.reverse();
    assert_eq!(seen, expected, "every lead once, newest first");

    // Backwards by last name: `last` before each page's start, leads arriving between pages.
    let order = json!({ "field": "LAST_NAME", "direction": "ASC" });
    let mut pages_back: Vec<Vec<(String, String)>> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = list(&app, &token, json!({ "o": order, "last": 4, "before": before })).await;
        assert_eq!(page["pageInfo"]["hasNextPage"], before.is_some(), "{page}");
        let names = last_names(&page);
        pages_back.push(ids(&page).into_iter().zip(names).collect());
        arrive().await;
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = Some(page["pageInfo"]["startCursor"].as_str().unwrap().to_owned());
    }
    let all: Vec<(String, String)> = pages_back.into_iter().rev().flatten().collect();
    let unique: HashSet<&String> = all.iter().map(|(id, _)| id).collect();
    assert_eq!(unique.len(), all.len(), "no lead twice");
    for id in &originals {
        assert!(unique.contains(id), "lead {id} was skipped");
    }
    let keys: Vec<String> = all.iter().map(|(_, name)| name.to_lowercase()).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "in name order, ignoring case: {keys:?}");

    // A cursor is a position in one order only, and goes with its own direction.
    let by_name = list(&app, &token, json!({ "o": order, "first": 2 })).await;
    let cursor = by_name["pageInfo"]["endCursor"].clone();
    let body = app.graphql(LIST, json!({ "first": 2, "after": cursor }), Some(&token)).await;
    assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "after"), "{body}");
    let body = app.graphql(LIST, json!({ "o": order, "last": 2, "after": cursor }), Some(&token)).await;
    assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "after"), "{body}");
    let body = app.graphql(LIST, json!({ "before": "bm90IGEgY3Vyc29y", "last": 2 }), Some(&token)).await;
    assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "before"), "{body}");
}

/// A term matched by more leads than the text index is asked for (3,000 on SQLite,
/// `leads::list`) is found by walking the list's order instead, and one the newest 1,500
/// leads don't fill a page with is found in the text index (PostgreSQL): the same leads,
/// counted, paged, without the ones that do not match.
async fn a_search_too_common_for_the_text_index_finds_the_same_leads(backend: Backend) {
    use entity::lead;
    use sea_orm::EntityTrait;
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    let other = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let start = api::infra::clock::now() - chrono::Duration::days(1);
    for chunk in (0..3005i64).collect::<Vec<_>>().chunks(500) {
        let rows = chunk.iter().map(|&i| {
            let at = start + chrono::Duration::seconds(i);
            lead::ActiveModel::from(lead::Model {
                id: uuid::Uuid::now_v7(),
                first_name: "Sam".into(),
                last_name: format!("Commonname{i}"),
                email: format!("sam{i}@example.com"),
                resume_key: format!("resumes/common-{i}.pdf"),
                resume_file_name: "cv.pdf".into(),
                resume_content_type: "application/pdf".into(),
                resume_size_bytes: 1,
                created_at: at,
                updated_at: at,
                email_key: format!("sam{i}@example.com"),
                ..lead::Model::default()
            })
        });
        lead::Entity::insert_many(rows).exec_without_returning(&app.state.db).await.unwrap();
    }
    let first = list(&app, &token, json!({ "f": { "search": "commonname" }, "first": 3 })).await;
    assert_eq!(first["totalCount"], 3005);
    assert_eq!(last_names(&first), ["Commonname3004", "Commonname3003", "Commonname3002"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let after = first["pageInfo"]["endCursor"].clone();
    let second = list(&app, &token, json!({ "f": { "search": "commonname" }, "first": 2, "after": after })).await;
    assert_eq!(last_names(&second), ["Commonname3001", "Commonname3000"]);
    let rare = list(&app, &token, json!({ "f": { "search": "commonname17" }, "first": 20 })).await;
    assert_eq!(rare["totalCount"], 111, "17, 170–179 and 1700–1799, through the text index");
    let old = list(&app, &token, json!({ "f": { "search": "commonname5" }, "first": 2 })).await;
    assert_eq!(old["totalCount"], 111, "5, 50–59 and 500–599: none among the newest 1,500");
    assert_eq!(last_names(&old), ["Commonname599", "Commonname598"]);
    assert_eq!(old["pageInfo"]["hasNextPage"], true);
    let fives = list(&app, &token, json!({ "f": { "search": "commonname5" }, "last": 1 })).await;
    let oldest_five = fives["edges"][0]["cursor"].clone();
    assert_eq!(fives["edges"][0]["node"]["lastName"], "Commonname5");
    let tail = list(&app, &token, json!({ "f": { "search": "commonname" }, "first": 20, "after": oldest_five })).await;
    assert_eq!(last_names(&tail), ["Commonname4", "Commonname3", "Commonname2", "Commonname1", "Commonname0"]);
    assert_eq!(tail["pageInfo"]["hasNextPage"], false, "the last page of a common term");
    let few = list(&app, &token, json!({ "f": { "search": "commonname30" }, "first": 20 })).await;
    let few_names = last_names(&few);
    assert_eq!(few_names.len(), 16, "30, 300–309 and 3000–3004: {few_names:?}");
    assert_eq!(
        few_names[..6],
        ["Commonname3004", "Commonname3003", "Commonname3002", "Commonname3001", "Commonname3000", "Commonname309"]
    );
    assert_eq!(few_names[15], "Commonname30");
    assert_eq!(few["pageInfo"]["hasNextPage"], false);
    let everyone = list(&app, &token, json!({ "f": { "search": "example.com" }, "first": 100 })).await;
    assert_eq!(everyone["totalCount"], 3006);
    assert_eq!(ids(&everyone)[0], other, "Ada's is the newest lead, matched by her email alone");

    // The way a search was found is remembered: the same search again (another page size, so
    // that no kept answer serves it) skips the trial, SQLite's count or PostgreSQL's walk.
    let page =
        "query($first: Int) { leads(filter: { search: \"commonname4\" }, first: $first) { edges { node { id } } } }";
    let statements = || app.state.statements.load(Ordering::SeqCst);
    let before = statements();
    let tried = app.graphql(page, json!({ "first": 20 }), Some(&token)).await;
    let trial = statements() - before;
    let before = statements();
    let again = app.graphql(page, json!({ "first": 19 }), Some(&token)).await;
    let remembered = statements() - before;
    assert_eq!(tried["data"]["leads"]["edges"].as_array().map(Vec::len), Some(20), "{tried}");
    assert_eq!(again["data"]["leads"]["edges"].as_array().map(Vec::len), Some(19), "{again}");
    assert_eq!(remembered, 1, "the page alone");
    assert!(trial > remembered, "the trial ({trial} statements) was not skipped");
}

/// Capitals beyond ASCII are folded too, on the page and in the count: SQLite's own `lower()`
/// would leave "Ø" as it is, so there its text index decides.
async fn a_search_ignores_the_case_of_every_letter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    app.submit_id(lead_input("Élodie", "Ødegaard", "elodie@example.com")).await;
    app.submit_id(lead_input("Lars", "Ström", "lars@example.com")).await;
    app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    for (term, expected) in [
        ("ødegaard", "Ødegaard"),
        ("ØDEGAARD", "Ødegaard"),
        ("ÉLODIE", "Ødegaard"),
        ("élo", "Ødegaard"),
        ("STRÖM", "Ström"),
        ("tröm", "Ström"),
    ] {
        let page = list(&app, &token, json!({ "f": { "search": term } })).await;
        assert_eq!(last_names(&page), [expected], "search {term:?}: {page}");
        assert_eq!(page["totalCount"], 1, "search {term:?}: {page}");
    }
    let page = list(&app, &token, json!({ "f": { "search": "strom" } })).await;
    assert_eq!(page["totalCount"], 0, "an accent is a different letter: {page}");
}
