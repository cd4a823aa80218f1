//! Checking GitHub App JWTs the way GitHub does.

use base64::Engine as _;
use http::StatusCode;
use serde_json::{Map, Value};

use crate::{
    keys,
    state::{App, Mutable, Shared, unix_secs},
    wire::{Incoming, Presented, Refusal},
};

/// GitHub's answer to anything that is not a well-formed JWT signed by the app.
pub(crate) const NOT_DECODABLE: &str = "A JSON web token could not be decoded";
const BAD_IAT: &str = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
const BAD_EXP: &str = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
const EXP_TOO_FAR: &str = "'Expiration time' claim ('exp') is too far in the future";
const BAD_ISS: &str = "'Issuer' claim ('iss') must be an Integer";
const UNKNOWN_ISS: &str = "Integration not found";

/// How far in the future `iat` may be (clock rounding).
const IAT_LEEWAY: i64 = 1;
/// The furthest `exp` may be from now: 10 minutes, plus a second of rounding.
const EXP_MAX_AHEAD: i64 = 600 + 1;
/// The longest `exp − iat`: 10 minutes, plus the 60 s back-dating of `iat` that GitHub's own
/// sample code does while putting `exp` 10 minutes after now.
const MAX_LIFETIME: i64 = 600 + 60;

const fn refusal(message: &'static str, reason: &'static str) -> Refusal {
    Refusal::new(StatusCode::UNAUTHORIZED, message, reason)
}

/// Whether `token` has the shape of a JWT (three parts, a readable header).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && algorithm(token).is_some()
}

/// The `alg` of a JWT's header, when the header is base64url JSON with one.
fn algorithm(token: &str) -> Option<String> {
    let (header, _) = token.split_once('.')?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    match header.get("alg")? {
        Value::String(alg) => Some(alg.clone()),
        _ => None,
    }
}

/// The check of the `/app` routes: the credential must be a JWT of a known app that passes every
/// check. Counts verified JWTs; answers the app's id.
pub(crate) fn require_jwt(
    shared: &Shared,
    req: &Incoming,
    state: &mut Mutable,
) -> Result<u64, Refusal> {
    let token = match req.presented() {
        Presented::Token(token) => token,
        Presented::Nothing => return Err(refusal(NOT_DECODABLE, "no_credentials")),
        Presented::Basic { .. } | Presented::Unreadable => {
            return Err(refusal(NOT_DECODABLE, "jwt_required"));
        }
    };
    if state.revoked.contains(&token) {
        return Err(Refusal::bad_credentials("token_revoked"));
    }
    if state.tokens.contains_key(&token) || shared.pats.contains_key(&token) {
        return Err(refusal(NOT_DECODABLE, "jwt_required"));
    }
    let app_id = verify(shared, state, &token)?;
    state.counters.jwts_verified += 1;
    if state.verified_jwts.insert(token) {
        state.counters.distinct_jwts += 1;
    }
    Ok(app_id)
}

/// Signature (with the key of the app `iss` names), then `iss`, `iat`, `exp` against the
/// emulator's clock. A JWT whose `iss` names no app is refused for its signature if no app's key
/// signed it, else for its `iss`.
fn verify(shared: &Shared, state: &Mutable, token: &str) -> Result<u64, Refusal> {
    let alg = algorithm(token).ok_or(refusal(NOT_DECODABLE, "jwt_malformed"))?;
    if alg != "RS256" {
        return Err(refusal(NOT_DECODABLE, "jwt_bad_algorithm"));
    }
    let (signed, signature) = token
        .rsplit_once('.')
        .ok_or(refusal(NOT_DECODABLE, "jwt_malformed"))?;
    let claims = claims(signed).ok_or(refusal(NOT_DECODABLE, "jwt_malformed"))?;
    let signed_by = |app: &App| keys::verifies(&app.key, signed.as_bytes(), signature);
    let iss = claims.get("iss").unwrap_or(&Value::Null);
    let Some(app) = state.apps.iter().find(|app| app.is_issuer(iss)) else {
        if !state.apps.iter().any(signed_by) {
            return Err(refusal(NOT_DECODABLE, "jwt_bad_signature"));
        }
        return Err(match iss {
            Value::Number(_) | Value::String(_) => refusal(UNKNOWN_ISS, "jwt_bad_issuer"),
            _ => refusal(BAD_ISS, "jwt_bad_issuer"),
        });
    };
    if !signed_by(app) {
        return Err(refusal(NOT_DECODABLE, "jwt_bad_signature"));
    }

    let now = unix_secs(shared.wall_at(state.knobs.clock_offset));
    let iat = integer(claims.get("iat")).ok_or(refusal(BAD_IAT, "jwt_bad_iat"))?;
    if iat > now + IAT_LEEWAY {
        return Err(refusal(BAD_IAT, "jwt_iat_in_future"));
    }
    let exp = integer(claims.get("exp")).ok_or(refusal(BAD_EXP, "jwt_bad_exp"))?;
    if exp <= now {
        return Err(refusal(BAD_EXP, "jwt_expired"));
    }
    if exp > now + EXP_MAX_AHEAD || exp - iat > MAX_LIFETIME {
        return Err(refusal(EXP_TOO_FAR, "jwt_exp_too_far"));
    }
    Ok(app.id)
}

/// The claims object of `header.payload`.
fn claims(signed: &str) -> Option<Map<String, Value>> {
    let (_, payload) = signed.split_once('.')?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A numeric claim as whole seconds.
fn integer(value: Option<&Value>) -> Option<i64> {
    let Value::Number(n) = value? else {
        return None;
    };
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}
