//! seccomp-BPF: a filter the kernel runs on every system call the container makes (`man 2 seccomp`).
//!
//! A filter is a small classic-BPF program. For each syscall the kernel hands it the architecture, the syscall
//! number and the six argument registers; the program answers allow, fail with an errno, send `SIGSYS`, or kill.
//! It cannot read memory, so arguments passed by pointer (a path, `clone3`'s struct) cannot be filtered. Once
//! installed, a filter stays for the life of the process and everything it `execve`s or forks; filters can be
//! stacked but never removed. We write rules by syscall *name* (OCI `linux.seccomp`), and libseccomp turns them
//! into BPF for each ABI the filter covers (x86_64, i386 and x32 use different numbers for the same call);
//! containy then rewrites that program as ranges of numbers, a third of the length and checked to answer the
//! same ([`flat`]), because the kernel's load time grows with the length and every container start pays it.
//!
//! The order matters twice. The filter is compiled in the parent, before `clone3` ([`compile`]): libseccomp
//! allocates and may fail in ways that should be reported before anything exists, and the child, a copy of a
//! process that may hold allocator locks, should do as little as it can. The child only hands the finished
//! program to the kernel ([`load`]), and does that as late as possible, because from then on the runtime's own
//! remaining syscalls are filtered too: with no_new_privileges it is the very last step before telling the
//! parent it is ready (after that only `sendmsg`, `rt_sigprocmask`, `execve` and, on failure, `exit_group` run,
//! so every profile containy loads must allow those; the default one does, a user's profile is the user's
//! choice, as with runc). Without no_new_privileges the kernel only lets a process with `CAP_SYS_ADMIN` install
//! a filter, so then it is loaded before the capabilities are dropped, and must also allow the identity and
//! capability calls that follow (`prctl`, `capset`, `setgroups`, `setresuid`, `setresgid`, `close_range`).
//!
//! A syscall the profile does not know must fail with `ENOSYS`, not `EPERM`: ENOSYS says "this kernel has no such
//! call", and that is what makes libraries fall back to an older one — glibc tries `clone3` and falls back to
//! `clone`, `faccessat2` to `faccessat`, `statx` to `fstatat`, but only on ENOSYS. A profile that answers EPERM
//! to everything it does not list breaks every program built against a newer kernel than the profile. So the
//! default profile fails unknown calls with ENOSYS and keeps EPERM for the dangerous calls it names on purpose.
//! That profile, as data, is in `default_profile.rs`.

mod bpf;
mod cache;
mod flat;

pub use cache::{DEFAULT_CACHE, compile_cached};

use std::fmt;
use std::io::{Read, Seek};
use std::str::FromStr;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use crate::plan::{ArgCmp, Seccomp, SeccompAction, SeccompOp};
use crate::sys;

/// The largest errno a filter can return: the kernel clamps `SECCOMP_RET_ERRNO` data to `MAX_ERRNO`.
const MAX_ERRNO: u32 = 4095;

/// `BPF_MAXINSNS`: the longest program `seccomp(2)` accepts.
const BPF_MAXINSNS: usize = 4096;

/// The `seccomp(2)` filter flags a profile may ask for, by OCI name.
const FLAGS: &[(&str, u32)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", 1),
    ("SECCOMP_FILTER_FLAG_LOG", 1 << 1),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 1 << 2),
];

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp: {field}: unknown architecture {name:?}: use an OCI name such as SCMP_ARCH_X86_64")]
    UnknownArch { field: String, name: String },
    #[error(
        "seccomp: {field}: unknown filter flag {name:?}: use SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW \
         or SECCOMP_FILTER_FLAG_TSYNC"
    )]
    UnknownFlag { field: String, name: String },
    #[error("seccomp: {field}: {problem}")]
    Invalid { field: String, problem: String },
    #[error("seccomp: {what}: libseccomp refused it")]
    Libseccomp {
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp: cannot export the compiled filter")]
    Export {
        #[source]
        source: std::io::Error,
    },
    #[error(
        "seccomp: the filter is {instructions} BPF instructions, more than the kernel's limit of {BPF_MAXINSNS}: \
         use fewer rules or architectures"
    )]
    TooLong { instructions: usize },
    #[error("seccomp(SECCOMP_SET_MODE_FILTER{flags}): cannot install the filter{hint}")]
    Load {
        flags: String,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// A filter ready for the kernel: the BPF program and the `seccomp(2)` flags to install it with.
#[derive(Clone)]
pub struct CompiledFilter {
    program: Vec<libc::sock_filter>,
    flags: u32,
    flag_names: Vec<String>,
    /// Syscall names neither libseccomp nor this kernel's tables know; their rules were left out.
    pub skipped: Vec<String>,
}

impl CompiledFilter {
    /// The number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }
}

impl fmt::Debug for CompiledFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledFilter")
            .field("instructions", &self.program.len())
            .field("flags", &self.flag_names)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// Translate `profile` into a BPF program. Runs in the parent, before `clone3`.
///
/// libseccomp compiles it (the reference, see [`with_libseccomp`]); then [`flat`] rewrites the result as
/// ranges of syscall numbers, a third of the length, and loads that only if it answers as the reference does.
pub fn compile(profile: &Seccomp) -> Result<CompiledFilter, SeccompError> {
    let mut flags = 0;
    for (i, name) in profile.flags.iter().enumerate() {
        let Some((_, bit)) = FLAGS.iter().find(|(known, _)| known == name) else {
            return Err(SeccompError::UnknownFlag { field: format!("flags[{i}]"), name: name.clone() });
        };
        flags |= bit;
    }
    let Reference { program: reference, arches, skipped } = with_libseccomp(profile)?;
    crate::explain!(
        format!("compile the seccomp filter: {} rules, {} BPF instructions", profile.syscalls.len(), reference.len()),
        "libseccomp: seccomp_rule_add, seccomp_export_bpf",
        "compiled in the parent, before clone: the child only hands the finished program to the kernel"
    );
    if !skipped.is_empty() {
        crate::explain!(
            format!("skip syscalls this libseccomp does not know: {}", skipped.join(", ")),
            "seccomp_syscall_resolve_name",
            "a profile written for a newer kernel must still load; those calls fall to the default action"
        );
    }
    let flat = flat::flatten(profile, &arches, &reference, |rest| with_libseccomp(rest).ok().map(|r| r.program));
    let program = match flat {
        Some(flat) => {
            crate::explain!(
                format!("flatten it: {} → {} instructions, the same answers", reference.len(), flat.len()),
                "ranges of syscall numbers in a binary search, checked against libseccomp's program",
                "the kernel's load (check, convert, JIT) takes time in proportion to the length, on every start"
            );
            flat
        }
        None => reference,
    };
    if program.len() > BPF_MAXINSNS {
        return Err(SeccompError::TooLong { instructions: program.len() });
    }
    Ok(CompiledFilter { program, flags, flag_names: profile.flags.clone(), skipped })
}

/// What libseccomp made of a profile.
struct Reference {
    program: Vec<libc::sock_filter>,
    /// The ABIs the program covers, the native one first.
    arches: Vec<ScmpArch>,
    /// Syscall names libseccomp does not know.
    skipped: Vec<String>,
}

/// libseccomp's program for `profile`.
///
/// Rules are added in order. A syscall name libseccomp does not know is skipped (a profile written for a
/// newer kernel must still load; runc does the same). A rule whose action equals the default is skipped
/// too: it changes nothing, and libseccomp refuses it. The comparisons of one rule are ANDed — except that
/// libseccomp cannot compare one argument twice in a rule, so a rule that does gets one rule per comparison
/// (ORed), which is what runc does with such profiles.
fn with_libseccomp(profile: &Seccomp) -> Result<Reference, SeccompError> {
    let default = scmp_action(profile.default_action, profile.default_errno, "defaultErrnoRet")?;
    let mut ctx = ScmpFilterContext::new(default).map_err(libseccomp("create a filter"))?;
    // A binary tree over the syscall numbers instead of one long if-chain: every path through it gets short,
    // which is what `seccomp(2)` pays for when it runs the filter once for every syscall number of every ABI
    // to build its allow-bitmap, and what a syscall the bitmap does not settle pays. (It is also what makes
    // the flattening's thousands of questions cheap.)
    ctx.set_ctl_optimize(2).map_err(libseccomp("ask for the binary-tree layout"))?;
    let mut arches = vec![ScmpArch::native()];
    for (i, name) in profile.architectures.iter().enumerate() {
        let field = format!("architectures[{i}]");
        let arch = ScmpArch::from_str(name)
            .map_err(|_| SeccompError::UnknownArch { field: field.clone(), name: name.clone() })?;
        ctx.add_arch(arch).map_err(libseccomp(&format!("{field}: add {name}")))?;
        arches.push(arch);
    }

    let mut skipped = Vec::new();
    for (i, rule) in profile.syscalls.iter().enumerate() {
        let action = scmp_action(rule.action, rule.errno, &format!("syscalls[{i}].errnoRet"))?;
        if action == default {
            continue;
        }
        let comparisons = comparisons(&rule.args, i)?;
        let repeated = (0..comparisons.len()).any(|a| rule.args[a + 1..].iter().any(|b| b.index == rule.args[a].index));
        for name in &rule.names {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                if !skipped.contains(name) {
                    skipped.push(name.clone());
                }
                continue;
            };
            let what = || format!("syscalls[{i}]: add the rule for {name}");
            if repeated {
                for comparison in &comparisons {
                    ctx.add_rule_conditional(action, syscall, std::slice::from_ref(comparison))
                        .map_err(libseccomp(&what()))?;
                }
            } else {
                ctx.add_rule_conditional(action, syscall, &comparisons).map_err(libseccomp(&what()))?;
            }
        }
    }
    Ok(Reference { program: export_bpf(&ctx)?, arches, skipped })
}

/// Install `filter` on the calling process. Runs in the child, as late as the rules allow (see the module doc).
pub fn load(filter: &CompiledFilter) -> Result<(), SeccompError> {
    let flags = if filter.flag_names.is_empty() { String::new() } else { format!(", {}", filter.flag_names.join("|")) };
    crate::explain!(
        format!("install the seccomp filter ({} BPF instructions)", filter.program.len()),
        format!("seccomp(SECCOMP_SET_MODE_FILTER{flags})"),
        "from now on the kernel checks every syscall of the container against it; it can never be removed"
    );
    sys::seccomp_set_mode_filter(&filter.program, filter.flags).map_err(|source| {
        let hint = match source.raw_os_error() {
            Some(libc::EACCES) => {
                ": without no_new_privileges the kernel requires CAP_SYS_ADMIN (set no_new_privileges, or keep \
                 CAP_SYS_ADMIN in the bounding set)"
            }
            Some(libc::EINVAL) => ": this kernel may not support one of the filter flags",
            _ => "",
        };
        SeccompError::Load { flags, hint, source }
    })
}

fn libseccomp(what: &str) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError + '_ {
    move |source| SeccompError::Libseccomp { what: what.to_string(), source }
}

/// `errno` is the errno for `Errno`, the message for `Trace`; both default to `EPERM`, as in runc.
fn scmp_action(action: SeccompAction, errno: Option<u32>, field: &str) -> Result<ScmpAction, SeccompError> {
    let data = errno.unwrap_or(libc::EPERM as u32);
    if matches!(action, SeccompAction::Errno | SeccompAction::Trace) && data > MAX_ERRNO {
        return Err(SeccompError::Invalid {
            field: field.to_string(),
            problem: format!("{data} is not an errno: the kernel returns at most {MAX_ERRNO}"),
        });
    }
    Ok(match action {
        SeccompAction::Kill | SeccompAction::KillThread => ScmpAction::KillThread,
        SeccompAction::KillProcess => ScmpAction::KillProcess,
        SeccompAction::Trap => ScmpAction::Trap,
        SeccompAction::Errno => ScmpAction::Errno(data as i32),
        SeccompAction::Trace => ScmpAction::Trace(data as u16),
        SeccompAction::Allow => ScmpAction::Allow,
        SeccompAction::Log => ScmpAction::Log,
    })
}

fn comparisons(args: &[ArgCmp], rule: usize) -> Result<Vec<ScmpArgCompare>, SeccompError> {
    let mut out = Vec::with_capacity(args.len());
    for (j, arg) in args.iter().enumerate() {
        if arg.index > 5 {
            return Err(SeccompError::Invalid {
                field: format!("syscalls[{rule}].args[{j}].index"),
                problem: format!("{} is not an argument number: syscalls have arguments 0 to 5", arg.index),
            });
        }
        let (op, datum) = match arg.op {
            SeccompOp::NotEqual => (ScmpCompareOp::NotEqual, arg.value),
            SeccompOp::LessThan => (ScmpCompareOp::Less, arg.value),
            SeccompOp::LessOrEqual => (ScmpCompareOp::LessOrEqual, arg.value),
            SeccompOp::Equal => (ScmpCompareOp::Equal, arg.value),
            SeccompOp::GreaterOrEqual => (ScmpCompareOp::GreaterEqual, arg.value),
            SeccompOp::GreaterThan => (ScmpCompareOp::Greater, arg.value),
            // OCI: `value` is the mask, `valueTwo` what the masked argument must equal.
            SeccompOp::MaskedEqual => (ScmpCompareOp::MaskedEqual(arg.value), arg.value_two),
        };
        out.push(ScmpArgCompare::new(arg.index, op, datum));
    }
    Ok(out)
}

/// libseccomp 2.5 exports only to a file descriptor: an in-memory file, read back as `struct sock_filter`s.
fn export_bpf(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let export = |e: std::io::Error| SeccompError::Export { source: e };
    let fd = nix::sys::memfd::memfd_create(c"containy-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| export(e.into()))?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(&file).map_err(libseccomp("export the BPF program"))?;
    file.rewind().map_err(export)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(export)?;
    if bytes.len() % 8 != 0 {
        return Err(export(std::io::Error::other(format!(
            "{} bytes is not a whole number of instructions",
            bytes.len()
        ))));
    }
    Ok(decode_program(&bytes))
}

/// Raw BPF as libseccomp exports it and the cache stores it: `struct sock_filter` is
/// { u16 code; u8 jt; u8 jf; u32 k; } in native byte order (a trailing partial instruction is ignored).
pub(crate) fn decode_program(bytes: &[u8]) -> Vec<libc::sock_filter> {
    bytes
        .chunks_exact(8)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect()
}

mod default_profile;

pub use default_profile::{ALLOWED, DENIED, default_profile};

/// A classic-BPF interpreter for the tests: what the kernel would answer to one syscall.
#[cfg(test)]
mod test_bpf {
    use super::*;
    use crate::plan::SyscallRule;

    pub const RET_KILL_THREAD: u32 = 0;
    pub const RET_ERRNO: u32 = 0x0005_0000;
    pub const RET_ALLOW: u32 = 0x7fff_0000;
    pub const EPERM: u32 = RET_ERRNO | 1;
    pub const ENOSYS: u32 = RET_ERRNO | 38;

    /// `AUDIT_ARCH_*` of the ABIs the tests call through.
    pub const AUDIT_X86_64: u32 = 0xc000_003e;
    pub const AUDIT_I386: u32 = 0x4000_0003;
    pub const AUDIT_AARCH64: u32 = 0xc000_00b7;
    pub const X32_SYSCALL_BIT: i32 = 0x4000_0000;

    /// What the kernel would answer to one syscall: [`bpf::run`] on the filter's program.
    pub fn run(filter: &CompiledFilter, arch: u32, nr: i32, args: [u64; 6]) -> u32 {
        match bpf::run(&filter.program, arch, nr as u32, &args) {
            Some(outcome) => outcome.ret,
            None => panic!("the filter uses an instruction the interpreter does not know, or runs off its end"),
        }
    }

    pub fn native_audit_arch() -> u32 {
        if cfg!(target_arch = "x86_64") {
            AUDIT_X86_64
        } else if cfg!(target_arch = "aarch64") {
            AUDIT_AARCH64
        } else {
            panic!("add this architecture's AUDIT_ARCH value")
        }
    }

    pub fn nr(name: &str) -> i32 {
        ScmpSyscall::from_name(name).unwrap().as_raw_syscall()
    }

    pub fn call(filter: &CompiledFilter, name: &str, args: [u64; 6]) -> u32 {
        run(filter, native_audit_arch(), nr(name), args)
    }

    pub fn rule(names: &[&str], action: SeccompAction, errno: Option<u32>, args: Vec<ArgCmp>) -> SyscallRule {
        SyscallRule { names: names.iter().map(|n| n.to_string()).collect(), action, errno, args }
    }

    pub fn profile(default_action: SeccompAction, syscalls: Vec<SyscallRule>) -> Seccomp {
        Seccomp { default_action, default_errno: None, architectures: vec![], flags: vec![], syscalls }
    }

    pub const NONE: [u64; 6] = [0; 6];
}

#[cfg(test)]
mod tests {
    use super::test_bpf::*;
    use super::*;

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn rules_with_arguments_are_anded_and_repeated_arguments_ored() {
        let cmp = |index, op, value, value_two| ArgCmp { index, value, value_two, op };
        let filter = compile(&profile(
            SeccompAction::Allow,
            vec![
                rule(&["mkdirat"], SeccompAction::Errno, Some(13), vec![]),
                // kill(pid, 9) with pid > 1: both must hold.
                rule(
                    &["kill"],
                    SeccompAction::Errno,
                    None,
                    vec![cmp(0, SeccompOp::GreaterThan, 1, 0), cmp(1, SeccompOp::Equal, 9, 0)],
                ),
                // openat with O_CREAT (bit 0o100) in its flags.
                rule(&["openat"], SeccompAction::Trap, None, vec![cmp(2, SeccompOp::MaskedEqual, 0o100, 0o100)]),
                // Argument 0 compared twice: libseccomp cannot AND these, so either one matches.
                rule(
                    &["dup3"],
                    SeccompAction::KillProcess,
                    None,
                    vec![cmp(0, SeccompOp::Equal, 7, 0), cmp(0, SeccompOp::Equal, 8, 0)],
                ),
            ],
        ))
        .unwrap();
        assert_eq!(call(&filter, "mkdirat", NONE), RET_ERRNO | 13);
        assert_eq!(call(&filter, "kill", [100, 9, 0, 0, 0, 0]), EPERM);
        assert_eq!(call(&filter, "kill", [1, 9, 0, 0, 0, 0]), RET_ALLOW, "pid 1: the first comparison fails");
        assert_eq!(call(&filter, "kill", [100, 15, 0, 0, 0, 0]), RET_ALLOW, "SIGTERM: the second fails");
        assert_eq!(call(&filter, "openat", [0, 0, 0o101, 0, 0, 0]), 0x0003_0000);
        assert_eq!(call(&filter, "openat", [0, 0, 0o1, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&filter, "dup3", [7, 0, 0, 0, 0, 0]), 0x8000_0000);
        assert_eq!(call(&filter, "dup3", [8, 0, 0, 0, 0, 0]), 0x8000_0000);
        assert_eq!(call(&filter, "dup3", [9, 0, 0, 0, 0, 0]), RET_ALLOW);
    }

    #[test]
    fn unknown_syscall_names_are_skipped_and_the_rest_still_applies() {
        let filter = compile(&profile(
            SeccompAction::Allow,
            vec![rule(&["no_such_syscall", "mkdirat", "mseal2000"], SeccompAction::Errno, None, vec![])],
        ))
        .unwrap();
        assert_eq!(filter.skipped, ["no_such_syscall", "mseal2000"]);
        assert_eq!(call(&filter, "mkdirat", NONE), EPERM);
    }

    #[test]
    fn a_rule_that_repeats_the_default_changes_nothing() {
        let filter = compile(&profile(SeccompAction::Allow, vec![rule(&["read"], SeccompAction::Allow, None, vec![])]));
        assert_eq!(call(&filter.unwrap(), "read", NONE), RET_ALLOW);
    }

    #[test]
    fn flags_become_seccomp_flags() {
        let mut p = profile(SeccompAction::Allow, vec![]);
        p.flags = vec!["SECCOMP_FILTER_FLAG_LOG".into(), "SECCOMP_FILTER_FLAG_SPEC_ALLOW".into()];
        assert_eq!(compile(&p).unwrap().flags, 0b110);
    }

    #[test]
    fn what_cannot_be_compiled_names_its_field() {
        let mut p = profile(SeccompAction::Allow, vec![]);
        p.architectures = vec!["SCMP_ARCH_X86_64".into(), "SCMP_ARCH_PDP11".into()];
        let err = compile(&p).unwrap_err();
        assert!(matches!(&err, SeccompError::UnknownArch { field, .. } if field == "architectures[1]"), "{err:?}");
        assert!(err.to_string().contains("\"SCMP_ARCH_PDP11\""), "{err}");

        let mut p = profile(SeccompAction::Allow, vec![]);
        p.flags = vec!["SECCOMP_FILTER_FLAG_NEW_LISTENER".into()];
        let err = compile(&p).unwrap_err();
        assert!(matches!(&err, SeccompError::UnknownFlag { field, .. } if field == "flags[0]"), "{err:?}");

        let big_errno = profile(SeccompAction::Allow, vec![rule(&["read"], SeccompAction::Errno, Some(5000), vec![])]);
        let err = compile(&big_errno).unwrap_err();
        assert_eq!(
            err.to_string(),
            "seccomp: syscalls[0].errnoRet: 5000 is not an errno: the kernel returns at most 4095"
        );

        let arg = ArgCmp { index: 6, value: 0, value_two: 0, op: SeccompOp::Equal };
        let err = compile(&profile(SeccompAction::Allow, vec![rule(&["read"], SeccompAction::Errno, None, vec![arg])]))
            .unwrap_err();
        assert!(
            err.to_string().starts_with("seccomp: syscalls[0].args[0].index: 6 is not an argument number"),
            "{err}"
        );
    }
}
