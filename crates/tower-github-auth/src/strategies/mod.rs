//! The strategies: one file each, each describing GitHub's rules for its credential.

pub(crate) mod app;
pub(crate) mod installation;
pub(crate) mod oauth_app;
pub(crate) mod oauth_device;
pub(crate) mod oauth_token;
pub(crate) mod oauth_web;
pub(crate) mod token;
