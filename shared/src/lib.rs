//! ECS Cost Saver: puts preview and dev ECS services to sleep outside working hours and wakes
//! them exactly as they were. See the README for the tag contract.
//!
//! The core (`schedule`, `keep_alive`, `saved`, `tags`, `plan`) is pure; `apply` and `run` work
//! through the two traits in `fleet`; `aws` is the only module that talks to AWS.

pub mod apply;
pub mod aws;
pub mod clock;
pub mod config;
pub mod cost;
pub mod emf;
pub mod environment;
pub mod event;
pub mod fleet;
pub mod hub;
pub mod idle;
pub mod keep_alive;
pub mod lambda;
/// The in-memory fake fleet, for tests (the library's own and, with the `testing` feature, others').
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod model;
pub mod pacing;
pub mod plan;
pub mod routing;
pub mod run;
pub mod saved;
pub mod savings;
pub mod schedule;
pub mod startup;
pub mod status;
pub mod summary;
pub mod tags;
pub mod targets;
pub mod text;
pub mod wake;
pub mod waker;

pub use config::Config;
pub use plan::{Invocation, Mode};
pub use summary::Summary;

#[cfg(test)]
mod fuzz_tests;
