//! The binary as a newcomer runs it: no configuration at all, then the CLI's other commands.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, KillOnDrop, PDF, TestApp, lead_input, post_graphql, submit_form},
    on_both_backends,
};

on_both_backends!(a_separate_worker_process_sends_the_queued_mail);

/// `intake worker` in its own process picks up what the API (running without a worker) queued.
async fn a_separate_worker_process_sends_the_queued_mail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec()).await;
    assert!(app.smtp.messages().is_empty());
    let mut worker = Command::new(env!("CARGO_BIN_EXE_intake"));
    worker.arg("worker").envs(app.env()).stderr(Stdio::null());
    let worker = KillOnDrop(worker.spawn().unwrap());
    let mails = app.smtp.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 2);
    Command::new("kill").args(["-TERM", &worker.0.id().to_string()]).status().unwrap();
    let mut worker = worker;
    let deadline = Instant::now() + Duration::from_secs(15);
    while worker.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "intake worker did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(worker.0.try_wait().unwrap().unwrap().success());
}

/// Stops the server even when an assertion fails half-way.
fn intake(data_dir: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_intake"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("INTAKE_DATA_DIR", data_dir)
        .env("INTAKE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .current_dir(data_dir.parent().unwrap());
    cmd
}

#[tokio::test]
async fn serve_runs_the_whole_system_with_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();

    let mut add = intake(&data, port)
        .args(["user", "add", "--email", "Alex@Firm.test", "--name", "Alex Attorney", "--role", "attorney"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"attorney-password-1\n").unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(added.status.success());
    assert!(String::from_utf8_lossy(&added.stdout).contains("created alex@firm.test"));

    let mut server = KillOnDrop(intake(&data, port).arg("serve").stderr(Stdio::piped()).spawn().unwrap());
    let stderr = BufReader::new(server.0.stderr.take().unwrap());
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut password = None;
    let mut graphiql_logged = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(password.is_some() && graphiql_logged) && Instant::now() < deadline {
        if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(p) = line.trim().strip_prefix("password: ") {
                password = Some(p.to_owned());
            }
            graphiql_logged |= line.contains(&format!("GraphiQL: http://127.0.0.1:{port}/graphql"));
        }
    }
    let password = password.expect("the first admin's password is printed");
    assert!(graphiql_logged, "the log says where GraphiQL is");

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(!ready.headers()["x-request-id"].is_empty(), "responses carry a request id");
    let health = intake(&data, port).arg("health").output().unwrap();
    assert!(health.status.success(), "`intake health` on a ready server: {}", String::from_utf8_lossy(&health.stderr));
    let graphiql = client.get(format!("{base}/graphql")).send().await.unwrap().text().await.unwrap();
    assert!(graphiql.contains("GraphiQL") && graphiql.contains("/graphiql/init.js"));
    let init = client.get(format!("{base}/graphiql/init.js")).send().await.unwrap().text().await.unwrap();
    assert!(init.contains("Authorization"), "GraphiQL's start-up explains signing in");

    let login_query =
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken user { role } } }";
    let login = |email: &'static str, password: String| {
        let (client, base) = (client.clone(), base.clone());
        async move { post_graphql(&client, &base, login_query, json!({ "e": email, "p": password }), None).await }
    };
    assert_eq!(login("admin@localhost", password).await["data"]["login"]["user"]["role"], "ADMIN");
    assert_eq!(
        login("alex@firm.test", "attorney-password-1".into()).await["data"]["login"]["user"]["role"],
        "ATTORNEY"
    );

    let form = submit_form(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", PDF.to_vec());
    let receipt: Value =
        client.post(format!("{base}/graphql")).multipart(form).send().await.unwrap().json().await.unwrap();
    assert_eq!(receipt["data"]["submitLead"]["status"], "PENDING", "{receipt}");

    // The in-process worker writes both mails as .eml files.
    let mail_dir = data.join("mail");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut emls = Vec::new();
    while emls.len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        emls = std::fs::read_dir(&mail_dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
    }
    assert_eq!(emls.len(), 2, "two .eml files in {}", mail_dir.display());
    let all: String = emls.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    assert!(all.contains("To: ada@example.com") && all.contains("To: alex@firm.test"), "{all}");
    assert!(data.join("intake.db").exists() && data.join("jwt_secret").exists());

    // SIGTERM: a graceful stop, exit status 0.
    Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "intake did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let health = intake(&data, port).arg("health").output().unwrap();
    assert!(!health.status.success(), "`intake health` fails once the server is gone");

    let migrate = intake(&data, port).arg("migrate").output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
}

#[test]
fn invalid_configuration_is_refused_with_every_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = intake(dir.path(), 0)
        .env("INTAKE_ADDR", "nowhere")
        .env("INTAKE_MAX_UPLOAD_BYTES", "lots")
        .env("DATABASE_URL", "postgres://u:secret-password@127.0.0.1/db")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in ["INTAKE_ADDR", "INTAKE_MAX_UPLOAD_BYTES", "INTAKE_JWT_SECRET: required"] {
        assert!(err.contains(expected), "{expected} missing from: {err}");
    }
    assert!(!err.contains("secret-password"), "secrets stay out of messages: {err}");
}

#[test]
fn user_add_refuses_a_weak_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut add = intake(dir.path(), 0)
        .args(["user", "add", "--email", "a@firm.test", "--name", "A", "--role", "admin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
}

/// At the most verbose log level, nothing personal or secret reaches the log.
#[tokio::test]
async fn logs_keep_secrets_and_personal_data_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = dir.path().join("intake.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (admin_email, admin_password) = ("boss.secret@firm.test", "very-secret-admin-pass");
    let mut server = KillOnDrop(
        intake(&data, port)
            .env("RUST_LOG", "trace")
            .env("INTAKE_ADMIN_EMAIL", admin_email)
            .env("INTAKE_ADMIN_PASSWORD", admin_password)
            .arg("serve")
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gql = |query: &'static str, variables: Value| {
        let (client, base) = (client.clone(), base.clone());
        async move { post_graphql(&client, &base, query, variables, None).await }
    };
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }";
    let wrong_password = "wrong-secret-guess-123";
    gql(login, json!({ "e": admin_email, "p": wrong_password })).await;
    let signed_in = gql(login, json!({ "e": admin_email, "p": admin_password })).await;
    let access = signed_in["data"]["login"]["accessToken"].as_str().unwrap().to_owned();
    let refresh = signed_in["data"]["login"]["refreshToken"].as_str().unwrap().to_owned();
    let rotated =
        gql("mutation($t: String!) { refreshToken(token: $t) { refreshToken } }", json!({ "t": refresh })).await;
    let refresh2 = rotated["data"]["refreshToken"]["refreshToken"].as_str().unwrap().to_owned();

    let prospect = "prospect.secret@example.com";
    let marker = "UNIQUE-RESUME-MARKER-9f3k";
    let form =
        submit_form(lead_input("Ada", "Lovelace", prospect), "cv.pdf", format!("%PDF-1.7\n{marker}\n").into_bytes());
    let receipt: Value =
        client.post(format!("{base}/graphql")).multipart(form).send().await.unwrap().json().await.unwrap();
    let id = receipt["data"]["submitLead"]["id"].as_str().unwrap().to_owned();
    let lead = post_graphql(
        &client,
        &base,
        "query($id: ID!) { lead(id: $id) { resume { downloadUrl } } }",
        json!({ "id": id }),
        Some(&access),
    )
    .await;
    let url = lead["data"]["lead"]["resume"]["downloadUrl"].as_str().unwrap().to_owned();
    let signature = url.split("sig=").nth(1).unwrap().to_owned();
    assert!(client.get(&url).send().await.unwrap().text().await.unwrap().contains(marker));
    let mail_dir = data.join("mail");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&mail_dir).map(|d| d.count()).unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "the mails were not sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
    let _ = server.0.wait();

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("lead submitted") && log.contains("email sent"), "the log is there and says things:\n{log}");
    for (what, secret) in [
        ("the admin password", admin_password),
        ("a wrong password", wrong_password),
        ("an access token", access.as_str()),
        ("a refresh token", refresh.as_str()),
        ("a rotated refresh token", refresh2.as_str()),
        ("a download signature", signature.as_str()),
        ("the prospect's email", prospect),
        ("the admin's email", admin_email),
        ("résumé bytes", marker),
    ] {
        assert!(!log.contains(secret), "{what} appears in the log");
    }
}

/// PostgreSQL: several processes starting at once on a fresh database (replicas and workers
/// after a deploy) take turns migrating; all of them come up.
#[tokio::test]
#[cfg_attr(not(intake_postgres), ignore = "no PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432")]
async fn processes_starting_together_migrate_once() {
    let crate::helpers::Backend::Postgres(server) = crate::helpers::Backend::postgres() else { unreachable!() };
    use sea_orm::ConnectionTrait;
    let name = format!("intake_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(&server).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_intake"))
                .arg("migrate")
                .env("DATABASE_URL", url.as_str())
                .env("INTAKE_JWT_SECRET", crate::helpers::JWT_SECRET)
                .env("INTAKE_DATA_DIR", dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = runs.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    admin.execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await.unwrap();
    for out in outputs {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
