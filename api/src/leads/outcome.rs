//! What came of a lead: retained, declined, referred out… `status` keeps its own meaning
//! (whether the firm reached out); the outcome is the firm's intake result.

use entity::lead::{self, ConflictState, LeadOutcome};
use sea_orm::sea_query::Expr;
use uuid::Uuid;

use crate::{
    accounts::session::Staff,
    error::AppError,
    infra::validate,
    leads::{
        changes::{Change, change_lead},
        history::{Actor, EventData, NewEvent, OutcomeSet},
        service::Leads,
    },
};

pub const MAX_REASON_CHARS: usize = 2000;

pub fn outcome_name(outcome: LeadOutcome) -> &'static str {
    match outcome {
        LeadOutcome::Open => "OPEN",
        LeadOutcome::ConsultationScheduled => "CONSULTATION_SCHEDULED",
        LeadOutcome::Retained => "RETAINED",
        LeadOutcome::Declined => "DECLINED",
        LeadOutcome::ReferredOut => "REFERRED_OUT",
        LeadOutcome::NoResponse => "NO_RESPONSE",
    }
}

/// Sets the lead's outcome. DECLINED and REFERRED_OUT need a reason; a lead in CONFLICT can only
/// be declined or referred out; the same outcome again changes nothing. A decided outcome ends
/// the lead's reminders.
pub async fn set(
    leads: &Leads,
    id: Uuid,
    outcome: LeadOutcome,
    reason: Option<String>,
    actor: Staff<'_>,
) -> Result<lead::Model, AppError> {
    use lead::Column as C;
    let reason = validate::optional_text(reason, MAX_REASON_CHARS).map_err(|m| AppError::bad_input("reason", m))?;
    if matches!(outcome, LeadOutcome::Declined | LeadOutcome::ReferredOut) && reason.is_none() {
        return Err(AppError::bad_input(
            "reason",
            format!("is required for {}: say why, for the record", outcome_name(outcome)),
        ));
    }
    let by = actor.user().id;
    let lead = change_lead(leads, id, |lead, now| {
        if lead.outcome == outcome {
            return Ok(None);
        }
        if lead.conflict_state == ConflictState::Conflict
            && !matches!(outcome, LeadOutcome::Declined | LeadOutcome::ReferredOut)
        {
            return Err(AppError::bad_input(
                "outcome",
                "must be DECLINED or REFERRED_OUT: the lead's conflict check ended in CONFLICT",
            ));
        }
        Ok(Some(Change {
            columns: vec![
                (C::Outcome, Expr::value(outcome)),
                (C::OutcomeReason, Expr::value(reason.clone())),
                (C::OutcomeAt, Expr::value(now)),
                (C::OutcomeBy, Expr::value(by)),
            ],
            events: vec![NewEvent {
                lead_id: id,
                actor: Actor::User(by),
                data: EventData::OutcomeSet(OutcomeSet {
                    from: outcome_name(lead.outcome).to_owned(),
                    to: outcome_name(outcome).to_owned(),
                    reason: reason.clone(),
                }),
            }],
            answered: outcome.is_decided(),
            ..Change::default()
        }))
    })
    .await?;
    tracing::info!(lead = %id, by = %by, outcome = outcome_name(lead.outcome), "lead outcome");
    Ok(lead)
}
