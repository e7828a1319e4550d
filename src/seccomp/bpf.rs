//! Classic BPF as seccomp runs it: an interpreter, so containy can ask a compiled filter what it answers.
//!
//! The kernel runs a seccomp filter on a `struct seccomp_data` — `nr` at offset 0, `arch` at 4, the
//! instruction pointer at 8, the six arguments from 16, each 64 bits in native byte order — with an
//! accumulator `A`, an index register `X` and sixteen scratch words. Jumps only go forward, so every program
//! ends. This interpreter knows the instructions libseccomp emits and containy writes (loads, a few ALU
//! operations, the jumps, `ret`); anything else, or a read outside the data, makes it give up (`None`) rather
//! than guess. Besides the answer it reports whether the run looked at anything but `nr` and `arch`: a
//! syscall for which it did not has one answer whatever its arguments, which is what [`super::flat`] builds
//! on (and what the kernel itself works out for its allow-bitmap when a filter is loaded).

/// `struct sock_filter`: { u16 code; u8 jt; u8 jf; u32 k; }.
pub type Insn = libc::sock_filter;

/// The `SECCOMP_RET_*` value a run returned, and whether it depended on more than the number and the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub ret: u32,
    pub read_args: bool,
}

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const DATA_LEN: u32 = 64;

/// What the filter `program` answers to syscall `nr` made through the ABI `arch` with `args`, or `None` if
/// the program uses an instruction this interpreter does not know, reads outside the data, or runs off its end.
pub fn run(program: &[Insn], arch: u32, nr: u32, args: &[u64; 6]) -> Option<Outcome> {
    let word = |offset: u32| -> Option<u32> {
        match offset {
            NR => Some(nr),
            ARCH => Some(arch),
            8 | 12 => Some(0), // the instruction pointer: not known here, and no filter of ours reads it
            16..DATA_LEN if offset % 4 == 0 => {
                let arg = args[(offset as usize - 16) / 8];
                // Each 64-bit argument is two words in native byte order.
                let low_first = cfg!(target_endian = "little") == (offset % 8 == 0);
                Some(if low_first { arg as u32 } else { (arg >> 32) as u32 })
            }
            _ => None,
        }
    };
    let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
    let mut read_args = false;
    loop {
        let insn = program.get(pc)?;
        pc += 1;
        let k = insn.k;
        let jump = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
        match insn.code {
            0x20 => {
                // ld [k]
                read_args |= k != NR && k != ARCH;
                a = word(k)?;
            }
            0x00 => a = k,                                      // ld #k
            0x60 => a = *mem.get(k as usize)?,                  // ld M[k]
            0x01 => x = k,                                      // ldx #k
            0x61 => x = *mem.get(k as usize)?,                  // ldx M[k]
            0x02 => *mem.get_mut(k as usize)? = a,              // st M[k]
            0x03 => *mem.get_mut(k as usize)? = x,              // stx M[k]
            0x54 => a &= k,                                     // and #k
            0x44 => a |= k,                                     // or #k
            0x04 => a = a.wrapping_add(k),                      // add #k
            0x14 => a = a.wrapping_sub(k),                      // sub #k
            0x07 => x = a,                                      // tax
            0x87 => a = x,                                      // txa
            0x05 => pc = pc.checked_add(k as usize)?,           // ja
            0x15 => pc += jump(a == k),                         // jeq #k
            0x25 => pc += jump(a > k),                          // jgt #k
            0x35 => pc += jump(a >= k),                         // jge #k
            0x45 => pc += jump(a & k != 0),                     // jset #k
            0x1d => pc += jump(a == x),                         // jeq x
            0x2d => pc += jump(a > x),                          // jgt x
            0x3d => pc += jump(a >= x),                         // jge x
            0x06 => return Some(Outcome { ret: k, read_args }), // ret #k
            0x16 => return Some(Outcome { ret: a, read_args }), // ret a
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    #[test]
    fn arguments_are_read_as_two_native_words_and_noticed() {
        // ld [16 + low word of arg 1]; jeq 7 → allow; else errno 1
        let low = if cfg!(target_endian = "little") { 24 } else { 28 };
        let program =
            [insn(0x20, 0, 0, low), insn(0x15, 0, 1, 7), insn(0x06, 0, 0, 0x7fff_0000), insn(0x06, 0, 0, 0x5_0001)];
        let allow = run(&program, 0, 0, &[0, 7 | (5 << 32), 0, 0, 0, 0]).unwrap();
        assert_eq!(allow, Outcome { ret: 0x7fff_0000, read_args: true });
        assert_eq!(run(&program, 0, 0, &[0, 8, 0, 0, 0, 0]).unwrap().ret, 0x5_0001);
        // Only nr and arch: the answer cannot depend on the arguments.
        let program = [insn(0x20, 0, 0, 4), insn(0x20, 0, 0, 0), insn(0x16, 0, 0, 0)];
        assert_eq!(run(&program, 9, 42, &[1; 6]).unwrap(), Outcome { ret: 42, read_args: false });
    }

    #[test]
    fn what_it_does_not_know_it_refuses() {
        assert_eq!(run(&[insn(0x20, 0, 0, 64), insn(0x06, 0, 0, 0)], 0, 0, &[0; 6]), None, "past the data");
        assert_eq!(run(&[insn(0x20, 0, 0, 17), insn(0x06, 0, 0, 0)], 0, 0, &[0; 6]), None, "an unaligned word");
        assert_eq!(run(&[insn(0x15, 0, 0, 0)], 0, 0, &[0; 6]), None, "off the end");
        assert_eq!(run(&[insn(0x94, 0, 0, 0)], 0, 0, &[0; 6]), None, "mod: not an instruction of ours");
        assert_eq!(run(&[insn(0x60, 0, 0, 16)], 0, 0, &[0; 6]), None, "scratch word 16");
    }
}
