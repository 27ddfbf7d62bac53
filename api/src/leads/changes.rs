//! Changes to a lead after submission: status, corrections, a new résumé, notes, assignment
//! (the conflict decision and the outcome, in `conflicts/` and `outcome.rs`, go through here too).
//! Each change and its history events are written in one transaction, on the condition that
//! the lead is still as it was read (its `updated_at`), so two people changing a lead at once
//! both land, one after the other, each recorded with what it really changed.

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{
    email_job::EmailKind,
    lead::{self, LeadStatus},
    lead_note, replaced_resume,
    user::Role,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, SimpleExpr},
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    accounts::session::Staff,
    accounts::users,
    error::AppError,
    infra::announce::LeadChange,
    infra::clock,
    infra::mail::messages::LeadMail,
    infra::validate,
    leads::conflicts::{
        decide::{self, CheckedKeys},
        keys,
    },
    leads::history::{
        self, Actor, EventData, FieldChange, FieldsUpdated, NewEvent, NoteAdded, ResumeReplaced, StatusChanged,
    },
    leads::outbox::queue::{self, NewEmailJob},
    leads::service::Leads,
    leads::submission::{self, ResumeFile, ResumeUpload},
};

/// Attempts before giving up on a lead that keeps changing under us.
const ATTEMPTS: usize = 5;
pub const MAX_NOTE_CHARS: usize = 10_000;

/// One change, worked out from the lead as read.
#[derive(Default)]
pub(super) struct Change {
    pub columns: Vec<(lead::Column, SimpleExpr)>,
    pub events: Vec<NewEvent>,
    pub replaced: Option<replaced_resume::ActiveModel>,
    /// The lead no longer waits for a first response: its queued reminders are dropped.
    pub answered: bool,
    /// Its queued reminder goes to these addresses instead (a new assignee), due as before.
    pub reroute_reminder: Option<(Vec<String>, serde_json::Value, DateTime<Utc>)>,
    /// Mails to queue with the change.
    pub jobs: Vec<NewEmailJob>,
}

/// Reads the lead, asks `plan` what to change (nothing: `None`), and writes it if the lead is
/// still as read; otherwise reads again.
pub(super) async fn change_lead(
    leads: &Leads,
    id: Uuid,
    mut plan: impl FnMut(&lead::Model, DateTime<Utc>) -> Result<Option<Change>, AppError>,
) -> Result<lead::Model, AppError> {
    for _ in 0..ATTEMPTS {
        let lead = submission::find(&leads.db, id).await?.ok_or(AppError::NotFound("lead"))?;
        if lead.erased_at.is_some() {
            return Err(AppError::LeadErased);
        }
        let now = clock::now();
        let Some(change) = plan(&lead, now)? else {
            return Ok(lead);
        };
        let mails = !change.jobs.is_empty() || change.reroute_reminder.is_some();
        if write_if_unchanged(&leads.db, &lead, change, now).await? {
            if mails {
                leads.announcer.mail_enqueued();
            }
            leads.announcer.lead_changed(&[LeadChange::Updated(id)]).await;
            return submission::find(&leads.db, id).await?.ok_or(AppError::NotFound("lead"));
        }
    }
    Err(AppError::Internal(anyhow::anyhow!("lead {id} kept changing while being updated")))
}

async fn write_if_unchanged(
    db: &DatabaseConnection,
    seen: &lead::Model,
    change: Change,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use lead::Column as C;
    let txn = crate::infra::db::begin_write(db).await?;
    let mut update = lead::Entity::update_many().col_expr(C::UpdatedAt, Expr::value(now));
    for (column, value) in change.columns {
        update = update.col_expr(column, value);
    }
    let updated =
        update.filter(C::Id.eq(seen.id)).filter(C::UpdatedAt.eq(seen.updated_at)).exec(&txn).await?.rows_affected;
    if updated == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    if let Some(replaced) = change.replaced {
        replaced_resume::Entity::insert(replaced).exec_without_returning(&txn).await?;
    }
    if change.answered {
        let chasers = [EmailKind::ResponseReminder, EmailKind::ResponseEscalation];
        queue::cancel_queued(&txn, seen.id, &chasers, "dropped: the lead was answered before this fell due", now)
            .await?;
    }
    let mut jobs = change.jobs;
    if let Some((recipients, payload, due)) = change.reroute_reminder {
        let reason = "dropped: the lead was reassigned; the reminder goes to the new assignee";
        if queue::cancel_queued(&txn, seen.id, &[EmailKind::ResponseReminder], reason, now).await? > 0 {
            jobs.extend(recipients.into_iter().map(|recipient| NewEmailJob {
                lead_id: Some(seen.id),
                kind: EmailKind::ResponseReminder,
                recipient,
                payload: payload.clone(),
                run_at: Some(due),
            }));
        }
    }
    queue::enqueue(&txn, jobs, now).await?;
    history::record(&txn, change.events, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Moves a lead along its one allowed transition, PENDING → REACHED_OUT, recording who and when.
/// Asking for the status it already has changes nothing and is not an error.
pub async fn update_status(
    leads: &Leads,
    id: Uuid,
    status: LeadStatus,
    actor: Staff<'_>,
) -> Result<lead::Model, AppError> {
    use lead::Column as C;
    let lead = change_lead(leads, id, |lead, now| {
        if lead.status == status {
            return Ok(None);
        }
        if (lead.status, status) != (LeadStatus::Pending, LeadStatus::ReachedOut) {
            return Err(AppError::InvalidStatusTransition { from: status_name(lead.status), to: status_name(status) });
        }
        Ok(Some(Change {
            columns: vec![
                (C::Status, Expr::value(status)),
                (C::ReachedOutAt, Expr::value(now)),
                (C::ReachedOutBy, Expr::value(actor.user().id)),
            ],
            events: vec![NewEvent {
                lead_id: id,
                actor: Actor::User(actor.user().id),
                data: EventData::StatusChanged(StatusChanged {
                    from: status_name(lead.status).into(),
                    to: status_name(status).into(),
                }),
            }],
            answered: true,
            ..Change::default()
        }))
    })
    .await?;
    tracing::info!(lead = %id, by = %actor.user().id, status = status_name(lead.status), "lead status");
    Ok(lead)
}

pub fn status_name(status: LeadStatus) -> &'static str {
    match status {
        LeadStatus::Pending => "PENDING",
        LeadStatus::ReachedOut => "REACHED_OUT",
    }
}

/// Corrections to what the prospect typed; absent fields stay as they are.
#[derive(Default)]
pub struct LeadCorrections {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

/// Corrects names and email and/or replaces the résumé. The replaced file stays in the store,
/// downloadable from the history.
pub async fn update(
    leads: &Leads,
    id: Uuid,
    corrections: LeadCorrections,
    resume: Option<ResumeUpload>,
    actor: Staff<'_>,
) -> Result<lead::Model, AppError> {
    let first_name = corrections
        .first_name
        .map(|n| validate::person_name(&n).map_err(|m| AppError::bad_input("firstName", m)))
        .transpose()?;
    let last_name = corrections
        .last_name
        .map(|n| validate::person_name(&n).map_err(|m| AppError::bad_input("lastName", m)))
        .transpose()?;
    let email =
        corrections.email.map(|e| validate::email(&e).map_err(|m| AppError::bad_input("email", m))).transpose()?;
    let by = actor.user().id;
    // Runs to its end even if the client goes away, as a submission does: stopped half-way, it
    // would leave a stored résumé that no lead names.
    let own = leads.clone();
    let valid = LeadCorrections { first_name, last_name, email };
    let corrected = leads.tasks.spawn(async move { correct(&own, id, valid, resume, by).await }.in_current_span());
    corrected.await.context("storing the correction")?
}

/// `update` once its input is checked: `corrections` valid, `by` the staff member's id.
async fn correct(
    leads: &Leads,
    id: Uuid,
    corrections: LeadCorrections,
    resume: Option<ResumeUpload>,
    by: Uuid,
) -> Result<lead::Model, AppError> {
    use lead::Column as C;
    let LeadCorrections { first_name, last_name, email } = corrections;
    let seen = submission::find(&leads.db, id).await?.ok_or(AppError::NotFound("lead"))?;
    // A new name or address is checked for conflicts as the submission's was, in the same
    // change: a register party under the corrected name must not go unnoticed.
    let corrected = |lead: &lead::Model| {
        let first = first_name.as_ref().unwrap_or(&lead.first_name);
        let last = last_name.as_ref().unwrap_or(&lead.last_name);
        CheckedKeys { name_key: keys::lead_name_key(first, last), email: email.clone().unwrap_or(lead.email.clone()) }
    };
    let recheck = match corrected(&seen) {
        keys if keys == CheckedKeys::of(&seen) => None,
        keys => {
            let finding = decide::check_under(leads, &seen, &keys).await?;
            Some((CheckedKeys::of(&seen), finding))
        }
    };
    let new_file = match resume {
        Some(upload) => Some(submission::store_resume(leads, upload).await?),
        None => None,
    };
    let result = change_lead(leads, id, |lead, now| {
        let mut columns = Vec::new();
        let mut changes = Vec::new();
        let fields = [
            ("firstName", C::FirstName, &lead.first_name, &first_name),
            ("lastName", C::LastName, &lead.last_name, &last_name),
            ("email", C::Email, &lead.email, &email),
        ];
        for (name, column, old, new) in fields {
            if let Some(new) = new.as_ref().filter(|new| *new != old) {
                columns.push((column, Expr::value(new.clone())));
                changes.push(FieldChange { field: name.into(), from: old.clone(), to: new.clone() });
                if name == "email" {
                    columns.push((C::EmailKey, Expr::value(new.to_lowercase())));
                }
            }
        }
        let mut events = Vec::new();
        if !changes.is_empty() {
            events.push(NewEvent {
                lead_id: id,
                actor: Actor::User(by),
                data: EventData::FieldsUpdated(FieldsUpdated { changes }),
            });
        }
        let replaced = new_file.as_ref().map(|file| {
            columns.extend(resume_columns(file));
            events.push(NewEvent {
                lead_id: id,
                actor: Actor::User(by),
                data: EventData::ResumeReplaced(ResumeReplaced {
                    previous_key: lead.resume_key.clone(),
                    new_key: file.key.clone(),
                }),
            });
            replaced_resume::ActiveModel {
                key: Set(lead.resume_key.clone()),
                lead_id: Set(id),
                file_name: Set(lead.resume_file_name.clone()),
                content_type: Set(lead.resume_content_type.clone()),
                size_bytes: Set(lead.resume_size_bytes),
                replaced_at: Set(now),
            }
        });
        let keys = corrected(lead);
        // Later conflict checks find the lead under its new name.
        if keys.name_key != lead.name_key {
            columns.push((C::NameKey, Expr::value(keys.name_key.clone())));
        }
        // Checked under the keys it had when read; `record` refuses if they have changed since.
        if let Some((before, finding)) = recheck.as_ref().filter(|_| keys != CheckedKeys::of(lead)) {
            let (checked, event) = decide::record(lead, before, finding, by, now)?;
            columns.extend(checked);
            events.push(event);
        }
        Ok((!events.is_empty()).then_some(Change { columns, events, replaced, ..Change::default() }))
    })
    .await;
    if result.is_err()
        && let Some(file) = &new_file
    {
        submission::discard_resume(leads, &file.key).await;
    }
    result
}

fn resume_columns(file: &ResumeFile) -> Vec<(lead::Column, SimpleExpr)> {
    use lead::Column as C;
    vec![
        (C::ResumeKey, Expr::value(file.key.clone())),
        (C::ResumeFileName, Expr::value(file.file_name.clone())),
        (C::ResumeContentType, Expr::value(file.content_type.clone())),
        (C::ResumeSizeBytes, Expr::value(file.size_bytes)),
    ]
}

/// Assigns the lead to an active attorney or admin, or (`None`) to nobody. The new assignee
/// hears of it by mail (unless they took it themselves), and a reminder still queued for the
/// lead goes to them instead (to the notification list when nobody is assigned).
pub async fn assign(
    leads: &Leads,
    id: Uuid,
    assignee: Option<Uuid>,
    actor: Staff<'_>,
) -> Result<lead::Model, AppError> {
    let assignee_user = match assignee {
        Some(user_id) => {
            let user = users::find(&leads.db, user_id).await?;
            match user.filter(|u| u.active && matches!(u.role, Role::Attorney | Role::Admin)) {
                Some(user) => Some(user),
                None => return Err(AppError::bad_input("userId", "is not an active attorney or admin")),
            }
        }
        None => None,
    };
    let reminded = match &assignee_user {
        Some(user) => vec![user.email.clone()],
        None => submission::notification_recipients(&leads.db, leads.settings.notify.as_deref()).await?,
    };
    let by = actor.user();
    change_lead(leads, id, |lead, _| {
        if lead.assigned_to == assignee {
            return Ok(None);
        }
        let mail = submission::lead_mail(&leads.settings, lead);
        let mut jobs = Vec::new();
        if let Some(user) = assignee_user.as_ref().filter(|u| u.id != by.id) {
            let told = LeadMail { assigned_by: Some(by.full_name.clone()), ..mail.clone() };
            jobs.push(NewEmailJob {
                lead_id: Some(id),
                kind: EmailKind::LeadAssigned,
                recipient: user.email.clone(),
                payload: serde_json::to_value(told).expect("LeadMail serialises"),
                run_at: None,
            });
        }
        let payload = serde_json::to_value(&mail).expect("LeadMail serialises");
        Ok(Some(Change {
            columns: vec![(lead::Column::AssignedTo, Expr::value(assignee))],
            events: vec![NewEvent::assigned(id, Actor::User(by.id), lead.assigned_to, assignee)],
            reroute_reminder: lead.respond_by.map(|due| (reminded.clone(), payload, due)),
            jobs,
            ..Change::default()
        }))
    })
    .await
}

/// Adds a note to the lead's history.
pub async fn add_note(
    leads: &Leads,
    lead_id: Uuid,
    body: &str,
    actor: Staff<'_>,
) -> Result<lead_note::Model, AppError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(AppError::bad_input("body", "is empty; write the note"));
    }
    if body.chars().count() > MAX_NOTE_CHARS {
        return Err(AppError::bad_input("body", format!("must be at most {MAX_NOTE_CHARS} characters")));
    }
    let lead = submission::find(&leads.db, lead_id).await?.ok_or(AppError::NotFound("lead"))?;
    if lead.erased_at.is_some() {
        return Err(AppError::LeadErased);
    }
    let now = clock::now();
    let note = lead_note::Model {
        id: Uuid::now_v7(),
        lead_id,
        author_id: Some(actor.user().id),
        body: body.to_owned(),
        created_at: now,
    };
    let txn = crate::infra::db::begin_write(&leads.db).await?;
    lead_note::Entity::insert(lead_note::ActiveModel::from(note.clone())).exec_without_returning(&txn).await?;
    lead::Entity::update_many()
        .col_expr(lead::Column::UpdatedAt, Expr::value(now))
        .filter(lead::Column::Id.eq(lead_id))
        .exec(&txn)
        .await?;
    let event = NewEvent {
        lead_id,
        actor: Actor::User(actor.user().id),
        data: EventData::NoteAdded(NoteAdded { note_id: note.id }),
    };
    history::record(&txn, vec![event], now).await?;
    txn.commit().await?;
    leads.announcer.lead_changed(&[LeadChange::Updated(lead_id)]).await;
    Ok(note)
}
