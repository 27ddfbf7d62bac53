//! Signing in and staying signed in: what `login`, `refreshToken`, `logout` and
//! `changePassword` hand out.

use std::net::IpAddr;

use entity::user;
use sea_orm::DatabaseConnection;

use crate::{
    auth::{TokenKeys, refresh},
    clock,
    error::AppError,
    limits::Limits,
    users,
};

pub struct SignedIn {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user: user::Model,
}

/// A new access token and a new refresh-token family for `user`.
pub async fn start(db: &DatabaseConnection, keys: &TokenKeys, user: user::Model) -> Result<SignedIn, AppError> {
    let refresh_token = refresh::start(db, user.id, clock::now()).await?;
    signed_in(keys, user, refresh_token)
}

/// Checks the credentials, within the abuse limits: per client address, and per account after
/// repeated failures.
pub async fn login(
    db: &DatabaseConnection,
    keys: &TokenKeys,
    limits: &Limits,
    client: IpAddr,
    email: &str,
    password: &str,
) -> Result<SignedIn, AppError> {
    let account = email.trim().to_lowercase();
    limits.login_attempt(client, &account)?;
    match users::authenticate(db, &account, password).await {
        Ok(user) => start(db, keys, user).await,
        Err(e @ AppError::Unauthenticated(_)) => {
            limits.login_failed(&account);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Exchanges a refresh token for a new pair. The account must still be active.
pub async fn refresh(db: &DatabaseConnection, keys: &TokenKeys, token: &str) -> Result<SignedIn, AppError> {
    let (user_id, next) = refresh::rotate(db, token, clock::now()).await?;
    match users::find(db, user_id).await? {
        Some(user) if user.active => signed_in(keys, user, next),
        _ => Err(AppError::Unauthenticated("this account is deactivated".into())),
    }
}

fn signed_in(keys: &TokenKeys, user: user::Model, refresh_token: String) -> Result<SignedIn, AppError> {
    Ok(SignedIn {
        access_token: keys.issue(&user).map_err(AppError::Internal)?,
        expires_in: keys.ttl().as_secs() as i64,
        refresh_token,
        refresh_expires_in: refresh::LIFETIME.num_seconds(),
        user,
    })
}
