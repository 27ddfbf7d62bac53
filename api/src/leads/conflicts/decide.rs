//! What attorneys do with a check: decide a possible conflict, or check again after the
//! register changed. Both are lead changes, recorded in its history with the actor.

use std::collections::HashSet;

use entity::lead::{self, ConflictState};
use sea_orm::sea_query::{Expr, SimpleExpr};
use uuid::Uuid;

use super::check::{self, Finding, FirstLead, Hit, Subject};
use crate::{
    accounts::session::Staff,
    error::AppError,
    infra::validate,
    leads::{
        changes::{Change, change_lead},
        history::{Actor, ConflictChecked, ConflictResolved, EventData, NewEvent},
        service::Leads,
        submission,
    },
};

pub const MAX_NOTE_CHARS: usize = 10_000;

/// An attorney's decision on a possible conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Cleared,
    Conflict,
}

pub fn state_name(state: ConflictState) -> &'static str {
    match state {
        ConflictState::Clear => "CLEAR",
        ConflictState::PossibleConflict => "POSSIBLE_CONFLICT",
        ConflictState::Cleared => "CLEARED",
        ConflictState::Conflict => "CONFLICT",
    }
}

/// The history event of a check that left the lead in `state` with `hits` hits.
pub fn checked_event(lead_id: Uuid, actor: Actor, state: ConflictState, hits: usize, new_hits: usize) -> NewEvent {
    NewEvent {
        lead_id,
        actor,
        data: EventData::ConflictChecked(ConflictChecked {
            state: state_name(state).to_owned(),
            hits: hits as u32,
            new_hits: new_hits as u32,
        }),
    }
}

/// Moves a possible conflict to CLEARED or CONFLICT (a decided one may be decided again, as
/// facts come to light); a CONFLICT needs a note saying why. A lead with nothing to decide
/// (CLEAR) is refused.
pub async fn resolve(
    leads: &Leads,
    id: Uuid,
    decision: Decision,
    note: Option<String>,
    actor: Staff<'_>,
) -> Result<lead::Model, AppError> {
    use lead::Column as C;
    let note = validate::optional_text(note, MAX_NOTE_CHARS).map_err(|m| AppError::bad_input("note", m))?;
    if decision == Decision::Conflict && note.is_none() {
        return Err(AppError::bad_input("note", "is required for CONFLICT: say what the conflict is"));
    }
    let state = match decision {
        Decision::Cleared => ConflictState::Cleared,
        Decision::Conflict => ConflictState::Conflict,
    };
    let by = actor.user().id;
    change_lead(leads, id, |lead, now| {
        if lead.conflict_state == ConflictState::Clear {
            return Err(AppError::bad_input("leadId", "has no possible conflict to decide: its check found nothing"));
        }
        if lead.conflict_state == state && lead.conflict_note == note {
            return Ok(None);
        }
        Ok(Some(Change {
            columns: vec![
                (C::ConflictState, Expr::value(state)),
                (C::ConflictDecidedBy, Expr::value(by)),
                (C::ConflictDecidedAt, Expr::value(now)),
                (C::ConflictNote, Expr::value(note.clone())),
            ],
            events: vec![NewEvent {
                lead_id: id,
                actor: Actor::User(by),
                data: EventData::ConflictResolved(ConflictResolved {
                    decision: state_name(state).to_owned(),
                    note: note.clone(),
                }),
            }],
            ..Change::default()
        }))
    })
    .await
}

/// Checks the lead again against the register and the leads submitted before it. A decision
/// already made stands unless the check finds someone it had not found before; then the lead
/// is a possible conflict again, to be decided afresh.
pub async fn rerun(leads: &Leads, id: Uuid, actor: Staff<'_>) -> Result<lead::Model, AppError> {
    let lead = submission::find(&leads.db, id).await?.ok_or(AppError::NotFound("lead"))?;
    let keys = CheckedKeys::of(&lead);
    let finding = check_under(leads, &lead, &keys).await?;
    let by = actor.user().id;
    let changed = change_lead(leads, id, |lead, now| {
        let (columns, event) = record(lead, &keys, &finding, by, now)?;
        Ok(Some(Change { columns, events: vec![event], ..Change::default() }))
    })
    .await?;
    tracing::info!(lead = %id, by = %by, state = state_name(changed.conflict_state), "conflict check run again");
    Ok(changed)
}

/// What a check is run on: the lead's name and address as they are, or as a correction makes
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CheckedKeys {
    pub name_key: String,
    pub email: String,
}

impl CheckedKeys {
    pub fn of(lead: &lead::Model) -> Self {
        Self { name_key: lead.name_key.clone(), email: lead.email.clone() }
    }
}

/// Checks `lead` under `keys` against the register and the leads submitted before it.
pub(crate) async fn check_under(leads: &Leads, lead: &lead::Model, keys: &CheckedKeys) -> Result<Finding, AppError> {
    // The lead it repeated when submitted (the address's first lead may since be another).
    let earlier = match lead.duplicate_of {
        Some(first) => submission::find(&leads.db, first).await?.as_ref().map(FirstLead::from),
        None => None,
    };
    let email_key = keys.email.to_lowercase();
    let subject = Subject {
        lead_id: lead.id,
        name_key: &keys.name_key,
        email_key: &email_key,
        email: &keys.email,
        submitted_at: lead.created_at,
    };
    let (_, candidates) = check::look_up(&leads.db, &subject).await?;
    Ok(check::judge(&subject, earlier.as_ref(), candidates))
}

/// The columns and history event that store `finding`, a check `by` planned when the lead had
/// the keys `planned_on`. Refused if it has other keys now (a concurrent correction): the
/// finding would be about someone else.
pub(crate) fn record(
    lead: &lead::Model,
    planned_on: &CheckedKeys,
    finding: &Finding,
    by: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<(lead::Column, SimpleExpr)>, NewEvent), AppError> {
    use lead::Column as C;
    if CheckedKeys::of(lead) != *planned_on {
        let what = "lead (someone else corrected it meanwhile)";
        return Err(AppError::Unavailable { what, retry_after_secs: crate::error::UNAVAILABLE_RETRY_SECS });
    }
    let new_hits = new_hits(&check::stored_hits(lead), finding);
    let decided = matches!(lead.conflict_state, ConflictState::Cleared | ConflictState::Conflict);
    let state = if decided && new_hits == 0 { lead.conflict_state } else { finding.state };
    let hits = serde_json::to_value(&finding.hits).expect("hits serialise");
    let mut columns = vec![
        (C::ConflictState, Expr::value(state)),
        (C::ConflictHits, Expr::value(hits)),
        (C::ConflictCheckedAt, Expr::value(now)),
    ];
    if state != lead.conflict_state {
        let none: Option<Uuid> = None;
        columns.push((C::ConflictDecidedBy, Expr::value(none)));
        columns.push((C::ConflictDecidedAt, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None)));
        columns.push((C::ConflictNote, Expr::value(Option::<String>::None)));
    }
    Ok((columns, checked_event(lead.id, Actor::User(by), state, finding.hits.len(), new_hits)))
}

/// Hits of `finding` that `before` did not have: another party or lead, or a party or lead
/// matched on more than before.
fn new_hits(before: &[Hit], finding: &Finding) -> usize {
    let seen: HashSet<(Option<Uuid>, Option<Uuid>, &[String])> =
        before.iter().map(|h| (h.party_id, h.lead_id, h.matched_on.as_slice())).collect();
    finding.conflicting().filter(|h| !seen.contains(&(h.party_id, h.lead_id, h.matched_on.as_slice()))).count()
}
