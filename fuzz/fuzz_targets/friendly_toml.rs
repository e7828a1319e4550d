//! A friendly `configy.toml`: parsed, every value checked, lowered to a Plan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        containy::fuzzing::friendly_config(text, false);
    }
});
