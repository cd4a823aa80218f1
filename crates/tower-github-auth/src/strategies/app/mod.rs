//! GitHub Apps: the App's key, signer and JWT, installations and their tokens.

pub(crate) mod cache;
pub(crate) mod ids;
pub(crate) mod installation;
pub(crate) mod jwt;
pub(crate) mod key;
pub(crate) mod manifest;
#[cfg(feature = "openssh")]
pub(crate) mod openssh;
pub(crate) mod signer;
pub(crate) mod token;
