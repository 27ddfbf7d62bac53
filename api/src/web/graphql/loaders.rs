//! Batched loading: what the fields of a page of leads need (users, histories, notes, mails,
//! duplicates) is fetched with one query per kind for the whole page, not one per lead.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{email_job, lead, lead_event, lead_note, replaced_resume, user};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::{error::AppError, leads::history};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserId(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeadId(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HistoryOf(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotesOf(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NoteId(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DuplicatesOf(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MailsOf(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MailId(pub Uuid);
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplacedResumeKey(pub String);

/// Loader errors must be cloneable: every waiting field gets the same one.
#[derive(Clone, Debug)]
pub struct LoadError(Arc<DbErr>);

impl From<DbErr> for LoadError {
    fn from(e: DbErr) -> Self {
        Self(Arc::new(e))
    }
}

impl From<LoadError> for async_graphql::Error {
    fn from(e: LoadError) -> Self {
        AppError::Internal(anyhow::anyhow!("loading: {}", e.0)).into()
    }
}

pub struct Db(pub DatabaseConnection);

pub type Loaders = DataLoader<Db>;

/// One for the whole schema, without a cache: it batches the loads made at the same time (by
/// one request or several), and never serves a value older than the request.
/// Shared by reference: subscriptions hold it beyond a request.
pub fn new(db: DatabaseConnection) -> Arc<Loaders> {
    Arc::new(DataLoader::new(Db(db), tokio::spawn))
}

fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> Uuid) -> Vec<Uuid> {
    keys.iter().map(|k| id(*k)).collect()
}

/// Groups rows by the key they belong to; every key gets an entry, empty if need be.
fn grouped<K: Copy + Eq + std::hash::Hash, V>(
    keys: &[K],
    rows: Vec<V>,
    key_of: impl Fn(&V) -> K,
) -> HashMap<K, Vec<V>> {
    let mut map: HashMap<K, Vec<V>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for row in rows {
        map.entry(key_of(&row)).or_default().push(row);
    }
    map
}

impl Loader<UserId> for Db {
    type Value = user::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, user::Model>, LoadError> {
        let rows = user::Entity::find().filter(user::Column::Id.is_in(ids(keys, |k| k.0))).all(&self.0).await?;
        Ok(rows.into_iter().map(|u| (UserId(u.id), u)).collect())
    }
}

impl Loader<LeadId> for Db {
    type Value = lead::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[LeadId]) -> Result<HashMap<LeadId, lead::Model>, LoadError> {
        let rows = lead::Entity::find().filter(lead::Column::Id.is_in(ids(keys, |k| k.0))).all(&self.0).await?;
        Ok(rows.into_iter().map(|l| (LeadId(l.id), l)).collect())
    }
}

impl Loader<HistoryOf> for Db {
    type Value = Vec<lead_event::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[HistoryOf]) -> Result<HashMap<HistoryOf, Vec<lead_event::Model>>, LoadError> {
        let mut found = history::for_leads(&self.0, &ids(keys, |k| k.0)).await?;
        Ok(keys.iter().map(|k| (*k, found.remove(&k.0).unwrap_or_default())).collect())
    }
}

impl Loader<NotesOf> for Db {
    type Value = Vec<lead_note::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[NotesOf]) -> Result<HashMap<NotesOf, Vec<lead_note::Model>>, LoadError> {
        use lead_note::Column as C;
        let rows = lead_note::Entity::find()
            .filter(C::LeadId.is_in(ids(keys, |k| k.0)))
            .order_by_desc(C::CreatedAt)
            .order_by_desc(C::Id)
            .all(&self.0)
            .await?;
        Ok(grouped(keys, rows, |n| NotesOf(n.lead_id)))
    }
}

impl Loader<NoteId> for Db {
    type Value = lead_note::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[NoteId]) -> Result<HashMap<NoteId, lead_note::Model>, LoadError> {
        let rows =
            lead_note::Entity::find().filter(lead_note::Column::Id.is_in(ids(keys, |k| k.0))).all(&self.0).await?;
        Ok(rows.into_iter().map(|n| (NoteId(n.id), n)).collect())
    }
}

impl Loader<DuplicatesOf> for Db {
    type Value = Vec<lead::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[DuplicatesOf]) -> Result<HashMap<DuplicatesOf, Vec<lead::Model>>, LoadError> {
        use lead::Column as C;
        let rows = lead::Entity::find()
            .filter(C::DuplicateOf.is_in(ids(keys, |k| k.0)))
            .order_by_desc(C::CreatedAt)
            .order_by_desc(C::Id)
            .all(&self.0)
            .await?;
        Ok(grouped(keys, rows, |l| DuplicatesOf(l.duplicate_of.unwrap_or_default())))
    }
}

impl Loader<MailsOf> for Db {
    type Value = Vec<email_job::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[MailsOf]) -> Result<HashMap<MailsOf, Vec<email_job::Model>>, LoadError> {
        use email_job::Column as C;
        let rows = email_job::Entity::find()
            .filter(C::LeadId.is_in(ids(keys, |k| k.0)))
            .order_by_asc(C::Id)
            .all(&self.0)
            .await?;
        Ok(grouped(keys, rows, |j| MailsOf(j.lead_id.unwrap_or_default())))
    }
}

impl Loader<MailId> for Db {
    type Value = email_job::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[MailId]) -> Result<HashMap<MailId, email_job::Model>, LoadError> {
        let rows =
            email_job::Entity::find().filter(email_job::Column::Id.is_in(ids(keys, |k| k.0))).all(&self.0).await?;
        Ok(rows.into_iter().map(|j| (MailId(j.id), j)).collect())
    }
}

impl Loader<ReplacedResumeKey> for Db {
    type Value = replaced_resume::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ReplacedResumeKey],
    ) -> Result<HashMap<ReplacedResumeKey, replaced_resume::Model>, LoadError> {
        let wanted = keys.iter().map(|k| k.0.clone());
        let rows =
            replaced_resume::Entity::find().filter(replaced_resume::Column::Key.is_in(wanted)).all(&self.0).await?;
        Ok(rows.into_iter().map(|r| (ReplacedResumeKey(r.key.clone()), r)).collect())
    }
}
