//! Lists at scale: the computed `leads(first: 20)` with each filter alone on a million leads,
//! and its `totalCount`. Every filter must read about a page's worth of index entries.

use std::{sync::Arc, time::Instant};

use serde_json::{Value, json};

use crate::{
    fixtures::{Backend, RunDb},
    load,
    report::Section,
    scale,
    servers::{Kind, Server},
};

const CLIENTS: usize = 4;
const PAGE: &str = "query($f: LeadFilter) { leads(first: 20, filter: $f) { edges { node { id lastName status } } \
                    pageInfo { hasNextPage endCursor } } }";
const COUNT: &str = "query($f: LeadFilter) { leads(first: 1, filter: $f) { totalCount } }";
const COUNTS: usize = 5;

/// Each filter alone, as the dashboard sends it.
fn filters() -> Vec<(&'static str, Value)> {
    vec![
        ("status: PENDING", json!({ "status": ["PENDING"] })),
        ("search: one person's last name", json!({ "search": scale::last_name(123_457) })),
        ("search: a first name (1 in 50)", json!({ "search": "john" })),
        ("search: \"gmail\" (1 in 5)", json!({ "search": "gmail" })),
        ("assignedTo: one of 8", json!({ "assignedTo": scale::ATTORNEYS[3] })),
        ("conflictState: POSSIBLE_CONFLICT", json!({ "conflictState": ["POSSIBLE_CONFLICT"] })),
        ("outcome: RETAINED", json!({ "outcome": ["RETAINED"] })),
        ("outcome: OPEN", json!({ "outcome": ["OPEN"] })),
        ("overdue: true", json!({ "overdue": true })),
        ("overdue: false", json!({ "overdue": false })),
        ("source: referral", json!({ "source": ["referral"] })),
    ]
}

pub async fn run(backends: &[Backend], seconds: u64) -> anyhow::Result<Section> {
    let leads = std::env::var("BENCH_SCALE_LEADS").ok().map(|s| s.parse()).transpose()?.unwrap_or(scale::LEADS);
    let seconds = seconds.min(5);
    let mut section = Section::new(format!(
        "Lists at scale: {leads} leads, each filter alone, computed, {CLIENTS} clients, {seconds} s each (item 5)"
    ));
    section.line(format!(
        "`intake serve --no-worker` with `INTAKE_READ_CACHE_MS=0` (every answer computed) on the database `bench \
         scale` seeds: leads over two years with varied last names, fifty common first names and five mail domains, a third REACHED_OUT, four in five assigned among 8 attorneys, the \
         older nine in ten with an outcome, one in fifty a possible conflict, a day to answer each (so most \
         pending ones are overdue); no statistics gathered on SQLite (as a deployment has none), `ANALYZE` on \
         PostgreSQL (as autovacuum does). The page is `{PAGE}`; `totalCount` is asked {COUNTS} times alone, \
         and the slowest is shown.\n"
    ));
    let mut rows = Vec::new();
    for backend in backends {
        let db = RunDb::create(backend).await?;
        let took = scale::seed(&db, leads).await?;
        println!("{}: {leads} leads seeded in {took:.0} s", backend.label());
        let mut env = db.env();
        env.push(("INTAKE_READ_CACHE_MS".into(), "0".into()));
        let server = Server::start(Kind::IntakeApi, &env, db.path()).await?;
        let token = crate::reads::sign_in(&server).await?;
        for (label, filter) in filters() {
            let variables = json!({ "f": filter });
            let body = json!({ "query": PAGE, "variables": variables });
            let first = load::send(server.addr, load::graphql(&body, Some(&token))).await?;
            let found = first["data"]["leads"]["edges"].as_array().map_or(0, Vec::len);
            anyhow::ensure!(first["errors"].is_null() && found > 0, "{label}: {first}");
            let make: load::MakeRequest = {
                let token = token.clone();
                Arc::new(move |_| load::graphql(&body, Some(&token)))
            };
            load::run(server.addr, CLIENTS, std::time::Duration::from_secs(1), make.clone())
                .await?
                .ensure_clean(label)?;
            let stats = load::run(server.addr, CLIENTS, std::time::Duration::from_secs(seconds), make).await?;
            stats.ensure_clean(label)?;
            let mut slowest: f64 = 0.0;
            let mut total = Value::Null;
            for _ in 0..COUNTS {
                let started = Instant::now();
                let body = json!({ "query": COUNT, "variables": variables });
                let answer = load::send(server.addr, load::graphql(&body, Some(&token))).await?;
                slowest = slowest.max(started.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(answer["errors"].is_null(), "{label} totalCount: {answer}");
                total = answer["data"]["leads"]["totalCount"].clone();
            }
            println!(
                "{} {label}: {:.0}/s p50 {:.2} ms p99 {:.2} ms; totalCount {total} in {slowest:.0} ms",
                backend.label(),
                stats.per_second(),
                stats.percentile_ms(0.5),
                stats.percentile_ms(0.99)
            );
            rows.push(vec![
                backend.label().to_owned(),
                format!("`{label}`"),
                format!("{:.0}", stats.per_second()),
                format!("{:.2}", stats.percentile_ms(0.5)),
                format!("**{:.2}**", stats.percentile_ms(0.99)),
                total.to_string(),
                format!("{slowest:.0}"),
            ]);
        }
        server.stop().await?;
        db.drop_database().await?;
    }
    section.table(&["Database", "Filter", "Pages/s", "p50 ms", "p99 ms", "totalCount", "totalCount ms"], &rows);
    Ok(section)
}
