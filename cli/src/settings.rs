//! Credentials, the AWS clients and the tool's settings: the deployed stack's (the `reconcile`
//! function's environment), so the command line plans exactly as the functions do.

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_lambda as lambda;
use ecs_cost_saver::aws::hub::Hub;
use ecs_cost_saver::aws::{retry_config, AwsFleet, Timeouts};
use ecs_cost_saver::hub::Reached;
use ecs_cost_saver::targets::Place;
use ecs_cost_saver::Config;

use crate::failure::{Code, Failure};

pub struct Session {
    pub fleet: AwsFleet,
    /// With the stack's TARGETS: every target the command is about, each with its clients (the
    /// spoke role assumed with this shell's credentials) or why it cannot be read.
    pub sites: Option<Vec<Reached<AwsFleet>>>,
    pub lambda: lambda::Client,
    pub config: Config,
}

impl Session {
    /// The one fleet a command on one service works on: the local one, or with TARGETS the one
    /// target `--account`/`--region` (or the service's ARN) name.
    pub fn one(&self) -> Result<&AwsFleet, Failure> {
        let Some(sites) = &self.sites else { return Ok(&self.fleet) };
        match sites.as_slice() {
            [one] => one.fleet.as_ref().map_err(|why| Failure::new(Code::Failed, format!("{}: {why}", one.target))),
            [] => Err(Failure::new(Code::NotFound, "no target of the stack's TARGETS is in that account and region")),
            many => {
                let names: Vec<String> = many.iter().map(|r| r.target.to_string()).collect();
                Err(Failure::new(
                    Code::Usage,
                    format!(
                        "the stack works on {} targets ({}): say which with --account and --region, or give the service's ARN",
                        many.len(),
                        names.join(", ")
                    ),
                ))
            }
        }
    }
}

/// `place`: the targets the command is about; `flags`: whether `--account`/`--region` named it
/// (an ARN alone is fine without TARGETS: it is this account's service).
pub async fn start(stack: &str, local_config: bool, place: &Place, flags: bool) -> Result<Session, Failure> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(retry_config()).load().await;
    check_credentials(&sdk).await?;
    let lambda = lambda::Client::new(&sdk);
    let config = if local_config {
        Config::from_env().map_err(|e| Failure::new(Code::Setup, format!("settings from the environment: {e}")))?
    } else {
        stack_config(&lambda, stack).await?
    };
    let sites = match config.targets.is_empty() {
        true if flags => {
            return Err(Failure::new(
                Code::Usage,
                "--account and --region need the stack's TARGETS (it works on its own account and region)",
            ))
        }
        true => None,
        false => {
            let hub = Hub::new(&sdk, Timeouts::default(), "ecs-cost-saver-cli");
            Some(hub.reach(&config.targets, &config.spoke_role_name, place).await)
        }
    };
    Ok(Session { fleet: AwsFleet::new(&sdk), sites, lambda, config })
}

async fn check_credentials(sdk: &SdkConfig) -> Result<(), Failure> {
    let Some(provider) = sdk.credentials_provider() else {
        return Err(Failure::new(
            Code::Setup,
            "no AWS credentials configured (aws configure, aws sso login, or AWS_PROFILE)",
        ));
    };
    provider.provide_credentials().await.map_err(|e| {
        Failure::new(Code::Setup, format!("no AWS credentials: {e} (aws sso login, or set AWS_PROFILE)"))
    })?;
    Ok(())
}

/// The `reconcile` function's environment: the stack's settings, exactly as deployed.
async fn stack_config(client: &lambda::Client, stack: &str) -> Result<Config, Failure> {
    let function = format!("{stack}-reconcile");
    let out = client.get_function_configuration().function_name(&function).send().await.map_err(|e| {
        let service = e.as_service_error();
        if service.is_some_and(|s| s.is_resource_not_found_exception()) {
            Failure::new(
                Code::NotFound,
                format!("no stack `{stack}`: there is no function {function} here (set --stack or ECS_COST_SAVER_STACK, or use --local-config)"),
            )
        } else {
            let detail = service.and_then(|s| s.meta().message().map(str::to_string)).unwrap_or_else(|| e.to_string());
            Failure::new(Code::Setup, format!("could not read the settings of {function}: {detail}"))
        }
    })?;
    let vars = out.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    Config::from_lookup(|k| vars.get(k).cloned())
        .map_err(|e| Failure::new(Code::Setup, format!("the settings of {function}: {e}")))
}
