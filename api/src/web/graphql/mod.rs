//! The GraphQL schema. Resolvers translate between GraphQL and the domain modules, nothing more.

mod api_keys;
mod duties;
mod email_jobs;
mod history;
mod lead;
mod loaders;
mod mutation;
mod privacy;
mod query;
mod stats;
mod subscription;
mod types;
mod webhooks;

use async_graphql::{Context, Schema};
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;
pub mod parse_cache;
pub mod request_shape;
use uuid::Uuid;

use crate::{accounts::session::Session, error::AppError, web::state::AppState};

pub type IntakeSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deep enough for GraphiQL's and graphql-js's introspection queries, far short of a bomb.
pub const MAX_DEPTH: usize = 15;
/// Every field counts 1; a page of leads with everything on it is well under this.
pub const MAX_COMPLEXITY: usize = 1000;

pub fn build(state: AppState) -> IntakeSchema {
    let introspection = state.settings.introspection;
    let loaders = loaders::new(state.db.clone());
    let mut schema = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
        .data(state)
        .data(loaders)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if !introspection {
        schema = schema.disable_introspection();
    }
    schema.finish()
}

/// The caller's address, as the abuse limits see it.
#[derive(Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

/// The caller's `User-Agent`, kept with a consent given.
#[derive(Clone)]
pub struct UserAgent(pub Option<String>);

fn client_ip(ctx: &Context<'_>) -> std::net::IpAddr {
    ctx.data_opt::<ClientIp>().map(|c| c.0).unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot).finish().sdl()
}

fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

fn loaders_of<'a>(ctx: &Context<'a>) -> &'a std::sync::Arc<loaders::Loaders> {
    ctx.data_unchecked::<std::sync::Arc<loaders::Loaders>>()
}

fn session<'a>(ctx: &Context<'a>) -> &'a Session {
    ctx.data_unchecked::<Session>()
}

fn parse_id(id: &async_graphql::ID, field: &'static str) -> Result<Uuid, AppError> {
    id.parse().map_err(|_| AppError::bad_input(field, "is not a valid id"))
}
