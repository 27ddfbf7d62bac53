//! Who looked: résumé links are issued to one user, and every download through them is recorded
//! in the lead's history (RESUME_DOWNLOADED) with that user, the time and the file.

use entity::webhook_endpoint;
use sea_orm::EntityTrait;
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

/// Who holds a résumé link: an attorney or admin, or a webhook endpoint it was sent to.
pub enum Downloader<'a> {
    Staff(Staff<'a>),
    Endpoint(webhook_endpoint::Model),
}

/// The active webhook endpoint with this id: the holder of a link sent in one of its
/// deliveries, until it is deactivated or deleted.
pub async fn endpoint_holder(leads: &Leads, id: Uuid) -> Result<Option<webhook_endpoint::Model>, AppError> {
    Ok(webhook_endpoint::Entity::find_by_id(id).one(&leads.db).await?.filter(|e| e.active))
}

/// The résumé under `key` for the holder of a link to it, recorded as downloaded by them.
pub async fn open_resume(
    leads: &Leads,
    key: &str,
    holder: Downloader<'_>,
) -> Result<(ResumeFile, StoredObject), AppError> {
    let (lead_id, file) = submission::find_resume(&leads.db, key).await?.ok_or(AppError::NotFound("file"))?;
    let object = leads.storage.get(key).await.map_err(|e| AppError::Internal(e.context("reading a résumé")))?;
    let actor = match holder {
        Downloader::Staff(staff) => Actor::User(staff.user().id),
        Downloader::Endpoint(endpoint) => Actor::Integration(endpoint.id),
    };
    record(leads, lead_id, actor, &file).await?;
    Ok((file, object))
}

async fn record(leads: &Leads, lead_id: Uuid, actor: Actor, file: &ResumeFile) -> Result<(), AppError> {
    let event = NewEvent {
        lead_id,
        actor,
        data: EventData::ResumeDownloaded(ResumeDownloaded {
            key: file.key.clone(),
            file_name: file.file_name.clone(),
        }),
    };
    history::record(&leads.db, vec![event], clock::now()).await?;
    leads.announcer.lead_changed(&[LeadChange::Updated(lead_id)]).await;
    Ok(())
}
