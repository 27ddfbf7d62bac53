//! Item 6: from starting `intake serve` on an existing database to the first `/readyz` 200.

use crate::{
    fixtures::{Backend, RunDb},
    report::Section,
    servers::{Kind, Server},
};

const STARTS: usize = 20;

pub async fn run(backends: &[Backend]) -> anyhow::Result<Section> {
    let mut section = Section::new("Cold start to ready (item 6)");
    section.line(format!(
        "Plain `intake serve` (worker included) on a database that already exists: {STARTS} starts, each timed from \
         spawning the process to the first `GET /readyz` answered 200 (polled every millisecond; ready means the \
         database answered and the storage took a write). The first start on the empty database, which applies the \
         migrations and creates the admin (an argon2 hash), is shown apart.\n"
    ));
    let mut rows = Vec::new();
    for backend in backends {
        let db = RunDb::create(backend).await?;
        let first = Server::start(Kind::IntakeWithWorker, &db.env(), db.path()).await?;
        let fresh = first.started_in;
        first.stop().await?;
        let mut times = Vec::with_capacity(STARTS);
        for _ in 0..STARTS {
            let server = Server::start(Kind::IntakeWithWorker, &db.env(), db.path()).await?;
            times.push(server.started_in.as_secs_f64() * 1000.0);
            server.stop().await?;
        }
        db.drop_database().await?;
        times.sort_by(f64::total_cmp);
        let (median, max) = (times[STARTS / 2], times[STARTS - 1]);
        println!("cold start {}: median {median:.0} ms, max {max:.0} ms", backend.label());
        rows.push(vec![
            backend.label().to_owned(),
            format!("**{median:.0} ms**"),
            format!("{:.0} ms", times[0]),
            format!("{max:.0} ms"),
            format!("{:.0} ms", fresh.as_secs_f64() * 1000.0),
        ]);
    }
    section.table(&["Database", "Median", "Fastest", "Slowest", "First start (migrations)"], &rows);
    Ok(section)
}
