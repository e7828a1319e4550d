//! `containy`, the runtime: every verb but those of the daemon and the registry client, which it hands over to
//! `containy-engine` (`containy::handover` says why there are two binaries). The work is `containy::cli::main`.

#![deny(unsafe_code)]

/// On musl (the release build, `make release`), dlmalloc instead of musl's allocator: musl's maps a fresh group
/// of pages for each size class and unmaps it when it empties (≈ 60 `mmap`/`munmap` per `run`, and a fault for
/// each page), where dlmalloc keeps what it mapped for the process's few milliseconds.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() {
    containy::cli::main()
}
