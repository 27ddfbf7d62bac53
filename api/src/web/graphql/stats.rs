//! `leadStats`: the dashboard's numbers.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::NaiveDate;

use super::{duties::LeadOutcome, lead::user, types::LeadStatus, types::User};
use crate::leads::stats;

pub struct LeadStats(pub stats::LeadStats);

#[derive(SimpleObject)]
pub struct StatusCount {
    pub status: LeadStatus,
    pub count: i64,
}

#[derive(SimpleObject)]
pub struct OutcomeCount {
    pub outcome: LeadOutcome,
    pub count: i64,
}

/// Leads from one source, and how many of them the firm retained.
#[derive(SimpleObject)]
pub struct SourceCount {
    /// Null: submitted without one.
    pub source: Option<String>,
    pub count: i64,
    pub retained: i64,
}

#[derive(SimpleObject)]
pub struct DayCount {
    /// A UTC day, `YYYY-MM-DD`.
    pub date: NaiveDate,
    pub count: i64,
}

/// Time from submission to REACHED_OUT over the leads that got there, in seconds.
#[derive(SimpleObject)]
pub struct ReachOutTimes {
    pub count: i64,
    /// Null when no lead got there. Percentiles interpolate between the two nearest ranks.
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

impl From<&stats::Durations> for ReachOutTimes {
    fn from(d: &stats::Durations) -> Self {
        Self { count: d.count as i64, median_seconds: d.median_seconds, p90_seconds: d.p90_seconds }
    }
}

pub struct AttorneyStats<'a>(&'a stats::AttorneyStats);

#[Object]
impl AttorneyStats<'_> {
    /// Null once the account is gone.
    async fn attorney(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, Some(self.0.user_id)).await
    }
    /// Leads in the range assigned to them now.
    async fn assigned(&self) -> i64 {
        self.0.assigned as i64
    }
    /// Leads in the range they marked REACHED_OUT, and how long that took.
    async fn time_to_reach_out(&self) -> ReachOutTimes {
        (&self.0.time_to_reach_out).into()
    }
}

#[Object]
impl LeadStats {
    /// Leads submitted in the range.
    async fn total(&self) -> i64 {
        self.0.total as i64
    }
    /// Of those, how many are in each status now.
    async fn by_status(&self) -> Vec<StatusCount> {
        self.0.by_status.iter().map(|(s, n)| StatusCount { status: (*s).into(), count: *n as i64 }).collect()
    }
    /// Submissions per UTC day, every day from the first to the last submission in the range.
    async fn per_day(&self) -> Vec<DayCount> {
        self.0.per_day.iter().map(|(date, n)| DayCount { date: *date, count: *n as i64 }).collect()
    }
    async fn time_to_reach_out(&self) -> ReachOutTimes {
        (&self.0.time_to_reach_out).into()
    }
    /// Of those, how many have each outcome now (every outcome, zeros included).
    /// Per source, most leads first.
    async fn by_source(&self) -> Vec<SourceCount> {
        self.0
            .by_source
            .iter()
            .map(|(source, n, kept)| SourceCount { source: source.clone(), count: *n as i64, retained: *kept as i64 })
            .collect()
    }
    async fn by_outcome(&self) -> Vec<OutcomeCount> {
        self.0.by_outcome.iter().map(|(o, n)| OutcomeCount { outcome: (*o).into(), count: *n as i64 }).collect()
    }
    /// RETAINED over the leads with a decided outcome (RETAINED, DECLINED, REFERRED_OUT,
    /// NO_RESPONSE), from 0 to 1; null when none has one.
    async fn conversion_rate(&self) -> Option<f64> {
        self.0.conversion_rate
    }
    /// Everyone with leads assigned or reached out in the range.
    async fn per_attorney(&self) -> Vec<AttorneyStats<'_>> {
        self.0.per_attorney.iter().map(AttorneyStats).collect()
    }
}
