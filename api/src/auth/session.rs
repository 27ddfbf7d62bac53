//! The caller of one request, resolved from its `Authorization` header before any resolver runs,
//! and the checks resolvers use to demand a signed-in user or a role.

use entity::user::{self, Role};
use sea_orm::EntityTrait;

use super::tokens::TokenError;
use crate::{error::AppError, freshness::ReadAt, state::AppState};

#[derive(Clone)]
pub enum Session {
    Anonymous,
    /// A token was sent but cannot be honoured; says why.
    Rejected(String),
    User(user::Model),
}

impl Session {
    /// Reads the header value (if any). A valid token is not enough: the account must still
    /// exist and be active, the token must carry its current session version (a password
    /// change or deactivation ends older tokens), and its current role, not the token's, applies.
    /// The account is read again once anything has changed (see `freshness.rs`).
    /// `read` is taken before anything the caller goes on to read, so that an account changed
    /// meanwhile is not remembered as current.
    pub async fn resolve(header: Option<&str>, app: &AppState, read: ReadAt) -> Result<Self, AppError> {
        let Some(header) = header else {
            return Ok(Self::Anonymous);
        };
        let Some(token) = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")) else {
            return Ok(Self::Rejected("the Authorization header must be 'Bearer <accessToken>'".into()));
        };
        let claims = match app.tokens.verify(token.trim()) {
            Ok(claims) => claims,
            Err(e @ (TokenError::Expired | TokenError::Invalid)) => {
                return Ok(Self::Rejected(e.to_string()));
            }
        };
        let account = match app.signed_in.get(&claims.sub, read) {
            Some(user) => Some(user),
            None => {
                let found = user::Entity::find_by_id(claims.sub).one(&app.db).await?;
                if let Some(user) = &found {
                    app.signed_in.put(user.id, user.clone(), read);
                }
                found
            }
        };
        match account {
            Some(user) if user.active && user.session_version == claims.ver => Ok(Self::User(user)),
            Some(user) if user.active => {
                Ok(Self::Rejected("this session has ended (the password was changed); sign in again".into()))
            }
            _ => Ok(Self::Rejected("this account is deactivated or no longer exists".into())),
        }
    }

    pub fn signed_in(&self) -> Result<&user::Model, AppError> {
        match self {
            Self::User(user) => Ok(user),
            Self::Anonymous => Err(AppError::Unauthenticated(
                "sign in first: call the login mutation and send 'Authorization: Bearer <accessToken>'".into(),
            )),
            Self::Rejected(why) => Err(AppError::Unauthenticated(why.clone())),
        }
    }

    /// Attorneys and admins: the people who work the leads.
    pub fn staff(&self) -> Result<&user::Model, AppError> {
        self.with_role(&[Role::Attorney, Role::Admin], "an attorney or an admin")
    }

    pub fn admin(&self) -> Result<&user::Model, AppError> {
        self.with_role(&[Role::Admin], "an admin")
    }

    fn with_role(&self, roles: &[Role], who: &str) -> Result<&user::Model, AppError> {
        let user = self.signed_in()?;
        if roles.contains(&user.role) { Ok(user) } else { Err(AppError::Forbidden(format!("only {who} may do this"))) }
    }
}
