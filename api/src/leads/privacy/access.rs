//! Who looked: résumé links are issued to one user (or integration), and every download through
//! them is recorded in the lead's history (RESUME_DOWNLOADED) with them, the time and the file.

use entity::{api_key, webhook_endpoint};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::{
    accounts::{
        api_keys::{self, ApiScope},
        session::{Reader, Staff},
    },
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
pub fn download_url(leads: &Leads, file: &ResumeFile, viewer: Reader<'_>) -> String {
    let holder = match viewer {
        Reader::Staff(staff) => staff.user().id,
        Reader::Key(key) => key.id,
    };
    leads.links.url(&resume_path(&file.key), holder, clock::now())
}

/// The path a résumé link signs.
pub fn resume_path(key: &str) -> String {
    format!("files/{key}")
}

/// Who holds a résumé link: an attorney or admin, or another system of the firm's (a webhook
/// endpoint it was sent to, an API key that read it).
pub enum Downloader<'a> {
    Staff(Staff<'a>),
    Integration(Uuid),
}

/// The integration with this id that may still follow a link issued to it: an active webhook
/// endpoint, or a live API key with LEADS_READ.
pub async fn integration_holder(leads: &Leads, id: Uuid) -> Result<Option<Downloader<'static>>, AppError> {
    if webhook_endpoint::Entity::find_by_id(id).one(&leads.db).await?.is_some_and(|e| e.active) {
        return Ok(Some(Downloader::Integration(id)));
    }
    let key = api_key::Entity::find_by_id(id).one(&leads.db).await?;
    let live = key.is_some_and(|k| api_keys::is_live(&k, clock::now()) && api_keys::has_scope(&k, ApiScope::LeadsRead));
    Ok(live.then_some(Downloader::Integration(id)))
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
        Downloader::Integration(id) => Actor::Integration(id),
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
