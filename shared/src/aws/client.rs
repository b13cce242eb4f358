//! How the adapter's clients call AWS: retries, time limits, retry counting, and the one place
//! an SDK error becomes a `CallError`, classified retryable or not.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ecs as ecs;
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::fleet::CallError;

/// Standard retries (exponential backoff with jitter, retry quota) with 5 attempts instead of 3:
/// ECS limits are shared by every deploy in the account, so throttling is expected at the hours
/// this runs; 5 attempts ride out a burst within the functions' timeout, and the retry quota
/// still stops a storm. Adaptive mode is not used: its client-side rate limiter is per client
/// and experimental; pacing belongs in our own scheduler.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard().with_max_attempts(5)
}

/// Time limits on every call, so a hung or very slow endpoint ends a call with an error instead
/// of holding the function until Lambda kills it without a summary. A healthy AWS answers in
/// well under a second; an attempt gets 5 s, and one operation (all its retries and backoff) 20 s:
/// enough for the standard strategy's longest backoff (1 + 2 + 4 + 8 s over 5 attempts) with
/// throttled answers, which come fast, so the limit never cuts a throttled call's retries short,
/// while a hung call still ends. A service started before the run's deadline (the Lambda's less
/// 90 s) fails at its first hung call, and the summary is logged before Lambda's own timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: std::time::Duration,
    pub attempt: std::time::Duration,
    pub operation: std::time::Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        use std::time::Duration;
        Timeouts {
            connect: Duration::from_secs(3),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(20),
        }
    }
}

impl Timeouts {
    /// The waker's: a browser waits for its answer (`lambda::WAKER_TIMEOUT`), so one operation
    /// gets 5 s (two or three attempts) and a hung endpoint ends the wait in time to answer.
    pub fn waker() -> Timeouts {
        use std::time::Duration;
        Timeouts { connect: Duration::from_secs(1), attempt: Duration::from_secs(2), operation: Duration::from_secs(5) }
    }

    pub(super) fn config(self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.attempt)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// Counts retried attempts per operation, so the summary can show throttling it rode out.
#[derive(Debug)]
pub(super) struct RetryCounter {
    pub(super) service: &'static str,
    pub(super) retries: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl ecs::config::Intercept for RetryCounter {
    fn name(&self) -> &'static str {
        "RetryCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &ecs::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &ecs::config::RuntimeComponents,
        cfg: &mut ecs::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_smithy_runtime_api::client::{orchestrator::Metadata, retries::RequestAttempts};
        if cfg.load::<RequestAttempts>().is_some_and(|a| a.attempts() > 1) {
            let operation = cfg.load::<Metadata>().map(|m| m.name()).unwrap_or("unknown");
            let key = format!("{}:{operation}", self.service);
            *self.retries.lock().expect("retry counter poisoned").entry(key).or_insert(0) += 1;
        }
        Ok(())
    }
}

/// The one place an SDK error becomes ours, and is classified: retryable when the SDK's own
/// standard retries would have tried again (throttling and transient codes, a 5xx, a timeout, a
/// dropped connection or an unreadable answer).
pub(super) fn call_error<E>(operation: &'static str, err: ecs::error::SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    use ecs::error::SdkError;
    let code = err.code().map(str::to_string);
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => {
            e.raw().status().is_server_error() || code.as_deref().is_some_and(|c| RETRYABLE_CODES.contains(&c))
        }
        _ => false,
    };
    CallError {
        operation,
        message: err.message().map(str::to_string).unwrap_or_else(|| DisplayErrorContext(&err).to_string()),
        code,
        retryable,
    }
}

/// Error codes the SDK's standard retry strategy treats as throttling or transient.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
];

#[cfg(test)]
mod timeout_tests {
    use super::*;
    use std::time::Duration;

    /// The operation limit must leave a throttled call every retry the strategy allows: the
    /// longest backoff (full jitter's upper bound at each attempt) plus a quick answer to each
    /// attempt. A hung call is still cut at the limit.
    #[test]
    fn the_operation_limit_fits_every_retry_of_a_throttled_call() {
        let retry = retry_config();
        let waits: Vec<Duration> = (1..retry.max_attempts())
            .map(|k| (retry.initial_backoff() * 2u32.pow(k - 1)).min(retry.max_backoff()))
            .collect();
        let longest_backoff: Duration = waits.iter().sum();
        assert_eq!(longest_backoff, Duration::from_secs(15), "{waits:?}");
        let quick_answers = Duration::from_millis(500) * retry.max_attempts();
        let limits = Timeouts::default();
        assert!(longest_backoff + quick_answers < limits.operation, "{longest_backoff:?} + {quick_answers:?}");
        // ... and never beyond what the run keeps back from the Lambda's deadline for in-flight work.
        assert!(limits.operation * 3 < Duration::from_secs(90));
    }

    #[test]
    fn errors_are_retryable_when_the_sdk_would_retry_them() {
        use aws_smithy_runtime_api::client::result::SdkError;
        use aws_smithy_types::body::SdkBody;
        let answer = |status: u16| HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        let service = |code: &str, status: u16| {
            let meta = aws_smithy_types::error::ErrorMetadata::builder().code(code).message("m").build();
            SdkError::service_error(ecs::operation::update_service::UpdateServiceError::generic(meta), answer(status))
        };
        assert!(call_error("ecs:UpdateService", service("ThrottlingException", 400)).retryable);
        assert!(call_error("ecs:UpdateService", service("ServerException", 500)).retryable);
        assert!(!call_error("ecs:UpdateService", service("AccessDeniedException", 400)).retryable);
        assert!(!call_error("ecs:UpdateService", service("ServiceNotFoundException", 400)).retryable);
        let timeout: SdkError<ecs::operation::update_service::UpdateServiceError, HttpResponse> =
            SdkError::timeout_error("hung");
        assert!(call_error("ecs:UpdateService", timeout).retryable);
    }
}
