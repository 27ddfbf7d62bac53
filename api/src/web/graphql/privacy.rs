//! Personal data in the API: the export link, erasure and its tombstone, the legal hold, and the
//! retention preview. Admins only, all of it.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::{lead::Lead, parse_id, session, state};
use crate::leads::privacy::{erase, export, retention};

/// A short-lived link to a ZIP of everything Intake holds on the lead's person.
#[derive(SimpleObject)]
pub struct LeadExport {
    /// Works without the Authorization header until `expiresAt`, for the admin it was issued to.
    pub download_url: String,
    pub expires_at: DateTime<Utc>,
}

/// What an erasure left: the lead's tombstone.
pub struct ErasedLead(erase::Erased);

#[Object]
impl ErasedLead {
    async fn id(&self) -> ID {
        ID(self.0.lead.id.to_string())
    }
    /// The tombstone.
    async fn lead(&self) -> Lead {
        Lead(self.0.lead.clone())
    }
    async fn erased_at(&self) -> DateTime<Utc> {
        self.0.lead.erased_at.unwrap_or(self.0.lead.updated_at)
    }
    async fn reason(&self) -> &str {
        self.0.lead.erasure_reason.as_deref().unwrap_or_default()
    }
    /// Résumé files and mail copies not deleted yet because their store could not be reached:
    /// the worker retries them until they are gone.
    async fn pending_deletions(&self) -> i32 {
        self.0.pending_deletions as i32
    }
}

#[derive(Default)]
pub struct PrivacyQuery;

#[Object]
impl PrivacyQuery {
    /// How many leads the next retention sweep would erase (`INTAKE_RETENTION`; 0 when off).
    /// Admins only.
    async fn retention_preview(&self, ctx: &Context<'_>) -> Result<i32> {
        let admin = session(ctx).admin()?;
        let leads = &state(ctx).leads;
        Ok(retention::preview(leads, leads.settings.retention, admin).await?.try_into().unwrap_or(i32::MAX))
    }
}

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// A link to a ZIP of the person's data: `lead.json` (every field, consent, history, notes,
    /// conflict check, outcome, the mails they were sent with their text) and every résumé of
    /// the lead. Recorded in the lead's access log. Admins only.
    async fn export_lead(&self, ctx: &Context<'_>, id: ID) -> Result<LeadExport> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        let issued = export::issue(&state(ctx).leads, id, admin).await?;
        Ok(LeadExport { download_url: issued.download_url, expires_at: issued.expires_at })
    }

    /// Erases the person's data everywhere Intake keeps it, irreversibly; a tombstone remains.
    /// Refused with LEGAL_HOLD while the lead is held. Admins only.
    async fn erase_lead(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<ErasedLead> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        Ok(ErasedLead(erase::erase(&state(ctx).leads, id, &reason, admin).await?))
    }

    /// Places (`hold: true`, with a reason) or lifts a legal hold: a held lead can be neither
    /// erased nor swept by retention. Admins only.
    async fn set_legal_hold(&self, ctx: &Context<'_>, id: ID, hold: bool, reason: Option<String>) -> Result<Lead> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        Ok(Lead(erase::set_legal_hold(&state(ctx).leads, id, hold, reason.as_deref(), admin).await?))
    }
}
