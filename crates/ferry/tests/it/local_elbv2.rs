//! ferry local's ELBv2 control plane for load balancers, target groups, targets and tags,
//! driven through the official AWS SDK for Rust (`aws-sdk-elasticloadbalancingv2`, over the
//! Query protocol) with only the endpoint URL changed: what a client sees, error codes
//! included, and that every refused request changed nothing.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ferry_aws::elbv2::Client;
use ferry_aws::elbv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher, ProtocolEnum, Tag, TargetDescription,
    TargetGroupAttribute, TargetHealthStateEnum, TargetTypeEnum,
};

use crate::elb_support::*;

// An account of its own: load balancer addresses derive from account and region, so
// listeners of this file never share an address with other tests' listeners.
const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";

/// What DescribeLoadBalancers answers (but the state, which turns active on its own), as a
/// comparable text.
async fn all_lbs(elb: &Client) -> String {
    let out = elb.describe_load_balancers().send().await.unwrap();
    let lbs: Vec<String> = out
        .load_balancers()
        .iter()
        .map(|lb| {
            format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                lb.load_balancer_arn(),
                lb.dns_name(),
                lb.scheme(),
                lb.availability_zones(),
                lb.security_groups(),
                lb.ip_address_type(),
                lb.created_time()
            )
        })
        .collect();
    lbs.join("\n")
}

async fn all_tgs(elb: &Client) -> String {
    format!("{:?}", elb.describe_target_groups().send().await.unwrap().target_groups())
}

async fn tg_attributes(elb: &Client, arn: &str) -> Vec<(String, String)> {
    let out = elb.describe_target_group_attributes().target_group_arn(arn).send().await.unwrap();
    out.attributes().iter().map(|a| (a.key().unwrap_or_default().to_string(), a.value().unwrap_or_default().to_string())).collect()
}

fn attribute(key: &str, value: &str) -> TargetGroupAttribute {
    TargetGroupAttribute::builder().key(key).value(value).build()
}

#[tokio::test]
async fn load_balancers_are_created_described_returned_again_and_deleted() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let out = elb
        .create_load_balancer()
        .name("web")
        .subnets("subnet-0a")
        .subnets("subnet-0b")
        .security_groups("sg-0123")
        .tags(Tag::builder().key("ferry:env").value("prod").build())
        .send()
        .await
        .unwrap();
    let lb = &out.load_balancers()[0];
    let arn = lb.load_balancer_arn().unwrap().to_string();
    assert!(arn.starts_with(&format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/")), "{arn}");
    let address: Ipv4Addr = lb.dns_name().unwrap().parse().unwrap();
    assert!(address.is_loopback(), "{address}");
    assert_eq!(lb.canonical_hosted_zone_id(), Some("Z32O12XQLNTSW2"));
    assert_eq!((lb.scheme(), lb.r#type()), (Some(&LoadBalancerSchemeEnum::InternetFacing), Some(&LoadBalancerTypeEnum::Application)));
    assert_eq!(lb.availability_zones().iter().map(|z| z.zone_name().unwrap()).collect::<Vec<_>>(), ["eu-west-1a", "eu-west-1b"]);
    assert_eq!(lb.security_groups(), ["sg-0123"]);
    assert!(lb.created_time().is_some());

    // provisioning, then active (after a second), as a client waiting for it sees.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = elb.describe_load_balancers().names("web").send().await.unwrap();
        let state = out.load_balancers()[0].state().and_then(|s| s.code()).map(|c| c.as_str().to_string());
        if state.as_deref() == Some("active") {
            break;
        }
        assert_eq!(state.as_deref(), Some("provisioning"));
        assert!(Instant::now() < deadline, "the load balancer never became active");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The same request again returns the same load balancer.
    let again =
        elb.create_load_balancer().name("web").subnets("subnet-0b").subnets("subnet-0a").security_groups("sg-0123").send().await.unwrap();
    assert_eq!(again.load_balancers()[0].load_balancer_arn(), Some(arn.as_str()));

    // A second one gets an address of its own.
    let other = elb.create_load_balancer().name("api").subnets("subnet-0a").subnets("subnet-0b").send().await.unwrap();
    assert_ne!(other.load_balancers()[0].dns_name(), Some(address.to_string().as_str()));
    let tags = elb.describe_tags().resource_arns(&arn).send().await.unwrap();
    assert_eq!(tags.tag_descriptions()[0].tags()[0].key(), Some("ferry:env"));

    let before = all_lbs(elb).await;
    let duplicate = elb
        .create_load_balancer()
        .name("web")
        .subnets("subnet-0a")
        .subnets("subnet-0b")
        .scheme(LoadBalancerSchemeEnum::Internal)
        .send()
        .await;
    assert_eq!(code(duplicate), "DuplicateLoadBalancerName");
    let refused = [
        elb.create_load_balancer().name("a".repeat(33)).subnets("subnet-0a").subnets("subnet-0b").send().await,
        elb.create_load_balancer().name("internal-web").subnets("subnet-0a").subnets("subnet-0b").send().await,
        elb.create_load_balancer().name("nlb").r#type(LoadBalancerTypeEnum::Network).subnets("subnet-0a").subnets("subnet-0b").send().await,
        elb.create_load_balancer().name("one").subnets("subnet-0a").send().await,
    ];
    for result in refused {
        assert_eq!(code(result), "ValidationError");
    }
    let bad_subnet = elb.create_load_balancer().name("x").subnets("subnet-0a").subnets("net-0b").send().await;
    assert_eq!(code(bad_subnet), "SubnetNotFound");
    let bad_group = elb.create_load_balancer().name("x").subnets("subnet-0a").subnets("subnet-0b").security_groups("default").send().await;
    assert_eq!(code(bad_group), "InvalidSecurityGroup");
    let duplicate_tags = elb
        .create_load_balancer()
        .name("x")
        .subnets("subnet-0a")
        .subnets("subnet-0b")
        .tags(Tag::builder().key("a").value("1").build())
        .tags(Tag::builder().key("a").value("2").build())
        .send()
        .await;
    assert_eq!(code(duplicate_tags), "DuplicateTagKeys");
    assert_eq!(all_lbs(elb).await, before, "refused requests changed nothing");

    let missing = arn.replace("/web/", "/gone/");
    assert_eq!(code(elb.describe_load_balancers().load_balancer_arns(&missing).send().await), "LoadBalancerNotFound");
    assert_eq!(code(elb.describe_load_balancers().names("gone").send().await), "LoadBalancerNotFound");
    assert_eq!(code(elb.describe_load_balancer_attributes().load_balancer_arn(&missing).send().await), "LoadBalancerNotFound");

    elb.delete_load_balancer().load_balancer_arn(&arn).send().await.unwrap();
    assert_eq!(code(elb.describe_load_balancers().load_balancer_arns(&arn).send().await), "LoadBalancerNotFound");
    assert_eq!(code(elb.describe_tags().resource_arns(&arn).send().await), "LoadBalancerNotFound");
    // Deleting what is gone succeeds, as AWS documents.
    elb.delete_load_balancer().load_balancer_arn(&arn).send().await.unwrap();
    assert_eq!(elb.describe_load_balancers().send().await.unwrap().load_balancers().len(), 1);
}

#[tokio::test]
async fn load_balancer_attributes_round_trip_and_deletion_protection_refuses_delete() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let arn = create_lb(elb, "web").await.0;
    let attributes = |elb: Client, arn: String| async move {
        let out = elb.describe_load_balancer_attributes().load_balancer_arn(arn).send().await.unwrap();
        out.attributes().iter().map(|a| (a.key().unwrap().to_string(), a.value().unwrap().to_string())).collect::<Vec<_>>()
    };
    let defaults = attributes(elb.clone(), arn.clone()).await;
    for expected in [("idle_timeout.timeout_seconds", "60"), ("deletion_protection.enabled", "false"), ("routing.http2.enabled", "true")] {
        assert!(defaults.contains(&(expected.0.to_string(), expected.1.to_string())), "{expected:?} in {defaults:?}");
    }
    use ferry_aws::elbv2::types::LoadBalancerAttribute;
    let set = |key: &str, value: &str| LoadBalancerAttribute::builder().key(key).value(value).build();
    let out = elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(set("idle_timeout.timeout_seconds", "120"))
        .attributes(set("deletion_protection.enabled", "true"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.attributes().len(), defaults.len(), "all attributes are answered");
    let changed = attributes(elb.clone(), arn.clone()).await;
    assert!(changed.contains(&("idle_timeout.timeout_seconds".into(), "120".into())));

    for bad in [set("idle_timeout.timeout_seconds", "0"), set("no.such.attribute", "1"), set("deletion_protection.enabled", "maybe")] {
        let result = elb.modify_load_balancer_attributes().load_balancer_arn(&arn).attributes(bad).send().await;
        assert_eq!(code(result), "ValidationError");
    }
    let cross_zone = elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(set("load_balancing.cross_zone.enabled", "false"))
        .send()
        .await;
    assert_eq!(code(cross_zone), "InvalidConfigurationRequest");
    assert_eq!(attributes(elb.clone(), arn.clone()).await, changed, "refused requests changed nothing");

    let before = all_lbs(elb).await;
    assert_eq!(code(elb.delete_load_balancer().load_balancer_arn(&arn).send().await), "OperationNotPermitted");
    assert_eq!(all_lbs(elb).await, before);
    elb.modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(set("deletion_protection.enabled", "false"))
        .send()
        .await
        .unwrap();
    elb.delete_load_balancer().load_balancer_arn(&arn).send().await.unwrap();

    // Security groups, subnets and IP address type can be replaced.
    let arn = create_lb(elb, "api").await.0;
    let out = elb.set_security_groups().load_balancer_arn(&arn).security_groups("sg-0aaa").send().await.unwrap();
    assert_eq!(out.security_group_ids(), ["sg-0aaa"]);
    let out = elb.set_subnets().load_balancer_arn(&arn).subnets("subnet-1").subnets("subnet-2").subnets("subnet-3").send().await.unwrap();
    assert_eq!(out.availability_zones().len(), 3);
    assert_eq!(code(elb.set_subnets().load_balancer_arn(&arn).subnets("subnet-1").send().await), "ValidationError");
    let described = elb.describe_load_balancers().load_balancer_arns(&arn).send().await.unwrap();
    assert_eq!(described.load_balancers()[0].availability_zones().len(), 3);
    assert_eq!(described.load_balancers()[0].security_groups(), ["sg-0aaa"]);
}

#[tokio::test]
async fn describe_pages_follow_next_markers_to_the_end() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    for name in ["a", "b", "c", "d", "e"] {
        create_lb(elb, name).await;
        create_tg(elb, name, TargetTypeEnum::Ip).await;
    }
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let out = elb.describe_load_balancers().page_size(2).set_marker(marker.clone()).send().await.unwrap();
        assert!(out.load_balancers().len() <= 2);
        names.extend(out.load_balancers().iter().map(|lb| lb.load_balancer_name().unwrap().to_string()));
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    let mut groups = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let out = elb.describe_target_groups().page_size(3).set_marker(marker.clone()).send().await.unwrap();
        groups.extend(out.target_groups().iter().map(|g| g.target_group_name().unwrap().to_string()));
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(groups, ["a", "b", "c", "d", "e"]);
    assert_eq!(code(elb.describe_load_balancers().page_size(401).send().await), "ValidationError");
    assert_eq!(code(elb.describe_target_groups().marker("not-a-marker").send().await), "ValidationError");
}

#[tokio::test]
async fn target_groups_have_aws_defaults_and_refuse_what_aws_and_ferry_local_refuse() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let arn = create_tg(elb, "web", TargetTypeEnum::Instance).await;
    let out = elb.describe_target_groups().names("web").send().await.unwrap();
    let tg = &out.target_groups()[0];
    assert_eq!(tg.target_group_arn(), Some(arn.as_str()));
    assert!(arn.starts_with(&format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web/")), "{arn}");
    assert_eq!(
        (
            tg.health_check_protocol(),
            tg.health_check_port(),
            tg.health_check_path(),
            tg.health_check_interval_seconds(),
            tg.health_check_timeout_seconds(),
            tg.healthy_threshold_count(),
            tg.unhealthy_threshold_count(),
            tg.matcher().and_then(|m| m.http_code()),
            tg.health_check_enabled()
        ),
        (Some(&ProtocolEnum::Http), Some("traffic-port"), Some("/"), Some(30), Some(5), Some(5), Some(2), Some("200"), Some(true))
    );
    assert_eq!(tg.target_type(), Some(&TargetTypeEnum::Instance));
    assert!(tg.load_balancer_arns().is_empty());

    // Identical again: the same group; different: a duplicate.
    assert_eq!(create_tg(elb, "web", TargetTypeEnum::Instance).await, arn);
    let before = all_tgs(elb).await;
    assert_eq!(
        code(elb.create_target_group().name("web").protocol(ProtocolEnum::Http).port(9090).vpc_id("vpc-0123").send().await),
        "DuplicateTargetGroupName"
    );
    let base = || elb.create_target_group().name("x").protocol(ProtocolEnum::Http).port(80).vpc_id("vpc-0123");
    let refused = [
        ("too long", elb.create_target_group().name("a".repeat(33)).protocol(ProtocolEnum::Http).port(80).vpc_id("vpc-1").send().await),
        ("hyphen", elb.create_target_group().name("web-").protocol(ProtocolEnum::Http).port(80).vpc_id("vpc-1").send().await),
        ("https", elb.create_target_group().name("x").protocol(ProtocolEnum::Https).port(443).vpc_id("vpc-1").send().await),
        ("lambda", base().target_type(TargetTypeEnum::Lambda).send().await),
        ("no port", elb.create_target_group().name("x").protocol(ProtocolEnum::Http).vpc_id("vpc-1").send().await),
        ("interval", base().health_check_interval_seconds(4).send().await),
        ("timeout", base().health_check_timeout_seconds(30).send().await),
        ("threshold", base().healthy_threshold_count(11).send().await),
        ("matcher", base().matcher(Matcher::builder().http_code("200-600").build()).send().await),
        ("path", base().health_check_path("health").send().await),
    ];
    for (what, result) in refused {
        assert_eq!(code(result), "ValidationError", "{what}");
    }
    let timeout = base().health_check_timeout_seconds(30).send().await;
    assert_eq!(message(timeout), "Health check interval must be greater than the timeout.");
    assert_eq!(all_tgs(elb).await, before, "refused requests changed nothing");

    // ModifyTargetGroup changes health checks, checked with what it keeps.
    let out = elb
        .modify_target_group()
        .target_group_arn(&arn)
        .health_check_path("/health")
        .health_check_interval_seconds(10)
        .send()
        .await
        .unwrap();
    assert_eq!(out.target_groups()[0].health_check_path(), Some("/health"));
    let before = all_tgs(elb).await;
    assert_eq!(code(elb.modify_target_group().target_group_arn(&arn).health_check_interval_seconds(5).send().await), "ValidationError");
    assert_eq!(all_tgs(elb).await, before);

    // Attributes: AWS's defaults, a round trip, ranges.
    let defaults = tg_attributes(elb, &arn).await;
    for (k, v) in [
        ("deregistration_delay.timeout_seconds", "300"),
        ("slow_start.duration_seconds", "0"),
        ("stickiness.enabled", "false"),
        ("stickiness.type", "lb_cookie"),
        ("load_balancing.algorithm.type", "round_robin"),
    ] {
        assert!(defaults.contains(&(k.to_string(), v.to_string())), "{k}={v} in {defaults:?}");
    }
    elb.modify_target_group_attributes()
        .target_group_arn(&arn)
        .attributes(attribute("deregistration_delay.timeout_seconds", "5"))
        .attributes(attribute("slow_start.duration_seconds", "30"))
        .send()
        .await
        .unwrap();
    let changed = tg_attributes(elb, &arn).await;
    assert!(changed.contains(&("deregistration_delay.timeout_seconds".into(), "5".into())));
    assert!(changed.contains(&("slow_start.duration_seconds".into(), "30".into())));
    for bad in [
        attribute("deregistration_delay.timeout_seconds", "3601"),
        attribute("slow_start.duration_seconds", "10"),
        attribute("stickiness.type", "source_ip"),
        attribute("no.such.attribute", "1"),
    ] {
        let result = elb.modify_target_group_attributes().target_group_arn(&arn).attributes(bad).send().await;
        assert_eq!(code(result), "ValidationError");
    }
    assert_eq!(tg_attributes(elb, &arn).await, changed, "refused requests changed nothing");

    let missing = arn.replace("/web/", "/gone/");
    assert_eq!(code(elb.describe_target_groups().target_group_arns(&missing).send().await), "TargetGroupNotFound");
    assert_eq!(code(elb.describe_target_groups().names("gone").send().await), "TargetGroupNotFound");
    assert_eq!(code(elb.describe_target_group_attributes().target_group_arn(&missing).send().await), "TargetGroupNotFound");
    assert_eq!(code(elb.modify_target_group().target_group_arn(&missing).health_check_path("/").send().await), "TargetGroupNotFound");

    elb.delete_target_group().target_group_arn(&arn).send().await.unwrap();
    assert_eq!(code(elb.describe_target_groups().target_group_arns(&arn).send().await), "TargetGroupNotFound");
}

#[tokio::test]
async fn a_target_group_a_listener_forwards_to_is_in_use_and_lists_its_load_balancer() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let lb = create_lb(elb, "web").await.0;
    let tg = create_tg(elb, "web", TargetTypeEnum::Ip).await;
    assert!(elb.describe_target_groups().load_balancer_arn(&lb).send().await.unwrap().target_groups().is_empty());
    let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&tg).build();
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(18431)
        .default_actions(forward)
        .send()
        .await
        .unwrap();
    let listener_arn = listener.listeners()[0].listener_arn().unwrap().to_string();
    let out = elb.describe_target_groups().load_balancer_arn(&lb).send().await.unwrap();
    assert_eq!(out.target_groups().len(), 1);
    assert_eq!(out.target_groups()[0].load_balancer_arns(), [lb.as_str()]);

    let before = all_tgs(elb).await;
    let in_use = elb.delete_target_group().target_group_arn(&tg).send().await;
    assert_eq!(
        message(elb.delete_target_group().target_group_arn(&tg).send().await),
        format!("Target group '{tg}' is currently in use by a listener or a rule")
    );
    assert_eq!(code(in_use), "ResourceInUse");
    assert_eq!(all_tgs(elb).await, before, "a refused delete changed nothing");

    // A new target of a group in use is initial.
    elb.register_targets()
        .target_group_arn(&tg)
        .targets(TargetDescription::builder().id("127.0.0.1").port(1).build())
        .send()
        .await
        .unwrap();
    let health = elb.describe_target_health().target_group_arn(&tg).send().await.unwrap();
    let described = &health.target_health_descriptions()[0];
    assert_eq!(described.target_health().and_then(|h| h.state()), Some(&TargetHealthStateEnum::Initial));

    // Tags reach listeners too; an unknown listener or rule is not found by its kind.
    elb.add_tags().resource_arns(&listener_arn).tags(Tag::builder().key("team").value("web").build()).send().await.unwrap();
    let tags = elb.describe_tags().resource_arns(&listener_arn).send().await.unwrap();
    assert_eq!(tags.tag_descriptions()[0].tags()[0].value(), Some("web"));
    let missing_listener = format!("{}/0000000000000000", listener_arn.rsplit_once('/').unwrap().0);
    assert_eq!(code(elb.describe_tags().resource_arns(&missing_listener).send().await), "ListenerNotFound");
    let missing_rule = format!("{}/0000000000000000", missing_listener.replace(":listener/", ":listener-rule/"));
    assert_eq!(code(elb.describe_tags().resource_arns(&missing_rule).send().await), "RuleNotFound");

    // Deleting the load balancer deletes its listener: the group is free again.
    elb.delete_load_balancer().load_balancer_arn(&lb).send().await.unwrap();
    assert_eq!(code(elb.describe_tags().resource_arns(&listener_arn).send().await), "ListenerNotFound");
    elb.delete_target_group().target_group_arn(&tg).send().await.unwrap();
}

#[tokio::test]
async fn targets_register_describe_their_health_and_deregister() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let tg = create_tg(elb, "web", TargetTypeEnum::Ip).await;
    let target = |id: &str, port: Option<i32>| TargetDescription::builder().id(id).set_port(port).build();
    elb.register_targets()
        .target_group_arn(&tg)
        .targets(target("127.0.0.1", Some(9001)))
        .targets(target("10.0.0.7", None))
        .send()
        .await
        .unwrap();

    // No listener uses the group: its targets are unused.
    let health = elb.describe_target_health().target_group_arn(&tg).send().await.unwrap();
    let described = health.target_health_descriptions();
    assert_eq!(described.len(), 2);
    let first = &described[0];
    assert_eq!(first.target().map(|t| (t.id(), t.port())), Some((Some("127.0.0.1"), Some(9001))));
    assert_eq!(described[1].target().and_then(|t| t.port()), Some(8080), "the group's port by default");
    assert_eq!(first.health_check_port(), Some("9001"));
    let state = first.target_health().unwrap();
    assert_eq!(
        (state.state(), state.reason().map(|r| r.as_str()), state.description()),
        (
            Some(&TargetHealthStateEnum::Unused),
            Some("Target.NotInUse"),
            Some("Target group is not configured to receive traffic from the load balancer")
        )
    );

    // A listed target that is not registered.
    let health = elb.describe_target_health().target_group_arn(&tg).targets(target("10.0.0.8", Some(80))).send().await.unwrap();
    let state = health.target_health_descriptions()[0].target_health().unwrap();
    assert_eq!((state.state(), state.reason().map(|r| r.as_str())), (Some(&TargetHealthStateEnum::Unused), Some("Target.NotRegistered")));

    let before = format!("{:?}", elb.describe_target_health().target_group_arn(&tg).send().await.unwrap().target_health_descriptions());
    let refused = [
        (
            "instance id in an ip group",
            elb.register_targets().target_group_arn(&tg).targets(target("i-0123456789abcdef0", None)).send().await,
            "ValidationError",
        ),
        ("public address", elb.register_targets().target_group_arn(&tg).targets(target("8.8.8.8", None)).send().await, "InvalidTarget"),
        ("port", elb.register_targets().target_group_arn(&tg).targets(target("10.0.0.9", Some(70000))).send().await, "ValidationError"),
    ];
    for (what, result, expected) in refused {
        assert_eq!(code(result), expected, "{what}");
    }
    let too_many: Vec<TargetDescription> = (1..=1001).map(|port| target("127.0.0.1", Some(port))).collect();
    assert_eq!(code(elb.register_targets().target_group_arn(&tg).set_targets(Some(too_many)).send().await), "TooManyTargets");
    let missing = tg.replace("/web/", "/gone/");
    assert_eq!(
        code(elb.register_targets().target_group_arn(&missing).targets(target("10.0.0.9", None)).send().await),
        "TargetGroupNotFound"
    );
    assert_eq!(code(elb.describe_target_health().target_group_arn(&missing).send().await), "TargetGroupNotFound");
    let after = format!("{:?}", elb.describe_target_health().target_group_arn(&tg).send().await.unwrap().target_health_descriptions());
    assert_eq!(after, before, "refused requests registered nothing");

    // Deregistering from a group no listener uses removes at once; an unknown target is fine.
    elb.deregister_targets()
        .target_group_arn(&tg)
        .targets(target("127.0.0.1", Some(9001)))
        .targets(target("10.0.0.99", Some(1)))
        .send()
        .await
        .unwrap();
    let health = elb.describe_target_health().target_group_arn(&tg).send().await.unwrap();
    assert_eq!(health.target_health_descriptions().len(), 1);

    // An instance group takes instance ids, reached on this host.
    let instances = create_tg(elb, "instances", TargetTypeEnum::Instance).await;
    elb.register_targets().target_group_arn(&instances).targets(target("i-0f0e0d0c0b0a09080", Some(9001))).send().await.unwrap();
    assert_eq!(
        code(elb.register_targets().target_group_arn(&instances).targets(target("127.0.0.1", None)).send().await),
        "ValidationError"
    );
}

#[tokio::test]
async fn tags_are_added_described_and_removed_within_aws_limits() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let lb = create_lb(elb, "web").await.0;
    let tg = create_tg(elb, "web", TargetTypeEnum::Ip).await;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    elb.add_tags().resource_arns(&lb).resource_arns(&tg).tags(tag("team", "a")).tags(tag("env", "dev")).send().await.unwrap();
    elb.add_tags().resource_arns(&tg).tags(tag("team", "b")).send().await.unwrap();
    let out = elb.describe_tags().resource_arns(&lb).resource_arns(&tg).send().await.unwrap();
    let described: Vec<(String, Vec<(String, String)>)> = out
        .tag_descriptions()
        .iter()
        .map(|d| {
            let tags = d.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap_or_default().to_string())).collect();
            (d.resource_arn().unwrap().to_string(), tags)
        })
        .collect();
    assert_eq!(
        described,
        [
            (lb.clone(), vec![("team".into(), "a".into()), ("env".into(), "dev".into())]),
            (tg.clone(), vec![("team".into(), "b".into()), ("env".into(), "dev".into())])
        ]
    );
    elb.remove_tags().resource_arns(&tg).tag_keys("team").send().await.unwrap();
    let out = elb.describe_tags().resource_arns(&tg).send().await.unwrap();
    assert_eq!(out.tag_descriptions()[0].tags().len(), 1);

    let snapshot = |elb: Client| {
        let (lb, tg) = (lb.clone(), tg.clone());
        async move { format!("{:?}", elb.describe_tags().resource_arns(lb).resource_arns(tg).send().await.unwrap().tag_descriptions()) }
    };
    let before = snapshot(elb.clone()).await;
    let fifty: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i}"), "v")).collect();
    assert_eq!(code(elb.add_tags().resource_arns(&lb).set_tags(Some(fifty)).send().await), "TooManyTags");
    assert_eq!(code(elb.add_tags().resource_arns(&lb).tags(tag("a", "1")).tags(tag("a", "2")).send().await), "DuplicateTagKeys");
    assert_eq!(code(elb.add_tags().resource_arns(&lb).tags(tag("aws:reserved", "1")).send().await), "ValidationError");
    let missing_lb = lb.replace("/web/", "/gone/");
    let missing_tg = tg.replace("/web/", "/gone/");
    assert_eq!(code(elb.add_tags().resource_arns(&tg).resource_arns(&missing_lb).tags(tag("x", "1")).send().await), "LoadBalancerNotFound");
    assert_eq!(code(elb.add_tags().resource_arns(&missing_tg).tags(tag("x", "1")).send().await), "TargetGroupNotFound");
    assert_eq!(code(elb.remove_tags().resource_arns(&missing_tg).tag_keys("env").send().await), "TargetGroupNotFound");
    assert_eq!(code(elb.describe_tags().resource_arns("not-an-arn").send().await), "ValidationError");
    assert_eq!(snapshot(elb.clone()).await, before, "refused requests changed nothing");
}
