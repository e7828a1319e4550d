//! containy's ELF entry point is `containy_start` (src/sys/entry: before libc, a plain line of a verb that
//! starts a process inside a container re-executes from a sealed view at once), on x86-64 Linux; elsewhere
//! glibc's `_start` as usual, and the parsed path re-executes. `--undefined` makes the linker take the
//! entry crate's object even though no code calls into it by that name.
//!
//! Not in a static build that is not the release profile (the cgroup2 VM's tests): a static-pie binary runs
//! its entry point before it has relocated itself, which only the release build's optimised entry code
//! survives (no call leaves the crate, none goes through the GOT; `make test-release` runs it). A dynamic build
//! is relocated by ld.so before its entry point runs, so `cargo test`'s debug build keeps it.
fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let static_build = var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static");
    let relocated_or_release = !static_build || var("PROFILE") == "release";
    if var("CARGO_CFG_TARGET_ARCH") == "x86_64" && var("CARGO_CFG_TARGET_OS") == "linux" && relocated_or_release {
        println!("cargo:rustc-link-arg-bin=containy=-Wl,--undefined=containy_start,--entry=containy_start");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
