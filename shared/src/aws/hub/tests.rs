//! What moto cannot answer (no Account Management, no Organizations pages, no refused
//! AssumeRole): the hub's reading of those answers, with `aws-smithy-mocks`.

use aws_sdk_account::operation::list_regions::ListRegionsOutput;
use aws_sdk_organizations::operation::list_accounts_for_parent::ListAccountsForParentOutput;
use aws_sdk_organizations::operation::list_organizational_units_for_parent::ListOrganizationalUnitsForParentOutput;
use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};

use super::*;

const HUB: &str = "999999999999";

fn base() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .build()
}

fn org_account(id: &str, state: org::types::AccountState) -> org::types::Account {
    org::types::Account::builder().id(id).state(state).build()
}

fn sts_client(denied: &'static str) -> sts::Client {
    let me =
        mock!(sts::Client::get_caller_identity).then_output(|| GetCallerIdentityOutput::builder().account(HUB).build());
    let refused = mock!(sts::Client::assume_role)
        .match_requests(move |r| r.role_arn().is_some_and(|a| a.contains(denied)))
        .then_error(|| {
            AssumeRoleError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized to perform sts:AssumeRole")
                    .build(),
            )
        });
    let assumed = mock!(sts::Client::assume_role).then_output(|| {
        AssumeRoleOutput::builder()
            .credentials(
                sts::types::Credentials::builder()
                    .access_key_id("ASIAEXAMPLE")
                    .secret_access_key("secret")
                    .session_token("token")
                    .expiration(aws_smithy_types::DateTime::from_secs(4_000_000_000))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&me, &refused, &assumed])
}

#[tokio::test]
async fn an_organizational_unit_is_every_active_account_under_it_child_units_and_pages_included() {
    let first_page = mock!(org::Client::list_accounts_for_parent)
        .match_requests(|r| r.parent_id() == Some("ou-root-aaaaaaaa") && r.next_token().is_none())
        .then_output(|| {
            ListAccountsForParentOutput::builder()
                .accounts(org_account("111111111111", org::types::AccountState::Active))
                .accounts(org_account("222222222222", org::types::AccountState::Suspended))
                .next_token("page-2")
                .build()
        });
    let second_page = mock!(org::Client::list_accounts_for_parent)
        .match_requests(|r| r.parent_id() == Some("ou-root-aaaaaaaa") && r.next_token() == Some("page-2"))
        .then_output(|| {
            ListAccountsForParentOutput::builder()
                .accounts(org_account("444444444444", org::types::AccountState::Active))
                .build()
        });
    let child_accounts = mock!(org::Client::list_accounts_for_parent)
        .match_requests(|r| r.parent_id() == Some("ou-root-bbbbbbbb"))
        .then_output(|| {
            ListAccountsForParentOutput::builder()
                .accounts(org_account("333333333333", org::types::AccountState::Active))
                .accounts(org_account(HUB, org::types::AccountState::Active))
                .build()
        });
    let children = mock!(org::Client::list_organizational_units_for_parent)
        .match_requests(|r| r.parent_id() == Some("ou-root-aaaaaaaa"))
        .then_output(|| {
            ListOrganizationalUnitsForParentOutput::builder()
                .organizational_units(org::types::OrganizationalUnit::builder().id("ou-root-bbbbbbbb").build())
                .build()
        });
    let no_children = mock!(org::Client::list_organizational_units_for_parent)
        .match_requests(|r| r.parent_id() == Some("ou-root-bbbbbbbb"))
        .then_output(|| ListOrganizationalUnitsForParentOutput::builder().build());
    let organizations = mock_client!(
        aws_sdk_organizations,
        RuleMode::MatchAny,
        [&first_page, &second_page, &child_accounts, &children, &no_children]
    );
    let account = mock_client!(aws_sdk_account, RuleMode::MatchAny, []);
    let hub = Hub::with_clients(&base(), sts_client("333333333333"), organizations, account);
    let specs = crate::targets::parse_targets("ou-root-aaaaaaaa:us-east-2").unwrap();
    let reached = hub.reach(&specs, "ecs-cost-saver-spoke", &Place::default()).await;
    let found: Vec<(String, Result<(), String>)> =
        reached.iter().map(|r| (r.target.to_string(), r.fleet.as_ref().map(|_| ()).map_err(Clone::clone))).collect();
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!(found[0], ("111111111111:us-east-2".into(), Ok(())));
    assert_eq!(found[1].0, "333333333333:us-east-2");
    let refused = found[1].1.as_ref().unwrap_err();
    assert!(
        refused.starts_with("cannot assume arn:aws:iam::333333333333:role/ecs-cost-saver-spoke: sts:AssumeRole")
            && refused.contains("AccessDenied"),
        "{refused}"
    );
    assert_eq!(found[2], ("444444444444:us-east-2".into(), Ok(())));
    // The hub's own account, with its own credentials: no AssumeRole.
    assert_eq!(found[3], (format!("{HUB}:us-east-2"), Ok(())));
    assert_eq!(first_page.num_calls() + second_page.num_calls() + child_accounts.num_calls(), 3);

    // Only the targets a wake asks for.
    let place = Place { account: Some("444444444444".into()), region: None };
    let reached = hub.reach(&specs, "ecs-cost-saver-spoke", &place).await;
    assert_eq!(reached.iter().map(|r| r.target.to_string()).collect::<Vec<_>>(), ["444444444444:us-east-2"]);
}

#[tokio::test]
async fn every_region_is_the_enabled_ones_asked_for_the_account_itself_when_it_is_the_hub() {
    let other = mock!(aws_sdk_account::Client::list_regions)
        .match_requests(|r| r.account_id() == Some("111111111111") && r.region_opt_status_contains().len() == 2)
        .then_output(|| {
            let region = |name: &str| aws_sdk_account::types::Region::builder().region_name(name).build();
            ListRegionsOutput::builder().regions(region("eu-west-1")).regions(region("ap-south-2")).build()
        });
    let own =
        mock!(aws_sdk_account::Client::list_regions).match_requests(|r| r.account_id().is_none()).then_output(|| {
            let region = |name: &str| aws_sdk_account::types::Region::builder().region_name(name).build();
            ListRegionsOutput::builder().regions(region("us-east-1")).build()
        });
    let account = mock_client!(aws_sdk_account, RuleMode::MatchAny, [&other, &own]);
    let organizations = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, []);
    let hub = Hub::with_clients(&base(), sts_client("nobody"), organizations, account);
    let specs = crate::targets::parse_targets(&format!("111111111111:*,{HUB}:*,111111111111:eu-west-1")).unwrap();
    let reached = hub.reach(&specs, "ecs-cost-saver-spoke", &Place::default()).await;
    let names: Vec<String> = reached.iter().map(|r| r.target.to_string()).collect();
    assert_eq!(names, ["111111111111:ap-south-2", "111111111111:eu-west-1", format!("{HUB}:us-east-1").as_str()]);
    assert!(reached.iter().all(|r| r.fleet.is_ok()));
    assert_eq!((other.num_calls(), own.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_entry_that_cannot_be_listed_is_one_failed_target_named_as_written() {
    let denied = mock!(org::Client::list_accounts_for_parent).then_error(|| {
        aws_sdk_organizations::operation::list_accounts_for_parent::ListAccountsForParentError::generic(
            aws_smithy_types::error::ErrorMetadata::builder()
                .code("AWSOrganizationsNotInUseException")
                .message("Your account is not a member of an organization.")
                .build(),
        )
    });
    let organizations = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, [&denied]);
    let account = mock_client!(aws_sdk_account, RuleMode::MatchAny, []);
    let hub = Hub::with_clients(&base(), sts_client("nobody"), organizations, account);
    let specs = crate::targets::parse_targets("ou-root-aaaaaaaa:eu-west-1,111111111111:eu-west-1").unwrap();
    let reached = hub.reach(&specs, "ecs-cost-saver-spoke", &Place::default()).await;
    assert_eq!(reached.len(), 2);
    assert_eq!(reached[0].target.to_string(), "111111111111:eu-west-1");
    assert!(reached[0].fleet.is_ok());
    assert_eq!(reached[1].target.to_string(), "ou-root-aaaaaaaa:eu-west-1");
    let why = reached[1].fleet.as_ref().err().unwrap();
    assert!(why.contains("organizations:ListAccountsForParent") && why.contains("not a member"), "{why}");
}
