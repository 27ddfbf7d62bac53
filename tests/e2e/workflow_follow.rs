//! Following a lead: its history, corrections, notes, assignment (by hand and round robin) and
//! links between repeat submissions.

use std::{collections::HashMap, time::Duration};

use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_EMAIL, Backend, PDF, TestApp, error_code, error_field, later, lead_input},
    on_both_backends,
};

on_both_backends!(history_records_every_change, round_robin_takes_turns, repeat_submissions_are_linked);

const HISTORY: &str = "query($id: ID!) { lead(id: $id) { firstName email assignedTo { email } \
    resume { fileName downloadUrl } notes { body author { email } } \
    history { kind at conflictState actor { kind name user { email } } fromStatus toStatus changes { field from to } \
    previousResume { fileName sizeBytes downloadUrl } assignee { email } previousAssignee { email } \
    note { body } email { kind state } recipient error willRetry } } }";

const NEW_PDF: &[u8] = b"%PDF-1.7\n% the corrected CV\ntrailer << >>\n%%EOF\n";

async fn history(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app.graphql(HISTORY, json!({ "id": id }), Some(token)).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["lead"].clone()
}

fn kinds(lead: &Value) -> Vec<String> {
    lead["history"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

async fn ok(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let body = app.graphql(query, variables, Some(token)).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"].clone()
}

async fn history_records_every_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alex, token) = app.attorney_with_id("alex@firm.test").await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;

    // One of the two mails fails once, then goes out on retry.
    app.smtp.fail_next(1);
    let first = app.drain_mail().await;
    assert_eq!((first.sent, first.retrying), (1, 1));
    assert_eq!(app.drain_mail_at(later(Duration::from_secs(3600))).await.sent, 1);

    ok(
        &app,
        &token,
        "mutation($id: ID!) { updateLeadStatus(id: $id, status: REACHED_OUT) { id } }",
        json!({ "id": id }),
    )
    .await;
    let fix = "mutation($id: ID!, $i: UpdateLeadInput!) { updateLead(id: $id, input: $i) { firstName email } }";
    let fixed = ok(
        &app,
        &token,
        fix,
        json!({ "id": id, "i": { "firstName": "Adah", "email": "adah@example.com", "lastName": "Lovelace" } }),
    )
    .await;
    assert_eq!(fixed["updateLead"], json!({ "firstName": "Adah", "email": "adah@example.com" }));

    let replace =
        "mutation($id: ID!, $f: Upload) { updateLead(id: $id, input: {}, resume: $f) { resume { fileName } } }";
    let replaced = app
        .graphql_with_file(replace, json!({ "id": id, "f": null }), "f", ("new cv.pdf", NEW_PDF.to_vec()), &token)
        .await;
    assert!(replaced["errors"].is_null(), "{replaced}");
    assert_eq!(replaced["data"]["updateLead"]["resume"]["fileName"], "new cv.pdf");

    let assign = "mutation($id: ID!, $u: ID) { assignLead(id: $id, userId: $u) { assignedTo { email } } }";
    assert_eq!(
        ok(&app, &token, assign, json!({ "id": id, "u": alex })).await["assignLead"]["assignedTo"]["email"],
        "alex@firm.test"
    );
    assert!(ok(&app, &token, assign, json!({ "id": id, "u": null })).await["assignLead"]["assignedTo"].is_null());
    let note = "mutation($id: ID!, $b: String!) { addLeadNote(leadId: $id, body: $b) { body author { email } } }";
    let added = ok(&app, &token, note, json!({ "id": id, "b": "  Called, left a voicemail.  " })).await;
    assert_eq!(
        added["addLeadNote"],
        json!({ "body": "Called, left a voicemail.", "author": { "email": "alex@firm.test" } })
    );

    let lead = history(&app, &token, &id).await;
    let kinds = kinds(&lead);
    assert_eq!(
        kinds[..7],
        [
            "NOTE_ADDED",
            "ASSIGNED",
            "ASSIGNED",
            "RESUME_REPLACED",
            "CONFLICT_CHECKED",
            "FIELDS_UPDATED",
            "STATUS_CHANGED"
        ],
        "newest first; the corrected name and address are checked again: {lead}"
    );
    let mut mails = kinds[7..10].to_vec();
    mails.sort();
    assert_eq!(mails, ["EMAIL_FAILED", "EMAIL_SENT", "EMAIL_SENT"], "{lead}");
    assert_eq!(kinds[10..], ["CONFLICT_CHECKED", "SUBMITTED"], "the check is recorded with the submission");
    let events = lead["history"].as_array().unwrap();
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    for event in &events[..7] {
        assert_eq!(event["actor"]["kind"], "USER");
        assert_eq!(event["actor"]["user"]["email"], "alex@firm.test");
        assert_eq!(event["actor"]["name"], "Alex Attorney");
    }
    for event in &events[7..10] {
        assert_eq!(event["actor"]["kind"], "SYSTEM");
        assert_eq!(event["actor"]["name"], "system");
    }
    assert_eq!(events[10]["actor"]["kind"], "SYSTEM", "the conflict check");
    assert_eq!(events[11]["actor"]["kind"], "PROSPECT");
    assert_eq!(events[11]["actor"]["name"], "prospect");

    assert_eq!(events[0]["note"]["body"], "Called, left a voicemail.");
    assert_eq!(
        lead["notes"],
        json!([{ "body": "Called, left a voicemail.", "author": { "email": "alex@firm.test" } }])
    );
    assert!(events[1]["assignee"].is_null());
    assert_eq!(events[1]["previousAssignee"]["email"], "alex@firm.test");
    assert_eq!(events[2]["assignee"]["email"], "alex@firm.test");
    assert!(events[2]["previousAssignee"].is_null());
    assert_eq!(
        events[5]["changes"],
        json!([{ "field": "firstName", "from": "Ada", "to": "Adah" }, { "field": "email", "from": "ada@example.com", "to": "adah@example.com" }]),
        "only what changed: the last name was sent unchanged"
    );
    assert_eq!(
        (events[6]["fromStatus"].as_str(), events[6]["toStatus"].as_str()),
        (Some("PENDING"), Some("REACHED_OUT"))
    );
    assert_eq!(events[4]["conflictState"], "CLEAR", "{lead}");
    let failed = events[7..10].iter().find(|e| e["kind"] == "EMAIL_FAILED").unwrap();
    assert_eq!(failed["willRetry"], true);
    assert!(failed["error"].as_str().unwrap().contains("451"), "{failed}");
    assert_eq!(failed["email"]["state"], "SENT", "the mail as it is now");
    let recipients: Vec<&str> = events[7..10].iter().map(|e| e["recipient"].as_str().unwrap()).collect();
    assert!(recipients.contains(&"ada@example.com") && recipients.contains(&"alex@firm.test"), "{recipients:?}");

    // The replaced résumé is still there, byte for byte; the current one is the new file.
    let old = &events[3]["previousResume"];
    assert_eq!(old["fileName"], "cv.pdf");
    assert_eq!(old["sizeBytes"], PDF.len());
    let download = |url: &str| {
        let client = app.client.clone();
        let url = url.to_owned();
        async move { client.get(url).send().await.unwrap().bytes().await.unwrap().to_vec() }
    };
    assert_eq!(download(old["downloadUrl"].as_str().unwrap()).await, PDF);
    assert_eq!(download(lead["resume"]["downloadUrl"].as_str().unwrap()).await, NEW_PDF);

    // Refusals change nothing.
    let cases = [
        (note, json!({ "id": id, "b": "   " }), "BAD_USER_INPUT", Some("body")),
        (fix, json!({ "id": id, "i": { "email": "not an email" } }), "BAD_USER_INPUT", Some("email")),
        (fix, json!({ "id": id, "i": { "lastName": "" } }), "BAD_USER_INPUT", Some("lastName")),
        (assign, json!({ "id": id, "u": uuid::Uuid::now_v7() }), "BAD_USER_INPUT", Some("userId")),
        (fix, json!({ "id": uuid::Uuid::now_v7(), "i": { "firstName": "X" } }), "NOT_FOUND", None),
        (note, json!({ "id": uuid::Uuid::now_v7(), "b": "x" }), "NOT_FOUND", None),
    ];
    for (query, vars, code, field) in cases {
        let body = app.graphql(query, vars.clone(), Some(&token)).await;
        assert_eq!(error_code(&body), code, "{vars}: {body}");
        if let Some(field) = field {
            assert_eq!(error_field(&body), field, "{vars}: {body}");
        }
    }
    let exe = app
        .graphql_with_file(replace, json!({ "id": id, "f": null }), "f", ("cv.pdf", b"MZ\x90\x00\x03".to_vec()), &token)
        .await;
    assert_eq!((error_code(&exe), error_field(&exe)), ("UNSUPPORTED_FILE_TYPE", "resume"), "{exe}");
    let after = history(&app, &token, &id).await;
    assert_eq!(after["history"].as_array().unwrap().len(), 12, "nothing recorded for refused changes");
    assert_eq!(after["firstName"], "Adah");
    // Without a staff sign-in, none of it.
    let anonymous = app.graphql(note, json!({ "id": id, "b": "x" }), None).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

async fn round_robin_takes_turns(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.round_robin = true).await;
    let mut attorneys = Vec::new();
    for email in ["a1@firm.test", "a2@firm.test", "a3@firm.test"] {
        attorneys.push((email, app.attorney_with_id(email).await.0));
    }
    let admin = app.admin_token().await;
    // Nine at once: concurrent submissions still take distinct turns.
    let submissions = (0..9).map(|i| app.submit_id(lead_input("P", &format!("L{i}"), &format!("p{i}@example.com"))));
    let ids = futures_util::future::join_all(submissions).await;
    let count_for = |user: String| {
        let (app, admin) = (&app, &admin);
        async move {
            let body = ok(
                app,
                admin,
                "query($u: ID) { leads(filter: { assignedTo: $u }) { totalCount } }",
                json!({ "u": user }),
            )
            .await;
            body["leads"]["totalCount"].as_i64().unwrap()
        }
    };
    for (email, id) in &attorneys {
        assert_eq!(count_for(id.clone()).await, 3, "{email} got a fair share");
    }

    // Each notification goes to the assignee alone, with a mail saying the lead is theirs; the
    // admin gets none.
    app.drain_mail().await;
    let mut notified: HashMap<String, usize> = HashMap::new();
    let mut told: HashMap<String, usize> = HashMap::new();
    for mail in app.smtp.messages() {
        if mail.header("Subject").starts_with("Assigned to you") {
            *told.entry(mail.rcpt_to.join(",")).or_default() += 1;
            continue;
        }
        for to in &mail.rcpt_to {
            if to.ends_with("@firm.test") {
                *notified.entry(to.clone()).or_default() += 1;
            }
        }
    }
    assert_eq!(notified.len(), 3, "{notified:?}");
    assert!(notified.values().all(|&n| n == 3), "{notified:?}");
    assert!(!notified.contains_key(ADMIN_EMAIL));
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(told.values().all(|&n| n == 3), "{told:?}");
    let lead = history(&app, &admin, &ids[0]).await;
    let assigned = lead["history"].as_array().unwrap().iter().find(|e| e["kind"] == "ASSIGNED").unwrap();
    assert_eq!(assigned["actor"]["kind"], "SYSTEM");
    assert_eq!(assigned["assignee"], lead["assignedTo"]);

    // A deactivated attorney's turn passes to the others.
    let deactivate = "mutation($id: ID!) { updateUser(id: $id, input: { active: false }) { active } }";
    ok(&app, &admin, deactivate, json!({ "id": attorneys[2].1 })).await;
    for i in 0..4 {
        app.submit_id(lead_input("Q", &format!("M{i}"), &format!("q{i}@example.com"))).await;
    }
    assert_eq!(count_for(attorneys[0].1.clone()).await, 5);
    assert_eq!(count_for(attorneys[1].1.clone()).await, 5);
    assert_eq!(count_for(attorneys[2].1.clone()).await, 3);
}

async fn repeat_submissions_are_linked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.attorney("alex@firm.test").await;
    let first = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let other = app.submit_id(lead_input("Bob", "Other", "bob@example.com")).await;
    let second = app.submit_id(lead_input("Ada", "Lovelace", "ADA@Example.COM")).await;
    let third = app.submit_id(lead_input("Ada", "King", "Ada@example.com")).await;

    let query = "query($id: ID!) { lead(id: $id) { duplicateOf { id } duplicates { id } \
        history { kind duplicateOfId } } }";
    let look = |id: String| {
        let (app, token) = (&app, &token);
        async move { ok(app, token, query, json!({ "id": id })).await["lead"].clone() }
    };
    let original = look(first.clone()).await;
    assert!(original["duplicateOf"].is_null());
    assert_eq!(original["duplicates"], json!([{ "id": third }, { "id": second }]), "newest first");
    for repeat in [&second, &third] {
        let lead = look(repeat.clone()).await;
        assert_eq!(lead["duplicateOf"]["id"], first.as_str());
        let submitted = lead["history"].as_array().unwrap().iter().find(|e| e["kind"] == "SUBMITTED").unwrap().clone();
        assert_eq!(submitted["duplicateOfId"], first.as_str());
    }
    let unrelated = look(other).await;
    assert!(unrelated["duplicateOf"].is_null() && unrelated["duplicates"] == json!([]));

    // The attorney's mail says so, with a link to the earlier lead.
    app.drain_mail().await;
    let notifications: Vec<_> =
        app.smtp.messages().into_iter().filter(|m| m.rcpt_to.iter().any(|t| t == "alex@firm.test")).collect();
    assert_eq!(notifications.len(), 4);
    let subjects: Vec<String> = notifications.iter().map(|m| m.header("Subject")).collect();
    assert_eq!(subjects.iter().filter(|s| s.starts_with("Repeat lead")).count(), 2, "{subjects:?}");
    assert_eq!(subjects.iter().filter(|s| s.starts_with("New lead")).count(), 2, "{subjects:?}");
    // Nothing links to the second lead, so only its own mail names it.
    let repeat = notifications.iter().find(|m| m.bodies().0.contains(&second)).unwrap();
    assert!(repeat.header("Subject").starts_with("Repeat lead"), "{}", repeat.header("Subject"));
    let (text, html) = repeat.bodies();
    assert!(text.contains("Repeat submission") && text.contains(&first), "{text}");
    assert!(html.contains("Repeat submission"), "{html}");
}
