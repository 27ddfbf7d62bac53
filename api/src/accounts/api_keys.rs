//! API keys for the firm's other systems: `ik_<prefix>_<secret>`, shown once, stored as the
//! prefix (to find the key) and the SHA-256 of the secret (to check it). The secret is 190 bits
//! of randomness, so a fast hash is as good as a slow one here and keeps every request cheap.

use chrono::{DateTime, Utc};
use entity::api_key;
use rand::{Rng, distr::Alphanumeric};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::session::Admin;
use crate::{error::AppError, infra::clock};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiScope {
    /// `submitLead`, counted per key.
    LeadsSubmit,
    /// `lead`, `leads`, `leadStats`.
    LeadsRead,
}

impl ApiScope {
    pub fn name(self) -> &'static str {
        match self {
            Self::LeadsSubmit => "LEADS_SUBMIT",
            Self::LeadsRead => "LEADS_READ",
        }
    }

    fn named(name: &str) -> Option<Self> {
        [Self::LeadsSubmit, Self::LeadsRead].into_iter().find(|s| s.name() == name)
    }
}

pub fn scopes_of(key: &api_key::Model) -> Vec<ApiScope> {
    key.scopes.split(',').filter_map(ApiScope::named).collect()
}

pub fn has_scope(key: &api_key::Model, scope: ApiScope) -> bool {
    key.scopes.split(',').any(|s| s == scope.name())
}

const PREFIX_CHARS: usize = 8;
const SECRET_CHARS: usize = 32;
const MAX_NAME_CHARS: usize = 100;
/// `last_used_at` is written at most this often per key: not a write per request.
const LAST_USED_EVERY: chrono::Duration = chrono::Duration::seconds(60);

fn random(chars: usize) -> String {
    rand::rng().sample_iter(Alphanumeric).take(chars).map(|b| char::from(b).to_ascii_lowercase()).collect()
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new key and its text (shown this once).
pub async fn create(
    db: &impl ConnectionTrait,
    name: &str,
    scopes: &[ApiScope],
    expires_at: Option<DateTime<Utc>>,
    admin: Admin<'_>,
) -> Result<(api_key::Model, String), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::bad_input("name", format!("must be 1 to {MAX_NAME_CHARS} characters")));
    }
    if scopes.is_empty() {
        return Err(AppError::bad_input("scopes", "is empty; give the key LEADS_SUBMIT, LEADS_READ or both"));
    }
    let now = clock::now();
    if expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::bad_input("expiresAt", "is in the past"));
    }
    let (prefix, secret) = (random(PREFIX_CHARS), random(SECRET_CHARS));
    let mut names: Vec<&str> = scopes.iter().map(|s| s.name()).collect();
    names.sort_unstable();
    names.dedup();
    let key = api_key::Model {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        prefix: prefix.clone(),
        secret_hash: hash(&secret),
        scopes: names.join(","),
        created_at: now,
        created_by: Some(admin.user().id),
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    api_key::Entity::insert(api_key::ActiveModel::from(key.clone())).exec_without_returning(db).await?;
    tracing::info!(key = %key.id, prefix, by = %admin.user().id, "API key created");
    Ok((key, format!("ik_{prefix}_{secret}")))
}

pub async fn list(db: &impl ConnectionTrait, _admin: Admin<'_>) -> Result<Vec<api_key::Model>, AppError> {
    Ok(api_key::Entity::find().order_by_asc(api_key::Column::CreatedAt).all(db).await?)
}

/// Ends the key at once; revoking it again changes nothing.
pub async fn revoke(db: &impl ConnectionTrait, id: Uuid, admin: Admin<'_>) -> Result<api_key::Model, AppError> {
    let key = api_key::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound("API key"))?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let mut row = api_key::ActiveModel::from(key);
    row.revoked_at = Set(Some(clock::now()));
    let key = api_key::Entity::update(row).exec(db).await?;
    tracing::info!(key = %key.id, by = %admin.user().id, "API key revoked");
    Ok(key)
}

/// Neither revoked nor expired at `now`.
pub fn is_live(key: &api_key::Model, now: DateTime<Utc>) -> bool {
    key.revoked_at.is_none() && key.expires_at.is_none_or(|at| at > now)
}

/// Whether text is meant as an API key (and so is never tried as an access token).
pub fn looks_like_key(text: &str) -> bool {
    text.starts_with("ik_")
}

/// The live key `text` is, or `None`: unknown, wrong secret, revoked or expired.
pub async fn authenticate(db: &impl ConnectionTrait, text: &str) -> Result<Option<api_key::Model>, AppError> {
    let Some((prefix, secret)) = text.strip_prefix("ik_").and_then(|rest| rest.split_once('_')) else {
        return Ok(None);
    };
    let Some(key) = api_key::Entity::find().filter(api_key::Column::Prefix.eq(prefix)).one(db).await? else {
        return Ok(None);
    };
    let now = clock::now();
    let matches: bool = hash(secret).as_bytes().ct_eq(key.secret_hash.as_bytes()).into();
    if !matches || !is_live(&key, now) {
        return Ok(None);
    }
    if key.last_used_at.is_none_or(|at| now - at >= LAST_USED_EVERY) {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(key.id))
            .exec(db)
            .await?;
    }
    Ok(Some(key))
}
