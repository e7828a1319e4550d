//! `containy image import` of the bytes as a file, into a store on tmpfs: compression detection, a root
//! filesystem tarball, or a docker save / OCI layout archive with both passes and every layer extracted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = containy_fuzz::fresh("import");
    let input = dir.join("input.tar");
    if std::fs::write(&input, data).is_ok() {
        containy::fuzzing::import(&input, &dir.join("store"));
    }
});
