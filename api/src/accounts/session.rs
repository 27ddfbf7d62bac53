//! The caller of one request, resolved from its `Authorization` header before any resolver runs,
//! and the checks resolvers use to demand a signed-in user or a role.

use entity::{
    api_key,
    user::{self, Role},
};
use sea_orm::{EntityTrait, QueryFilter};

use super::api_keys::{self, ApiScope};
use super::service::Accounts;
use super::{refresh, tokens::Claims};
use crate::{error::AppError, infra::freshness::ReadAt};

/// What every refused token is told, whatever the reason (bad signature, expired, ended by a
/// password change, logout or deactivation, unknown account): the answer is no oracle.
pub const TOKEN_REFUSED: &str =
    "the access token is not valid or has expired; sign in again or exchange your refresh token";
pub const KEY_REFUSED: &str = "this API key is not valid: it is unknown, revoked or expired";

#[derive(Clone)]
pub enum Session {
    Anonymous,
    /// A token was sent but cannot be honoured.
    Rejected,
    /// The header was not `Bearer <token>`.
    Malformed,
    User(user::Model),
    /// Another system of the firm's, by a live API key: only what its scopes allow.
    ApiKey(api_key::Model),
    /// An API key was sent that is unknown, revoked or expired.
    RejectedKey,
}

/// What an API key is told when it tries what no key may do.
const NOT_FOR_KEYS: &str = "an API key cannot do this; sign in as a user";

impl Session {
    /// Reads the header value (if any); see `account`.
    pub async fn resolve(header: Option<&str>, accounts: &Accounts) -> Result<Self, AppError> {
        let Some(header) = header else {
            return Ok(Self::Anonymous);
        };
        let Some(token) = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")) else {
            return Ok(Self::Malformed);
        };
        if api_keys::looks_like_key(token.trim()) {
            return Ok(match api_keys::authenticate(&accounts.db, token.trim()).await? {
                Some(key) => Self::ApiKey(key),
                None => Self::RejectedKey,
            });
        }
        Ok(match account(token.trim(), accounts).await? {
            Some((_, user)) => Self::User(user),
            None => Self::Rejected,
        })
    }

    /// The holder of a signed download link: the user it was issued to, while their account
    /// is active (deactivation ends their links as it ends their tokens; their current role
    /// applies).
    pub async fn link_holder(accounts: &Accounts, user_id: uuid::Uuid) -> Result<Self, AppError> {
        Ok(match user::Entity::find_by_id(user_id).one(&accounts.db).await? {
            Some(user) if user.active => Self::User(user),
            _ => Self::Rejected,
        })
    }

    pub fn signed_in(&self) -> Result<&user::Model, AppError> {
        match self {
            Self::User(user) => Ok(user),
            Self::Anonymous => Err(AppError::Unauthenticated(
                "sign in first: call the login mutation and send 'Authorization: Bearer <accessToken>'".into(),
            )),
            Self::Malformed => {
                Err(AppError::Unauthenticated("the Authorization header must be 'Bearer <accessToken>'".into()))
            }
            Self::Rejected => Err(AppError::Unauthenticated(TOKEN_REFUSED.into())),
            Self::RejectedKey => Err(AppError::Unauthenticated(KEY_REFUSED.into())),
            Self::ApiKey(_) => Err(AppError::Forbidden(NOT_FOR_KEYS.into())),
        }
    }

    /// Who may read leads: attorneys and admins, and API keys with LEADS_READ.
    pub fn reader(&self) -> Result<Reader<'_>, AppError> {
        match self {
            Self::ApiKey(key) if api_keys::has_scope(key, ApiScope::LeadsRead) => Ok(Reader::Key(key)),
            Self::ApiKey(_) => Err(AppError::Forbidden("this API key lacks the LEADS_READ scope".into())),
            _ => self.staff().map(Reader::Staff),
        }
    }

    /// Who submits a lead: anyone, or (when one is sent) a live API key with LEADS_SUBMIT,
    /// returned so that it is counted and named as the source.
    pub fn submitter(&self) -> Result<Option<&api_key::Model>, AppError> {
        match self {
            Self::ApiKey(key) if api_keys::has_scope(key, ApiScope::LeadsSubmit) => Ok(Some(key)),
            Self::ApiKey(_) => Err(AppError::Forbidden("this API key lacks the LEADS_SUBMIT scope".into())),
            Self::RejectedKey => Err(AppError::Unauthenticated(KEY_REFUSED.into())),
            _ => Ok(None),
        }
    }

    /// For the public operations besides `submitLead` (signing in and out): no API key.
    pub fn not_a_key(&self) -> Result<(), AppError> {
        match self {
            Self::ApiKey(_) => Err(AppError::Forbidden(NOT_FOR_KEYS.into())),
            Self::RejectedKey => Err(AppError::Unauthenticated(KEY_REFUSED.into())),
            _ => Ok(()),
        }
    }

    /// Attorneys and admins: the people who work the leads. The proof is what the domain
    /// functions reserved to them take.
    pub fn staff(&self) -> Result<Staff<'_>, AppError> {
        self.with_role(&[Role::Attorney, Role::Admin], "an attorney or an admin").map(Staff)
    }

    pub fn admin(&self) -> Result<Admin<'_>, AppError> {
        self.with_role(&[Role::Admin], "an admin").map(Admin)
    }

    fn with_role(&self, roles: &[Role], who: &str) -> Result<&user::Model, AppError> {
        let user = self.signed_in()?;
        if roles.contains(&user.role) { Ok(user) } else { Err(AppError::Forbidden(format!("only {who} may do this"))) }
    }
}

/// Proof that the caller is an attorney or an admin; only `Session::staff` makes one.
#[derive(Clone, Copy)]
pub struct Staff<'a>(&'a user::Model);

impl<'a> Staff<'a> {
    pub fn user(self) -> &'a user::Model {
        self.0
    }
}

/// Proof that the caller may read leads; only `Session::reader` makes one.
#[derive(Clone, Copy)]
pub enum Reader<'a> {
    Staff(Staff<'a>),
    Key(&'a api_key::Model),
}

impl<'a> From<Staff<'a>> for Reader<'a> {
    fn from(staff: Staff<'a>) -> Self {
        Self::Staff(staff)
    }
}

/// Proof that the caller is an admin; only `Session::admin` makes one.
#[derive(Clone, Copy)]
pub struct Admin<'a>(&'a user::Model);

impl<'a> Admin<'a> {
    pub fn user(self) -> &'a user::Model {
        self.0
    }

    /// An admin works leads too.
    pub fn staff(self) -> Staff<'a> {
        Staff(self.0)
    }
}

/// The account behind an access token, or `None` when the token cannot be honoured. A valid
/// signature is not enough: the account must still exist and be active, the token must carry
/// its current session version (a password change or deactivation ends older tokens), its
/// sign-in must not have ended (logout, a reused refresh token), and the account's current
/// role, not the token's, applies. The account is read again once any account or sign-in has
/// changed, here or (on PostgreSQL) in any process, and at least every `INTAKE_READ_CACHE_MS`
/// (see `freshness.rs`); the count is taken before reading, so that an account changed
/// meanwhile is not remembered as current.
pub async fn account(token: &str, accounts: &Accounts) -> Result<Option<(Claims, user::Model)>, AppError> {
    let read = ReadAt::counting(accounts.announcer.accounts_version());
    let claims = match accounts.tokens.verify(token) {
        Ok(claims) => claims,
        Err(why) => {
            tracing::debug!(%why, "access token refused");
            return Ok(None);
        }
    };
    let key = (claims.sub, claims.sid);
    let found = match accounts.signed_in.get(&key, read) {
        Some(user) => Some(user),
        None => {
            let found = user::Entity::find_by_id(claims.sub)
                .filter(refresh::live_condition(claims.sub, claims.sid))
                .one(&accounts.db)
                .await?;
            if let Some(user) = &found {
                accounts.signed_in.put(key, user.clone(), read);
            }
            found
        }
    };
    Ok(match found {
        Some(user) if user.active && user.session_version == claims.ver => Some((claims, user)),
        _ => {
            tracing::debug!(user = %claims.sub, "access token refused: its account or sign-in has ended");
            None
        }
    })
}
