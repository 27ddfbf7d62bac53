//! Personal data the firm can account for: the access record, the export, erasure (leaving no
//! trace in the database, the store or the mail folder), legal hold, and retention.

use std::{collections::HashMap, io::Read, time::Duration};

use api::{
    app::config::Config,
    infra::{
        mail::MailTransport,
        storage::{S3Settings, StorageSettings},
    },
    leads::privacy::retention::{self, RetentionPeriod, RetentionSettings},
};
use entity::{
    deletion_job,
    email_job::{self, JobState},
    lead,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter, Statement, sea_query::Expr,
};
use serde_json::{Value, json};
use test_support::s3::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

use crate::{
    helpers::{ADMIN_EMAIL, Backend, PDF, TestApp, error_code, error_field, later, lead_input},
    on_both_backends,
};

on_both_backends!(
    downloads_are_recorded_against_the_downloader,
    an_export_holds_the_persons_data_file_by_file,
    erasure_leaves_no_trace,
    later_checks_forget_an_erased_name,
    a_legal_hold_blocks_erasure_and_retention,
    retention_sweeps_once_across_workers,
    a_failed_storage_deletion_is_retried,
    the_privileges_hold_on_get_and_sockets,
    a_worker_process_sweeps_when_it_starts,
);

const NEW_PDF: &[u8] = b"%PDF-1.7\n% the corrected CV\n%%EOF\n";

fn s3_settings(s3: &S3Server) -> StorageSettings {
    StorageSettings::S3(S3Settings {
        bucket: BUCKET.into(),
        prefix: "intake".into(),
        endpoint: Some(s3.endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
    })
}

async fn ok(app: &TestApp, query: &str, variables: Value, token: &str) -> Value {
    let body = app.graphql(query, variables, Some(token)).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"].clone()
}

async fn download_url(app: &TestApp, id: &str, token: &str) -> String {
    let data =
        ok(app, "query($id: ID!) { lead(id: $id) { resume { downloadUrl } } }", json!({ "id": id }), token).await;
    data["lead"]["resume"]["downloadUrl"].as_str().unwrap().to_owned()
}

/// Replaces the lead's résumé, so that it has a replaced one too.
async fn replace_resume(app: &TestApp, id: &str, token: &str) {
    let replace = "mutation($id: ID!, $f: Upload) { updateLead(id: $id, input: {}, resume: $f) { id } }";
    let body = app
        .graphql_with_file(replace, json!({ "id": id, "f": null }), "f", ("new cv.pdf", NEW_PDF.to_vec()), token)
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

async fn downloads_are_recorded_against_the_downloader(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (attorney_id, attorney) = app.attorney_with_id("alex@firm.test").await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;

    let url = download_url(&app, &id, &attorney).await;
    assert!(url.contains(&format!("user={attorney_id}")), "the link names its user: {url}");
    let download = app.client.get(&url).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), PDF);

    let log = "query($id: ID!) { lead(id: $id) { accessLog { kind at fileName actor { kind user { email } } } } }";
    let data = ok(&app, log, json!({ "id": id }), &admin).await;
    let entries = data["lead"]["accessLog"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["kind"], "RESUME_DOWNLOADED");
    assert_eq!(entries[0]["actor"]["user"]["email"], "alex@firm.test", "the downloader, not whoever asks");
    assert_eq!(entries[0]["fileName"], "cv.pdf");
    assert!(entries[0]["at"].is_string());

    // The record is the admins': an attorney sees neither the log nor the entries in history.
    let body = app.graphql(log, json!({ "id": id }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let history = "query($id: ID!) { lead(id: $id) { history { kind } } }";
    let kinds = |data: &Value| -> Vec<String> {
        data["lead"]["history"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
    };
    assert!(!kinds(&ok(&app, history, json!({ "id": id }), &attorney).await).contains(&"RESUME_DOWNLOADED".into()));
    assert!(kinds(&ok(&app, history, json!({ "id": id }), &admin).await).contains(&"RESUME_DOWNLOADED".into()));

    // A link ends with its user's access: deactivated, the attorney's unexpired link is refused.
    let deactivate = "mutation($id: ID!) { updateUser(id: $id, input: { active: false }) { active } }";
    ok(&app, deactivate, json!({ "id": attorney_id }), &admin).await;
    let refused = app.client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("can no longer download"));
    let data = ok(&app, log, json!({ "id": id }), &admin).await;
    assert_eq!(data["lead"]["accessLog"].as_array().unwrap().len(), 1, "a refused download is no download");
}

/// The entries of a ZIP archive, by name.
fn unzip(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP archive");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            (entry.name().to_owned(), content)
        })
        .collect()
}

async fn an_export_holds_the_persons_data_file_by_file(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = TestApp::spawn_with(backend, |c| c.storage = s3_settings(&s3)).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    let mut input = lead_input("Grace", "Hopper", "grace@example.com");
    input["consent"] = json!(true);
    let id = app.submit_id(input).await;
    replace_resume(&app, &id, &admin).await;
    let note =
        "mutation($id: ID!) { addLeadNote(leadId: $id, body: \"Called; wants a consultation on Friday\") { id } }";
    ok(&app, note, json!({ "id": id }), &attorney).await;
    app.drain_mail().await;

    let export = "mutation($id: ID!) { exportLead(id: $id) { downloadUrl expiresAt } }";
    let body = app.graphql(export, json!({ "id": id }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "admins only: {body}");
    let data = ok(&app, export, json!({ "id": id }), &admin).await;
    let url = data["exportLead"]["downloadUrl"].as_str().unwrap().to_owned();
    assert!(data["exportLead"]["expiresAt"].is_string());
    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let files = unzip(&response.bytes().await.unwrap());

    let mut names: Vec<&str> = files.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["lead.json", "resumes/current-new cv.pdf", "resumes/replaced-1-cv.pdf"]);
    assert_eq!(files["resumes/current-new cv.pdf"], NEW_PDF, "the current résumé, byte for byte");
    assert_eq!(files["resumes/replaced-1-cv.pdf"], PDF, "the replaced one too");

    let doc: Value = serde_json::from_slice(&files["lead.json"]).unwrap();
    assert_eq!(doc["lead"]["id"], id);
    assert_eq!(doc["lead"]["firstName"], "Grace");
    assert_eq!(doc["lead"]["email"], "grace@example.com");
    assert_eq!(doc["lead"]["status"], "PENDING");
    assert_eq!(doc["lead"]["outcome"], "OPEN");
    assert_eq!(doc["consent"]["ipAddress"], "127.0.0.1");
    assert_eq!(doc["consent"]["textVersion"].as_str().unwrap().len(), 64);
    assert_eq!(doc["conflictCheck"]["state"], "CLEAR");
    assert_eq!(doc["notes"][0]["body"], "Called; wants a consultation on Friday");
    assert_eq!(doc["resumes"].as_array().unwrap().len(), 2);
    let kinds: Vec<&str> = doc["history"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["SUBMITTED", "RESUME_REPLACED", "NOTE_ADDED", "EMAIL_SENT", "LEAD_EXPORTED"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let mails = doc["mails"].as_array().unwrap();
    let ack = mails.iter().find(|m| m["kind"] == "LEAD_ACKNOWLEDGEMENT").expect("the acknowledgement");
    assert_eq!(ack["to"], "grace@example.com");
    assert_eq!(ack["state"], "SENT");
    assert!(ack["subject"].as_str().unwrap().contains("Test Firm"), "{ack}");
    assert!(ack["text"].as_str().unwrap().contains("Grace"), "the text they were sent: {ack}");
    let notice = mails.iter().find(|m| m["kind"] == "LEAD_NOTIFICATION").expect("the attorney's notice");
    assert!(notice.get("text").is_none(), "mails to others are listed, not reproduced: {notice}");

    let log = "query($id: ID!) { lead(id: $id) { accessLog { kind actor { user { email } } } } }";
    let data = ok(&app, log, json!({ "id": id }), &admin).await;
    assert_eq!(data["lead"]["accessLog"][0]["kind"], "LEAD_EXPORTED");
    assert_eq!(data["lead"]["accessLog"][0]["actor"]["user"]["email"], ADMIN_EMAIL);

    // The link is the admin's alone: under another user's id it is refused.
    let tampered = url.replacen("user=", "user=ffffffff-ffff-7fff-bfff-ffffffffffff&was=", 1);
    assert_eq!(app.client.get(&tampered).send().await.unwrap().status(), 403);
}

/// How many values in every text column of every table contain `needle` (any case).
async fn traces(app: &TestApp, needle: &str) -> Vec<String> {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let columns_sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() \
               AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'character')"
        }
        _ => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'"
        }
    };
    let columns = db.query_all_raw(Statement::from_string(backend, columns_sql)).await.unwrap();
    let mut found = Vec::new();
    for row in columns {
        let (table, column): (String, String) = (row.try_get("", "t").unwrap(), row.try_get("", "c").unwrap());
        let sql = format!(
            "SELECT COUNT(*) AS n FROM \"{table}\" WHERE LOWER(CAST(\"{column}\" AS TEXT)) LIKE '%{}%'",
            needle.to_lowercase()
        );
        let n: i64 =
            db.query_one_raw(Statement::from_string(backend, sql)).await.unwrap().unwrap().try_get("", "n").unwrap();
        if n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

/// Every file under `dir`, with its content.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if !path.ends_with(".readyz") {
            let content = std::fs::read(&path).unwrap();
            out.push((path, content));
        }
    }
    out
}

async fn erasure_leaves_no_trace(backend: Backend) {
    let mail_dir = tempfile::tempdir().unwrap();
    let mail_path = mail_dir.path().to_owned();
    let app = TestApp::spawn_with(backend, move |c: &mut Config| {
        c.mail.transport = MailTransport::Files(mail_path);
        c.deadline.target = Some(Duration::from_secs(3600));
    })
    .await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    let (first, last, email, corrected) =
        ("Zephyrine", "Quux-Trelawny", "zq.first@example.org", "zephyrine.trelawny@example.org");
    let note_text = "Distinctive-note-7731: spoke about the Trelawny estate";
    let mut input = lead_input(first, last, email);
    input["consent"] = json!(true);
    let id = app.submit_id(input).await;
    let other = app.submit_id(lead_input("Bob", "Other", "bob@example.com")).await;
    replace_resume(&app, &id, &admin).await;
    app.drain_mail().await;
    let fix = "mutation($id: ID!, $e: String!) { updateLead(id: $id, input: { email: $e }) { id } }";
    ok(&app, fix, json!({ "id": id, "e": corrected }), &attorney).await;
    let note = "mutation($id: ID!, $b: String!) { addLeadNote(leadId: $id, body: $b) { id } }";
    ok(&app, note, json!({ "id": id, "b": note_text }), &attorney).await;
    let outcome = "mutation($id: ID!) { setLeadOutcome(id: $id, outcome: CONSULTATION_SCHEDULED, reason: \"Trelawny estate, Friday\") { id } }";
    ok(&app, outcome, json!({ "id": id }), &attorney).await;
    let url = download_url(&app, &id, &admin).await;
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 200);
    for needle in [first, last, email, corrected, "Distinctive-note-7731"] {
        assert!(!traces(&app, needle).await.is_empty(), "{needle} is stored before the erasure");
    }
    assert!(files_under(mail_dir.path()).iter().any(|(_, c)| String::from_utf8_lossy(c).contains(first)));
    assert_eq!(files_under(&app.data_dir().join("uploads")).len(), 3, "two résumés and Bob's");
    // A mail still queued about the lead: the reminder due at its deadline.
    let queued = || {
        email_job::Entity::find()
            .filter(email_job::Column::LeadId.eq(uuid::Uuid::parse_str(&id).unwrap()))
            .filter(email_job::Column::State.eq(JobState::Queued))
            .count(&app.state.db)
    };
    assert!(queued().await.unwrap() > 0);

    let erase = "mutation($id: ID!, $r: String!) { eraseLead(id: $id, reason: $r) {
        erasedAt reason pendingDeletions
        lead { id erased erasedAt erasureReason erasedBy { email } firstName lastName email status outcome outcomeReason
          consent { givenAt ipAddress userAgent } notes { body } resume { fileName } }
    } }";
    let body = app.graphql(erase, json!({ "id": id, "r": "the person's request" }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "admins only: {body}");
    let body = app.graphql(erase, json!({ "id": id, "r": "  " }), Some(&admin)).await;
    assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "reason"), "{body}");
    let data = ok(&app, erase, json!({ "id": id, "r": "the person's request" }), &admin).await;
    let erased = &data["eraseLead"];
    assert_eq!(erased["pendingDeletions"], 0, "{erased}");
    assert_eq!(erased["reason"], "the person's request");
    let tomb = &erased["lead"];
    assert_eq!(tomb["id"], id);
    assert_eq!(tomb["erased"], true);
    assert_eq!(tomb["erasedBy"]["email"], ADMIN_EMAIL);
    assert_eq!((tomb["firstName"].as_str(), tomb["email"].as_str()), (Some("[erased]"), Some("[erased]")));
    assert_eq!((tomb["status"].as_str(), tomb["outcome"].as_str()), (Some("PENDING"), Some("CONSULTATION_SCHEDULED")));
    assert_eq!(tomb["outcomeReason"], "[erased]");
    assert!(tomb["consent"]["givenAt"].is_string(), "that consent was given stays on record");
    assert!(tomb["consent"]["ipAddress"].is_null() && tomb["consent"]["userAgent"].is_null(), "{tomb}");
    assert_eq!(tomb["notes"][0]["body"], "[erased]");

    for needle in [first, last, email, corrected, "Distinctive-note-7731", "Trelawny"] {
        assert_eq!(traces(&app, needle).await, Vec::<String>::new(), "no trace of {needle} in any table");
    }
    let mails = files_under(mail_dir.path());
    assert!(!mails.is_empty(), "Bob's mails are still there");
    for (path, content) in &mails {
        let text = String::from_utf8_lossy(content);
        assert!(!text.contains(first) && !text.contains("zq.first"), "{} keeps the person", path.display());
    }
    let uploads = files_under(&app.data_dir().join("uploads"));
    assert_eq!(uploads.len(), 1, "only Bob's résumé is left: {uploads:?}");
    assert_eq!(queued().await.unwrap(), 0, "pending mails about the lead are cancelled");
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 404, "its links stop working");

    // Searches no longer find it; the numbers still count it.
    let search = "query($s: String) { leads(filter: { search: $s }) { totalCount } }";
    for term in ["Zephyrine", "erased"] {
        let data = ok(&app, search, json!({ "s": term }), &admin).await;
        assert_eq!(data["leads"]["totalCount"], 0, "{term}");
    }
    let data = ok(&app, "{ leadStats { total } }", json!({}), &admin).await;
    assert_eq!(data["leadStats"]["total"], 2);
    let log = "query($id: ID!) { lead(id: $id) { accessLog { kind reason } } }";
    let data = ok(&app, log, json!({ "id": id }), &admin).await;
    assert_eq!(data["lead"]["accessLog"][0], json!({ "kind": "LEAD_ERASED", "reason": "the person's request" }));
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("intake_leads_erased_total{reason=\"request\"}"), "counted by reason: {metrics}");

    // A tombstone cannot change, and erasing it again changes nothing.
    let body = app.graphql(note, json!({ "id": id, "b": "more" }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "LEAD_ERASED", "{body}");
    let body = app.graphql(fix, json!({ "id": id, "e": "x@example.com" }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "LEAD_ERASED", "{body}");
    let again = ok(&app, erase, json!({ "id": id, "r": "again" }), &admin).await;
    assert_eq!(again["eraseLead"]["reason"], "the person's request");
    assert_eq!(again["eraseLead"]["erasedAt"], erased["erasedAt"]);
    let data = ok(&app, "query($id: ID!) { lead(id: $id) { firstName } }", json!({ "id": other }), &admin).await;
    assert_eq!(data["lead"]["firstName"], "Bob", "other leads untouched");
}

async fn later_checks_forget_an_erased_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let first = app.submit_id(lead_input("Xanthippe", "Mbeki", "xm@example.org")).await;
    // Another person, one letter more in the name: the check flags the earlier lead.
    let second = app.submit_id(lead_input("Xanthippe", "Mbekia", "other@example.net")).await;
    let hits = "query($id: ID!) { lead(id: $id) { conflictCheck { state hits { lead { id } } } } }";
    let data = ok(&app, hits, json!({ "id": second }), &admin).await;
    assert_eq!(data["lead"]["conflictCheck"]["state"], "POSSIBLE_CONFLICT", "{data}");
    assert_eq!(data["lead"]["conflictCheck"]["hits"][0]["lead"]["id"], first);
    let erase = "mutation($id: ID!) { eraseLead(id: $id, reason: \"request\") { reason } }";
    ok(&app, erase, json!({ "id": first }), &admin).await;

    let stored = lead::Entity::find_by_id(uuid::Uuid::parse_str(&second).unwrap()).one(&app.state.db).await.unwrap();
    let hits_text = stored.unwrap().conflict_hits.unwrap().to_string();
    assert!(!hits_text.contains("Mbeki\"") && hits_text.contains("[erased]"), "{hits_text}");
    let jobs = email_job::Entity::find()
        .filter(email_job::Column::LeadId.eq(uuid::Uuid::parse_str(&second).unwrap()))
        .all(&app.state.db)
        .await
        .unwrap();
    for job in jobs {
        for conflict in job.payload["conflicts"].as_array().into_iter().flatten() {
            assert_eq!(conflict["name"], "[erased]", "{}", job.payload);
        }
    }
    assert_eq!(traces(&app, "Xanthippe Mbeki\"").await, Vec::<String>::new());
}

async fn a_legal_hold_blocks_erasure_and_retention(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.retention.period = RetentionPeriod::parse("1h").unwrap()).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let hold = "mutation($id: ID!, $h: Boolean!, $r: String) { setLegalHold(id: $id, hold: $h, reason: $r) {
        legalHold legalHoldReason history { kind legalHold reason } } }";
    let body = app.graphql(hold, json!({ "id": id, "h": true, "r": "Doe v. Roe" }), Some(&attorney)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = app.graphql(hold, json!({ "id": id, "h": true }), Some(&admin)).await;
    assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "reason"), "{body}");
    let data = ok(&app, hold, json!({ "id": id, "h": true, "r": "Doe v. Roe" }), &admin).await;
    assert_eq!(data["setLegalHold"]["legalHold"], true);
    assert_eq!(data["setLegalHold"]["legalHoldReason"], "Doe v. Roe");
    assert_eq!(
        data["setLegalHold"]["history"][0],
        json!({ "kind": "LEGAL_HOLD_SET", "legalHold": true, "reason": "Doe v. Roe" })
    );

    let erase = "mutation($id: ID!) { eraseLead(id: $id, reason: \"request\") { lead { erased } } }";
    let body = app.graphql(erase, json!({ "id": id }), Some(&admin)).await;
    assert_eq!(error_code(&body), "LEGAL_HOLD", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("Doe v. Roe"), "{body}");
    let data = ok(&app, "query($id: ID!) { lead(id: $id) { firstName erased } }", json!({ "id": id }), &admin).await;
    assert_eq!(data["lead"], json!({ "firstName": "Ada", "erased": false }), "nothing erased");

    // Retention passes it by while held.
    age_leads(&app, Duration::from_secs(2 * 3600)).await;
    let preview = "{ retentionPreview }";
    assert_eq!(ok(&app, preview, json!({}), &admin).await["retentionPreview"], 0);
    let body = app.graphql(preview, json!({}), Some(&attorney)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let period = RetentionPeriod::parse("1h").unwrap().unwrap();
    assert_eq!(retention::sweep(&app.state.leads, period, api::infra::clock::now()).await.unwrap(), 0);

    ok(&app, hold, json!({ "id": id, "h": false }), &admin).await;
    assert_eq!(ok(&app, preview, json!({}), &admin).await["retentionPreview"], 1, "lifted: due again");
    assert_eq!(ok(&app, erase, json!({ "id": id }), &admin).await["eraseLead"]["lead"]["erased"], true);
}

/// Moves every lead's submission back by `by`, as if it had been submitted that long ago.
async fn age_leads(app: &TestApp, by: Duration) {
    let back = api::infra::clock::now() - chrono::Duration::from_std(by).unwrap();
    lead::Entity::update_many().col_expr(lead::Column::CreatedAt, Expr::value(back)).exec(&app.state.db).await.unwrap();
}

async fn retention_sweeps_once_across_workers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let old = app.submit_id(lead_input("Old", "Lead", "old@example.com")).await;
    let retained = app.submit_id(lead_input("Kept", "Client", "client@example.com")).await;
    let held = app.submit_id(lead_input("Held", "Lead", "held@example.com")).await;
    let set = "mutation($id: ID!) { setLeadOutcome(id: $id, outcome: RETAINED) { id } }";
    ok(&app, set, json!({ "id": retained }), &admin).await;
    let hold = "mutation($id: ID!) { setLegalHold(id: $id, hold: true, reason: \"litigation\") { id } }";
    ok(&app, hold, json!({ "id": held }), &admin).await;
    age_leads(&app, Duration::from_secs(2 * 3600)).await;
    let fresh = app.submit_id(lead_input("New", "Lead", "new@example.com")).await;

    let settings = RetentionSettings { period: RetentionPeriod::parse("1h").unwrap(), ..RetentionSettings::default() };
    // Two workers ask at once: one sweeps, the other finds it taken.
    let now = api::infra::clock::now();
    let (a, b) = tokio::join!(
        retention::sweep_if_due(&app.state.leads, &settings, now),
        retention::sweep_if_due(&app.state.leads, &settings, now),
    );
    let mut runs = [a.unwrap(), b.unwrap()];
    runs.sort();
    assert_eq!(runs, [None, Some(1)], "one sweep, erasing the one lead due");
    let half_hour = now + chrono::Duration::minutes(30);
    assert_eq!(retention::sweep_if_due(&app.state.leads, &settings, half_hour).await.unwrap(), None, "hourly at most");
    // An hour on, the next sweep finds the lead that was new at the first one past the period.
    let hour = now + chrono::Duration::minutes(61);
    assert_eq!(retention::sweep_if_due(&app.state.leads, &settings, hour).await.unwrap(), Some(1));

    let state =
        "query($id: ID!) { lead(id: $id) { erased erasureReason erasedBy { email } history { kind actor { kind } } } }";
    let data = ok(&app, state, json!({ "id": old }), &admin).await;
    assert_eq!(data["lead"]["erased"], true);
    assert_eq!(data["lead"]["erasureReason"], "retention");
    assert!(data["lead"]["erasedBy"].is_null());
    assert_eq!(data["lead"]["history"][0], json!({ "kind": "LEAD_ERASED", "actor": { "kind": "SYSTEM" } }));
    assert_eq!(ok(&app, state, json!({ "id": fresh }), &admin).await["lead"]["erased"], true);
    for kept in [&retained, &held] {
        assert_eq!(ok(&app, state, json!({ "id": kept }), &admin).await["lead"]["erased"], false);
    }
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("intake_leads_erased_total{reason=\"retention\"}"), "{metrics}");
}

async fn a_failed_storage_deletion_is_retried(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = TestApp::spawn_with(backend, |c| c.storage = s3_settings(&s3)).await;
    let admin = app.admin_token().await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    replace_resume(&app, &id, &admin).await;
    assert_eq!(s3.objects().len(), 2);

    s3.stop();
    let erase = "mutation($id: ID!) { eraseLead(id: $id, reason: \"request\") { pendingDeletions lead { erased } } }";
    let data = ok(&app, erase, json!({ "id": id }), &admin).await;
    assert_eq!(data["eraseLead"]["lead"]["erased"], true, "the database part does not wait for the store");
    assert_eq!(data["eraseLead"]["pendingDeletions"], 2);
    assert_eq!(s3.objects().len(), 2, "still there while the store is down");
    let waiting = deletion_job::Entity::find().all(&app.state.db).await.unwrap();
    assert!(waiting.iter().all(|job| job.attempts == 1 && job.last_error.is_some()), "{waiting:?}");

    // A restart loses none of them; once the store answers, the worker's retry deletes them.
    let mut app = app;
    app.restart().await;
    s3.restart().await;
    let report = app.state.worker().run_deletions(later(Duration::from_secs(3600))).await.unwrap();
    assert_eq!((report.deleted, report.failed), (2, 0));
    assert!(s3.objects().is_empty(), "{:?}", s3.objects());
    assert_eq!(deletion_job::Entity::find().count(&app.state.db).await.unwrap(), 0);
}

async fn the_privileges_hold_on_get_and_sockets(backend: Backend) {
    use crate::workflow_live::{receive, send, signed_in_socket};
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let attorney = app.attorney("alex@firm.test").await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.org")).await;
    let get = |query: String, token: Option<&str>| {
        let query: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let mut request = app.client.get(format!("{}/graphql?query={query}", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(error_code(&get("{ retentionPreview }".into(), None).await), "UNAUTHENTICATED");
    assert_eq!(error_code(&get("{ retentionPreview }".into(), Some(&attorney)).await), "FORBIDDEN");
    assert_eq!(get("{ retentionPreview }".into(), Some(&admin)).await["data"]["retentionPreview"], 0);
    let log = format!("{{ lead(id: \"{id}\") {{ accessLog {{ kind }} }} }}");
    assert_eq!(error_code(&get(log.clone(), Some(&attorney)).await), "FORBIDDEN");
    assert_eq!(get(log, Some(&admin)).await["data"]["lead"]["accessLog"], json!([]));

    for (token, allowed) in [(&attorney, false), (&admin, true)] {
        let mut socket = signed_in_socket(&app.address, token).await;
        let mut run = async |op: &str, query: String| {
            send(&mut socket, json!({ "id": op, "type": "subscribe", "payload": { "query": query } })).await;
            loop {
                let message = receive(&mut socket).await;
                if message["id"] == op && message["type"] == "next" {
                    return message["payload"].clone();
                }
            }
        };
        let hold = format!("mutation {{ setLegalHold(id: \"{id}\", hold: false) {{ legalHold }} }}");
        let export = format!("mutation {{ exportLead(id: \"{id}\") {{ downloadUrl }} }}");
        let erase = format!("mutation {{ eraseLead(id: \"{id}\", reason: \"request\") {{ lead {{ erased }} }} }}");
        for (op, query) in [("hold", hold), ("export", export), ("erase", erase)] {
            let answer = run(op, query).await;
            if allowed {
                assert!(answer["errors"].is_null(), "{op}: {answer}");
            } else {
                assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN", "{op}: {answer}");
            }
        }
    }
    let data = ok(&app, "query($id: ID!) { lead(id: $id) { erased } }", json!({ "id": id }), &admin).await;
    assert_eq!(data["lead"]["erased"], true, "the admin's erasure over the socket landed");
}

/// `intake worker` with `INTAKE_RETENTION` sweeps within a minute of starting.
async fn a_worker_process_sweeps_when_it_starts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = uuid::Uuid::parse_str(&app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await).unwrap();
    age_leads(&app, Duration::from_secs(2 * 3600)).await;
    let started = std::time::Instant::now();
    let log = app.data_dir().join("worker.log");
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_intake"));
    worker.arg("worker").envs(app.env()).env("INTAKE_RETENTION", "1h").stderr(std::fs::File::create(&log).unwrap());
    let _worker = crate::helpers::KillOnDrop(worker.spawn().unwrap());
    loop {
        let lead = lead::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
        if lead.erased_at.is_some() {
            assert_eq!(lead.erasure_reason.as_deref(), Some("retention"));
            assert_eq!(lead.first_name, "[erased]");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no sweep within a minute of the worker starting; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
