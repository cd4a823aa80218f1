//! READMEs' code blocks, compiled and run as doc tests (`cargo test -p integration-tests --doc`):
//! the workspace README (the project's front page) and the emulator's (its crates.io page). They
//! live here rather than in the published crates because they use crates those must not depend
//! on, not even for their tests: the workspace README uses the Redis store (which depends on the
//! core), the emulator's uses the core.

// Compiled only by rustdoc's doc-test collection: each README is the doc of an unused item.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct WorkspaceReadme;

#[cfg(doctest)]
#[doc = include_str!("../crates/github-auth-emulator/README.md")]
struct EmulatorReadme;
