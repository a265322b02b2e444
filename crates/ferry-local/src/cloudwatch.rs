//! CloudWatch metric alarms, per the botocore model `models/cloudwatch.json.gz` (botocore
//! 1.44.8) and the CloudWatch API reference: PutMetricAlarm, DescribeAlarms, SetAlarmState,
//! DeleteAlarms. Enough for ECS's deployment alarms (`deploymentConfiguration.alarms`) and a
//! deploy tool's alarm gates; the state lives in `state::cloudwatch`.
//!
//! CloudWatch answers over three protocols (`protocol`): Smithy RPC v2 CBOR (the AWS SDK for
//! Rust), AWS JSON 1.0 (boto3, the aws CLI v1) and Query (older clients, the aws CLI v2 of
//! Debian 12). The handlers see none of that.
//!
//! **No metrics, no evaluation.** ferry local collects no metric data and never evaluates an
//! alarm: a new alarm is `INSUFFICIENT_DATA` (`OK` for a PromQL alarm, as the API reference
//! says) with the reason `Unchecked: Initial alarm creation`, and stays in whatever state
//! SetAlarmState puts it in (on AWS a metric alarm returns to its evaluated state within
//! seconds). No action (SNS, Auto Scaling, EC2) is ever run. DescribeAlarmHistory, composite
//! and log alarms, and alarm tags' own operations (TagResource, …) are not implemented.
//!
//! Errors are the model's shapes: `ValidationException` (the Query code `ValidationError`) for
//! what the model's constraints and the API reference's rules refuse, `ResourceNotFound` (404)
//! for SetAlarmState of an unknown alarm, `InvalidFormatFault` (`InvalidFormat`) for a
//! `StateReasonData` that is not JSON, `InvalidNextToken`. DeleteAlarms of names that do not
//! exist deletes the others and succeeds ("If you specify any incorrect alarm names, the
//! alarms you specify with correct names are still deleted", DeleteAlarms in the model).

use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, Ctx, Input, key_value_tags};
use crate::state::cloudwatch::{MetricAlarm, alarm_state};

/// The members of PutMetricAlarm that an alarm keeps and DescribeAlarms answers with: those
/// of the model's `PutMetricAlarmInput` that its `MetricAlarm` shape has too, but the name (a
/// test checks this against the model).
const CONFIGURATION: [&str; 25] = [
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
    "EvaluationWindow",
    "WarmUpConfiguration",
    "EvaluationCriteria",
    "EvaluationInterval",
    "ActionConfiguration",
];

/// What PutMetricAlarm's documentation says may not come with `Metrics` ("If you use the
/// Metrics parameter, you cannot include the Namespace, MetricName, Dimensions, Period, Unit,
/// Statistic, or ExtendedStatistic parameters").
const NOT_WITH_METRICS: [&str; 7] = ["MetricName", "Namespace", "Dimensions", "Period", "Unit", "Statistic", "ExtendedStatistic"];

/// What may not come with `EvaluationCriteria` (PutMetricAlarm's documentation of it).
const NOT_WITH_CRITERIA: [&str; 13] = [
    "Namespace",
    "MetricName",
    "Dimensions",
    "Period",
    "Unit",
    "Statistic",
    "ExtendedStatistic",
    "Metrics",
    "Threshold",
    "ComparisonOperator",
    "ThresholdMetricId",
    "EvaluationPeriods",
    "DatapointsToAlarm",
];

/// The reason of a new alarm's state, as AWS words it.
pub const INITIAL_REASON: &str = "Unchecked: Initial alarm creation";
/// DescribeAlarms' page size when `MaxRecords` is not given (the API reference's default).
const DEFAULT_PAGE: usize = 50;

/// Runs one CloudWatch operation; None for an operation ferry local does not implement.
pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "PutMetricAlarm" => put_metric_alarm(ctx, input),
        "DescribeAlarms" => describe_alarms(ctx, input),
        "SetAlarmState" => set_alarm_state(ctx, input),
        "DeleteAlarms" => delete_alarms(ctx, input),
        _ => return None,
    })
}

/// The model's validation error (the Query code `ValidationError`).
fn validation(message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationException", message)
}

/// A member that a kind of alarm needs, missing: Coral's words for a null member.
fn required(member: &str) -> ApiError {
    validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        crate::model::lower_camel(member)
    ))
}

/// Checks what the model cannot say about a PutMetricAlarm: which members go together for
/// each kind of alarm (a metric, a metric math expression in `Metrics`, or a PromQL query in
/// `EvaluationCriteria`) and the values the API reference lists. AWS's words where known
/// ("MetricName must not be null", "Statistic should not be set if list of Metrics is set."),
/// ferry local's otherwise.
fn check_alarm(input: &Input) -> Result<(), ApiError> {
    let given = |member: &str| input.value(member).is_some();
    let name = input.str("AlarmName").unwrap_or_default();
    if name.chars().any(|c| c.is_ascii_control()) {
        return Err(validation("AlarmName must not contain ASCII control characters."));
    }
    if given("EvaluationCriteria") {
        if let Some(member) = NOT_WITH_CRITERIA.into_iter().find(|m| given(m)) {
            return Err(validation(format!("{member} should not be set if EvaluationCriteria is set.")));
        }
        if !given("EvaluationInterval") {
            return Err(validation("EvaluationInterval must not be null for an alarm with EvaluationCriteria."));
        }
        return Ok(());
    }
    if given("EvaluationInterval") {
        return Err(validation("EvaluationInterval should not be set unless EvaluationCriteria is set."));
    }
    if given("Metrics") {
        if let Some(member) = NOT_WITH_METRICS.into_iter().find(|m| given(m)) {
            return Err(validation(format!("{member} should not be set if list of Metrics is set.")));
        }
    } else {
        if !given("MetricName") {
            return Err(validation("MetricName must not be null"));
        }
        if given("Statistic") == given("ExtendedStatistic") {
            return Err(validation("Exactly one of Statistic and ExtendedStatistic must be set for an alarm on MetricName."));
        }
        let Some(period) = input.i64("Period") else { return Err(required("Period")) };
        if !(matches!(period, 10 | 20 | 30) || period % 60 == 0) {
            return Err(validation("Period must be 10, 20, 30 or a multiple of 60"));
        }
    }
    for member in ["EvaluationPeriods", "ComparisonOperator"] {
        if !given(member) {
            return Err(required(member));
        }
    }
    if !given("Threshold") && !given("ThresholdMetricId") {
        return Err(validation("Threshold must not be null for an alarm without ThresholdMetricId."));
    }
    if let (Some(m), Some(n)) = (input.i64("DatapointsToAlarm"), input.i64("EvaluationPeriods"))
        && m > n
    {
        return Err(validation(format!("DatapointsToAlarm ({m}) must not be more than EvaluationPeriods ({n}).")));
    }
    if let Some(treat) = input.str("TreatMissingData").filter(|t| !matches!(*t, "breaching" | "notBreaching" | "ignore" | "missing")) {
        return Err(validation(format!(
            "Option {treat} is not supported. Supported options for parameter TreatMissingData are breaching, notBreaching, ignore and missing."
        )));
    }
    if let Some(option) = input.str("EvaluateLowSampleCountPercentile").filter(|o| !matches!(*o, "evaluate" | "ignore")) {
        return Err(validation(format!(
            "Option {option} is not supported. Supported options for parameter EvaluateLowSampleCountPercentile are evaluate and ignore."
        )));
    }
    Ok(())
}

fn put_metric_alarm(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("AlarmName").unwrap_or_default().to_string();
    check_alarm(input)?;
    let tags = key_value_tags(input, validation, |m| ApiError::client("InvalidParameterValueException", m))?;
    let configuration: Map<String, Value> =
        CONFIGURATION.iter().filter_map(|member| input.value(member).map(|v| (member.to_string(), v.clone()))).collect();
    let now = ctx.now;
    match ctx.partition.alarms.get_mut(&name) {
        // An update overwrites the whole configuration and leaves the state (and the tags:
        // "any tags you specify in this parameter are ignored") as they are.
        Some(alarm) => {
            alarm.configuration = configuration;
            alarm.configuration_updated_at = now;
        }
        None => {
            // "When this operation creates an alarm, the alarm state is immediately set to
            // INSUFFICIENT_DATA. For PromQL alarms, the alarm state is instead immediately set
            // to OK."
            let state = if configuration.contains_key("EvaluationCriteria") { "OK" } else { "INSUFFICIENT_DATA" };
            let alarm = MetricAlarm {
                name: name.clone(),
                arn: ctx.caller.arn("cloudwatch", &format!("alarm:{name}")),
                state_value: state.to_string(),
                state_reason: INITIAL_REASON.to_string(),
                state_reason_data: None,
                state_updated_at: now,
                state_transitioned_at: now,
                configuration_updated_at: now,
                configuration,
                tags,
            };
            ctx.partition.alarms.insert(name, alarm);
        }
    }
    Ok(json!({}))
}

/// A `MetricAlarm` of DescribeAlarms: the action lists, `Dimensions` and `ActionsEnabled`
/// always (`[]` and `true` when not given, as AWS answers a minimal alarm), the configuration
/// as given, and in it each metric of `Metrics` with its `Dimensions` (`[]` when none).
fn render(alarm: &MetricAlarm) -> Value {
    let mut out = Map::new();
    out.insert("AlarmName".into(), json!(alarm.name));
    out.insert("AlarmArn".into(), json!(alarm.arn));
    out.insert("AlarmConfigurationUpdatedTimestamp".into(), json!(alarm.configuration_updated_at));
    out.insert("ActionsEnabled".into(), json!(true));
    for list in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
        out.insert(list.into(), json!([]));
    }
    out.insert("Dimensions".into(), json!([]));
    for (member, value) in &alarm.configuration {
        out.insert(member.clone(), value.clone());
    }
    if let Some(queries) = out.get_mut("Metrics").and_then(Value::as_array_mut) {
        for metric in queries.iter_mut().filter_map(|q| q.pointer_mut("/MetricStat/Metric").and_then(Value::as_object_mut)) {
            metric.entry("Dimensions").or_insert_with(|| json!([]));
        }
    }
    out.insert("StateValue".into(), json!(alarm.state_value));
    out.insert("StateReason".into(), json!(alarm.state_reason));
    if let Some(data) = &alarm.state_reason_data {
        out.insert("StateReasonData".into(), json!(data));
    }
    out.insert("StateUpdatedTimestamp".into(), json!(alarm.state_updated_at));
    out.insert("StateTransitionedTimestamp".into(), json!(alarm.state_transitioned_at));
    Value::Object(out)
}

/// Whether any of an alarm's actions starts with `prefix` (DescribeAlarms' `ActionPrefix`).
fn has_action_with_prefix(alarm: &MetricAlarm, prefix: &str) -> bool {
    ["OKActions", "AlarmActions", "InsufficientDataActions"]
        .iter()
        .filter_map(|list| alarm.configuration.get(*list).and_then(Value::as_array))
        .flatten()
        .any(|action| action.as_str().is_some_and(|a| a.starts_with(prefix)))
}

/// A DescribeAlarms page token: the name the next page starts at, so that a page follows the
/// previous one even when alarms were added or deleted in between.
fn encode_token(next: &str) -> String {
    format!("ferry-{}", hex::encode(next))
}

fn decode_token(token: &str) -> Option<String> {
    String::from_utf8(hex::decode(token.strip_prefix("ferry-")?).ok()?).ok()
}

fn describe_alarms(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let names = input.strings("AlarmNames");
    let prefix = input.str("AlarmNamePrefix");
    if !names.is_empty() && prefix.is_some() {
        return Err(validation("AlarmNamePrefix and AlarmNames cannot be specified together."));
    }
    // "If you specify ChildrenOfAlarmName [or ParentsOfAlarmName], you cannot specify any
    // other parameters in the request except for MaxRecords and NextToken. If you do so, you
    // receive a validation error."
    let relatives = ["ChildrenOfAlarmName", "ParentsOfAlarmName"];
    if let Some(relative) = relatives.into_iter().find(|r| input.value(r).is_some()) {
        let mut others =
            input.0.iter().filter(|(k, v)| !v.is_null() && !matches!(k.as_str(), "MaxRecords" | "NextToken") && *k != relative);
        if let Some((other, _)) = others.next() {
            return Err(validation(format!("{other} cannot be specified together with {relative}.")));
        }
        // No composite alarms here: no alarm has a parent, no alarm has children.
        return Ok(json!({"CompositeAlarms": [], "MetricAlarms": []}));
    }
    let types = input.strings("AlarmTypes");
    let metric_alarms = types.is_empty() || types.iter().any(|t| t == "MetricAlarm");
    let state = input.str("StateValue");
    let action_prefix = input.str("ActionPrefix");
    let start = match input.str("NextToken") {
        None => None,
        Some(token) => Some(decode_token(token).ok_or_else(|| ApiError::client("InvalidNextToken", "The NextToken is invalid."))?),
    };
    let max = input.i64("MaxRecords").and_then(|m| usize::try_from(m).ok()).unwrap_or(DEFAULT_PAGE);
    let mut matching = ctx.partition.alarms.values().filter(|alarm| {
        metric_alarms
            && (names.is_empty() || names.contains(&alarm.name))
            && prefix.is_none_or(|p| alarm.name.starts_with(p))
            && state.is_none_or(|s| alarm.state_value == s)
            && action_prefix.is_none_or(|p| has_action_with_prefix(alarm, p))
            && start.as_ref().is_none_or(|first| alarm.name >= *first)
    });
    let page: Vec<Value> = matching.by_ref().take(max).map(render).collect();
    let mut out = Map::new();
    out.insert("CompositeAlarms".into(), json!([]));
    out.insert("MetricAlarms".into(), Value::Array(page));
    if types.iter().any(|t| t == "LogAlarm") {
        out.insert("LogAlarms".into(), json!([]));
    }
    if let Some(next) = matching.next() {
        out.insert("NextToken".into(), json!(encode_token(&next.name)));
    }
    Ok(Value::Object(out))
}

fn set_alarm_state(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("AlarmName").unwrap_or_default();
    let value = input.str("StateValue").unwrap_or_default();
    let reason = input.str("StateReason").unwrap_or_default();
    let data = input.str("StateReasonData");
    if data.is_some_and(|d| serde_json::from_str::<Value>(d).is_err()) {
        return Err(ApiError::client("InvalidFormatFault", "Data was not syntactically valid JSON"));
    }
    let previous = alarm_state(ctx.partition, name).map(str::to_string);
    let (Some(previous), Some(alarm)) = (previous, ctx.partition.alarms.get_mut(name)) else {
        return Err(ApiError::new(404, "ResourceNotFound", format!("Alarm {name} does not exist.")));
    };
    alarm.state_value = value.to_string();
    alarm.state_reason = reason.to_string();
    alarm.state_reason_data = data.map(str::to_string);
    alarm.state_updated_at = ctx.now;
    if previous != value {
        alarm.state_transitioned_at = ctx.now;
    }
    Ok(json!({}))
}

fn delete_alarms(ctx: &mut Ctx, input: &Input) -> ApiResult {
    for name in input.strings("AlarmNames") {
        ctx.partition.alarms.remove(&name);
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Caller;
    use crate::model::Service;
    use crate::state::Partition;

    /// One call as the server makes it: validated against the model first, then handled.
    fn call(partition: &mut Partition, operation: &str, input: Value) -> ApiResult {
        Service::CloudWatch.model().unwrap().validate(operation, &input)?;
        let caller = Caller { account: "123456789012".into(), region: "eu-west-1".into() };
        let map = input.as_object().cloned().unwrap_or_default();
        let mut ctx = Ctx { partition, caller: &caller, now: 1_700_000_000.0 };
        dispatch(operation, &mut ctx, &Input(&map)).unwrap()
    }

    fn partition() -> Partition {
        Partition { account: "123456789012".into(), region: "eu-west-1".into(), ..Default::default() }
    }

    fn cpu_alarm(name: &str) -> Value {
        json!({"AlarmName": name, "MetricName": "CPUUtilization", "Namespace": "AWS/ECS", "Statistic": "Average",
               "Dimensions": [{"Name": "ServiceName", "Value": "web"}], "Period": 60, "EvaluationPeriods": 2,
               "Threshold": 80.0, "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": ["arn:aws:sns:eu-west-1:123456789012:ops"],
               "Tags": [{"Key": "team", "Value": "web"}]})
    }

    fn describe(p: &mut Partition, input: Value) -> Vec<Value> {
        call(p, "DescribeAlarms", input).unwrap()["MetricAlarms"].as_array().unwrap().clone()
    }

    #[test]
    fn a_new_alarm_is_insufficient_data_until_set_alarm_state_moves_it() {
        let mut p = partition();
        assert_eq!(call(&mut p, "PutMetricAlarm", cpu_alarm("web-cpu")).unwrap(), json!({}));
        let alarm = &describe(&mut p, json!({"AlarmNames": ["web-cpu"]}))[0];
        assert_eq!(alarm["AlarmArn"], "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-cpu");
        assert_eq!((alarm["StateValue"].as_str(), alarm["StateReason"].as_str()), (Some("INSUFFICIENT_DATA"), Some(INITIAL_REASON)));
        assert_eq!(alarm["Threshold"], json!(80.0));
        assert_eq!((alarm["ActionsEnabled"].clone(), alarm["OKActions"].clone()), (json!(true), json!([])));
        assert_eq!(alarm["Dimensions"], json!([{"Name": "ServiceName", "Value": "web"}]));
        assert!(alarm.get("Tags").is_none(), "tags are not a member of MetricAlarm");
        assert_eq!(alarm_state(&p, "web-cpu"), Some("INSUFFICIENT_DATA"));

        let data = r#"{"version":"1.0"}"#;
        call(
            &mut p,
            "SetAlarmState",
            json!({"AlarmName": "web-cpu", "StateValue": "ALARM", "StateReason": "test", "StateReasonData": data}),
        )
        .unwrap();
        assert_eq!(alarm_state(&p, "web-cpu"), Some("ALARM"));
        let alarm = &describe(&mut p, json!({"StateValue": "ALARM"}))[0];
        assert_eq!((alarm["StateReason"].as_str(), alarm["StateReasonData"].as_str()), (Some("test"), Some(data)));
        assert!(describe(&mut p, json!({"StateValue": "OK"})).is_empty());
    }

    #[test]
    fn put_of_an_existing_alarm_replaces_its_configuration_and_keeps_state_and_tags() {
        let mut p = partition();
        call(&mut p, "PutMetricAlarm", cpu_alarm("a")).unwrap();
        call(&mut p, "SetAlarmState", json!({"AlarmName": "a", "StateValue": "OK", "StateReason": "fine"})).unwrap();
        let mut update = cpu_alarm("a");
        update["Threshold"] = json!(90.5);
        update["Tags"] = json!([{"Key": "other", "Value": "x"}]);
        update.as_object_mut().unwrap().remove("AlarmActions");
        p.alarms.get_mut("a").unwrap().configuration_updated_at = 0.0;
        call(&mut p, "PutMetricAlarm", update).unwrap();
        let alarm = &p.alarms["a"];
        assert_eq!((alarm.state_value.as_str(), alarm.configuration["Threshold"].clone()), ("OK", json!(90.5)));
        assert!(!alarm.configuration.contains_key("AlarmActions"), "an update overwrites the whole configuration");
        assert_eq!(alarm.tags, vec![crate::state::Tag { key: "team".into(), value: "web".into() }]);
        assert_eq!(alarm.configuration_updated_at, 1_700_000_000.0);
    }

    #[test]
    fn describe_filters_by_names_prefix_state_type_and_action_and_pages_by_name() {
        let mut p = partition();
        for name in ["web-cpu", "web-mem", "api-cpu", "api-5xx", "db"] {
            call(&mut p, "PutMetricAlarm", cpu_alarm(name)).unwrap();
        }
        let names = |alarms: Vec<Value>| alarms.iter().map(|a| a["AlarmName"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(names(describe(&mut p, json!({}))), ["api-5xx", "api-cpu", "db", "web-cpu", "web-mem"]);
        assert_eq!(names(describe(&mut p, json!({"AlarmNamePrefix": "web-"}))), ["web-cpu", "web-mem"]);
        assert_eq!(names(describe(&mut p, json!({"AlarmNames": ["db", "nope"]}))), ["db"]);
        assert_eq!(names(describe(&mut p, json!({"ActionPrefix": "arn:aws:sns:eu-west-1:123456789012:o"}))).len(), 5);
        assert!(describe(&mut p, json!({"ActionPrefix": "arn:aws:autoscaling"})).is_empty());
        let composite = call(&mut p, "DescribeAlarms", json!({"AlarmTypes": ["CompositeAlarm"]})).unwrap();
        assert_eq!(composite, json!({"CompositeAlarms": [], "MetricAlarms": []}));
        let parents = call(&mut p, "DescribeAlarms", json!({"ParentsOfAlarmName": "db", "MaxRecords": 10})).unwrap();
        assert_eq!(parents, json!({"CompositeAlarms": [], "MetricAlarms": []}));

        let first = call(&mut p, "DescribeAlarms", json!({"MaxRecords": 2})).unwrap();
        assert_eq!(names(first["MetricAlarms"].as_array().unwrap().clone()), ["api-5xx", "api-cpu"]);
        // An alarm deleted between pages does not shift the next page.
        call(&mut p, "DeleteAlarms", json!({"AlarmNames": ["api-cpu"]})).unwrap();
        let second = call(&mut p, "DescribeAlarms", json!({"MaxRecords": 2, "NextToken": first["NextToken"]})).unwrap();
        assert_eq!(names(second["MetricAlarms"].as_array().unwrap().clone()), ["db", "web-cpu"]);
        let last = call(&mut p, "DescribeAlarms", json!({"MaxRecords": 2, "NextToken": second["NextToken"]})).unwrap();
        assert_eq!(names(last["MetricAlarms"].as_array().unwrap().clone()), ["web-mem"]);
        assert!(last.get("NextToken").is_none());
    }

    #[test]
    fn delete_removes_the_named_alarms_and_ignores_unknown_names() {
        let mut p = partition();
        call(&mut p, "PutMetricAlarm", cpu_alarm("a")).unwrap();
        call(&mut p, "PutMetricAlarm", cpu_alarm("b")).unwrap();
        call(&mut p, "DeleteAlarms", json!({"AlarmNames": ["a", "never-was"]})).unwrap();
        assert_eq!(p.alarms.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn a_metric_math_and_a_promql_alarm_are_stored_as_given() {
        let mut p = partition();
        let math = json!({"AlarmName": "errors", "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": [{"Id": "e1", "Expression": "m1 / 10", "ReturnData": true},
                        {"Id": "m1", "ReturnData": false, "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB",
                         "MetricName": "HTTPCode_Target_5XX_Count"}, "Period": 60, "Stat": "Sum"}}]});
        call(&mut p, "PutMetricAlarm", math.clone()).unwrap();
        let alarm = &describe(&mut p, json!({"AlarmNames": ["errors"]}))[0];
        assert_eq!(alarm["Metrics"][0], math["Metrics"][0]);
        assert_eq!(alarm["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"], json!([]), "lists are answered empty");
        assert_eq!(alarm["Dimensions"], json!([]));
        let promql = json!({"AlarmName": "prom", "EvaluationInterval": 60,
            "EvaluationCriteria": {"PromQLCriteria": {"Query": "up == 0"}}});
        call(&mut p, "PutMetricAlarm", promql).unwrap();
        assert_eq!(alarm_state(&p, "prom"), Some("OK"), "a PromQL alarm starts OK");
    }

    #[test]
    fn bad_requests_are_refused_with_the_models_errors_and_change_nothing() {
        let mut p = partition();
        call(&mut p, "PutMetricAlarm", cpu_alarm("kept")).unwrap();
        call(&mut p, "SetAlarmState", json!({"AlarmName": "kept", "StateValue": "ALARM", "StateReason": "r"})).unwrap();
        let before = p.alarms.clone();
        let without = |member: &str| {
            let mut alarm = cpu_alarm("new");
            alarm.as_object_mut().unwrap().remove(member);
            alarm
        };
        let with = |member: &str, value: Value| {
            let mut alarm = cpu_alarm("new");
            alarm[member] = value;
            alarm
        };
        let bad: Vec<(&str, &str, Value, &str, &str)> = vec![
            ("no name", "PutMetricAlarm", without("AlarmName"), "ValidationException", "Value null at 'alarmName'"),
            ("long name", "PutMetricAlarm", with("AlarmName", json!("x".repeat(256))), "ValidationException", "less than or equal to 255"),
            ("no metric", "PutMetricAlarm", without("MetricName"), "ValidationException", "MetricName must not be null"),
            ("bad operator", "PutMetricAlarm", with("ComparisonOperator", json!("Above")), "ValidationException", "enum value set"),
            ("period 0", "PutMetricAlarm", with("Period", json!(0)), "ValidationException", "greater than or equal to 1"),
            ("period 45", "PutMetricAlarm", with("Period", json!(45)), "ValidationException", "multiple of 60"),
            ("no statistic", "PutMetricAlarm", without("Statistic"), "ValidationException", "Statistic"),
            ("both statistics", "PutMetricAlarm", with("ExtendedStatistic", json!("p99")), "ValidationException", "Statistic"),
            (
                "metrics and name",
                "PutMetricAlarm",
                with("Metrics", json!([{"Id": "m1", "Expression": "1"}])),
                "ValidationException",
                "MetricName should not be set if list of Metrics is set.",
            ),
            ("no periods", "PutMetricAlarm", without("EvaluationPeriods"), "ValidationException", "'evaluationPeriods'"),
            (
                "six actions",
                "PutMetricAlarm",
                with("OKActions", json!(["a", "b", "c", "d", "e", "f"])),
                "ValidationException",
                "less than or equal to 5",
            ),
            ("missing data", "PutMetricAlarm", with("TreatMissingData", json!("zero")), "ValidationException", "TreatMissingData"),
            ("m of n", "PutMetricAlarm", with("DatapointsToAlarm", json!(3)), "ValidationException", "DatapointsToAlarm"),
            ("control character", "PutMetricAlarm", with("AlarmName", json!("a\u{7}b")), "ValidationException", "control"),
            ("threshold text", "PutMetricAlarm", with("Threshold", json!("high")), "SerializationException", "threshold"),
            (
                "unknown alarm",
                "SetAlarmState",
                json!({"AlarmName": "nope", "StateValue": "ALARM", "StateReason": "r"}),
                "ResourceNotFound",
                "nope",
            ),
            (
                "bad state",
                "SetAlarmState",
                json!({"AlarmName": "kept", "StateValue": "BROKEN", "StateReason": "r"}),
                "ValidationException",
                "at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set",
            ),
            ("no reason", "SetAlarmState", json!({"AlarmName": "kept", "StateValue": "OK"}), "ValidationException", "'stateReason'"),
            (
                "data not json",
                "SetAlarmState",
                json!({"AlarmName": "kept", "StateValue": "OK", "StateReason": "r", "StateReasonData": "{"}),
                "InvalidFormatFault",
                "JSON",
            ),
            ("max records 0", "DescribeAlarms", json!({"MaxRecords": 0}), "ValidationException", "'maxRecords'"),
            ("max records 101", "DescribeAlarms", json!({"MaxRecords": 101}), "ValidationException", "less than or equal to 100"),
            ("bad token", "DescribeAlarms", json!({"NextToken": "garbage"}), "InvalidNextToken", "NextToken"),
            ("names and prefix", "DescribeAlarms", json!({"AlarmNames": ["a"], "AlarmNamePrefix": "a"}), "ValidationException", "together"),
            (
                "children and state",
                "DescribeAlarms",
                json!({"ChildrenOfAlarmName": "a", "StateValue": "OK"}),
                "ValidationException",
                "together",
            ),
            (
                "101 names",
                "DeleteAlarms",
                json!({"AlarmNames": (0..101).map(|i| format!("a{i}")).collect::<Vec<_>>()}),
                "ValidationException",
                "'alarmNames'",
            ),
            ("no names", "DeleteAlarms", json!({}), "ValidationException", "'alarmNames'"),
        ];
        for (what, operation, input, code, words) in bad {
            let e = call(&mut p, operation, input).unwrap_err();
            assert_eq!(e.code, code, "{what}: {e:?}");
            assert!(e.message.contains(words), "{what}: {}", e.message);
            assert_eq!(p.alarms, before, "{what} changed the alarms");
        }
        assert_eq!(
            call(&mut p, "SetAlarmState", json!({"AlarmName": "nope", "StateValue": "OK", "StateReason": "r"})).unwrap_err().status,
            404
        );
    }

    #[test]
    fn the_configuration_is_what_put_metric_alarm_and_metric_alarm_share() {
        let model = Service::CloudWatch.model().unwrap();
        let members =
            |shape: &str| -> Vec<String> { model.shape(shape).unwrap()["members"].as_object().unwrap().keys().cloned().collect() };
        let alarm = members("MetricAlarm");
        let shared: Vec<String> = members("PutMetricAlarmInput").into_iter().filter(|m| alarm.contains(m) && m != "AlarmName").collect();
        assert_eq!(shared, CONFIGURATION.map(str::to_string).to_vec());
    }
}
