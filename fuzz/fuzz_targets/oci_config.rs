//! An OCI `config.json` (and the same text as an `exec --process` / `update --resources` fragment).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        containy::fuzzing::oci_config(text);
    }
});
