//! Writes submitted leads with their mail jobs, many to a transaction when they arrive
//! together (group commit). A transaction costs several round trips to the database and, on
//! SQLite, holds the one write lock throughout; under a burst of submissions, one transaction
//! for the whole queue instead of one per lead is what keeps the form fast (see BENCHMARKS.md).
//! Alone, a lead is written at once in a transaction of its own.

use entity::lead;
use std::sync::Arc;

use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, TransactionTrait};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{
    clock,
    jobs::queue::{self, NewEmailJob},
};

/// Leads per transaction at most; keeps statements well under the databases' parameter limits.
const MAX_BATCH: usize = 64;
/// Job rows per INSERT statement.
const JOBS_PER_STATEMENT: usize = 1000;

#[derive(Clone)]
pub struct LeadWriter {
    queue: mpsc::Sender<Pending>,
}

struct Pending {
    lead: lead::Model,
    jobs: Vec<NewEmailJob>,
    done: oneshot::Sender<Result<(), DbErr>>,
}

impl LeadWriter {
    /// Starts the writing tasks; they end when the last `LeadWriter` is dropped. SQLite takes
    /// one writer at a time, so one task writes; PostgreSQL takes `writers` transactions at once.
    pub fn start(db: DatabaseConnection, writers: usize) -> Self {
        let (queue, incoming) = mpsc::channel(4 * MAX_BATCH);
        let writers = if db.get_database_backend() == DatabaseBackend::Sqlite { 1 } else { writers.max(1) };
        let incoming = Arc::new(Mutex::new(incoming));
        for _ in 0..writers {
            tokio::spawn(run(db.clone(), incoming.clone()));
        }
        Self { queue }
    }

    /// Writes the lead and its jobs, all or nothing, and returns once they are committed. Once
    /// called, the write happens even if the caller stops waiting.
    pub async fn write(&self, lead: lead::Model, jobs: Vec<NewEmailJob>) -> Result<(), DbErr> {
        let (done, committed) = oneshot::channel();
        let stopped = || DbErr::Custom("the lead writer has stopped".into());
        self.queue.send(Pending { lead, jobs, done }).await.map_err(|_| stopped())?;
        committed.await.map_err(|_| stopped())?
    }
}

async fn run(db: DatabaseConnection, incoming: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Whoever holds the receiver takes everything waiting, then lets the next writer take more
    // while it writes.
    while incoming.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match write(&db, &batch).await {
            Ok(()) => batch.drain(..).for_each(|p| drop(p.done.send(Ok(())))),
            // One bad lead (say, a duplicate idempotency key) must not sink the others: write
            // them one by one, so that each gets its own answer.
            Err(_) if batch.len() > 1 => {
                for pending in batch.drain(..) {
                    let outcome = write(&db, std::slice::from_ref(&pending)).await;
                    let _ = pending.done.send(outcome);
                }
            }
            Err(e) => {
                if let Some(pending) = batch.pop() {
                    let _ = pending.done.send(Err(e));
                }
            }
        }
    }
}

async fn write(db: &DatabaseConnection, batch: &[Pending]) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    lead::Entity::insert_many(batch.iter().map(|p| lead::ActiveModel::from(p.lead.clone())))
        .exec_without_returning(&txn)
        .await?;
    let mut jobs = batch.iter().flat_map(|p| p.jobs.iter().cloned());
    let now = clock::now();
    loop {
        let statement: Vec<NewEmailJob> = jobs.by_ref().take(JOBS_PER_STATEMENT).collect();
        if statement.is_empty() {
            break;
        }
        queue::enqueue(&txn, statement, now).await?;
    }
    txn.commit().await
}
