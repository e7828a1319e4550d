//! `containy`: parse the command line, run the verb, print the error chain, exit with the right code.

use clap::Parser;

/// containy's own failures (bad config, a failed mount) exit 125, as docker and podman do, so they are
/// never mistaken for the container's exit code.
const EXIT_CONTAINY_ERROR: i32 = 125;

fn main() {
    let cli = containy::cli::Cli::parse();
    let code = match containy::cli::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("containy: error: {e:#}");
            EXIT_CONTAINY_ERROR
        }
    };
    std::process::exit(code);
}
