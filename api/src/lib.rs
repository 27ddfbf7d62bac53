//! Intake: the library behind the `intake` binary. The folders are the architecture, and
//! dependencies point one way: `app` (configuration, start-up, CLI) uses everything; `web`
//! (HTTP, WebSocket, the GraphQL schema) uses the domains; the domains use `infra` (database,
//! storage, mail, announcements, limits), and `leads` may use `accounts` (who is staff, the
//! role proofs) but never the reverse; `infra` uses nothing above it. `error` is the one error
//! type, shared by all; it uses only the leaf `infra::mask`.

pub mod accounts;
pub mod app;
pub mod error;
pub mod infra;
pub mod leads;
pub mod web;
