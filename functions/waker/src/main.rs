//! `waker`: the Application Load Balancer target of a sleeping service's waking rule. Answers
//! with a page that refreshes itself and restores the service; see the README.

use ecs_cost_saver::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::serve_waker().await
}
