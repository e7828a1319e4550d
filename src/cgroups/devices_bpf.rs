//! The device filter of cgroup v2: an eBPF program, not a file.
//!
//! cgroup v1 had `devices.allow` / `devices.deny`; v2 replaced them with a `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program attached to the cgroup. The kernel runs it on every `open` or `mknod` of a device node by a
//! process in the cgroup, with `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (`access_type` = access << 16 | type) in register 1, and allows the access when it returns 1. containy
//! writes the program itself, from the same `DeviceRule` list the v1 files get: the rules are checked from
//! the last to the first and the first that matches decides, which is v1's "the last rule wins"; no match
//! means deny. See `Documentation/admin-guide/cgroup-v2.rst` ("Device controller").

use crate::plan::DeviceRule;
use crate::sys::BpfInsn;

// Opcodes (`linux/bpf_common.h`, `linux/bpf.h`).
const LDX_MEM_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const ALU32_AND_K: u8 = 0x54; // w_dst &= imm
const ALU32_RSH_K: u8 = 0x74; // w_dst >>= imm
const ALU32_MOV_X: u8 = 0xbc; // w_dst = w_src
const ALU64_MOV_K: u8 = 0xb7; // r_dst = imm
const JMP_JNE_K: u8 = 0x55; // if r_dst != imm: pc += off
const JMP_JEQ_K: u8 = 0x15; // if r_dst == imm: pc += off
const EXIT: u8 = 0x95;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn { code, regs: (src << 4) | dst, off, imm }
}

fn access_mask(access: &str) -> i32 {
    access.chars().fold(0, |m, c| {
        m | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// The program for `rules` (v1 semantics: later rules override earlier ones).
pub fn program(rules: &[DeviceRule]) -> Vec<BpfInsn> {
    // r2 = type, r3 = requested access, r4 = major, r5 = minor.
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_MOV_X, 3, 2, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        // Each check jumps past the rest of this rule's block when it does not match.
        let mut checks: Vec<(u8, u8, i32)> = Vec::new(); // (code, register, immediate)
        match rule.kind {
            'c' => checks.push((JMP_JNE_K, 2, DEV_CHAR)),
            'b' => checks.push((JMP_JNE_K, 2, DEV_BLOCK)),
            _ => {}
        }
        // An allow rule covers a request when it allows every bit asked for; a deny rule hits a request
        // when it denies any of them (`rw` on a device whose `w` is denied is refused, as in v1).
        let mask = access_mask(&rule.access);
        let needs_access_check = mask != ACC_MKNOD | ACC_READ | ACC_WRITE;
        if let Some(major) = rule.major {
            checks.push((JMP_JNE_K, 4, major as i32));
        }
        if let Some(minor) = rule.minor {
            checks.push((JMP_JNE_K, 5, minor as i32));
        }
        // Block: [access: mov w6 = w3; and w6 &= !mask; jne r6 0] + checks + [mov r0; exit].
        let access_len = if needs_access_check { 3 } else { 0 };
        let block_len = access_len + checks.len() + 2;
        let mut emitted = 0;
        let skip = |emitted: usize| (block_len - emitted - 1) as i16;
        if needs_access_check {
            p.push(insn(ALU32_MOV_X, 6, 3, 0, 0));
            if rule.allow {
                p.push(insn(ALU32_AND_K, 6, 0, 0, !mask));
                emitted += 2;
                p.push(insn(JMP_JNE_K, 6, 0, skip(emitted), 0));
            } else {
                p.push(insn(ALU32_AND_K, 6, 0, 0, mask));
                emitted += 2;
                p.push(insn(JMP_JEQ_K, 6, 0, skip(emitted), 0));
            }
            emitted += 1;
        }
        for (code, reg, imm) in checks {
            p.push(insn(code, reg, 0, skip(emitted), imm));
            emitted += 1;
        }
        p.push(insn(ALU64_MOV_K, 0, 0, 0, rule.allow as i32));
        p.push(insn(EXIT, 0, 0, 0, 0));
        // A rule that matches everything ends the program: the verifier refuses unreachable code.
        if block_len == 2 {
            return p;
        }
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions `program` emits, to check decisions without a kernel.
    fn run(p: &[BpfInsn], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = ctx[i.off as usize / 4] as u64,
                ALU32_MOV_X => r[dst] = r[src] & 0xffff_ffff,
                ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP_JNE_K | JMP_JEQ_K => {
                    if (r[dst] != i.imm as i64 as u64) == (i.code == JMP_JNE_K) {
                        pc = (pc as i64 + i.off as i64) as usize;
                    }
                }
                EXIT => return r[0],
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_default_rules_allow_the_standard_devices_only() {
        let p = program(&crate::cgroups::default_device_rules());
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3), 1, "/dev/null");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 136, 7), 1, "a pty");
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 8, 0), 0, "a disk");
        assert_eq!(run(&p, DEV_BLOCK, ACC_MKNOD, 8, 0), 1, "mknod of any node is allowed, opening it is not");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 1), 0, "/dev/mem");
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 10, 200), 0, "/dev/net/tun is not in the default list");
    }

    /// Every instruction reachable from the first, following falls-through and jumps.
    fn all_reachable(p: &[BpfInsn]) -> bool {
        let mut seen = vec![false; p.len()];
        let mut todo = vec![0usize];
        while let Some(pc) = todo.pop() {
            if pc >= p.len() || seen[pc] {
                continue;
            }
            seen[pc] = true;
            match p[pc].code {
                EXIT => {}
                JMP_JNE_K | JMP_JEQ_K => todo.extend([pc + 1, (pc as i64 + 1 + p[pc].off as i64) as usize]),
                _ => todo.push(pc + 1),
            }
        }
        seen.iter().all(|s| *s)
    }

    #[test]
    fn no_instruction_is_unreachable() {
        // The kernel's verifier refuses a program with dead code ("unreachable insn").
        assert!(all_reachable(&program(&crate::cgroups::default_device_rules())));
        let everything = DeviceRule { allow: true, kind: 'a', major: None, minor: None, access: "rwm".into() };
        let mut rules = crate::cgroups::default_device_rules();
        rules.insert(3, everything);
        assert!(all_reachable(&program(&rules)));
    }

    #[test]
    fn later_rules_override_earlier_ones() {
        let rule =
            |allow, kind, major, minor, access: &str| DeviceRule { allow, kind, major, minor, access: access.into() };
        let rules = vec![rule(true, 'a', None, None, "rwm"), rule(false, 'b', Some(8), None, "w")];
        let p = program(&rules);
        assert_eq!(run(&p, DEV_BLOCK, ACC_WRITE, 8, 1), 0);
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 8, 1), 1, "read is still allowed by the first rule");
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ | ACC_WRITE, 8, 1), 0, "a read-write open needs write");
    }
}
