//! Logging to stderr (stdout is for command output such as `intake schema`). `RUST_LOG`
//! filters; the default is info for Intake and quiet for libraries.
//!
//! Whatever `RUST_LOG` says, the database drivers stay at `warn`: at debug they print every
//! statement with its bound values, which include email addresses and password hashes.

use tracing_subscriber::{EnvFilter, fmt};

const ALWAYS_QUIET: &[&str] = &["sqlx=warn", "sea_orm=warn", "sea_orm_migration=info", "hyper=info", "h2=info"];

pub fn init() {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    for directive in ALWAYS_QUIET {
        filter = filter.add_directive(directive.parse().expect("valid directive"));
    }
    let _ = fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}
