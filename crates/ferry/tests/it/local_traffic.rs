//! ferry local's load balancers carry real HTTP: a load balancer, target groups and
//! listener rules made through the AWS SDK for Rust, two tiny HTTP servers of the test's own
//! as `ip` targets on 127.0.0.1, and requests sent to `http://<DNSName>:<Port>/` as a client
//! of an ALB would. Health checks run 20 times faster than AWS's (`health_check_scale`
//! 0.05), so a 5 s interval is 0.25 s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use ferry_aws::elbv2::Client;
use ferry_aws::elbv2::types::{
    Action, ActionTypeEnum, HostHeaderConditionConfig, PathPatternConditionConfig, ProtocolEnum, RuleCondition, TargetDescription,
    TargetHealthStateEnum, TargetTypeEnum,
};

use crate::elb_support::*;

// An account of its own: load balancer addresses derive from account and region, so this
// file's listeners never share an address with other tests' listeners.
const ACCOUNT: &str = "444455556666";
const REGION: &str = "us-west-2";

/// A target: answers its name on every path, `/health` with the status the test sets, and
/// `/slow` after 1.5 s; counts requests received, slow ones in progress apart.
#[derive(Clone)]
struct Backend {
    name: &'static str,
    port: u16,
    health: Arc<AtomicU16>,
    slow_in_progress: Arc<AtomicUsize>,
}

async fn backend(name: &'static str) -> Backend {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let b = Backend { name, port, health: Arc::new(AtomicU16::new(200)), slow_in_progress: Arc::default() };
    let app = Router::new()
        .route("/health", get(|State(b): State<Backend>| async move { StatusCode::from_u16(b.health.load(Ordering::SeqCst)).unwrap() }))
        .route(
            "/both/slow",
            get(|State(b): State<Backend>| async move {
                b.slow_in_progress.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                b.slow_in_progress.fetch_sub(1, Ordering::SeqCst);
                b.name
            }),
        )
        .fallback(|State(b): State<Backend>| async move { b.name })
        .with_state(b.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    b
}

async fn create_group(elb: &Client, name: &str, targets: &[&Backend]) -> String {
    let arn = health_checked_group(elb, name, 80, "vpc-0123", TargetTypeEnum::Ip).await;
    if targets.is_empty() {
        return arn;
    }
    let mut register = elb.register_targets().target_group_arn(&arn);
    for t in targets {
        register = register.targets(TargetDescription::builder().id("127.0.0.1").port(i32::from(t.port)).build());
    }
    register.send().await.unwrap();
    arn
}

/// `id:port → (state, reason)` of a group's targets.
async fn health(elb: &Client, group: &str) -> Vec<(u16, String, Option<String>)> {
    let out = elb.describe_target_health().target_group_arn(group).send().await.unwrap();
    out.target_health_descriptions()
        .iter()
        .map(|d| {
            let port = d.target().and_then(|t| t.port()).unwrap_or(0) as u16;
            let h = d.target_health().unwrap();
            (port, h.state().map(|s| s.as_str().to_string()).unwrap_or_default(), h.reason().map(|r| r.as_str().to_string()))
        })
        .collect()
}

async fn state_of(elb: &Client, group: &str, port: u16) -> Option<String> {
    health(elb, group).await.into_iter().find(|(p, _, _)| *p == port).map(|(_, s, _)| s)
}

/// The body of GET `url` (with `Host: host` when given).
async fn get_text(http: &reqwest::Client, url: &str, host: Option<&str>) -> String {
    let mut request = http.get(url);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_routes_weighs_health_checks_and_drains_real_requests() {
    let local = start(ACCOUNT, REGION, FAST_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (a, b) = (backend("a").await, backend("b").await);

    let (lb_arn, dns) = create_lb(elb, "shop").await;
    // A port free on the load balancer's address now.
    let port = free_port(&dns);
    let base = format!("http://{dns}:{port}");

    let blue = create_group(elb, "blue", &[&a]).await;
    let green = create_group(elb, "green", &[&b]).await;
    let both = create_group(elb, "both", &[&a, &b]).await;
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .default_actions(weighted(&[(&blue, 90), (&green, 10)]))
        .send()
        .await
        .unwrap();
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    let rule = |priority: i32, condition: RuleCondition, group: &str| {
        elb.create_rule().listener_arn(&listener).priority(priority).conditions(condition).actions(weighted(&[(group, 1)])).send()
    };
    let path = |p: &str| {
        RuleCondition::builder().field("path-pattern").path_pattern_config(PathPatternConditionConfig::builder().values(p).build()).build()
    };
    rule(10, path("/green/*"), &green).await.unwrap();
    rule(
        20,
        RuleCondition::builder()
            .field("host-header")
            .host_header_config(HostHeaderConditionConfig::builder().values("green.example.com").build())
            .build(),
        &green,
    )
    .await
    .unwrap();
    rule(30, path("/both/*"), &both).await.unwrap();

    // Every target turns healthy once its health check passes.
    for group in [&blue, &green, &both] {
        eventually("every target healthy", 20, || async { health(elb, group).await.iter().all(|(_, s, _)| s == "healthy").then_some(()) })
            .await;
    }
    let http = reqwest::Client::new();

    // Both targets of a group answer.
    let mut answered = std::collections::BTreeSet::new();
    for _ in 0..20 {
        answered.insert(get_text(&http, &format!("{base}/both/"), None).await);
    }
    assert_eq!(answered.into_iter().collect::<Vec<_>>(), vec!["a", "b"]);

    // Path and host rules route; the default rule splits 90/10.
    assert_eq!(get_text(&http, &format!("{base}/green/x"), None).await, "b");
    assert_eq!(get_text(&http, &format!("{base}/"), Some("green.example.com")).await, "b");
    let n = 400;
    let mut to_green = 0;
    for _ in 0..n {
        if get_text(&http, &format!("{base}/"), None).await == "b" {
            to_green += 1;
        }
    }
    // Binomial(400, 0.1): mean 40, standard deviation 6; four of them either side.
    assert!((16..=64).contains(&to_green), "{to_green} of {n} requests went to the 10% group");

    // A target whose health check answers 500 turns unhealthy, with AWS's reason, and gets
    // no more requests while another target of its group is healthy.
    a.health.store(500, Ordering::SeqCst);
    let reason = eventually("target a unhealthy", 20, || async {
        health(elb, &both).await.into_iter().find(|(p, s, _)| *p == a.port && s == "unhealthy").map(|(_, _, r)| r)
    })
    .await;
    assert_eq!(reason.as_deref(), Some("Target.ResponseCodeMismatch"));
    let described = elb.describe_target_health().target_group_arn(&both).send().await.unwrap();
    let unhealthy = described.target_health_descriptions().iter().find(|d| d.target().and_then(|t| t.port()) == Some(i32::from(a.port)));
    assert_eq!(
        unhealthy.and_then(|d| d.target_health()).and_then(|h| h.description()),
        Some("Health checks failed with these codes: [500]")
    );
    for _ in 0..20 {
        assert_eq!(get_text(&http, &format!("{base}/both/"), None).await, "b");
    }

    // Deregistration drains: a slow request in flight to b completes; meanwhile b is
    // draining and new requests go to a (unhealthy, but the only target left: fail-open);
    // then b leaves the group once the deregistration delay, lowered to 5 s (longer than
    // the slow request) as a user would in dev, is over.
    set_deregistration_delay(elb, &both, 5).await;
    let slow = tokio::spawn({
        let (http, url) = (http.clone(), format!("{base}/both/slow"));
        async move {
            let response = http.get(&url).send().await.unwrap();
            let connection = response.headers().get("connection").map(|v| v.to_str().unwrap().to_string());
            (response.status(), connection, response.text().await.unwrap())
        }
    });
    eventually("the slow request reached b", 10, || async { (b.slow_in_progress.load(Ordering::SeqCst) == 1).then_some(()) }).await;
    elb.deregister_targets()
        .target_group_arn(&both)
        .targets(TargetDescription::builder().id("127.0.0.1").port(i32::from(b.port)).build())
        .send()
        .await
        .unwrap();
    assert_eq!(state_of(elb, &both, b.port).await.as_deref(), Some(TargetHealthStateEnum::Draining.as_str()));
    eventually("new requests avoid the draining target", 10, || async {
        (get_text(&http, &format!("{base}/both/"), None).await == "a").then_some(())
    })
    .await;
    for _ in 0..10 {
        assert_eq!(get_text(&http, &format!("{base}/both/"), None).await, "a");
    }
    // It completes, and its client connection is closed, as ALB does for a draining target.
    let (status, connection, body) = slow.await.unwrap();
    assert_eq!((status.as_u16(), connection.as_deref(), body.as_str()), (200, Some("close"), "b"));
    assert_eq!(state_of(elb, &both, b.port).await.as_deref(), Some("draining"), "b left before its delay was over");
    eventually("b gone from its group", 10, || async { state_of(elb, &both, b.port).await.is_none().then_some(()) }).await;

    // Every request is in the access log, with where it went.
    let log = local.dir.path().join("logs").join(ferry_local::ACCESS_LOG);
    let entries: Vec<serde_json::Value> = eventually("the access log written", 10, || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let entries: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        entries.iter().any(|e| e["path"] == "/both/slow").then_some(entries)
    })
    .await;
    let slow_entry = entries.iter().find(|e| e["path"] == "/both/slow").unwrap();
    assert_eq!(slow_entry["rule"], "30");
    assert_eq!(slow_entry["target_group"], "both");
    assert_eq!(slow_entry["target"], format!("127.0.0.1:{}", b.port));
    assert_eq!(slow_entry["status"], 200);
    assert!(entries.iter().any(|e| e["rule"] == "default" && e["target_group"] == "green"));
    local.server.shutdown().await;
}

#[tokio::test]
async fn a_group_without_targets_answers_503_and_a_refused_target_502_as_alb_does() {
    let local = start("444455557777", REGION, FAST_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb_arn, dns) = create_lb(elb, "empty").await;
    let port = free_port(&dns);
    // A port nobody listens on: connections are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let empty = create_group(elb, "nobody", &[]).await;
    let refused = elb
        .create_target_group()
        .name("refused")
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id("vpc-0123")
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap();
    let refused = refused.target_groups()[0].target_group_arn().unwrap().to_string();
    elb.register_targets()
        .target_group_arn(&refused)
        .targets(TargetDescription::builder().id("127.0.0.1").port(i32::from(closed)).build())
        .send()
        .await
        .unwrap();
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .default_actions(weighted(&[(&empty, 1)]))
        .send()
        .await
        .unwrap();
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    let path = RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().values("/refused").build())
        .build();
    elb.create_rule().listener_arn(&listener).priority(1).conditions(path).actions(weighted(&[(&refused, 1)])).send().await.unwrap();

    let http = reqwest::Client::new();
    let base = format!("http://{dns}:{port}");
    let response = eventually("the listener answers", 10, || async { http.get(format!("{base}/")).send().await.ok() }).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["server"], "awselb/2.0");
    assert!(response.text().await.unwrap().contains("503 Service Temporarily Unavailable"));
    // The only target refuses connections: fail-open sends it the request anyway; 502.
    let response = http.get(format!("{base}/refused")).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert!(response.text().await.unwrap().contains("502 Bad Gateway"));
    // And its health checks say why it is unhealthy.
    let reason = eventually("the refusing target unhealthy", 20, || async {
        health(elb, &refused).await.into_iter().find(|(_, s, _)| s == "unhealthy").map(|(_, _, r)| r)
    })
    .await;
    assert_eq!(reason.as_deref(), Some("Target.FailedHealthChecks"));
    local.server.shutdown().await;
}

#[tokio::test]
async fn fixed_responses_redirects_and_the_idle_timeout_are_albs() {
    use ferry_aws::elbv2::types::{FixedResponseActionConfig, LoadBalancerAttribute, RedirectActionConfig, RedirectActionStatusCodeEnum};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let local = start("444455558888", REGION, FAST_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb_arn, dns) = create_lb(elb, "edge").await;
    let port = free_port(&dns);
    // The shortest idle timeout AWS allows: 1 s.
    elb.modify_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .attributes(LoadBalancerAttribute::builder().key("idle_timeout.timeout_seconds").value("1").build())
        .send()
        .await
        .unwrap();
    let teapot = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder().status_code("418").content_type("text/plain").message_body("short and stout").build(),
        )
        .build();
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .default_actions(teapot)
        .send()
        .await
        .unwrap();
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    let moved = Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .host("new.#{host}")
                .path("/v2/#{path}")
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build();
    let path = RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().values("/old/*").build())
        .build();
    elb.create_rule().listener_arn(&listener).priority(5).conditions(path).actions(moved).send().await.unwrap();

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("http://{dns}:{port}");
    let response = eventually("the listener answers", 10, || async { http.get(format!("{base}/anything")).send().await.ok() }).await;
    assert_eq!(response.status(), 418);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.text().await.unwrap(), "short and stout");
    // The redirect rule, created before, routes.
    let response = http.get(format!("{base}/old/page?x=1")).header("host", "shop.example.com").send().await.unwrap();
    assert_eq!(response.status(), 301);
    assert_eq!(response.headers()["location"], format!("http://new.shop.example.com:{port}/v2/old/page?x=1"));

    // A kept-alive client connection left idle longer than the idle timeout is closed by
    // the load balancer.
    let mut conn = tokio::net::TcpStream::connect(format!("{dns}:{port}")).await.unwrap();
    conn.write_all(b"GET /anything HTTP/1.1\r\nHost: shop.example.com\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("short and stout") {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 418"));
    let closed =
        tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await.expect("still open 10 s after the 1 s idle timeout");
    assert_eq!(closed.unwrap(), 0, "the connection is closed, not answered");
    local.server.shutdown().await;
}

/// A target written by hand, to see its connections: answers every HTTP/1.1 request with its
/// name on a kept-alive connection, and counts the connections that served a request other
/// than a health check (the proxy's pooled ones) and are still open.
struct CountingBackend {
    port: u16,
    proxied_open: Arc<AtomicUsize>,
}

async fn counting_backend(name: &'static str) -> CountingBackend {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let proxied_open = Arc::new(AtomicUsize::new(0));
    let open = Arc::clone(&proxied_open);
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let open = Arc::clone(&open);
            tokio::spawn(async move {
                let (mut buf, mut proxied) = (Vec::new(), false);
                let mut chunk = [0u8; 4096];
                loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Requests without a body (GET): each ends with an empty line.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        buf.drain(..end + 4);
                        if !head.contains("elb-healthchecker") && !proxied {
                            proxied = true;
                            open.fetch_add(1, Ordering::SeqCst);
                        }
                        let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}", name.len());
                        if conn.write_all(answer.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                }
                if proxied {
                    open.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    });
    CountingBackend { port, proxied_open }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_with_nothing_in_flight_is_shown_draining_until_its_delay_is_over_then_gone_and_its_idle_connections_closed_at_once() {
    let local = start("444455551111", REGION, FAST_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb_arn, dns) = create_lb(elb, "drain").await;
    let port = free_port(&dns);
    let backend = counting_backend("idle").await;
    let group = elb
        .create_target_group()
        .name("idle")
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id("vpc-0123")
        .target_type(TargetTypeEnum::Ip)
        .health_check_interval_seconds(5)
        .health_check_timeout_seconds(2)
        .send()
        .await
        .unwrap();
    let group = group.target_groups()[0].target_group_arn().unwrap().to_string();
    // Shorter than the proxy's 4 s pool idle timeout: a pooled connection still open when
    // the target leaves was not closed by the drain.
    let delay = 3;
    set_deregistration_delay(elb, &group, delay).await;
    let target = TargetDescription::builder().id("127.0.0.1").port(i32::from(backend.port)).build();
    elb.register_targets().target_group_arn(&group).targets(target.clone()).send().await.unwrap();
    elb.create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .default_actions(weighted(&[(&group, 1)]))
        .send()
        .await
        .unwrap();
    eventually("the target healthy", 20, || async { (state_of(elb, &group, backend.port).await? == "healthy").then_some(()) }).await;

    // Requests through the listener leave a kept-alive pooled connection to the target.
    let http = reqwest::Client::new();
    let base = format!("http://{dns}:{port}");
    eventually("the listener answers", 10, || async { http.get(format!("{base}/")).send().await.ok() }).await;
    for _ in 0..5 {
        assert_eq!(get_text(&http, &format!("{base}/"), None).await, "idle");
    }
    assert!(backend.proxied_open.load(Ordering::SeqCst) >= 1, "no pooled connection to the target");

    // Deregistered with nothing in flight: its deregistration completes inside at once (the
    // pooled connection is closed), yet it is shown draining until the delay is over.
    let deregistered = Instant::now();
    elb.deregister_targets().target_group_arn(&group).targets(target.clone()).send().await.unwrap();
    eventually("the pooled connection closed", 10, || async { (backend.proxied_open.load(Ordering::SeqCst) == 0).then_some(()) }).await;
    let shown = health(elb, &group).await;
    assert_eq!(
        shown,
        vec![(backend.port, "draining".to_string(), Some("Target.DeregistrationInProgress".to_string()))],
        "shown otherwise once drained inside"
    );
    // It takes no request meanwhile: the group has no other target.
    assert_eq!(http.get(format!("{base}/")).send().await.unwrap().status(), 503);
    let gone = eventually("the target gone", 20, || async {
        let state = state_of(elb, &group, backend.port).await;
        match state.as_deref() {
            None => Some(Instant::now()),
            Some("draining") => None,
            Some(other) => panic!("a deregistered target shown {other}"),
        }
    })
    .await;
    assert!(
        gone - deregistered >= Duration::from_secs(u64::from(delay)),
        "gone after {:?}, before its {delay} s delay",
        gone - deregistered
    );
    // Asked for by name, it is not registered any more.
    let described = elb.describe_target_health().target_group_arn(&group).targets(target).send().await.unwrap();
    let h = described.target_health_descriptions()[0].target_health().unwrap();
    assert_eq!((h.state(), h.reason().map(|r| r.as_str())), (Some(&TargetHealthStateEnum::Unused), Some("Target.NotRegistered")));
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routing_change_routes_the_very_next_request() {
    use ferry_aws::elbv2::types::FixedResponseActionConfig;

    let local = start("444455552222", REGION, FAST_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb_arn, dns) = create_lb(elb, "rules").await;
    let port = free_port(&dns);
    let fixed = |body: String| {
        Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder().status_code("200").content_type("text/plain").message_body(body).build(),
            )
            .build()
    };
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .default_actions(fixed("default".into()))
        .send()
        .await
        .unwrap();
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    let http = reqwest::Client::new();
    let base = format!("http://{dns}:{port}");
    // A new listener's port is bound just after CreateListener answers (within milliseconds).
    eventually("the listener answers", 10, || async { http.get(format!("{base}/")).send().await.ok() }).await;
    let a = backend("a").await;
    let group = create_group(elb, "late", &[]).await;
    let target = TargetDescription::builder().id("127.0.0.1").port(i32::from(a.port)).build();
    let path = |p: String| {
        RuleCondition::builder().field("path-pattern").path_pattern_config(PathPatternConditionConfig::builder().values(p).build()).build()
    };
    elb.create_rule()
        .listener_arn(&listener)
        .priority(1000)
        .conditions(path("/late".into()))
        .actions(weighted(&[(&group, 1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(http.get(format!("{base}/late")).send().await.unwrap().status(), 503, "a group without targets");

    // Each change, then at once a request: no sleep, no retry.
    for i in 0..20 {
        let created = elb
            .create_rule()
            .listener_arn(&listener)
            .priority(i + 1)
            .conditions(path(format!("/p{i}")))
            .actions(fixed(format!("created {i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(get_text(&http, &format!("{base}/p{i}"), None).await, format!("created {i}"), "CreateRule {i}");
        let rule = created.rules()[0].rule_arn().unwrap().to_string();
        elb.modify_rule().rule_arn(&rule).actions(fixed(format!("modified {i}"))).send().await.unwrap();
        assert_eq!(get_text(&http, &format!("{base}/p{i}"), None).await, format!("modified {i}"), "ModifyRule {i}");
        elb.modify_listener().listener_arn(&listener).default_actions(fixed(format!("default {i}"))).send().await.unwrap();
        assert_eq!(get_text(&http, &format!("{base}/elsewhere"), None).await, format!("default {i}"), "ModifyListener {i}");
        elb.register_targets().target_group_arn(&group).targets(target.clone()).send().await.unwrap();
        assert_eq!(get_text(&http, &format!("{base}/late"), None).await, "a", "RegisterTargets {i}");
        elb.deregister_targets().target_group_arn(&group).targets(target.clone()).send().await.unwrap();
        assert_eq!(http.get(format!("{base}/late")).send().await.unwrap().status(), 503, "DeregisterTargets {i}");
        elb.delete_rule().rule_arn(&rule).send().await.unwrap();
        assert_eq!(get_text(&http, &format!("{base}/p{i}"), None).await, format!("default {i}"), "DeleteRule {i}");
    }
    local.server.shutdown().await;
}

/// Regression: a listener deleted and created again on the same port (Terraform replacing a
/// listener or its load balancer: delete, then create at once) was refused now and then
/// ("address in use") while the deleted listener's proxy had not yet let go of the port,
/// and a listener moved onto a port a deleted one had just left could wait 2 s for its bind
/// retry.
#[tokio::test]
async fn a_listener_deleted_and_created_again_at_once_on_the_same_port_is_accepted_and_serves() {
    let local = start("444455559999", REGION, FAST_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb_arn, dns) = create_lb(elb, "replaced").await;
    let port = free_port(&dns);
    let fixed = |body: &str| {
        Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                ferry_aws::elbv2::types::FixedResponseActionConfig::builder().status_code("200").message_body(body).build(),
            )
            .build()
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = format!("http://{dns}:{port}/");
    let mut listener = create_listener(elb, &lb_arn, port, fixed("round 0")).await;
    eventually("the first listener answers", 10, || async {
        let text = http.get(&url).send().await.ok()?.text().await.ok()?;
        (text == "round 0").then_some(())
    })
    .await;
    for round in 1..=20 {
        elb.delete_listener().listener_arn(&listener).send().await.unwrap();
        let body = format!("round {round}");
        let created = elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(ProtocolEnum::Http)
            .port(port)
            .default_actions(fixed(&body))
            .send()
            .await;
        let created = created.unwrap_or_else(|e| panic!("round {round}: the listener was refused: {}", message::<(), _>(Err(e))));
        listener = created.listeners()[0].listener_arn().unwrap().to_string();
        // Served well within the 2 s a failed bind waits before it is tried again.
        let started = Instant::now();
        eventually("the new listener answers", 10, || async {
            let text = http.get(&url).send().await.ok()?.text().await.ok()?;
            (text == body).then_some(())
        })
        .await;
        assert!(started.elapsed() < Duration::from_millis(1500), "round {round}: served after {:?}", started.elapsed());
    }

    // A second listener moved onto the port the first one leaves, at once.
    for round in 1..=10 {
        let other = free_port(&dns);
        let body = format!("moved {round}");
        let second = create_listener(elb, &lb_arn, other, fixed(&body)).await;
        elb.delete_listener().listener_arn(&listener).send().await.unwrap();
        let moved = elb.modify_listener().listener_arn(&second).port(port).send().await;
        moved.unwrap_or_else(|e| panic!("round {round}: the move was refused: {}", message::<(), _>(Err(e))));
        listener = second;
        let started = Instant::now();
        eventually("the moved listener answers", 10, || async {
            let text = http.get(&url).send().await.ok()?.text().await.ok()?;
            (text == body).then_some(())
        })
        .await;
        assert!(started.elapsed() < Duration::from_millis(1500), "round {round}: the moved listener served after {:?}", started.elapsed());
    }
    local.server.shutdown().await;
}
