use async_graphql::{Context, ID, Object, Result};

use super::{
    parse_id, session, state,
    types::{Lead, LeadConnection, LeadStatus, User},
};
use crate::{error::AppError, leads, users};

const DEFAULT_PAGE_SIZE: i32 = 20;

#[derive(Default)]
pub struct LeadQuery;

#[Object]
impl LeadQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(User(session(ctx).signed_in()?.clone()))
    }

    /// One lead, or null when there is none with this id. Attorneys and admins.
    async fn lead(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Lead>> {
        session(ctx).staff()?;
        let id = parse_id(&id, "id")?;
        let lead = leads::find(&state(ctx).db, id).await.map_err(AppError::from)?;
        Ok(lead.map(Lead))
    }

    /// Leads, newest first, `first` (at most 100) at a time; pass the previous page's
    /// `endCursor` as `after` for the next. `search` matches first name, last name or email,
    /// ignoring case. Attorneys and admins.
    async fn leads(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        status: Option<LeadStatus>,
        search: Option<String>,
    ) -> Result<LeadConnection> {
        session(ctx).staff()?;
        let filter = leads::LeadFilter { status: status.map(Into::into), search };
        let page = leads::list(&state(ctx).db, filter, first.unwrap_or(DEFAULT_PAGE_SIZE), after.as_deref()).await?;
        Ok(page.into())
    }

    /// Every account. Admins only.
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        session(ctx).admin()?;
        let all = users::list(&state(ctx).db).await.map_err(AppError::from)?;
        Ok(all.into_iter().map(User).collect())
    }
}

/// Every query: leads and accounts here, the mail queue in `email_jobs.rs`.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(LeadQuery, super::email_jobs::EmailJobQuery);
