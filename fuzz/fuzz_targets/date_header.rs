//! A `Date` header GitHub answers with, learned by the clock and then used: any bytes as the value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tower_github_auth::fuzzing::date_header(data);
});
