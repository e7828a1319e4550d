//! `containy-engine`: all of containy — the runtime's verbs and the engine's, `serve` (the Docker Engine API)
//! and the registry client (`pull`, `push`, `login`, `logout`). `containy` executes it for those
//! (`containy::handover`); the daemon starts monitors and containers with the smaller `containy` next to it.

#![deny(unsafe_code)]

fn main() {
    containy::handover::link(containy::handover::Linked {
        verb: containy::cli::engine::verb,
        pull: containy::image::registry::pull,
    });
    containy::cli::main()
}
