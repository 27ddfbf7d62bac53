//! Leased job rows (mail, webhook deliveries, file deletions): a worker claims due rows by
//! setting `locked_until`, and renews that while it works on them, so a short lease is enough:
//! a live worker never loses its rows however long a send takes, and a dead worker's rows are
//! claimed again as soon as their lease runs out. Each claim counts as an attempt, so a row
//! whose worker keeps dying still runs out of attempts.

use std::{collections::HashSet, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query},
};
use uuid::Uuid;

/// The lease of webhook deliveries and file deletions (mail has `INTAKE_MAIL_LEASE`).
pub const LEASE: Duration = Duration::from_secs(30);

/// A table of leased rows: the columns every one of them has.
pub trait Leased: EntityTrait {
    fn id() -> Self::Column;
    fn run_at() -> Self::Column;
    fn locked_until() -> Self::Column;
    fn attempts() -> Self::Column;
    /// Rows due at the same time are taken in the order they were written (their ids are
    /// UUIDv7): for webhook deliveries, whose receiver sees one endpoint's events in order.
    /// Off elsewhere: SQLite then sorted every due mail instead of reading its index in order.
    const IN_WRITING_ORDER: bool = false;
}

/// Takes up to `limit` rows due at `now` that also meet `only`, oldest due first, and leases
/// them until `now + lease`, in one statement, so that two workers never take the same row.
/// On PostgreSQL rows locked by another worker's claim are skipped rather than waited for;
/// SQLite runs one writer at a time anyway.
pub async fn claim<E: Leased>(
    conn: &impl ConnectionTrait,
    only: Condition,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<E::Model>, DbErr> {
    let mut due = Query::select();
    due.column(E::id())
        .from(E::default())
        .cond_where(only)
        .and_where(Expr::col(E::run_at()).lte(now))
        .and_where(Expr::col(E::locked_until()).is_null().or(Expr::col(E::locked_until()).lte(now)))
        .order_by(E::run_at(), Order::Asc)
        .limit(limit);
    if E::IN_WRITING_ORDER {
        due.order_by(E::id(), Order::Asc);
    }
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    E::update_many()
        .col_expr(E::locked_until(), Expr::value(now + lease))
        .col_expr(E::attempts(), Expr::col(E::attempts()).add(1))
        .filter(E::id().in_subquery(due))
        .exec_with_returning(conn)
        .await
}

/// The rows a worker holds: claimed and not settled yet.
pub struct Held(Mutex<HashSet<Uuid>>);

impl Held {
    pub fn new(ids: impl IntoIterator<Item = Uuid>) -> Self {
        Self(Mutex::new(ids.into_iter().collect()))
    }

    pub fn release(&self, ids: impl IntoIterator<Item = Uuid>) {
        let mut held = self.0.lock().expect("not poisoned");
        for id in ids {
            held.remove(&id);
        }
    }

    fn ids(&self) -> Vec<Uuid> {
        self.0.lock().expect("not poisoned").iter().copied().collect()
    }
}

/// Runs `work`, renewing the lease of the rows still `held` every third of `lease` until it
/// ends. A renewal that fails (the database is away) is tried again at the next beat; rows
/// settled meanwhile have no lease left to renew and are not touched.
pub async fn renewing<E: Leased, T>(
    conn: &impl ConnectionTrait,
    held: &Held,
    lease: Duration,
    work: impl Future<Output = T>,
) -> T {
    let beat = (lease / 3).max(Duration::from_millis(100));
    let heartbeat = async {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let ids = held.ids();
            if ids.is_empty() {
                continue;
            }
            if let Err(e) = renew::<E>(conn, &ids, crate::infra::clock::now() + lease).await {
                tracing::warn!(error = %e, rows = ids.len(), "renewing a lease failed; will try again");
            }
        }
    };
    tokio::select! {
        out = work => out,
        () = heartbeat => unreachable!("the heartbeat beats until the work ends"),
    }
}

async fn renew<E: Leased>(conn: &impl ConnectionTrait, ids: &[Uuid], until: DateTime<Utc>) -> Result<(), DbErr> {
    for ids in ids.chunks(500) {
        E::update_many()
            .col_expr(E::locked_until(), Expr::value(until))
            .filter(E::id().is_in(ids.iter().copied()))
            .filter(E::locked_until().is_not_null())
            .exec(conn)
            .await?;
    }
    Ok(())
}

macro_rules! leased {
    ($($entity:ident $(in $order:ident)?),*) => {$(
        impl Leased for entity::$entity::Entity {
            fn id() -> Self::Column { entity::$entity::Column::Id }
            fn run_at() -> Self::Column { entity::$entity::Column::RunAt }
            fn locked_until() -> Self::Column { entity::$entity::Column::LockedUntil }
            fn attempts() -> Self::Column { entity::$entity::Column::Attempts }
            $(const IN_WRITING_ORDER: bool = leased!(@$order);)?
        }
    )*};
    (@writing_order) => { true };
}

leased!(email_job, webhook_delivery in writing_order, deletion_job);
