//! Integration tests against moto server, a real AWS-compatible HTTP endpoint: the adapter, exact
//! call counts, faults through a proxy, deleted services, `wake`, simulated weeks and the waking
//! routing. One binary, so the SDK and the test kit are linked once.

mod calls;
mod deleted;
mod environment;
mod environment_week;
mod faults;
mod fleet;
mod idle_week;
mod routing;
mod traffic;
mod wake;
mod week;
