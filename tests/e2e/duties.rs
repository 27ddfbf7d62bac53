//! The firm's duties: the conflict register and check, decisions, outcomes, and the response
//! deadline with its reminders, escalations and assignment mails.

use std::{io::Write, process::Command, sync::atomic::Ordering, time::Duration};

use entity::email_job::{self, EmailKind, JobState};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_EMAIL, Backend, TestApp, error_code, error_field, later, lead_input},
    on_both_backends,
};

on_both_backends!(
    the_register_is_filled_in_bulk_all_or_nothing,
    a_csv_import_with_a_bad_row_stores_nothing,
    submissions_are_checked_against_the_register_and_earlier_leads,
    the_attorney_mail_says_possible_conflict,
    conflicts_are_decided_and_rerun_with_history,
    a_corrected_name_or_address_is_checked_again,
    outcomes_need_reasons_and_respect_conflicts,
    a_late_lead_is_reminded_then_escalated_once,
    reminders_are_dropped_once_the_lead_is_answered,
    assignment_tells_the_assignee_and_moves_the_reminder,
    a_lead_past_its_deadline_is_overdue,
    leads_from_before_the_check_are_keyed_at_start_up,
    consent_is_recorded_and_can_be_required,
    the_duties_are_guarded_on_get_and_sockets,
);

const LEAD_CHECK: &str = "query($id: ID!) { lead(id: $id) {
    id status outcome outcomeReason outcomeAt respondBy overdue
    conflictCheck { state checkedAt note decidedAt decidedBy { email }
      hits { source matchedOn score samePerson party { name role } lead { id email } } }
    history { kind actor { kind user { email } } conflictState hitCount fromOutcome toOutcome reason }
} }";

async fn lead(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app.graphql(LEAD_CHECK, json!({ "id": id }), Some(token)).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["lead"].clone()
}

const ADD_PARTIES: &str = "mutation($p: [ConflictPartyInput!]!) { addConflictParties(parties: $p) { id name email organization role note createdAt } }";

async fn add_parties(app: &TestApp, admin: &str, parties: Value) -> Value {
    let body = app.graphql(ADD_PARTIES, json!({ "p": parties }), Some(admin)).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["addConflictParties"].clone()
}

async fn party_count(app: &TestApp, token: &str, search: Option<&str>) -> i64 {
    let body = app
        .graphql(
            "query($s: String) { conflictParties(search: $s, first: 100) { totalCount nodes { name } } }",
            json!({ "s": search }),
            Some(token),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["conflictParties"]["totalCount"].as_i64().unwrap()
}

fn register() -> Value {
    json!([
        { "name": "Lovelace, Ada", "role": "ADVERSE_PARTY", "note": "opposing party in Babbage v. Menabrea" },
        { "name": "Charles Babbage", "email": "cb@engines.example", "role": "CLIENT" },
        { "name": "Bruce Wayne", "organization": "Wayne Enterprises, Inc.", "role": "RELATED_PARTY" },
    ])
}

async fn the_register_is_filled_in_bulk_all_or_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    let added = add_parties(&app, &admin, register()).await;
    assert_eq!(added.as_array().unwrap().len(), 3);
    assert_eq!(added[0]["role"], "ADVERSE_PARTY");
    assert_eq!(added[1]["email"], "cb@engines.example");

    // One bad party: nothing of the batch is stored, and the error says which and why.
    let bad = json!([{ "name": "Good Person", "role": "CLIENT" }, { "name": "Bad Email", "email": "nope", "role": "CLIENT" }]);
    let body = app.graphql(ADD_PARTIES, json!({ "p": bad }), Some(&admin)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "parties");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("[1]"), "{body}");
    assert_eq!(party_count(&app, &attorney, None).await, 3);

    // Attorneys read the register (searching ignores case, accents and order); only admins change it.
    assert_eq!(party_count(&app, &attorney, Some("LOVELACE")).await, 1);
    assert_eq!(party_count(&app, &attorney, Some("wayne enterprises")).await, 1);
    assert_eq!(party_count(&app, &attorney, Some("engines.example")).await, 1);
    let body = app.graphql(ADD_PARTIES, json!({ "p": register() }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app.graphql("{ conflictParties { totalCount } }", json!({}), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");

    // Paging, then removal.
    let page = app
        .graphql(
            "{ conflictParties(first: 2) { nodes { id } pageInfo { hasNextPage endCursor } } }",
            json!({}),
            Some(&attorney),
        )
        .await;
    assert_eq!(page["data"]["conflictParties"]["pageInfo"]["hasNextPage"], true);
    let after = page["data"]["conflictParties"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .graphql(
            "query($a: String) { conflictParties(first: 2, after: $a) { nodes { id } pageInfo { hasNextPage } } }",
            json!({ "a": after }),
            Some(&attorney),
        )
        .await;
    assert_eq!(rest["data"]["conflictParties"]["nodes"].as_array().unwrap().len(), 1);
    let id = added[0]["id"].clone();
    let remove = "mutation($id: ID!) { removeConflictParty(id: $id) }";
    assert_eq!(error_code(&app.graphql(remove, json!({ "id": id }), Some(&attorney)).await), "FORBIDDEN");
    assert_eq!(app.graphql(remove, json!({ "id": id }), Some(&admin)).await["data"]["removeConflictParty"], true);
    assert_eq!(app.graphql(remove, json!({ "id": id }), Some(&admin)).await["data"]["removeConflictParty"], false);
    assert_eq!(party_count(&app, &attorney, None).await, 2);
}

async fn a_csv_import_with_a_bad_row_stores_nothing(backend: Backend) {
    // The import is another process: on SQLite the server hears of it only when kept answers
    // (a second old at most) run out, so none are kept here.
    let app = TestApp::spawn_with(backend, |c| c.read_cache_max_age = Duration::ZERO).await;
    let attorney = app.attorney("alex@firm.test").await;
    let import = |csv: &str| {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(csv.as_bytes()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_intake"))
            .env_clear()
            .envs(app.env())
            .args(["conflicts", "import"])
            .arg(file.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let bad = "name,email,organization,role,note\n\
               \"Lovelace, Ada\",ada@example.com,,ADVERSE_PARTY,\n\
               Charles Babbage,not-an-email,,CLIENT,\n\
               Grace Hopper,,,PRESIDENT,\n";
    let (ok, output) = import(bad);
    assert!(!ok, "{output}");
    assert!(output.contains(":3: email"), "line 3 named: {output}");
    assert!(output.contains(":4: role `PRESIDENT`"), "line 4 named: {output}");
    assert!(output.contains("nothing was imported"), "{output}");
    assert_eq!(party_count(&app, &attorney, None).await, 0);

    let good = "name,email,organization,role,note\n\
               \"Lovelace, Ada\",ada@example.com,,ADVERSE_PARTY,\n\
               Charles Babbage,,Analytical Engines Ltd,former client,met in 1833\n";
    let (ok, output) = import(good);
    assert!(ok, "{output}");
    assert!(output.contains("imported 2 parties"), "{output}");
    assert_eq!(party_count(&app, &attorney, None).await, 2);
    // The imported parties are checked against at once.
    let id = app.submit_id(lead_input("Ada", "Lovelace", "someone@example.org")).await;
    assert_eq!(lead(&app, &attorney, &id).await["conflictCheck"]["state"], "POSSIBLE_CONFLICT");
}

async fn submissions_are_checked_against_the_register_and_earlier_leads(backend: Backend) {
    // One read (the check's, with the address's first lead), then the write: the webhook
    // endpoints, the acknowledgement count, the lead, its history and its mails; PostgreSQL
    // adds the shared rate limit, the acknowledgement lock and the announcement's NOTIFY. (The
    // workers' NOTIFY is sent unprepared, which sea-orm's count misses.)
    let statements_per_submission = if matches!(backend, Backend::Sqlite) { 6 } else { 9 };
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    add_parties(&app, &admin, register()).await;
    let check = |id: String| {
        let (app, admin) = (&app, &admin);
        async move { lead(app, admin, &id).await["conflictCheck"].clone() }
    };
    let first_hit = |check: &Value| check["hits"][0].clone();

    // The same name, written the other way round and with accents.
    let c = check(app.submit_id(lead_input("Ádá", "LÓVELACE", "ada@analytical.example")).await).await;
    assert_eq!(c["state"], "POSSIBLE_CONFLICT", "{c}");
    let hit = first_hit(&c);
    assert_eq!(hit["source"], "REGISTER");
    assert_eq!(hit["matchedOn"], json!(["name"]));
    assert_eq!(hit["party"]["name"], "Lovelace, Ada");
    assert_eq!(hit["party"]["role"], "ADVERSE_PARTY");
    let exact = hit["score"].as_f64().unwrap();
    assert!((0.8..=1.0).contains(&exact), "{hit}");

    // One typo away: still a hit, scored lower.
    let c = check(app.submit_id(lead_input("Ada", "Lovelase", "a.l@typo.example")).await).await;
    assert_eq!(c["state"], "POSSIBLE_CONFLICT", "{c}");
    let typo = c["hits"].as_array().unwrap().iter().find(|h| h["source"] == "REGISTER").unwrap().clone();
    assert_eq!(typo["matchedOn"], json!(["name"]));
    assert!(typo["score"].as_f64().unwrap() < exact, "{typo}");

    // The email, in another case, under another name.
    let c = check(app.submit_id(lead_input("Someone", "Else", "CB@Engines.Example")).await).await;
    assert_eq!(first_hit(&c)["matchedOn"], json!(["email"]), "{c}");
    assert_eq!(first_hit(&c)["score"], 1.0);
    assert_eq!(first_hit(&c)["party"]["name"], "Charles Babbage");

    // The organisation, by the prospect's email domain.
    let c = check(app.submit_id(lead_input("Lucius", "Fox", "lucius@wayneenterprises.com")).await).await;
    assert_eq!(first_hit(&c)["matchedOn"], json!(["organization"]), "{c}");
    assert_eq!(c["state"], "POSSIBLE_CONFLICT");

    // Nobody known: CLEAR, no hits.
    let clear = app.submit_id(lead_input("Mary", "Shelley", "mary@shelley.example")).await;
    let c = check(clear.clone()).await;
    assert_eq!(c["state"], "CLEAR", "{c}");
    assert_eq!(c["hits"], json!([]));

    // The same person again: a repeat, not a conflict.
    let c = check(app.submit_id(lead_input("Mary", "Shelley", "MARY@shelley.example")).await).await;
    assert_eq!(c["state"], "CLEAR", "{c}");
    assert_eq!(first_hit(&c)["source"], "LEAD");
    assert_eq!(first_hit(&c)["samePerson"], true);
    assert_eq!(first_hit(&c)["lead"]["id"], clear.as_str());

    // Someone else by that name: their earlier lead is a possible conflict.
    let c = check(app.submit_id(lead_input("Mary", "Shelley", "other.mary@elsewhere.example")).await).await;
    assert_eq!(c["state"], "POSSIBLE_CONFLICT", "{c}");
    assert!(c["hits"].as_array().unwrap().iter().all(|h| h["source"] == "LEAD" && h["samePerson"] == false), "{c}");

    // The dashboard's filter.
    let body = app
        .graphql("{ leads(filter: { conflictState: [POSSIBLE_CONFLICT] }) { totalCount } }", json!({}), Some(&admin))
        .await;
    assert_eq!(body["data"]["leads"]["totalCount"], 5, "{body}");
    let body =
        app.graphql("{ leads(filter: { conflictState: [CLEAR] }) { totalCount } }", json!({}), Some(&admin)).await;
    assert_eq!(body["data"]["leads"]["totalCount"], 2, "{body}");

    // A repeat that is also a possible conflict, with a register: still one read.
    let before = app.state.statements.load(Ordering::SeqCst);
    app.submit_id(lead_input("Mary", "Shelley", "mary@shelley.example")).await;
    let used = app.state.statements.load(Ordering::SeqCst) - before;
    assert_eq!(used, statements_per_submission, "statements for one submission");
}

async fn the_attorney_mail_says_possible_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.attorney("alex@firm.test").await;
    add_parties(&app, &admin, register()).await;
    app.submit_id(lead_input("Ada", "Lovelace", "ada@example.org")).await;
    app.submit_id(lead_input("Grace", "Hopper", "grace@example.org")).await;
    assert_eq!(app.drain_mail().await.sent, 4);
    let mails = app.smtp.messages();
    let to_attorney: Vec<_> = mails.iter().filter(|m| m.rcpt_to == ["alex@firm.test"]).collect();
    let conflict = to_attorney.iter().find(|m| m.header("Subject").contains("Lovelace")).unwrap();
    assert!(conflict.header("Subject").starts_with("Possible conflict"), "{}", conflict.header("Subject"));
    let (text, html) = conflict.bodies();
    assert!(text.contains("Lovelace, Ada (register: ADVERSE_PARTY), matched on name"), "{text}");
    assert!(html.contains("Possible conflict"), "{html}");
    let clear = to_attorney.iter().find(|m| m.header("Subject").contains("Hopper")).unwrap();
    assert_eq!(clear.header("Subject"), "New lead: Grace Hopper");
    assert!(!clear.bodies().0.contains("Possible conflict"));
    // The prospect is told nothing of it.
    let ack = mails.iter().find(|m| m.rcpt_to == ["ada@example.org"]).unwrap();
    assert!(!ack.bodies().0.contains("conflict"), "{}", ack.bodies().0);
}

async fn conflicts_are_decided_and_rerun_with_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    add_parties(&app, &admin, register()).await;
    let resolve = "mutation($id: ID!, $d: ConflictDecision!, $n: String) {
        resolveConflict(leadId: $id, decision: $d, note: $n) { conflictCheck { state note decidedBy { email } } } }";
    let rerun =
        "mutation($id: ID!) { rerunConflictCheck(leadId: $id) { conflictCheck { state hits { party { name } } } } }";

    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.org")).await;
    // CONFLICT needs a note.
    let body = app.graphql(resolve, json!({ "id": id, "d": "CONFLICT" }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "note");
    let body =
        app.graphql(resolve, json!({ "id": id, "d": "CLEARED", "n": "a namesake, born 1990" }), Some(&attorney)).await;
    assert_eq!(body["data"]["resolveConflict"]["conflictCheck"]["state"], "CLEARED", "{body}");
    assert_eq!(body["data"]["resolveConflict"]["conflictCheck"]["decidedBy"]["email"], "alex@firm.test");

    // Nothing new in the register: the decision stands.
    let body = app.graphql(rerun, json!({ "id": id }), Some(&attorney)).await;
    assert_eq!(body["data"]["rerunConflictCheck"]["conflictCheck"]["state"], "CLEARED", "{body}");
    // A new party matches: decide again.
    add_parties(&app, &admin, json!([{ "name": "Ada Lovelace", "email": "ada@example.org", "role": "FORMER_CLIENT" }]))
        .await;
    let body = app.graphql(rerun, json!({ "id": id }), Some(&attorney)).await;
    assert_eq!(body["data"]["rerunConflictCheck"]["conflictCheck"]["state"], "POSSIBLE_CONFLICT", "{body}");
    let body =
        app.graphql(resolve, json!({ "id": id, "d": "CONFLICT", "n": "she is the other side" }), Some(&attorney)).await;
    assert_eq!(body["data"]["resolveConflict"]["conflictCheck"]["state"], "CONFLICT", "{body}");

    let seen = lead(&app, &attorney, &id).await;
    assert_eq!(seen["conflictCheck"]["note"], "she is the other side");
    let kinds: Vec<(&str, &str)> = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("CONFLICT"))
        .map(|e| (e["kind"].as_str().unwrap(), e["conflictState"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("CONFLICT_RESOLVED", "CONFLICT"),
            ("CONFLICT_CHECKED", "POSSIBLE_CONFLICT"),
            ("CONFLICT_CHECKED", "CLEARED"),
            ("CONFLICT_RESOLVED", "CLEARED"),
            ("CONFLICT_CHECKED", "POSSIBLE_CONFLICT"),
        ],
        "newest first: {seen}"
    );
    let history = seen["history"].as_array().unwrap();
    let submitted_check = history.iter().rev().find(|e| e["kind"] == "CONFLICT_CHECKED").unwrap();
    assert_eq!(submitted_check["actor"]["kind"], "SYSTEM");
    let decision = history.iter().find(|e| e["kind"] == "CONFLICT_RESOLVED").unwrap();
    assert_eq!(decision["actor"]["user"]["email"], "alex@firm.test");
    assert_eq!(decision["reason"], "she is the other side");

    // A clear lead has nothing to decide; the anonymous may decide nothing.
    let clear = app.submit_id(lead_input("Grace", "Hopper", "grace@example.org")).await;
    let body = app.graphql(resolve, json!({ "id": clear, "d": "CLEARED" }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = app.graphql(resolve, json!({ "id": id, "d": "CLEARED" }), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

const SET_OUTCOME: &str = "mutation($id: ID!, $o: LeadOutcome!, $r: String) {
    setLeadOutcome(id: $id, outcome: $o, reason: $r) { outcome outcomeReason outcomeAt } }";

async fn a_corrected_name_or_address_is_checked_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    add_parties(&app, &admin, register()).await;
    let fix = "mutation($id: ID!, $i: UpdateLeadInput!) { updateLead(id: $id, input: $i) {
        lastName conflictCheck { state hits { matchedOn party { name } } } } }";
    let resolve = "mutation($id: ID!) { resolveConflict(leadId: $id, decision: CLEARED, note: \"a namesake\") {
        conflictCheck { state } } }";

    // Submitted under her maiden name: nothing in the register matches.
    let id = app.submit_id(lead_input("Ada", "Byron", "ada@example.org")).await;
    assert_eq!(lead(&app, &attorney, &id).await["conflictCheck"]["state"], "CLEAR");
    // Corrected to her married name, the adverse party's: the correction itself finds her.
    let body = app.graphql(fix, json!({ "id": id, "i": { "lastName": "Lovelace" } }), Some(&attorney)).await;
    let check = &body["data"]["updateLead"]["conflictCheck"];
    assert_eq!(check["state"], "POSSIBLE_CONFLICT", "{body}");
    assert_eq!(check["hits"][0]["party"]["name"], "Lovelace, Ada", "{body}");
    assert_eq!(check["hits"][0]["matchedOn"], json!(["name"]), "{body}");
    let seen = lead(&app, &attorney, &id).await;
    let newest: Vec<(&str, &str)> = seen["history"].as_array().unwrap()[..2]
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"]["user"]["email"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(
        newest,
        [("CONFLICT_CHECKED", "alex@firm.test"), ("FIELDS_UPDATED", "alex@firm.test")],
        "newest first: {seen}"
    );

    // Decided; a correction that finds no one new leaves the decision standing…
    let body = app.graphql(resolve, json!({ "id": id }), Some(&attorney)).await;
    assert_eq!(body["data"]["resolveConflict"]["conflictCheck"]["state"], "CLEARED", "{body}");
    let body = app.graphql(fix, json!({ "id": id, "i": { "firstName": "Ada " } }), Some(&attorney)).await;
    assert_eq!(body["data"]["updateLead"]["conflictCheck"]["state"], "CLEARED", "{body}");
    // …but a new address that is a client's is a new hit, to be decided afresh.
    let body = app.graphql(fix, json!({ "id": id, "i": { "email": "CB@engines.example" } }), Some(&attorney)).await;
    let check = &body["data"]["updateLead"]["conflictCheck"];
    assert_eq!(check["state"], "POSSIBLE_CONFLICT", "{body}");
    let parties: Vec<&str> =
        check["hits"].as_array().unwrap().iter().filter_map(|h| h["party"]["name"].as_str()).collect();
    assert!(parties.contains(&"Charles Babbage"), "{body}");

    // A correction that changes nothing of the name or address checks nothing.
    let checks =
        |seen: &Value| seen["history"].as_array().unwrap().iter().filter(|e| e["kind"] == "CONFLICT_CHECKED").count();
    let before = checks(&lead(&app, &attorney, &id).await);
    let body = app.graphql(fix, json!({ "id": id, "i": { "lastName": "Lovelace" } }), Some(&attorney)).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(checks(&lead(&app, &attorney, &id).await), before);
}

async fn outcomes_need_reasons_and_respect_conflicts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    let a = app.submit_id(lead_input("Ada", "One", "one@example.org")).await;
    let b = app.submit_id(lead_input("Bea", "Two", "two@example.org")).await;
    let c = app.submit_id(lead_input("Cid", "Three", "three@example.org")).await;
    let fresh = lead(&app, &attorney, &a).await;
    assert_eq!(fresh["outcome"], "OPEN");
    assert!(fresh["respondBy"].is_null() && fresh["overdue"] == false, "no target, no deadline: {fresh}");

    for outcome in ["DECLINED", "REFERRED_OUT"] {
        let body = app.graphql(SET_OUTCOME, json!({ "id": a, "o": outcome, "r": "  " }), Some(&attorney)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_field(&body), "reason");
    }
    let body = app.graphql(SET_OUTCOME, json!({ "id": a, "o": "RETAINED" }), Some(&attorney)).await;
    assert_eq!(body["data"]["setLeadOutcome"]["outcome"], "RETAINED", "{body}");
    let at = body["data"]["setLeadOutcome"]["outcomeAt"].clone();
    // The same again changes nothing, not even the time.
    let again = app.graphql(SET_OUTCOME, json!({ "id": a, "o": "RETAINED" }), Some(&attorney)).await;
    assert_eq!(again["data"]["setLeadOutcome"]["outcomeAt"], at);
    let body = app
        .graphql(SET_OUTCOME, json!({ "id": b, "o": "DECLINED", "r": "outside our practice" }), Some(&attorney))
        .await;
    assert_eq!(body["data"]["setLeadOutcome"]["outcomeReason"], "outside our practice", "{body}");
    let body = app.graphql(SET_OUTCOME, json!({ "id": c, "o": "CONSULTATION_SCHEDULED" }), Some(&attorney)).await;
    assert!(body["errors"].is_null(), "{body}");

    let history = lead(&app, &attorney, &a).await["history"].clone();
    let set: Vec<&Value> = history.as_array().unwrap().iter().filter(|e| e["kind"] == "OUTCOME_SET").collect();
    assert_eq!(set.len(), 1, "a no-op is not history: {history}");
    assert_eq!((set[0]["fromOutcome"].as_str(), set[0]["toOutcome"].as_str()), (Some("OPEN"), Some("RETAINED")));
    assert_eq!(set[0]["actor"]["user"]["email"], "alex@firm.test");

    let stats =
        app.graphql("{ leadStats { byOutcome { outcome count } conversionRate } }", json!({}), Some(&attorney)).await;
    let by: Vec<(String, i64)> = stats["data"]["leadStats"]["byOutcome"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["outcome"].as_str().unwrap().to_owned(), o["count"].as_i64().unwrap()))
        .collect();
    assert!(by.contains(&("RETAINED".into(), 1)) && by.contains(&("DECLINED".into(), 1)), "{stats}");
    assert!(by.contains(&("CONSULTATION_SCHEDULED".into(), 1)) && by.contains(&("NO_RESPONSE".into(), 0)), "{stats}");
    assert_eq!(stats["data"]["leadStats"]["conversionRate"], 0.5, "one retained of two decided: {stats}");
    let body = app
        .graphql("{ leads(filter: { outcome: [RETAINED, DECLINED] }) { totalCount } }", json!({}), Some(&attorney))
        .await;
    assert_eq!(body["data"]["leads"]["totalCount"], 2);

    // A lead in CONFLICT can only be declined or referred out.
    add_parties(&app, &admin, json!([{ "name": "Dan Four", "role": "ADVERSE_PARTY" }])).await;
    let d = app.submit_id(lead_input("Dan", "Four", "four@example.org")).await;
    let resolve = "mutation($id: ID!) { resolveConflict(leadId: $id, decision: CONFLICT, note: \"adverse\") { id } }";
    assert!(app.graphql(resolve, json!({ "id": d }), Some(&attorney)).await["errors"].is_null());
    let body = app.graphql(SET_OUTCOME, json!({ "id": d, "o": "RETAINED" }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "outcome");
    let body = app
        .graphql(
            SET_OUTCOME,
            json!({ "id": d, "o": "REFERRED_OUT", "r": "conflict: sent to Smith LLP" }),
            Some(&attorney),
        )
        .await;
    assert_eq!(body["data"]["setLeadOutcome"]["outcome"], "REFERRED_OUT", "{body}");
    let body = app.graphql(SET_OUTCOME, json!({ "id": d, "o": "RETAINED" }), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

async fn jobs_of(app: &TestApp, kind: EmailKind) -> Vec<email_job::Model> {
    email_job::Entity::find().filter(email_job::Column::Kind.eq(kind)).all(&app.state.db).await.unwrap()
}

fn with_target(target: Duration) -> impl FnOnce(&mut api::app::config::Config) {
    move |config| config.deadline.target = Some(target)
}

async fn a_late_lead_is_reminded_then_escalated_once(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, with_target(Duration::from_secs(3600))).await;
    let admin = app.admin_token().await;
    app.attorney("alex@firm.test").await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.org")).await;
    let seen = lead(&app, &admin, &id).await;
    let respond_by: chrono::DateTime<chrono::Utc> = seen["respondBy"].as_str().unwrap().parse().unwrap();
    let submitted =
        app.graphql("query($id: ID!) { lead(id: $id) { createdAt } }", json!({ "id": id }), Some(&admin)).await;
    let created: chrono::DateTime<chrono::Utc> =
        submitted["data"]["lead"]["createdAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(respond_by - created, chrono::Duration::hours(1));
    assert_eq!(seen["overdue"], false);

    assert_eq!(app.drain_mail().await.sent, 2, "acknowledgement and notification now; nothing else is due");
    // They survive a restart.
    app.restart().await;
    assert_eq!(app.drain_mail_at(later(Duration::from_secs(3500))).await.sent, 0);
    let report = app.drain_mail_at(later(Duration::from_secs(3601))).await;
    assert_eq!(report.sent, 1, "the reminder, to the attorney");
    let reminder = app.smtp.messages().into_iter().find(|m| m.header("Subject").starts_with("Reminder")).unwrap();
    assert_eq!(reminder.rcpt_to, ["alex@firm.test"]);
    assert!(reminder.bodies().0.contains("still PENDING"), "{}", reminder.bodies().0);
    assert_eq!(app.drain_mail_at(later(Duration::from_secs(7300))).await.sent, 1, "the escalation, to the admin");
    let escalation = app.smtp.messages().into_iter().find(|m| m.header("Subject").starts_with("Overdue")).unwrap();
    assert_eq!(escalation.rcpt_to, [ADMIN_EMAIL]);
    // Never twice.
    assert_eq!(app.drain_mail_at(later(Duration::from_secs(90_000))).await.sent, 0);
    assert_eq!(app.smtp.messages().len(), 4);
    let kinds = app
        .graphql(
            "query($id: ID!) { lead(id: $id) { notifications { kind state } } }",
            json!({ "id": id }),
            Some(&admin),
        )
        .await;
    let kinds = kinds["data"]["lead"]["notifications"].to_string();
    assert!(kinds.contains("RESPONSE_REMINDER") && kinds.contains("RESPONSE_ESCALATION"), "{kinds}");
}

async fn reminders_are_dropped_once_the_lead_is_answered(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_target(Duration::from_secs(3600))).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    let reached = app.submit_id(lead_input("Ada", "Reached", "reached@example.org")).await;
    let decided = app.submit_id(lead_input("Bea", "Decided", "decided@example.org")).await;
    let late = app.submit_id(lead_input("Cid", "Late", "late@example.org")).await;
    assert_eq!(app.drain_mail().await.sent, 6);
    let status = "mutation($id: ID!) { updateLeadStatus(id: $id, status: REACHED_OUT) { status } }";
    assert!(app.graphql(status, json!({ "id": reached }), Some(&attorney)).await["errors"].is_null());
    let body = app.graphql(SET_OUTCOME, json!({ "id": decided, "o": "NO_RESPONSE" }), Some(&attorney)).await;
    assert!(body["errors"].is_null(), "{body}");

    let report = app.drain_mail_at(later(Duration::from_secs(7300))).await;
    assert_eq!(report.sent, 2, "only the late lead's reminder and escalation: {report:?}");
    let chasers: Vec<String> = app
        .smtp
        .messages()
        .iter()
        .map(|m| m.header("Subject"))
        .filter(|s| s.starts_with("Reminder") || s.starts_with("Overdue"))
        .collect();
    assert_eq!(chasers.len(), 2, "{chasers:?}");
    assert!(chasers.iter().all(|s| s.contains("Cid Late")), "{chasers:?}");
    for kind in [EmailKind::ResponseReminder, EmailKind::ResponseEscalation] {
        for job in jobs_of(&app, kind).await {
            let expected = if job.lead_id.unwrap().to_string() == late { JobState::Sent } else { JobState::Cancelled };
            assert_eq!(job.state, expected, "{job:?}");
        }
    }
    let stats = app.graphql("{ emailJobStats { cancelled } }", json!({}), Some(&admin)).await;
    assert_eq!(stats["data"]["emailJobStats"]["cancelled"], 4, "{stats}");
}

async fn assignment_tells_the_assignee_and_moves_the_reminder(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_target(Duration::from_secs(3600))).await;
    let admin = app.admin_token().await;
    let (alex_id, alex) = app.attorney_with_id("alex@firm.test").await;
    let (sam_id, _) = app.attorney_with_id("sam@firm.test").await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.org")).await;
    assert_eq!(app.drain_mail().await.sent, 3, "acknowledgement, two notifications");
    let assign = "mutation($id: ID!, $u: ID) { assignLead(id: $id, userId: $u) { assignedTo { email } } }";

    // Taken by oneself: no mail.
    assert!(app.graphql(assign, json!({ "id": id, "u": alex_id }), Some(&alex)).await["errors"].is_null());
    assert_eq!(app.drain_mail().await.sent, 0);
    // Given to someone else: they are told.
    assert!(app.graphql(assign, json!({ "id": id, "u": sam_id }), Some(&admin)).await["errors"].is_null());
    assert_eq!(app.drain_mail().await.sent, 1);
    let told = app.smtp.messages().into_iter().find(|m| m.header("Subject").starts_with("Assigned to you")).unwrap();
    assert_eq!(told.rcpt_to, ["sam@firm.test"]);
    assert!(told.bodies().0.contains("Administrator assigned you this lead"), "{}", told.bodies().0);

    // The reminder goes to the assignee alone.
    assert_eq!(app.drain_mail_at(later(Duration::from_secs(3601))).await.sent, 1);
    let reminders: Vec<_> =
        app.smtp.messages().into_iter().filter(|m| m.header("Subject").starts_with("Reminder")).collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].rcpt_to, ["sam@firm.test"]);
}

async fn a_lead_past_its_deadline_is_overdue(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.deadline.target = Some(Duration::from_secs(1));
        // `overdue` turns with the clock, not with a change: kept answers (a second old at most)
        // would show it late.
        config.read_cache_max_age = Duration::ZERO;
    })
    .await;
    let admin = app.admin_token().await;
    let late = app.submit_id(lead_input("Ada", "Late", "late@example.org")).await;
    let answered = app.submit_id(lead_input("Bea", "Answered", "answered@example.org")).await;
    let status = "mutation($id: ID!) { updateLeadStatus(id: $id, status: REACHED_OUT) { status } }";
    assert!(app.graphql(status, json!({ "id": answered }), Some(&admin)).await["errors"].is_null());
    // Wait until the deadline has passed by the server's own clock.
    let respond_by: chrono::DateTime<chrono::Utc> =
        lead(&app, &admin, &late).await["respondBy"].as_str().unwrap().parse().unwrap();
    let wait = (respond_by - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(50);
    tokio::time::sleep(wait).await;
    assert_eq!(lead(&app, &admin, &late).await["overdue"], true);
    assert_eq!(lead(&app, &admin, &answered).await["overdue"], false);
    let body = app.graphql("{ leads(filter: { overdue: true }) { nodes { id } } }", json!({}), Some(&admin)).await;
    assert_eq!(body["data"]["leads"]["nodes"], json!([{ "id": late }]), "{body}");
    let body = app.graphql("{ leads(filter: { overdue: false }) { nodes { id } } }", json!({}), Some(&admin)).await;
    assert_eq!(body["data"]["leads"]["nodes"], json!([{ "id": answered }]), "{body}");
}

async fn leads_from_before_the_check_are_keyed_at_start_up(backend: Backend) {
    use sea_orm::ActiveModelTrait;
    let mut app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // A lead as migration 7 left one: no name key, nothing to find it by.
    let old = entity::lead::Model {
        id: uuid::Uuid::now_v7(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        email: "ada@old.example".into(),
        email_key: "ada@old.example".into(),
        resume_key: "resumes/old.pdf".into(),
        created_at: api::infra::clock::now(),
        updated_at: api::infra::clock::now(),
        ..Default::default()
    };
    entity::lead::ActiveModel::from(old.clone()).insert(&app.state.db).await.unwrap();
    app.restart().await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@new.example")).await;
    let check = lead(&app, &admin, &id).await["conflictCheck"].clone();
    assert_eq!(check["state"], "POSSIBLE_CONFLICT", "{check}");
    assert_eq!(check["hits"][0]["lead"]["id"], old.id.to_string());
}

async fn consent_is_recorded_and_can_be_required(backend: Backend) {
    let query = "query($id: ID!) { lead(id: $id) { consent { givenAt textVersion } } }";
    let private = "query($id: ID!) { lead(id: $id) { consent { ipAddress userAgent } } }";
    const TEXT: &str = "I agree that Test Firm may keep my details for 12 months.";
    let app = TestApp::spawn_with(backend.clone(), |c| c.consent_text = TEXT.into()).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    // The form shows the text.
    let page = app.client.get(format!("{}/form", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(TEXT), "{page}");
    // Off by default: clients that do not know of consent keep working.
    let without = app.submit_id(lead_input("Ada", "Without", "without@example.org")).await;
    let body = app.graphql(query, json!({ "id": without }), Some(&admin)).await;
    assert!(body["data"]["lead"]["consent"].is_null(), "{body}");
    let mut input = lead_input("Bea", "With", "with@example.org");
    input["consent"] = json!(true);
    let with = app.submit_id(input).await;
    let body = app.graphql(query, json!({ "id": with }), Some(&attorney)).await;
    let consent = &body["data"]["lead"]["consent"];
    assert!(consent["givenAt"].is_string(), "{body}");
    let expected = api::leads::submission::consent_text_version(TEXT);
    assert_eq!(consent["textVersion"], expected.as_str());
    assert_eq!(expected.len(), 64);
    // Where it came from: admins only.
    let body = app.graphql(private, json!({ "id": with }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = app.graphql(private, json!({ "id": with }), Some(&admin)).await;
    assert_eq!(body["data"]["lead"]["consent"]["ipAddress"], "127.0.0.1", "{body}");
    // This client sends no User-Agent (the browser test sees Chrome's kept).
    assert!(body["data"]["lead"]["consent"]["userAgent"].is_null(), "{body}");

    // Required: refused without it, nothing stored.
    let strict = TestApp::spawn_with(backend, |c| c.require_consent = true).await;
    let admin = strict.admin_token().await;
    for consent in [json!(null), json!(false)] {
        let mut input = lead_input("Cid", "Strict", "strict@example.org");
        input["consent"] = consent;
        let (_, body) = strict.submit_lead_raw(input, "cv.pdf", crate::helpers::PDF.to_vec()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_field(&body), "consent");
    }
    let body = strict.graphql("{ leads { totalCount } }", json!({}), Some(&admin)).await;
    assert_eq!(body["data"]["leads"]["totalCount"], 0, "{body}");
}

/// The duties' privileges hold on every path: GET queries and the WebSocket as well as POST.
async fn the_duties_are_guarded_on_get_and_sockets(backend: Backend) {
    use crate::workflow_live::{receive, send, signed_in_socket};
    let app = TestApp::spawn(backend).await;
    let attorney = app.attorney("alex@firm.test").await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.org")).await;
    let get = |token: Option<String>| {
        let query: String =
            url::form_urlencoded::byte_serialize("{ conflictParties { totalCount } }".as_bytes()).collect();
        let mut request = app.client.get(format!("{}/graphql?query={query}", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(error_code(&get(None).await), "UNAUTHENTICATED");
    assert_eq!(get(Some(attorney.clone())).await["data"]["conflictParties"]["totalCount"], 0);

    let mut socket = signed_in_socket(&app.address, &attorney).await;
    let mut run = async |id: &str, query: &str| {
        send(&mut socket, json!({ "id": id, "type": "subscribe", "payload": { "query": query } })).await;
        loop {
            let message = receive(&mut socket).await;
            if message["id"] == id && message["type"] == "next" {
                return message["payload"].clone();
            }
        }
    };
    let add = "mutation { addConflictParties(parties: [{ name: \"Bob Smith\", role: CLIENT }]) { id } }";
    let refused = run("1", add).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    let outcome = format!("mutation {{ setLeadOutcome(id: \"{id}\", outcome: RETAINED) {{ outcome }} }}");
    let done = run("2", &outcome).await;
    assert_eq!(done["data"]["setLeadOutcome"]["outcome"], "RETAINED", "{done}");
}
