//! What a registry answers: a manifest or index (the platform chosen as a pull does), an image config, and
//! header/name text (`WWW-Authenticate`, image references, `--platform`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    containy::fuzzing::registry(data);
});
