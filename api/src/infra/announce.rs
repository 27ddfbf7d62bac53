//! The one service that announces changes. The domain calls it in the operation that changed
//! something, and it does everything a change implies: wakes the mail worker, tells other
//! processes (PostgreSQL NOTIFY; each LISTENs and passes on what it hears), feeds this
//! process's subscriptions and open sockets, and marks remembered answers out of date
//! (`Freshness`). On SQLite, whose one process is the whole system, it stays in process.

use std::{str::FromStr, sync::Arc};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{infra::freshness::Freshness, infra::listen};

pub const CHANNEL: &str = "intake_leads";
/// Events a slow subscriber may fall behind by before it misses some.
const BACKLOG: usize = 1024;
/// Announces a change to accounts (no lead subscriber sees it): remembered sign-ins and
/// answers in other processes are out of date.
const USERS_CHANGED: &str = "users";
/// Announces a change to the conflict register: answers in other processes are out of date.
const REGISTER_CHANGED: &str = "register";
/// Separates a NOTIFY payload's origin from what it announces.
const ORIGIN_END: char = ';';

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadChange {
    Submitted(Uuid),
    Updated(Uuid),
}

impl LeadChange {
    pub fn lead_id(self) -> Uuid {
        match self {
            Self::Submitted(id) | Self::Updated(id) => id,
        }
    }

    fn encode(self) -> String {
        match self {
            Self::Submitted(id) => format!("submitted:{id}"),
            Self::Updated(id) => format!("updated:{id}"),
        }
    }
}

impl FromStr for LeadChange {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (kind, id) = s.split_once(':').ok_or(())?;
        let id = id.parse().map_err(drop)?;
        match kind {
            "submitted" => Ok(Self::Submitted(id)),
            "updated" => Ok(Self::Updated(id)),
            _ => Err(()),
        }
    }
}

#[derive(Clone)]
pub struct Announcer {
    db: DatabaseConnection,
    local: broadcast::Sender<LeadChange>,
    freshness: Arc<Freshness>,
    /// Counts changes to accounts and sign-ins made or heard of, so that open sockets check
    /// their account again (and only then).
    accounts: Arc<watch::Sender<u64>>,
    /// Wakes this process's mail worker.
    mail: Arc<Notify>,
    /// Marks this process's NOTIFYs: it acts on its own changes at once, and ignores their echo
    /// (which, arriving later, would only make it throw away answers read after them).
    origin: Uuid,
}

impl Announcer {
    pub fn new(db: DatabaseConnection, freshness: Arc<Freshness>) -> Self {
        Self {
            db,
            local: broadcast::channel(BACKLOG).0,
            freshness,
            accounts: Arc::new(watch::Sender::new(0)),
            mail: Arc::new(Notify::new()),
            origin: Uuid::new_v4(),
        }
    }

    /// Changes when an account or sign-in may have changed: deactivated, role changed,
    /// password set, logged out (here or, on PostgreSQL, in any process).
    pub fn accounts(&self) -> watch::Receiver<u64> {
        self.accounts.subscribe()
    }

    /// How many times accounts or sign-ins have changed, as `accounts` counts them.
    pub fn accounts_version(&self) -> u64 {
        *self.accounts.borrow()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LeadChange> {
        self.local.subscribe()
    }

    /// Leads changed: tells every subscriber, in every process. Call it after the change has
    /// committed. A failure is logged, not returned: the change itself is safely stored.
    pub async fn lead_changed(&self, changes: &[LeadChange]) {
        if changes.is_empty() {
            return;
        }
        self.freshness.changed();
        for change in changes {
            let _ = self.local.send(*change);
        }
        if self.db.get_database_backend() != DatabaseBackend::Postgres {
            return;
        }
        // One NOTIFY for many: a payload may hold up to 8000 bytes, 150 changes and the origin.
        for chunk in changes.chunks(150) {
            self.notify(chunk.iter().map(|c| c.encode()).collect::<Vec<_>>().join(",")).await;
        }
    }

    /// Accounts or sign-ins changed (created, edited, deactivated, a password set, a logout):
    /// tells every process; open sockets check their account again.
    pub async fn accounts_changed(&self) {
        self.freshness.changed();
        self.accounts.send_modify(|n| *n += 1);
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            self.notify(USERS_CHANGED.to_owned()).await;
        }
    }

    /// Mail was queued (committed): this process's worker sends it now. (Workers in other
    /// processes hear the NOTIFY the enqueueing transaction sent; see `outbox::queue`.)
    pub fn mail_enqueued(&self) {
        self.freshness.changed();
        self.mail.notify_one();
    }

    /// Something a kept answer may show changed, with nothing more to announce.
    pub fn data_changed(&self) {
        self.freshness.changed();
    }

    /// The conflict register changed (from the API, or an import from the command line):
    /// answers kept here and, on PostgreSQL, in every other process are out of date.
    pub async fn register_changed(&self) {
        self.freshness.changed();
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            self.notify(REGISTER_CHANGED.to_owned()).await;
        }
    }

    /// What wakes this process's mail worker.
    pub fn mail_wake_up(&self) -> Arc<Notify> {
        self.mail.clone()
    }

    async fn notify(&self, payload: String) {
        let notify = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), format!("{}{ORIGIN_END}{payload}", self.origin).into()],
        );
        if let Err(e) = self.db.execute_raw(notify).await {
            tracing::warn!(error = %e, "could not announce a change to the other processes");
        }
    }

    /// PostgreSQL: LISTENs until `stop` and hands what it hears to this process's subscribers.
    /// (Changes made while it is disconnected are not replayed: a dashboard that reconnects
    /// reloads its list anyway.)
    pub fn spawn_listener(&self, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        if self.db.get_database_backend() != DatabaseBackend::Postgres {
            return None;
        }
        let pool = self.db.get_postgres_connection_pool().clone();
        let local = self.local.clone();
        let (connected, heard) = (self.freshness.clone(), self.freshness.clone());
        let (reconnected, accounts) = (self.accounts.clone(), self.accounts.clone());
        let origin = self.origin.to_string();
        Some(listen::spawn_listener(
            pool,
            CHANNEL,
            stop,
            // Whatever happened while the listener was not connected went unheard.
            move || {
                connected.changed();
                reconnected.send_modify(|n| *n += 1);
            },
            move |payload| {
                let payload = match payload.split_once(ORIGIN_END) {
                    Some((from, _)) if from == origin => return,
                    Some((_, payload)) => payload,
                    None => payload,
                };
                heard.changed();
                if payload == USERS_CHANGED {
                    accounts.send_modify(|n| *n += 1);
                }
                for change in payload.split(',').filter_map(|c| c.parse().ok()) {
                    let _ = local.send(change);
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_the_notify_payload() {
        let id = Uuid::now_v7();
        for change in [LeadChange::Submitted(id), LeadChange::Updated(id)] {
            assert_eq!(change.encode().parse::<LeadChange>(), Ok(change));
        }
        assert!("deleted:x".parse::<LeadChange>().is_err());
    }
}
