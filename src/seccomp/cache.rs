//! A cache of compiled filters, keyed by what they were compiled from.
//!
//! libseccomp needs 10–20 ms to turn the default profile (three ABIs, ~350 rules) into BPF — more than
//! the rest of a container's start. The result depends only on the profile and the libseccomp version, so
//! containy (like crun) keeps it: `<cache>/<sha256 of profile + version>.json`, written atomically. A hit costs
//! one small file read; anything wrong with the file (missing, stale format, unreadable) means "compile".

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CompiledFilter, SeccompError, compile};
use crate::plan::Seccomp;

pub const DEFAULT_CACHE: &str = "/var/lib/containy/seccomp";

/// The on-disk form: BPF instructions as `(code, jt, jf, k)`.
#[derive(Serialize, Deserialize)]
struct Stored {
    program: Vec<(u16, u8, u8, u32)>,
    flags: u32,
    flag_names: Vec<String>,
    skipped: Vec<String>,
}

fn key(profile: &Seccomp) -> String {
    let version = libseccomp::ScmpVersion::current().map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro));
    let mut hash = Sha256::new();
    hash.update(format!("containy-bpf-1 {version:?} {profile:?}"));
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `compile`, or the stored result of an earlier `compile` of the same profile.
pub fn compile_cached(profile: &Seccomp, cache: &Path) -> Result<CompiledFilter, SeccompError> {
    let path = cache.join(format!("{}.json", key(profile)));
    if let Some(filter) = std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice::<Stored>(&bytes).ok()) {
        crate::explain!(
            "load the compiled seccomp filter",
            format!("read {}", path.display()),
            "compiled once per profile; libseccomp takes milliseconds, a read takes microseconds"
        );
        return Ok(CompiledFilter {
            program: filter
                .program
                .into_iter()
                .map(|(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
                .collect(),
            flags: filter.flags,
            flag_names: filter.flag_names,
            skipped: filter.skipped,
        });
    }
    let compiled = compile(profile)?;
    store(&compiled, cache, &path);
    Ok(compiled)
}

/// Best effort: a cache that cannot be written only costs the next run a compile.
fn store(filter: &CompiledFilter, cache: &Path, path: &PathBuf) {
    let stored = Stored {
        program: filter.program.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect(),
        flags: filter.flags,
        flag_names: filter.flag_names.clone(),
        skipped: filter.skipped.clone(),
    };
    let Ok(json) = serde_json::to_vec(&stored) else { return };
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(cache);
    let tmp = cache.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    ));
    if std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_filter_is_the_compiled_filter() {
        let cache = tempfile::tempdir().unwrap();
        let profile = super::super::default_profile();
        let first = compile_cached(&profile, cache.path()).unwrap();
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
        let second = compile_cached(&profile, cache.path()).unwrap();
        assert_eq!(first.instructions(), second.instructions());
        let same = first
            .program
            .iter()
            .zip(&second.program)
            .all(|(a, b)| (a.code, a.jt, a.jf, a.k) == (b.code, b.jt, b.jf, b.k));
        assert!(same && first.flags == second.flags && first.skipped == second.skipped);
    }

    #[test]
    fn another_profile_gets_another_entry_and_garbage_is_recompiled() {
        let cache = tempfile::tempdir().unwrap();
        let mut profile = super::super::default_profile();
        compile_cached(&profile, cache.path()).unwrap();
        profile.default_errno = Some(1);
        compile_cached(&profile, cache.path()).unwrap();
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 2);
        for entry in std::fs::read_dir(cache.path()).unwrap() {
            std::fs::write(entry.unwrap().path(), "not json").unwrap();
        }
        assert!(compile_cached(&profile, cache.path()).unwrap().instructions() > 0);
    }
}
