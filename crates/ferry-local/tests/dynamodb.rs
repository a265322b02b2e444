//! ferry local's DynamoDB through the AWS SDK for Rust (`aws-sdk-dynamodb`), the client ferry's
//! shared ledger uses: tables, conditional writes and the error shapes the SDK parses
//! (`ConditionalCheckFailedException` with its `Item`, `TransactionCanceledException` with its
//! reasons), Query paging through the SDK's paginator, a race of conditional puts, and items
//! kept across a restart.

// clippy's allow-unwrap-in-tests covers #[test] functions, not an integration test's helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TransactWriteItem, Update,
};
use ferry_local::{LocalServer, Options};

async fn start(dir: &std::path::Path) -> (LocalServer, Client) {
    let server = LocalServer::start(Options { port: 0, state_dir: dir.to_path_buf(), ..Default::default() }).await.unwrap();
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("123456789012", "secret", None, None, "test"))
        .endpoint_url(server.endpoint())
        .build();
    (server, Client::from_conf(config))
}

async fn create_ledger(client: &Client) {
    client
        .create_table()
        .table_name("ledger")
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("sk").key_type(KeyType::Range).build().unwrap())
        .attribute_definitions(AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap())
        .attribute_definitions(AttributeDefinition::builder().attribute_name("sk").attribute_type(ScalarAttributeType::S).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

#[tokio::test]
async fn a_conditional_put_that_fails_answers_the_item_the_sdk_parses() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client) = start(dir.path()).await;
    create_ledger(&client).await;
    let described = client.describe_table().table_name("ledger").send().await.unwrap();
    let table = described.table().unwrap();
    assert_eq!(table.table_status().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(table.table_arn(), Some("arn:aws:dynamodb:eu-west-1:123456789012:table/ledger"));

    let lock = |owner: &str| {
        client
            .put_item()
            .table_name("ledger")
            .item("pk", s("lock#web"))
            .item("sk", s("lock"))
            .item("owner", s(owner))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    };
    lock("alice").send().await.unwrap();
    let err = lock("bob").send().await.unwrap_err().into_service_error();
    let PutItemError::ConditionalCheckFailedException(failed) = &err else { panic!("{err:?}") };
    assert_eq!(failed.message(), Some("The conditional request failed"));
    assert_eq!(failed.item().and_then(|i| i.get("owner")), Some(&s("alice")));

    let err = client.get_item().table_name("ledger").key("pk", s("x")).send().await.unwrap_err().into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(err.message(), Some("The provided key element does not match the schema"));
    let err = client.get_item().table_name("nope").key("pk", s("x")).send().await.unwrap_err().into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}

#[tokio::test]
async fn query_pages_through_the_sdk_paginator_and_updates_count() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client) = start(dir.path()).await;
    create_ledger(&client).await;
    for i in 0..12 {
        client.put_item().table_name("ledger").item("pk", s("deploys#web")).item("sk", s(&format!("v{i:03}"))).send().await.unwrap();
    }
    let pages: Vec<_> = client
        .query()
        .table_name("ledger")
        .key_condition_expression("pk = :pk AND begins_with(sk, :v)")
        .expression_attribute_values(":pk", s("deploys#web"))
        .expression_attribute_values(":v", s("v0"))
        .limit(5)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let keys: Vec<String> = pages.iter().flat_map(|p| p.items()).map(|i| i["sk"].as_s().unwrap().clone()).collect();
    assert_eq!(keys, (0..12).map(|i| format!("v{i:03}")).collect::<Vec<_>>());
    assert!(pages.len() >= 3, "pages of 5: {}", pages.len());

    let updated = client
        .update_item()
        .table_name("ledger")
        .key("pk", s("counter"))
        .key("sk", s("c"))
        .update_expression("ADD #n :one")
        .expression_attribute_names("#n", "n")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.attributes().and_then(|a| a.get("n")), Some(&AttributeValue::N("1".into())));
}

#[tokio::test]
async fn a_cancelled_transaction_gives_reasons_in_order_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client) = start(dir.path()).await;
    create_ledger(&client).await;
    client
        .put_item()
        .table_name("ledger")
        .item("pk", s("env#prod"))
        .item("sk", s("current"))
        .item("version", s("1.0"))
        .send()
        .await
        .unwrap();
    let put = Put::builder()
        .table_name("ledger")
        .item("pk", s("env#prod"))
        .item("sk", s("history#2"))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .unwrap();
    let update = Update::builder()
        .table_name("ledger")
        .key("pk", s("env#prod"))
        .key("sk", s("current"))
        .update_expression("SET version = :new")
        .condition_expression("version = :expected")
        .expression_attribute_values(":new", s("2.0"))
        .expression_attribute_values(":expected", s("0.9"))
        .build()
        .unwrap();
    let err = client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().update(update).build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = &err else { panic!("{err:?}") };
    let codes: Vec<Option<&str>> = cancelled.cancellation_reasons().iter().map(|r| r.code()).collect();
    assert_eq!(codes, [Some("None"), Some("ConditionalCheckFailed")]);
    assert!(cancelled.message().unwrap_or_default().contains("[None, ConditionalCheckFailed]"), "{cancelled:?}");
    let history = client.get_item().table_name("ledger").key("pk", s("env#prod")).key("sk", s("history#2")).send().await.unwrap();
    assert!(history.item().is_none(), "a cancelled transaction wrote its put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_eight_racing_conditional_puts_exactly_one_wins_every_round() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client) = start(dir.path()).await;
    create_ledger(&client).await;
    for round in 0..5 {
        let mut racers = Vec::new();
        for racer in 0..8 {
            let client = client.clone();
            racers.push(tokio::spawn(async move {
                client
                    .put_item()
                    .table_name("ledger")
                    .item("pk", s(&format!("lock#{round}")))
                    .item("sk", s("lock"))
                    .item("owner", s(&format!("racer-{racer}")))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await
                    .map_err(|e| e.into_service_error())
            }));
        }
        let mut winners = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => winners += 1,
                Err(e) => assert!(e.is_conditional_check_failed_exception(), "round {round}: {e:?}"),
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test]
async fn items_are_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (server, client) = start(dir.path()).await;
        create_ledger(&client).await;
        client
            .put_item()
            .table_name("ledger")
            .item("pk", s("kept"))
            .item("sk", s("1"))
            .item("n", AttributeValue::N("42".into()))
            .send()
            .await
            .unwrap();
        server.shutdown().await;
    }
    let (_server, client) = start(dir.path()).await;
    let got = client.get_item().table_name("ledger").key("pk", s("kept")).key("sk", s("1")).consistent_read(true).send().await.unwrap();
    assert_eq!(got.item().and_then(|i| i.get("n")), Some(&AttributeValue::N("42".into())));
}
