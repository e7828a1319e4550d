//! A cache of compiled filters, keyed by what they were compiled from.
//!
//! libseccomp needs 10–20 ms to turn the default profile (three ABIs, ~350 rules) into BPF — more than
//! the rest of a container's start. The result depends only on the profile and the libseccomp version, so
//! containy (like crun) keeps it: `<cache>/<sha256 of profile + version>.bpf`, written atomically. The file is
//! one JSON line (flags, skipped names) and then the program as the kernel takes it, 8 bytes an instruction:
//! a hit costs one small read and a copy, not a parse of a thousand numbers. Anything wrong with the file
//! (missing, another format, a torn length) means "compile".

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CompiledFilter, SeccompError, compile};
use crate::plan::Seccomp;

pub const DEFAULT_CACHE: &str = "/var/lib/containy/seccomp";

/// Bumped whenever `compile` would turn the same profile into another program (v3: the binary-tree layout).
const FORMAT: &str = "containy-bpf-3";

/// The header line; the program follows it.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    instructions: usize,
    flags: u32,
    flag_names: Vec<String>,
    skipped: Vec<String>,
}

fn key(profile: &Seccomp) -> String {
    let version = libseccomp::ScmpVersion::current().map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro));
    let mut hash = Sha256::new();
    hash.update(format!("{FORMAT} {version:?} "));
    // The plan's own serialization: compact, and every field that changes the program is in it.
    hash.update(serde_json::to_vec(profile).unwrap_or_else(|_| format!("{profile:?}").into_bytes()));
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `compile`, or the stored result of an earlier `compile` of the same profile.
pub fn compile_cached(profile: &Seccomp, cache: &Path) -> Result<CompiledFilter, SeccompError> {
    let path = cache.join(format!("{}.bpf", key(profile)));
    if let Some(filter) = std::fs::read(&path).ok().and_then(|bytes| decode(&bytes)) {
        crate::explain!(
            "load the compiled seccomp filter",
            format!("read {}", path.display()),
            "compiled once per profile; libseccomp takes milliseconds, a read takes microseconds"
        );
        return Ok(filter);
    }
    let compiled = compile(profile)?;
    store(&compiled, cache, &path);
    Ok(compiled)
}

fn encode(filter: &CompiledFilter) -> Option<Vec<u8>> {
    let header = Header {
        format: FORMAT.to_string(),
        instructions: filter.program.len(),
        flags: filter.flags,
        flag_names: filter.flag_names.clone(),
        skipped: filter.skipped.clone(),
    };
    let mut bytes = serde_json::to_vec(&header).ok()?;
    bytes.push(b'\n');
    for i in &filter.program {
        bytes.extend_from_slice(&i.code.to_ne_bytes());
        bytes.extend_from_slice(&[i.jt, i.jf]);
        bytes.extend_from_slice(&i.k.to_ne_bytes());
    }
    Some(bytes)
}

fn decode(bytes: &[u8]) -> Option<CompiledFilter> {
    let newline = bytes.iter().position(|b| *b == b'\n')?;
    let header: Header = serde_json::from_slice(&bytes[..newline]).ok()?;
    let body = &bytes[newline + 1..];
    if header.format != FORMAT || body.len() != header.instructions * 8 {
        return None;
    }
    let program = super::decode_program(body);
    Some(CompiledFilter { program, flags: header.flags, flag_names: header.flag_names, skipped: header.skipped })
}

/// Best effort: a cache that cannot be written only costs the next run a compile.
fn store(filter: &CompiledFilter, cache: &Path, path: &PathBuf) {
    let Some(bytes) = encode(filter) else { return };
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(cache);
    let tmp = cache.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    ));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path).is_err() {
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
            std::fs::write(entry.unwrap().path(), "not a filter").unwrap();
        }
        assert!(compile_cached(&profile, cache.path()).unwrap().instructions() > 0);
    }

    #[test]
    fn a_torn_entry_is_recompiled_not_loaded() {
        let cache = tempfile::tempdir().unwrap();
        let profile = super::super::default_profile();
        let whole = compile_cached(&profile, cache.path()).unwrap().instructions();
        let entry = std::fs::read_dir(cache.path()).unwrap().next().unwrap().unwrap().path();
        let bytes = std::fs::read(&entry).unwrap();
        std::fs::write(&entry, &bytes[..bytes.len() - 8]).unwrap();
        assert!(decode(&std::fs::read(&entry).unwrap()).is_none(), "one instruction short must not load");
        assert_eq!(compile_cached(&profile, cache.path()).unwrap().instructions(), whole);
        assert_eq!(std::fs::read(&entry).unwrap(), bytes, "the recompiled filter is stored again");
    }
}
