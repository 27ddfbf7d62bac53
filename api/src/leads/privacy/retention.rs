//! Keep no longer than needed: with `INTAKE_RETENTION` set, the worker erases (reason
//! `retention`) every lead submitted longer ago than that, unless it was RETAINED or is on
//! legal hold — in batches, at most once per interval across every worker process.

use std::time::Duration;

use chrono::{DateTime, Months, Utc};
use entity::{
    lead::{self, LeadOutcome},
    schedule,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::erase::{RETENTION, erase_lead};
use crate::{
    accounts::session::Admin,
    error::AppError,
    infra::clock,
    leads::{history::Actor, service::Leads},
};

/// How long leads are kept: a span of time, or calendar months (`18mo`: the same day and time
/// eighteen months on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionPeriod {
    Span(Duration),
    Months(u32),
}

impl RetentionPeriod {
    /// Reads `365d`, `18mo`, `2y`, `6w`, `12h`, `30min`, `30s`; `off` is `None`.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
        let (number, unit) = raw.split_at(split);
        let n: u32 = number
            .parse()
            .map_err(|_| format!("'{raw}' is not a number and a unit, e.g. 365d, 18mo, 12h, 30s, or off"))?;
        if n == 0 {
            return Err(format!("'{raw}': a retention period must be longer than zero (or off)"));
        }
        let secs = |per: u64| Ok(Some(Self::Span(Duration::from_secs(u64::from(n) * per))));
        match unit.trim() {
            "s" => secs(1),
            "min" => secs(60),
            "h" => secs(3600),
            "d" => secs(86_400),
            "w" => secs(7 * 86_400),
            "mo" => Ok(Some(Self::Months(n))),
            "y" => Ok(Some(Self::Months(n.saturating_mul(12)))),
            // Erasing after 18 minutes what was meant to be kept 18 months cannot be undone.
            "m" => Err(format!("'{raw}': 'm' could be minutes or months; write {n}min or {n}mo")),
            other => Err(format!("'{raw}': unit '{other}' is not s, min, h, d, w, mo or y")),
        }
    }

    /// Leads submitted before this are past the period at `now`.
    pub fn cutoff(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Span(span) => now - chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX),
            Self::Months(n) => now.checked_sub_months(Months::new(n)).unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RetentionSettings {
    /// `None`: leads are kept until erased by hand.
    pub period: Option<RetentionPeriod>,
    /// The least time between two sweeps, across processes.
    pub interval: Duration,
    /// How often a worker asks whether a sweep is due (the first time right after it starts).
    pub check_every: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self { period: None, interval: Duration::from_secs(3600), check_every: Duration::from_secs(60) }
    }
}

/// Leads erased per batch.
const BATCH: u64 = 100;
const SCHEDULE: &str = "retention";

/// How many leads the next sweep would erase now.
pub async fn preview(leads: &Leads, period: Option<RetentionPeriod>, _by: Admin<'_>) -> Result<u64, AppError> {
    let Some(period) = period else { return Ok(0) };
    Ok(lead::Entity::find().filter(expired(period, clock::now())).count(&leads.db).await?)
}

/// Past the period, not erased, not retained, not held.
fn expired(period: RetentionPeriod, now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(lead::Column::ErasedAt.is_null())
        .add(lead::Column::CreatedAt.lt(period.cutoff(now)))
        .add(lead::Column::LegalHold.eq(false))
        .add(lead::Column::Outcome.ne(LeadOutcome::Retained))
}

/// Runs until `shutdown`: asks at once, then every `check_every`, whether a sweep is due, and
/// sweeps if this process is the one that claimed it.
pub async fn run(leads: Leads, settings: RetentionSettings, shutdown: CancellationToken) {
    let Some(period) = settings.period else { return };
    tracing::info!(?period, "retention sweep scheduled");
    loop {
        match sweep_if_due(&leads, &settings, clock::now()).await {
            Ok(Some(erased)) => tracing::info!(erased, "retention sweep done"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "retention sweep failed; the next one tries again"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(settings.check_every) => {}
        }
    }
}

/// Sweeps if no process has started a sweep within the interval; `None` if one has.
pub async fn sweep_if_due(
    leads: &Leads,
    settings: &RetentionSettings,
    now: DateTime<Utc>,
) -> Result<Option<usize>, AppError> {
    let Some(period) = settings.period else { return Ok(None) };
    let Some(previous) = claim(&leads.db, settings.interval, now).await? else {
        return Ok(None);
    };
    match sweep(leads, period, now).await {
        Ok(erased) => Ok(Some(erased)),
        Err(e) => {
            // Give the turn back, so that the next check (here or in another process) tries
            // again instead of waiting out the interval.
            schedule::Entity::update_many()
                .col_expr(schedule::Column::LastStartedAt, Expr::value(previous))
                .filter(schedule::Column::Name.eq(SCHEDULE))
                .filter(schedule::Column::LastStartedAt.eq(now))
                .exec(&leads.db)
                .await?;
            Err(e)
        }
    }
}

/// Takes the sweep for this process, in one conditional update: of several workers asking at
/// once, one gets it. Returns when the sweep before started, if this process got it.
async fn claim(
    db: &impl ConnectionTrait,
    interval: Duration,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let me = format!("{}:{}", hostname(), std::process::id());
    let row = schedule::ActiveModel {
        name: Set(SCHEDULE.into()),
        last_started_at: Set(DateTime::<Utc>::UNIX_EPOCH),
        started_by: Set(String::new()),
    };
    schedule::Entity::insert(row).on_conflict_do_nothing_on([schedule::Column::Name]).exec(db).await?;
    let due_before = now - chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
    let Some(before) = schedule::Entity::find_by_id(SCHEDULE).one(db).await? else { return Ok(None) };
    if before.last_started_at > due_before {
        return Ok(None);
    }
    let claimed = schedule::Entity::update_many()
        .col_expr(schedule::Column::LastStartedAt, Expr::value(now))
        .col_expr(schedule::Column::StartedBy, Expr::value(me))
        .filter(schedule::Column::Name.eq(SCHEDULE))
        .filter(schedule::Column::LastStartedAt.eq(before.last_started_at))
        .exec(db)
        .await?
        .rows_affected;
    Ok((claimed == 1).then_some(before.last_started_at))
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into())
}

/// Erases every lead past the period at `now`, a batch at a time; returns how many.
pub async fn sweep(leads: &Leads, period: RetentionPeriod, now: DateTime<Utc>) -> Result<usize, AppError> {
    let mut erased = 0;
    loop {
        let ids: Vec<Uuid> = lead::Entity::find()
            .select_only()
            .column(lead::Column::Id)
            .filter(expired(period, now))
            .order_by_asc(lead::Column::CreatedAt)
            .limit(BATCH)
            .into_tuple()
            .all(&leads.db)
            .await?;
        if ids.is_empty() {
            return Ok(erased);
        }
        for id in ids {
            match erase_lead(leads, id, Actor::System, RETENTION).await {
                Ok(_) => erased += 1,
                // Put on hold since the batch was read: left alone, as it should be.
                Err(AppError::LegalHold(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
}
