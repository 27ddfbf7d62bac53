//! Round-robin assignment (`INTAKE_ASSIGNMENT=round_robin`): new leads go to the active
//! attorneys in turn. The turn is one shared counter in the database, bumped in the
//! transaction that writes the leads, so API replicas and concurrent submissions take turns
//! from the same sequence and no attorney is skipped or served twice in a row.

use entity::user::{self, Role};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

pub struct Attorney {
    pub id: Uuid,
    pub email: String,
}

/// The attorneys whose turn it is for the next `count` leads, in order; empty when there is
/// no active attorney (the leads then stay unassigned).
pub async fn next_attorneys(conn: &impl ConnectionTrait, count: usize) -> Result<Vec<Attorney>, DbErr> {
    let attorneys: Vec<(Uuid, String)> = user::Entity::find()
        .select_only()
        .columns([user::Column::Id, user::Column::Email])
        .filter(user::Column::Active.eq(true))
        .filter(user::Column::Role.eq(Role::Attorney))
        .order_by_asc(user::Column::CreatedAt)
        .order_by_asc(user::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    if attorneys.is_empty() || count == 0 {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "UPDATE counters SET value = value + $1 WHERE name = 'round_robin' RETURNING value"
        }
        _ => "UPDATE counters SET value = value + ? WHERE name = 'round_robin' RETURNING value",
    };
    // The row lock it takes also makes concurrent writers take their turns one after another.
    let bumped = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [(count as i64).into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the round-robin counter (migration 5)".into()))?;
    let end: i64 = bumped.try_get_by_index(0)?;
    let start = end - count as i64;
    let n = attorneys.len() as i64;
    Ok((start..end)
        .map(|turn| {
            let (id, email) = &attorneys[turn.rem_euclid(n) as usize];
            Attorney { id: *id, email: email.clone() }
        })
        .collect())
}
