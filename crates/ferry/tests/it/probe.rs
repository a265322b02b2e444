//! The prober against ferry local: a rolling deploy of a service behind a real listener
//! sends GET requests through that listener while it runs, and reports how many it sent,
//! how many failed and how fast they were answered — in the JSON result, as `probe` lines,
//! in the summary and in the ledger. A version whose tasks answer 500 (healthy for the load
//! balancer, broken for users) shows failed requests; `--no-probe` sends none.
//!
//! Requests through the listener are counted where they arrive: ferry local's access log
//! (`<state dir>/logs/elb-access.log`, one JSON line per request the proxy served; nothing
//! else in these tests goes through the listener — health checks go to the targets).

use std::time::Duration;

use ferry_local::Options;
use serde_json::{Value, json};

use crate::common::*;
use crate::deploy_elb::{awsvpc_template, service_behind_a_balancer};

/// ferry local writes its access log every 250 ms: this long after a deploy, every request
/// it served is in the file.
const ACCESS_LOG_FLUSH: Duration = Duration::from_millis(800);

/// The requests the listeners served, as the access log has them.
async fn access_log(world: &World) -> Vec<Value> {
    tokio::time::sleep(ACCESS_LOG_FLUSH).await;
    let path = world.dir.path().join("local/logs/elb-access.log");
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Appends `text` to the world's ferry.toml.
fn add_config(world: &World, text: &str) {
    let mut config = std::fs::read_to_string(world.config()).unwrap();
    config.push_str(text);
    std::fs::write(world.config(), config).unwrap();
}

/// The `probe` lines of a JSON run.
fn probe_lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "probe")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_behind_a_listener_reports_what_its_probe_sent_in_the_result_and_the_ledger() {
    let world = World::with_options("", &["web"], Options { health_check_scale: 0.05, ..Options::default() }).await;
    service_behind_a_balancer(&world, 2, 4).await;
    add_config(&world, "\n[services.web.probe]\nrate = 10\n");
    let before = access_log(&world).await.len();

    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    let probe = &report["probe"];
    let sent = probe["sent"].as_u64().unwrap_or_else(|| panic!("no probe figures: {report}"));
    assert!(sent > 0, "{probe}");
    assert_eq!(probe["failed"], 0, "{probe}");
    assert_eq!((probe["rate"].as_f64(), probe["expect"].as_str()), (Some(10.0), Some("200-399")), "{probe}");
    let url = probe["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.") && url.ends_with('/'), "{url}");
    assert!(probe["via"].as_str().unwrap().starts_with("listener "), "{probe}");
    assert!(probe["p50_ms"].as_f64().unwrap() <= probe["p99_ms"].as_f64().unwrap(), "{probe}");
    assert!(probe.get("skipped").is_none(), "{probe}");
    // Bounded: never more than the rate times the time it probed, plus one.
    let probed = (probe["finished_at"].as_i64().unwrap() - probe["started_at"].as_i64().unwrap()) as f64 / 1000.0;
    assert!(sent as f64 <= 10.0 * probed + 1.0, "{sent} requests in {probed}s");
    // Every request counted went through the listener, to the service's target group.
    let served = access_log(&world).await;
    let probes: Vec<&Value> = served[before..].iter().filter(|e| e["target_group"] == "web-tg").collect();
    assert!(probes.len() as u64 >= sent, "{} served, {sent} counted", probes.len());
    assert!(probes.iter().all(|e| e["method"] == "GET" && e["path"] == "/" && e["status"] == 200), "{probes:?}");
    // Running figures as JSON lines while it ran.
    let lines = probe_lines(&output);
    assert!(lines.iter().any(|l| l["service"] == "web" && l["probe"]["sent"].as_u64().is_some()), "{}", text(&output));

    // The ledger keeps the figures as an event of the deployment.
    let ledger = ferry_store::Ledger::open(&world.ledger()).unwrap();
    let id = report["deployment_id"].as_str().unwrap();
    let events = ledger.events(id).unwrap();
    let recorded = events.iter().find(|e| e.kind == "probe").unwrap_or_else(|| panic!("no probe event: {events:?}"));
    assert!(recorded.message.starts_with(&format!("probe {url}: {sent} sent, 0 failed, p50 ")), "{}", recorded.message);

    // As a person reads it: the summary says it.
    let output = world.ferry(&["deploy", "test", "web=1.0.0"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().find(|l| l.starts_with("web: probe ")).unwrap_or_else(|| panic!("{}", text(&output)));
    assert!(summary.starts_with(&format!("web: probe {url}: ")) && summary.contains(" sent, 0 failed, p50 "), "{summary}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("web probing {url} at 10/s, expecting 200-399 (listener ")), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_tasks_answer_500_is_seen_failing_by_the_probe() {
    let world = World::with_options("bake = \"2s\"", &["web"], Options { health_check_scale: 0.05, ..Options::default() }).await;
    service_behind_a_balancer(&world, 2, 4).await;
    add_config(&world, "\n[services.web.probe]\nrate = 20\n");
    // A version the load balancer finds healthy (/health answers 200) whose / answers 500.
    let template = awsvpc_template().replace(
        r#"{"name": "VERSION", "value": "{{ version }}"},"#,
        r#"{"name": "VERSION", "value": "{{ version }}"}, {"name": "SAMPLE_FAIL_REQUESTS", "value": "{{ '1' if '-errors' in version else '' }}"},"#,
    );
    assert!(template.contains("SAMPLE_FAIL_REQUESTS"), "{template}");
    std::fs::write(world.dir.path().join("app.json"), template).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{:0>64}", hex("2.0.0-errors")), "size": 2},
        "layers": []
    });
    world
        .clients
        .ecr
        .put_image()
        .repository_name(REPOSITORY)
        .image_tag("2.0.0-errors")
        .image_manifest(manifest.to_string())
        .send()
        .await
        .unwrap();

    let output = world.ferry(&["deploy", "test", "web=2.0.0-errors", "--output", "json"]).await;
    // Probing reports; it does not fail a rolling deploy.
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let probe = &result_of(&output)["services"][0]["probe"];
    let (sent, failed) = (probe["sent"].as_u64().unwrap(), probe["failed"].as_u64().unwrap());
    assert!(failed > 0 && failed <= sent, "{probe}");
    let last = probe["last_failures"].as_array().unwrap();
    assert!(!last.is_empty() && last.len() <= 5, "{probe}");
    assert_eq!(last.last().unwrap()["reason"], "HTTP 500 (expected 200-399)", "{probe}");
    let served = access_log(&world).await;
    assert!(served.iter().filter(|e| e["status"] == 500).count() as u64 >= failed, "{served:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_probe_and_enabled_false_send_nothing_through_the_listener() {
    let world = World::with_options("", &["web"], Options { health_check_scale: 0.05, ..Options::default() }).await;
    service_behind_a_balancer(&world, 1, 4).await;

    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--no-probe", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(result_of(&output)["services"][0].get("probe").is_none(), "{}", text(&output));
    assert!(probe_lines(&output).is_empty(), "{}", text(&output));
    assert_eq!(access_log(&world).await.len(), 0, "--no-probe sent requests through the listener");

    add_config(&world, "\n[services.web.probe]\nenabled = false\n");
    let output = world.ferry(&["deploy", "test", "web=1.0.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(result_of(&output)["services"][0].get("probe").is_none(), "{}", text(&output));
    assert_eq!(access_log(&world).await.len(), 0, "enabled = false sent requests through the listener");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_rule_gives_the_probe_its_path_and_host_and_a_rule_it_cannot_meet_is_said_not_guessed() {
    use ferry_aws::elbv2::types::{
        Action, ActionTypeEnum, FixedResponseActionConfig, HostHeaderConditionConfig, HttpHeaderConditionConfig,
        PathPatternConditionConfig, RuleCondition,
    };
    let world = World::with_options("", &["web"], Options { health_check_scale: 0.05, ..Options::default() }).await;
    let target_group = service_behind_a_balancer(&world, 1, 4).await;
    // What Terraform may own: a listener that answers 404 unless a rule matches, and a rule
    // sending web.example.com's /health (set in config as an exact path and a condition
    // config, the way the ALB console writes it) to the service.
    let elb = &world.clients.elbv2;
    let lb = elb.describe_load_balancers().names("web").send().await.unwrap().load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let listener = elb.describe_listeners().load_balancer_arn(&lb).send().await.unwrap().listeners()[0].clone();
    let not_found = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(FixedResponseActionConfig::builder().status_code("404").build())
        .build();
    elb.modify_listener().listener_arn(listener.listener_arn().unwrap()).default_actions(not_found).send().await.unwrap();
    let rule = elb
        .create_rule()
        .listener_arn(listener.listener_arn().unwrap())
        .priority(10)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(PathPatternConditionConfig::builder().values("/health").build())
                .build(),
        )
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(HostHeaderConditionConfig::builder().values("web.example.com").build())
                .build(),
        )
        .actions(crate::elb_support::forward(&target_group))
        .send()
        .await
        .unwrap();
    let rule = rule.rules()[0].rule_arn().unwrap().to_string();
    let port = listener.port().unwrap();

    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let probe = &result_of(&output)["services"][0]["probe"];
    assert!(probe["url"].as_str().unwrap().ends_with(&format!(":{port}/health")), "{probe}");
    assert_eq!(probe["host_header"], "web.example.com", "{probe}");
    assert_eq!(probe["via"], format!("listener {port} of web, rule 10"), "{probe}");
    assert!(probe["sent"].as_u64().unwrap() > 0 && probe["failed"] == 0, "{probe}");
    let served = access_log(&world).await;
    assert!(!served.is_empty(), "nothing went through the listener");
    assert!(served.iter().all(|e| e["host"] == "web.example.com" && e["path"] == "/health" && e["rule"] == "10"), "{served:?}");

    // A rule on a header the prober does not send: it says so rather than guess, and the
    // deploy goes on.
    let header = RuleCondition::builder()
        .field("http-header")
        .http_header_config(HttpHeaderConditionConfig::builder().http_header_name("X-Canary").values("yes").build())
        .build();
    elb.modify_rule().rule_arn(&rule).conditions(header).send().await.unwrap();
    let output = world.ferry(&["deploy", "test", "web=1.0.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let probe = &result_of(&output)["services"][0]["probe"];
    assert_eq!(
        probe["skipped"],
        format!(
            "listener {port} (HTTP) of web, rule 10: it matches on http-header (X-Canary: yes), which the prober does not send: set probe.url"
        ),
        "{probe}"
    );
    assert_eq!((probe["sent"].as_u64(), probe.get("url").and_then(Value::as_str)), (Some(0), None), "{probe}");
}
