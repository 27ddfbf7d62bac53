//! End-to-end tests: the real server over HTTP, a real database (SQLite, and PostgreSQL when
//! TEST_DATABASE_URL is set), a real SMTP conversation. One binary, so it links once.

// The harness lives in the test-support crate (shared with the benchmarks); `crate::helpers`
// names it here.
use test_support::app as helpers;
pub use test_support::on_both_backends;

mod abuse;
mod access;
mod cli;
mod duties;
mod errors;
mod files;
mod form_browser;
mod graphql_http;
mod hostile;
mod integrations;
mod lead_flow;
mod mail;
mod outages;
mod pipeline;
mod privacy;
mod read_cache;
mod schema;
mod sessions;
mod storage;
mod trust;
mod webhooks;
mod workflow_find;
mod workflow_follow;
mod workflow_live;
mod workflow_numbers;
