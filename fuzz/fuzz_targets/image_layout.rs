//! An image archive built from documents whose digests the harness fills in (`containy_fuzz::layout_archive`),
//! so the fuzzer reaches past the digest checks: index → nested index → manifest → config → layers, imported
//! into a store on tmpfs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let archive = containy_fuzz::layout_archive(data);
    containy::fuzzing::image_archive(&archive);
    let dir = containy_fuzz::fresh("layout");
    let input = dir.join("image.tar");
    if std::fs::write(&input, &archive).is_ok() {
        containy::fuzzing::import(&input, &dir.join("store"));
    }
});
