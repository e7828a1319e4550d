//! A cache of compiled filters, keyed by what they were compiled from.
//!
//! libseccomp needs 10–20 ms to turn the default profile (three ABIs, ~350 rules) into BPF — more than
//! the rest of a container's start. The result depends only on the profile and the libseccomp version, so
//! containy (like crun) keeps it: `<cache>/<hash>.bpf`, written atomically. The file is one JSON line (flags,
//! skipped names), the profile itself in [`canonical`] form, and then the program as the kernel takes it, 8
//! bytes an instruction: a hit costs one small read, a comparison and a copy, not a parse of a thousand
//! numbers. Anything wrong with the file (missing, another format, another profile, a torn length) means
//! "compile".
//!
//! The hash only names the file; the stored profile, compared in full, is what makes a hit a hit. So the hash
//! need not resist collisions (FNV-1a: a profile crafted to collide with the default one only costs both a
//! compile), and a lookup needs neither a cryptographic hash (`sha2` would probe the CPU with `cpuid`, a
//! VM exit of ≈ 7 µs each) nor a JSON serialization of a profile of ~400 names.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CompiledFilter, SeccompError, compile};
use crate::plan::Seccomp;

pub const DEFAULT_CACHE: &str = "/var/lib/containy/seccomp";

/// Bumped whenever `compile` would turn the same profile into another program, or [`canonical`] would write
/// it differently (v3: the binary-tree layout; v4: flattened, and the profile stored).
const FORMAT: &str = "containy-bpf-4";

/// The header line; the profile's canonical bytes and then the program follow it.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    profile_bytes: usize,
    instructions: usize,
    flags: u32,
    flag_names: Vec<String>,
    skipped: Vec<String>,
}

/// Everything that decides the program, as bytes handed to `sink` piece by piece: the format, libseccomp's
/// version, and every field of the profile — strings ended by 0xff (no UTF-8 text contains it), lists
/// preceded by their length, numbers as 8 bytes — so two different profiles never give the same bytes.
fn canonical(profile: &Seccomp, sink: &mut impl FnMut(&[u8])) {
    fn text(sink: &mut impl FnMut(&[u8]), s: &str) {
        sink(s.as_bytes());
        sink(&[0xff]);
    }
    fn number(sink: &mut impl FnMut(&[u8]), n: u64) {
        sink(&n.to_le_bytes());
    }
    fn errno(sink: &mut impl FnMut(&[u8]), errno: Option<u32>) {
        number(sink, errno.map_or(u64::MAX, u64::from));
    }
    fn texts(sink: &mut impl FnMut(&[u8]), list: &[String]) {
        number(sink, list.len() as u64);
        list.iter().for_each(|s| text(sink, s));
    }
    text(sink, FORMAT);
    match libseccomp::ScmpVersion::current() {
        Ok(v) => [v.major, v.minor, v.micro].into_iter().for_each(|part| number(sink, u64::from(part))),
        Err(_) => number(sink, u64::MAX),
    }
    number(sink, profile.default_action as u64);
    errno(sink, profile.default_errno);
    texts(sink, &profile.architectures);
    texts(sink, &profile.flags);
    number(sink, profile.syscalls.len() as u64);
    for rule in &profile.syscalls {
        texts(sink, &rule.names);
        number(sink, rule.action as u64);
        errno(sink, rule.errno);
        number(sink, rule.args.len() as u64);
        for arg in &rule.args {
            [u64::from(arg.index), arg.value, arg.value_two, arg.op as u64].into_iter().for_each(|n| number(sink, n));
        }
    }
}

/// The file name: FNV-1a (64 bits) of the canonical bytes.
fn key(profile: &Seccomp) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    canonical(profile, &mut |piece| {
        for byte in piece {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    });
    format!("{hash:016x}")
}

/// `compile`, or the stored result of an earlier `compile` of the same profile.
pub fn compile_cached(profile: &Seccomp, cache: &Path) -> Result<CompiledFilter, SeccompError> {
    let path = cache.join(format!("{}.bpf", key(profile)));
    if let Some(filter) = std::fs::read(&path).ok().and_then(|bytes| decode(&bytes, profile)) {
        crate::explain!(
            "load the compiled seccomp filter",
            format!("read {}", path.display()),
            "compiled once per profile; libseccomp takes milliseconds, a read takes microseconds"
        );
        return Ok(filter);
    }
    let compiled = compile(profile)?;
    store(&compiled, profile, cache, &path);
    Ok(compiled)
}

fn encode(filter: &CompiledFilter, profile: &Seccomp) -> Option<Vec<u8>> {
    let mut stored = Vec::new();
    canonical(profile, &mut |piece| stored.extend_from_slice(piece));
    let header = Header {
        format: FORMAT.to_string(),
        profile_bytes: stored.len(),
        instructions: filter.program.len(),
        flags: filter.flags,
        flag_names: filter.flag_names.clone(),
        skipped: filter.skipped.clone(),
    };
    let mut bytes = serde_json::to_vec(&header).ok()?;
    bytes.push(b'\n');
    bytes.extend_from_slice(&stored);
    for i in &filter.program {
        bytes.extend_from_slice(&i.code.to_ne_bytes());
        bytes.extend_from_slice(&[i.jt, i.jf]);
        bytes.extend_from_slice(&i.k.to_ne_bytes());
    }
    Some(bytes)
}

/// The filter stored in `bytes`, if it is whole and was compiled from `profile`.
fn decode(bytes: &[u8], profile: &Seccomp) -> Option<CompiledFilter> {
    let newline = bytes.iter().position(|b| *b == b'\n')?;
    let header: Header = serde_json::from_slice(&bytes[..newline]).ok()?;
    let rest = &bytes[newline + 1..];
    if header.format != FORMAT || rest.len() != header.profile_bytes + header.instructions * 8 {
        return None;
    }
    let (stored, body) = rest.split_at(header.profile_bytes);
    let (mut at, mut same) = (0, true);
    canonical(profile, &mut |piece| {
        same = same && stored.get(at..at + piece.len()) == Some(piece);
        at += piece.len();
    });
    if !same || at != stored.len() {
        return None;
    }
    let program = super::decode_program(body);
    Some(CompiledFilter { program, flags: header.flags, flag_names: header.flag_names, skipped: header.skipped })
}

/// Best effort: a cache that cannot be written only costs the next run a compile.
fn store(filter: &CompiledFilter, profile: &Seccomp, cache: &Path, path: &PathBuf) {
    let Some(bytes) = encode(filter, profile) else { return };
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
    fn an_entry_of_another_profile_under_the_same_name_is_not_loaded() {
        // A hash collision, planted: the default profile's entry stored under the name of one that allows
        // everything but mkdirat. The stored profile differs, so it is compiled, not loaded.
        let cache = tempfile::tempdir().unwrap();
        let default = super::super::default_profile();
        compile_cached(&default, cache.path()).unwrap();
        let entry = std::fs::read_dir(cache.path()).unwrap().next().unwrap().unwrap().path();
        let other = crate::plan::Seccomp {
            default_action: crate::plan::SeccompAction::Allow,
            default_errno: None,
            architectures: vec![],
            flags: vec![],
            syscalls: vec![crate::plan::SyscallRule {
                names: vec!["mkdirat".into()],
                action: crate::plan::SeccompAction::Errno,
                errno: Some(13),
                args: vec![],
            }],
        };
        std::fs::rename(&entry, cache.path().join(format!("{}.bpf", key(&other)))).unwrap();
        let loaded = compile_cached(&other, cache.path()).unwrap();
        assert_eq!(loaded.instructions(), compile(&other).unwrap().instructions());
        assert!(loaded.instructions() < 20, "{loaded:?}");
    }

    #[test]
    fn different_profiles_give_different_bytes() {
        let bytes = |p: &Seccomp| {
            let mut out = Vec::new();
            canonical(p, &mut |piece| out.extend_from_slice(piece));
            out
        };
        let a = super::super::default_profile();
        let mut b = a.clone();
        // The same names, split between rules differently: "a","b" + "c" is not "a" + "b","c".
        let moved = b.syscalls[0].names.pop().unwrap();
        b.syscalls[1].names.insert(0, moved);
        assert_ne!(bytes(&a), bytes(&b));
        assert_eq!(bytes(&a), bytes(&a.clone()));
    }

    #[test]
    fn a_torn_entry_is_recompiled_not_loaded() {
        let cache = tempfile::tempdir().unwrap();
        let profile = super::super::default_profile();
        let whole = compile_cached(&profile, cache.path()).unwrap().instructions();
        let entry = std::fs::read_dir(cache.path()).unwrap().next().unwrap().unwrap().path();
        let bytes = std::fs::read(&entry).unwrap();
        std::fs::write(&entry, &bytes[..bytes.len() - 8]).unwrap();
        assert!(decode(&std::fs::read(&entry).unwrap(), &profile).is_none(), "one instruction short must not load");
        assert_eq!(compile_cached(&profile, cache.path()).unwrap().instructions(), whole);
        assert_eq!(std::fs::read(&entry).unwrap(), bytes, "the recompiled filter is stored again");
    }
}
