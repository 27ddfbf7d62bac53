//! Handing a person their data: a ZIP of `lead.json` (every field, the consent, history, notes,
//! conflict check, outcome, and the mails they were sent with their text) and every résumé of
//! the lead, current and replaced. The archive is built when its signed link is followed, so no
//! copy of the person's data is left lying in the store; issuing the link is recorded.

use std::io::Write;

use chrono::{DateTime, Utc};
use entity::{
    email_job::{self, EmailKind},
    lead, lead_event, lead_note, replaced_resume,
};
use futures_util::TryStreamExt;
use sea_orm::{ActiveEnum, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    accounts::session::Admin,
    error::AppError,
    infra::{announce::LeadChange, clock, mail::messages},
    leads::{
        changes::status_name,
        conflicts::{check, decide},
        history::{self, Actor, EventData, LeadExported, NewEvent},
        outcome::outcome_name,
        service::Leads,
        submission::{self, ResumeFile},
    },
};

/// A signed link to a lead's export.
pub struct LeadExport {
    pub download_url: String,
    pub expires_at: DateTime<Utc>,
}

/// Issues `admin` a short-lived link to the lead's export, and records that they did.
pub async fn issue(leads: &Leads, id: Uuid, admin: Admin<'_>) -> Result<LeadExport, AppError> {
    let lead = submission::find(&leads.db, id).await?.ok_or(AppError::NotFound("lead"))?;
    let files = resumes(leads, &lead).await?.len() as u32;
    let now = clock::now();
    let event = NewEvent {
        lead_id: id,
        actor: Actor::User(admin.user().id),
        data: EventData::LeadExported(LeadExported { files }),
    };
    history::record(&leads.db, vec![event], now).await?;
    leads.announcer.lead_changed(&[LeadChange::Updated(id)]).await;
    tracing::info!(lead = %id, by = %admin.user().id, "lead exported");
    Ok(LeadExport {
        download_url: leads.links.url(&export_path(id), admin.user().id, now),
        expires_at: now + leads.settings.download_link_ttl,
    })
}

/// The path an export link signs.
pub fn export_path(id: Uuid) -> String {
    format!("exports/{id}")
}

/// The ZIP archive of the lead's data, and a name to save it as.
pub async fn archive(leads: &Leads, id: Uuid, _holder: Admin<'_>) -> Result<(String, Vec<u8>), AppError> {
    let lead = submission::find(&leads.db, id).await?.ok_or(AppError::NotFound("lead"))?;
    let files = resumes(leads, &lead).await?;
    let mut contents = Vec::with_capacity(files.len());
    for (n, (file, current)) in files.iter().enumerate() {
        let name = format!(
            "resumes/{}-{}",
            if *current { "current".to_owned() } else { format!("replaced-{n}") },
            file.file_name
        );
        let object =
            leads.storage.get(&file.key).await.map_err(|e| AppError::Internal(e.context("reading a résumé")))?;
        let bytes: Vec<u8> = object
            .stream
            .try_fold(Vec::new(), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("reading a résumé")))?;
        contents.push((name, bytes));
    }
    let document = document(leads, &lead, &files, &contents).await?;
    let zip = tokio::task::spawn_blocking(move || write_zip(&document, &contents))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(|e| AppError::Internal(e.context("writing the export")))?;
    Ok((format!("lead-{id}.zip"), zip))
}

/// The lead's résumés: the current one (unless erased) first, then the replaced ones, oldest
/// first; `true` marks the current one.
async fn resumes(leads: &Leads, lead: &lead::Model) -> Result<Vec<(ResumeFile, bool)>, AppError> {
    let mut files = Vec::new();
    if lead.erased_at.is_none() {
        files.push((ResumeFile::from(lead), true));
    }
    let replaced = replaced_resume::Entity::find()
        .filter(replaced_resume::Column::LeadId.eq(lead.id))
        .order_by_asc(replaced_resume::Column::ReplacedAt)
        .all(&leads.db)
        .await?;
    files.extend(replaced.into_iter().map(|old| (ResumeFile::from(old), false)));
    Ok(files)
}

async fn document(
    leads: &Leads,
    lead: &lead::Model,
    files: &[(ResumeFile, bool)],
    contents: &[(String, Vec<u8>)],
) -> Result<Value, AppError> {
    let events = lead_event::Entity::find()
        .filter(lead_event::Column::LeadId.eq(lead.id))
        .order_by_asc(lead_event::Column::Id)
        .all(&leads.db)
        .await?;
    let notes = lead_note::Entity::find()
        .filter(lead_note::Column::LeadId.eq(lead.id))
        .order_by_asc(lead_note::Column::CreatedAt)
        .all(&leads.db)
        .await?;
    let jobs = email_job::Entity::find()
        .filter(email_job::Column::LeadId.eq(lead.id))
        .order_by_asc(email_job::Column::CreatedAt)
        .all(&leads.db)
        .await?;
    let resumes: Vec<Value> = files
        .iter()
        .zip(contents)
        .map(|((file, current), (path, _))| {
            json!({
                "path": path,
                "fileName": file.file_name,
                "contentType": file.content_type,
                "sizeBytes": file.size_bytes,
                "current": current,
            })
        })
        .collect();
    Ok(json!({
        "exportedAt": clock::now(),
        "lead": {
            "id": lead.id,
            "firstName": lead.first_name,
            "lastName": lead.last_name,
            "email": lead.email,
            "status": status_name(lead.status),
            "submittedAt": lead.created_at,
            "updatedAt": lead.updated_at,
            "reachedOutAt": lead.reached_out_at,
            "reachedOutBy": lead.reached_out_by,
            "assignedTo": lead.assigned_to,
            "duplicateOf": lead.duplicate_of,
            "clientSubmissionId": lead.client_submission_id,
            "respondBy": lead.respond_by,
            "outcome": outcome_name(lead.outcome),
            "outcomeReason": lead.outcome_reason,
            "outcomeAt": lead.outcome_at,
            "outcomeBy": lead.outcome_by,
            "legalHold": lead.legal_hold,
            "legalHoldReason": lead.legal_hold_reason,
            "erasedAt": lead.erased_at,
            "erasureReason": lead.erasure_reason,
        },
        "consent": lead.consent_given_at.map(|given_at| json!({
            "givenAt": given_at,
            "textVersion": lead.consent_text_version,
            "ipAddress": lead.consent_ip,
            "userAgent": lead.consent_user_agent,
        })),
        "conflictCheck": {
            "state": decide::state_name(lead.conflict_state),
            "checkedAt": lead.conflict_checked_at,
            "hits": check::stored_hits(lead),
            "decidedAt": lead.conflict_decided_at,
            "decidedBy": lead.conflict_decided_by,
            "note": lead.conflict_note,
        },
        "resumes": resumes,
        "history": events.iter().map(event).collect::<Vec<_>>(),
        "notes": notes.iter().map(|note| json!({
            "id": note.id,
            "author": note.author_id,
            "at": note.created_at,
            "body": note.body,
        })).collect::<Vec<_>>(),
        "mails": jobs.iter().map(|job| mail(leads, lead, job)).collect::<Vec<_>>(),
    }))
}

fn event(event: &lead_event::Model) -> Value {
    json!({
        "kind": event.kind.to_value().to_uppercase(),
        "at": event.created_at,
        "actor": event.actor_kind.to_value().to_uppercase(),
        "user": event.actor_id,
        "data": event.data,
    })
}

/// A mail of the lead: to whom, what and whether it went; with its subject and text when it was
/// sent to the person.
fn mail(leads: &Leads, lead: &lead::Model, job: &email_job::Model) -> Value {
    let mut out = json!({
        "id": job.id,
        "kind": job.kind.to_value().to_uppercase(),
        "to": job.recipient,
        "state": job.state.to_value().to_uppercase(),
        "queuedAt": job.created_at,
        "sentAt": job.sent_at,
    });
    let to_them = job.kind == EmailKind::LeadAcknowledgement || job.recipient.eq_ignore_ascii_case(&lead.email);
    if to_them
        && let Ok(payload) = serde_json::from_value::<messages::LeadMail>(job.payload.clone())
        && let Ok((subject, text)) = messages::subject_and_text(job.kind, &payload, &leads.settings.firm_name)
    {
        out["subject"] = subject.into();
        out["text"] = text.into();
    }
    out
}

fn write_zip(document: &Value, files: &[(String, Vec<u8>)]) -> anyhow::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let text = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("lead.json", text)?;
    zip.write_all(&serde_json::to_vec_pretty(document)?)?;
    // Documents are compressed already, mostly.
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), stored)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}
