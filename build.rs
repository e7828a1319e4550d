//! containy's ELF entry point is `containy_start` (src/sys/entry: before libc, a plain line of a verb that
//! starts a process inside a container re-executes from a sealed view at once), on x86-64 Linux; elsewhere
//! glibc's `_start` as usual, and the parsed path re-executes. `--undefined` makes the linker take the
//! entry crate's object even though no code calls into it by that name.
fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "x86_64" && os == "linux" {
        println!("cargo:rustc-link-arg-bin=containy=-Wl,--undefined=containy_start,--entry=containy_start");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
