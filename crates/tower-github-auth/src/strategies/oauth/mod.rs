//! OAuth: clients (OAuth apps, a GitHub App's client credentials) and the users they act for.
//!
//! From the bottom up: `client` (the client's credentials), `grant` (what GitHub answers a grant
//! with, and the token set), `user_token` (a user token in the cache, and the builder every user
//! layer shares), `flow` (a user not yet signed in, generic over the first grant), `authorize`
//! (the authorize URL and its state), `app` (the client as a layer), then the two first grants:
//! `web` (a code) and `device` (the device flow).

pub(crate) mod app;
pub(crate) mod authorize;
pub(crate) mod client;
pub(crate) mod device;
pub(crate) mod flow;
pub(crate) mod grant;
pub(crate) mod user_token;
pub(crate) mod web;
