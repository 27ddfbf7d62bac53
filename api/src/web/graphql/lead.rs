//! The `Lead` type and its connection, filter and order inputs. Fields that need other rows
//! (users, history, notes, mails, duplicates) go through the batched loaders.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{email_job, lead, lead_note};

use super::{
    duties::{ConflictCheck, ConflictState, LeadOutcome},
    email_jobs::EmailJob,
    history::{LeadEvent, LeadNote},
    loaders::{ById, HistoryOf, Of},
    loaders_of, state,
    types::{LeadStatus, Page, PageInfo, User},
};
use crate::{
    error::AppError, infra::clock, leads::attribution::Attribution, leads::list, leads::privacy::access,
    leads::submission::ResumeFile,
};

pub struct Lead(pub lead::Model);

#[Object]
impl Lead {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn first_name(&self) -> &str {
        &self.0.first_name
    }
    async fn last_name(&self) -> &str {
        &self.0.last_name
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn status(&self) -> LeadStatus {
        self.0.status.into()
    }
    /// The current résumé; replaced ones are in `history` (RESUME_REPLACED).
    async fn resume(&self) -> Resume {
        Resume(ResumeFile::from(&self.0))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn reached_out_at(&self) -> Option<DateTime<Utc>> {
        self.0.reached_out_at
    }
    async fn reached_out_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, self.0.reached_out_by).await
    }
    /// The attorney (or admin) working this lead, if any.
    async fn assigned_to(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, self.0.assigned_to).await
    }
    /// The first lead submitted with the same email address (ignoring case), when this one
    /// repeats it.
    async fn duplicate_of(&self, ctx: &Context<'_>) -> Result<Option<Lead>> {
        let Some(id) = self.0.duplicate_of else { return Ok(None) };
        Ok(loaders_of(ctx).load_one(ById::<lead::Entity>::new(id)).await?.map(Lead))
    }
    /// Later leads that repeat this one's email address, newest first.
    async fn duplicates(&self, ctx: &Context<'_>) -> Result<Vec<Lead>> {
        let found = loaders_of(ctx).load_one(Of::<lead::Entity>::new(self.0.id)).await?.unwrap_or_default();
        Ok(found.into_iter().map(Lead).collect())
    }
    /// Everything that happened to this lead, newest first: submission, status changes,
    /// corrections, résumé replacements, assignments, notes, and every mail sent or failed. The
    /// access record (downloads, exports, erasure) is in it for admins only: see `accessLog`.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<LeadEvent>> {
        let admin = super::session(ctx).admin().is_ok();
        let events = loaders_of(ctx).load_one(HistoryOf(self.0.id)).await?.unwrap_or_default();
        Ok(events.into_iter().filter(|e| admin || !e.kind.is_access()).map(LeadEvent).collect())
    }
    /// Who downloaded the lead's résumés, exported or erased it, and when, newest first.
    /// Admins only.
    async fn access_log(&self, ctx: &Context<'_>) -> Result<Vec<LeadEvent>> {
        super::session(ctx).admin()?;
        let events = loaders_of(ctx).load_one(HistoryOf(self.0.id)).await?.unwrap_or_default();
        Ok(events.into_iter().filter(|e| e.kind.is_access()).map(LeadEvent).collect())
    }
    /// Whether the person's data was erased: the lead is then a tombstone whose personal fields
    /// read "[erased]" or null.
    async fn erased(&self) -> bool {
        self.0.erased_at.is_some()
    }
    async fn erased_at(&self) -> Option<DateTime<Utc>> {
        self.0.erased_at
    }
    /// Who erased it; null for the retention sweep (see `erasureReason`).
    async fn erased_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, self.0.erased_by).await
    }
    /// The admin's reason, or `retention`.
    async fn erasure_reason(&self) -> Option<&str> {
        self.0.erasure_reason.as_deref()
    }
    /// While set, the lead can be neither erased nor swept by retention.
    async fn legal_hold(&self) -> bool {
        self.0.legal_hold
    }
    /// What the hold is for. Admins only.
    async fn legal_hold_reason(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        super::session(ctx).admin()?;
        Ok(self.0.legal_hold_reason.as_deref())
    }
    /// Notes by attorneys and admins, newest first.
    async fn notes(&self, ctx: &Context<'_>) -> Result<Vec<LeadNote>> {
        let notes = loaders_of(ctx).load_one(Of::<lead_note::Entity>::new(self.0.id)).await?.unwrap_or_default();
        Ok(notes.into_iter().map(LeadNote).collect())
    }
    /// The conflict-of-interest check made when the lead was submitted (or run again since),
    /// and an attorney's decision on it.
    async fn conflict_check(&self) -> ConflictCheck {
        ConflictCheck(self.0.clone())
    }
    /// Where it came from: `website` for the public form, an API key's name by default, or
    /// what the submitter said.
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }
    /// UTM parameters, click ids, referrer and landing page, as the submitter sent them.
    async fn attribution(&self) -> Option<super::types::Attribution> {
        Attribution::read(self.0.attribution.as_ref()).map(Into::into)
    }
    /// What came of the lead for the firm; OPEN at first.
    async fn outcome(&self) -> LeadOutcome {
        self.0.outcome.into()
    }
    /// Why it was declined or referred out (or any other outcome's note).
    async fn outcome_reason(&self) -> Option<&str> {
        self.0.outcome_reason.as_deref()
    }
    /// When the outcome was last set.
    async fn outcome_at(&self) -> Option<DateTime<Utc>> {
        self.0.outcome_at
    }
    /// When the firm must have reached out (`INTAKE_RESPONSE_TARGET`, counted in
    /// `INTAKE_BUSINESS_HOURS` when set); null when the firm sets no target.
    async fn respond_by(&self) -> Option<DateTime<Utc>> {
        self.0.respond_by
    }
    /// Still PENDING after `respondBy`.
    async fn overdue(&self) -> bool {
        self.0.status == lead::LeadStatus::Pending && self.0.respond_by.is_some_and(|due| due < clock::now())
    }
    /// The consent the prospect gave on the form; null when they gave none.
    async fn consent(&self) -> Option<Consent> {
        self.0.consent_given_at.map(|_| Consent(self.0.clone()))
    }
    /// The mails this lead triggered, oldest first, with their delivery state.
    async fn notifications(&self, ctx: &Context<'_>) -> Result<Vec<EmailJob>> {
        let jobs = loaders_of(ctx).load_one(Of::<email_job::Entity>::new(self.0.id)).await?.unwrap_or_default();
        Ok(jobs.into_iter().map(EmailJob).collect())
    }
}

pub(super) async fn user(ctx: &Context<'_>, id: Option<uuid::Uuid>) -> Result<Option<User>> {
    let Some(id) = id else { return Ok(None) };
    Ok(loaders_of(ctx).load_one(ById::<entity::user::Entity>::new(id)).await?.map(User))
}

/// A consent given on the form: when, to which text, and (admins only) from where.
pub struct Consent(lead::Model);

#[Object]
impl Consent {
    async fn given_at(&self) -> Option<DateTime<Utc>> {
        self.0.consent_given_at
    }
    /// The SHA-256 (hex) of the consent text shown (`INTAKE_CONSENT_TEXT` at the time).
    async fn text_version(&self) -> Option<&str> {
        self.0.consent_text_version.as_deref()
    }
    /// The address it came from. Admins only.
    async fn ip_address(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        super::session(ctx).admin()?;
        Ok(self.0.consent_ip.as_deref())
    }
    /// The browser's `User-Agent`. Admins only.
    async fn user_agent(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        super::session(ctx).admin()?;
        Ok(self.0.consent_user_agent.as_deref())
    }
}

pub struct Resume(pub ResumeFile);

#[Object]
impl Resume {
    /// The prospect's filename, sanitised, with the extension of the detected type.
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    /// Detected from the file's content.
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }
    async fn size_bytes(&self) -> i64 {
        self.0.size_bytes
    }
    /// A signed link, valid for 15 minutes, that needs no Authorization header.
    async fn download_url(&self, ctx: &Context<'_>) -> Result<String> {
        let viewer = super::session(ctx).reader()?;
        Ok(access::download_url(&state(ctx).leads, &self.0, viewer))
    }
}

#[derive(SimpleObject)]
pub struct LeadEdge {
    pub cursor: String,
    pub node: Lead,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct LeadConnection {
    pub edges: Vec<LeadEdge>,
    pub nodes: Vec<Lead>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub filter: list::LeadFilter,
}

#[ComplexObject]
impl LeadConnection {
    /// How many leads match the filter, across all pages. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let n = list::count(&state(ctx).db, &self.filter).await.map_err(AppError::from)?;
        Ok(n as i64)
    }
}

impl From<list::LeadPage> for LeadConnection {
    fn from(page: list::LeadPage) -> Self {
        let order = page.order;
        let Page { edges, nodes, page_info } = Page::of(
            page.leads,
            (page.has_next_page, page.has_previous_page),
            |l| list::cursor(l, order),
            |cursor, l| LeadEdge { cursor, node: Lead(l.clone()) },
            Lead,
        );
        Self { edges, nodes, page_info, filter: page.filter }
    }
}

/// Which leads to list. Every part given must hold.
#[derive(InputObject, Default)]
pub struct LeadFilter {
    /// Any of these statuses.
    pub status: Option<Vec<LeadStatus>>,
    /// Submitted at or after this time.
    pub created_after: Option<DateTime<Utc>>,
    /// Submitted before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// Assigned to this user.
    pub assigned_to: Option<ID>,
    /// `true`: only leads nobody is assigned to; `false`: only assigned ones.
    pub unassigned: Option<bool>,
    /// Part of the first name, last name or email (each on its own), ignoring case. No line
    /// breaks, tabs or other control characters.
    pub search: Option<String>,
    /// Any of these conflict-check states.
    pub conflict_state: Option<Vec<ConflictState>>,
    /// Any of these outcomes.
    pub outcome: Option<Vec<LeadOutcome>>,
    /// `true`: only leads still PENDING past `respondBy`; `false`: all the others.
    pub overdue: Option<bool>,
    /// Any of these sources (`Lead.source`).
    pub source: Option<Vec<String>>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::leads::list::OrderField")]
pub enum LeadOrderField {
    CreatedAt,
    UpdatedAt,
    /// Ignoring case.
    LastName,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderDirection {
    Asc,
    Desc,
}

#[derive(InputObject)]
pub struct LeadOrder {
    #[graphql(default_with = "LeadOrderField::CreatedAt")]
    pub field: LeadOrderField,
    #[graphql(default_with = "OrderDirection::Desc")]
    pub direction: OrderDirection,
}

impl From<LeadOrder> for list::LeadOrder {
    fn from(order: LeadOrder) -> Self {
        Self { field: order.field.into(), descending: order.direction == OrderDirection::Desc }
    }
}

#[derive(InputObject)]
pub struct UpdateLeadInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

/// The arguments of `leads`, the filter and the older `status` and `search` together.
pub fn merged_filter(
    filter: Option<LeadFilter>,
    status: Option<LeadStatus>,
    search: Option<String>,
) -> Result<list::LeadFilter, AppError> {
    let filter = filter.unwrap_or_default();
    if status.is_some() && filter.status.is_some() {
        return Err(AppError::bad_input("status", "is also in filter: give it in one place (filter.status)"));
    }
    if search.is_some() && filter.search.is_some() {
        return Err(AppError::bad_input("search", "is also in filter: give it in one place (filter.search)"));
    }
    let assigned_to = filter.assigned_to.map(|id| super::parse_id(&id, "assignedTo")).transpose()?;
    let statuses = filter.status.or(status.map(|s| vec![s]));
    Ok(list::LeadFilter {
        statuses: statuses.map(|list| list.into_iter().map(Into::into).collect()),
        created_after: filter.created_after,
        created_before: filter.created_before,
        assigned_to,
        unassigned: filter.unassigned,
        search: filter.search.or(search),
        conflict_states: filter.conflict_state.map(|list| list.into_iter().map(Into::into).collect()),
        outcomes: filter.outcome.map(|list| list.into_iter().map(Into::into).collect()),
        overdue: filter.overdue,
        sources: filter.source,
    })
}
