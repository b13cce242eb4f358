//! How fast and how wide the executor writes: a token bucket for `UpdateService` (ECS's own limit
//! is a bucket too, so matching it avoids a storm of throttled retries on a large fleet), a bound
//! on concurrent services, and the deadline after which no new service is started.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Config;

/// A token bucket that hands out reservations: a caller takes a token now and learns how long to
/// wait before using it, so waiting callers queue fairly.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// Starts full: `burst` calls at once, then `rate_per_second`.
    pub fn new(rate_per_second: u32, burst: u32) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket { rate: f64::from(rate_per_second.max(1)), burst, tokens: burst, last: None }
    }

    pub fn reserve(&mut self, now: Instant) -> Duration {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        }
        self.last = Some(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// At 5 `UpdateService` calls a second, two seconds refill ten tokens: more than a second pass
/// over what stayed throttled usually needs.
pub const SECOND_PASS_PAUSE: Duration = Duration::from_secs(2);

/// The executor's limits for one run.
#[derive(Debug)]
pub struct Limits {
    pub concurrency: usize,
    update_service: Mutex<TokenBucket>,
    /// No service is started after this instant (the Lambda's remaining time less a margin).
    pub deadline: Option<Instant>,
    /// How long the executor waits before its second pass over retryable failures, so the
    /// account's token bucket (shared with every deploy) refills a little.
    pub second_pass_pause: Duration,
}

impl Limits {
    pub fn new(concurrency: u32, update_rate: u32, update_burst: u32, deadline: Option<Instant>) -> Limits {
        Limits {
            concurrency: concurrency.max(1) as usize,
            update_service: Mutex::new(TokenBucket::new(update_rate, update_burst)),
            deadline,
            second_pass_pause: SECOND_PASS_PAUSE,
        }
    }

    /// The limits `config` sets for a run that must not start a service after `deadline`.
    pub fn for_run(config: &Config, deadline: Option<Instant>) -> Limits {
        Limits::new(config.write_concurrency, config.update_service_rate, config.update_service_burst, deadline)
    }

    /// Waits for this run's turn to call `UpdateService`.
    pub async fn pace_update_service(&self) {
        let wait = self.update_service.lock().expect("token bucket poisoned").reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    pub fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Whether waiting `pause` still leaves time before the deadline.
    pub fn room_for(&self, pause: Duration) -> bool {
        self.deadline.is_none_or(|d| Instant::now() + pause < d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_paces_at_the_sustained_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5, 50);
        for i in 0..50 {
            assert_eq!(bucket.reserve(start), Duration::ZERO, "call {i} is within the burst");
        }
        let waits: Vec<u128> = (0..5).map(|_| bucket.reserve(start).as_millis()).collect();
        assert_eq!(waits, [200, 400, 600, 800, 1000]);
        // Ten seconds later the bucket is full again, never fuller.
        let later = start + Duration::from_secs(10);
        let mut free = 0;
        while bucket.reserve(later).is_zero() {
            free += 1;
        }
        // 55 reserved at the start left the bucket owing 5; ten seconds refill 50: 45 free.
        assert_eq!(free, 45);
    }

    #[test]
    fn a_thousand_updates_take_the_time_ecs_would_allow() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5, 50);
        let last = (0..1000).map(|_| bucket.reserve(start)).max().unwrap();
        // 50 at once, then 950 at 5 a second.
        assert_eq!(last.as_secs(), 190);
    }
}
