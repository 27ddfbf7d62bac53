//! Batched loading: what the fields of a page of leads need (users, histories, notes, mails,
//! duplicates) is fetched with one query per kind for the whole page, not one per lead. Rows
//! by id go through one generic loader (`ById`), rows belonging to a lead through another
//! (`Of`); only a lead's history and replaced résumés (keyed otherwise) have their own.

use std::{collections::HashMap, hash::Hash, marker::PhantomData, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{conflict_party, email_job, lead, lead_event, lead_note, replaced_resume, user};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Select};
use uuid::Uuid;

use crate::{error::AppError, leads::history};

/// A row of `E` by its id.
pub struct ById<E>(pub Uuid, PhantomData<fn() -> E>);

/// The rows of `E` that belong to a lead, in the order the lead shows them.
pub struct Of<E>(pub Uuid, PhantomData<fn() -> E>);

/// Lead histories, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HistoryOf(pub Uuid);
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplacedResumeKey(pub String);

macro_rules! uuid_key {
    ($key:ident) => {
        impl<E> $key<E> {
            pub fn new(id: Uuid) -> Self {
                Self(id, PhantomData)
            }
        }
        impl<E> Clone for $key<E> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<E> Copy for $key<E> {}
        impl<E> PartialEq for $key<E> {
            fn eq(&self, other: &Self) -> bool {
                self.0 == other.0
            }
        }
        impl<E> Eq for $key<E> {}
        impl<E> Hash for $key<E> {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state)
            }
        }
    };
}
uuid_key!(ById);
uuid_key!(Of);

/// An entity found by its UUID primary key.
pub trait WithId: EntityTrait {
    const ID: Self::Column;
    fn id(model: &Self::Model) -> Uuid;
}

/// An entity whose rows belong to a lead.
pub trait OfLead: EntityTrait {
    const LEAD: Self::Column;
    fn lead(model: &Self::Model) -> Option<Uuid>;
    fn in_order(select: Select<Self>) -> Select<Self>;
}

macro_rules! with_id {
    ($($entity:ident),*) => {$(
        impl WithId for $entity::Entity {
            const ID: Self::Column = $entity::Column::Id;
            fn id(model: &Self::Model) -> Uuid {
                model.id
            }
        }
    )*};
}
with_id!(user, lead, lead_note, email_job, conflict_party);

impl OfLead for lead_note::Entity {
    const LEAD: Self::Column = lead_note::Column::LeadId;
    fn lead(model: &Self::Model) -> Option<Uuid> {
        Some(model.lead_id)
    }
    fn in_order(select: Select<Self>) -> Select<Self> {
        select.order_by_desc(lead_note::Column::CreatedAt).order_by_desc(lead_note::Column::Id)
    }
}

/// Later submissions that repeat a lead.
impl OfLead for lead::Entity {
    const LEAD: Self::Column = lead::Column::DuplicateOf;
    fn lead(model: &Self::Model) -> Option<Uuid> {
        model.duplicate_of
    }
    fn in_order(select: Select<Self>) -> Select<Self> {
        select.order_by_desc(lead::Column::CreatedAt).order_by_desc(lead::Column::Id)
    }
}

impl OfLead for email_job::Entity {
    const LEAD: Self::Column = email_job::Column::LeadId;
    fn lead(model: &Self::Model) -> Option<Uuid> {
        model.lead_id
    }
    fn in_order(select: Select<Self>) -> Select<Self> {
        select.order_by_asc(email_job::Column::Id)
    }
}

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

impl<E> Loader<ById<E>> for Db
where
    E: WithId,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[ById<E>]) -> Result<HashMap<ById<E>, E::Model>, LoadError> {
        let rows = E::find().filter(E::ID.is_in(ids(keys, |k| k.0))).all(&self.0).await?;
        Ok(rows.into_iter().map(|row| (ById::new(E::id(&row)), row)).collect())
    }
}

/// Every key gets an entry, empty if need be.
impl<E> Loader<Of<E>> for Db
where
    E: OfLead,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = Vec<E::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Of<E>]) -> Result<HashMap<Of<E>, Vec<E::Model>>, LoadError> {
        let rows = E::in_order(E::find().filter(E::LEAD.is_in(ids(keys, |k| k.0)))).all(&self.0).await?;
        let mut map: HashMap<Of<E>, Vec<E::Model>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            map.entry(Of::new(E::lead(&row).unwrap_or_default())).or_default().push(row);
        }
        Ok(map)
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
