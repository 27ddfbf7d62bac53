//! Signing in and staying signed in: what `login`, `refreshToken`, `logout` and
//! `changePassword` hand out.

use std::net::IpAddr;

use entity::user;
use uuid::Uuid;

use crate::{
    accounts::{
        password::PasswordCheck,
        refresh::{self, Rotation},
        service::Accounts,
        tokens::TokenKeys,
        users,
    },
    error::AppError,
    infra::clock,
};

pub struct SignedIn {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user: user::Model,
}

/// A new access token and a new refresh-token family for `user`.
async fn start(accounts: &Accounts, user: user::Model) -> Result<SignedIn, AppError> {
    let (sign_in, refresh_token) = refresh::start(&accounts.db, user.id, clock::now()).await?;
    signed_in(&accounts.tokens, user, sign_in, refresh_token)
}

/// Who is trying a password, and their request's right to have one checked.
pub struct Attempt {
    pub client: IpAddr,
    pub check: PasswordCheck,
}

/// Checks the credentials, within the abuse limits: per client address, and per account and
/// address after repeated failures (see `limits.rs`).
pub async fn login(accounts: &Accounts, attempt: Attempt, email: &str, password: &str) -> Result<SignedIn, AppError> {
    let (limits, account) = (&accounts.limits, email.trim().to_lowercase());
    limits.login_attempt(attempt.client, &account).await?;
    match users::authenticate(&accounts.db, attempt.check, &account, password).await {
        Ok(user) => {
            limits.login_succeeded(attempt.client, &account).await?;
            start(accounts, user).await
        }
        Err(e @ AppError::Unauthenticated(_)) => {
            limits.login_failed(attempt.client, &account).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The signed-in user changes their own password, proving they know the current one. Wrong
/// guesses count against the same allowance as failed sign-ins, so a stolen token cannot be
/// used to guess the password. Every session ends; the answer starts a new one.
pub async fn change_password(
    accounts: &Accounts,
    attempt: Attempt,
    me: &user::Model,
    current: &str,
    new_password: String,
) -> Result<SignedIn, AppError> {
    let limits = &accounts.limits;
    limits.login_attempt(attempt.client, &me.email).await?;
    if !users::confirm_password(attempt.check, me, current).await? {
        limits.login_failed(attempt.client, &me.email).await?;
        return Err(AppError::bad_input("currentPassword", "is not your current password"));
    }
    limits.login_succeeded(attempt.client, &me.email).await?;
    let updated = users::set_password(&accounts.db, &accounts.announcer, me, new_password, "newPassword").await?;
    start(accounts, updated).await
}

/// Exchanges a refresh token for a new pair. The account must still be active. A reused token
/// ends its whole sign-in, which every process hears of (open sockets of that sign-in close).
pub async fn refresh(accounts: &Accounts, token: &str) -> Result<SignedIn, AppError> {
    let next = match refresh::rotate(&accounts.db, token, clock::now()).await? {
        Rotation::Rotated(next) => next,
        Rotation::FamilyRevoked => {
            accounts.announcer.accounts_changed().await;
            return Err(AppError::Unauthenticated(
                "this refresh token was already used; for safety every session from that sign-in has been ended".into(),
            ));
        }
    };
    match users::find(&accounts.db, next.user_id).await? {
        Some(user) if user.active => signed_in(&accounts.tokens, user, next.family_id, next.token),
        _ => Err(AppError::Unauthenticated("this account is deactivated".into())),
    }
}

/// Ends the sign-in the refresh token belongs to: its refresh tokens and the access tokens
/// issued with them stop working, on open sockets too. `false` when it had already ended.
pub async fn logout(accounts: &Accounts, refresh_token: &str) -> Result<bool, AppError> {
    let ended = refresh::logout(&accounts.db, refresh_token, clock::now()).await?;
    if ended {
        accounts.announcer.accounts_changed().await;
    }
    Ok(ended)
}

fn signed_in(keys: &TokenKeys, user: user::Model, sign_in: Uuid, refresh_token: String) -> Result<SignedIn, AppError> {
    Ok(SignedIn {
        access_token: keys.issue(&user, sign_in).map_err(AppError::Internal)?,
        expires_in: keys.ttl().as_secs() as i64,
        refresh_token,
        refresh_expires_in: refresh::LIFETIME.num_seconds(),
        user,
    })
}
