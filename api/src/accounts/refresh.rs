//! Refresh tokens: opaque, stored only as hashes, valid 7 days, exchanged for a new one on every
//! use. A token presented after it was exchanged means it leaked: the whole family (every token
//! descending from that sign-in) is revoked.

use chrono::{DateTime, Duration, Utc};
use entity::refresh_token;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, Query, SimpleExpr},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{error::AppError, infra::secrets};

pub const LIFETIME: Duration = Duration::days(7);

/// Starts a new family for a fresh sign-in; returns the family (the sign-in's id) and the token
/// to hand to the client.
pub async fn start(conn: &impl ConnectionTrait, user_id: Uuid, now: DateTime<Utc>) -> Result<(Uuid, String), DbErr> {
    let family = Uuid::now_v7();
    Ok((family, issue(conn, user_id, family, now).await?))
}

async fn issue(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<String, DbErr> {
    let token = secrets::random_token(32);
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        family_id: Set(family_id),
        token_hash: Set(hash(&token)),
        expires_at: Set(now + LIFETIME),
        created_at: Set(now),
        rotated_at: Set(None),
        revoked_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(token)
}

/// A refresh token exchanged for the next one of its family.
pub struct Rotated {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token: String,
}

/// What presenting a refresh token did.
pub enum Rotation {
    Rotated(Rotated),
    /// The token had been used before: it leaked, and its whole family (every session of that
    /// sign-in) has been ended.
    FamilyRevoked,
}

/// Exchanges `token` for a new one in the same family.
pub async fn rotate(conn: &impl ConnectionTrait, token: &str, now: DateTime<Utc>) -> Result<Rotation, AppError> {
    use refresh_token::Column as C;
    let invalid = || AppError::Unauthenticated("the refresh token is not valid; sign in again".into());
    let row =
        refresh_token::Entity::find().filter(C::TokenHash.eq(hash(token))).one(conn).await?.ok_or_else(invalid)?;
    if row.revoked_at.is_some() {
        return Err(AppError::Unauthenticated("this session has ended; sign in again".into()));
    }
    // Claim the rotation atomically, so two concurrent uses cannot both succeed.
    let claimed = refresh_token::Entity::update_many()
        .col_expr(C::RotatedAt, Expr::value(now))
        .filter(C::Id.eq(row.id))
        .filter(C::RotatedAt.is_null())
        .filter(C::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected
        == 1;
    if !claimed {
        revoke_family(conn, row.family_id, now).await?;
        tracing::warn!(user = %row.user_id, family = %row.family_id, "a rotated refresh token was reused; its family is revoked");
        return Ok(Rotation::FamilyRevoked);
    }
    if row.expires_at <= now {
        return Err(AppError::Unauthenticated("the refresh token has expired; sign in again".into()));
    }
    let token = issue(conn, row.user_id, row.family_id, now).await?;
    Ok(Rotation::Rotated(Rotated { user_id: row.user_id, family_id: row.family_id, token }))
}

/// Ends the sign-in `token` belongs to. `false` when it was unknown or already ended.
pub async fn logout(conn: &impl ConnectionTrait, token: &str, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let row = refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(hash(token))).one(conn).await?;
    match row {
        Some(row) if row.revoked_at.is_none() => {
            revoke_family(conn, row.family_id, now).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Whether the sign-in `family_id` of `user_id` is still live (not logged out, not revoked).
/// As a condition on the user's row, so that one query reads the account and its sign-in.
pub fn live_condition(user_id: Uuid, family_id: Uuid) -> SimpleExpr {
    use refresh_token::Column as C;
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(refresh_token::Entity)
            .and_where(Expr::col((refresh_token::Entity, C::FamilyId)).eq(family_id))
            .and_where(Expr::col((refresh_token::Entity, C::UserId)).eq(user_id))
            .and_where(Expr::col((refresh_token::Entity, C::RevokedAt)).is_null())
            .to_owned(),
    )
}

/// Ends every sign-in of a user (password changed, account deactivated).
pub async fn revoke_user(conn: &impl ConnectionTrait, user_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    use refresh_token::Column as C;
    refresh_token::Entity::update_many()
        .col_expr(C::RevokedAt, Expr::value(now))
        .filter(C::UserId.eq(user_id))
        .filter(C::RevokedAt.is_null())
        .exec(conn)
        .await
        .map(drop)
}

async fn revoke_family(conn: &impl ConnectionTrait, family_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    use refresh_token::Column as C;
    refresh_token::Entity::update_many()
        .col_expr(C::RevokedAt, Expr::value(now))
        .filter(C::FamilyId.eq(family_id))
        .filter(Expr::col(C::RevokedAt).is_null())
        .exec(conn)
        .await
        .map(drop)
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
