//! A request target of the engine API: version prefix, query parameters and the values parsed from them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        containy::fuzzing::api_query(text);
    }
});
