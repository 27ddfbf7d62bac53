//! Writes submitted leads with their mail jobs, many to a transaction when they arrive
//! together (group commit). A transaction costs several round trips to the database and, on
//! SQLite, holds the one write lock throughout; under a burst of submissions, one transaction
//! for the whole queue instead of one per lead is what keeps the form fast (see BENCHMARKS.md).
//! Alone, a lead is written at once in a transaction of its own. The same transaction records
//! the lead's first history events and, with round-robin assignment, takes its attorney's turn.

use entity::{email_job::EmailKind, lead};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, TransactionTrait};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{
    assignment, clock,
    history::{self, Actor, NewEvent},
    jobs::queue::{self, NewEmailJob},
    live::{LeadChange, Live},
};

/// Leads per transaction at most; keeps statements well under the databases' parameter limits.
const MAX_BATCH: usize = 64;
/// Job rows per INSERT statement.
const JOBS_PER_STATEMENT: usize = 1000;

#[derive(Clone)]
pub struct LeadWriter {
    queue: mpsc::Sender<Pending>,
}

/// How the writing tasks work: shared by all of them.
#[derive(Clone)]
pub struct WriterSettings {
    pub db: DatabaseConnection,
    pub live: Live,
    /// Assign each new lead to the next active attorney, who alone gets its notification.
    pub round_robin: bool,
}

struct Pending {
    lead: lead::Model,
    jobs: Vec<NewEmailJob>,
    done: oneshot::Sender<Result<(), DbErr>>,
}

impl LeadWriter {
    /// Starts the writing tasks; they end when the last `LeadWriter` is dropped. SQLite takes
    /// one writer at a time, so one task writes; PostgreSQL takes `writers` transactions at once.
    pub fn start(settings: WriterSettings, writers: usize) -> Self {
        let (queue, incoming) = mpsc::channel(4 * MAX_BATCH);
        let sqlite = settings.db.get_database_backend() == DatabaseBackend::Sqlite;
        let writers = if sqlite { 1 } else { writers.max(1) };
        let incoming = Arc::new(Mutex::new(incoming));
        for _ in 0..writers {
            tokio::spawn(run(settings.clone(), incoming.clone()));
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

async fn run(settings: WriterSettings, incoming: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Whoever holds the receiver takes everything waiting, then lets the next writer take more
    // while it writes.
    while incoming.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match write(&settings, &batch).await {
            Ok(()) => {
                // Announced before the submitters hear back, so that no later change to one of
                // these leads can reach a subscriber ahead of its submission.
                let changes: Vec<LeadChange> = batch.iter().map(|p| LeadChange::Submitted(p.lead.id)).collect();
                settings.live.publish(&changes).await;
                batch.drain(..).for_each(|p| drop(p.done.send(Ok(()))));
            }
            // One bad lead (say, a duplicate idempotency key) must not sink the others: write
            // them one by one, so that each gets its own answer.
            Err(_) if batch.len() > 1 => {
                for pending in batch.drain(..) {
                    let outcome = write(&settings, std::slice::from_ref(&pending)).await;
                    if outcome.is_ok() {
                        settings.live.publish(&[LeadChange::Submitted(pending.lead.id)]).await;
                    }
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

async fn write(settings: &WriterSettings, batch: &[Pending]) -> Result<(), DbErr> {
    let txn = settings.db.begin().await?;
    let mut leads: Vec<lead::Model> = batch.iter().map(|p| p.lead.clone()).collect();
    let mut jobs: Vec<NewEmailJob> = batch.iter().flat_map(|p| p.jobs.iter().cloned()).collect();
    let mut events: Vec<NewEvent> = leads.iter().map(|l| NewEvent::submitted(l.id, l.duplicate_of)).collect();
    if settings.round_robin {
        let turns = assignment::next_attorneys(&txn, leads.len()).await?;
        let mut assignees = HashMap::new();
        for (lead, attorney) in leads.iter_mut().zip(turns) {
            lead.assigned_to = Some(attorney.id);
            events.push(NewEvent::assigned(lead.id, Actor::System, None, Some(attorney.id)));
            assignees.insert(lead.id, attorney.email);
        }
        // The assignee alone hears of it: the lead's first notification goes to them, the
        // others (one per attorney) are dropped.
        let mut notified = HashSet::new();
        jobs.retain_mut(|job| match job.lead_id.filter(|_| job.kind == EmailKind::LeadNotification) {
            Some(lead) => match assignees.get(&lead) {
                Some(email) => {
                    job.recipient.clone_from(email);
                    notified.insert(lead)
                }
                None => true,
            },
            None => true,
        });
    }
    lead::Entity::insert_many(leads.into_iter().map(lead::ActiveModel::from)).exec_without_returning(&txn).await?;
    let now = clock::now();
    history::record(&txn, events, now).await?;
    let mut jobs = jobs.into_iter();
    loop {
        let statement: Vec<NewEmailJob> = jobs.by_ref().take(JOBS_PER_STATEMENT).collect();
        if statement.is_empty() {
            break;
        }
        queue::enqueue(&txn, statement, now).await?;
    }
    txn.commit().await
}
