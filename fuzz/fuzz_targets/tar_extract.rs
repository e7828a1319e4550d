//! A tar stream extracted into an empty directory on tmpfs; the first byte's low bit chooses a root
//! filesystem or an image layer (`.wh.` whiteouts).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, tar)) = data.split_first() else { return };
    let target = containy_fuzz::fresh("extract");
    containy::fuzzing::extract(tar, &target, mode & 1 == 1);
});
