use std::{
    process::{Command, Stdio},
    time::Duration,
};

use entity::email_job::{self, EmailKind, JobState};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    helpers::{ADMIN_EMAIL, Backend, KillOnDrop, PDF, TestApp, later, lead_input},
    on_both_backends,
};

on_both_backends!(
    both_mails_say_the_right_things,
    a_failed_send_is_retried,
    a_job_that_keeps_failing_ends_dead,
    a_permanent_rejection_is_dead_at_once,
    the_background_worker_sends_without_being_asked,
    configured_recipients_replace_the_attorneys,
    smtp_credentials_from_the_url_are_used,
    smtp_tls_settings_are_enforced,
    concurrent_workers_send_each_mail_once,
    shutdown_finishes_the_mail_in_flight,
    shutdown_does_not_wait_for_the_whole_queue,
);

async fn jobs(app: &TestApp) -> Vec<email_job::Model> {
    email_job::Entity::find().all(&app.state.db).await.unwrap()
}

async fn both_mails_say_the_right_things(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.attorney("alex@firm.test").await;
    app.submit_lead(lead_input("<b>Ada</b>", "Lovelace & Co", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    assert_eq!(app.drain_mail().await.sent, 2);
    let mails = app.smtp.messages();
    let ack = mails.iter().find(|m| m.rcpt_to == ["ada@example.com"]).expect("acknowledgement to the prospect");
    let note = mails.iter().find(|m| m.rcpt_to == ["alex@firm.test"]).expect("notification to the attorney");

    assert_eq!(ack.mail_from, "intake@firm.test");
    assert_eq!(ack.header("Subject"), "We received your details — Test Firm");
    assert!(ack.header("From").contains("Test Firm") && ack.header("From").ends_with("<intake@firm.test>"));
    let (text, html) = ack.bodies();
    assert!(text.contains("Dear <b>Ada</b> Lovelace & Co"), "{text}");
    assert!(text.contains("What happens next"), "{text}");
    assert!(html.contains("Dear &lt;b&gt;Ada&lt;&#x2f;b&gt; Lovelace &amp; Co"), "names are escaped in HTML: {html}");
    assert!(!html.contains("<b>Ada"), "{html}");

    assert_eq!(note.header("Subject"), "New lead: <b>Ada</b> Lovelace & Co");
    assert!(note.header("Reply-To").contains("ada@example.com"), "the attorney can reply to the prospect");
    let (text, html) = note.bodies();
    assert!(text.contains("ada@example.com"), "{text}");
    let link =
        text.lines().find_map(|l| l.strip_prefix("Open the lead: ")).expect("a link to the lead").trim().to_owned();
    assert!(link.starts_with(&format!("{}/graphql?query=", app.address)), "{link}");
    let lead_id = jobs(&app).await[0].lead_id.unwrap().to_string();
    assert!(link.contains(&lead_id), "{link}");
    assert!(html.contains("&lt;b&gt;Ada"), "{html}");
    // The link opens GraphiQL.
    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 200);

    // Message-IDs are derived from the job, one per mail.
    let ids: Vec<_> = jobs(&app).await.iter().map(|j| j.id.to_string()).collect();
    for mail in [ack, note] {
        let message_id = mail.header("Message-ID");
        assert!(ids.iter().any(|id| message_id.contains(id)), "{message_id} vs {ids:?}");
    }
    assert!(jobs(&app).await.iter().all(|j| j.state == JobState::Sent && j.sent_at.is_some() && j.attempts == 1));
}

async fn a_failed_send_is_retried(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    app.smtp.fail_next(1);
    let first = app.drain_mail().await;
    assert_eq!((first.sent, first.retrying, first.dead), (1, 1, 0));
    let waiting: Vec<_> = jobs(&app).await.into_iter().filter(|j| j.state == JobState::Queued).collect();
    assert_eq!(waiting.len(), 1);
    assert!(waiting[0].last_error.as_deref().unwrap().contains("451"), "{:?}", waiting[0].last_error);
    assert!(waiting[0].run_at > api::infra::clock::now(), "retried later, not at once");

    assert_eq!(app.drain_mail().await, Default::default(), "not due yet");
    let second = app.drain_mail_at(later(Duration::from_secs(3600))).await;
    assert_eq!((second.sent, second.retrying, second.dead), (1, 0, 0));
    assert_eq!(app.smtp.messages().len(), 2);
    let settled = jobs(&app).await;
    assert!(settled.iter().all(|j| j.state == JobState::Sent));
    assert_eq!(settled.iter().map(|j| j.attempts).max(), Some(2));
}

async fn a_job_that_keeps_failing_ends_dead(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.jobs.max_attempts = 3).await;
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    app.smtp.fail_next(usize::MAX);
    let mut reports = Vec::new();
    for hours in [0, 1, 3, 6] {
        reports.push(app.drain_mail_at(later(Duration::from_secs(hours * 3600))).await);
    }
    assert_eq!(reports.iter().map(|r| r.retrying).collect::<Vec<_>>(), [2, 2, 0, 0]);
    assert_eq!(reports.iter().map(|r| r.dead).collect::<Vec<_>>(), [0, 0, 2, 0]);
    for job in jobs(&app).await {
        assert_eq!((job.state, job.attempts), (JobState::Dead, 3));
        assert!(job.last_error.unwrap().contains("451"));
    }
    assert!(app.smtp.messages().is_empty());
}

async fn a_permanent_rejection_is_dead_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.smtp.reject("ada@example.com");
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    let report = app.drain_mail().await;
    assert_eq!((report.sent, report.retrying, report.dead), (1, 0, 1));
    let dead = email_job::Entity::find()
        .filter(email_job::Column::State.eq(JobState::Dead))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((dead.kind, dead.attempts), (EmailKind::LeadAcknowledgement, 1));
    assert!(dead.last_error.unwrap().contains("550"), "the server's answer is kept");
}

async fn the_background_worker_sends_without_being_asked(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.run_worker = true;
        c.jobs.poll_interval = std::time::Duration::from_secs(300);
    })
    .await;
    // Let the worker finish its first drain and go idle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    let mails = app.smtp.wait_for(2, Duration::from_secs(10)).await;
    let latency = started.elapsed();
    assert_eq!(mails.len(), 2);
    // Woken by the enqueue, not by its 300 s poll: the job is picked up at once and both mails
    // are through the SMTP conversation in moments.
    assert!(latency < Duration::from_secs(5), "{latency:?}");
    eprintln!("in-process wake-up to delivery: {latency:?}");
}

async fn configured_recipients_replace_the_attorneys(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.mail.notify = Some(vec!["intake@firm.test".into(), "partner@firm.test".into()])
    })
    .await;
    app.attorney("alex@firm.test").await;
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    assert_eq!(app.drain_mail().await.sent, 3);
    let mut to: Vec<_> = app.smtp.messages().into_iter().flat_map(|m| m.rcpt_to).collect();
    to.sort();
    assert_eq!(to, ["ada@example.com", "intake@firm.test", "partner@firm.test"]);
    assert!(!to.contains(&ADMIN_EMAIL.to_owned()));
}

async fn smtp_credentials_from_the_url_are_used(backend: Backend) {
    let sink = test_support::smtp::SmtpSink::start().await;
    sink.require_auth("mailer@firm.test", "p@ss/word");
    let url = format!("smtp://mailer%40firm.test:p%40ss%2Fword@127.0.0.1:{}?tls=none", sink.port);
    let app = TestApp::spawn_with(backend.clone(), |c| c.mail.transport = smtp(&url)).await;
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    assert_eq!(app.drain_mail().await.sent, 2);
    assert!(sink.messages().iter().all(|m| m.authenticated_as.as_deref() == Some("mailer@firm.test")));

    // A wrong password is our misconfiguration: the mail waits for a fix instead of dying.
    let wrong = format!("smtp://mailer%40firm.test:wrong@127.0.0.1:{}?tls=none", sink.port);
    let app = TestApp::spawn_with(backend, |c| c.mail.transport = smtp(&wrong)).await;
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    let report = app.drain_mail().await;
    assert_eq!((report.sent, report.retrying, report.dead), (0, 2, 0));
    assert!(jobs(&app).await.iter().all(|j| j.last_error.as_deref().unwrap().contains("535")));
}

/// `smtp://` demands STARTTLS and `smtps://` TLS from the first byte: neither falls back to
/// plain text with a server that offers none.
async fn smtp_tls_settings_are_enforced(backend: Backend) {
    let sink = test_support::smtp::SmtpSink::start().await;
    for url in [format!("smtp://127.0.0.1:{}", sink.port), format!("smtps://127.0.0.1:{}", sink.port)] {
        let app = TestApp::spawn_with(backend.clone(), |c| {
            c.mail.transport = smtp(&url);
            c.jobs.max_attempts = 5;
        })
        .await;
        app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
        let report = app.drain_mail().await;
        assert_eq!((report.sent, report.retrying), (0, 2), "{url}");
    }
    assert!(sink.messages().is_empty(), "nothing went out in plain text");
}

/// Three workers draining one queue at once (as `--scale worker=3` does) send every mail once.
async fn concurrent_workers_send_each_mail_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..20 {
        let email = format!("prospect{i}@example.com");
        app.submit_lead(lead_input("Ada", "Lovelace", &email), "cv.pdf", PDF.to_vec()).await;
    }
    let (a, b, c) = (app.state.worker(), app.state.worker(), app.state.worker());
    let now = api::infra::clock::now();
    let (ra, rb, rc) = tokio::join!(a.run_pending(now), b.run_pending(now), c.run_pending(now));
    let sent = ra.unwrap().sent + rb.unwrap().sent + rc.unwrap().sent;
    assert_eq!(sent, 40);
    let mut ids: Vec<String> = app.smtp.messages().iter().map(|m| m.header("Message-ID")).collect();
    assert_eq!(ids.len(), 40);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "no mail was sent twice");
    assert!(jobs(&app).await.iter().all(|j| j.state == JobState::Sent && j.attempts == 1));
}

/// A graceful stop (SIGTERM, Ctrl-C) lets the worker finish the mails it is sending.
async fn shutdown_finishes_the_mail_in_flight(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, |c| c.run_worker = true).await;
    app.smtp.set_delay(Duration::from_millis(500));
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !jobs(&app).await.iter().all(|j| j.attempts == 1) {
        assert!(std::time::Instant::now() < deadline, "the worker never claimed the mails");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(app.smtp.messages().is_empty(), "still sending when the stop comes");
    // Stops gracefully (and starts again on the same database, to look at it).
    app.restart().await;
    assert_eq!(app.smtp.messages().len(), 2, "both mails went out before the process ended");
    assert!(jobs(&app).await.iter().all(|j| j.state == JobState::Sent));
}

/// ... but not the whole queue: a worker that finds many mails due stops after the batch in
/// progress, and the rest stays queued for the next start.
async fn shutdown_does_not_wait_for_the_whole_queue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let submissions = (0..10).map(|i| {
        app.submit_lead(lead_input("Ada", "Lovelace", &format!("ada{i}@example.com")), "cv.pdf", PDF.to_vec())
    });
    futures_util::future::join_all(submissions).await;
    app.smtp.set_delay(Duration::from_millis(300));
    let mut env = app.env().clone();
    env.insert("INTAKE_MAIL_CONCURRENCY".into(), "1".into());
    let worker = Command::new(env!("CARGO_BIN_EXE_intake")).arg("worker").envs(&env).stderr(Stdio::null()).spawn();
    let mut worker = KillOnDrop(worker.unwrap());
    app.smtp.wait_for(1, Duration::from_secs(30)).await;
    // 20 mails at 300 ms each take 6 s; the batch in progress (4 with concurrency 1) at most 1.2 s.
    let started = std::time::Instant::now();
    Command::new("kill").args(["-TERM", &worker.0.id().to_string()]).status().unwrap();
    while worker.0.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(3), "the worker is still draining the queue");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let jobs = jobs(&app).await;
    let sent = jobs.iter().filter(|j| j.state == JobState::Sent).count();
    assert!(sent < 20, "the stop waited for the whole queue ({sent} sent)");
    assert_eq!(jobs.len(), 20, "nothing lost");
    assert!(jobs.iter().all(|j| matches!(j.state, JobState::Sent | JobState::Queued)));
}

/// The mail transport an operator's `INTAKE_SMTP_URL` describes.
fn smtp(url: &str) -> api::infra::mail::MailTransport {
    api::infra::mail::MailTransport::Smtp(api::infra::mail::SmtpSettings::from_url(url).unwrap())
}
