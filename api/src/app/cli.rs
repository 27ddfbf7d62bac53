//! The `intake` command line.

use std::{io::BufRead, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use entity::user::Role;

use crate::{
    accounts::users::{self, NewUser},
    app::config::Config,
    app::startup::{self, Application},
    app::telemetry,
    leads::conflicts::register,
};

#[derive(Parser)]
#[command(name = "intake", version, about = "Lead intake for law firms: a GraphQL API, its mail worker and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API (and, unless --no-worker, the mail worker). Applies pending migrations first.
    Serve {
        /// Serve the API only; run `intake worker` processes for mail.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run only the mail worker. Applies pending migrations first.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Exit 0 when the server on INTAKE_ADDR answers /readyz with 200 (for container healthchecks).
    Health,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the conflict register.
    Conflicts {
        #[command(subcommand)]
        command: ConflictsCommand,
    },
}

#[derive(Subcommand)]
enum ConflictsCommand {
    /// Add the parties of a CSV file (columns name,email,organization,role,note and a header
    /// row; role CLIENT, FORMER_CLIENT, ADVERSE_PARTY or RELATED_PARTY). With one bad row,
    /// every bad row is reported by line number and nothing is stored.
    Import {
        /// The CSV file; `-` reads standard input.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add an account; the password is read from the first line of standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Attorney,
    Admin,
}

pub async fn run() -> ExitCode {
    run_with(std::env::args_os()).await
}

/// `run` with the arguments given (the first is the program name); the benchmarks start Intake
/// through it, so that they measure the code they were built with.
pub async fn run_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    crate::app::memory::tune_allocator();
    let cli = Cli::parse_from(args);
    if let Command::Schema = cli.command {
        print!("{}", crate::web::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    telemetry::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("intake: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve { no_worker } => serve(config, !no_worker).await,
        Command::Worker => startup::run_worker(config, startup::shutdown_signal()).await,
        Command::Migrate => migrate(config).await,
        Command::Health => crate::app::health_probe::check(config.addr).await,
        Command::User { command: UserCommand::Add { email, name, role } } => add_user(config, email, name, role).await,
        Command::Conflicts { command: ConflictsCommand::Import { file } } => import_conflicts(config, file).await,
        Command::Schema => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("intake: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mut config: Config, worker_flag: bool) -> anyhow::Result<()> {
    config.run_worker &= worker_flag;
    // Listening for signals before the slow part, so that a stop while starting is clean.
    let shutdown = startup::shutdown_signal();
    let app = Application::build(config).await?;
    app.run_until_stopped(shutdown).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    startup::connect(&config).await?;
    println!("migrations applied");
    Ok(())
}

async fn add_user(config: Config, email: String, name: String, role: RoleArg) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let state = startup::connect(&config).await?;
    let role = match role {
        RoleArg::Attorney => Role::Attorney,
        RoleArg::Admin => Role::Admin,
    };
    let user =
        users::create_as_operator(&state.db, &state.announcer, NewUser { email, full_name: name, role, password })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("created {} ({})", user.email, crate::accounts::tokens::role_name(user.role).to_lowercase());
    Ok(())
}

async fn import_conflicts(config: Config, file: std::path::PathBuf) -> anyhow::Result<()> {
    let reader: Box<dyn std::io::Read + Send> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?)
    };
    let state = startup::connect(&config).await?;
    match register::import_csv(&state.db, &state.announcer, reader).await.map_err(|e| anyhow::anyhow!("{e}"))? {
        Ok(count) => {
            println!("imported {count} parties into the conflict register");
            Ok(())
        }
        Err(bad) => {
            for row in &bad {
                eprintln!("{}:{}: {}", file.display(), row.line, row.message);
            }
            anyhow::bail!("{} bad row(s): nothing was imported; correct them and import the file again", bad.len())
        }
    }
}
