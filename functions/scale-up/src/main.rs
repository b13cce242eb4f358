//! `scale-up`: EventBridge Scheduler invokes it; see the README for payloads and configuration.

use ecs_cost_saver::{lambda, Mode};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::serve(Mode::ScaleUp).await
}
