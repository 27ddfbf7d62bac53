//! argon2id password hashes, computed off the async runtime.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, Ordering},
};

use anyhow::Context;

use crate::error::AppError;
use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

/// One password verification per request (an HTTP request, a batch included, or one socket
/// message): argon2 is deliberately expensive, and a request naming `login` twenty times must not
/// make the server hash twenty times. Every request gets a budget; verifying spends it.
#[derive(Clone, Default)]
pub struct PasswordBudget(Arc<AtomicBool>);

/// The right to verify one password, handed out once per request by its budget.
pub struct PasswordCheck(());

impl PasswordBudget {
    /// The request's one check; `field` names the password input a second attempt is refused on.
    pub fn spend(&self, field: &'static str) -> Result<PasswordCheck, AppError> {
        if self.0.swap(true, Ordering::AcqRel) {
            return Err(AppError::bad_input(
                field,
                "cannot be checked: a request may check one password; send each sign-in or password change on its own",
            ));
        }
        Ok(PasswordCheck(()))
    }
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await.context("password hashing task")?
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks `password` against `stored`; with no stored hash (unknown account) it checks against
/// a dummy hash instead, so the answer takes as long either way and does not reveal which
/// accounts exist.
pub async fn verify(_check: PasswordCheck, password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let dummy_used = stored.is_none();
        let hash = match stored {
            Some(h) => h,
            None => dummy_hash()?.to_owned(),
        };
        let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(ok && !dummy_used)
    })
    .await
    .context("password verification task")?
}

fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h);
    }
    let h = hash_blocking(&crate::infra::secrets::random_token(16))?;
    Ok(DUMMY.get_or_init(|| h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        let check = || PasswordBudget::default().spend("password").unwrap();
        assert!(verify(check(), "correct horse battery".into(), Some(h.clone())).await.unwrap());
        assert!(!verify(check(), "wrong horse battery".into(), Some(h)).await.unwrap());
        assert!(!verify(check(), "anything at all".into(), None).await.unwrap());
    }

    #[test]
    fn a_budget_allows_one_check() {
        let budget = PasswordBudget::default();
        let shared = budget.clone();
        assert!(budget.spend("password").is_ok());
        assert_eq!(
            shared.spend("currentPassword").err().map(|e| e.code()),
            Some(crate::error::ErrorCode::BadUserInput)
        );
    }
}
