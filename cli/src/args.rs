//! The command line, as clap reads it.

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "ecs-cost-saver", version, about = "Where your ECS services stand with ECS Cost Saver, and why")]
pub struct Cli {
    /// The deployed stack: its functions' settings are read, and `wake` invokes `<stack>-wake`.
    #[arg(long, env = "ECS_COST_SAVER_STACK", default_value = "ecs-cost-saver", global = true)]
    pub stack: String,
    /// Read the settings from this shell's environment (the functions' variables, e.g.
    /// `DEFAULT_SCHEDULE`) instead of the deployed stack.
    #[arg(long, global = true)]
    pub local_config: bool,
    /// `table` (the default on a terminal) or `json` (the default otherwise).
    #[arg(long, value_enum, global = true)]
    pub format: Option<Format>,
    /// Same as `--format json`.
    #[arg(long, global = true)]
    pub json: bool,
    /// With the stack's TARGETS: only this account (`status`, `next`), or the account the
    /// service is in (`explain`, `keep-alive`, `wake`).
    #[arg(long, global = true, value_parser = account)]
    pub account: Option<String>,
    /// With the stack's TARGETS: only this region, or the region the service is in.
    #[arg(long, global = true, value_parser = region)]
    pub region: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Environment,
    Service,
}

/// What `explain` and `keep-alive` act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Service(String, String),
    Environment(String),
    /// A service by its ARN, which says its account and region too.
    Arn {
        cluster: String,
        service: String,
        account: String,
        region: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One line per managed service: state, the planner's reason, next transition, keep-alive,
    /// tasks and the hourly cost its sleep avoids; totals at the bottom.
    Status {
        #[command(flatten)]
        fleet: FleetArgs,
        /// `environment` (the default): one table per environment, with its totals; `service`:
        /// one line per service, as before environments.
        #[arg(long, value_enum, default_value_t = By::Environment)]
        by: By,
    },
    /// Every rule that applied to one service, in the planner's order, and what the tool will do.
    Explain {
        /// `CLUSTER/SERVICE`, the service's ARN, or an environment's name (each of its members)
        #[arg(value_parser = target)]
        target: Target,
        #[arg(long, value_parser = instant)]
        at: Option<DateTime<Utc>>,
    },
    /// Keeps one service awake (writes its keep-alive tag), or clears the keep-alive.
    #[command(group(ArgGroup::new("how").required(true).args(["hours", "until", "clear"])))]
    KeepAlive {
        /// `CLUSTER/SERVICE`, the service's ARN, or an environment's name (every member)
        #[arg(value_parser = target)]
        target: Target,
        /// From now, 1 to 8784 (a year).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=8784))]
        hours: Option<u32>,
        /// Until this instant (RFC 3339, e.g. 2026-11-24T18:00:00+01:00).
        #[arg(long, value_parser = instant)]
        until: Option<DateTime<Utc>>,
        #[arg(long)]
        clear: bool,
    },
    /// Wakes a cluster, a service or every service with a tag through the deployed `wake`
    /// function (its IAM role does the writes) and keeps them awake.
    #[command(group(ArgGroup::new("what").required(true).args(["target", "tag", "environment"])))]
    Wake {
        /// `CLUSTER`, `CLUSTER/SERVICE` or the service's ARN (a service wakes with the rest of its
        /// environment)
        target: Option<String>,
        #[arg(long, value_parser = key_value)]
        tag: Option<(String, String)>,
        /// Every member of this environment.
        #[arg(long)]
        environment: Option<String>,
        /// Keep them awake this many hours from now (at most the stack's MAX_WAKE_HOURS).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=8784))]
        hours: u32,
        /// Ask the function what it would do, without changes.
        #[arg(long)]
        dry_run: bool,
    },
    /// Upcoming transitions across the fleet, by day.
    Next {
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=744))]
        hours: u32,
        #[command(flatten)]
        fleet: FleetArgs,
    },
}

/// Which services `status` and `next` look at, and as of when.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only services carrying this tag (on the service or its cluster), `KEY=VALUE`.
    #[arg(long, value_parser = key_value)]
    pub tag: Option<(String, String)>,
    /// Only the members of this environment.
    #[arg(long)]
    pub environment: Option<String>,
    /// Plan as of this instant instead of now (RFC 3339).
    #[arg(long, value_parser = instant)]
    pub at: Option<DateTime<Utc>>,
}

impl FleetArgs {
    pub fn filter(&self) -> ecs_cost_saver::status::Filter {
        ecs_cost_saver::status::Filter {
            cluster: self.cluster.clone(),
            tag: self.tag.clone(),
            environment: self.environment.clone(),
        }
    }
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

fn cluster_service(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((c, s)) if !c.is_empty() && !s.is_empty() && !s.contains('/') => Ok((c.to_string(), s.to_string())),
        _ => Err(format!("`{text}` is not CLUSTER/SERVICE (names, not ARNs)")),
    }
}

/// `CLUSTER/SERVICE`, an ECS service ARN, or a name without a slash: an environment.
fn target(text: &str) -> Result<Target, String> {
    if text.starts_with("arn:") {
        use ecs_cost_saver::targets::{service_of_arn, target_of_arn};
        let (Some((cluster, service)), Some(at)) = (service_of_arn(text), target_of_arn(text)) else {
            return Err(format!(
                "`{text}` is not an ECS service ARN (arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME)"
            ));
        };
        return Ok(Target::Arn { cluster, service, account: at.account, region: at.region });
    }
    if !text.contains('/') && !text.trim().is_empty() && !text.starts_with("arn:") {
        return Ok(Target::Environment(text.trim().to_string()));
    }
    let (cluster, service) = cluster_service(text).map_err(|e| format!("{e}, or an environment's name"))?;
    Ok(Target::Service(cluster, service))
}

fn account(text: &str) -> Result<String, String> {
    ecs_cost_saver::targets::check_account(text.trim()).map(|_| text.trim().to_string())
}

fn region(text: &str) -> Result<String, String> {
    ecs_cost_saver::targets::check_region(text.trim()).map(|_| text.trim().to_string())
}

impl Cli {
    /// Which targets the command is about: `--account`/`--region`, or a service ARN's.
    pub fn place(&self) -> Result<ecs_cost_saver::targets::Place, String> {
        let arn = match &self.command {
            Command::Explain { target: Target::Arn { account, region, .. }, .. }
            | Command::KeepAlive { target: Target::Arn { account, region, .. }, .. } => {
                Some((account.clone(), region.clone()))
            }
            Command::Wake { target: Some(text), .. } if text.starts_with("arn:") => {
                let Target::Arn { account, region, .. } = target(text)? else { unreachable!("an ARN") };
                Some((account, region))
            }
            _ => None,
        };
        let Some((account, region)) = arn else {
            return Ok(ecs_cost_saver::targets::Place { account: self.account.clone(), region: self.region.clone() });
        };
        for (flag, given, from_arn) in [("--account", &self.account, &account), ("--region", &self.region, &region)] {
            if given.as_ref().is_some_and(|g| g != from_arn) {
                return Err(format!("{flag} says {} but the ARN says {from_arn}", given.as_deref().unwrap_or("")));
            }
        }
        Ok(ecs_cost_saver::targets::Place { account: Some(account), region: Some(region) })
    }
}

fn instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| ecs_cost_saver::clock::whole_seconds(t.with_timezone(&Utc)))
        .map_err(|_| format!("`{text}` is not an RFC 3339 time like 2026-11-24T18:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_names_what_is_wrong() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        assert_eq!(cluster_service("previews/pr-1").unwrap(), ("previews".into(), "pr-1".into()));
        assert!(cluster_service("arn:aws:ecs:us-east-1:1:service/a/b").unwrap_err().contains("not CLUSTER/SERVICE"));
        assert!(key_value("=x").is_err());
        assert_eq!(target("pr-101").unwrap(), Target::Environment("pr-101".into()));
        assert_eq!(target("previews/pr-1").unwrap(), Target::Service("previews".into(), "pr-1".into()));
        assert!(target("a/b/c").unwrap_err().contains("or an environment's name"));
        assert_eq!(
            target("arn:aws:ecs:eu-west-1:111122223333:service/previews/web").unwrap(),
            Target::Arn {
                cluster: "previews".into(),
                service: "web".into(),
                account: "111122223333".into(),
                region: "eu-west-1".into()
            }
        );
        assert!(target("arn:aws:ecs:eu-west-1:111122223333:cluster/previews")
            .unwrap_err()
            .contains("not an ECS service ARN"));
        assert!(account("1234").unwrap_err().contains("12-digit"));
        let cli = Cli::parse_from([
            "ecs-cost-saver",
            "explain",
            "arn:aws:ecs:eu-west-1:111122223333:service/previews/web",
            "--region",
            "us-east-1",
        ]);
        assert!(cli.place().unwrap_err().contains("--region says us-east-1 but the ARN says eu-west-1"));
        assert!(instant("tomorrow").unwrap_err().contains("RFC 3339"));
    }
}
