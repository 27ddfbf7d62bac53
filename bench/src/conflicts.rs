//! The conflict check at scale: `submitLead` against an empty register and against one of
//! 100,000 parties, on each backend. The check looks up a few dozen keys in an index, so the
//! register's size should not show.

use std::fmt::Write;

use crate::{
    fixtures::{self, Backend, RunDb},
    report::Section,
    servers::Kind,
    submit,
};

pub const PARTIES: usize = 100_000;

const FIRST_NAMES: [&str; 20] = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
];

pub async fn run(backends: &[Backend], seconds: u64) -> anyhow::Result<Section> {
    let mut section = Section::new(format!(
        "Conflict check: submitLead with an empty register and with {PARTIES} parties, {} clients, {seconds} s",
        submit::CLIENTS
    ));
    section.line(
        "`intake serve --no-worker` on a fresh database, the register imported through `intake conflicts import`'s \
         code before the server starts; the load is the same 100 KB PDF submissions as above. Every submission is \
         checked against the register and the earlier leads by email, name (and its one-typo variants) and email \
         domain.\n",
    );
    let mut rows = Vec::new();
    for backend in backends {
        let empty =
            submit::measure(RunDb::create(backend).await?, backend, Kind::IntakeApi, "Empty register", seconds).await?;
        let db = RunDb::create(backend).await?;
        let imported = fill(&db, PARTIES).await?;
        let full = submit::measure(db, backend, Kind::IntakeApi, "100,000 parties", seconds).await?;
        for (outcome, import) in [(&empty, String::new()), (&full, format!("{imported:.1} s"))] {
            rows.push(vec![
                backend.label().to_owned(),
                outcome.label.to_owned(),
                format!("{:.0}", outcome.per_second),
                format!("{:.2}", outcome.per_second / empty.per_second),
                format!("{:.1}", outcome.p50_ms),
                format!("{:.1}", outcome.p99_ms),
                import,
            ]);
        }
    }
    section.table(&["Database", "Register", "Requests/s", "× empty", "p50 ms", "p99 ms", "Import"], &rows);
    Ok(section)
}

/// Imports `n` parties (names, some emails and organisations) as the CLI does; returns the
/// seconds it took.
async fn fill(db: &RunDb, n: usize) -> anyhow::Result<f64> {
    let mut csv = String::from("name,email,organization,role,note\n");
    let roles = ["CLIENT", "FORMER_CLIENT", "ADVERSE_PARTY", "RELATED_PARTY"];
    for i in 0..n {
        let name = format!("{} Ster{}", FIRST_NAMES[i % FIRST_NAMES.len()], fixtures::name_of(i as u64).to_lowercase());
        let email = if i % 2 == 0 { format!("party{i}@firm{}.example", i % 1000) } else { String::new() };
        let organization =
            if i % 3 == 0 { format!("Holding {} Ltd", fixtures::name_of((i % 5000) as u64)) } else { String::new() };
        writeln!(csv, "{name},{email},{organization},{},", roles[i % roles.len()])?;
    }
    let state = api::app::startup::connect(&db.config()).await?;
    let started = std::time::Instant::now();
    let imported = api::leads::conflicts::register::import_csv(&state.db, &state.announcer, csv.as_bytes())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .map_err(|bad| anyhow::anyhow!("bad rows: {:?}", &bad[..bad.len().min(3)]))?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(imported == n, "imported {imported} of {n} parties");
    state.close().await?;
    println!("conflict register: {n} parties imported in {seconds:.1} s");
    Ok(seconds)
}
