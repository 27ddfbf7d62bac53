//! Memory under a mixed load: `intake serve` (mail worker included, answers kept as by
//! default) takes submissions and list reads at once for two minutes; its peak RSS must stay
//! under 100 MiB. The reads vary page sizes, orders and search terms so that thousands of
//! distinct answers compete for the answer cache (`INTAKE_READ_CACHE_MAX_BYTES`).

use std::{sync::Arc, time::Duration};

use serde_json::json;

use crate::{
    fixtures::{Backend, RunDb},
    load,
    report::Section,
    servers::{Kind, Server},
    submit::Load,
};

const SUBMITTERS: usize = 16;
const READERS: usize = 16;
const LIST: &str = "query($n: Int, $s: String, $o: LeadOrder) { leads(first: $n, orderBy: $o, filter: { search: $s }) \
                    { totalCount edges { cursor node { id firstName lastName email status createdAt \
                    resume { fileName sizeBytes } } } pageInfo { hasNextPage endCursor } } }";

pub async fn run(backends: &[Backend], seconds: u64) -> anyhow::Result<Section> {
    let mut section = Section::new(format!(
        "Memory: {seconds} s of mixed load, {SUBMITTERS} submitting and {READERS} reading (item 4)"
    ));
    section.line(format!(
        "Plain `intake serve` (the mail worker writes every mail while the load runs; answers kept, 32 MiB \
         budget by default) on a fresh database. The submitters send 100 KB PDFs from new addresses; the readers \
         ask `{LIST}` with a page size of 1 to 100, three orders and a search term out of 5,000 or none, so \
         that thousands of distinct answers compete for the answer cache. The target: peak RSS under 100 MiB.\n"
    ));
    let mut rows = Vec::new();
    for backend in backends {
        let db = RunDb::create(backend).await?;
        let server = Server::start(Kind::IntakeWithWorker, &db.env(), db.path()).await?;
        let token = crate::reads::sign_in(&server).await?;
        let read: load::MakeRequest = Arc::new(move |n| {
            let order = ["CREATED_AT", "UPDATED_AT", "LAST_NAME"][(n % 3) as usize];
            let search = (n % 4 != 0).then(|| format!("{}", n % 5000));
            let variables = json!({ "n": 1 + n % 100, "s": search, "o": { "field": order, "direction": "DESC" } });
            load::graphql(&json!({ "query": LIST, "variables": variables }), Some(&token))
        });
        let duration = Duration::from_secs(seconds);
        let (submits, reads) = tokio::join!(
            load::run(server.addr, SUBMITTERS, duration, Load::unique().make),
            load::run(server.addr, READERS, duration, read)
        );
        let (submits, reads) = (submits?, reads?);
        submits.ensure_clean("submissions")?;
        reads.ensure_clean("reads")?;
        let peak = server.peak_rss_mib()?;
        server.stop().await?;
        db.drop_database().await?;
        println!(
            "memory {}: {:.0} submits/s, {:.0} reads/s, peak RSS {peak:.0} MiB",
            backend.label(),
            submits.per_second(),
            reads.per_second()
        );
        rows.push(vec![
            backend.label().to_owned(),
            format!("{:.0}", submits.per_second()),
            format!("{:.0}", reads.per_second()),
            format!("**{peak:.0}**"),
        ]);
    }
    section.table(&["Database", "Submissions/s", "Reads/s", "Peak RSS MiB"], &rows);
    Ok(section)
}
