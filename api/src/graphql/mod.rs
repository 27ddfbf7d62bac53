//! The GraphQL schema. Resolvers translate between GraphQL and the domain modules, nothing more.

mod mutation;
mod query;
mod types;

use async_graphql::{Context, EmptySubscription, Schema};
pub use mutation::MutationRoot;
pub use query::QueryRoot;
use uuid::Uuid;

use crate::{auth::Session, error::AppError, state::AppState};

pub type IntakeSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

pub fn build(state: AppState) -> IntakeSchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription).data(state).finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription).finish().sdl()
}

fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

fn session<'a>(ctx: &Context<'a>) -> &'a Session {
    ctx.data_unchecked::<Session>()
}

fn parse_id(id: &async_graphql::ID, field: &'static str) -> Result<Uuid, AppError> {
    id.parse().map_err(|_| AppError::bad_input(field, "is not a valid id"))
}
