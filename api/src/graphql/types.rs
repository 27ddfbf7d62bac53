//! GraphQL object, enum and input types, wrapping the entities.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{lead, user};

use super::state;
use crate::{leads, users};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LeadStatus {
    Pending,
    ReachedOut,
}

impl From<lead::LeadStatus> for LeadStatus {
    fn from(s: lead::LeadStatus) -> Self {
        match s {
            lead::LeadStatus::Pending => Self::Pending,
            lead::LeadStatus::ReachedOut => Self::ReachedOut,
        }
    }
}

impl From<LeadStatus> for lead::LeadStatus {
    fn from(s: LeadStatus) -> Self {
        match s {
            LeadStatus::Pending => Self::Pending,
            LeadStatus::ReachedOut => Self::ReachedOut,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    Admin,
    Attorney,
}

impl From<user::Role> for Role {
    fn from(r: user::Role) -> Self {
        match r {
            user::Role::Admin => Self::Admin,
            user::Role::Attorney => Self::Attorney,
        }
    }
}

impl From<Role> for user::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => Self::Admin,
            Role::Attorney => Self::Attorney,
        }
    }
}

pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn full_name(&self) -> &str {
        &self.0.full_name
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

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
    async fn resume(&self) -> Resume<'_> {
        Resume(&self.0)
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
    /// The mails this lead triggered, oldest first, with their delivery state.
    async fn notifications(&self, ctx: &Context<'_>) -> Result<Vec<super::email_jobs::EmailJob>> {
        let jobs =
            crate::jobs::queue::for_lead(&state(ctx).db, self.0.id).await.map_err(crate::error::AppError::from)?;
        Ok(jobs.into_iter().map(super::email_jobs::EmailJob).collect())
    }
    async fn reached_out_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.reached_out_by else {
            return Ok(None);
        };
        let user = users::find(&state(ctx).db, id).await.map_err(crate::error::AppError::from)?;
        Ok(user.map(User))
    }
}

pub struct Resume<'a>(&'a lead::Model);

#[Object]
impl Resume<'_> {
    /// The prospect's filename, sanitised, with the extension of the detected type.
    async fn file_name(&self) -> &str {
        &self.0.resume_file_name
    }
    /// Detected from the file's content.
    async fn content_type(&self) -> &str {
        &self.0.resume_content_type
    }
    async fn size_bytes(&self) -> i64 {
        self.0.resume_size_bytes
    }
    /// A signed link, valid for 15 minutes, that needs no Authorization header.
    async fn download_url(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(leads::download_url(state(ctx), self.0).await?)
    }
}

/// What the public form gets back: enough to show a confirmation, nothing about other leads.
#[derive(SimpleObject)]
pub struct LeadReceipt {
    pub id: ID,
    pub status: LeadStatus,
    pub submitted_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct AuthPayload {
    pub access_token: String,
    /// Always `Bearer`: send `Authorization: Bearer <accessToken>`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Exchange it with `refreshToken` for a new pair before the access token expires. Each
    /// refresh token works once; keep it secret.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    pub user: User,
}

impl From<crate::sessions::SignedIn> for AuthPayload {
    fn from(s: crate::sessions::SignedIn) -> Self {
        Self {
            access_token: s.access_token,
            token_type: "Bearer".into(),
            expires_in: s.expires_in,
            refresh_token: s.refresh_token,
            refresh_expires_in: s.refresh_expires_in,
            user: User(s.user),
        }
    }
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
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
    pub filter: leads::LeadFilter,
}

#[ComplexObject]
impl LeadConnection {
    /// How many leads match the filter, across all pages. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let n = leads::count(&state(ctx).db, &self.filter).await.map_err(crate::error::AppError::from)?;
        Ok(n as i64)
    }
}

impl From<leads::LeadPage> for LeadConnection {
    fn from(page: leads::LeadPage) -> Self {
        let edges: Vec<LeadEdge> =
            page.leads.iter().map(|l| LeadEdge { cursor: leads::cursor(l), node: Lead(l.clone()) }).collect();
        let page_info = PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Self { nodes: page.leads.into_iter().map(Lead).collect(), edges, page_info, filter: page.filter }
    }
}

#[derive(InputObject)]
pub struct SubmitLeadInput {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// Leave empty. (A field hidden from people: forms filled in by bots set it.)
    pub website: Option<String>,
    /// A UUID the client makes once per submission and sends again on every retry of it: a
    /// retry then returns the first receipt and creates nothing new.
    pub client_submission_id: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    pub full_name: Option<String>,
    pub role: Option<Role>,
    /// `false` deactivates the account and ends its sessions.
    pub active: Option<bool>,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    pub email: String,
    pub full_name: String,
    pub role: Role,
    /// At least 12 characters, and not the email address.
    pub password: String,
}
