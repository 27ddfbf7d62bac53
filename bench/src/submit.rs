//! Item 1 and 2: `submitLead` with a 100 KB PDF from 32 clients, for Intake and for the floor,
//! each on a fresh database, on each backend.

use std::{sync::Arc, time::Duration};

use entity::email_job::EmailKind;
use sea_orm::{ColumnTrait, ConnectionTrait, Database, EntityTrait, PaginatorTrait, QueryFilter, Statement};

use crate::{
    fixtures::{self, Backend, RunDb},
    load,
    report::Section,
    servers::{Kind, Server},
};

pub const CLIENTS: usize = 32;
const FILE_BYTES: usize = 100 * 1024;

pub struct Outcome {
    pub label: &'static str,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub peak_rss_mib: f64,
    /// Every round's rate, for a median.
    pub spread: String,
}

/// Rounds of the submit benchmark: each server runs once per round, in turn, and the table
/// shows the medians, so that a slow moment of the machine does not land on one server alone.
pub const ROUNDS: usize = 3;

pub async fn run(backends: &[Backend], seconds: u64) -> anyhow::Result<Section> {
    let mut section = Section::new(format!(
        "submitLead: 100 KB PDF, {CLIENTS} clients, {seconds} s, medians of {ROUNDS} alternating rounds (items 1 and 2)"
    ));
    section.line(
        "Each run is its own process on a fresh database, after a 3 s warm-up, a new address on every request; the \
         four servers take turns, round after round, and each figure is the median of its rounds. \"Bare floor\" \
         (`bench/src/bare.rs`) does only the physical work with the least machinery: multipart parse, file write, \
         one transaction of a lead and two mail rows into plain tables, with rusqlite or tokio-postgres. \"Floor\" \
         (`bench/src/floor.rs`) does the same through sqlx into Intake's own schema and pool. \"Intake API\" is \
         `intake serve --no-worker` (an API replica); \"Intake embedded\" is plain `intake serve`, whose \
         in-process mail worker writes both mails as `.eml` files while the load runs. Every request is checked \
         (HTTP 200, no GraphQL `errors`), and afterwards the database must hold one lead and two email jobs per \
         success (plus the two reminders the default 24-hour response target schedules).\n",
    );
    let servers = [
        (Kind::Bare, "Bare floor"),
        (Kind::Floor, "Floor"),
        (Kind::IntakeApi, "Intake API"),
        (Kind::IntakeWithWorker, "Intake embedded"),
    ];
    let mut rows = Vec::new();
    for backend in backends {
        let mut runs: Vec<Vec<Outcome>> = servers.iter().map(|_| Vec::new()).collect();
        for _ in 0..ROUNDS {
            for ((kind, label), runs) in servers.iter().zip(&mut runs) {
                runs.push(one(backend, *kind, label, seconds).await?);
            }
        }
        let medians: Vec<Outcome> = runs.into_iter().map(median).collect();
        let (bare, floor) = (medians[0].per_second, medians[1].per_second);
        for outcome in &medians {
            rows.push(vec![
                backend.label().to_owned(),
                outcome.label.to_owned(),
                format!("{:.0}", outcome.per_second),
                outcome.spread.clone(),
                format!("{:.2}", outcome.per_second / bare),
                format!("{:.2}", outcome.per_second / floor),
                format!("{:.1}", outcome.p50_ms),
                format!("{:.1}", outcome.p99_ms),
                format!("{:.0}", outcome.peak_rss_mib),
            ]);
        }
    }
    section.table(
        &["Database", "Server", "Requests/s", "Rounds", "× bare floor", "× floor", "p50 ms", "p99 ms", "Peak RSS MiB"],
        &rows,
    );
    Ok(section)
}

/// The run with the median rate, its rounds' rates beside it.
pub fn median(mut runs: Vec<Outcome>) -> Outcome {
    let rates: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.per_second)).collect();
    runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    let mut middle = runs.swap_remove(runs.len() / 2);
    middle.spread = rates.join(" / ");
    middle
}

async fn one(backend: &Backend, kind: Kind, label: &'static str, seconds: u64) -> anyhow::Result<Outcome> {
    measure(RunDb::create(backend).await?, backend, kind, label, seconds).await
}

/// What a run sends, and what the database held before it.
pub struct Load {
    pub make: load::MakeRequest,
    /// Leads already stored.
    pub seeded: u64,
    /// Each submission queues both mails: not so when an address is sent to again and again
    /// (its acknowledgements are capped).
    pub all_mails: bool,
}

impl Load {
    /// A new address on every request.
    pub fn unique() -> Self {
        let file = Arc::new(fixtures::pdf(FILE_BYTES));
        Self {
            make: Arc::new(move |n| fixtures::submit_request(fixtures::submit_body(n, &file))),
            seeded: 0,
            all_mails: true,
        }
    }

    /// The same address on every request.
    pub fn from_address(email: &'static str) -> Self {
        let file = Arc::new(fixtures::pdf(FILE_BYTES));
        let make: load::MakeRequest =
            Arc::new(move |n| fixtures::submit_request(fixtures::submit_body_from(n, email, &file)));
        Self { make, seeded: 0, all_mails: false }
    }
}

/// One run of the load on `db` (fresh, or prepared by the caller).
pub async fn measure(
    db: RunDb,
    backend: &Backend,
    kind: Kind,
    label: &'static str,
    seconds: u64,
) -> anyhow::Result<Outcome> {
    measure_with(db, backend, kind, label, seconds, Load::unique()).await
}

pub async fn measure_with(
    db: RunDb,
    backend: &Backend,
    kind: Kind,
    label: &'static str,
    seconds: u64,
    load: Load,
) -> anyhow::Result<Outcome> {
    let server = Server::start(kind, &db.env(), db.path()).await?;
    let make = load.make.clone();
    let warmup = load::run(server.addr, CLIENTS, Duration::from_secs(3), make.clone()).await?;
    warmup.ensure_clean(label)?;
    let stats = load::run(server.addr, CLIENTS, Duration::from_secs(seconds), make).await?;
    stats.ensure_clean(label)?;
    let peak_rss_mib = server.peak_rss_mib()?;
    server.stop().await?;

    verify(&db, backend, kind, label, &load, warmup.ok + stats.ok).await?;
    db.drop_database().await?;
    let outcome = Outcome {
        label,
        per_second: stats.per_second(),
        p50_ms: stats.percentile_ms(0.5),
        p99_ms: stats.percentile_ms(0.99),
        peak_rss_mib,
        spread: String::new(),
    };
    println!(
        "submitLead {} {label}: {:.0}/s p50 {:.1} ms p99 {:.1} ms peak RSS {:.0} MiB",
        backend.label(),
        outcome.per_second,
        outcome.p50_ms,
        outcome.p99_ms,
        outcome.peak_rss_mib
    );
    Ok(outcome)
}

/// The database must hold what the successful submissions wrote: one lead and its mails each.
async fn verify(
    db: &RunDb,
    backend: &Backend,
    kind: Kind,
    label: &str,
    load: &Load,
    expected: u64,
) -> anyhow::Result<()> {
    let conn = Database::connect(&db.config().database.url).await?;
    if matches!(kind, Kind::Bare) {
        let counted = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {}", crate::bare::LEADS_TABLE),
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or_default();
        conn.close().await?;
        anyhow::ensure!(counted as u64 == expected, "{label}: {expected} submissions succeeded but {counted} stored");
        return Ok(());
    }
    let leads = entity::lead::Entity::find().count(&conn).await?;
    let jobs = |kinds: [EmailKind; 2]| {
        entity::email_job::Entity::find().filter(entity::email_job::Column::Kind.is_in(kinds)).count(&conn)
    };
    let mails = jobs([EmailKind::LeadAcknowledgement, EmailKind::LeadNotification]).await?;
    let chasers = jobs([EmailKind::ResponseReminder, EmailKind::ResponseEscalation]).await?;
    conn.close().await?;
    // The floor writes the lead and its two mails, nothing for later.
    let expected_chasers = if matches!(kind, Kind::Floor) { 0 } else { 2 * expected };
    let mails_ok = if load.all_mails { mails == 2 * expected } else { mails >= expected };
    let chasers_ok = !load.all_mails || chasers == expected_chasers;
    anyhow::ensure!(
        leads == load.seeded + expected && mails_ok && chasers_ok,
        "{label} on {}: {expected} submissions succeeded but {leads} leads, {mails} mails and {chasers} \
         reminders are stored",
        backend.label()
    );
    Ok(())
}
