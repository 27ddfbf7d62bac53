//! Intake's benchmarks (issue "Benchmarks and speed"). Build and run in release mode:
//!
//! ```sh
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p bench -- all
//! ```
//!
//! `all` runs every benchmark and writes the figures into BENCHMARKS.md; the other commands run
//! one and print it. Without BENCH_DATABASE_URL, only SQLite is measured (and it says so).
//! The servers under test are this same binary started as child processes (`serve-intake`,
//! `serve-floor`), so that they run the code the benchmark was built with.

mod bare;
mod cold_start;
mod conflicts;
mod fixtures;
mod floor;
mod lists;
mod load;
mod mail_drain;
mod memory;
mod reads;
mod report;
mod scale;
mod servers;
mod submit;
mod uploads;

use std::process::ExitCode;

use fixtures::Backend;

const USAGE: &str =
    "usage: bench all | submit | reads | uploads | cold-start | conflicts | scale | lists | memory [seconds] | mail-drain [count] [concurrency]
  BENCH_DATABASE_URL  a PostgreSQL server URL: also measure on PostgreSQL
  BENCH_SECONDS       length of each load run (default 20)
  BENCH_SCALE_LEADS   leads seeded for `scale` and `lists` (default 1,000,000)
  BENCH_SERVER_ENV    NAME=value pairs, space-separated, for every server under test";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        // The servers under test: their own runtime, as the `intake` binary would have.
        Some("serve-intake") => tokio_main(api::app::cli::run_with(args[1..].iter().map(Into::into))),
        Some("serve-floor") => report_error(tokio_main(floor::serve())),
        Some("serve-bare") => report_error(tokio_main(bare::serve())),
        _ => {
            let result = tokio_main(bench(args[1..].to_vec()));
            fixtures::remove_directories();
            report_error(result)
        }
    }
}

fn tokio_main<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime").block_on(future)
}

fn report_error(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The mixed load `memory` holds, whatever `BENCH_SECONDS` says: two minutes (`bench all`; a
/// shorter run for a quick look is `bench memory 30`).
const MEMORY_SECONDS: u64 = 120;

async fn bench(args: Vec<String>) -> anyhow::Result<()> {
    let seconds = std::env::var("BENCH_SECONDS").ok().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let number = |i: usize, default: usize| -> anyhow::Result<usize> {
        Ok(args.get(i).map(|a| a.parse()).transpose()?.unwrap_or(default))
    };
    let section = match args.first().map(String::as_str) {
        Some("all") => return all(seconds).await,
        Some("submit") => submit::run(&Backend::available(), seconds).await?,
        Some("reads") => reads::run(&Backend::available(), seconds).await?,
        Some("uploads") => uploads::run(seconds).await?,
        Some("cold-start") => cold_start::run(&Backend::available()).await?,
        Some("conflicts") => conflicts::run(&Backend::available(), seconds).await?,
        Some("scale") => scale::run(&Backend::available(), seconds).await?,
        Some("lists") => lists::run(&Backend::available(), seconds).await?,
        Some("memory") => memory::run(&Backend::available(), number(1, MEMORY_SECONDS as usize)? as u64).await?,
        Some("mail-drain") => mail_drain::run(&Backend::available(), number(1, 10_000)?, number(2, 8)?).await?,
        _ => anyhow::bail!("{USAGE}"),
    };
    println!("\n{}", section.markdown());
    Ok(())
}

async fn all(seconds: u64) -> anyhow::Result<()> {
    let backends = Backend::available();
    let sections = vec![
        submit::run(&backends, seconds).await?,
        conflicts::run(&backends, seconds).await?,
        scale::run(&backends, seconds).await?,
        lists::run(&backends, seconds).await?,
        memory::run(&backends, MEMORY_SECONDS).await?,
        reads::run(&backends, seconds).await?,
        uploads::run(seconds.min(10)).await?,
        cold_start::run(&backends).await?,
        mail_drain::run(&backends, 10_000, 8).await?,
    ];
    let command = "BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p bench -- all";
    report::write_into("BENCHMARKS.md", &sections, command)?;
    println!("figures written into BENCHMARKS.md");
    Ok(())
}
