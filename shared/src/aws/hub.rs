//! The hub's reach into its targets: `TARGETS` resolved (an organizational unit's accounts with
//! Organizations, an account's enabled regions with Account Management) and one set of clients
//! per target, with credentials from one STS `AssumeRole` into the target's spoke role for the
//! run. The hub's own account is worked on with its own credentials.

use std::collections::BTreeSet;
use std::time::SystemTime;

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_account as account;
use aws_sdk_organizations as org;
use aws_sdk_sts as sts;

use super::client::call_error;
use super::{AwsFleet, Timeouts};
use crate::fleet::CallError;
use crate::hub::Reached;
use crate::targets::{partition_of, role_arn, session_name, Place, Target, TargetSpec, MAX_TARGETS};

/// Organizational units nest at most five deep below the root.
const MAX_OU_DEPTH: usize = 5;
/// Targets being resolved or having their role assumed at once.
const REACH_CONCURRENCY: usize = 16;

pub struct Hub {
    base: SdkConfig,
    timeouts: Timeouts,
    /// Named in every session, so the spoke's CloudTrail says which function called.
    function: String,
    sts: sts::Client,
    organizations: org::Client,
    account: account::Client,
    local: tokio::sync::OnceCell<String>,
}

impl Hub {
    pub fn new(base: &SdkConfig, timeouts: Timeouts, function: &str) -> Hub {
        let limits = timeouts.config();
        Hub {
            base: base.clone(),
            timeouts,
            function: function.to_string(),
            sts: sts::Client::from_conf(sts::config::Builder::from(base).timeout_config(limits.clone()).build()),
            organizations: org::Client::from_conf(
                org::config::Builder::from(base).timeout_config(limits.clone()).build(),
            ),
            account: account::Client::from_conf(account::config::Builder::from(base).timeout_config(limits).build()),
            local: tokio::sync::OnceCell::new(),
        }
    }

    /// A hub whose STS, Organizations and Account calls go to the given clients (tests with
    /// `aws-smithy-mocks`: moto has no `ListRegions`, and its Organizations keeps no pages).
    #[cfg(test)]
    pub(crate) fn with_clients(
        base: &SdkConfig,
        sts: sts::Client,
        organizations: org::Client,
        account: account::Client,
    ) -> Hub {
        Hub { sts, organizations, account, ..Hub::new(base, Timeouts::default(), "ecs-cost-saver-scale-down") }
    }

    /// Every target `specs` name that `place` holds, each with its clients or why it cannot be
    /// worked on, in a stable order. An entry that cannot be resolved is one unreachable target
    /// named as written (`ou-…:eu-west-1`, `111122223333:*`).
    pub async fn reach(&self, specs: &[TargetSpec], role_name: &str, place: &Place) -> Vec<Reached<AwsFleet>> {
        let local = match self.local_account().await {
            Ok(local) => local,
            Err(why) => return specs.iter().map(|s| unreachable(s, why.clone())).collect(),
        };
        // Futures made up front and joined (not a mapped stream): the caller's future stays
        // `Send` for every lifetime, as tokio::spawn wants; a semaphore bounds the calls.
        let permits = tokio::sync::Semaphore::new(REACH_CONCURRENCY);
        let resolving = specs.iter().map(|spec| self.resolve_bounded(spec, &local, &permits));
        let resolved = futures_util::future::join_all(resolving).await;
        let mut targets = BTreeSet::new();
        let mut reached = Vec::new();
        for (spec, result) in specs.iter().zip(resolved) {
            match result {
                Ok(found) => targets.extend(found.into_iter().filter(|t| place.holds(t))),
                Err(why) => reached.push(unreachable(spec, why)),
            }
        }
        let beyond: Vec<Target> = targets.iter().skip(MAX_TARGETS).cloned().collect();
        for target in beyond {
            targets.remove(&target);
            let why = format!("more than {MAX_TARGETS} targets: not worked on (split TARGETS over two stacks)");
            reached.push(Reached::new(target, Err(why)));
        }
        let assuming = targets.into_iter().map(|target| self.assume_bounded(target, role_name, &local, &permits));
        let assumed = futures_util::future::join_all(assuming).await;
        reached.extend(assumed);
        reached.sort_by(|a, b| a.target.cmp(&b.target));
        reached
    }

    async fn resolve_bounded(
        &self,
        spec: &TargetSpec,
        local: &str,
        permits: &tokio::sync::Semaphore,
    ) -> Result<Vec<Target>, String> {
        let _permit = permits.acquire().await.map_err(|e| e.to_string())?;
        self.resolve(spec, local).await
    }

    async fn assume_bounded(
        &self,
        target: Target,
        role_name: &str,
        local: &str,
        permits: &tokio::sync::Semaphore,
    ) -> Reached<AwsFleet> {
        let fleet = match permits.acquire().await {
            Ok(_permit) => self.assume(&target, role_name, local).await,
            Err(e) => Err(e.to_string()),
        };
        let home = target.account == local && Some(target.region.as_str()) == self.home_region();
        Reached { fleet: fleet.map(|c| AwsFleet::with_timeouts(&c, self.timeouts)), target, home }
    }

    fn home_region(&self) -> Option<&str> {
        self.base.region().map(|r| r.as_ref())
    }

    /// The hub's own account, asked once per process.
    async fn local_account(&self) -> Result<String, String> {
        self.local
            .get_or_try_init(|| async {
                let me = self.sts.get_caller_identity().send().await.map_err(|e| {
                    format!("cannot tell the hub's own account: {}", call_error("sts:GetCallerIdentity", e))
                })?;
                me.account().map(str::to_string).ok_or_else(|| "sts:GetCallerIdentity named no account".to_string())
            })
            .await
            .cloned()
    }

    async fn resolve(&self, spec: &TargetSpec, local: &str) -> Result<Vec<Target>, String> {
        match spec {
            TargetSpec::Pair(t) => Ok(vec![t.clone()]),
            TargetSpec::EveryRegion { account } => {
                let regions = self.enabled_regions(account, local).await.map_err(|e| e.to_string())?;
                if regions.is_empty() {
                    return Err("no enabled region listed".into());
                }
                Ok(regions.iter().map(|r| Target::new(account, r)).collect())
            }
            TargetSpec::OrganizationalUnit { ou, region } => {
                let accounts = self.accounts_under(ou).await.map_err(|e| e.to_string())?;
                Ok(accounts.iter().map(|a| Target::new(a, region)).collect())
            }
        }
    }

    /// The regions enabled in `account` (Account Management's `ListRegions`; another account's
    /// need the hub in the organization's management or delegated administrator account).
    async fn enabled_regions(&self, account: &str, local: &str) -> Result<Vec<String>, CallError> {
        use account::types::RegionOptStatus;
        let mut ask = self
            .account
            .list_regions()
            .region_opt_status_contains(RegionOptStatus::Enabled)
            .region_opt_status_contains(RegionOptStatus::EnabledByDefault);
        // The management account may not name itself.
        if account != local {
            ask = ask.account_id(account);
        }
        let mut pages = ask.into_paginator().send();
        let mut regions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| call_error("account:ListRegions", e))?;
            regions.extend(page.regions().iter().filter_map(|r| r.region_name().map(str::to_string)));
        }
        Ok(regions)
    }

    /// The active accounts under `ou` and its child units.
    async fn accounts_under(&self, ou: &str) -> Result<Vec<String>, CallError> {
        let mut accounts = Vec::new();
        let mut units = vec![(ou.to_string(), 0)];
        while let Some((parent, depth)) = units.pop() {
            let mut pages = self.organizations.list_accounts_for_parent().parent_id(&parent).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| call_error("organizations:ListAccountsForParent", e))?;
                accounts
                    .extend(page.accounts().iter().filter(|a| active(a)).filter_map(|a| a.id().map(str::to_string)));
            }
            if depth == MAX_OU_DEPTH {
                continue;
            }
            let mut pages =
                self.organizations.list_organizational_units_for_parent().parent_id(&parent).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| call_error("organizations:ListOrganizationalUnitsForParent", e))?;
                units.extend(page.organizational_units().iter().filter_map(|u| Some((u.id()?.to_string(), depth + 1))));
            }
        }
        Ok(accounts)
    }

    /// The target's configuration: the hub's own credentials in its own account, else the
    /// spoke role's for this run.
    async fn assume(&self, target: &Target, role_name: &str, local: &str) -> Result<SdkConfig, String> {
        let region = Region::new(target.region.clone());
        if target.account == local {
            return Ok(self.base.to_builder().region(region).build());
        }
        let arn = role_arn(partition_of(&target.region), &target.account, role_name);
        let answer = self
            .sts
            .assume_role()
            .role_arn(&arn)
            .role_session_name(session_name(&self.function, target))
            .send()
            .await
            .map_err(|e| format!("cannot assume {arn}: {}", call_error("sts:AssumeRole", e)))?;
        let c = answer.credentials().ok_or_else(|| format!("sts:AssumeRole of {arn} returned no credentials"))?;
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            SystemTime::try_from(*c.expiration()).ok(),
            "ecs-cost-saver-spoke",
        );
        Ok(self
            .base
            .to_builder()
            .region(region)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build())
    }
}

/// Organizations' `State` (its `Status` until it was deprecated).
#[allow(deprecated)]
fn active(a: &org::types::Account) -> bool {
    match (a.state(), a.status()) {
        (Some(state), _) => *state == org::types::AccountState::Active,
        (None, Some(status)) => *status == org::types::AccountStatus::Active,
        (None, None) => false,
    }
}

fn unreachable(spec: &TargetSpec, why: String) -> Reached<AwsFleet> {
    let target = match spec {
        TargetSpec::Pair(t) => t.clone(),
        TargetSpec::EveryRegion { account } => Target::new(account, "*"),
        TargetSpec::OrganizationalUnit { ou, region } => Target::new(ou, region),
    };
    Reached::new(target, Err(why))
}

#[cfg(test)]
mod tests;
