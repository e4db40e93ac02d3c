//! berth-build: Dockerfiles (the BuildKit reference syntax) to OCI images.
//!
//! - [`dockerfile`]: the front end — text to typed stages ([`dockerfile::Dockerfile`]),
//!   variable substitution, every static check before any work starts.
//! - [`context`]: the build context as a boundary — `.dockerignore`, Go `filepath.Match`
//!   wildcards, content hashing of what a step reads.
//! - [`graph`]: which stages the target needs, in what order, what can run in parallel.
//! - [`cache`]: step cache keys.

pub mod cache;
pub mod context;
pub mod dockerfile;
pub mod dispatch;
pub mod graph;
pub mod image;
pub mod layer;
pub mod step;
pub mod view;
