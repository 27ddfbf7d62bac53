use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use entity::{email_job, lead};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    helpers::{Backend, PDF, SUBMIT_LEAD, TestApp, error_code, error_field, lead_input},
    on_both_backends,
};

on_both_backends!(
    bad_lead_input_names_the_field,
    files_are_judged_by_content_and_size,
    oversize_stream_is_cut_off,
    malformed_multipart_is_refused,
    lead_operations_report_their_errors,
    failures_leave_nothing_behind,
);

/// Nothing was stored: no lead, no job, no file.
async fn assert_nothing_stored(app: &TestApp) {
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 0, "a lead was stored");
    assert_eq!(email_job::Entity::find().count(&app.state.db).await.unwrap(), 0, "a mail was queued");
    let resumes = app.data_dir().join("uploads/resumes");
    let files = std::fs::read_dir(&resumes).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 0, "a file was left in {}", resumes.display());
}

async fn bad_lead_input_names_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (input, field) in [
        (lead_input("  ", "Lovelace", "ada@example.com"), "firstName"),
        (lead_input("Ada", "", "ada@example.com"), "lastName"),
        (lead_input("Ada", "Lovelace", "not-an-email"), "email"),
        (lead_input("Ada", "Lovelace", "ada@example"), "email"),
        (lead_input(&"x".repeat(101), "Lovelace", "ada@example.com"), "firstName"),
        (json!({ "firstName": "Ada", "lastName": "Lovelace" }), "input"),
    ] {
        let (_, body) = app.submit_lead_raw(input.clone(), "cv.pdf", PDF.to_vec()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(error_field(&body), field, "{input}: {body}");
        assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
    }
    // No file at all: the variable is null and nothing is mapped to it.
    let body = app
        .graphql(
            SUBMIT_LEAD,
            json!({ "input": lead_input("Ada", "Lovelace", "ada@example.com"), "resume": null }),
            None,
        )
        .await;
    assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", "resume"), "{body}");
    assert_nothing_stored(&app).await;
}

async fn files_are_judged_by_content_and_size(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_upload_bytes = 4096).await;
    let input = lead_input("Ada", "Lovelace", "ada@example.com");
    let (_, empty) = app.submit_lead_raw(input.clone(), "cv.pdf", Vec::new()).await;
    assert_eq!((error_code(&empty), error_field(&empty)), ("BAD_USER_INPUT", "resume"), "{empty}");

    for (name, bytes) in [
        ("cv.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec()),
        ("cv.pdf", b"<!doctype html><html><script>alert(1)</script></html>".to_vec()),
        ("cv.docx", b"\x89PNG\r\n\x1a\n\x00\x00".to_vec()),
    ] {
        let (_, body) = app.submit_lead_raw(input.clone(), name, bytes).await;
        assert_eq!(error_code(&body), "UNSUPPORTED_FILE_TYPE", "{body}");
        assert_eq!(error_field(&body), "resume");
    }

    let mut big = PDF.to_vec();
    big.resize(5000, b' ');
    let (status, body) = app.submit_lead_raw(input.clone(), "cv.pdf", big).await;
    assert_eq!(status, 413);
    assert_eq!((error_code(&body), error_field(&body)), ("FILE_TOO_LARGE", "resume"), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("4 KiB"), "{body}");
    assert_nothing_stored(&app).await;

    // Exactly at the limit is fine, and the detected type wins over the client's name.
    let mut fits = b"Ada Lovelace\nAnalyst\n".to_vec();
    fits.resize(4096, b'.');
    let ok = app.submit_lead(input, "cv.exe", fits).await;
    assert!(ok["errors"].is_null(), "{ok}");
    let stored = lead::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(
        (stored.resume_file_name.as_str(), stored.resume_content_type.as_str()),
        ("cv.txt", "text/plain; charset=utf-8")
    );
}

/// A huge upload without Content-Length is refused once it passes the limit, not read to the end.
async fn oversize_stream_is_cut_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_upload_bytes = 65536).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    const ATTEMPT: usize = 256 * 1024 * 1024;
    let writer = tokio::spawn(async move {
        let boundary = "XBOUNDARYX";
        let operations = json!({ "query": SUBMIT_LEAD, "variables": { "input": lead_input("A", "B", "a@b.example"), "resume": null } });
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\":[\"variables.resume\"]}}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n"
        );
        let request = format!(
            "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let chunk =
            |data: &[u8]| [format!("{:x}\r\n", data.len()).into_bytes(), data.to_vec(), b"\r\n".to_vec()].concat();
        if write.write_all(request.as_bytes()).await.is_err() || write.write_all(&chunk(head.as_bytes())).await.is_err()
        {
            return;
        }
        let block = chunk(&vec![b'A'; 64 * 1024]);
        while counter.load(Ordering::Relaxed) < ATTEMPT {
            if write.write_all(&block).await.is_err() {
                return;
            }
            counter.fetch_add(block.len(), Ordering::Relaxed);
        }
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let read_response = async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    response.extend_from_slice(&buf[..n]);
                    if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_response).await.expect("an answer before the upload ends");
    writer.abort();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("FILE_TOO_LARGE"), "{text}");
    assert!(sent.load(Ordering::Relaxed) < ATTEMPT / 4, "the server read {} bytes", sent.load(Ordering::Relaxed));
    assert_nothing_stored(&app).await;
}

async fn malformed_multipart_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = format!("{}/graphql", app.address);
    let operations =
        json!({ "query": SUBMIT_LEAD, "variables": { "input": lead_input("A", "B", "a@b.example"), "resume": null } })
            .to_string();
    let file = || reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("cv.pdf");
    // The given text parts, then the file as part "0".
    let form = |texts: &[(&'static str, &str)]| {
        texts
            .iter()
            .fold(reqwest::multipart::Form::new(), |form, (name, value)| form.text(*name, value.to_string()))
            .part("0", file())
    };
    let ops = operations.as_str();
    let cases = [
        ("no operations", form(&[("map", r#"{"0":["variables.resume"]}"#)])),
        ("no map", form(&[("operations", ops)])),
        ("map names a missing file", form(&[("operations", ops), ("map", r#"{"1":["variables.resume"]}"#)])),
        ("map is not JSON", form(&[("operations", ops), ("map", "{{{")])),
        ("map path names no variable", form(&[("operations", ops), ("map", r#"{"0":["variables.nowhere"]}"#)])),
        ("a file part not in map", form(&[("operations", ops), ("map", "{}")])),
        (
            "map names the file twice",
            form(&[("operations", ops), ("map", r#"{"0":["variables.resume","variables.resume"]}"#)]),
        ),
        ("map path is not an Upload", form(&[("operations", ops), ("map", r#"{"0":["variables.input.firstName"]}"#)])),
        ("map path is not a variable", form(&[("operations", ops), ("map", r#"{"0":["query"]}"#)])),
        ("map comes after the file", {
            reqwest::multipart::Form::new()
                .text("operations", ops.to_owned())
                .part("0", file())
                .text("map", r#"{"0":["variables.resume"]}"#)
        }),
    ];
    for (what, form) in cases {
        let response = app.client.post(&url).multipart(form).send().await.unwrap();
        assert_eq!(response.status(), 400, "{what}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "BAD_REQUEST", "{what}: {body}");
    }
    assert_nothing_stored(&app).await;
}

async fn lead_operations_report_their_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    let update = "mutation($id: ID!, $s: LeadStatus!) { updateLeadStatus(id: $id, status: $s) { status } }";
    let missing =
        app.graphql(update, json!({ "id": uuid::Uuid::now_v7().to_string(), "s": "REACHED_OUT" }), Some(&token)).await;
    assert_eq!(error_code(&missing), "NOT_FOUND", "{missing}");
    let garbage = app.graphql(update, json!({ "id": "abc", "s": "REACHED_OUT" }), Some(&token)).await;
    assert_eq!((error_code(&garbage), error_field(&garbage)), ("BAD_USER_INPUT", "id"));
    let absent = app
        .graphql(
            "query($id: ID!) { lead(id: $id) { id } }",
            json!({ "id": uuid::Uuid::now_v7().to_string() }),
            Some(&token),
        )
        .await;
    assert!(absent["errors"].is_null() && absent["data"]["lead"].is_null(), "{absent}");

    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let reached = app.graphql(update, json!({ "id": id, "s": "REACHED_OUT" }), Some(&token)).await;
    assert_eq!(reached["data"]["updateLeadStatus"]["status"], "REACHED_OUT");
    let back = app.graphql(update, json!({ "id": id, "s": "PENDING" }), Some(&token)).await;
    assert_eq!(error_code(&back), "INVALID_STATUS_TRANSITION", "{back}");
    let still = app.graphql("query($id: ID!) { lead(id: $id) { status } }", json!({ "id": id }), Some(&token)).await;
    assert_eq!(still["data"]["lead"]["status"], "REACHED_OUT");

    for (query, field) in [
        ("{ leads(first: 101) { totalCount } }", "first"),
        ("{ leads(first: -1) { totalCount } }", "first"),
        ("{ leads(after: \"bm90LWEtY3Vyc29y\") { totalCount } }", "after"),
    ] {
        let body = app.graphql(query, json!({}), Some(&token)).await;
        assert_eq!((error_code(&body), error_field(&body)), ("BAD_USER_INPUT", field), "{query}: {body}");
    }
    let syntax = app.graphql("{ leads { ", json!({}), Some(&token)).await;
    assert_eq!(error_code(&syntax), "GRAPHQL_PARSE_FAILED", "{syntax}");
    let unknown = app.graphql("{ leadz { id } }", json!({}), Some(&token)).await;
    assert_eq!(error_code(&unknown), "GRAPHQL_VALIDATION_FAILED", "{unknown}");
}

/// The store failing means no lead; the database failing after the file was stored removes it.
async fn failures_leave_nothing_behind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let input = lead_input("Ada", "Lovelace", "ada@example.com");

    let uploads = app.data_dir().join("uploads");
    std::fs::rename(&uploads, app.data_dir().join("uploads.moved")).unwrap();
    std::fs::write(&uploads, b"not a folder").unwrap();
    let (_, body) = app.submit_lead_raw(input.clone(), "cv.pdf", PDF.to_vec()).await;
    assert_eq!(error_code(&body), "INTERNAL", "{body}");
    assert!(!body["errors"][0]["message"].as_str().unwrap().contains("uploads"), "internals stay in the log: {body}");
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let report: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        (report["database"]["status"].as_str(), report["storage"]["status"].as_str()),
        (Some("ok"), Some("error")),
        "{report}"
    );
    std::fs::remove_file(&uploads).unwrap();
    std::fs::rename(app.data_dir().join("uploads.moved"), &uploads).unwrap();
    assert_nothing_stored(&app).await;

    app.state.db.execute_unprepared("DROP TABLE email_jobs").await.unwrap();
    let (_, body) = app.submit_lead_raw(input, "cv.pdf", PDF.to_vec()).await;
    assert_eq!(error_code(&body), "INTERNAL", "{body}");
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 0, "the lead was rolled back");
    let files = std::fs::read_dir(uploads.join("resumes")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 0, "the stored résumé was removed");
}
