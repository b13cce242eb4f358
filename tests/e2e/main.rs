//! End to end: the built functions served by `cargo lambda watch` and invoked as deployed, the
//! local-endpoint recipe, and the waking page in headless Chromium.

mod environment_page;
mod hub;
mod lambda;
mod local_endpoint;
mod waker;
mod waker_page;
