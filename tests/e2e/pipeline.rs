//! The mail pipeline under load, crashes and outages; its visibility (GraphQL, metrics).

use std::{
    collections::HashSet,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use api::{
    infra::mail::messages::LeadMail,
    leads::outbox::queue::{self, NewEmailJob},
};
use entity::email_job::{self, EmailKind, JobState};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::{
    helpers::{Backend, KillOnDrop, PDF, TestApp, error_code, later, lead_input},
    on_both_backends,
};

on_both_backends!(
    four_workers_deliver_a_thousand_mails_exactly_once,
    a_worker_killed_mid_batch_loses_nothing,
    an_smtp_outage_is_ridden_out,
    admins_see_and_retry_the_queue,
    metrics_are_exposed,
    replies_to_the_acknowledgement_go_where_configured,
);

/// Enqueues `n` acknowledgement mails directly, as a burst of submissions would.
async fn enqueue(app: &TestApp, n: usize) -> HashSet<String> {
    let payload = serde_json::to_value(LeadMail {
        lead_id: uuid::Uuid::now_v7(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        email: "ada@example.com".into(),
        resume_file_name: "cv.pdf".into(),
        submitted_at: api::infra::clock::now(),
        lead_url: "http://localhost/graphql".into(),
        ..LeadMail::default()
    })
    .unwrap();
    let jobs = (0..n)
        .map(|i| NewEmailJob {
            lead_id: None,
            kind: EmailKind::LeadAcknowledgement,
            recipient: format!("prospect{i}@example.com"),
            payload: payload.clone(),
            run_at: None,
        })
        .collect();
    queue::enqueue(&app.state.db, jobs, api::infra::clock::now()).await.unwrap();
    email_job::Entity::find().all(&app.state.db).await.unwrap().into_iter().map(|j| j.id.to_string()).collect()
}

fn message_ids(app: &TestApp) -> Vec<String> {
    app.smtp.messages().iter().map(|m| m.header("Message-ID")).collect()
}

async fn all_sent(app: &TestApp) -> bool {
    email_job::Entity::find().all(&app.state.db).await.unwrap().iter().all(|j| j.state == JobState::Sent)
}

async fn four_workers_deliver_a_thousand_mails_exactly_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ids = enqueue(&app, 1000).await;
    let now = api::infra::clock::now();
    let workers: Vec<_> = (0..4).map(|_| app.state.worker()).collect();
    let reports = futures_util::future::join_all(workers.iter().map(|w| w.run_pending(now))).await;
    let sent: usize = reports.into_iter().map(|r| r.unwrap().sent).sum();
    assert_eq!(sent, 1000);
    let delivered = message_ids(&app);
    assert_eq!(delivered.len(), 1000, "exactly 1000 deliveries");
    let distinct: HashSet<_> = delivered.iter().collect();
    assert_eq!(distinct.len(), 1000, "all distinct");
    assert!(ids.iter().all(|id| delivered.iter().any(|m| m.contains(id.as_str()))));
    assert!(all_sent(&app).await);
}

/// SIGKILL a worker process while it is sending: the jobs it held come back when their lease
/// ends and are sent; a resend carries the same Message-ID.
async fn a_worker_killed_mid_batch_loses_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ids = enqueue(&app, 40).await;
    app.smtp.set_delay(Duration::from_millis(150));
    let mut env = app.env().clone();
    env.insert("INTAKE_MAIL_LEASE".into(), "5".into());
    env.insert("INTAKE_MAIL_CONCURRENCY".into(), "4".into());
    let mut worker = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_intake")).arg("worker").envs(&env).stderr(Stdio::null()).spawn().unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.smtp.messages().len() < 4 {
        assert!(Instant::now() < deadline, "the worker sent nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.0.kill().unwrap(); // SIGKILL
    worker.0.wait().unwrap();
    let before = app.smtp.messages().len();
    assert!(before < 40, "killed mid-batch ({before} sent)");
    assert!(!all_sent(&app).await);

    app.smtp.set_delay(Duration::ZERO);
    // Time is driven through the claim: once the 5 s lease is over, the jobs are due again.
    app.drain_mail_at(later(Duration::from_secs(10))).await;
    assert!(all_sent(&app).await, "every job delivered in the end");
    let delivered: HashSet<String> = message_ids(&app).into_iter().collect();
    for id in &ids {
        assert!(delivered.iter().any(|m| m.contains(id.as_str())), "job {id} never arrived");
    }
}

async fn an_smtp_outage_is_ridden_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    enqueue(&app, 10).await;
    app.smtp.set_down(true);
    for hours in [0, 1, 3] {
        let report = app.drain_mail_at(later(Duration::from_secs(hours * 3600))).await;
        assert_eq!((report.sent, report.retrying, report.dead), (0, 10, 0), "hour {hours}");
    }
    let waiting = email_job::Entity::find().all(&app.state.db).await.unwrap();
    assert!(waiting.iter().all(|j| j.last_error.as_deref().unwrap().contains("421")), "the server's answer is kept");
    app.smtp.set_down(false);
    let report = app.drain_mail_at(later(Duration::from_secs(12 * 3600))).await;
    assert_eq!((report.sent, report.dead), (10, 0));
    assert_eq!(app.smtp.messages().len(), 10);
}

async fn admins_see_and_retry_the_queue(backend: Backend) {
    // The queue as it was before response deadlines: just the two mails of a submission.
    let app = TestApp::spawn_with(backend, |c| c.deadline.target = None).await;
    let attorney = app.attorney("alex@firm.test").await;
    let admin = app.admin_token().await;
    app.smtp.reject("ada@example.com");
    let id = app.submit_id(lead_input("Ada", "Lovelace", "ada@example.com")).await;
    app.drain_mail().await;

    let lead = app
        .graphql(
            "query($id: ID!) { lead(id: $id) { notifications { id kind recipient state attempts lastError sentAt } } }",
            json!({ "id": id }),
            Some(&attorney),
        )
        .await;
    let notifications = lead["data"]["lead"]["notifications"].as_array().unwrap_or_else(|| panic!("{lead}")).clone();
    assert_eq!(notifications.len(), 2);
    let dead = notifications.iter().find(|n| n["kind"] == "LEAD_ACKNOWLEDGEMENT").unwrap().clone();
    assert_eq!((dead["state"].as_str(), dead["attempts"].as_i64()), (Some("DEAD"), Some(1)));
    assert!(dead["lastError"].as_str().unwrap().contains("550"));
    let sent = notifications.iter().find(|n| n["kind"] == "LEAD_NOTIFICATION").unwrap().clone();
    assert!(sent["sentAt"].is_string() && sent["state"] == "SENT");

    let stats = "{ emailJobStats { queued sent dead } }";
    assert_eq!(
        app.graphql(stats, json!({}), Some(&admin)).await["data"]["emailJobStats"],
        json!({ "queued": 0, "sent": 1, "dead": 1 })
    );
    let list =
        app.graphql("{ emailJobs(state: DEAD) { totalCount nodes { id recipient } } }", json!({}), Some(&admin)).await;
    assert_eq!(list["data"]["emailJobs"]["totalCount"], 1, "{list}");
    assert_eq!(list["data"]["emailJobs"]["nodes"][0]["id"], dead["id"]);
    let all = app
        .graphql(
            "{ emailJobs(first: 1) { edges { cursor } pageInfo { hasNextPage endCursor } } }",
            json!({}),
            Some(&admin),
        )
        .await;
    let after = all["data"]["emailJobs"]["pageInfo"]["endCursor"].clone();
    assert_eq!(all["data"]["emailJobs"]["pageInfo"]["hasNextPage"], true);
    let next = app
        .graphql(
            "query($a: String) { emailJobs(first: 1, after: $a) { nodes { id } pageInfo { hasNextPage } } }",
            json!({ "a": after }),
            Some(&admin),
        )
        .await;
    assert_eq!(next["data"]["emailJobs"]["pageInfo"]["hasNextPage"], false, "{next}");

    let retry = "mutation($id: ID!) { retryEmailJob(id: $id) { state attempts } }";
    for query in [stats, "{ emailJobs { totalCount } }"] {
        assert_eq!(error_code(&app.graphql(query, json!({}), Some(&attorney)).await), "FORBIDDEN");
    }
    assert_eq!(error_code(&app.graphql(retry, json!({ "id": dead["id"] }), Some(&attorney)).await), "FORBIDDEN");
    let twice = app.graphql(retry, json!({ "id": sent["id"] }), Some(&admin)).await;
    assert_eq!(error_code(&twice), "BAD_USER_INPUT", "a sent mail is not sent again: {twice}");

    // The mailbox exists now: the retried mail goes out.
    app.smtp.unreject("ada@example.com");
    let requeued = app.graphql(retry, json!({ "id": dead["id"] }), Some(&admin)).await;
    assert_eq!(requeued["data"]["retryEmailJob"], json!({ "state": "QUEUED", "attempts": 0 }), "{requeued}");
    assert_eq!(app.drain_mail().await.sent, 1);
    assert!(app.smtp.messages().iter().any(|m| m.rcpt_to == ["ada@example.com"]));
    assert_eq!(
        app.graphql(stats, json!({}), Some(&admin)).await["data"]["emailJobStats"],
        json!({ "queued": 0, "sent": 2, "dead": 0 })
    );
}

async fn metrics_are_exposed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    app.drain_mail().await;
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    for series in [
        "intake_leads_submitted_total",
        "intake_emails_total{kind=\"acknowledgement\",outcome=\"sent\"}",
        "intake_email_send_seconds_bucket",
        "intake_email_queue_depth{state=\"queued\"} 0",
        "intake_http_request_duration_seconds_bucket{method=\"POST\",route=\"/graphql\",status=\"200\"",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
}

async fn replies_to_the_acknowledgement_go_where_configured(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, |c| c.mail.reply_to = Some("Intake Desk <desk@firm.test>".parse().unwrap())).await;
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    app.drain_mail().await;
    let ack = app.smtp.messages().into_iter().find(|m| m.rcpt_to == ["ada@example.com"]).unwrap();
    assert!(ack.header("Reply-To").contains("desk@firm.test"), "{}", ack.header("Reply-To"));
}

/// PostgreSQL: a worker in another process is woken by NOTIFY, long before its next poll.
#[tokio::test]
#[cfg_attr(not(intake_postgres), ignore = "no PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432")]
async fn notify_wakes_a_worker_in_another_process() {
    let backend = Backend::postgres();
    let app = TestApp::spawn(backend).await;
    let mut env = app.env().clone();
    env.insert("INTAKE_MAIL_POLL_INTERVAL".into(), "300".into());
    env.insert("RUST_LOG".into(), "info".into());
    let mut worker = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_intake")).arg("worker").envs(&env).stderr(Stdio::piped()).spawn().unwrap(),
    );
    let stderr = BufReader::new(worker.0.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("LISTEN") && line.contains("intake_email_jobs") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("the worker listens");
    // The worker drains once on start; the queue is empty, so it now waits up to 300 s.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    let mails = app.smtp.wait_for(2, Duration::from_secs(10)).await;
    let latency = started.elapsed();
    drop(worker);
    assert_eq!(mails.len(), 2);
    assert!(latency < Duration::from_secs(5), "delivered {latency:?} after submission, far below the 300 s poll");
    eprintln!("NOTIFY wake-up to delivery: {latency:?}");
}
