//! `wake`: on demand (direct invoke or Function URL), keeps matched services awake until a time
//! and restores the sleeping ones now; see the README.

use ecs_cost_saver::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::serve_wake().await
}
