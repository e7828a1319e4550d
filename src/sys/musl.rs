//! What the runtime binary needs from a libc that musl does not have: it is linked statically against musl
//! (no start-up probing of the CPU: glibc's ≈ 40–70 `cpuid`s are a VM exit each), with Debian's
//! `libseccomp.a`, which was compiled against glibc with `_FORTIFY_SOURCE`.

/// glibc's fortified `fprintf`, which `libseccomp.a`'s PFC text export (`seccomp_export_pfc`, gen_pfc.o)
/// calls. The object is linked with the rest of the archive, but containy never exports a filter as text (it
/// exports BPF), so this is never reached: it reports an error instead of printing.
#[unsafe(no_mangle)]
pub extern "C" fn __fprintf_chk() -> libc::c_int {
    -1
}
