//! Numbers for the dashboard: leads per status and per outcome, the conversion rate,
//! submissions per day, and how long the firm takes to reach out (median and 90th
//! percentile), overall and per attorney.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use entity::lead::{self, LeadOutcome, LeadStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Iterable, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::{accounts::session::Reader, error::AppError};

pub struct LeadStats {
    pub total: u64,
    pub by_status: Vec<(LeadStatus, u64)>,
    /// Every UTC day from the first to the last submission in the range, zeros included.
    pub per_day: Vec<(NaiveDate, u64)>,
    pub time_to_reach_out: Durations,
    pub per_attorney: Vec<AttorneyStats>,
    /// Every outcome, zeros included.
    pub by_outcome: Vec<(LeadOutcome, u64)>,
    /// RETAINED over the leads with a decided outcome; `None` when none has one.
    pub conversion_rate: Option<f64>,
    /// Per source (`None`: none given), most leads first: (source, leads, retained).
    pub by_source: Vec<(Option<String>, u64, u64)>,
}

/// Seconds from submission to REACHED_OUT, over the leads that got there.
#[derive(Debug, Default, PartialEq)]
pub struct Durations {
    pub count: u64,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

pub struct AttorneyStats {
    pub user_id: Uuid,
    /// Leads in the range assigned to them now.
    pub assigned: u64,
    /// Leads in the range they marked REACHED_OUT, and how long those took.
    pub time_to_reach_out: Durations,
}

type Row = (LeadStatus, DateTime<Utc>, Option<DateTime<Utc>>, Option<Uuid>, Option<Uuid>, LeadOutcome, Option<String>);

/// Over the leads submitted in `[from, to)`; either end may be open.
pub async fn compute(
    db: &impl ConnectionTrait,
    _by: Reader<'_>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<LeadStats, AppError> {
    use lead::Column as C;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(AppError::bad_input("to", "must be later than from"));
    }
    let mut select = lead::Entity::find().select_only().columns([
        C::Status,
        C::CreatedAt,
        C::ReachedOutAt,
        C::ReachedOutBy,
        C::AssignedTo,
        C::Outcome,
        C::Source,
    ]);
    if let Some(from) = from {
        select = select.filter(C::CreatedAt.gte(from));
    }
    if let Some(to) = to {
        select = select.filter(C::CreatedAt.lt(to));
    }
    let rows: Vec<Row> = select.into_tuple().all(db).await?;
    Ok(summarise(&rows))
}

fn summarise(rows: &[Row]) -> LeadStats {
    let mut by_status: HashMap<LeadStatus, u64> = HashMap::new();
    let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let mut all = Vec::new();
    let mut attorneys: HashMap<Uuid, (u64, Vec<f64>)> = HashMap::new();
    let mut by_outcome: HashMap<LeadOutcome, u64> = HashMap::new();
    let mut by_source: HashMap<Option<&str>, (u64, u64)> = HashMap::new();
    for (status, created_at, reached_out_at, reached_out_by, assigned_to, outcome, source) in rows {
        let (status, created_at, reached_out_at, reached_out_by, assigned_to, outcome) =
            (*status, *created_at, *reached_out_at, *reached_out_by, *assigned_to, *outcome);
        let counts = by_source.entry(source.as_deref()).or_default();
        counts.0 += 1;
        counts.1 += u64::from(outcome == LeadOutcome::Retained);
        *by_status.entry(status).or_default() += 1;
        *by_outcome.entry(outcome).or_default() += 1;
        *per_day.entry(created_at.date_naive()).or_default() += 1;
        if let Some(user) = assigned_to {
            attorneys.entry(user).or_default().0 += 1;
        }
        if let Some(at) = reached_out_at {
            let seconds = (at - created_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
            all.push(seconds);
            if let Some(user) = reached_out_by {
                attorneys.entry(user).or_default().1.push(seconds);
            }
        }
    }
    if let (Some(&first), Some(&last)) = (per_day.keys().next(), per_day.keys().next_back()) {
        for day in first.iter_days().take_while(|d| *d <= last) {
            per_day.entry(day).or_default();
        }
    }
    let mut per_attorney: Vec<AttorneyStats> = attorneys
        .into_iter()
        .map(|(user_id, (assigned, mut seconds))| AttorneyStats {
            user_id,
            assigned,
            time_to_reach_out: durations(&mut seconds),
        })
        .collect();
    per_attorney.sort_by_key(|a| a.user_id);
    let decided: u64 = by_outcome.iter().filter(|(o, _)| o.is_decided()).map(|(_, n)| n).sum();
    let retained = by_outcome.get(&LeadOutcome::Retained).copied().unwrap_or(0);
    let mut by_source: Vec<(Option<String>, u64, u64)> =
        by_source.into_iter().map(|(source, (n, kept))| (source.map(str::to_owned), n, kept)).collect();
    by_source.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    LeadStats {
        by_source,
        by_outcome: LeadOutcome::iter().map(|o| (o, by_outcome.get(&o).copied().unwrap_or(0))).collect(),
        conversion_rate: (decided > 0).then(|| retained as f64 / decided as f64),
        total: rows.len() as u64,
        by_status: [LeadStatus::Pending, LeadStatus::ReachedOut]
            .into_iter()
            .map(|s| (s, by_status.get(&s).copied().unwrap_or(0)))
            .collect(),
        per_day: per_day.into_iter().collect(),
        time_to_reach_out: durations(&mut all),
        per_attorney,
    }
}

fn durations(seconds: &mut [f64]) -> Durations {
    seconds.sort_by(f64::total_cmp);
    Durations {
        count: seconds.len() as u64,
        median_seconds: percentile(seconds, 0.5),
        p90_seconds: percentile(seconds, 0.9),
    }
}

/// Linear interpolation between the two nearest ranks (numpy's default): the median of
/// 1, 2, 3, 4 is 2.5.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p * last as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((percentile(&ten, 0.9).unwrap() - 9.1).abs() < 1e-9);
    }
}
