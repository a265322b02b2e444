//! What CloudWatch keeps per partition: metric alarms (`PutMetricAlarm`), by name. ferry local
//! collects no metrics and evaluates no alarm: an alarm's state changes only when it is
//! created (`INSUFFICIENT_DATA`) and through `SetAlarmState` (docs/local.md says so).
//!
//! [`alarm_state`] is the read the rest of ferry local uses: ECS's deployment alarms
//! (`deploymentConfiguration.alarms`) watch the state of alarms named here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Partition, Tag};

/// One metric alarm, as `DescribeAlarms` answers it (the model's `MetricAlarm` shape): the
/// state CloudWatch sets and the configuration `PutMetricAlarm` gave. Every member has a
/// default, so that state saved by an older ferry local still loads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricAlarm {
    /// `AlarmName`: unique in its account and region.
    pub name: String,
    /// `arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME`.
    pub arn: String,
    /// `StateValue`: `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state_value: String,
    /// `StateReason`: `Unchecked: Initial alarm creation`, or what SetAlarmState said.
    pub state_reason: String,
    /// `StateReasonData`: JSON text, when SetAlarmState gave some.
    pub state_reason_data: Option<String>,
    /// `StateUpdatedTimestamp` (epoch seconds): the last change of state value or reason.
    pub state_updated_at: f64,
    /// `StateTransitionedTimestamp`: the last change of the state value itself.
    pub state_transitioned_at: f64,
    /// `AlarmConfigurationUpdatedTimestamp`: the last PutMetricAlarm.
    pub configuration_updated_at: f64,
    /// The members of the last PutMetricAlarm that the `MetricAlarm` shape answers with
    /// (`MetricName`, `Namespace`, `Dimensions`, `Threshold`, `AlarmActions`, `Metrics`, …),
    /// as given: each PutMetricAlarm replaces them all, as on AWS.
    pub configuration: Map<String, Value>,
    /// The tags the alarm was created with (PutMetricAlarm ignores tags of an existing alarm).
    pub tags: Vec<Tag>,
}

/// The `StateValue` of the alarm `name` in this partition (`OK`, `ALARM`,
/// `INSUFFICIENT_DATA`); None when there is no such alarm.
pub fn alarm_state<'a>(partition: &'a Partition, name: &str) -> Option<&'a str> {
    partition.alarms.get(name).map(|alarm| alarm.state_value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_saved_before_alarms_existed_still_loads_and_an_alarm_with_members_missing_too() {
        let mut saved = serde_json::to_value(Partition { account: "1".into(), region: "eu-west-1".into(), ..Default::default() }).unwrap();
        assert!(saved.as_object_mut().unwrap().remove("alarms").is_some());
        let loaded: Partition = serde_json::from_value(saved).unwrap();
        assert!(loaded.alarms.is_empty());
        let alarm: MetricAlarm = serde_json::from_value(serde_json::json!({"name": "cpu", "state_value": "ALARM"})).unwrap();
        assert_eq!((alarm.name.as_str(), alarm.state_value.as_str(), alarm.tags.len()), ("cpu", "ALARM", 0));
    }

    #[test]
    fn alarm_state_reads_the_state_value_by_name() {
        let mut partition = Partition::default();
        partition.alarms.insert("cpu".into(), MetricAlarm { name: "cpu".into(), state_value: "ALARM".into(), ..Default::default() });
        assert_eq!(alarm_state(&partition, "cpu"), Some("ALARM"));
        assert_eq!(alarm_state(&partition, "memory"), None);
    }
}
