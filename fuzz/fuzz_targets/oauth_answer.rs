//! An answer to an OAuth grant or device-flow poll (JSON or form-encoded): any bytes as the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tower_github_auth::fuzzing::oauth_answer(data);
});
