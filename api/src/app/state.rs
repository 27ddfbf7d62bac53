//! Everything a request or a job needs, built once at start-up and shared.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use entity::user;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    accounts::tokens::TokenKeys,
    app::config::Config,
    infra::freshness::{Freshness, Recent},
    infra::jobs::Worker,
    infra::limits::Limits,
    infra::live::Live,
    infra::mail::Mailer,
    infra::storage::Storage,
    leads::file_links::FileLinks,
    leads::writer::{LeadWriter, WriterSettings},
};

/// Accounts remembered at once; more active accounts than this are simply looked up again.
const SIGNED_IN_KEPT: usize = 1024;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub storage: Storage,
    pub mailer: Mailer,
    pub tokens: Arc<TokenKeys>,
    pub links: Arc<FileLinks>,
    /// Wakes this process's mail worker when a job is enqueued.
    pub jobs_enqueued: Arc<Notify>,
    pub limits: Arc<Limits>,
    pub lead_writer: LeadWriter,
    /// Lead changes, for subscriptions.
    pub live: Live,
    /// SQL statements this process has run (also in `/metrics`): how tests bound the
    /// statements a query takes.
    pub statements: Arc<AtomicU64>,
    /// Counts the changes this process made or heard of; see `freshness.rs`.
    pub freshness: Arc<Freshness>,
    /// Accounts of recent requests' tokens (by account and sign-in), so that a busy client is not looked up each time.
    pub signed_in: Arc<Recent<(Uuid, Uuid), user::Model>>,
}

impl AppState {
    pub fn new(config: Config, mut db: DatabaseConnection) -> anyhow::Result<Self> {
        let statements = Arc::new(AtomicU64::new(0));
        let (counter, exported) = (statements.clone(), crate::infra::metrics::db_statements());
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            exported.increment(1);
        });
        let storage = Storage::new(&config.storage)?;
        let mailer = Mailer::new(&config.mail, &config.firm_name, config.jobs.concurrency as u32)?;
        let tokens = Arc::new(TokenKeys::new(&config.jwt_secret, config.token_ttl));
        let limits = Arc::new(Limits::new(config.limits, &db));
        let links = Arc::new(FileLinks::new(&config.jwt_secret, &config.public_url, config.download_link_ttl));
        // Half the pool writes leads at most, so that reads always find a connection.
        let freshness = Arc::new(Freshness::default());
        let live = Live::new(db.clone(), freshness.clone());
        let signed_in = Arc::new(Recent::new(config.read_cache_max_age, SIGNED_IN_KEPT));
        let writer = WriterSettings {
            db: db.clone(),
            live: live.clone(),
            round_robin: config.round_robin,
            ack_per_recipient: config.ack_per_recipient,
        };
        let lead_writer = LeadWriter::start(writer, (config.database.max_connections as usize / 2).max(1));
        Ok(Self {
            db,
            config: Arc::new(config),
            storage,
            mailer,
            tokens,
            links,
            jobs_enqueued: Arc::new(Notify::new()),
            limits,
            lead_writer,
            live,
            statements,
            freshness,
            signed_in,
        })
    }

    pub fn worker(&self) -> Worker {
        Worker::new(
            self.db.clone(),
            self.live.clone(),
            self.mailer.clone(),
            self.config.jobs.clone(),
            self.jobs_enqueued.clone(),
        )
    }
}
