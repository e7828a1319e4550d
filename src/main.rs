//! `containy`: parse the command line, run the verb, print the error chain, exit with the right code.
//!
//! Exit codes (docs/architecture.md, "Errors"): the container's own code when it ran; 128+N when signal N killed
//! it; 126/127 when its program could not be executed (not executable / not found); 125 when containy itself
//! failed (a bad config, a refused mount); 2 when the command line could not be parsed (an unknown verb or
//! flag, a missing or malformed argument) — then nothing was attempted.

#![deny(unsafe_code)]

/// containy's own failures (bad config, a failed mount) exit 125, as docker and podman do, so they are
/// never mistaken for the container's exit code.
const EXIT_CONTAINY_ERROR: i32 = 125;

/// The command line itself is wrong: clap's usage errors, the code clap and most Unix tools use.
const EXIT_USAGE: i32 = 2;

fn main() {
    // `exec` runs from a sealed view of this binary: re-executing before the parse saves parsing twice.
    containy::runtime::sealed_exe::reexec_early();
    let cli = match containy::cli::Cli::parse_args() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` come this way too, to stdout and with success.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let log = cli.log.clone().map(|path| (path, cli.log_format));
    let code = match containy::cli::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let cause: &(dyn std::error::Error + 'static) = e.as_ref();
            let message = containy::error::chain(cause);
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
