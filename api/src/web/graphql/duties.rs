//! The firm's duties in GraphQL: the conflict register and checks, and the lead's outcome.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{conflict_party, lead};

use super::{
    lead::{Lead, user},
    loaders::ById,
    loaders_of, parse_id, session, state,
    types::{Page, PageInfo, User},
};
use crate::{
    error::AppError,
    leads::{
        conflicts::{
            check::{self, Hit},
            decide, register,
        },
        outcome,
    },
};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::conflict_party::PartyRole")]
pub enum PartyRole {
    Client,
    FormerClient,
    AdverseParty,
    RelatedParty,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lead::ConflictState")]
pub enum ConflictState {
    /// Nothing in the register or other people's leads matched.
    Clear,
    /// Something matched: an attorney must decide before anyone advises the prospect.
    PossibleConflict,
    /// An attorney found no conflict.
    Cleared,
    /// An attorney found a conflict: the lead can only be declined or referred out.
    Conflict,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ConflictSource {
    /// The firm's conflict register.
    Register,
    /// An earlier lead.
    Lead,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ConflictDecision {
    Cleared,
    Conflict,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::lead::LeadOutcome")]
pub enum LeadOutcome {
    Open,
    ConsultationScheduled,
    Retained,
    Declined,
    ReferredOut,
    /// The prospect never answered.
    NoResponse,
}

/// A person or organisation in the firm's conflict register.
pub struct ConflictParty(pub conflict_party::Model);

#[Object]
impl ConflictParty {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn organization(&self) -> Option<&str> {
        self.0.organization.as_deref()
    }
    async fn role(&self) -> PartyRole {
        self.0.role.into()
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(InputObject)]
pub struct ConflictPartyInput {
    pub name: String,
    pub email: Option<String>,
    pub organization: Option<String>,
    pub role: PartyRole,
    pub note: Option<String>,
}

/// One match the check found.
pub struct ConflictHit(Hit);

#[Object]
impl ConflictHit {
    async fn source(&self) -> ConflictSource {
        match self.0.source {
            check::Source::Register => ConflictSource::Register,
            check::Source::Lead => ConflictSource::Lead,
        }
    }
    /// What matched: `email`, `name` (the same name, ignoring case, accents, punctuation and
    /// order, or one a typo away) and/or `organization` (the party's organisation and the
    /// prospect's email domain).
    async fn matched_on(&self) -> &[String] {
        &self.0.matched_on
    }
    /// How sure the match is, from 0 to 1.
    async fn score(&self) -> f64 {
        self.0.score
    }
    /// The register's party; null once removed from the register.
    async fn party(&self, ctx: &Context<'_>) -> Result<Option<ConflictParty>> {
        let Some(id) = self.0.party_id else { return Ok(None) };
        Ok(loaders_of(ctx).load_one(ById::<conflict_party::Entity>::new(id)).await?.map(ConflictParty))
    }
    /// The earlier lead.
    async fn lead(&self, ctx: &Context<'_>) -> Result<Option<Lead>> {
        let Some(id) = self.0.lead_id else { return Ok(None) };
        Ok(loaders_of(ctx).load_one(ById::<lead::Entity>::new(id)).await?.map(Lead))
    }
    /// The earlier lead is the same person's (the same email): a repeat, not a conflict.
    async fn same_person(&self) -> bool {
        self.0.same_person
    }
}

/// The lead's conflict-of-interest check and the decision on it.
pub struct ConflictCheck(pub lead::Model);

#[Object]
impl ConflictCheck {
    async fn state(&self) -> ConflictState {
        self.0.conflict_state.into()
    }
    /// Best first: the register's, then earlier leads'.
    async fn hits(&self) -> Vec<ConflictHit> {
        check::stored_hits(&self.0).into_iter().map(ConflictHit).collect()
    }
    /// When it last ran (for leads from before checks existed, never checked since: their
    /// submission time).
    async fn checked_at(&self) -> DateTime<Utc> {
        self.0.conflict_checked_at.unwrap_or(self.0.created_at)
    }
    async fn decided_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, self.0.conflict_decided_by).await
    }
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.conflict_decided_at
    }
    /// The decision's note.
    async fn note(&self) -> Option<&str> {
        self.0.conflict_note.as_deref()
    }
}

#[derive(SimpleObject)]
pub struct ConflictPartyEdge {
    pub cursor: String,
    pub node: ConflictParty,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ConflictPartyConnection {
    pub edges: Vec<ConflictPartyEdge>,
    pub nodes: Vec<ConflictParty>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub search: Option<String>,
}

#[ComplexObject]
impl ConflictPartyConnection {
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(register::count(&state(ctx).db, self.search.as_deref()).await.map_err(AppError::from)? as i64)
    }
}

#[derive(Default)]
pub struct DutiesQuery;

#[Object]
impl DutiesQuery {
    /// The conflict register, newest first; `search` is part of a name, email or
    /// organisation. Attorneys and admins.
    async fn conflict_parties(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ConflictPartyConnection> {
        let staff = session(ctx).staff()?;
        let page = register::list(&state(ctx).db, staff, search, first.unwrap_or(20), after.as_deref()).await?;
        let Page { edges, nodes, page_info } = Page::of(
            page.parties,
            (page.has_next_page, page.has_previous_page),
            register::cursor,
            |cursor, p| ConflictPartyEdge { cursor, node: ConflictParty(p.clone()) },
            ConflictParty,
        );
        Ok(ConflictPartyConnection { edges, nodes, page_info, search: page.search })
    }
}

#[derive(Default)]
pub struct DutiesMutation;

#[Object]
impl DutiesMutation {
    /// Adds parties to the conflict register (at most 1,000 per call; all or none). Admins only.
    async fn add_conflict_parties(
        &self,
        ctx: &Context<'_>,
        parties: Vec<ConflictPartyInput>,
    ) -> Result<Vec<ConflictParty>> {
        let admin = session(ctx).admin()?;
        let parties = parties
            .into_iter()
            .map(|p| register::NewParty {
                name: p.name,
                email: p.email,
                organization: p.organization,
                role: Some(p.role.into()),
                note: p.note,
            })
            .collect();
        let app = state(ctx);
        Ok(register::add(&app.db, &app.announcer, admin, parties).await?.into_iter().map(ConflictParty).collect())
    }

    /// Removes a party from the register; false when there was none. Checks already made keep
    /// their hits. Admins only.
    async fn remove_conflict_party(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        let app = state(ctx);
        Ok(register::remove(&app.db, &app.announcer, admin, id).await?)
    }

    /// Checks the lead again (after the register changed). A decision stands unless someone new
    /// is found. Attorneys and admins.
    async fn rerun_conflict_check(&self, ctx: &Context<'_>, lead_id: ID) -> Result<Lead> {
        let staff = session(ctx).staff()?;
        let id = parse_id(&lead_id, "leadId")?;
        Ok(Lead(decide::rerun(&state(ctx).leads, id, staff).await?))
    }

    /// Decides a possible conflict: CLEARED, or CONFLICT (with a note saying what it is).
    /// Attorneys and admins.
    async fn resolve_conflict(
        &self,
        ctx: &Context<'_>,
        lead_id: ID,
        decision: ConflictDecision,
        note: Option<String>,
    ) -> Result<Lead> {
        let staff = session(ctx).staff()?;
        let id = parse_id(&lead_id, "leadId")?;
        let decision = match decision {
            ConflictDecision::Cleared => decide::Decision::Cleared,
            ConflictDecision::Conflict => decide::Decision::Conflict,
        };
        Ok(Lead(decide::resolve(&state(ctx).leads, id, decision, note, staff).await?))
    }

    /// Records what came of the lead. DECLINED and REFERRED_OUT need a `reason`; a lead in
    /// CONFLICT can only be declined or referred out. Attorneys and admins.
    async fn set_lead_outcome(
        &self,
        ctx: &Context<'_>,
        id: ID,
        outcome: LeadOutcome,
        reason: Option<String>,
    ) -> Result<Lead> {
        let staff = session(ctx).staff()?;
        let id = parse_id(&id, "id")?;
        Ok(Lead(outcome::set(&state(ctx).leads, id, outcome.into(), reason, staff).await?))
    }
}
