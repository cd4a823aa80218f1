//! GitHub's answer to `POST /app/installations/{id}/access_tokens`: any bytes as the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tower_github_auth::fuzzing::installation_token_answer(data);
});
