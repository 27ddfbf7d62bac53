//! The bare floor: the physical work of one `submitLead` with the least machinery there is.
//! An axum handler reads the multipart body (multer, through the sqlx floor's reader), writes
//! the file, and inserts a lead and its two mail rows in one transaction into two plain tables
//! of its own, with rusqlite on one
//! connection (SQLite: one writer at a time anyway) or tokio-postgres on as many connections
//! as Intake's pool. The same durability as Intake (WAL, `synchronous=NORMAL`; PostgreSQL's
//! defaults). Nothing of Intake's but the configuration is used, so the ratio to this server
//! is what all of Intake's machinery costs, sqlx and the ORM included.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use anyhow::Context;
use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use serde_json::{Value, json};
use uuid::Uuid;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS bare_leads (id TEXT PRIMARY KEY, first_name TEXT NOT NULL, \
     last_name TEXT NOT NULL, email TEXT NOT NULL, resume_key TEXT NOT NULL, size BIGINT NOT NULL, \
     created_at TEXT NOT NULL); \
     CREATE TABLE IF NOT EXISTS bare_jobs (id TEXT PRIMARY KEY, lead_id TEXT NOT NULL, kind TEXT NOT NULL, \
     recipient TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL)";
const INSERT_LEAD: &str = "INSERT INTO bare_leads VALUES ($1, $2, $3, $4, $5, $6, $7)";
const INSERT_JOBS: &str = "INSERT INTO bare_jobs VALUES ($1, $2, 'ack', $3, $4, $5), \
     ($6, $2, 'notify', 'attorney@firm.example', $4, $5)";
/// The table whose rows the benchmark counts afterwards.
pub const LEADS_TABLE: &str = "bare_leads";

enum Db {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres { clients: Vec<tokio::sync::Mutex<tokio_postgres::Client>>, next: AtomicUsize },
}

struct Bare {
    db: Db,
    dir: PathBuf,
}

struct Lead {
    id: String,
    first_name: String,
    last_name: String,
    email: String,
    key: String,
    size: i64,
    now: String,
}

pub async fn serve() -> anyhow::Result<()> {
    let config = api::app::config::Config::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    let url = &config.database.url;
    let db = if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or(rest);
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Db::Sqlite(Mutex::new(conn))
    } else {
        let mut clients = Vec::new();
        for _ in 0..config.database.max_connections {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            clients.push(tokio::sync::Mutex::new(client));
        }
        clients[0].lock().await.batch_execute(SCHEMA).await?;
        Db::Postgres { clients, next: AtomicUsize::new(0) }
    };
    let dir = config.data_dir.join("bare-resumes");
    std::fs::create_dir_all(&dir)?;
    let app = Router::new()
        .route("/graphql", post(submit))
        .route("/readyz", get(|| async { "ok" }))
        .with_state(Arc::new(Bare { db, dir }));
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    axum::serve(listener, app).with_graceful_shutdown(api::app::startup::shutdown_signal()).await?;
    Ok(())
}

async fn submit(
    State(bare): State<Arc<Bare>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, (StatusCode, String)> {
    let (input, file) = crate::floor::read_submission(&headers, body).await?;
    let internal = |e: anyhow::Error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"));

    let key = format!("{}.pdf", Uuid::new_v4());
    tokio::fs::write(bare.dir.join(&key), &file).await.context("writing the file").map_err(internal)?;
    let lead = Lead {
        id: Uuid::now_v7().to_string(),
        first_name: input.first_name,
        last_name: input.last_name,
        email: input.email,
        key,
        size: file.len() as i64,
        now: chrono::Utc::now().to_rfc3339(),
    };
    let id = lead.id.clone();
    let at = lead.now.clone();
    insert(&bare, lead).await.map_err(internal)?;
    Ok(Json(json!({ "data": { "submitLead": { "id": id, "status": "PENDING", "submittedAt": at } } })))
}

async fn insert(bare: &Arc<Bare>, lead: Lead) -> anyhow::Result<()> {
    let payload = json!({
        "lead_id": lead.id, "first_name": lead.first_name, "last_name": lead.last_name,
        "email": lead.email, "resume_file_name": "cv.pdf", "submitted_at": lead.now,
    })
    .to_string();
    let (job1, job2) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    match &bare.db {
        Db::Sqlite(_) => {
            let bare = bare.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let Db::Sqlite(conn) = &bare.db else { unreachable!("matched above") };
                let mut conn = conn.lock().expect("not poisoned");
                let txn = conn.transaction()?;
                txn.prepare_cached(INSERT_LEAD)?.execute(rusqlite::params![
                    lead.id,
                    lead.first_name,
                    lead.last_name,
                    lead.email,
                    lead.key,
                    lead.size,
                    lead.now
                ])?;
                txn.prepare_cached(INSERT_JOBS)?
                    .execute(rusqlite::params![job1, lead.id, lead.email, payload, lead.now, job2])?;
                txn.commit()?;
                Ok(())
            })
            .await?
        }
        Db::Postgres { clients, next } => {
            let mut client = clients[next.fetch_add(1, Ordering::Relaxed) % clients.len()].lock().await;
            let txn = client.transaction().await?;
            txn.execute(
                INSERT_LEAD,
                &[&lead.id, &lead.first_name, &lead.last_name, &lead.email, &lead.key, &lead.size, &lead.now],
            )
            .await?;
            txn.execute(INSERT_JOBS, &[&job1, &lead.id, &lead.email, &payload, &lead.now, &job2]).await?;
            txn.commit().await?;
            Ok(())
        }
    }
}
