//! The JSON bodies of the engine API: `POST /containers/create` (parsed, checked, turned into a friendly config
//! and lowered; named volumes made on tmpfs) and `POST /containers/{id}/exec`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let store = containy_fuzz::fresh("api");
    containy::fuzzing::api_create(data, &store);
    containy::fuzzing::api_exec(data);
});
