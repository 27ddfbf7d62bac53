//! Who is calling: password hashing, access tokens, and the per-request session.

pub mod password;
pub mod refresh;
pub mod session;
pub mod tokens;

pub use password::{PasswordBudget, PasswordCheck};
pub use session::Session;
pub use tokens::TokenKeys;
