//! `containy`, the runtime: every verb but those of the daemon and the registry client, which it hands over to
//! `containy-engine` (`containy::handover` says why there are two binaries). The work is `containy::cli::main`.

#![deny(unsafe_code)]

fn main() {
    containy::cli::main()
}
