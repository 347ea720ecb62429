//! The `wayfarer` binary: parses the command line and hands over to [`wayfarer::cli`].

use std::process::ExitCode;

use clap::Parser as _;

// mimalloc instead of glibc's malloc: a search allocates and frees tens of
// thousands of small objects (provider JSON, offers, the response), and under
// load glibc spent about a third of the server's CPU in `malloc`/`free` and
// their consolidation. Same code, glibc → mimalloc (BENCHMARKS.md): 1,000
// concurrent searches 18.0 × L → 9.4 × L, 4.5 → 2.9 ms of server CPU each.
// Built with `no_thp`: with transparent huge pages mimalloc's arenas came
// back as 2 MiB pages and the idle server grew from 42 to 64 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    wayfarer::cli::Cli::parse().run().await
}
