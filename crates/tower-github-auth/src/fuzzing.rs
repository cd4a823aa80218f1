//! Entry points for `cargo fuzz` (`fuzz/` at the repository's root): each parser of what GitHub
//! (or whatever answers in its place) sends. Built only with `--cfg fuzzing`, which `cargo fuzz`
//! sets; not part of the API.
//!
//! ```
//! # #[cfg(fuzzing)]
//! tower_github_auth::fuzzing::oauth_answer(b"error=slow_down&interval=99999999999999999999");
//! ```

use std::time::SystemTime;

use http::{HeaderValue, StatusCode};

use crate::clock::Clock;
use crate::error::Exchange;
use crate::side::{Answer, decode_json, github_error, oauth_error};
use crate::strategies::app::ids::InstallationId;
use crate::strategies::app::installation::read_minted;
use crate::strategies::app::key::PrivateKey;
use crate::strategies::oauth::device::read_poll;
use crate::strategies::oauth::grant::Granted;

/// GitHub's answer to `POST /app/installations/{id}/access_tokens`.
pub fn installation_token_answer(data: &[u8]) {
    let answer = Answer::new(StatusCode::CREATED, data.to_vec());
    let _ = read_minted(&answer, InstallationId(1), SystemTime::now());
    let _ = github_error(Exchange::InstallationToken, &answer);
}

/// An answer to an OAuth grant (code, refresh), JSON or form-encoded, with or without `error`.
pub fn oauth_answer(data: &[u8]) {
    let mut answer = Answer::new(StatusCode::OK, data.to_vec());
    answer.secrets.push("ghr_fuzzed-secret".to_owned());
    let _ = oauth_error(Exchange::Refresh, &answer);
    let _ = github_error(Exchange::Refresh, &answer);
    if let Ok(granted) = decode_json::<Granted>(Exchange::Refresh, &answer) {
        let _ = format!("{:?}", granted.into_set(SystemTime::now()));
    }
    let _ = read_poll(&answer);
}

/// A PEM private key.
pub fn private_key(data: &[u8]) {
    if let Ok(key) = PrivateKey::from_pem(data) {
        assert_eq!(key.fingerprint().len(), 64);
    }
}

/// A `Date` header, learned and then used.
pub fn date_header(data: &[u8]) {
    let clock = Clock::default();
    if let Ok(value) = HeaderValue::from_bytes(data) {
        clock.observe_date(&value);
        let now = clock.github_now();
        let _ = clock.instant_of(now);
    }
}
