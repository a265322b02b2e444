//! CloudWatch metric alarms through the AWS SDK for Rust against ferry local. aws-sdk-cloudwatch
//! speaks Smithy RPC v2 CBOR (`POST /service/GraniteServiceVersion20100801/operation/…`), so
//! this is the test of ferry local's CBOR protocol with the client that sends it: an alarm
//! created INSUFFICIENT_DATA, set to ALARM and seen so, deleted; the SDK's own error types for
//! what ferry local refuses (it reads the code from `x-amzn-query-error`); paging; and an
//! alarm that survives a restart.

use ferry_aws::cloudwatch::error::ProvideErrorMetadata;
use ferry_aws::cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic, Tag};
use ferry_aws::{Clients, Target};
use ferry_local::{LocalServer, Options};

const ACCOUNT: &str = "000000000021";
const REGION: &str = "eu-west-1";

async fn start(dir: &std::path::Path) -> (LocalServer, Clients) {
    let server = LocalServer::start(Options { port: 0, state_dir: dir.to_path_buf(), ..Default::default() }).await.unwrap();
    let clients = Clients::new(&Target::local(&server.endpoint(), ACCOUNT, REGION)).await;
    (server, clients)
}

/// An alarm on the 5xx count of a target group, as a deploy's alarm gate would watch.
fn put_5xx_alarm(
    clients: &Clients,
    name: &str,
) -> ferry_aws::cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .metric_name("HTTPCode_Target_5XX_Count")
        .namespace("AWS/ApplicationELB")
        .statistic(Statistic::Sum)
        .dimensions(Dimension::builder().name("TargetGroup").value("targetgroup/web/0123456789abcdef").build())
        .period(60)
        .evaluation_periods(2)
        .datapoints_to_alarm(1)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .alarm_actions(format!("arn:aws:sns:{REGION}:{ACCOUNT}:ops"))
        .tags(Tag::builder().key("team").value("web").build())
}

#[tokio::test]
async fn an_alarm_is_created_insufficient_data_set_to_alarm_seen_so_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clients) = start(dir.path()).await;
    let cw = &clients.cloudwatch;
    put_5xx_alarm(&clients, "web-5xx").send().await.unwrap();

    let described = cw.describe_alarms().alarm_names("web-5xx").send().await.unwrap();
    assert!(described.composite_alarms().is_empty());
    let [alarm] = described.metric_alarms() else { panic!("one alarm expected: {described:?}") };
    assert_eq!(alarm.alarm_name(), Some("web-5xx"));
    assert_eq!(alarm.alarm_arn(), Some(format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:web-5xx").as_str()));
    assert_eq!(alarm.state_value(), Some(&StateValue::InsufficientData));
    assert_eq!(alarm.state_reason(), Some("Unchecked: Initial alarm creation"));
    assert_eq!(alarm.threshold(), Some(5.0));
    assert_eq!((alarm.period(), alarm.evaluation_periods(), alarm.datapoints_to_alarm()), (Some(60), Some(2), Some(1)));
    assert_eq!(alarm.statistic(), Some(&Statistic::Sum));
    assert_eq!(alarm.comparison_operator(), Some(&ComparisonOperator::GreaterThanThreshold));
    assert_eq!(alarm.dimensions()[0].value(), Some("targetgroup/web/0123456789abcdef"));
    assert_eq!(alarm.actions_enabled(), Some(true));
    assert!(alarm.ok_actions().is_empty() && alarm.alarm_actions().len() == 1);
    let created = alarm.state_updated_timestamp().copied().unwrap();
    assert!(alarm.alarm_configuration_updated_timestamp().is_some() && alarm.state_transitioned_timestamp().is_some());
    let age = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() - created.as_secs_f64();
    assert!((0.0..60.0).contains(&age), "StateUpdatedTimestamp is now, a tag-1 timestamp: {created:?}");

    let data = r#"{"version":"1.0","reason":"deploy gate test"}"#;
    cw.set_alarm_state()
        .alarm_name("web-5xx")
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed: set by the test")
        .state_reason_data(data)
        .send()
        .await
        .unwrap();
    let in_alarm = cw.describe_alarms().state_value(StateValue::Alarm).send().await.unwrap();
    let [alarm] = in_alarm.metric_alarms() else { panic!("one alarm in ALARM expected: {in_alarm:?}") };
    assert_eq!(alarm.state_value(), Some(&StateValue::Alarm));
    assert_eq!((alarm.state_reason(), alarm.state_reason_data()), (Some("Threshold Crossed: set by the test"), Some(data)));
    assert!(cw.describe_alarms().state_value(StateValue::Ok).send().await.unwrap().metric_alarms().is_empty());

    // Names that do not exist are skipped; the others are deleted.
    cw.delete_alarms().alarm_names("web-5xx").alarm_names("never-created").send().await.unwrap();
    assert!(cw.describe_alarms().send().await.unwrap().metric_alarms().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn what_ferry_local_refuses_comes_back_as_the_sdks_errors_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clients) = start(dir.path()).await;
    let cw = &clients.cloudwatch;
    put_5xx_alarm(&clients, "kept").send().await.unwrap();
    let before = cw.describe_alarms().send().await.unwrap().metric_alarms().to_vec();

    // A period CloudWatch does not take: the model's ValidationError.
    let e = put_5xx_alarm(&clients, "kept").period(45).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationError"), "{e:?}");
    assert!(e.message().unwrap_or_default().contains("Period must be 10, 20, 30 or a multiple of 60"), "{e:?}");
    // A value outside the model's range, and one outside its enum.
    let e = cw.describe_alarms().max_records(101).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationError"), "{e:?}");
    let e = cw.set_alarm_state().alarm_name("kept").state_value(StateValue::from("BROKEN")).state_reason("r").send().await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationError"), "{e:?}");
    // The operations' modeled errors arrive as the SDK's variants.
    let e = cw.set_alarm_state().alarm_name("never-created").state_value(StateValue::Alarm).state_reason("r").send().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|e| e.is_resource_not_found()), "{e:?}");
    let e = cw.set_alarm_state().alarm_name("kept").state_value(StateValue::Ok).state_reason("r").state_reason_data("{").send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|e| e.is_invalid_format_fault()));
    let e = cw.describe_alarms().next_token("garbage").send().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|e| e.is_invalid_next_token()), "{e:?}");

    assert_eq!(cw.describe_alarms().send().await.unwrap().metric_alarms(), before);
    server.shutdown().await;
}

#[tokio::test]
async fn alarms_page_by_max_records_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clients) = start(dir.path()).await;
    for name in ["web-5xx", "web-latency", "api-5xx", "api-latency", "db-cpu"] {
        put_5xx_alarm(&clients, name).send().await.unwrap();
    }
    clients.cloudwatch.set_alarm_state().alarm_name("db-cpu").state_value(StateValue::Alarm).state_reason("r").send().await.unwrap();
    let pages: Vec<_> = clients.cloudwatch.describe_alarms().max_records(2).into_paginator().send().collect::<Vec<_>>().await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.as_ref().unwrap().metric_alarms().len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let prefixed = clients.cloudwatch.describe_alarms().alarm_name_prefix("web-").send().await.unwrap();
    let names: Vec<_> = prefixed.metric_alarms().iter().filter_map(|a| a.alarm_name()).collect();
    assert_eq!(names, ["web-5xx", "web-latency"]);
    server.shutdown().await;

    // Every answered write was persisted: a new ferry local on the same state has them.
    let (server, clients) = start(dir.path()).await;
    let after = clients.cloudwatch.describe_alarms().send().await.unwrap();
    assert_eq!(after.metric_alarms().len(), 5);
    let db = after.metric_alarms().iter().find(|a| a.alarm_name() == Some("db-cpu")).unwrap();
    assert_eq!(db.state_value(), Some(&StateValue::Alarm));
    server.shutdown().await;
}
