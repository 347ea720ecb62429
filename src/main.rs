//! The `wayfarer` binary: parses the command line and hands over to [`wayfarer::cli`].

use std::process::ExitCode;

use clap::Parser as _;

// mimalloc instead of glibc's malloc: a search allocates and frees tens of
// thousands of small objects (provider JSON, offers, the response), and under
// load glibc spent about a third of the server's CPU in `malloc`/`free`
// and their consolidation, and kept the freed memory (RSS) after a burst;
// mimalloc's thread-local free lists and page purging do neither (before and
// after in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    wayfarer::cli::Cli::parse().run().await
}
