//! Intake: the library behind the `intake` binary. The folders are the architecture, and
//! dependencies point one way: `app` (configuration, start-up, CLI) uses everything; `web`
//! (HTTP, WebSocket, the GraphQL schema) uses the domains; the domains, `leads` and
//! `accounts`, use `infra` (database, storage, mail, jobs, announcements); `infra` uses
//! nothing above it. `error` is the one error type, shared by all.

pub mod accounts;
pub mod app;
pub mod error;
pub mod infra;
pub mod leads;
pub mod web;
