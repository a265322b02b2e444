//! The shared ledger on DynamoDB (`ferry_aws::ledger`): the ledger suite, the same cases the
//! SQLite ledger runs, over ferry local's DynamoDB (in process) and over moto's (an
//! independent peer; `#[ignore]`d, run by tests/conformance/run.sh with
//! `FERRY_LEDGER_MOTO_URL` set), each case on a fresh table made by `ledger::init`; and what
//! only a remote table has: its schema item, a missing or foreign table, the lock's TTL
//! attribute, and a lock race between separate handles (separate clients, as separate
//! processes are).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Barrier, OnceLock};

use ferry_aws::Target;
use ferry_aws::dynamodb::types::{AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use ferry_aws::ledger::{self, DynamoLedger, InitOutcome};
use ferry_store::{Ledger, LedgerBackend, LockHolder, StoreError};

const T0: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z
const MINUTE: i64 = 60_000;

/// A table name no other test uses.
fn fresh_table(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("ferry-ledger-{tag}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Runs `future` to its end from a plain thread (the suite's cases are synchronous).
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(future)
}

/// A fresh ledger table on `target`, opened.
fn fresh_ledger(target: &Target) -> DynamoLedger {
    let table = fresh_table("suite");
    let report = block_on(ledger::init(target, &table)).expect("init");
    assert_eq!(report.outcome, InitOutcome::Created);
    block_on(ledger::open(target, &table)).expect("open")
}

fn raw_client(target: &Target) -> ferry_aws::dynamodb::Client {
    block_on(async { ferry_aws::dynamodb::Client::new(&ferry_aws::sdk_config(target).await) })
}

/// ferry local, in process, for the whole test binary: its own thread and runtime, alive
/// until the process ends. Its state lives in a temporary directory kept as long.
fn ferry_local() -> Target {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    let endpoint = ENDPOINT.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let dir = tempfile::tempdir().expect("tempdir");
                let options = ferry_local::Options { port: 0, state_dir: dir.path().to_path_buf(), ..Default::default() };
                let server = ferry_local::LocalServer::start(options).await.expect("ferry local");
                tx.send(server.endpoint()).expect("send");
                std::future::pending::<()>().await;
                drop((server, dir));
            });
        });
        rx.recv().expect("ferry local's endpoint")
    });
    Target::local(endpoint, "000000000077", "eu-west-1")
}

/// moto's server at `$FERRY_LEDGER_MOTO_URL` (started by tests/conformance/run.sh).
fn moto() -> Target {
    let url = std::env::var("FERRY_LEDGER_MOTO_URL")
        .expect("FERRY_LEDGER_MOTO_URL names moto's server (tests/conformance/run.sh sets it; `moto_server -H 127.0.0.1 -p PORT`)");
    Target {
        region: Some("us-east-1".into()),
        endpoint_url: Some(url),
        static_credentials: Some(("000000000000".into(), "conformance".into())),
        ..Target::default()
    }
}

/// The suite and the DynamoDB cases over one backend (`$target`, a function's full path);
/// `[ignore]` and `ignored:` mark them all ignored.
macro_rules! dynamodb_ledger_tests {
    ($target:path, [$($attr:meta)*], $($suite_mode:tt)*) => {
        mod suite {
            ferry_store::ledger_suite!($($suite_mode)* || {
                ((), ferry_store::Ledger::from_backend(Box::new(crate::ledger_dynamodb::fresh_ledger(&$target()))))
            });
        }

        #[test]
        $(#[$attr])*
        fn a_newer_schema_is_refused_and_nothing_is_written() {
            crate::ledger_dynamodb::a_newer_schema_is_refused_and_nothing_is_written(&$target());
        }

        #[test]
        $(#[$attr])*
        fn an_unknown_table_is_refused_naming_ferry_ledger_init() {
            crate::ledger_dynamodb::an_unknown_table_is_refused_naming_ferry_ledger_init(&$target());
        }

        #[test]
        $(#[$attr])*
        fn a_table_that_is_not_ferrys_is_refused_by_init_and_open() {
            crate::ledger_dynamodb::a_table_that_is_not_ferrys_is_refused_by_init_and_open(&$target());
        }

        #[test]
        $(#[$attr])*
        fn init_is_idempotent_and_adopts_an_empty_table_with_ferrys_keys() {
            crate::ledger_dynamodb::init_is_idempotent_and_adopts_an_empty_table_with_ferrys_keys(&$target());
        }

        #[test]
        $(#[$attr])*
        fn a_lock_item_carries_its_ttl_attribute() {
            crate::ledger_dynamodb::a_lock_item_carries_its_ttl_attribute(&$target());
        }

        #[test]
        $(#[$attr])*
        fn separate_handles_racing_for_one_lock_have_exactly_one_winner_every_round() {
            crate::ledger_dynamodb::separate_handles_racing_for_one_lock_have_exactly_one_winner_every_round(&$target());
        }

        #[test]
        $(#[$attr])*
        fn the_ledger_works_from_inside_a_tokio_runtime_and_is_dropped_there() {
            crate::ledger_dynamodb::the_ledger_works_from_inside_a_tokio_runtime_and_is_dropped_there(&$target());
        }

        #[test]
        $(#[$attr])*
        fn two_handles_interleaving_events_and_steps_of_one_deployment_lose_none() {
            crate::ledger_dynamodb::two_handles_interleaving_events_and_steps_of_one_deployment_lose_none(&$target());
        }

        /// Not a check: the numbers of the per-call cost (`cargo test ... -- --ignored
        /// --nocapture per_call`).
        #[test]
        #[ignore]
        fn per_call_latency() {
            crate::ledger_dynamodb::per_call_latency(&$target());
        }
    };
}

mod local {
    dynamodb_ledger_tests!(crate::ledger_dynamodb::ferry_local, [],);
}

mod moto {
    dynamodb_ledger_tests!(crate::ledger_dynamodb::moto, [ignore], ignored:);
}

fn holder(deployment_id: &str, who: &str, pid: u32) -> LockHolder {
    LockHolder { deployment_id: deployment_id.into(), who: who.into(), host: "runner".into(), pid }
}

fn schema_key() -> std::collections::HashMap<String, AttributeValue> {
    [("pk".to_string(), AttributeValue::S("ferry".into())), ("sk".to_string(), AttributeValue::S("schema".into()))].into()
}

fn a_newer_schema_is_refused_and_nothing_is_written(target: &Target) {
    let table = fresh_table("newer");
    block_on(ledger::init(target, &table)).expect("init");
    let client = raw_client(target);
    let mut schema = schema_key();
    schema.insert("version".into(), AttributeValue::N("99".into()));
    block_on(client.put_item().table_name(&table).set_item(Some(schema)).send()).expect("put");

    let err = block_on(ledger::open(target, &table)).expect_err("newer schema");
    assert!(matches!(&err, StoreError::RemoteSchema { found: 99, supported: ledger::SCHEMA_VERSION, .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("dynamodb://{table} (")) && message.contains("newer") && message.contains("Upgrade ferry"),
        "{message}"
    );
    let err = block_on(ledger::init(target, &table)).expect_err("init refuses it too");
    assert!(matches!(err, StoreError::RemoteSchema { found: 99, .. }), "{err:?}");

    // Nothing written: the schema item as it was, and no other item.
    let items = block_on(
        client
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S("ferry".into()))
            .send(),
    )
    .expect("query");
    assert_eq!(items.items().len(), 1, "{:?}", items.items());
    assert_eq!(items.items()[0].get("version"), Some(&AttributeValue::N("99".into())));
}

fn an_unknown_table_is_refused_naming_ferry_ledger_init(target: &Target) {
    let table = fresh_table("missing");
    let err = block_on(ledger::open(target, &table)).expect_err("no such table");
    assert!(matches!(&err, StoreError::TableGone { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("ledger dynamodb://{table} (")), "{message}");
    assert!(message.contains("`ferry ledger init`"), "{message}");
}

fn a_table_that_is_not_ferrys_is_refused_by_init_and_open(target: &Target) {
    let client = raw_client(target);
    // Another key schema.
    let table = fresh_table("foreign");
    block_on(
        client
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder().attribute_name("id").attribute_type(ScalarAttributeType::S).build().unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("id").key_type(KeyType::Hash).build().unwrap())
            .send(),
    )
    .expect("create");
    for err in [block_on(ledger::init(target, &table)).expect_err("init"), block_on(ledger::open(target, &table)).expect_err("open")] {
        let message = err.to_string();
        assert!(message.contains("not a ferry ledger") && message.contains("id (HASH, S)") && message.contains(&table), "{message}");
    }
    let scanned = block_on(client.scan().table_name(&table).send()).expect("scan");
    assert!(scanned.items().is_empty(), "nothing written: {:?}", scanned.items());

    // ferry's key names, but someone else's items and no schema item.
    let table = fresh_table("pksk");
    create_with_ferrys_keys(&client, &table);
    let mut item = std::collections::HashMap::new();
    item.insert("pk".to_string(), AttributeValue::S("user#1".into()));
    item.insert("sk".to_string(), AttributeValue::S("profile".into()));
    block_on(client.put_item().table_name(&table).set_item(Some(item)).send()).expect("put");
    let err = block_on(ledger::open(target, &table)).expect_err("open");
    assert!(err.to_string().contains("no ferry schema item"), "{err}");
    // moto and ferry local keep ItemCount current (AWS updates it every six hours or so).
    let err = block_on(ledger::init(target, &table)).expect_err("init");
    assert!(err.to_string().contains("someone else's table"), "{err}");
    let got = block_on(client.get_item().table_name(&table).set_key(Some(schema_key())).consistent_read(true).send()).expect("get");
    assert!(got.item().is_none(), "no schema item written");
}

fn create_with_ferrys_keys(client: &ferry_aws::dynamodb::Client, table: &str) {
    let attribute =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap();
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap();
    block_on(
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk"))
            .attribute_definitions(attribute("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .send(),
    )
    .expect("create");
}

fn init_is_idempotent_and_adopts_an_empty_table_with_ferrys_keys(target: &Target) {
    let table = fresh_table("again");
    let first = block_on(ledger::init(target, &table)).expect("init");
    assert_eq!(first.outcome, InitOutcome::Created);
    assert_eq!(first.location, format!("dynamodb://{table} ({})", target.region.as_deref().unwrap()));
    let second = block_on(ledger::init(target, &table)).expect("init again");
    assert_eq!(second.outcome, InitOutcome::AlreadyThere);

    // Made elsewhere (Terraform) with ferry's keys, empty: adopted, then opened.
    let client = raw_client(target);
    let table = fresh_table("terraform");
    create_with_ferrys_keys(&client, &table);
    let err = block_on(ledger::open(target, &table)).expect_err("no schema item yet");
    assert!(err.to_string().contains("`ferry ledger init`"), "{err}");
    assert_eq!(block_on(ledger::init(target, &table)).expect("adopt").outcome, InitOutcome::Adopted);
    let ledger = block_on(ledger::open(target, &table)).expect("open");
    ledger.acquire_lock("prod", "web", &holder("fd-1", "alice", 1), MINUTE, T0).expect("works");
}

fn a_lock_item_carries_its_ttl_attribute(target: &Target) {
    let table = fresh_table("ttl");
    block_on(ledger::init(target, &table)).expect("init");
    let ledger = block_on(ledger::open(target, &table)).expect("open");
    ledger.acquire_lock("prod", "web", &holder("fd-1", "alice", 1), 10 * MINUTE, T0).expect("lock");
    let client = raw_client(target);
    let key: std::collections::HashMap<_, _> =
        [("pk".to_string(), AttributeValue::S("lock#prod#web".into())), ("sk".to_string(), AttributeValue::S("lock".into()))].into();
    let got = block_on(client.get_item().table_name(&table).set_key(Some(key.clone())).consistent_read(true).send()).expect("get");
    let item = got.item().expect("the lock item");
    let expires: i64 =
        item.get(ledger::TTL_ATTRIBUTE).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).expect("expires_at, a number");
    let lease_end = (T0 + 10 * MINUTE) / 1000;
    assert!(expires >= lease_end + ledger::locks::LOCK_TTL_GRACE_SECS, "{expires} vs lease end {lease_end}");
    assert_eq!(item.get("lease_until"), Some(&AttributeValue::N((T0 + 10 * MINUTE).to_string())));

    // Renewing moves it on; nothing but locks carries it.
    ledger.renew_lock("prod", "web", "fd-1", 60 * MINUTE, T0 + MINUTE).expect("renew");
    let got = block_on(client.get_item().table_name(&table).set_key(Some(key.clone())).consistent_read(true).send()).expect("get");
    let renewed: i64 =
        got.item().and_then(|i| i.get(ledger::TTL_ATTRIBUTE)).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).expect("ttl");
    assert!(renewed >= (T0 + 61 * MINUTE) / 1000 + ledger::locks::LOCK_TTL_GRACE_SECS, "{renewed}");
    let all = block_on(client.scan().table_name(&table).send()).expect("scan");
    let with_ttl: Vec<_> = all.items().iter().filter(|i| i.contains_key(ledger::TTL_ATTRIBUTE)).collect();
    assert_eq!(with_ttl.len(), 1, "{with_ttl:?}");
}

/// Eight handles, each with its own client and runtime (as eight processes would have),
/// race for one lock, round after round: exactly one wins each round, and every loser is
/// refused naming it.
fn separate_handles_racing_for_one_lock_have_exactly_one_winner_every_round(target: &Target) {
    const RACERS: usize = 8;
    const ROUNDS: usize = 5;
    let table = fresh_table("race");
    block_on(ledger::init(target, &table)).expect("init");
    let handles: Vec<DynamoLedger> = (0..RACERS).map(|_| block_on(ledger::open(target, &table)).expect("open")).collect();
    let barrier = Barrier::new(RACERS);
    let results: Vec<Vec<Result<(bool, String), String>>> = std::thread::scope(|scope| {
        let racers: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(racer, ledger)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    (0..ROUNDS)
                        .map(|round| {
                            barrier.wait();
                            let who = format!("racer-{racer}");
                            let me = holder(&format!("fd-{racer}-{round}"), &who, 100 + u32::try_from(racer).unwrap());
                            match ledger.acquire_lock("prod", &format!("svc-{round}"), &me, 10 * MINUTE, T0) {
                                Ok(()) => Ok((true, who)),
                                Err(StoreError::LockHeld(info)) => Ok((false, info.holder.who.clone())),
                                Err(other) => Err(format!("{who}: {other}")),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().expect("racer")).collect()
    });
    for round in 0..ROUNDS {
        let seen: Vec<&(bool, String)> = results.iter().map(|r| r[round].as_ref().expect("acquire")).collect();
        let winners = seen.iter().filter(|(won, _)| *won).count();
        assert_eq!(winners, 1, "round {round}: {seen:?}");
        assert!(seen.iter().all(|(_, who)| *who == seen[0].1), "round {round}: racers disagree: {seen:?}");
        let stored = handles[0].lock("prod", &format!("svc-{round}")).expect("lock").expect("held");
        assert_eq!(stored.holder.who, seen[0].1);
    }
}

/// Each handle guesses the next event and step number from its own writes; another
/// handle writing in between makes the guess wrong, which must cost a retry, never an event
/// or a step.
fn two_handles_interleaving_events_and_steps_of_one_deployment_lose_none(target: &Target) {
    let table = fresh_table("seq");
    block_on(ledger::init(target, &table)).expect("init");
    let a = ferry_store::Ledger::from_backend(Box::new(block_on(ledger::open(target, &table)).expect("open a")));
    let b = ferry_store::Ledger::from_backend(Box::new(block_on(ledger::open(target, &table)).expect("open b")));
    let record =
        ferry_store::DeploymentRecord { id: "fd-1".into(), environment: "prod".into(), service: "web".into(), ..Default::default() };
    a.insert_deployment(&record).expect("insert");
    let event = |message: &str| ferry_store::EventRecord { at: T0, kind: "note".into(), message: message.into() };
    for (ledger, message) in [(&a, "a1"), (&a, "a2"), (&b, "b1"), (&a, "a3"), (&b, "b2"), (&a, "a4")] {
        ledger.record_event("fd-1", &event(message)).expect("event");
    }
    let messages: Vec<String> = b.events("fd-1").expect("events").into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["a1", "a2", "b1", "a3", "b2", "a4"]);
    let data = serde_json::json!({});
    let seqs: Vec<i64> =
        [&a, &b, &a, &a, &b].into_iter().map(|ledger| ledger.start_step("fd-1", "update_service", &data, T0).expect("step")).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "every step got its own number");
    assert_eq!(a.steps("fd-1").expect("steps").len(), 5);
}

/// The ledger is called from inside the caller's tokio runtime (ferry's commands are async)
/// and dropped there: neither panics (no `block_on` in a runtime, no runtime dropped in one).
fn the_ledger_works_from_inside_a_tokio_runtime_and_is_dropped_there(target: &Target) {
    let target = target.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let table = fresh_table("async");
        ledger::init(&target, &table).await.expect("init");
        let ledger = Ledger::from_backend(Box::new(ledger::open(&target, &table).await.expect("open")));
        ledger.acquire_lock("prod", "web", &holder("fd-1", "alice", 1), MINUTE, T0).expect("lock");
        tokio::task::spawn_blocking(move || {
            assert_eq!(ledger.lock("prod", "web").expect("read").map(|l| l.holder.deployment_id), Some("fd-1".to_string()));
            ledger
        })
        .await
        .expect("join");
    });
}

fn per_call_latency(target: &Target) {
    const CALLS: u32 = 200;
    let ledger = fresh_ledger(target);
    ledger.acquire_lock("prod", "web", &holder("fd-1", "alice", 1), MINUTE, T0).expect("lock");
    let timed = |name: &str, f: &dyn Fn()| {
        let start = std::time::Instant::now();
        for _ in 0..CALLS {
            f();
        }
        println!("{name}: {:.3} ms per call", start.elapsed().as_secs_f64() * 1000.0 / f64::from(CALLS));
    };
    timed("lock (GetItem through the ledger)", &|| {
        ledger.lock("prod", "web").expect("lock");
    });
    timed("renew_lock (GetItem + conditional UpdateItem)", &|| {
        ledger.renew_lock("prod", "web", "fd-1", MINUTE, T0).expect("renew");
    });
    timed("acquire + release (GetItem + conditional PutItem + conditional DeleteItem)", &|| {
        ledger.release_lock("prod", "api", "fd-2").expect("release");
        ledger.acquire_lock("prod", "api", &holder("fd-2", "bob", 2), MINUTE, T0).expect("acquire");
    });
    // The same GetItem straight from the SDK on a runtime of the test's: the bridge's cost is
    // the difference.
    let client = raw_client(target);
    let table = ledger.table().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let key: std::collections::HashMap<_, _> =
        [("pk".to_string(), AttributeValue::S("lock#prod#web".into())), ("sk".to_string(), AttributeValue::S("lock".into()))].into();
    timed("GetItem straight from the SDK", &|| {
        runtime.block_on(client.get_item().table_name(&table).set_key(Some(key.clone())).consistent_read(true).send()).expect("get");
    });
}
