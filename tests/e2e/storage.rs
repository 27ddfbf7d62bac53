//! Résumés in S3-compatible storage, through a real S3 protocol server.

use std::time::{Duration, Instant};

use entity::{email_job, lead};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::{
    helpers::{Backend, PDF, TestApp, error_code, lead_input},
    on_both_backends,
};
use api::{
    app::config::Config,
    infra::storage::{S3Settings, StorageSettings},
};
use test_support::s3::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

on_both_backends!(
    resumes_round_trip_through_s3,
    large_resumes_are_uploaded_in_parts,
    wrong_credentials_fail_readiness,
    store_down_means_no_lead,
    database_failure_removes_the_object,
    a_submission_whose_client_went_away_is_finished,
    a_replacement_whose_client_went_away_is_finished,
    shutdown_waits_for_a_submission_whose_client_went_away,
);

/// The app storing its résumés in `s3` under the prefix `intake/test`; `configure` may change
/// the rest (or the storage settings themselves).
async fn spawn(backend: Backend, s3: &S3Server, configure: impl FnOnce(&mut Config)) -> TestApp {
    let settings = S3Settings {
        bucket: BUCKET.into(),
        prefix: "intake/test".into(),
        endpoint: Some(s3.endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
    };
    TestApp::spawn_with(backend, |c| {
        c.storage = StorageSettings::S3(settings);
        configure(c);
    })
    .await
}

async fn resumes_round_trip_through_s3(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = spawn(backend, &s3, |_| {}).await;
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());

    let id =
        app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "Résumé Ada.pdf", PDF.to_vec()).await["data"]
            ["submitLead"]["id"]
            .clone();
    let objects = s3.objects();
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(objects[0].starts_with("intake/test/resumes"), "stored under the configured prefix: {objects:?}");
    assert_eq!(s3.read(&objects[0]), PDF);

    let token = app.admin_token().await;
    let body = app
        .graphql("query($id: ID!) { lead(id: $id) { resume { downloadUrl } } }", json!({ "id": id }), Some(&token))
        .await;
    let url = body["data"]["lead"]["resume"]["downloadUrl"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    // Through Intake, not a presigned store URL: each download is recorded, and a link dies with
    // its user's access.
    assert!(url.starts_with(&format!("{}/files/resumes/", app.address)), "{url}");
    let download = reqwest::get(&url).await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"R_sum_ Ada.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20Ada%2Epdf"
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), PDF);
}

async fn large_resumes_are_uploaded_in_parts(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = spawn(backend, &s3, |c| c.max_upload_bytes = 20 * 1024 * 1024).await;
    let mut big = PDF.to_vec();
    big.extend((0..12 * 1024 * 1024).map(|i| (i % 251) as u8));
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", big.clone()).await;
    let objects = s3.objects();
    assert_eq!(objects.len(), 1);
    assert!(s3.read(&objects[0]) == big, "the 12 MiB file arrives intact");
}

async fn wrong_credentials_fail_readiness(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = spawn(backend, &s3, |c| {
        if let StorageSettings::S3(s3) = &mut c.storage {
            s3.secret_access_key = Some("not-the-secret".into());
        }
    })
    .await;
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let report: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(report["database"]["status"], "ok", "{report}");
    assert_eq!(report["storage"]["status"], "error", "{report}");
    assert!(report["storage"].get("error").is_none(), "the public report names no error text: {report}");

    let (_, body) = app.submit_lead_raw(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    assert_eq!(error_code(&body), "INTERNAL", "{body}");
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 0);
}

async fn store_down_means_no_lead(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = spawn(backend, &s3, |_| {}).await;
    s3.stop();
    let started = Instant::now();
    let form = test_support::app::submit_form(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec());
    let response = app.client.post(format!("{}/graphql", app.address)).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 503, "the transport says it too");
    assert!(response.headers().get("retry-after").is_some());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert!(body["errors"][0]["extensions"]["retryAfter"].as_u64().is_some_and(|s| s > 0), "{body}");
    assert!(started.elapsed() < Duration::from_secs(30), "a clear error, not a hang: {:?}", started.elapsed());
    let ready: serde_json::Value =
        app.client.get(format!("{}/readyz", app.address)).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (ready["database"]["status"].as_str(), ready["storage"]["status"].as_str()),
        (Some("ok"), Some("error"))
    );
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 0);
    assert_eq!(email_job::Entity::find().count(&app.state.db).await.unwrap(), 0);
    assert!(s3.objects().is_empty());
}

async fn database_failure_removes_the_object(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = spawn(backend, &s3, |_| {}).await;
    app.state.db.execute_unprepared("DROP TABLE email_jobs").await.unwrap();
    let (_, body) = app.submit_lead_raw(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    assert_eq!(error_code(&body), "INTERNAL", "{body}");
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 0);
    assert!(s3.objects().is_empty(), "orphan left behind: {:?}", s3.objects());
}

async fn a_submission_whose_client_went_away_is_finished(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = spawn(backend, &s3, |c| c.request_timeout = Duration::from_secs(2)).await;
    let mut announced = app.state.announcer.subscribe();
    s3.hold_writes();
    let key = uuid::Uuid::new_v4().to_string();
    let mut input = lead_input("Ada", "Lovelace", "ada@example.com");
    input["clientSubmissionId"] = json!(key);
    // The store holds the résumé past the request's time limit: the client is answered 408 and
    // the request is dropped, with the form arrived whole and its file half-stored.
    let form = test_support::app::submit_form(input.clone(), "cv.pdf", PDF.to_vec());
    let response = app.client.post(format!("{}/graphql", app.address)).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 408);
    s3.writes_held(1).await;
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 0);

    // The submission goes on without its client: the lead is written, its résumé stored.
    s3.release_writes();
    let submitted = tokio::time::timeout(Duration::from_secs(30), announced.recv()).await.expect("no lead").unwrap();
    let leads = lead::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!(submitted.lead_id(), leads[0].id);
    let objects = s3.objects();
    assert_eq!(objects, [std::path::Path::new("intake/test").join(&leads[0].resume_key)], "no orphan");
    assert_eq!(email_job::Entity::find().count(&app.state.db).await.unwrap(), 2, "acknowledgement and notification");

    // The prospect's retry gets that lead's receipt; nothing more is stored.
    let body = app.submit_lead(input, "cv.pdf", PDF.to_vec()).await;
    assert_eq!(body["data"]["submitLead"]["id"], leads[0].id.to_string(), "{body}");
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 1);
    assert_eq!(s3.objects().len(), 1);
}

async fn a_replacement_whose_client_went_away_is_finished(backend: Backend) {
    let s3 = S3Server::start().await;
    let app = spawn(backend, &s3, |c| c.request_timeout = Duration::from_secs(2)).await;
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    let token = app.attorney("alex@firm.test").await;
    let mut announced = app.state.announcer.subscribe();
    s3.hold_writes();
    let replace = "mutation($id: ID!, $f: Upload) { updateLead(id: $id, input: {}, resume: $f) { id } }";
    let operations = json!({ "query": replace, "variables": { "id": id, "f": null } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.f"] }).to_string())
        .part("0", reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("new cv.pdf"));
    let request = app.client.post(format!("{}/graphql", app.address)).bearer_auth(&token).multipart(form);
    assert_eq!(request.send().await.unwrap().status(), 408);
    s3.writes_held(1).await;

    s3.release_writes();
    let changed = tokio::time::timeout(Duration::from_secs(30), announced.recv()).await.expect("no change").unwrap();
    assert_eq!(changed.lead_id().to_string(), id);
    let lead = lead::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(lead.resume_file_name, "new cv.pdf", "the replacement landed");
    let old = entity::replaced_resume::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(old.len(), 1, "the replaced file is kept in the history");
    let named = |key: &str| std::path::Path::new("intake/test").join(key);
    let mut expected = vec![named(&lead.resume_key), named(&old[0].key)];
    expected.sort();
    assert_eq!(s3.objects(), expected, "every stored file is named by the lead or its history");
}

async fn shutdown_waits_for_a_submission_whose_client_went_away(backend: Backend) {
    let s3 = S3Server::start().await;
    let mut app = spawn(backend, &s3, |c| c.request_timeout = Duration::from_secs(2)).await;
    s3.hold_writes();
    let form = test_support::app::submit_form(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec());
    let response = app.client.post(format!("{}/graphql", app.address)).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 408);
    s3.writes_held(1).await;

    // The server is stopped (and a new one started) while the résumé is still held; the store
    // answers only once the old server has stopped taking connections.
    let old = app.address.trim_start_matches("http://").to_owned();
    let release = async {
        while tokio::net::TcpStream::connect(&old).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        s3.release_writes();
    };
    tokio::join!(app.restart(), release);
    let leads = lead::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(leads.len(), 1, "the stopping server finished the lead before closing its database");
    assert_eq!(s3.objects(), [std::path::Path::new("intake/test").join(&leads[0].resume_key)]);
}
