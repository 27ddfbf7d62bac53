//! API keys for the firm's other systems. Admins only.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::api_key;

use super::{parse_id, session, state};
use crate::accounts::api_keys::{self, ApiScope as Scope};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::accounts::api_keys::ApiScope")]
pub enum ApiScope {
    /// `submitLead`, counted per key (`INTAKE_API_KEY_SUBMIT_RATE_LIMIT`); the lead's source
    /// defaults to the key's name.
    LeadsSubmit,
    /// `lead`, `leads` and `leadStats`; no mutation.
    LeadsRead,
}

pub struct ApiKey(api_key::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The part after `ik_` that names the key in logs and lists; the secret is not kept.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    async fn scopes(&self) -> Vec<ApiScope> {
        api_keys::scopes_of(&self.0).into_iter().map(Into::into).collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    /// To the minute.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A key and its text, shown this once.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// `ik_<prefix>_<secret>`: send it as `Authorization: Bearer ik_…` or `X-API-Key: ik_…`.
    pub key: String,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// What uses it (at most 100 characters); leads it submits name it as their source.
    pub name: String,
    pub scopes: Vec<ApiScope>,
    /// It stops working then; never, when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// Every API key, oldest first, revoked ones included. Admins only.
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        let admin = session(ctx).admin()?;
        Ok(api_keys::list(&state(ctx).db, admin).await?.into_iter().map(ApiKey).collect())
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// A new key; its text is in the answer and never shown again. Admins only.
    async fn create_api_key(&self, ctx: &Context<'_>, input: CreateApiKeyInput) -> Result<CreatedApiKey> {
        let admin = session(ctx).admin()?;
        let scopes: Vec<Scope> = input.scopes.into_iter().map(Into::into).collect();
        let (key, text) = api_keys::create(&state(ctx).db, &input.name, &scopes, input.expires_at, admin).await?;
        Ok(CreatedApiKey { api_key: ApiKey(key), key: text })
    }

    /// Ends the key at once. Admins only.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<ApiKey> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        Ok(ApiKey(api_keys::revoke(&state(ctx).db, id, admin).await?))
    }
}
