//! Access tokens: HS256 JWTs carrying the user id, role and the sign-in they belong to.

use std::time::Duration;

use entity::user;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "intake";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: String,
    /// The user's session version at issue; a later password change or deactivation bumps it.
    pub ver: i32,
    /// The sign-in (refresh-token family) the token was issued to: logging out of it, or the
    /// reuse of one of its refresh tokens, ends the token too.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired; sign in again")]
    Expired,
    #[error("the access token is not valid")]
    Invalid,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        // Only HS256 with our issuer: a token naming another algorithm (or none) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.leeway = 5;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation, ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user: &user::Model, sign_in: Uuid) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.id,
            role: role_name(user.role).into(),
            ver: user.session_version,
            sid: sign_in,
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            iss: ISSUER.into(),
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            }
        })
    }
}

pub fn role_name(role: user::Role) -> &'static str {
    match role {
        user::Role::Admin => "ADMIN",
        user::Role::Attorney => "ATTORNEY",
    }
}
