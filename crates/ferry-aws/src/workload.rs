//! What a task needs besides ECS: the [`Logs`] port over CloudWatch Logs (where the awslogs
//! driver writes, and what it wrote) and the [`Secrets`] port over SSM Parameter Store and
//! Secrets Manager (that a container's `secrets` exist, never their values).

use std::sync::Arc;

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use ferry_core::platform::{LogEvent, LogPage, LogStreams, Logs, PlatformError, PlatformResult, Secrets};

use crate::pacer::Pacer;
use crate::reach::{AsResponse, Reach, platform_error};
use crate::{logs, secretsmanager, ssm};

/// An SDK error as a [`PlatformError`], through the clients' reach when known.
fn explain<E, R>(
    reach: &Option<Arc<Reach>>,
    operation: &str,
    error: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> PlatformError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + AsResponse,
{
    match reach {
        Some(reach) => reach.error(operation, error),
        None => platform_error(operation, error),
    }
}

/// CloudWatch Logs through the SDK, paced below FilterLogEvents' quota (25 requests per
/// second per account and region, CloudWatch Logs quotas).
#[derive(Clone, Debug)]
pub struct AwsLogs {
    pub client: logs::Client,
    calls: Arc<Pacer>,
    reach: Option<Arc<Reach>>,
}

impl AwsLogs {
    pub fn new(client: logs::Client) -> Self {
        AwsLogs { client, calls: Arc::new(Pacer::new(10, 5)), reach: None }
    }

    /// Errors name the endpoint, the cause and the fix when a call cannot reach it.
    pub fn with_reach(mut self, reach: Arc<Reach>) -> Self {
        self.reach = Some(reach);
        self
    }
}

impl Logs for AwsLogs {
    async fn log_group_exists(&self, group: &str) -> PlatformResult<bool> {
        self.calls.take().await;
        let out = self
            .client
            .describe_log_groups()
            .log_group_name_prefix(group)
            .limit(50)
            .send()
            .await
            .map_err(|e| explain(&self.reach, "logs:DescribeLogGroups", e))?;
        Ok(out.log_groups().iter().any(|g| g.log_group_name() == Some(group)))
    }

    async fn filter_log_events(
        &self,
        group: &str,
        streams: &LogStreams,
        start_ms: Option<i64>,
        token: Option<&str>,
    ) -> PlatformResult<LogPage> {
        let mut call =
            self.client.filter_log_events().log_group_name(group).set_start_time(start_ms).set_next_token(token.map(str::to_string));
        call = match streams {
            LogStreams::All => call,
            LogStreams::Prefix(prefix) => call.log_stream_name_prefix(prefix),
            LogStreams::Names(names) => call.set_log_stream_names(Some(names.iter().take(100).cloned().collect())),
        };
        self.calls.take().await;
        let out = call.send().await.map_err(|e| explain(&self.reach, "logs:FilterLogEvents", e))?;
        let events = out
            .events()
            .iter()
            .map(|e| LogEvent {
                timestamp: e.timestamp().unwrap_or_default(),
                stream: e.log_stream_name().unwrap_or_default().to_string(),
                message: e.message().unwrap_or_default().to_string(),
                id: e.event_id().unwrap_or_default().to_string(),
            })
            .collect();
        Ok(LogPage { events, next_token: out.next_token().map(str::to_string) })
    }
}

/// SSM Parameter Store and Secrets Manager through the SDK, paced well below their quotas
/// (DescribeParameters: 10 per second; DescribeSecret: 50 per second).
#[derive(Clone, Debug)]
pub struct AwsSecrets {
    pub ssm: ssm::Client,
    pub secretsmanager: secretsmanager::Client,
    calls: Arc<Pacer>,
    reach: Option<Arc<Reach>>,
}

impl AwsSecrets {
    pub fn new(ssm: ssm::Client, secretsmanager: secretsmanager::Client) -> Self {
        AwsSecrets { ssm, secretsmanager, calls: Arc::new(Pacer::new(5, 5)), reach: None }
    }

    /// Errors name the endpoint, the cause and the fix when a call cannot reach it.
    pub fn with_reach(mut self, reach: Arc<Reach>) -> Self {
        self.reach = Some(reach);
        self
    }
}

/// The parameter name of an SSM parameter ARN (`arn:aws:ssm:eu-west-1:123456789012:parameter/app/db`
/// → `/app/db`; `…:parameter/db` → `db`), or the name as given.
fn parameter_name(name_or_arn: &str) -> String {
    match name_or_arn.split_once(":parameter/") {
        Some((prefix, name)) if prefix.starts_with("arn:") => {
            // A name with a path keeps its leading slash; the ARN has a single one.
            if name.contains('/') { format!("/{name}") } else { name.to_string() }
        }
        _ => name_or_arn.to_string(),
    }
}

impl Secrets for AwsSecrets {
    async fn parameter_exists(&self, name: &str) -> PlatformResult<bool> {
        let name = parameter_name(name);
        let filter = ssm::types::ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .values(&name)
            .build()
            .map_err(|e| PlatformError::new("ssm:DescribeParameters", None, e.to_string()))?;
        self.calls.take().await;
        let out = self
            .ssm
            .describe_parameters()
            .parameter_filters(filter)
            .send()
            .await
            .map_err(|e| explain(&self.reach, "ssm:DescribeParameters", e))?;
        Ok(out.parameters().iter().any(|p| p.name() == Some(name.as_str())))
    }

    async fn secret_exists(&self, secret_id: &str) -> PlatformResult<bool> {
        self.calls.take().await;
        match self.secretsmanager.describe_secret().secret_id(secret_id).send().await {
            Ok(out) => Ok(out.deleted_date().is_none()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(false),
            Err(e) => Err(explain(&self.reach, "secretsmanager:DescribeSecret", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parameter_name;

    #[test]
    fn a_parameter_arn_names_the_parameter_as_ssm_does() {
        assert_eq!(parameter_name("arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/password"), "/app/db/password");
        assert_eq!(parameter_name("arn:aws:ssm:eu-west-1:123456789012:parameter/db-password"), "db-password");
        assert_eq!(parameter_name("/app/db/password"), "/app/db/password");
        assert_eq!(parameter_name("db-password"), "db-password");
    }
}
