//! Subscriptions over WebSocket (graphql-transport-ws): new leads and changes to leads, for
//! attorneys and admins. The access token comes in `connection_init` (see `http/live.rs`).

use async_graphql::{Context, ID, Result, Subscription};
use futures_util::{Stream, StreamExt, stream};
use tokio::sync::broadcast::{self, error::RecvError};

use super::{lead::Lead, loaders::ById, loaders_of, parse_id, state};
use crate::{accounts::session::Session, error::AppError, infra::announce::LeadChange};

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Each new lead, as soon as it is stored. Attorneys and admins.
    async fn lead_submitted(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Lead> + use<>> {
        staff(ctx)?;
        Ok(leads_for(ctx, |change| matches!(change, LeadChange::Submitted(_))))
    }

    /// The lead as it is after each change: status, corrections, résumé, assignment, notes,
    /// mails sent or failed. With `id`, that lead's changes only. Attorneys and admins.
    async fn lead_updated(&self, ctx: &Context<'_>, id: Option<ID>) -> Result<impl Stream<Item = Lead> + use<>> {
        staff(ctx)?;
        let only = id.map(|id| parse_id(&id, "id")).transpose()?;
        Ok(leads_for(
            ctx,
            move |change| matches!(change, LeadChange::Updated(lead) if only.is_none_or(|only| only == lead)),
        ))
    }
}

fn staff(ctx: &Context<'_>) -> Result<(), AppError> {
    let session = ctx.data_opt::<Session>().unwrap_or(&Session::Anonymous);
    session.staff().map(drop)
}

/// The leads named by the changes `wanted` picks, read fresh as each change arrives, through
/// the batched loader: every subscriber hears a change at once, and one query serves them all.
fn leads_for<F>(ctx: &Context<'_>, wanted: F) -> impl Stream<Item = Lead> + use<F>
where
    F: Fn(LeadChange) -> bool + Send + 'static,
{
    let loaders = loaders_of(ctx).clone();
    changes(state(ctx).announcer.subscribe()).filter(move |c| std::future::ready(wanted(*c))).filter_map(
        move |change| {
            let loaders = loaders.clone();
            async move {
                match loaders.load_one(ById::<entity::lead::Entity>::new(change.lead_id())).await {
                    Ok(lead) => lead.map(Lead),
                    Err(e) => {
                        tracing::warn!(error = ?e, "subscription: reading a changed lead failed");
                        None
                    }
                }
            }
        },
    )
}

fn changes(receiver: broadcast::Receiver<LeadChange>) -> impl Stream<Item = LeadChange> {
    stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(change) => return Some((change, receiver)),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "subscription: a slow subscriber missed lead changes");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
