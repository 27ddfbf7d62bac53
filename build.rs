//! Decides which end-to-end tests can run on this machine, so that a test that cannot run is
//! reported `ignored` by the test runner instead of passing without doing anything:
//! - `intake_postgres`: `TEST_DATABASE_URL` is set, or a PostgreSQL answers on 127.0.0.1:5432;
//! - `intake_browser`: Debian's Chromium and ChromeDriver are installed;
//! - `intake_http_audit`: `GRAPHQL_HTTP_DIR` names a folder with graphql-http installed.
//!
//! A test enabled here fails (it does not skip) when what it needs has gone away since.

use std::{net::TcpStream, path::Path, time::Duration};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn main() {
    for cfg in ["intake_postgres", "intake_browser", "intake_http_audit"] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=GRAPHQL_HTTP_DIR");

    let database_url = std::env::var("TEST_DATABASE_URL").unwrap_or_default();
    let local_postgres = || {
        TcpStream::connect_timeout(&"127.0.0.1:5432".parse().expect("an address"), Duration::from_millis(500)).is_ok()
    };
    if !database_url.is_empty() || local_postgres() {
        println!("cargo::rustc-cfg=intake_postgres");
    }
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        println!("cargo::rustc-cfg=intake_browser");
    }
    let audit = std::env::var("GRAPHQL_HTTP_DIR").unwrap_or_default();
    if !audit.is_empty() && Path::new(&audit).join("node_modules/graphql-http").exists() {
        println!("cargo::rustc-cfg=intake_http_audit");
    }
}
