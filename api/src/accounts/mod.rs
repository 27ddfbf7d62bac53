//! Accounts and sign-in: users, argon2id passwords (one check per request), access tokens,
//! refresh-token families, API keys, the per-request session and its role checks, and what a
//! sign-in hands out. Its functions take the `Accounts` service; the session hands out the `Staff` and
//! `Admin` proofs that role-restricted functions take. It uses `infra`, never `leads` or `web`.

pub mod api_keys;
pub mod password;
pub mod refresh;
pub mod service;
pub mod session;
pub mod sign_in;
pub mod tokens;
pub mod users;
