//! A GitHub App's PEM private key (PKCS#1 or PKCS#8): any bytes as the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tower_github_auth::fuzzing::private_key(data);
});
