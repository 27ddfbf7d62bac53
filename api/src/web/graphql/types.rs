//! GraphQL object, enum and input types, wrapping the entities.

use async_graphql::{Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::user;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lead::LeadStatus")]
pub enum LeadStatus {
    Pending,
    ReachedOut,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::user::Role")]
pub enum Role {
    Admin,
    Attorney,
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

impl From<crate::accounts::sign_in::SignedIn> for AuthPayload {
    fn from(s: crate::accounts::sign_in::SignedIn) -> Self {
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

/// What every connection (leads, mail jobs) is made of, from a page of rows: an edge (cursor
/// and node) and a node per row, and the page info the edges' cursors bound.
pub struct Page<E, N> {
    pub edges: Vec<E>,
    pub nodes: Vec<N>,
    pub page_info: PageInfo,
}

impl<E, N> Page<E, N> {
    pub fn of<R>(
        rows: Vec<R>,
        (has_next_page, has_previous_page): (bool, bool),
        cursor: impl Fn(&R) -> String,
        edge: impl Fn(String, &R) -> E,
        node: impl Fn(R) -> N,
    ) -> Self {
        let cursors: Vec<String> = rows.iter().map(&cursor).collect();
        let page_info = PageInfo {
            has_next_page,
            has_previous_page,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        };
        let edges = cursors.into_iter().zip(&rows).map(|(c, r)| edge(c, r)).collect();
        Self { edges, nodes: rows.into_iter().map(node).collect(), page_info }
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
    /// The prospect ticked the consent box (`INTAKE_CONSENT_TEXT`); required when the firm
    /// sets `INTAKE_REQUIRE_CONSENT=on`.
    pub consent: Option<bool>,
    /// Where the lead comes from (at most 100 characters): the public form sends `website`;
    /// with an API key, the key's name unless given.
    pub source: Option<String>,
    /// Marketing attribution: values at most 200 characters, URLs at most 2,000.
    pub attribution: Option<AttributionInput>,
}

/// UTM parameters, click ids, the referrer and the landing page.
#[derive(InputObject, SimpleObject, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[graphql(input_name = "AttributionInput", name = "Attribution")]
pub struct AttributionInput {
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    /// The page that linked to the form's page (an http or https URL).
    pub referrer: Option<String>,
    /// The page the prospect arrived at (an http or https URL).
    pub landing_page: Option<String>,
    /// Google Ads click id.
    pub gclid: Option<String>,
    /// Meta click id.
    pub fbclid: Option<String>,
}

pub type Attribution = AttributionInput;

// The two types have the same fields under the same names: one is the API's, one the domain's.
impl From<AttributionInput> for crate::leads::attribution::Attribution {
    fn from(a: AttributionInput) -> Self {
        serde_json::from_value(serde_json::to_value(a).expect("serialises")).expect("the same fields")
    }
}

impl From<crate::leads::attribution::Attribution> for AttributionInput {
    fn from(a: crate::leads::attribution::Attribution) -> Self {
        serde_json::from_value(serde_json::to_value(a).expect("serialises")).expect("the same fields")
    }
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

/// A keyset cursor for rows ordered by their UUIDv7 id: `prefix:id`, base64url.
pub fn id_cursor(prefix: &str, id: uuid::Uuid) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(format!("{prefix}:{id}"))
}

/// The id in a cursor `id_cursor` made with `prefix`; anything else is a bad `after`.
pub fn decode_id_cursor(prefix: &str, raw: &str) -> Result<uuid::Uuid, crate::error::AppError> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let invalid = || crate::error::AppError::bad_input("after", "is not a cursor returned by this API");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?).map_err(|_| invalid())?;
    text.strip_prefix(prefix).and_then(|rest| rest.strip_prefix(':')).and_then(|id| id.parse().ok()).ok_or_else(invalid)
}
