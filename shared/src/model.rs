//! The domain types the core works on; the AWS adapter converts SDK types into these.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cost::Launch;

pub type Tags = BTreeMap<String, String>;

/// One ECS service, named the way every ECS and Application Auto Scaling call needs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ServiceId {
    pub arn: String,
    pub cluster: String,
    pub name: String,
}

impl ServiceId {
    /// Builds the id from a long-format service ARN (`…:service/<cluster>/<name>`).
    pub fn from_arn(arn: &str) -> Option<ServiceId> {
        let (_, path) = arn.split_once(":service/")?;
        let (cluster, name) = path.split_once('/')?;
        if cluster.is_empty() || name.is_empty() || name.contains('/') {
            return None;
        }
        Some(ServiceId { arn: arn.to_string(), cluster: cluster.to_string(), name: name.to_string() })
    }

    /// The Application Auto Scaling resource id, `service/<cluster>/<name>`.
    pub fn scaling_resource_id(&self) -> String {
        format!("service/{}/{}", self.cluster, self.name)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.cluster, self.name)
    }
}

/// Which automatic scaling activities are suspended on a scalable target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Suspension {
    pub scale_in: bool,
    pub scale_out: bool,
    pub scheduled: bool,
}

impl Suspension {
    pub const ALL: Suspension = Suspension { scale_in: true, scale_out: true, scheduled: true };
    pub const NONE: Suspension = Suspension { scale_in: false, scale_out: false, scheduled: false };

    /// `none` or a `+`-joined subset of `in`, `out`, `scheduled`.
    pub fn parse(value: &str) -> Result<Suspension, String> {
        if value == "none" {
            return Ok(Suspension::NONE);
        }
        let mut s = Suspension::NONE;
        for part in value.split('+') {
            let flag = match part {
                "in" => &mut s.scale_in,
                "out" => &mut s.scale_out,
                "scheduled" => &mut s.scheduled,
                _ => return Err(format!("suspended=`{value}`: `{part}` is not `in`, `out` or `scheduled`")),
            };
            if std::mem::replace(flag, true) {
                return Err(format!("suspended=`{value}`: `{part}` appears twice"));
            }
        }
        Ok(s)
    }
}

impl fmt::Display for Suspension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [(self.scale_in, "in"), (self.scale_out, "out"), (self.scheduled, "scheduled")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join("+"))
        }
    }
}

/// An Application Auto Scaling target's bounds and suspension flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
    pub suspended: Suspension,
}

impl Bounds {
    /// What a sleeping service's target looks like: nothing may scale it back up.
    pub const ASLEEP: Bounds = Bounds { min: 0, max: 0, suspended: Suspension::ALL };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchedulingStrategy {
    Replica,
    Daemon,
}

/// One service as discovery saw it, with its cluster's tags.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedService {
    pub id: ServiceId,
    /// `ACTIVE`, `DRAINING`, `INACTIVE`.
    pub status: String,
    pub strategy: SchedulingStrategy,
    pub desired: u32,
    pub running: u32,
    pub tags: Tags,
    pub cluster_tags: Tags,
    /// The newest deployment's creation time, for the grace period, to the whole second like
    /// the run's `now` (ECS stamps milliseconds: a deployment at 09:18:29.5 compared with a run
    /// at 09:18:29 would be "in the future" and always within its grace period).
    pub last_deployed_at: Option<DateTime<Utc>>,
    /// The Application Auto Scaling target on `ecs:service:DesiredCount`, if any. Discovery
    /// leaves it `None`; the run asks for targets only where the plan needs them.
    pub scaling: Option<Bounds>,
    /// The task definition ARN the service runs, for the cost estimate.
    pub task_definition: Option<String>,
    pub launch: Launch,
    /// The load balancer target groups the service registers its tasks in.
    pub target_groups: Vec<String>,
    /// The target groups an ECS blue/green deployment moves its traffic to
    /// (`advancedConfiguration.alternateTargetGroupArn`): its requests are counted there too.
    pub alternate_target_groups: Vec<String>,
    /// `CODE_DEPLOY` or `EXTERNAL` when ECS does not deploy it itself: traffic may then be
    /// served by target groups the service does not list, so its requests are never known.
    pub external_deployments: Option<String>,
    /// Requests through those target groups over its idle-after window, when `reconcile` asked.
    pub requests: Option<u64>,
    /// Whether its load balancer requests can reach the waker, from the listener rules; read
    /// only where the planner needs it (`plan::waking_needed`), `None` elsewhere or unreadable.
    pub waking: Option<Waking>,
}

impl ObservedService {
    /// Whether ECS lists the service as `ACTIVE`: only those are ever changed (a deleted one stays
    /// listed as `INACTIVE` or `DRAINING` for a while).
    pub fn is_active(&self) -> bool {
        self.status == ACTIVE
    }
}

/// The ECS status of a service (and a cluster) that is in use.
pub const ACTIVE: &str = "ACTIVE";

/// One condition of a load balancer listener rule, in the forms rules use: values of a field
/// (`host-header`, `path-pattern`, `http-request-method`, `source-ip`), of a named header
/// (`http-header`), or key/value pairs (`query-string`, a pair's key is optional).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleCondition {
    pub field: String,
    pub header: Option<String>,
    pub values: Vec<String>,
    pub pairs: Vec<(Option<String>, String)>,
}

/// One rule of a load balancer listener, as much as routing to the waker needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerRule {
    pub arn: String,
    pub listener: String,
    /// The load balancer of its listener.
    pub load_balancer: String,
    /// Its listener's port (a request's `x-forwarded-port` says which listener took it).
    pub port: Option<u16>,
    /// `None` for the listener's default rule.
    pub priority: Option<u32>,
    pub conditions: Vec<RuleCondition>,
    /// Every target group it forwards to (one, or the groups of a weighted forward).
    pub forwards_to: Vec<String>,
    /// Its actions when they are exactly one forward (the only shape the tool swaps and puts
    /// back); `None` for anything else (an authentication first, a redirect, a fixed response).
    pub forward: Option<Forward>,
    pub tags: Tags,
    /// The tags of its listener: `cost-saver:wake-on-request=false` there keeps the whole
    /// listener out of the waking routing.
    pub listener_tags: Tags,
    /// A condition the waker cannot evaluate, or actions it cannot put back, in words.
    pub unsupported: Option<String>,
}

/// A rule's one forward action: its target groups (with weights when weighted) and stickiness.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Forward {
    pub groups: Vec<(String, Option<i32>)>,
    /// Target group stickiness of a weighted forward: its duration in seconds when enabled.
    pub sticky_seconds: Option<i32>,
}

impl Forward {
    /// A plain forward to one target group.
    pub fn to(target_group: &str) -> Forward {
        Forward { groups: vec![(target_group.to_string(), None)], sticky_seconds: None }
    }

    pub fn target_groups(&self) -> Vec<String> {
        self.groups.iter().map(|(g, _)| g.clone()).collect()
    }
}

/// A service as read again just before or after a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    pub id: ServiceId,
    pub desired: u32,
    /// The value of the tag asked for (saved state), if the service carries it.
    pub tag: Option<String>,
    pub target_groups: Vec<String>,
}

/// Whether requests through a service's load balancer rules can reach the waker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waking {
    /// Every rule forwarding to it forwards to the waker instead while it sleeps.
    InPlace,
    /// Every such rule can be swapped to the waker (none is yet, or some are not).
    CanBeAdded,
    /// Some of its traffic can never reach the waker (a listener's default action, a listener
    /// that opts out, a rule the tool cannot put back exactly, a shared target group): why.
    Uncovered(String),
}

/// What a summary reports for one service: its `action`, and the key of its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reported {
    ScaledDown,
    WouldScaleDown,
    KeptAsleep,
    WouldKeepAsleep,
    Restored,
    WouldRestore,
    /// Restored by the waker, for a request through its load balancer.
    WokenByRequest,
    Skipped,
    Failed,
    /// The run's deadline came before the service was started: nothing was done to it.
    NotReached,
}

impl Reported {
    pub fn name(self) -> &'static str {
        match self {
            Reported::ScaledDown => "scaled_down",
            Reported::WouldScaleDown => "would_scale_down",
            Reported::KeptAsleep => "kept_asleep",
            Reported::WouldKeepAsleep => "would_keep_asleep",
            Reported::Restored => "restored",
            Reported::WouldRestore => "would_restore",
            Reported::WokenByRequest => "woken_by_request",
            Reported::Skipped => "skipped",
            Reported::Failed => "failed",
            Reported::NotReached => "not_reached",
        }
    }

    /// Whether it makes the invocation end in an error (the scheduler retries, alarms see it).
    pub fn is_failure(self) -> bool {
        matches!(self, Reported::Failed | Reported::NotReached)
    }
}

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
