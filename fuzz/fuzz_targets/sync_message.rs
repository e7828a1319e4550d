//! One parent ↔ child sync message over a real SOCK_SEQPACKET pair, decoded by `runtime::sync::recv_message`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    containy::fuzzing::sync_message(data);
});
