//! The strategies: one file each, each describing GitHub's rules for its credential.

pub(crate) mod app;
pub(crate) mod installation;
pub(crate) mod token;
