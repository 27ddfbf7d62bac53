//! Accounts: creating them, signing in, and the first admin.

use entity::user::{self, Role};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, SqlErr,
};
use uuid::Uuid;

use crate::{auth::password, clock, config::AdminBootstrap, error::AppError, validate};

pub struct NewUser {
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub password: String,
}

pub async fn create(db: &impl ConnectionTrait, input: NewUser) -> Result<user::Model, AppError> {
    let email = validate::email(&input.email)
        .map_err(|m| AppError::bad_input("email", m))?
        .to_lowercase();
    let full_name =
        validate::person_name(&input.full_name).map_err(|m| AppError::bad_input("fullName", m))?;
    validate::password(&input.password).map_err(|m| AppError::bad_input("password", m))?;
    if input.password.eq_ignore_ascii_case(&email) {
        return Err(AppError::bad_input(
            "password",
            "must not be the email address",
        ));
    }
    if find_by_email(db, &email).await?.is_some() {
        return Err(AppError::bad_input(
            "email",
            "is already used by another account",
        ));
    }
    let now = clock::now();
    let row = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email),
        full_name: Set(full_name),
        role: Set(input.role),
        password_hash: Set(password::hash(input.password).await?),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    user::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .map_err(|e| match e.sql_err() {
            // Lost a race with a concurrent create of the same email.
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                AppError::bad_input("email", "is already used by another account")
            }
            _ => e.into(),
        })
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .order_by_asc(user::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .one(db)
        .await
}

/// Checks the credentials. Unknown email, wrong password and deactivated account all get the
/// same answer, after the same amount of work.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    email: &str,
    password: &str,
) -> Result<user::Model, AppError> {
    let user = find_by_email(db, email).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = password::verify(password.to_owned(), stored).await?;
    match user {
        Some(user) if matches && user.active => Ok(user),
        _ => Err(AppError::Unauthenticated("wrong email or password".into())),
    }
}

/// Active users with `role`, oldest first.
pub async fn active_with_role(
    db: &impl ConnectionTrait,
    role: Role,
) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Role.eq(role))
        .filter(user::Column::Active.eq(true))
        .order_by_asc(user::Column::CreatedAt)
        .all(db)
        .await
}

pub struct BootstrappedAdmin {
    pub email: String,
    /// Set when the password was generated and must be shown to the operator, once.
    pub generated_password: Option<String>,
}

/// Makes sure an admin exists, so a fresh installation can be signed into.
pub async fn ensure_admin(
    db: &impl ConnectionTrait,
    bootstrap: &AdminBootstrap,
) -> Result<Option<BootstrappedAdmin>, AppError> {
    let admins = user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin))
        .count(db)
        .await?;
    if admins > 0 {
        return Ok(None);
    }
    let generated = bootstrap
        .password
        .is_none()
        .then(|| crate::secrets::random_token(18));
    let password = bootstrap
        .password
        .clone()
        .or(generated.clone())
        .unwrap_or_default();
    let admin = create(
        db,
        NewUser {
            email: bootstrap.email.clone(),
            full_name: "Administrator".into(),
            role: Role::Admin,
            password,
        },
    )
    .await?;
    Ok(Some(BootstrappedAdmin {
        email: admin.email,
        generated_password: generated,
    }))
}
