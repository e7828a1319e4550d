//! Flattening: the program libseccomp compiled, rewritten as ranges of syscall numbers — same answers, a third
//! of the length.
//!
//! Loading a filter costs the kernel time in proportion to its length: `seccomp(2)` checks the classic BPF,
//! converts it to eBPF and JIT-compiles it, ≈ 9.5 µs plus 0.15 µs an instruction on the bench machine (the
//! default profile: 1,431 instructions, ≈ 0.22 ms on every container start). libseccomp spends about one and a
//! half instructions per syscall per ABI, but neighbouring syscall numbers mostly share an answer: the default
//! profile's 347 syscalls on x86_64 fall into 68 runs of equal answers, 132 on i386, 112 on x32. So:
//!
//! 1. libseccomp compiles the whole profile: the *reference*, which decides every answer;
//! 2. [`bpf::run`] asks the reference, for every ABI the filter covers and every number in the windows
//!    (`0..1024`, and x32's `0x4000_0000..` on x86_64), what it answers and whether it looked at the arguments;
//! 3. numbers whose answer does not depend on the arguments become ranges, searched as a binary tree whose
//!    leaves jump to a shared `ret`;
//! 4. everything else — numbers with argument rules, numbers outside the windows, foreign ABIs — jumps to a
//!    second libseccomp program compiled from only the rules that can decide them (the *rest*);
//! 5. the result is checked against the reference, number by number in the windows for every ABI containy
//!    knows, and with argument values around every constant of the profile for the numbers the rest decides.
//!
//! Any step that does not fit (an ABI it cannot name, a jump too long for classic BPF, one answer that differs)
//! gives up, and the reference is loaded as it is. The order matters: the reference comes first because it
//! is the definition; the check comes last because it is what makes the flat program safe to load.

use std::collections::BTreeSet;

use libseccomp::{ScmpArch, ScmpSyscall};

use super::bpf::{self, Insn};
use crate::plan::{Seccomp, SyscallRule};

/// Syscall numbers below this are flattened (every ABI containy knows numbers its calls below 1024; a name
/// numbered above is left to the rest).
const WINDOW: u32 = 1024;

/// x32 shares x86_64's `AUDIT_ARCH` and marks its syscall numbers with this bit.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_X86_64`: the ABI whose numbers have an x32 window too.
const AUDIT_X86_64: u32 = 0xc000_003e;

/// libseccomp's numbers at or below this mean "no such syscall on this ABI"; those between it and 0 are
/// calls that ABI multiplexes (i386's `socketcall` and `ipc`).
const PNR_ABSENT: i32 = -10000;

/// `AUDIT_ARCH_*` of the ABIs a filter can cover, by libseccomp's name for them (`linux/audit.h`).
fn audit_arch(arch: ScmpArch) -> Option<u32> {
    Some(match arch {
        ScmpArch::Native => return audit_arch(ScmpArch::native()),
        ScmpArch::X8664 | ScmpArch::X32 => AUDIT_X86_64,
        ScmpArch::X86 => 0x4000_0003,
        ScmpArch::Aarch64 => 0xc000_00b7,
        ScmpArch::Arm => 0x4000_0028,
        ScmpArch::Riscv64 => 0xc000_00f3,
        ScmpArch::Ppc64Le => 0xc000_0015,
        ScmpArch::S390X => 0x8000_0016,
        _ => return None,
    })
}

/// Every ABI the check asks about, covered by the filter or not, and one no kernel has.
const CHECKED_ARCHES: &[u32] =
    &[AUDIT_X86_64, 0x4000_0003, 0xc000_00b7, 0x4000_0028, 0xc000_00f3, 0xc000_0015, 0x8000_0016, 0];

/// The numbers flattened for an ABI, as half-open ranges.
fn windows(audit: u32) -> &'static [(u32, u32)] {
    if audit == AUDIT_X86_64 { &[(0, WINDOW), (X32_SYSCALL_BIT, X32_SYSCALL_BIT + WINDOW)] } else { &[(0, WINDOW)] }
}

fn in_window(audit: u32, nr: u32) -> bool {
    windows(audit).iter().any(|(start, end)| (*start..*end).contains(&nr))
}

/// Where a syscall number goes: a fixed answer (`SECCOMP_RET_*`), or the rest program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Ret(u32),
    Rest,
}

/// One ABI the filter covers: libseccomp's name for it (to resolve names) and its `AUDIT_ARCH`.
struct Abi {
    arch: ScmpArch,
    audit: u32,
}

/// The flat form of `reference`, the program libseccomp compiled from `profile` on `arches` (which the
/// filter covers, native included); `compile_rest` compiles a part of the profile the same way. `None` when
/// flattening does not fit or would not be shorter: load the reference.
pub(super) fn flatten(
    profile: &Seccomp,
    arches: &[ScmpArch],
    reference: &[Insn],
    compile_rest: impl FnOnce(&Seccomp) -> Option<Vec<Insn>>,
) -> Option<Vec<Insn>> {
    let mut abis: Vec<Abi> = Vec::new();
    for &arch in arches {
        let audit = audit_arch(arch)?;
        if !abis.iter().any(|abi| abi.arch == arch) {
            abis.push(Abi { arch, audit });
        }
    }
    let mut audits: Vec<u32> = abis.iter().map(|abi| abi.audit).collect();
    audits.sort_unstable();
    audits.dedup();

    // 2. What the reference answers in the windows, and which numbers depend on their arguments.
    let mut ranges = Vec::with_capacity(audits.len());
    let mut delegated = BTreeSet::new();
    for &audit in &audits {
        let mut leaves: Vec<(u32, Leaf)> = vec![(0, Leaf::Rest)];
        for &(start, end) in windows(audit) {
            for nr in start..end {
                let outcome = bpf::run(reference, audit, nr, &[0; 6])?;
                let leaf = if outcome.read_args {
                    delegated.insert((audit, nr));
                    Leaf::Rest
                } else {
                    Leaf::Ret(outcome.ret)
                };
                push_range(&mut leaves, nr, leaf);
            }
            push_range(&mut leaves, end, Leaf::Rest);
        }
        ranges.push((audit, leaves));
    }

    // 4. The rest: the rules that can decide a number the ranges leave to it.
    let rest_profile = rest_of(profile, &abis, &delegated);
    let rest = compile_rest(&rest_profile)?;

    // 3. The flat program.
    let flat = assemble(&ranges, &rest)?;
    if flat.len() >= reference.len() {
        return None;
    }
    // 5. The check.
    same_answers(reference, &flat, &audits, &delegated, &constants(profile)).then_some(flat)
}

/// Append `leaf` from `nr` on, merging it into the range before when that has the same leaf.
fn push_range(leaves: &mut Vec<(u32, Leaf)>, nr: u32, leaf: Leaf) {
    match leaves.last_mut() {
        Some(last) if last.1 == leaf => {}
        Some(last) if last.0 == nr => last.1 = leaf,
        _ => leaves.push((nr, leaf)),
    }
    // A range replaced at its start may now repeat the one before it.
    let n = leaves.len();
    if n >= 2 && leaves[n - 2].1 == leaves[n - 1].1 {
        leaves.pop();
    }
}

/// The profile's rules cut down to the names that can decide a number the ranges leave to the rest: every
/// name of a rule with argument checks; a name whose number on some ABI is left to the rest or lies outside
/// the windows; a name an ABI multiplexes (i386's `socketcall`, `ipc`) when that ABI's multiplexer is.
fn rest_of(profile: &Seccomp, abis: &[Abi], delegated: &BTreeSet<(u32, u32)>) -> Seccomp {
    let resolve = |name: &str, arch: ScmpArch| ScmpSyscall::from_name_by_arch(name, arch).map(|s| s.as_raw_syscall());
    let multiplexer_left = |abi: &Abi| {
        ["socketcall", "ipc"]
            .iter()
            .any(|m| matches!(resolve(m, abi.arch), Ok(nr) if nr >= 0 && delegated.contains(&(abi.audit, nr as u32))))
    };
    let needed = |name: &str| {
        abis.iter().any(|abi| match resolve(name, abi.arch) {
            Ok(nr) if nr >= 0 => !in_window(abi.audit, nr as u32) || delegated.contains(&(abi.audit, nr as u32)),
            Ok(nr) if nr > PNR_ABSENT => multiplexer_left(abi),
            _ => false,
        })
    };
    let syscalls = profile
        .syscalls
        .iter()
        .filter_map(|rule| {
            let names: Vec<String> =
                rule.names.iter().filter(|name| !rule.args.is_empty() || needed(name)).cloned().collect();
            (!names.is_empty()).then(|| SyscallRule { names, ..rule.clone() })
        })
        .collect();
    Seccomp { syscalls, ..profile.clone() }
}

/// `ld arch`, a jump to each ABI's block, the blocks, and the rest program after them (which checks the ABI
/// again itself: classic BPF jumps are relative, so a whole program can be appended as it is).
fn assemble(ranges: &[(u32, Vec<(u32, Leaf)>)], rest: &[Insn]) -> Option<Vec<Insn>> {
    let blocks: Vec<(Vec<Insn>, Vec<usize>)> = ranges.iter().map(|(_, leaves)| block(leaves)).collect::<Option<_>>()?;
    let dispatch = 1 + 2 * ranges.len() + 1;
    let rest_at = dispatch + blocks.iter().map(|(code, _)| code.len()).sum::<usize>();
    let mut out = Vec::with_capacity(rest_at + rest.len());
    out.push(stmt(0x20, 4)); // ld [4]: the arch
    let mut block_at = dispatch;
    for ((audit, _), (code, _)) in ranges.iter().zip(&blocks) {
        out.push(Insn { code: 0x15, jt: 0, jf: 1, k: *audit }); // jeq audit, 0, 1
        out.push(stmt(0x05, u32::try_from(block_at - out.len() - 1).ok()?)); // ja block
        block_at += code.len();
    }
    out.push(stmt(0x05, u32::try_from(rest_at - out.len() - 1).ok()?)); // ja rest: an ABI not covered
    for (code, to_rest) in blocks {
        let at = out.len();
        out.extend(code);
        for i in to_rest {
            out[at + i].k = u32::try_from(rest_at - (at + i) - 1).ok()?;
        }
    }
    out.extend_from_slice(rest);
    Some(out)
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn { code, jt: 0, jf: 0, k }
}

/// One ABI's block: `ld nr`, a binary search over the ranges (`jge start`), and one instruction per distinct
/// leaf at the end, which every search path jumps to. Also returns where the `ja rest` placeholders are.
fn block(leaves: &[(u32, Leaf)]) -> Option<(Vec<Insn>, Vec<usize>)> {
    let mut terminals: Vec<Leaf> = Vec::new();
    let indexed: Vec<(u32, usize)> = leaves
        .iter()
        .map(|&(start, leaf)| {
            let t = terminals.iter().position(|l| *l == leaf).unwrap_or_else(|| {
                terminals.push(leaf);
                terminals.len() - 1
            });
            (start, t)
        })
        .collect();
    let mut nodes = Vec::new();
    search(&indexed, &mut nodes);
    // ld nr, then the nodes, then the terminals; a root that is a terminal needs no search at all.
    let first_terminal = if nodes.is_empty() { 0 } else { 1 + nodes.len() };
    let mut code = Vec::with_capacity(first_terminal + terminals.len());
    if !nodes.is_empty() {
        code.push(stmt(0x20, 0)); // ld [0]: the syscall number
        let position = |target: Target| match target {
            Target::Node(i) => 1 + i,
            Target::Terminal(t) => first_terminal + t,
        };
        for (i, node) in nodes.iter().enumerate() {
            let from = 1 + i + 1;
            // A conditional jump reaches at most 255 instructions ahead.
            let jt = u8::try_from(position(node.jt).checked_sub(from)?).ok()?;
            let jf = u8::try_from(position(node.jf).checked_sub(from)?).ok()?;
            code.push(Insn { code: 0x35, jt, jf, k: node.start }); // jge start
        }
    }
    let mut to_rest = Vec::new();
    for leaf in terminals {
        match leaf {
            Leaf::Ret(value) => code.push(stmt(0x06, value)), // ret #value
            Leaf::Rest => {
                to_rest.push(code.len());
                code.push(stmt(0x05, 0)); // ja rest, patched by `assemble`
            }
        }
    }
    Some((code, to_rest))
}

#[derive(Clone, Copy)]
enum Target {
    Node(usize),
    Terminal(usize),
}

struct Node {
    start: u32,
    jt: Target,
    jf: Target,
}

/// A balanced search over `ranges` (sorted by start, the first starting at 0): a node asks "nr >= start of
/// the middle range?" and goes right if so. Nodes are laid out in preorder, so a node's left child (if it is
/// a node) is the next instruction.
fn search(ranges: &[(u32, usize)], nodes: &mut Vec<Node>) -> Target {
    if ranges.len() == 1 {
        return Target::Terminal(ranges[0].1);
    }
    let at = nodes.len();
    nodes.push(Node { start: 0, jt: Target::Terminal(0), jf: Target::Terminal(0) });
    let middle = ranges.len() / 2;
    let jf = search(&ranges[..middle], nodes);
    let jt = search(&ranges[middle..], nodes);
    nodes[at] = Node { start: ranges[middle].0, jt, jf };
    Target::Node(at)
}

/// Every constant the profile compares an argument with.
fn constants(profile: &Seccomp) -> Vec<u64> {
    let mut values: Vec<u64> =
        profile.syscalls.iter().flat_map(|rule| rule.args.iter().flat_map(|arg| [arg.value, arg.value_two])).collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// Do `reference` and `flat` answer the same? Every number in the windows and a few beyond them, for every
/// ABI containy knows (covered or not), with zero arguments; and for the numbers the rest decides, with each
/// argument (and all at once) set to small numbers, extremes, and every constant of the profile and its
/// neighbours — i386's multiplexers take the call number in argument 0.
fn same_answers(
    reference: &[Insn],
    flat: &[Insn],
    covered: &[u32],
    delegated: &BTreeSet<(u32, u32)>,
    constants: &[u64],
) -> bool {
    let same = |arch, nr, args: &[u64; 6]| match (bpf::run(reference, arch, nr, args), bpf::run(flat, arch, nr, args)) {
        (Some(a), Some(b)) => a.ret == b.ret,
        _ => false,
    };
    let beyond =
        [WINDOW, 2 * WINDOW - 1, X32_SYSCALL_BIT - 1, X32_SYSCALL_BIT + WINDOW, 0x7fff_ffff, 0x8000_0000, u32::MAX];
    let arches = CHECKED_ARCHES.iter().chain(covered).copied().collect::<BTreeSet<u32>>();
    for &arch in &arches {
        let windows = [(0, WINDOW), (X32_SYSCALL_BIT, X32_SYSCALL_BIT + WINDOW)];
        let mut numbers = windows.iter().flat_map(|&(start, end)| start..end).chain(beyond);
        if !numbers.all(|nr| same(arch, nr, &[0; 6])) {
            return false;
        }
    }
    let mut values: Vec<u64> = (0..=32).chain([u64::from(u32::MAX), 1 << 32, u64::MAX]).collect();
    for &c in constants {
        values.extend([c, c.wrapping_sub(1), c.wrapping_add(1), c ^ (1 << 32), !c]);
    }
    delegated.iter().all(|&(arch, nr)| {
        values.iter().all(|&v| {
            let mut args = [v; 6];
            if !same(arch, nr, &args) {
                return false;
            }
            (0..6).all(|i| {
                args = [0; 6];
                args[i] = v;
                same(arch, nr, &args)
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ArgCmp, SeccompAction, SeccompOp};
    use crate::seccomp::{Reference, compile, default_profile, with_libseccomp};

    fn flatten_with(
        profile: &Seccomp,
        rest: impl FnOnce(&Seccomp) -> Option<Vec<Insn>>,
    ) -> (Vec<Insn>, Option<Vec<Insn>>) {
        let Reference { program: reference, arches, .. } = with_libseccomp(profile).unwrap();
        let flat = flatten(profile, &arches, &reference, rest);
        (reference, flat)
    }

    fn libseccomp_rest(rest: &Seccomp) -> Option<Vec<Insn>> {
        with_libseccomp(rest).ok().map(|r| r.program)
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_default_profile_flattens_to_a_third_and_compile_loads_that() {
        let profile = default_profile();
        let (reference, flat) = flatten_with(&profile, libseccomp_rest);
        let flat = flat.expect("the default profile flattens");
        assert!(flat.len() * 3 < reference.len(), "{} → {}", reference.len(), flat.len());
        assert_eq!(compile(&profile).unwrap().instructions(), flat.len());
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn a_flat_program_that_answers_one_call_differently_fails_the_check() {
        let profile = default_profile();
        let (reference, flat) = flatten_with(&profile, libseccomp_rest);
        let flat = flat.unwrap();
        let audits = [AUDIT_X86_64, 0x4000_0003];
        let delegated = BTreeSet::new();
        assert!(same_answers(&reference, &flat, &audits, &delegated, &[]));
        // Every `ret ALLOW` of the flat part, in turn, made `ret ENOSYS`: each one must be caught.
        let rest_at = flat.len() - libseccomp_rest(&rest_of_default()).unwrap().len();
        let allows: Vec<usize> = (0..rest_at).filter(|&i| flat[i].code == 0x06 && flat[i].k == 0x7fff_0000).collect();
        assert_eq!(allows.len(), 2, "one per ABI block: x86_64 with x32, and i386");
        for i in allows {
            let mut wrong = flat.clone();
            wrong[i].k = 0x0005_0026;
            assert!(!same_answers(&reference, &wrong, &audits, &delegated, &[]), "instruction {i}");
        }
    }

    fn rest_of_default() -> Seccomp {
        let profile = default_profile();
        let Reference { program: reference, arches, .. } = with_libseccomp(&profile).unwrap();
        let mut captured = None;
        flatten(&profile, &arches, &reference, |rest| {
            captured = Some(rest.clone());
            libseccomp_rest(rest)
        });
        captured.unwrap()
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn a_rest_that_lacks_an_argument_rule_is_caught_and_the_reference_loaded() {
        // The rest compiled without clone's EPERM rules: clone(CLONE_NEWUSER) would be ENOSYS, not EPERM.
        let profile = default_profile();
        let (_, flat) = flatten_with(&profile, |rest| {
            let mut rest = rest.clone();
            rest.syscalls.retain(|rule| !(rule.names == ["clone"] && rule.action == SeccompAction::Errno));
            libseccomp_rest(&rest)
        });
        assert!(flat.is_none());
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn i386_multiplexed_socket_calls_answer_as_libseccomp_says() {
        // The default profile's allow-list with socket denied outright: on i386 libseccomp also puts socket's
        // rule into socketcall (argument 0 is the call, SYS_SOCKET = 1), which the list allows. Whatever it
        // decides there, the flattened program must say the same.
        let mut profile = default_profile();
        profile.syscalls.retain(|rule| rule.names != ["socket"]);
        profile.syscalls.push(SyscallRule {
            names: vec!["socket".into()],
            action: SeccompAction::Errno,
            errno: None,
            args: vec![ArgCmp { index: 0, value: 2, value_two: 0, op: SeccompOp::NotEqual }],
        });
        let (reference, flat) = flatten_with(&profile, libseccomp_rest);
        let flat = flat.expect("it flattens");
        let (i386, socketcall, socket) = (0x4000_0003, 102, 359);
        for call in 0..=20 {
            for family in [0, 2, 10, 40] {
                let args = [call, family, 0, 0, 0, 0];
                let want = bpf::run(&reference, i386, socketcall, &args).unwrap().ret;
                assert_eq!(bpf::run(&flat, i386, socketcall, &args).unwrap().ret, want, "socketcall{args:?}");
                let args = [family, 0, 0, 0, 0, 0];
                let want = bpf::run(&reference, i386, socket, &args).unwrap().ret;
                assert_eq!(bpf::run(&flat, i386, socket, &args).unwrap().ret, want, "socket{args:?}");
            }
        }
        assert_eq!(bpf::run(&flat, i386, socket, &[10, 0, 0, 0, 0, 0]).unwrap().ret, 0x5_0001, "AF_INET6: EPERM");
    }

    #[test]
    fn ranges_merge_and_a_search_finds_every_range() {
        let mut leaves = vec![(0, Leaf::Rest)];
        for (nr, leaf) in [(0, Leaf::Ret(1)), (1, Leaf::Ret(1)), (2, Leaf::Ret(2)), (5, Leaf::Rest), (7, Leaf::Ret(1))]
        {
            push_range(&mut leaves, nr, leaf);
        }
        assert_eq!(leaves, [(0, Leaf::Ret(1)), (2, Leaf::Ret(2)), (5, Leaf::Rest), (7, Leaf::Ret(1))]);
        let (code, to_rest) = block(&leaves).unwrap();
        // ld, three nodes, and the terminals ret 1, ret 2, ja rest.
        assert_eq!(code.len(), 1 + 3 + 3);
        assert_eq!(to_rest, [6]);
        for (nr, want) in [(0, 1), (1, 1), (2, 2), (4, 2), (7, 1), (u32::MAX, 1)] {
            assert_eq!(bpf::run(&code, 0, nr, &[0; 6]).unwrap().ret, want, "nr {nr}");
        }
        // 5 and 6 reach the `ja rest` (with nothing after it, the run falls off the end).
        assert_eq!(bpf::run(&code, 0, 5, &[0; 6]), None);
    }

    #[test]
    fn a_block_too_wide_for_classic_bpf_jumps_is_refused() {
        let leaves: Vec<(u32, Leaf)> = (0..600).map(|nr| (nr, Leaf::Ret(nr % 2))).collect();
        assert!(block(&leaves).is_none());
    }
}
