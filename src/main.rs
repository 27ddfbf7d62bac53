use std::process::ExitCode;

/// glibc's allocator made threads queue on its arena locks when memory allocated on one thread
/// (a database connection's) is freed on another (the request's): mimalloc frees across threads
/// without a lock (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    api::cli::run().await
}
