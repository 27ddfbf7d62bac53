//! Writes submitted leads with their mail jobs, many to a transaction when they arrive
//! together (group commit). A transaction costs several round trips to the database and, on
//! SQLite, holds the one write lock throughout; under a burst of submissions, one transaction
//! for the whole queue instead of one per lead is what keeps the form fast (see BENCHMARKS.md).
//! Alone, a lead is written at once in a transaction of its own. The same transaction records
//! the lead's first history events and, with round-robin assignment, takes its attorney's
//! turn.

use entity::{email_job::EmailKind, lead};
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, Statement,
};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{
    infra::announce::{Announcer, LeadChange},
    infra::clock,
    leads::assignment,
    leads::conflicts::decide,
    leads::history::{self, Actor, NewEvent},
    leads::outbox::queue::{self, NewEmailJob},
};

/// Leads per transaction at most; keeps statements well under the databases' parameter limits.
const MAX_BATCH: usize = 64;
/// Job rows per INSERT statement.
const JOBS_PER_STATEMENT: usize = 1000;

#[derive(Clone)]
pub struct LeadWriter {
    queue: mpsc::Sender<Pending>,
    /// The connection the writing tasks write through, to be closed with the rest.
    db: DatabaseConnection,
}

/// How the writing tasks work: shared by all of them.
#[derive(Clone)]
pub struct WriterSettings {
    pub db: DatabaseConnection,
    pub announcer: Announcer,
    /// Assign each new lead to the next active attorney, who alone gets its notification.
    pub round_robin: bool,
    /// Acknowledgements one address may be sent in 24 hours (0: no cap).
    pub ack_per_recipient: u32,
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
        let db = settings.db.clone();
        for _ in 0..writers {
            tokio::spawn(run(settings.clone(), incoming.clone()));
        }
        Self { queue, db }
    }

    /// Closes the connection the writer writes through (on SQLite its own, whose closing
    /// checkpoints the write-ahead log into the database file if it is the last one open).
    pub async fn close(&self) -> Result<(), DbErr> {
        self.db.close_by_ref().await
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
                settings.announcer.lead_changed(&changes).await;
                batch.drain(..).for_each(|p| drop(p.done.send(Ok(()))));
            }
            // One bad lead (say, a duplicate idempotency key) must not sink the others: write
            // them one by one, so that each gets its own answer.
            Err(_) if batch.len() > 1 => {
                for pending in batch.drain(..) {
                    let outcome = write(&settings, std::slice::from_ref(&pending)).await;
                    if outcome.is_ok() {
                        settings.announcer.lead_changed(&[LeadChange::Submitted(pending.lead.id)]).await;
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
    let txn = crate::infra::db::begin_write(&settings.db).await?;
    let mut leads: Vec<lead::Model> = batch.iter().map(|p| p.lead.clone()).collect();
    let mut jobs: Vec<NewEmailJob> = batch.iter().flat_map(|p| p.jobs.iter().cloned()).collect();
    let mut events: Vec<NewEvent> = leads
        .iter()
        .flat_map(|l| {
            let hits = l.conflict_hits.as_ref().and_then(|h| h.as_array()).map_or(0, Vec::len);
            [
                NewEvent::submitted(l.id, l.duplicate_of),
                decide::checked_event(l.id, Actor::System, l.conflict_state, hits, 0),
            ]
        })
        .collect();
    if settings.round_robin {
        let turns = assignment::next_attorneys(&txn, leads.len()).await?;
        let mut assignees = HashMap::new();
        for (lead, attorney) in leads.iter_mut().zip(turns) {
            lead.assigned_to = Some(attorney.id);
            events.push(NewEvent::assigned(lead.id, Actor::System, None, Some(attorney.id)));
            assignees.insert(lead.id, attorney.email);
        }
        // The assignee alone hears of it: the lead's first notification and first reminder go
        // to them, the others (one per attorney) are dropped; and they are told it is theirs.
        let mut kept = HashSet::new();
        let mut told = Vec::new();
        jobs.retain_mut(|job| {
            let routed = matches!(job.kind, EmailKind::LeadNotification | EmailKind::ResponseReminder);
            match job.lead_id.filter(|_| routed).and_then(|lead| assignees.get(&lead).map(|to| (lead, to))) {
                Some((lead, email)) => {
                    job.recipient.clone_from(email);
                    let first = kept.insert((lead, job.kind));
                    if first && job.kind == EmailKind::LeadNotification {
                        told.push(NewEmailJob { kind: EmailKind::LeadAssigned, run_at: None, ..job.clone() });
                    }
                    first
                }
                None => true,
            }
        });
        jobs.extend(told);
    }
    let now = clock::now();
    if settings.ack_per_recipient > 0 {
        events.extend(cap_acknowledgements(&txn, &mut jobs, settings.ack_per_recipient, now).await?);
    }
    lead::Entity::insert_many(leads.into_iter().map(lead::ActiveModel::from)).exec_without_returning(&txn).await?;
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

/// Drops the acknowledgements that would take an address past `cap` in 24 hours, and returns
/// the history events saying so. Without the cap, anyone could have the firm's mail server
/// send a victim one mail per submission. The count reads at most `cap` index entries per
/// address (no more are ever queued); on PostgreSQL, writers of the same address take turns,
/// so concurrent transactions cannot both see room for the last one.
async fn cap_acknowledgements(
    txn: &DatabaseTransaction,
    jobs: &mut Vec<NewEmailJob>,
    cap: u32,
    now: DateTime<Utc>,
) -> Result<Vec<NewEvent>, DbErr> {
    let is_ack = |job: &NewEmailJob| job.kind == EmailKind::LeadAcknowledgement;
    let addresses: BTreeSet<String> = jobs.iter().filter(|j| is_ack(j)).map(|j| j.recipient.to_lowercase()).collect();
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let backend = txn.get_database_backend();
    let values: Vec<sea_orm::Value> = addresses.iter().map(|a| a.as_str().into()).collect();
    let postgres = backend == DatabaseBackend::Postgres;
    // `$1…$n` on PostgreSQL, `?` on SQLite; the cut-off time is bound last.
    let placeholder = |i: usize| if postgres { format!("${i}") } else { "?".to_owned() };
    let addressed: Vec<String> = (1..=values.len()).map(placeholder).collect();
    if postgres {
        let rows = addressed.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(", ");
        let lock = format!(
            "SELECT pg_advisory_xact_lock(k) FROM \
             (SELECT hashtext('intake-ack:' || a) AS k FROM (VALUES {rows}) AS t(a) ORDER BY k) AS s"
        );
        txn.query_all_raw(Statement::from_sql_and_values(backend, lock, values.clone())).await?;
    }
    let count = format!(
        "SELECT LOWER(recipient) AS address, COUNT(*) AS sent FROM email_jobs \
         WHERE kind = 'lead_acknowledgement' AND LOWER(recipient) IN ({}) AND created_at >= {} \
         GROUP BY LOWER(recipient)",
        addressed.join(", "),
        placeholder(values.len() + 1)
    );
    let mut bound = values;
    bound.push((now - chrono::Duration::hours(24)).into());
    let mut sent: HashMap<String, u32> = HashMap::new();
    for row in txn.query_all_raw(Statement::from_sql_and_values(backend, count, bound)).await? {
        let (address, n): (String, i64) = (row.try_get("", "address")?, row.try_get("", "sent")?);
        sent.insert(address, n as u32);
    }
    let mut events = Vec::new();
    jobs.retain(|job| {
        if !is_ack(job) {
            return true;
        }
        let so_far = sent.entry(job.recipient.to_lowercase()).or_default();
        if *so_far >= cap {
            if let Some(lead) = job.lead_id {
                events.push(NewEvent::acknowledgement_capped(lead, *so_far));
            }
            tracing::info!(
                recipient = %crate::infra::mask::mask_email(&job.recipient),
                "acknowledgement not sent: the address reached its cap for 24 hours"
            );
            return false;
        }
        *so_far += 1;
        true
    });
    Ok(events)
}
