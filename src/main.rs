use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    api::app::cli::run().await
}
