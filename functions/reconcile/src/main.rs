//! `reconcile`: every 15 minutes, brings every managed service to the state its schedule and
//! keep-alive call for, in both directions; see the README.

use ecs_cost_saver::{lambda, Mode};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::serve(Mode::Reconcile).await
}
