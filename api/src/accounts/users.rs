//! Accounts: creating them, signing in, and the first admin.

use chrono::{DateTime, Utc};
use entity::user::{self, Role};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    accounts::session::Admin,
    accounts::{password, password::PasswordCheck, refresh},
    error::AppError,
    infra::announce::Announcer,
    infra::clock,
    infra::validate,
};

#[derive(Clone)]
pub struct AdminBootstrap {
    pub email: String,
    pub password: Option<String>,
}

impl Default for AdminBootstrap {
    /// `admin@localhost` with a random password, printed once.
    fn default() -> Self {
        Self { email: "admin@localhost".into(), password: None }
    }
}

pub struct NewUser {
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub password: String,
}

/// An admin adds an account.
pub async fn create(
    db: &impl ConnectionTrait,
    announcer: &Announcer,
    _by: Admin<'_>,
    input: NewUser,
) -> Result<user::Model, AppError> {
    create_as_operator(db, announcer, input).await
}

/// The operator adds an account from the command line (whoever runs it controls the server and
/// its database anyway), and the first admin is made at start-up.
pub async fn create_as_operator(
    db: &impl ConnectionTrait,
    announcer: &Announcer,
    input: NewUser,
) -> Result<user::Model, AppError> {
    let user = insert(db, input).await?;
    announcer.accounts_changed().await;
    Ok(user)
}

async fn insert(db: &impl ConnectionTrait, input: NewUser) -> Result<user::Model, AppError> {
    let email = validate::email(&input.email).map_err(|m| AppError::bad_input("email", m))?.to_lowercase();
    let full_name = validate::person_name(&input.full_name).map_err(|m| AppError::bad_input("fullName", m))?;
    validate::password(&input.password).map_err(|m| AppError::bad_input("password", m))?;
    if input.password.eq_ignore_ascii_case(&email) {
        return Err(AppError::bad_input("password", "must not be the email address"));
    }
    if find_by_email(db, &email).await?.is_some() {
        return Err(AppError::bad_input("email", "is already used by another account"));
    }
    let now = clock::now();
    let row = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email),
        full_name: Set(full_name),
        role: Set(input.role),
        password_hash: Set(password::hash(input.password).await?),
        active: Set(true),
        session_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    };
    user::Entity::insert(row).exec_with_returning(db).await.map_err(|e| match e.sql_err() {
        // Lost a race with a concurrent create of the same email.
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::bad_input("email", "is already used by another account")
        }
        _ => e.into(),
    })
}

pub async fn list(db: &impl ConnectionTrait, _by: Admin<'_>) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find().order_by_asc(user::Column::CreatedAt).all(db).await
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find().filter(user::Column::Email.eq(email.trim().to_lowercase())).one(db).await
}

/// Checks the credentials. Unknown email, wrong password and deactivated account all get the
/// same answer, after the same amount of work.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    check: PasswordCheck,
    email: &str,
    password: &str,
) -> Result<user::Model, AppError> {
    let user = find_by_email(db, email).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = password::verify(check, password.to_owned(), stored).await?;
    match user {
        Some(user) if matches && user.active => Ok(user),
        _ => Err(AppError::Unauthenticated("wrong email or password".into())),
    }
}

/// The active accounts' roles and addresses, which every submission's mails need: read again
/// once any account changes (here or, on PostgreSQL, in any process) and at least every
/// `max_age`, which bounds a change no announcement covers (the CLI, a second process on
/// SQLite). Saves a query per submission.
#[derive(Clone)]
pub struct StaffDirectory {
    accounts: watch::Receiver<u64>,
    max_age: Duration,
    kept: Arc<Mutex<Option<KeptStaff>>>,
}

struct KeptStaff {
    /// The accounts' change count when it was read.
    version: u64,
    at: Instant,
    staff: Arc<[(Role, String)]>,
}

impl StaffDirectory {
    pub fn new(announcer: &Announcer, max_age: Duration) -> Self {
        Self { accounts: announcer.accounts(), max_age, kept: Arc::default() }
    }

    /// As `active_staff_emails`.
    pub async fn active(&self, db: &impl ConnectionTrait) -> Result<Arc<[(Role, String)]>, DbErr> {
        // Noted before reading: a change committed while it is read makes it stale at once.
        let (version, at) = (*self.accounts.borrow(), Instant::now());
        if let Some(kept) = self.kept.lock().expect("not poisoned").as_ref()
            && kept.version == version
            && kept.at.elapsed() < self.max_age
        {
            return Ok(kept.staff.clone());
        }
        let staff: Arc<[(Role, String)]> = active_staff_emails(db).await?.into();
        *self.kept.lock().expect("not poisoned") = Some(KeptStaff { version, at, staff: staff.clone() });
        Ok(staff)
    }
}

/// The role and address of every active account, oldest first, in one query.
pub async fn active_staff_emails(db: &impl ConnectionTrait) -> Result<Vec<(Role, String)>, DbErr> {
    user::Entity::find()
        .select_only()
        .columns([user::Column::Role, user::Column::Email])
        .filter(user::Column::Active.eq(true))
        .order_by_asc(user::Column::CreatedAt)
        .into_tuple()
        .all(db)
        .await
}

async fn count_active(db: &impl ConnectionTrait, role: Role) -> Result<u64, DbErr> {
    user::Entity::find().filter(user::Column::Role.eq(role)).filter(user::Column::Active.eq(true)).count(db).await
}

pub struct BootstrappedAdmin {
    pub email: String,
    /// Set when the password was generated and must be shown to the operator, once.
    pub generated_password: Option<String>,
}

/// Makes sure an admin exists, so a fresh installation can be signed into.
pub async fn ensure_admin(
    db: &impl ConnectionTrait,
    announcer: &Announcer,
    bootstrap: &AdminBootstrap,
) -> Result<Option<BootstrappedAdmin>, AppError> {
    let admins = user::Entity::find().filter(user::Column::Role.eq(Role::Admin)).count(db).await?;
    if admins > 0 {
        return Ok(None);
    }
    let generated = bootstrap.password.is_none().then(|| crate::infra::secrets::random_token(18));
    let password = bootstrap.password.clone().or(generated.clone()).unwrap_or_default();
    let admin = create_as_operator(
        db,
        announcer,
        NewUser { email: bootstrap.email.clone(), full_name: "Administrator".into(), role: Role::Admin, password },
    )
    .await?;
    Ok(Some(BootstrappedAdmin { email: admin.email, generated_password: generated }))
}

fn check_password_policy(password: &str, email: &str, field: &'static str) -> Result<(), AppError> {
    validate::password(password).map_err(|m| AppError::bad_input(field, m))?;
    if password.trim().eq_ignore_ascii_case(email) {
        return Err(AppError::bad_input(field, "must not be the email address"));
    }
    Ok(())
}

/// What an admin may change about an account; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChanges {
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// Applies `changes`. The last active admin can be neither demoted nor deactivated, so the
/// installation can always be administered. Deactivating ends the account's sessions.
pub async fn update(
    db: &DatabaseConnection,
    announcer: &Announcer,
    _by: Admin<'_>,
    id: Uuid,
    changes: UserChanges,
) -> Result<user::Model, AppError> {
    let full_name = changes
        .full_name
        .map(|n| validate::person_name(&n).map_err(|m| AppError::bad_input("fullName", m)))
        .transpose()?;
    let txn = crate::infra::db::begin_write(db).await?;
    let current = find(&txn, id).await?.ok_or(AppError::NotFound("user"))?;
    let loses_admin = current.role == Role::Admin
        && current.active
        && (changes.role.is_some_and(|r| r != Role::Admin) || changes.active == Some(false));
    if loses_admin && count_active(&txn, Role::Admin).await? <= 1 {
        let field = if changes.active == Some(false) { "active" } else { "role" };
        return Err(AppError::bad_input(
            field,
            "cannot be changed: this is the last active admin; make another admin first",
        ));
    }
    let deactivated = current.active && changes.active == Some(false);
    let now = clock::now();
    let mut row = current.clone().into_active_model();
    if let Some(name) = full_name {
        row.full_name = Set(name);
    }
    if let Some(role) = changes.role {
        row.role = Set(role);
    }
    if let Some(active) = changes.active {
        row.active = Set(active);
    }
    row.updated_at = Set(now);
    let mut updated = row.update(&txn).await?;
    if deactivated {
        updated = end_sessions(&txn, id, now).await?;
    }
    txn.commit().await?;
    announcer.accounts_changed().await;
    tracing::info!(user = %id, deactivated, "account updated");
    Ok(updated)
}

/// Sets a new password (policy checked), ending every session of the account.
/// An admin sets a new password for an account, ending its sessions.
pub async fn reset_password(
    db: &DatabaseConnection,
    announcer: &Announcer,
    _by: Admin<'_>,
    id: Uuid,
    new_password: String,
) -> Result<user::Model, AppError> {
    let target = find(db, id).await?.ok_or(AppError::NotFound("user"))?;
    set_password(db, announcer, &target, new_password, "password").await
}

pub async fn set_password(
    db: &DatabaseConnection,
    announcer: &Announcer,
    user: &user::Model,
    new_password: String,
    field: &'static str,
) -> Result<user::Model, AppError> {
    check_password_policy(&new_password, &user.email, field)?;
    let hash = password::hash(new_password).await?;
    let txn = crate::infra::db::begin_write(db).await?;
    let now = clock::now();
    let mut row = user.clone().into_active_model();
    row.password_hash = Set(hash);
    row.updated_at = Set(now);
    row.update(&txn).await?;
    let updated = end_sessions(&txn, user.id, now).await?;
    txn.commit().await?;
    announcer.accounts_changed().await;
    tracing::info!(user = %user.id, "password changed; sessions ended");
    Ok(updated)
}

/// Ends every session of an account: older access tokens stop matching its session version and
/// its refresh tokens are revoked. The version is incremented in SQL, so two changes at once
/// cannot both write the same next value.
async fn end_sessions(txn: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<user::Model, DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::SessionVersion, Expr::col(user::Column::SessionVersion).add(1))
        .filter(user::Column::Id.eq(id))
        .exec(txn)
        .await?;
    refresh::revoke_user(txn, id, now).await?;
    find(txn, id).await?.ok_or_else(|| DbErr::RecordNotFound("user".into()))
}

/// The signed-in user changes their own password, proving they know the current one.
/// Whether `current` is the user's password.
pub async fn confirm_password(check: PasswordCheck, user: &user::Model, current: &str) -> Result<bool, AppError> {
    Ok(password::verify(check, current.to_owned(), Some(user.password_hash.clone())).await?)
}
