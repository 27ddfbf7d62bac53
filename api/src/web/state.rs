//! Everything a request needs, built once at start-up (by `app::startup`) and shared.

use std::sync::{Arc, atomic::AtomicU64};

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use super::settings::WebSettings;
use crate::{
    accounts::service::Accounts,
    infra::{announce::Announcer, freshness::Freshness, limits::Limits, mail::Mailer, storage::Storage},
    leads::{
        file_links::FileLinks,
        outbox::{JobSettings, Worker},
        privacy::{
            deletions::Deleter,
            retention::{self, RetentionSettings},
        },
        service::Leads,
        webhooks::{WebhookSettings, dispatcher::Dispatcher},
        writer::LeadWriter,
    },
};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<WebSettings>,
    /// The worker's settings, so that a worker (and the tests' deterministic drains) can be
    /// made from the state.
    pub jobs: JobSettings,
    pub retention: RetentionSettings,
    pub webhooks: WebhookSettings,
    pub storage: Storage,
    pub mailer: Mailer,
    pub links: Arc<FileLinks>,
    pub limits: Arc<Limits>,
    pub lead_writer: LeadWriter,
    /// Announces every change: wakes workers, tells other processes and subscribers, marks
    /// kept answers out of date.
    pub announcer: Announcer,
    /// SQL statements this process has run (also in `/metrics`): how tests bound the
    /// statements a query takes.
    pub statements: Arc<AtomicU64>,
    /// Counts the changes this process made or heard of; see `freshness.rs`.
    pub freshness: Arc<Freshness>,
    pub accounts: Accounts,
    pub leads: Leads,
}

impl AppState {
    /// Closes every database connection the state holds: the pool and, on SQLite, the lead
    /// writer's own. Until both are closed, SQLite leaves the write-ahead log beside the
    /// database file, so a copy of the file alone would miss the last writes.
    pub async fn close(&self) -> Result<(), sea_orm::DbErr> {
        self.db.close_by_ref().await?;
        self.lead_writer.close().await
    }

    pub fn worker(&self) -> Worker {
        Worker::new(
            self.db.clone(),
            self.announcer.clone(),
            self.mailer.clone(),
            self.deleter(),
            self.jobs.clone(),
            self.announcer.mail_wake_up(),
        )
    }

    /// Runs what erasures left to delete outside the database.
    pub fn deleter(&self) -> Deleter {
        Deleter { db: self.db.clone(), storage: self.storage.clone(), copies: self.mailer.copies() }
    }

    /// Delivers webhook events, each endpoint on its own.
    pub fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(self.db.clone(), self.links.clone(), self.webhooks.clone())
    }

    /// The retention sweep, until `shutdown` (at once, when no retention period is set).
    pub fn retention(&self, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
        retention::run(self.leads.clone(), self.retention.clone(), shutdown)
    }
}
