//! Everything a request or a job needs, built once at start-up and shared.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use crate::{
    auth::TokenKeys, config::Config, file_links::FileLinks, jobs::Worker, lead_writer::LeadWriter, limits::Limits,
    mail::Mailer, storage::Storage,
};

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
}

impl AppState {
    pub fn new(config: Config, db: DatabaseConnection) -> anyhow::Result<Self> {
        let storage = Storage::new(&config.storage)?;
        let mailer = Mailer::new(&config.mail, &config.firm_name, config.jobs.concurrency as u32)?;
        let tokens = Arc::new(TokenKeys::new(&config.jwt_secret, config.token_ttl));
        let config_limits = config.limits;
        let links = Arc::new(FileLinks::new(&config.jwt_secret, &config.public_url, config.download_link_ttl));
        // Half the pool writes leads at most, so that reads always find a connection.
        let lead_writer = LeadWriter::start(db.clone(), (config.db_max_connections as usize / 2).max(1));
        Ok(Self {
            db,
            config: Arc::new(config),
            storage,
            mailer,
            tokens,
            links,
            jobs_enqueued: Arc::new(Notify::new()),
            limits: Arc::new(Limits::new(config_limits)),
            lead_writer,
        })
    }

    pub fn worker(&self) -> Worker {
        let listen_url = self.config.database_url.starts_with("postgres").then(|| self.config.database_url.clone());
        Worker::new(
            self.db.clone(),
            self.mailer.clone(),
            self.config.jobs.clone(),
            self.jobs_enqueued.clone(),
            listen_url,
        )
    }
}
