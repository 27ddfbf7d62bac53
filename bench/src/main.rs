//! Benchmarks that need a whole Intake, not a function: run in release mode,
//! `cargo run --release -p bench -- mail-drain [count] [concurrency]`.
//! With BENCH_DATABASE_URL (a PostgreSQL server URL) the database is PostgreSQL, else SQLite.

#[allow(dead_code)] // the benchmark uses the sink's counting, not every test helper
#[path = "../../tests/e2e/smtp.rs"]
mod smtp;

use std::time::Instant;

use anyhow::Context;
use api::{
    config::Config,
    jobs::queue::{self, NewEmailJob},
    mail::messages::LeadMail,
};
use sea_orm::{ConnectionTrait, Database};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("mail-drain") => {
            let count = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(10_000);
            let concurrency = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(8);
            mail_drain(count, concurrency).await
        }
        _ => anyhow::bail!("usage: bench mail-drain [count] [concurrency]"),
    }
}

/// Queues `count` mails, then times one worker draining them into a local SMTP server.
async fn mail_drain(count: usize, concurrency: usize) -> anyhow::Result<()> {
    let sink = smtp::SmtpSink::start().await;
    let dir = tempfile::tempdir()?;
    let mut vars = vec![
        ("INTAKE_DATA_DIR", dir.path().display().to_string()),
        ("INTAKE_SMTP_URL", sink.url()),
        ("INTAKE_MAIL_CONCURRENCY", concurrency.to_string()),
        ("INTAKE_JWT_SECRET", "bench-secret-bench-secret-bench-secret".into()),
    ];
    // A fresh PostgreSQL database, dropped at the end, when BENCH_DATABASE_URL names a server.
    let postgres = match std::env::var("BENCH_DATABASE_URL") {
        Ok(server) => {
            let name = format!("intake_bench_{}", uuid::Uuid::new_v4().simple());
            Database::connect(&server).await?.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
            let mut url = url::Url::parse(&server)?;
            url.set_path(&name);
            vars.push(("DATABASE_URL", url.to_string()));
            Some((server, name))
        }
        Err(_) => None,
    };
    let backend = if postgres.is_some() { "PostgreSQL" } else { "SQLite" };
    let config = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = api::startup::connect(config).await?;

    let payload = serde_json::to_value(LeadMail {
        lead_id: uuid::Uuid::now_v7(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        email: "ada@example.com".into(),
        resume_file_name: "cv.pdf".into(),
        submitted_at: api::clock::now(),
        lead_url: "http://localhost:8000/graphql".into(),
    })?;
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let jobs = chunk
            .iter()
            .map(|i| NewEmailJob {
                lead_id: None,
                kind: entity::email_job::EmailKind::LeadAcknowledgement,
                recipient: format!("prospect{i}@example.com"),
                payload: payload.clone(),
            })
            .collect();
        queue::enqueue(&state.db, jobs, api::clock::now()).await.context("queueing")?;
    }

    let started = Instant::now();
    let report = state.worker().run_pending(api::clock::now()).await?;
    let elapsed = started.elapsed();
    state.db.clone().close().await?;
    if let Some((server, name)) = postgres {
        Database::connect(&server).await?.execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await?;
    }
    anyhow::ensure!(report.sent == count && sink.messages().len() == count, "not every mail arrived: {report:?}");
    println!(
        "mail-drain: {count} mails, {backend}, concurrency {concurrency}: {:.2} s, {:.0} mails/s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
