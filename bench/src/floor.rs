//! The floor: the least a server can do for one `submitLead` and still do the job. A bare axum
//! handler parses the same multipart body, writes the file, and inserts the lead and its two
//! email jobs in one transaction with plain sqlx, on the same pool and database settings as
//! Intake. No GraphQL, validation, sniffing, ORM, rate limits, outbox wake-up or tracing: the
//! gap between this and Intake is what our own code costs.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    routing::{get, post},
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseBackend, DatabaseConnection};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

struct Floor {
    db: DatabaseConnection,
    dir: PathBuf,
}

#[derive(Deserialize)]
struct Operations {
    variables: Variables,
}

#[derive(Deserialize)]
struct Variables {
    input: Input,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

pub async fn serve() -> anyhow::Result<()> {
    let config = api::app::config::Config::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = api::infra::db::connect(&config.database).await?;
    api::infra::db::migrate(&db).await?;
    let dir = config.data_dir.join("floor-resumes");
    std::fs::create_dir_all(&dir)?;
    let app = Router::new()
        .route("/graphql", post(submit))
        .route("/readyz", get(|| async { "ok" }))
        .with_state(Arc::new(Floor { db, dir }));
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    axum::serve(listener, app).with_graceful_shutdown(api::app::startup::shutdown_signal()).await?;
    Ok(())
}

async fn submit(
    State(floor): State<Arc<Floor>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, (StatusCode, String)> {
    let (input, file) = read_submission(&headers, body).await?;
    let internal = |e: anyhow::Error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"));

    let key = format!("{}.pdf", Uuid::new_v4());
    tokio::fs::write(floor.dir.join(&key), &file).await.context("writing the file").map_err(internal)?;
    let lead = Lead { id: Uuid::now_v7(), input, key, size: file.len() as i64, now: Utc::now() };
    insert(&floor.db, &lead).await.map_err(internal)?;
    Ok(Json(json!({ "data": { "submitLead": { "id": lead.id, "status": "PENDING", "submittedAt": lead.now } } })))
}

/// The multipart `submitLead` request, read as the GraphQL multipart spec lays it out and
/// nothing more: its input and its file. Both floors read it this way.
pub async fn read_submission(headers: &HeaderMap, body: Body) -> Result<(Input, Bytes), (StatusCode, String)> {
    let bad = |e: String| (StatusCode::BAD_REQUEST, e);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|e| bad(e.to_string()))?;
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    let (mut operations, mut file) = (None, None);
    while let Some(field) = multipart.next_field().await.map_err(|e| bad(e.to_string()))? {
        match field.name() {
            Some("operations") => operations = Some(field.bytes().await.map_err(|e| bad(e.to_string()))?),
            Some("map") => drop(field.bytes().await.map_err(|e| bad(e.to_string()))?),
            _ => file = Some(field.bytes().await.map_err(|e| bad(e.to_string()))?),
        }
    }
    let operations: Operations = serde_json::from_slice(&operations.ok_or_else(|| bad("no operations".into()))?)
        .map_err(|e| bad(e.to_string()))?;
    Ok((operations.variables.input, file.ok_or_else(|| bad("no file".into()))?))
}

struct Lead {
    id: Uuid,
    input: Input,
    key: String,
    size: i64,
    now: DateTime<Utc>,
}

const INSERT_LEAD: &str = "INSERT INTO leads (id, first_name, last_name, email, status, resume_key, resume_file_name, \
     resume_content_type, resume_size_bytes, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, 'cv.pdf', \
     'application/pdf', $6, $7, $7)";
const INSERT_JOBS: &str = "INSERT INTO email_jobs (id, lead_id, kind, recipient, payload, state, attempts, run_at, \
     created_at, updated_at) VALUES ($1, $2, 'lead_acknowledgement', $3, $4, 'queued', 0, $5, $5, $5), \
     ($6, $2, 'lead_notification', 'attorney@firm.example', $4, 'queued', 0, $5, $5, $5)";

/// The same statements for either database; only the pool type differs.
macro_rules! insert_in_transaction {
    ($txn:expr, $lead:expr, $payload:expr) => {{
        let mut txn = $txn;
        sqlx::query(INSERT_LEAD)
            .bind($lead.id)
            .bind(&$lead.input.first_name)
            .bind(&$lead.input.last_name)
            .bind(&$lead.input.email)
            .bind(&$lead.key)
            .bind($lead.size)
            .bind($lead.now)
            .execute(&mut *txn)
            .await?;
        sqlx::query(INSERT_JOBS)
            .bind(Uuid::now_v7())
            .bind($lead.id)
            .bind(&$lead.input.email)
            .bind(sqlx::types::Json($payload))
            .bind($lead.now)
            .bind(Uuid::now_v7())
            .execute(&mut *txn)
            .await?;
        txn.commit().await?;
    }};
}

async fn insert(db: &DatabaseConnection, lead: &Lead) -> anyhow::Result<()> {
    let payload = json!({
        "lead_id": lead.id, "first_name": lead.input.first_name, "last_name": lead.input.last_name,
        "email": lead.input.email, "resume_file_name": "cv.pdf", "submitted_at": lead.now,
    });
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            insert_in_transaction!(db.get_postgres_connection_pool().begin().await?, lead, &payload)
        }
        // As Intake's writes do (`infra::db::begin_write`): a deferred transaction can meet
        // "database is locked" under load without waiting out the busy timeout.
        _ => {
            insert_in_transaction!(db.get_sqlite_connection_pool().begin_with("BEGIN IMMEDIATE").await?, lead, &payload)
        }
    }
    Ok(())
}
