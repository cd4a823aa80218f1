//! The strategies, each describing GitHub's rules for its credential: `token` (fixed
//! credentials), `app` (GitHub Apps and installations), `oauth` (OAuth clients and users).

pub(crate) mod app;
pub(crate) mod oauth;
pub(crate) mod token;
