//! tower-github-auth inside octocrab, and side by side with octocrab's own App auth.
//!
//! The same workloads, through five clients ([`Peer`]), against one in-process emulator whose
//! token exchanges take [`EXCHANGE_LATENCY`]:
//!
//! ```
//! use bench_peers::{Github, Peer, cold_burst};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), bench_peers::BenchError> {
//! let github = Github::start().await?;
//! // 20 concurrent requests on a cold cache: one exchange for all of them...
//! let ours = cold_burst(&github, Peer::Ours, 20).await?;
//! assert_eq!((ours.exchanges, ours.failed), (1, 0));
//! // ...and one per request for octocrab's installation client, which has no single flight.
//! let octocrab = cold_burst(&github, Peer::Octocrab, 20).await?;
//! assert_eq!(octocrab.failed, 0);
//! assert!(octocrab.exchanges > 1);
//! # Ok(())
//! # }
//! ```
//!
//! [`run`] runs every workload for every client and gives a [`Report`]: its
//! [`table`](Report::table) and its [`SVG chart`](Report::write_svg). The bench
//! `cargo bench -p bench-peers --bench peers` prints the one and writes the other to
//! `docs/peers.svg`.
//!
//! The workloads (`workload` module), the same for every client, each on a client value built
//! for it and reused (one connection pool, one token cache):
//! - [`cold_burst`]: many concurrent requests on a cold cache: exchanges, JWTs, time to answer all.
//! - [`warm`]: sequential requests with the token cached: requests per second, median time.
//! - [`expiry`]: concurrent callers while short-lived tokens expire: exchanges, requests that
//!   waited on one, failures.
//! - [`fault`]: requests at a fixed rate on a fresh client while GitHub has a [`Fault`]:
//!   failures.

// Modules, each importing only from those above it (`module-cycles` checks it):
// error < github < peer < workload < report. lib.rs only declares and re-exports.
mod error;
mod github;
mod peer;
mod report;
mod workload;

pub use error::BenchError;
pub use github::{APP, EXCHANGE_LATENCY, Github, INSTALLATION};
pub use peer::{Caller, Client, Failure, PATH, Peer};
pub use report::{Column, Plan, Report, run};
pub use workload::{
    ColdBurst, ERROR_PAUSE, Expiry, ExpiryPlan, Fault, FaultPlan, FaultRun, Warm, cold_burst,
    expiry, fault, warm,
};
