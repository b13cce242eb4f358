//! What the core needs from the outside world, one trait per capability: reading services
//! (ECS, Application Auto Scaling, task definitions), reading traffic (load balancer tags and
//! CloudWatch), changing one service, and routing its requests. The AWS adapter and the
//! in-memory fake implement all four; each piece of the core asks only for what it uses, and the
//! entry points for all of it (`Fleet`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use std::future::Future;

use crate::cost::TaskSize;
use crate::model::{Bounds, Forward, Fresh, ListenerRule, ObservedService, ServiceId, Tags};

/// What discovery looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetQuery {
    pub scope_tag_key: String,
    /// Look for services in scope at all: `scale-up` only restores, so the services carrying
    /// saved state (`also_tagged`) are all it needs.
    pub in_scope: bool,
    /// Lower-case; clusters whose scope tag has one of these have all their services listed.
    pub scope_values: Vec<String>,
    /// Also find every service carrying this tag key (saved state), in scope or not.
    pub also_tagged: Option<String>,
}

/// Services named on purpose, as `wake` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Service {
        cluster: String,
        service: String,
    },
    Cluster {
        cluster: String,
    },
    /// Every service carrying the tag, and every service of every cluster carrying it.
    Tag {
        key: String,
        value: String,
    },
    /// Every service (and every service of every cluster) carrying any of these keys with this
    /// value: the candidates of an environment (`environment::members` keeps its members).
    Environment {
        name: String,
        keys: Vec<String>,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    pub services: Vec<ObservedService>,
    /// Things discovery could not read, for the summary (e.g. a short-format ARN).
    pub warnings: Vec<String>,
    /// What a selector named that does not exist (or is no longer active).
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct CallError {
    /// `ecs:UpdateService`, `application-autoscaling:RegisterScalableTarget`, …
    pub operation: &'static str,
    /// The AWS error code when the service sent one (`ThrottlingException`, `AccessDeniedException`).
    pub code: Option<String>,
    pub message: String,
    /// Whether trying again later may succeed: throttling past every retry, a 5xx, a timeout, a
    /// dropped connection. Decided where the error is made (`aws::call_error` for AWS).
    pub retryable: bool,
}

impl CallError {
    /// A write the tool refuses to make itself (a value that would not read back, something not
    /// its own): code `RefusedByCostSaver`, never retried.
    pub fn refused(operation: &'static str, message: String) -> CallError {
        CallError { operation, code: Some("RefusedByCostSaver".into()), message, retryable: false }
    }
}

pub trait ReadFleet {
    fn observe(&self, query: &FleetQuery) -> impl Future<Output = Result<Observation, CallError>> + Send;

    fn select(&self, selector: &Selector) -> impl Future<Output = Result<Observation, CallError>> + Send;

    /// The scalable targets on `ecs:service:DesiredCount` of these services; a service without
    /// one is absent from the answer.
    fn scalable_targets(
        &self,
        ids: &[ServiceId],
    ) -> impl Future<Output = Result<BTreeMap<ServiceId, Bounds>, CallError>> + Send;

    /// The sizes of these task definitions, each asked once; one that cannot be read maps to why.
    /// Never fails the run: sizes only feed the cost estimate.
    fn task_sizes(
        &self,
        task_definitions: &[String],
    ) -> impl Future<Output = BTreeMap<String, Result<TaskSize, String>>> + Send;

    /// AWS calls made so far, per operation.
    fn calls(&self) -> BTreeMap<String, u32>;

    /// Retried attempts so far (throttling, 5xx, dropped connections), per operation.
    fn retries(&self) -> BTreeMap<String, u32> {
        BTreeMap::new()
    }
}

/// What the load balancers say: their rules, the tool's waking groups, and requests served.
pub trait ReadTraffic {
    /// Requests each of these target groups served from `since` until `until`, from the load
    /// balancer's metrics (`AWS/ApplicationELB` `RequestCount`); a group answered with no
    /// datapoint served none. A group *absent* from the answer is unknown (the metrics did not
    /// answer completely, or it is not behind an Application Load Balancer): never count it as 0.
    fn request_counts(
        &self,
        target_groups: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<BTreeMap<String, u64>, CallError>> + Send;

    /// Each of these target groups that exists, with the load balancers it is behind now (a rule
    /// or a listener's default action forwards to it): none for a group whose rules all forward
    /// to the waker. A group that no longer exists is absent.
    fn load_balancers_of(
        &self,
        target_groups: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Vec<String>)>, CallError>> + Send;

    /// Every rule of every listener of these load balancers, with its listener's port. Tags are
    /// read for the rules that forward to one of `tags_for` or to a waking group (`csw-…`), and
    /// for their listeners: nothing else needs them.
    fn listener_rules(
        &self,
        load_balancers: &[String],
        tags_for: &[String],
    ) -> impl Future<Output = Result<Vec<ListenerRule>, CallError>> + Send;

    /// Whether each of these load balancers is internet-facing (`true`) or internal (`false`);
    /// one that no longer exists is absent.
    fn internet_facing(
        &self,
        load_balancers: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, bool>, CallError>> + Send;

    /// Every target group carrying the tag key `marker`, with its tags.
    fn waking_groups(&self, marker: &str) -> impl Future<Output = Result<Vec<(String, Tags)>, CallError>> + Send;
}

pub trait ChangeService {
    /// Desired count, `key` tag and target groups of each service as they are now (fresh,
    /// batched reads); services that no longer exist are absent.
    fn current(&self, ids: &[ServiceId], key: &str) -> impl Future<Output = Result<Vec<Fresh>, CallError>> + Send;
    fn tag(&self, id: &ServiceId, key: &str, value: &str) -> impl Future<Output = Result<(), CallError>> + Send;
    fn untag(&self, id: &ServiceId, key: &str) -> impl Future<Output = Result<(), CallError>> + Send;
    fn set_bounds(&self, id: &ServiceId, bounds: Bounds) -> impl Future<Output = Result<(), CallError>> + Send;
    fn set_desired(&self, id: &ServiceId, desired: u32) -> impl Future<Output = Result<(), CallError>> + Send;
}

/// Routing a sleeping service's load balancer requests to the waker, and back (see `routing`).
pub trait RouteRequests {
    /// The waking target group `name` (created with `tags` if missing, a Lambda target group),
    /// with the waker function registered in it; returns its ARN. One that exists without the
    /// tool's marker is refused, never used.
    fn ensure_waking_group(
        &self,
        name: &str,
        tags: &[(String, String)],
        waker_arn: &str,
    ) -> impl Future<Output = Result<String, CallError>> + Send;

    /// Adds (or overwrites) these tags on a rule.
    fn tag_rule(&self, rule_arn: &str, tags: &[(String, String)])
        -> impl Future<Output = Result<(), CallError>> + Send;

    /// Makes the rule's actions exactly this one forward; its conditions stay.
    fn forward_rule(&self, rule_arn: &str, forward: &Forward) -> impl Future<Output = Result<(), CallError>> + Send;

    fn delete_target_group(&self, target_group: &str) -> impl Future<Output = Result<(), CallError>> + Send;

    /// Whether each of these target groups has at least one healthy target.
    fn all_healthy(&self, target_groups: &[String]) -> impl Future<Output = Result<bool, CallError>> + Send;
}

/// Everything at once: what the entry points (`run`, `wake`, the waker) take, since whether a
/// run routes requests or reads traffic is known only from its configuration.
pub trait Fleet: ReadFleet + ReadTraffic + ChangeService + RouteRequests {}

impl<T: ReadFleet + ReadTraffic + ChangeService + RouteRequests> Fleet for T {}
