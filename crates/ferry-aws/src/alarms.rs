//! CloudWatch alarms through the SDK: the states of the alarms a deploy's alarm gate names
//! (DescribeAlarms, CloudWatch API reference).

use std::sync::Arc;

use ferry_core::platform::PlatformResult;

use crate::cloudwatch;
use crate::cloudwatch::types::StateValue;
use crate::pacer::Pacer;
use crate::platform::Explainer;
use crate::reach::Reach;

/// One metric alarm's state as DescribeAlarms reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// `StateReason`: why it is in that state.
    pub reason: String,
}

/// CloudWatch alarms, read only, paced well below DescribeAlarms' quota (9 per second, CloudWatch
/// user guide "CloudWatch service quotas").
#[derive(Clone, Debug)]
pub struct AwsAlarms {
    pub client: cloudwatch::Client,
    reads: Arc<Pacer>,
    reach: Explainer,
}

impl AwsAlarms {
    pub fn new(client: cloudwatch::Client) -> Self {
        AwsAlarms { client, reads: Arc::new(Pacer::new(9, 4)), reach: Explainer::default() }
    }

    /// Errors name the endpoint, the cause and the fix when a call cannot reach it.
    pub fn with_reach(mut self, reach: Arc<Reach>) -> Self {
        self.reach = Explainer::new(reach);
        self
    }

    /// The states of the metric alarms `names` (at most 100 per call, as the API takes them);
    /// an alarm that does not exist is absent from the answer.
    pub async fn states(&self, names: &[String]) -> PlatformResult<Vec<AlarmState>> {
        let mut found = Vec::new();
        for chunk in names.chunks(100) {
            let mut token: Option<String> = None;
            loop {
                self.reads.take().await;
                let out = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| self.reach.error("cloudwatch:DescribeAlarms", e))?;
                found.extend(out.metric_alarms().iter().map(|a| AlarmState {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    state: a.state_value().map(StateValue::as_str).unwrap_or_default().to_string(),
                    reason: a.state_reason().unwrap_or_default().to_string(),
                }));
                match out.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_string()),
                    _ => break,
                }
            }
        }
        Ok(found)
    }
}
