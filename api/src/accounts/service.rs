//! What the account functions need, and nothing more: the database, the token keys, the abuse
//! limits, the announcer, and the accounts behind recent tokens.

use std::sync::Arc;

use entity::user;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::tokens::TokenKeys;
use crate::infra::{announce::Announcer, freshness::Recent, limits::Limits};

#[derive(Clone)]
pub struct Accounts {
    pub db: DatabaseConnection,
    pub tokens: Arc<TokenKeys>,
    pub limits: Arc<Limits>,
    pub announcer: Announcer,
    /// Accounts of recent requests' tokens (by account and sign-in), so that a busy client is
    /// not looked up each time. Read at the accounts' change count (`Announcer::accounts`),
    /// not the process's: a submission, which changes leads, leaves them current.
    pub signed_in: Arc<Recent<(Uuid, Uuid), user::Model>>,
}
