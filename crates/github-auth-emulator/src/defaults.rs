//! The default world's names and secrets, and the bundled test key: the constants the crate
//! re-exports.

/// The private key of the test GitHub App, PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), the
/// form GitHub hands out. The emulator checks JWTs against [`TEST_APP_PUBLIC_KEY`] by default.
/// A test key: never use it for anything real.
pub const TEST_APP_PRIVATE_KEY_PKCS1: &str = include_str!("../keys/test-app-key.pkcs1.pem");

/// The same private key as [`TEST_APP_PRIVATE_KEY_PKCS1`], PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
pub const TEST_APP_PRIVATE_KEY_PKCS8: &str = include_str!("../keys/test-app-key.pkcs8.pem");

/// The same private key as [`TEST_APP_PRIVATE_KEY_PKCS1`], in OpenSSH's own format
/// (`-----BEGIN OPENSSH PRIVATE KEY-----`, no passphrase), as `ssh-keygen -p` rewrites a PEM key.
pub const TEST_APP_PRIVATE_KEY_OPENSSH: &str = include_str!("../keys/test-app-key.openssh.pem");

/// The public half of the test key (`-----BEGIN PUBLIC KEY-----`), the emulator's default.
pub const TEST_APP_PUBLIC_KEY: &str = include_str!("../keys/test-app-key.pub.pem");

/// The default GitHub App id.
pub const DEFAULT_APP_ID: u64 = 1;

/// The default GitHub App client id.
pub const DEFAULT_APP_CLIENT_ID: &str = "Iv1.emulatorapp";

/// The default GitHub App client secret.
pub const DEFAULT_APP_CLIENT_SECRET: &str = "emulator-app-secret";

/// The default OAuth app's client id.
pub const DEFAULT_OAUTH_CLIENT_ID: &str = "emulator-oauth-client";

/// The default OAuth app's client secret.
pub const DEFAULT_OAUTH_CLIENT_SECRET: &str = "emulator-oauth-secret";

/// The default personal access token, owned by `octocat`.
pub const DEFAULT_PAT: &str = "ghp_emulatorpersonaltoken";

/// The default web-flow code: for `octocat`, valid once for any known client id.
pub const DEFAULT_WEB_FLOW_CODE: &str = "emulator-code";

/// The login every default credential belongs to.
pub(crate) const DEFAULT_LOGIN: &str = "octocat";
