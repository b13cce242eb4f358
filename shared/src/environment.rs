//! Environments: the managed services that share an environment key, the first tag present among
//! `ENVIRONMENT_TAG_KEYS` (default `cost-saver:environment`, then `aws:cloudformation:stack-name`)
//! on the service or its cluster. A preview of a web front end, an API and a worker wakes, stays
//! awake and idle-sleeps as one (`plan::together` decides how); scope, protection, saved state and
//! the step order stay per service. A service with no key is an environment of its own, planned
//! exactly as before.
//!
//! `aws:` keys are read on the service only: CloudFormation puts its stack tags on the clusters it
//! creates, and a cluster's stack is the shared infrastructure of every preview in it, not one
//! preview. (It does not put them on ECS services at all today, so `aws:cloudformation:stack-name`
//! names an environment only where a tool copies it there; the README says so.)

use std::collections::BTreeSet;

use crate::config::Config;
use crate::fleet::{CallError, Observation, ReadFleet, Selector};
use crate::model::ObservedService;
use crate::tags::{scope_of, Scope};

/// The environment `s` belongs to, if any of the keys names one.
pub fn environment_of(s: &ObservedService, config: &Config) -> Option<String> {
    for key in &config.environment_tag_keys {
        let on_cluster = !key.to_ascii_lowercase().starts_with("aws:");
        let value = s.tags.get(key).or_else(|| if on_cluster { s.cluster_tags.get(key) } else { None });
        // Exactly as tagged: the tagging API finds members by the exact value.
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            return Some(v.clone());
        }
    }
    None
}

/// Every service of environment `name`: each key asked as a tag, then only the services whose
/// first present key names it (a service tagged `cost-saver:environment=pr-7` is not in `pr-101`
/// because its stack is called so).
pub async fn members<F: ReadFleet>(fleet: &F, config: &Config, name: &str) -> Result<Observation, CallError> {
    let selector = Selector::Environment { name: name.to_string(), keys: config.environment_tag_keys.clone() };
    let mut found = fleet.select(&selector).await?;
    found.missing.clear();
    found.services.retain(|s| environment_of(s, config).as_deref() == Some(name));
    if !found.services.iter().any(ObservedService::is_active) {
        found.missing.push(format!("environment {name} (no service or cluster tagged {})", keys(config)));
    }
    Ok(found)
}

/// What `selector` selected, with every other member of each environment among it, the selected
/// services first and in their order (the waker reads the first as the service it was asked for).
pub async fn with_members<F: ReadFleet>(
    fleet: &F,
    config: &Config,
    mut selected: Observation,
) -> Result<Observation, CallError> {
    if !selected.missing.is_empty() {
        return Ok(selected);
    }
    let names: BTreeSet<String> =
        selected.services.iter().filter(|s| s.is_active()).filter_map(|s| environment_of(s, config)).collect();
    let mut seen: BTreeSet<String> = selected.services.iter().map(|s| s.id.arn.clone()).collect();
    for name in names {
        let o = members(fleet, config, &name).await?;
        selected.warnings.extend(o.warnings);
        // Only what the tool may change comes along: a protected member is never woken for another.
        for s in o.services.into_iter().filter(|s| scope_of(s, config) == Scope::Managed) {
            if seen.insert(s.id.arn.clone()) {
                selected.services.push(s);
            }
        }
    }
    Ok(selected)
}

fn keys(config: &Config) -> String {
    config.environment_tag_keys.iter().map(|k| format!("{k}=…")).collect::<Vec<_>>().join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryFleet, MemoryService};

    fn config(keys: &str) -> Config {
        let keys = keys.to_string();
        Config::from_lookup(move |k| (k == "ENVIRONMENT_TAG_KEYS").then(|| keys.clone())).unwrap()
    }

    #[tokio::test]
    async fn the_first_key_present_names_it_and_stack_tags_count_on_services_only() {
        let c = config("");
        let f = MemoryFleet::new();
        f.add_cluster("previews", &[("Environment", "preview"), ("aws:cloudformation:stack-name", "shared-infra")]);
        f.add_cluster("pr-9", &[("Environment", "preview"), ("cost-saver:environment", "pr-9")]);
        f.add_service(MemoryService::new("previews", "web", 1).tag("cost-saver:environment", "pr-101"));
        f.add_service(
            MemoryService::new("previews", "api", 1)
                .tag("aws:cloudformation:stack-name", "pr-101")
                .tag("cost-saver:environment", "pr-101"),
        );
        f.add_service(
            MemoryService::new("previews", "other", 1)
                .tag("aws:cloudformation:stack-name", "pr-101")
                .tag("cost-saver:environment", "pr-7"),
        );
        f.add_service(MemoryService::new("previews", "stacked", 1).tag("aws:cloudformation:stack-name", "pr-101"));
        f.add_service(MemoryService::new("previews", "alone", 1));
        f.add_service(MemoryService::new("pr-9", "worker", 1));
        let all = f.select(&Selector::Cluster { cluster: "previews".into() }).await.unwrap().services;
        let mut all =
            all.into_iter().chain(f.select(&Selector::Cluster { cluster: "pr-9".into() }).await.unwrap().services);
        let envs: Vec<(String, Option<String>)> =
            all.by_ref().map(|s| (s.id.name.clone(), environment_of(&s, &c))).collect();
        let named = |n: &str| envs.iter().find(|(s, _)| s == n).unwrap().1.clone();
        assert_eq!(named("web").as_deref(), Some("pr-101"));
        assert_eq!(named("api").as_deref(), Some("pr-101"));
        assert_eq!(named("other").as_deref(), Some("pr-7"), "cost-saver:environment comes first");
        assert_eq!(named("stacked").as_deref(), Some("pr-101"), "the service's own stack tag");
        assert_eq!(named("alone"), None, "the cluster's stack is shared infrastructure, not an environment");
        assert_eq!(named("worker").as_deref(), Some("pr-9"), "a cluster's own key names its services'");
        let web = f.select(&Selector::Service { cluster: "previews".into(), service: "web".into() }).await.unwrap();
        assert_eq!(environment_of(&web.services[0], &config("none")), None, "`none` turns environments off");

        let pr101 = members(&f, &c, "pr-101").await.unwrap();
        let mut names: Vec<&str> = pr101.services.iter().map(|s| s.id.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["api", "stacked", "web"]);
        let none = members(&f, &c, "pr-404").await.unwrap();
        assert!(none.missing[0].contains("environment pr-404"), "{:?}", none.missing);
    }
}
