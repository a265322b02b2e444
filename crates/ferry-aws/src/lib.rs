//! ferry's adapters over the official AWS SDK for Rust.
//!
//! Every AWS call ferry makes goes through the SDK clients built here: one `SdkConfig` per
//! environment (region, credentials, and an endpoint URL when pointing at `ferry local`),
//! with the SDK's standard retry mode (up to 8 attempts, exponential back-off with jitter)
//! so throttling and 5xx answers are absorbed instead of failing a deploy.
//!
//! Why not the adaptive mode: measured against ferry local's AWS-like buckets, one throttled
//! call made the adaptive client rate limiter hold every later call of the client for about
//! 20 s (a retry costs 10 tokens refilled at 0.5 per second at ferry's low request rate;
//! smithy-lang/smithy-rs#4749), so fifty services took 60–110 s to promote instead of a
//! few. ferry paces its own calls below ECS's buckets instead ([`pacer`]), and retries what
//! other clients' load still gets throttled.
//!
//! Every call is bounded in time and says when it cannot reach its endpoint ([`reach`]);
//! a call that cannot get credentials says which source it tried ([`credentials`]).
//!
//! The SDK crates are re-exported so the rest of the workspace depends on them only through
//! this crate.

pub mod alarms;
pub mod credentials;
pub mod ledger;
pub mod pacer;
pub mod platform;
pub mod reach;
pub mod scaling;
pub mod taskdef;
pub mod traffic;
pub mod workload;

pub use aws_sdk_applicationautoscaling as autoscaling;
pub use aws_sdk_cloudwatch as cloudwatch;
pub use aws_sdk_cloudwatchlogs as logs;
pub use aws_sdk_dynamodb as dynamodb;
pub use aws_sdk_ecr as ecr;
pub use aws_sdk_ecs as ecs;
pub use aws_sdk_elasticloadbalancingv2 as elbv2;
pub use aws_sdk_secretsmanager as secretsmanager;
pub use aws_sdk_ssm as ssm;

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use reach::Reach;

/// Where and as whom to call AWS.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// AWS region; the default chain's region when None.
    pub region: Option<String>,
    /// An endpoint URL that replaces every service's (`ferry local`, or a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Static credentials (access key, secret). The default credential chain when None.
    pub static_credentials: Option<(String, String)>,
    /// A named profile from the AWS config files instead of the default chain.
    pub profile: Option<String>,
    /// A role to assume with the credentials above.
    pub assume_role: Option<AssumeRole>,
    /// Where the endpoint URL was set, for messages: `environments.dev.endpoint_url in
    /// ferry.toml`, `--endpoint-url`.
    pub endpoint_origin: Option<String>,
    /// Where the credential settings are, for messages: `environments.prod.profile in
    /// ferry.toml`.
    pub credentials_origin: Option<String>,
}

/// A role assumed through STS, so each environment can deploy as its own role.
#[derive(Clone, Debug, Default)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
}

impl Target {
    /// A target for `ferry local` at `endpoint`: static credentials whose access key is
    /// the 12-digit account ferry local files resources under.
    pub fn local(endpoint: &str, account: &str, region: &str) -> Target {
        Target {
            region: Some(region.to_string()),
            endpoint_url: Some(endpoint.to_string()),
            static_credentials: Some((account.to_string(), "ferry-local".to_string())),
            ..Target::default()
        }
    }
}

/// Builds the SDK configuration for a target, with standard retries and bounded calls
/// ([`reach::timeout_config`]).
pub async fn sdk_config(target: &Target) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(8))
        .timeout_config(reach::timeout_config());
    if let Some(region) = &target.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &target.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some((key, secret)) = &target.static_credentials {
        loader = loader.credentials_provider(ecs::config::Credentials::new(key, secret, None, None, "ferry-static"));
    }
    if let Some(profile) = &target.profile {
        loader = loader.profile_name(profile);
        // A profile named in the config is the only source: falling through the default
        // chain to the instance metadata service hides that the profile is missing.
        if target.static_credentials.is_none() {
            loader =
                loader.credentials_provider(aws_config::profile::ProfileFileCredentialsProvider::builder().profile_name(profile).build());
        }
    }
    let config = loader.load().await;
    let Some(role) = &target.assume_role else { return config };
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(role.role_arn.clone())
        .session_name(role.session_name.clone().unwrap_or_else(|| "ferry".to_string()))
        .configure(&config);
    if let Some(id) = &role.external_id {
        provider = provider.external_id(id.clone());
    }
    let provider = provider.build().await;
    config.into_builder().credentials_provider(ecs::config::SharedCredentialsProvider::new(provider)).build()
}

/// The clients ferry uses, sharing one configuration, and what they know about where
/// they call (for their errors).
#[derive(Clone, Debug)]
pub struct Clients {
    pub ecs: ecs::Client,
    pub ecr: ecr::Client,
    pub autoscaling: autoscaling::Client,
    pub elbv2: elbv2::Client,
    pub cloudwatch: cloudwatch::Client,
    pub logs: logs::Client,
    pub ssm: ssm::Client,
    pub secretsmanager: secretsmanager::Client,
    pub reach: Arc<Reach>,
}

impl Clients {
    pub async fn new(target: &Target) -> Clients {
        let config = sdk_config(target).await;
        let reach = Arc::new(Reach::new(target));
        let watch = || reach::Watch { reach: reach.clone() };
        Clients {
            ecs: ecs::Client::from_conf(ecs::config::Builder::from(&config).interceptor(watch()).build()),
            ecr: ecr::Client::from_conf(ecr::config::Builder::from(&config).interceptor(watch()).build()),
            autoscaling: autoscaling::Client::from_conf(autoscaling::config::Builder::from(&config).interceptor(watch()).build()),
            elbv2: elbv2::Client::from_conf(elbv2::config::Builder::from(&config).interceptor(watch()).build()),
            cloudwatch: cloudwatch::Client::from_conf(cloudwatch::config::Builder::from(&config).interceptor(watch()).build()),
            logs: logs::Client::from_conf(logs::config::Builder::from(&config).interceptor(watch()).build()),
            ssm: ssm::Client::from_conf(ssm::config::Builder::from(&config).interceptor(watch()).build()),
            secretsmanager: secretsmanager::Client::from_conf(secretsmanager::config::Builder::from(&config).interceptor(watch()).build()),
            reach,
        }
    }
}
