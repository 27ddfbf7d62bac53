//! Items 3 and 4: the attorney's reads on a database of 100,000 leads: a page of the lead
//! list, and one lead with its résumé download link.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use entity::lead::{self, LeadStatus};
use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;

use crate::{
    fixtures::{self, Backend, RunDb},
    load,
    report::Section,
    servers::{Kind, Server},
};

pub const LEADS: usize = 100_000;
const CLIENTS: usize = 32;

const LIST: &str = "query { leads(first: 20, status: PENDING) { edges { cursor node { id firstName lastName email \
                    status createdAt resume { fileName sizeBytes } } } pageInfo { hasNextPage endCursor } } }";
const ONE: &str = "query($id: ID!) { lead(id: $id) { id firstName lastName email status createdAt updatedAt \
                   resume { fileName contentType sizeBytes downloadUrl } } }";

pub async fn run(backends: &[Backend], seconds: u64) -> anyhow::Result<Section> {
    let mut section = Section::new(format!("Reads with {LEADS} leads, {CLIENTS} clients, {seconds} s (items 3 and 4)"));
    section.line(format!(
        "`intake serve --no-worker` on a database seeded with {LEADS} leads (four in five PENDING), signed in as an \
         admin, after a 3 s warm-up. The list is `{LIST}`; the single lead (one of 1,000 ids in turn) is `{ONE}`. \
         Each runs twice: as configured by default, where a repeated query is answered from memory until something \
         changes (`http/answers.rs`), and with `INTAKE_READ_CACHE_MS=0`, where every answer is computed: the cost \
         of the stack itself.\n"
    ));
    let (mut rows, mut peaks) = (Vec::new(), Vec::new());
    for backend in backends {
        let db = RunDb::create(backend).await?;
        let ids = Arc::new(seed(&db).await?);
        for (answers, cache) in [("kept", None), ("computed", Some("0"))] {
            let mut env = db.env();
            env.extend(cache.map(|ms| ("INTAKE_READ_CACHE_MS".to_owned(), ms.to_owned())));
            let server = Server::start(Kind::IntakeApi, &env, db.path()).await?;
            measure(&server, backend, answers, ids.clone(), seconds, &mut rows).await?;
            peaks.push(format!("{} ({answers}) {:.0} MiB", backend.label(), server.peak_rss_mib()?));
            server.stop().await?;
        }
        db.drop_database().await?;
    }
    section.table(&["Database", "Answers", "Query", "Requests/s", "p50 ms", "p99 ms"], &rows);
    section.line(format!("\nPeak RSS of the server: {}.", peaks.join(", ")));
    Ok(section)
}

async fn measure(
    server: &Server,
    backend: &Backend,
    answers: &str,
    ids: Arc<Vec<Uuid>>,
    seconds: u64,
    rows: &mut Vec<Vec<String>>,
) -> anyhow::Result<()> {
    let token = sign_in(server).await?;

    let token_list = token.clone();
    let list: load::MakeRequest = Arc::new(move |_| load::graphql(&json!({ "query": LIST }), Some(&token_list)));
    let one: load::MakeRequest = Arc::new(move |n| {
        let id = ids[n as usize % ids.len()];
        load::graphql(&json!({ "query": ONE, "variables": { "id": id } }), Some(&token))
    });
    for (what, make) in [("leads(first: 20, status: PENDING)", list), ("lead(id) with downloadUrl", one)] {
        load::run(server.addr, CLIENTS, Duration::from_secs(3), make.clone()).await?.ensure_clean(what)?;
        let stats = load::run(server.addr, CLIENTS, Duration::from_secs(seconds), make).await?;
        stats.ensure_clean(what)?;
        println!(
            "{} ({answers}) {what}: {:.0}/s p50 {:.2} ms p99 {:.2} ms",
            backend.label(),
            stats.per_second(),
            stats.percentile_ms(0.5),
            stats.percentile_ms(0.99)
        );
        rows.push(vec![
            backend.label().to_owned(),
            answers.to_owned(),
            format!("`{what}`"),
            format!("{:.0}", stats.per_second()),
            format!("{:.2}", stats.percentile_ms(0.5)),
            format!("{:.2}", stats.percentile_ms(0.99)),
        ]);
    }
    Ok(())
}

/// Inserts the leads straight into the database, a thousand per statement; returns the ids of
/// the first thousand, for `lead(id)`.
async fn seed(db: &RunDb) -> anyhow::Result<Vec<Uuid>> {
    let state = api::app::startup::connect(&db.config()).await?;
    let start = Utc::now() - chrono::Duration::days(365);
    let mut ids = Vec::with_capacity(1000);
    // 500 rows of a lead's ~45 columns stay under SQLite's 32,766 bound variables per statement.
    for chunk in (0..LEADS).collect::<Vec<_>>().chunks(500) {
        let rows = chunk.iter().map(|&i| {
            let at = start + chrono::Duration::seconds(i as i64 * 300);
            let id = Uuid::now_v7();
            if ids.len() < 1000 {
                ids.push(id);
            }
            lead::ActiveModel::from(lead::Model {
                id,
                first_name: format!("First{i}"),
                last_name: format!("Last{i}"),
                email: format!("prospect{i}@example.com"),
                status: if i % 5 == 0 { LeadStatus::ReachedOut } else { LeadStatus::Pending },
                resume_key: format!("resumes/{}.pdf", Uuid::new_v4()),
                resume_file_name: "cv.pdf".into(),
                resume_content_type: "application/pdf".into(),
                resume_size_bytes: 100 * 1024,
                created_at: at,
                updated_at: at,
                email_key: format!("prospect{i}@example.com"),
                name_key: format!("first{i} last{i}"),
                ..lead::Model::default()
            })
        });
        lead::Entity::insert_many(rows).exec_without_returning(&state.db).await?;
    }
    state.close().await?;
    Ok(ids)
}

/// The admin from the environment signs in; reads need a staff role.
pub async fn sign_in(server: &Server) -> anyhow::Result<String> {
    let body = json!({
        "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        "variables": { "e": fixtures::ADMIN_EMAIL, "p": fixtures::ADMIN_PASSWORD }
    });
    let answer = load::send(server.addr, load::graphql(&body, None)).await?;
    answer["data"]["login"]["accessToken"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token in {answer}"))
}
