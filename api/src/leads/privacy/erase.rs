//! Erasure: the person's data taken out of everywhere Intake keeps it, in one transaction, with
//! the files outside the database left to deletion jobs written in it; what remains of the lead
//! is a tombstone (id, times, status, outcome, who erased it and why). A legal hold blocks it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::{
    deletion_job::DeletionTarget,
    email_job::{self, JobState},
    lead, lead_event, lead_note, replaced_resume,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait, LockType},
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::deletions::{self, Deleter};
use crate::{
    accounts::session::Admin,
    error::AppError,
    infra::{announce::LeadChange, clock, metrics},
    leads::{
        conflicts::check::{self, Hit},
        history::{self, Actor, ERASED, EventData, LeadErased, LegalHoldSet, NewEvent},
        service::Leads,
    },
};

/// The reason the retention sweep gives.
pub const RETENTION: &str = "retention";
const MAX_REASON_CHARS: usize = 1000;

/// What an erasure left.
pub struct Erased {
    pub lead: lead::Model,
    /// Files outside the database still to delete (the store was unreachable): the worker
    /// retries them until they are gone.
    pub pending_deletions: u64,
}

/// An admin erases the lead on request. Erasing a lead already erased changes nothing.
pub async fn erase(leads: &Leads, id: Uuid, reason: &str, admin: Admin<'_>) -> Result<Erased, AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::bad_input("reason", "is empty; say why the data is erased (e.g. the person's request)"));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::bad_input("reason", format!("must be at most {MAX_REASON_CHARS} characters")));
    }
    erase_lead(leads, id, Actor::User(admin.user().id), reason).await
}

/// Erases one lead as `actor` (a user, or the system for retention), then deletes its files.
pub(super) async fn erase_lead(leads: &Leads, id: Uuid, actor: Actor, reason: &str) -> Result<Erased, AppError> {
    let now = clock::now();
    let txn = crate::infra::db::begin_write(&leads.db).await?;
    let Some(lead) = locked(&txn, id).await? else {
        return Err(AppError::NotFound("lead"));
    };
    if lead.erased_at.is_some() {
        txn.rollback().await?;
        let pending = deletions::pending(&leads.db, Some(id)).await?;
        return Ok(Erased { lead, pending_deletions: pending });
    }
    if lead.legal_hold {
        return Err(AppError::LegalHold(lead.legal_hold_reason.clone().unwrap_or_else(|| "no reason given".into())));
    }
    let by = match actor {
        Actor::User(user) => Some(user),
        _ => None,
    };
    scrub(&txn, &lead, leads.mail_copies.kept(), now).await?;
    let tombstone = Expr::value(ERASED);
    lead::Entity::update_many()
        .col_expr(lead::Column::FirstName, tombstone.clone())
        .col_expr(lead::Column::LastName, tombstone.clone())
        .col_expr(lead::Column::Email, tombstone.clone())
        .col_expr(lead::Column::EmailKey, tombstone.clone())
        .col_expr(lead::Column::NameKey, Expr::value(crate::leads::conflicts::keys::UNMATCHABLE))
        .col_expr(lead::Column::ResumeKey, Expr::value(format!("erased/{id}")))
        .col_expr(lead::Column::ResumeFileName, tombstone.clone())
        .col_expr(lead::Column::ConflictHits, Expr::value(Option::<Value>::None))
        .col_expr(lead::Column::ConflictNote, Expr::value(lead.conflict_note.as_ref().map(|_| ERASED)))
        .col_expr(lead::Column::OutcomeReason, Expr::value(lead.outcome_reason.as_ref().map(|_| ERASED)))
        .col_expr(lead::Column::ConsentIp, Expr::value(Option::<String>::None))
        .col_expr(lead::Column::ConsentUserAgent, Expr::value(Option::<String>::None))
        .col_expr(lead::Column::ErasedAt, Expr::value(now))
        .col_expr(lead::Column::ErasedBy, Expr::value(by))
        .col_expr(lead::Column::ErasureReason, Expr::value(reason))
        .col_expr(lead::Column::UpdatedAt, Expr::value(now))
        .filter(lead::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let event = NewEvent { lead_id: id, actor, data: EventData::LeadErased(LeadErased { reason: reason.to_owned() }) };
    history::record(&txn, vec![event], now).await?;
    txn.commit().await?;

    metrics::lead_erased(if reason == RETENTION { RETENTION } else { "request" });
    tracing::info!(lead = %id, by = ?by, "lead erased");
    leads.announcer.lead_changed(&[LeadChange::Updated(id)]).await;
    let deleter = Deleter { db: leads.db.clone(), storage: leads.storage.clone(), copies: leads.mail_copies.clone() };
    if let Err(e) = deleter.run_due(now, Some(id)).await {
        tracing::warn!(lead = %id, error = %e, "erasure: deleting the files failed; the worker retries");
    }
    let pending = deletions::pending(&leads.db, Some(id)).await?;
    let lead = crate::leads::submission::find(&leads.db, id).await?.ok_or(AppError::NotFound("lead"))?;
    Ok(Erased { lead, pending_deletions: pending })
}

/// The lead, locked against concurrent changes until the transaction ends (SQLite's write
/// transaction locks the whole database already). `FOR NO KEY UPDATE`, not `FOR UPDATE`: a
/// mail being settled meanwhile inserts a history event, whose foreign key takes a key-share
/// lock on the lead; with `FOR UPDATE` the two waited for each other (a deadlock PostgreSQL
/// broke by failing one).
async fn locked(txn: &DatabaseTransaction, id: Uuid) -> Result<Option<lead::Model>, DbErr> {
    let mut find = lead::Entity::find_by_id(id);
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        find = find.lock(LockType::NoKeyUpdate);
    }
    find.one(txn).await
}

/// Everything around the lead row: its files (queued for deletion), notes, history, mails, and
/// what other leads' conflict checks copied of it.
async fn scrub(
    txn: &DatabaseTransaction,
    lead: &lead::Model,
    mail_copies: bool,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let id = lead.id;
    // First: a mail being sent right now holds its job's row until its send is recorded; this
    // waits for that, so the history read below has the record, and a send after this finds
    // its job cancelled and records nothing.
    email_job::Entity::update_many()
        .col_expr(email_job::Column::State, Expr::value(JobState::Cancelled))
        .col_expr(email_job::Column::LastError, Expr::value("dropped: the lead was erased"))
        .col_expr(email_job::Column::UpdatedAt, Expr::value(now))
        .filter(email_job::Column::LeadId.eq(id))
        .filter(email_job::Column::State.eq(JobState::Queued))
        .exec(txn)
        .await?;
    let replaced = replaced_resume::Entity::find().filter(replaced_resume::Column::LeadId.eq(id)).all(txn).await?;
    let mut targets = vec![(DeletionTarget::Object, lead.resume_key.clone())];
    targets.extend(replaced.into_iter().map(|old| (DeletionTarget::Object, old.key)));
    replaced_resume::Entity::delete_many().filter(replaced_resume::Column::LeadId.eq(id)).exec(txn).await?;

    lead_note::Entity::update_many()
        .col_expr(lead_note::Column::Body, Expr::value(ERASED))
        .filter(lead_note::Column::LeadId.eq(id))
        .exec(txn)
        .await?;

    let events = lead_event::Entity::find().filter(lead_event::Column::LeadId.eq(id)).all(txn).await?;
    let mut theirs: HashSet<String> = HashSet::from([lead.email.to_lowercase()]);
    for event in &events {
        if let Some(EventData::FieldsUpdated(updated)) = EventData::read(event) {
            for change in updated.changes.iter().filter(|c| c.field == "email") {
                theirs.extend([change.from.to_lowercase(), change.to.to_lowercase()]);
            }
        }
    }
    let is_theirs = |address: &str| theirs.contains(&address.to_lowercase());
    for event in events {
        let Some(data) = EventData::read(&event) else { continue };
        let erased = data.clone().erased(is_theirs);
        if erased != data {
            lead_event::Entity::update_many()
                .col_expr(lead_event::Column::Data, Expr::value(erased.to_value()))
                .filter(lead_event::Column::Id.eq(event.id))
                .exec(txn)
                .await?;
        }
    }

    let jobs = email_job::Entity::find().filter(email_job::Column::LeadId.eq(id)).all(txn).await?;
    for job in &jobs {
        let recipient = if is_theirs(&job.recipient) { ERASED.to_owned() } else { job.recipient.clone() };
        let last_error =
            job.last_error.as_ref().map(|e| if is_theirs(&job.recipient) { ERASED.to_owned() } else { e.clone() });
        email_job::Entity::update_many()
            .col_expr(email_job::Column::Payload, Expr::value(json!({ "erased": true })))
            .col_expr(email_job::Column::Recipient, Expr::value(recipient))
            .col_expr(email_job::Column::LastError, Expr::value(last_error))
            .filter(email_job::Column::Id.eq(job.id))
            .exec(txn)
            .await?;
    }
    if mail_copies {
        targets.extend(jobs.iter().map(|job| (DeletionTarget::MailCopy, job.id.to_string())));
    }
    deletions::enqueue(txn, id, targets, now).await?;
    scrub_later_checks(txn, lead).await
}

/// Later leads whose conflict check hit this one kept its name, in their hits and in the mails
/// that list them. Another person's lead that hit this one is not CLEAR (the same person's
/// repeats are, and hold their data anyway), so the look-up walks the partial index of leads
/// with a finding; its condition is written out as the index's is, so that both databases
/// can tell the index covers it.
async fn scrub_later_checks(txn: &DatabaseTransaction, lead: &lead::Model) -> Result<(), DbErr> {
    let hits_text = match txn.get_database_backend() {
        DatabaseBackend::Postgres => Expr::cust("CAST(conflict_hits AS TEXT)"),
        _ => Expr::col(lead::Column::ConflictHits),
    };
    let later = lead::Entity::find()
        .filter(Expr::cust("conflict_state <> 'clear'"))
        .filter(lead::Column::CreatedAt.gte(lead.created_at))
        .filter(lead::Column::Id.ne(lead.id))
        .filter(hits_text.like(format!("%{}%", lead.id)))
        .all(txn)
        .await?;
    for other in later {
        let mut names = HashSet::new();
        let hits: Vec<Hit> = check::stored_hits(&other)
            .into_iter()
            .map(|hit| {
                if hit.lead_id == Some(lead.id) {
                    names.insert(hit.name.clone());
                    Hit { name: ERASED.to_owned(), ..hit }
                } else {
                    hit
                }
            })
            .collect();
        if names.is_empty() {
            continue;
        }
        lead::Entity::update_many()
            .col_expr(lead::Column::ConflictHits, Expr::value(serde_json::to_value(&hits).expect("hits serialise")))
            .filter(lead::Column::Id.eq(other.id))
            .exec(txn)
            .await?;
        let jobs = email_job::Entity::find().filter(email_job::Column::LeadId.eq(other.id)).all(txn).await?;
        for job in jobs {
            let mut payload = job.payload.clone();
            let Some(conflicts) = payload.get_mut("conflicts").and_then(Value::as_array_mut) else { continue };
            for conflict in conflicts.iter_mut() {
                if conflict.get("name").and_then(Value::as_str).is_some_and(|n| names.contains(n)) {
                    conflict["name"] = ERASED.into();
                }
            }
            if payload != job.payload {
                email_job::Entity::update_many()
                    .col_expr(email_job::Column::Payload, Expr::value(payload))
                    .filter(email_job::Column::Id.eq(job.id))
                    .exec(txn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Places (`hold`) or lifts a legal hold; while held, the lead can be neither erased nor swept
/// by retention. Setting what is already set changes nothing.
pub async fn set_legal_hold(
    leads: &Leads,
    id: Uuid,
    hold: bool,
    reason: Option<&str>,
    admin: Admin<'_>,
) -> Result<lead::Model, AppError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
    if hold && reason.is_none() {
        return Err(AppError::bad_input("reason", "is required to place a hold; say what it is for (e.g. the matter)"));
    }
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(AppError::bad_input("reason", format!("must be at most {MAX_REASON_CHARS} characters")));
    }
    let by = admin.user().id;
    crate::leads::changes::change_lead(leads, id, |lead, now| {
        if lead.legal_hold == hold && (!hold || lead.legal_hold_reason == reason) {
            return Ok(None);
        }
        use lead::Column as C;
        Ok(Some(crate::leads::changes::Change {
            columns: vec![
                (C::LegalHold, Expr::value(hold)),
                (C::LegalHoldReason, Expr::value(reason.clone().filter(|_| hold))),
                (C::LegalHoldAt, Expr::value(Some(now).filter(|_| hold))),
                (C::LegalHoldBy, Expr::value(Some(by).filter(|_| hold))),
            ],
            events: vec![NewEvent {
                lead_id: id,
                actor: Actor::User(by),
                data: EventData::LegalHoldSet(LegalHoldSet { hold, reason: reason.clone() }),
            }],
            ..Default::default()
        }))
    })
    .await
}
