use async_graphql::{Context, ID, Object, Result};

use chrono::{DateTime, Utc};

use super::{
    lead::{Lead, LeadConnection, LeadFilter, LeadOrder, merged_filter},
    parse_id, session, state,
    stats::LeadStats,
    types::{LeadStatus, User},
};
use crate::{
    accounts::users,
    error::AppError,
    leads::list::{self, Paging},
    leads::stats,
    leads::submission,
};

#[derive(Default)]
pub struct LeadQuery;

#[Object]
impl LeadQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(User(session(ctx).signed_in()?.clone()))
    }

    /// One lead, or null when there is none with this id. Attorneys and admins, and API keys
    /// with LEADS_READ.
    async fn lead(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Lead>> {
        session(ctx).reader()?;
        let id = parse_id(&id, "id")?;
        let lead = submission::find(&state(ctx).db, id).await.map_err(AppError::from)?;
        Ok(lead.map(Lead))
    }

    /// Leads matching `filter`, in `orderBy` order (newest first by default), a page at a
    /// time (at most 100): `first` after the previous page's `endCursor`, or `last` before a
    /// page's `startCursor`. Without either, the first 20. `status` and `search` are the
    /// older spelling of `filter.status` and `filter.search`. Attorneys and admins, and API
    /// keys with LEADS_READ.
    #[allow(clippy::too_many_arguments)]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        filter: Option<LeadFilter>,
        order_by: Option<LeadOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        status: Option<LeadStatus>,
        search: Option<String>,
    ) -> Result<LeadConnection> {
        let reader = session(ctx).reader()?;
        let filter = merged_filter(filter, status, search)?;
        let order = order_by.map(Into::into).unwrap_or_default();
        let paging = Paging { first, after, last, before };
        Ok(list::list(&state(ctx).db, &state(ctx).leads.search_ways, reader, filter, order, paging).await?.into())
    }

    /// Counts per status, submissions per day, and time to reach out (median, 90th
    /// percentile), overall and per attorney, over the leads submitted in `[from, to)`;
    /// either end may be left open. Attorneys and admins, and API keys with LEADS_READ.
    async fn lead_stats(
        &self,
        ctx: &Context<'_>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<LeadStats> {
        let reader = session(ctx).reader()?;
        Ok(LeadStats(stats::compute(&state(ctx).db, reader, from, to).await?))
    }

    /// Every account. Admins only.
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let admin = session(ctx).admin()?;
        let all = users::list(&state(ctx).db, admin).await.map_err(AppError::from)?;
        Ok(all.into_iter().map(User).collect())
    }
}

/// Every query: leads and accounts here, the mail queue in `email_jobs.rs`.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    LeadQuery,
    super::duties::DutiesQuery,
    super::privacy::PrivacyQuery,
    super::webhooks::WebhookQuery,
    super::api_keys::ApiKeyQuery,
    super::email_jobs::EmailJobQuery,
);
