//! `containy`: parse the command line, run the verb, print the error chain, exit with the right code.

use clap::Parser;

/// containy's own failures (bad config, a failed mount) exit 125, as docker and podman do, so they are
/// never mistaken for the container's exit code.
const EXIT_CONTAINY_ERROR: i32 = 125;

fn main() {
    let cli = containy::cli::Cli::parse();
    let log = cli.log.clone().map(|path| (path, cli.log_format));
    let code = match containy::cli::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let message = format!("{e:#}");
            if let Some((path, format)) = &log {
                containy::cli::log_error(path, *format, &message);
            }
            match e.downcast_ref::<containy::cli::ExitWith>() {
                Some(exit) => {
                    eprintln!("containy: {message}");
                    exit.code
                }
                None => {
                    eprintln!("containy: error: {message}");
                    EXIT_CONTAINY_ERROR
                }
            }
        }
    };
    std::process::exit(code);
}
