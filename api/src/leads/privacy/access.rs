//! Who looked: résumé links are issued to one user, and every download through them is recorded
//! in the lead's history (RESUME_DOWNLOADED) with that user, the time and the file.

use uuid::Uuid;

use crate::{
    accounts::session::Staff,
    error::AppError,
    infra::{announce::LeadChange, clock, storage::StoredObject},
    leads::{
        history::{self, Actor, EventData, NewEvent, ResumeDownloaded},
        service::Leads,
        submission::{self, ResumeFile},
    },
};

/// Where `viewer` can fetch the résumé for the next few minutes without the Authorization
/// header. Always through Intake (never a presigned store URL), so that each download is
/// recorded, and refused once the viewer's access or the file is gone.
pub fn download_url(leads: &Leads, file: &ResumeFile, viewer: Staff<'_>) -> String {
    leads.links.url(&resume_path(&file.key), viewer.user().id, clock::now())
}

/// The path a résumé link signs.
pub fn resume_path(key: &str) -> String {
    format!("files/{key}")
}

/// The résumé under `key` for the holder of a link to it, recorded as downloaded by them.
pub async fn open_resume(leads: &Leads, key: &str, holder: Staff<'_>) -> Result<(ResumeFile, StoredObject), AppError> {
    let (lead_id, file) = submission::find_resume(&leads.db, key).await?.ok_or(AppError::NotFound("file"))?;
    let object = leads.storage.get(key).await.map_err(|e| AppError::Internal(e.context("reading a résumé")))?;
    record(leads, lead_id, holder, &file).await?;
    Ok((file, object))
}

async fn record(leads: &Leads, lead_id: Uuid, holder: Staff<'_>, file: &ResumeFile) -> Result<(), AppError> {
    let event = NewEvent {
        lead_id,
        actor: Actor::User(holder.user().id),
        data: EventData::ResumeDownloaded(ResumeDownloaded {
            key: file.key.clone(),
            file_name: file.file_name.clone(),
        }),
    };
    history::record(&leads.db, vec![event], clock::now()).await?;
    leads.announcer.lead_changed(&[LeadChange::Updated(lead_id)]).await;
    Ok(())
}
