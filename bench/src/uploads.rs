//! Item 5: 64 clients uploading 5 MB résumés at once. Uploads stream to disk, so the server's
//! memory must not grow with file size × concurrency (that would be 320 MB here).

use std::{sync::Arc, time::Duration};

use crate::{
    fixtures::{self, Backend, RunDb},
    load,
    report::Section,
    servers::{Kind, Server},
};

const CLIENTS: usize = 64;
const FILE_BYTES: usize = 5 * 1024 * 1024;

pub async fn run(seconds: u64) -> anyhow::Result<Section> {
    let mut section = Section::new(format!("{CLIENTS} concurrent 5 MB uploads, {seconds} s (item 5)"));
    let db = RunDb::create(&Backend::Sqlite).await?;
    let server = Server::start(Kind::IntakeApi, &db.env(), db.path()).await?;
    let idle = server.rss_mib()?;
    let body = fixtures::submit_body(0, &fixtures::pdf(FILE_BYTES));
    let make: load::MakeRequest = Arc::new(move |_| fixtures::submit_request(body.clone()));
    let stats = load::run(server.addr, CLIENTS, Duration::from_secs(seconds), make).await?;
    stats.ensure_clean("5 MB uploads")?;
    let peak = server.peak_rss_mib()?;
    server.stop().await?;
    db.drop_database().await?;
    let mib_per_second = stats.per_second() * FILE_BYTES as f64 / 1024.0 / 1024.0;
    println!("uploads: {} × 5 MB, {:.0} MiB/s, RSS idle {idle:.0} MiB, peak {peak:.0} MiB", stats.ok, mib_per_second);
    section.line(
        "`intake serve --no-worker` on SQLite and local disk; each of the 64 clients sends one 5 MB PDF after \
         another. The whole body of every upload is in flight at once on the wire, so buffering it in memory would \
         need 64 × 5 MB = 320 MB.\n",
    );
    section.table(
        &["Uploads", "Upload rate", "p99 s", "RSS when idle", "Peak RSS"],
        &[vec![
            format!("{}", stats.ok),
            format!("{mib_per_second:.0} MiB/s"),
            format!("{:.2}", stats.percentile_ms(0.99) / 1000.0),
            format!("{idle:.0} MiB"),
            format!("**{peak:.0} MiB**"),
        ]],
    );
    Ok(section)
}
