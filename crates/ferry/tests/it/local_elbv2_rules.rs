//! ferry local's ELBv2 listeners and listener rules, driven through the official AWS SDK for
//! Rust (`aws-sdk-elasticloadbalancingv2`, over the Query protocol) with only the endpoint
//! URL changed: what a client sees — answers in AWS's shapes, AWS's error codes — and that
//! every refused request changed nothing.

use ferry_aws::elbv2::Client;
use ferry_aws::elbv2::types::{
    Action, ActionTypeEnum, AuthenticateOidcActionConfig, FixedResponseActionConfig, ForwardActionConfig, HostHeaderConditionConfig,
    HttpHeaderConditionConfig, HttpRequestMethodConditionConfig, PathPatternConditionConfig, ProtocolEnum, QueryStringConditionConfig,
    QueryStringKeyValuePair, RedirectActionConfig, RedirectActionStatusCodeEnum, RuleCondition, RulePriorityPair, SourceIpConditionConfig,
    Tag, TargetGroupStickinessConfig, TargetGroupTuple, TargetTypeEnum,
};

use crate::elb_support::*;

// An account of its own: load balancer addresses derive from account and region, so the
// listeners of this file never share an address with other tests' listeners.
const ACCOUNT: &str = "444455556666";
const REGION: &str = "eu-west-1";

fn forward_in_order(tg: &str, order: i32) -> Action {
    Action::builder().r#type(ActionTypeEnum::Forward).order(order).target_group_arn(tg).build()
}

fn fixed(status: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(FixedResponseActionConfig::builder().status_code(status).build())
        .build()
}

fn path(pattern: &str) -> RuleCondition {
    RuleCondition::builder().field("path-pattern").values(pattern).build()
}

async fn create_rule(elb: &Client, listener: &str, priority: i32, condition: RuleCondition, action: Action) -> String {
    let out = elb.create_rule().listener_arn(listener).priority(priority).conditions(condition).actions(action).send().await.unwrap();
    out.rules()[0].rule_arn().unwrap().to_string()
}

/// What DescribeListeners answers for a load balancer, as comparable text.
async fn listeners_of(elb: &Client, lb: &str) -> String {
    format!("{:?}", elb.describe_listeners().load_balancer_arn(lb).send().await.unwrap().listeners())
}

/// What DescribeRules answers for a listener, as comparable text.
async fn rules_of(elb: &Client, listener: &str) -> String {
    format!("{:?}", elb.describe_rules().listener_arn(listener).send().await.unwrap().rules())
}

async fn priorities(elb: &Client, listener: &str) -> Vec<String> {
    let out = elb.describe_rules().listener_arn(listener).send().await.unwrap();
    out.rules().iter().map(|r| r.priority().unwrap().to_string()).collect()
}

#[tokio::test]
async fn listeners_are_created_described_modified_and_deleted_with_their_rules() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb, address) = create_lb(elb, "web").await;
    let blue = create_tg(elb, "blue", TargetTypeEnum::Ip).await;
    let green = create_tg(elb, "green", TargetTypeEnum::Ip).await;
    let port = free_port(&address);
    let out = elb
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .default_actions(forward(&blue))
        .tags(Tag::builder().key("team").value("web").build())
        .send()
        .await
        .unwrap();
    let listener = &out.listeners()[0];
    let arn = listener.listener_arn().unwrap().to_string();
    let lb_path = lb.split(":loadbalancer/").nth(1).unwrap();
    assert!(arn.starts_with(&format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/{lb_path}/")), "{arn}");
    assert_eq!(
        (listener.port(), listener.protocol(), listener.load_balancer_arn()),
        (Some(port), Some(&ProtocolEnum::Http), Some(lb.as_str()))
    );
    // A single target group is answered in both forms, as AWS answers it.
    let action = &listener.default_actions()[0];
    assert_eq!(action.target_group_arn(), Some(blue.as_str()));
    let config = action.forward_config().unwrap();
    assert_eq!(config.target_groups()[0].target_group_arn(), Some(blue.as_str()));
    assert_eq!(config.target_groups()[0].weight(), Some(1));
    assert_eq!(config.target_group_stickiness_config().and_then(|s| s.enabled()), Some(false));
    let tags = elb.describe_tags().resource_arns(&arn).send().await.unwrap();
    assert_eq!(tags.tag_descriptions()[0].tags()[0].key(), Some("team"));

    // Described by load balancer or by ARN alike; created again with the same settings, the same listener.
    let by_arn = elb.describe_listeners().listener_arns(&arn).send().await.unwrap();
    assert_eq!(format!("{:?}", by_arn.listeners()), listeners_of(elb, &lb).await);
    assert_eq!(create_listener(elb, &lb, port, forward(&blue)).await, arn);
    let before = listeners_of(elb, &lb).await;
    let (code_, message) = error(
        elb.create_listener().load_balancer_arn(&lb).protocol(ProtocolEnum::Http).port(port).default_actions(forward(&green)).send().await,
    );
    assert_eq!(code_, "DuplicateListener");
    assert_eq!(message, format!("A listener already exists on this port for this load balancer '{lb}'"));
    assert_eq!(listeners_of(elb, &lb).await, before);

    // The default rule: priority "default", no conditions, the listener's default actions.
    let rules = elb.describe_rules().listener_arn(&arn).send().await.unwrap();
    let default = &rules.rules()[0];
    assert_eq!(
        (rules.rules().len(), default.priority(), default.is_default(), default.conditions().len()),
        (1, Some("default"), Some(true), 0)
    );
    assert_eq!(default.actions(), listener.default_actions());

    // New default actions and a new port.
    let new_port = free_port(&address);
    let out =
        elb.modify_listener().listener_arn(&arn).port(new_port).default_actions(weighted(&[(&blue, 3), (&green, 1)])).send().await.unwrap();
    let modified = &out.listeners()[0];
    assert_eq!(modified.port(), Some(new_port));
    let groups = modified.default_actions()[0].forward_config().unwrap().target_groups();
    assert_eq!(
        groups.iter().map(|g| (g.target_group_arn().unwrap(), g.weight().unwrap())).collect::<Vec<_>>(),
        [(blue.as_str(), 3), (green.as_str(), 1)]
    );
    assert_eq!(modified.default_actions()[0].target_group_arn(), None);
    let rules = elb.describe_rules().listener_arn(&arn).send().await.unwrap();
    assert_eq!(rules.rules()[0].actions(), modified.default_actions());

    // Deleting the listener deletes its rules.
    create_rule(elb, &arn, 5, path("/api/*"), forward(&green)).await;
    elb.delete_listener().listener_arn(&arn).send().await.unwrap();
    assert!(elb.describe_listeners().load_balancer_arn(&lb).send().await.unwrap().listeners().is_empty());
    assert_eq!(code(elb.describe_rules().listener_arn(&arn).send().await), "ListenerNotFound");
    assert_eq!(code(elb.describe_listeners().listener_arns(&arn).send().await), "ListenerNotFound");
    assert_eq!(code(elb.delete_listener().listener_arn(&arn).send().await), "ListenerNotFound");
    // The target groups are free again.
    elb.delete_target_group().target_group_arn(&green).send().await.unwrap();
}

#[tokio::test]
async fn a_port_that_cannot_be_bound_and_what_ferry_local_does_not_serve_are_refused_and_create_nothing() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb, address) = create_lb(elb, "web").await;
    let blue = create_tg(elb, "blue", TargetTypeEnum::Ip).await;

    let taken = std::net::TcpListener::bind((address.as_str(), 0)).unwrap();
    let port = i32::from(taken.local_addr().unwrap().port());
    let create = |port: i32, protocol: ProtocolEnum| {
        elb.create_listener().load_balancer_arn(&lb).protocol(protocol).port(port).default_actions(forward(&blue)).send()
    };
    let (code_, message) = error(create(port, ProtocolEnum::Http).await);
    assert_eq!(code_, "ValidationError");
    assert!(message.starts_with(&format!("ferry local cannot listen on {address}:{port}: address in use")), "{message}");

    // A port below 1024 needs privileges this process may not have.
    if std::net::TcpListener::bind((address.as_str(), 81)).err().map(|e| e.kind()) == Some(std::io::ErrorKind::PermissionDenied) {
        let (code_, message) = error(create(81, ProtocolEnum::Http).await);
        assert_eq!(code_, "ValidationError");
        assert!(message.contains("permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE — use a port ≥ 1024"), "{message}");
    }

    let (code_, message) = error(create(free_port(&address), ProtocolEnum::Https).await);
    assert_eq!(code_, "ValidationError");
    assert!(message.contains("HTTP listeners only") && message.contains("certificates"), "{message}");
    assert_eq!(code(create(free_port(&address), ProtocolEnum::Tcp).await), "ValidationError");
    assert_eq!(code(create(0, ProtocolEnum::Http).await), "ValidationError");
    assert_eq!(code(create(65536, ProtocolEnum::Http).await), "ValidationError");
    let missing_lb = lb.replace("/web/", "/gone/");
    let out = elb
        .create_listener()
        .load_balancer_arn(&missing_lb)
        .protocol(ProtocolEnum::Http)
        .port(free_port(&address))
        .default_actions(forward(&blue))
        .send()
        .await;
    assert_eq!(code(out), "LoadBalancerNotFound");
    let missing_tg = blue.replace("/blue/", "/gone/");
    let out = elb
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(free_port(&address))
        .default_actions(forward(&missing_tg))
        .send()
        .await;
    assert_eq!(code(out), "TargetGroupNotFound");
    assert!(elb.describe_listeners().load_balancer_arn(&lb).send().await.unwrap().listeners().is_empty());

    // Moving a listener onto a port that is taken changes nothing.
    let listener = create_listener(elb, &lb, free_port(&address), fixed("404")).await;
    let before = listeners_of(elb, &lb).await;
    let (code_, message) = error(elb.modify_listener().listener_arn(&listener).port(port).send().await);
    assert_eq!(code_, "ValidationError");
    assert!(message.contains("address in use"), "{message}");
    let other = create_listener(elb, &lb, free_port(&address), fixed("404")).await;
    let other_port = elb.describe_listeners().listener_arns(&other).send().await.unwrap().listeners()[0].port().unwrap();
    let (code_, message) = error(elb.modify_listener().listener_arn(&listener).port(other_port).send().await);
    assert_eq!((code_.as_str(), message), ("ValidationError", format!("Listener port '{other_port}' is already in use")));
    elb.delete_listener().listener_arn(&other).send().await.unwrap();
    assert_eq!(listeners_of(elb, &lb).await, before);
    drop(taken);
}

#[tokio::test]
async fn rules_of_every_condition_kind_are_stored_as_aws_answers_them() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb, address) = create_lb(elb, "web").await;
    let blue = create_tg(elb, "blue", TargetTypeEnum::Ip).await;
    let listener = create_listener(elb, &lb, free_port(&address), fixed("404")).await;

    // Host in the legacy form, path in the typed one: each answered with both.
    let host = RuleCondition::builder().field("host-header").values("*.example.com").build();
    let path = RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().values("/img/*").values("/css/*").build())
        .build();
    let out = elb
        .create_rule()
        .listener_arn(&listener)
        .priority(10)
        .conditions(host)
        .conditions(path)
        .actions(forward(&blue))
        .send()
        .await
        .unwrap();
    let conditions = out.rules()[0].conditions();
    assert_eq!(conditions[0].field(), Some("host-header"));
    assert_eq!(conditions[0].values(), ["*.example.com"]);
    assert_eq!(conditions[0].host_header_config().unwrap().values(), ["*.example.com"]);
    assert_eq!(conditions[1].values(), ["/img/*", "/css/*"]);
    assert_eq!(conditions[1].path_pattern_config().unwrap().values(), ["/img/*", "/css/*"]);

    let header = RuleCondition::builder()
        .field("http-header")
        .http_header_config(HttpHeaderConditionConfig::builder().http_header_name("X-Canary").values("yes").build())
        .build();
    let method = RuleCondition::builder()
        .field("http-request-method")
        .http_request_method_config(HttpRequestMethodConditionConfig::builder().values("GET").values("HEAD").build())
        .build();
    let out = elb
        .create_rule()
        .listener_arn(&listener)
        .priority(20)
        .conditions(header)
        .conditions(method)
        .actions(forward(&blue))
        .send()
        .await
        .unwrap();
    let conditions = out.rules()[0].conditions();
    let header = conditions[0].http_header_config().unwrap();
    assert_eq!((header.http_header_name(), header.values()), (Some("X-Canary"), &["yes".to_string()][..]));
    assert_eq!(conditions[1].http_request_method_config().unwrap().values(), ["GET", "HEAD"]);
    assert!(conditions[1].values().is_empty());

    let query = RuleCondition::builder()
        .field("query-string")
        .query_string_config(
            QueryStringConditionConfig::builder()
                .values(QueryStringKeyValuePair::builder().key("version").value("v2").build())
                .values(QueryStringKeyValuePair::builder().value("beta").build())
                .build(),
        )
        .build();
    let source = RuleCondition::builder()
        .field("source-ip")
        .source_ip_config(SourceIpConditionConfig::builder().values("10.0.0.0/8").values("2001:db8::/32").build())
        .build();
    let out = elb
        .create_rule()
        .listener_arn(&listener)
        .priority(30)
        .conditions(query)
        .conditions(source)
        .actions(forward(&blue))
        .send()
        .await
        .unwrap();
    let conditions = out.rules()[0].conditions();
    let pairs = conditions[0].query_string_config().unwrap().values();
    assert_eq!((pairs[0].key(), pairs[0].value(), pairs[1].key(), pairs[1].value()), (Some("version"), Some("v2"), None, Some("beta")));
    assert_eq!(conditions[1].source_ip_config().unwrap().values(), ["10.0.0.0/8", "2001:db8::/32"]);

    // DescribeRules answers exactly what CreateRule answered.
    let described = elb.describe_rules().listener_arn(&listener).send().await.unwrap();
    assert_eq!(described.rules()[2].conditions(), conditions);
    assert_eq!(priorities(elb, &listener).await, ["10", "20", "30", "default"]);

    // Conditions AWS refuses, each a ValidationError that changes nothing.
    let before = rules_of(elb, &listener).await;
    let refused = [
        RuleCondition::builder().field("cookie").values("a").build(),
        RuleCondition::builder().field("http-header").values("a").build(),
        RuleCondition::builder().field("host-header").values("localhost").build(),
        RuleCondition::builder().field("path-pattern").values("/a").values("/b").build(),
        RuleCondition::builder()
            .field("path-pattern")
            .path_pattern_config(PathPatternConditionConfig::builder().values("/a").values("/b").values("/c").values("/d").build())
            .build(),
        RuleCondition::builder()
            .field("host-header")
            .host_header_config(HostHeaderConditionConfig::builder().values("a.com").build())
            .path_pattern_config(PathPatternConditionConfig::builder().values("/a").build())
            .build(),
        RuleCondition::builder()
            .field("http-request-method")
            .http_request_method_config(HttpRequestMethodConditionConfig::builder().values("get").build())
            .build(),
        RuleCondition::builder().field("source-ip").source_ip_config(SourceIpConditionConfig::builder().values("10.0.0.1").build()).build(),
    ];
    for (i, condition) in refused.into_iter().enumerate() {
        let out =
            elb.create_rule().listener_arn(&listener).priority(100 + i as i32).conditions(condition).actions(forward(&blue)).send().await;
        assert_eq!(code(out), "ValidationError", "condition {i}");
    }
    // Six values across the rule: over AWS's five.
    let out = elb
        .create_rule()
        .listener_arn(&listener)
        .priority(200)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(PathPatternConditionConfig::builder().values("/a").values("/b").values("/c").build())
                .build(),
        )
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(HostHeaderConditionConfig::builder().values("a.com").values("b.com").values("c.com").build())
                .build(),
        )
        .actions(forward(&blue))
        .send()
        .await;
    assert_eq!(error(out), ("ValidationError".to_string(), "A rule can only have '5' condition values".to_string()));
    assert_eq!(rules_of(elb, &listener).await, before);
}

#[tokio::test]
async fn rules_of_every_action_kind_and_a_weighted_forward_round_trip() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb, address) = create_lb(elb, "web").await;
    let blue = create_tg(elb, "blue", TargetTypeEnum::Ip).await;
    let green = create_tg(elb, "green", TargetTypeEnum::Ip).await;
    let listener = create_listener(elb, &lb, free_port(&address), fixed("404")).await;

    let sticky_weighted = Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .target_groups(TargetGroupTuple::builder().target_group_arn(&blue).weight(90).build())
                .target_groups(TargetGroupTuple::builder().target_group_arn(&green).weight(10).build())
                .target_group_stickiness_config(TargetGroupStickinessConfig::builder().enabled(true).duration_seconds(600).build())
                .build(),
        )
        .build();
    let rule = create_rule(elb, &listener, 1, path("/canary/*"), sticky_weighted.clone()).await;
    let described = elb.describe_rules().rule_arns(&rule).send().await.unwrap();
    let action = &described.rules()[0].actions()[0];
    assert_eq!(action.forward_config(), sticky_weighted.forward_config());
    assert_eq!(action.target_group_arn(), None);

    // Weights move, as a canary shift does; 0 takes a group out of rotation.
    let out = elb.modify_rule().rule_arn(&rule).actions(weighted(&[(&blue, 0), (&green, 100)])).send().await.unwrap();
    let groups = out.rules()[0].actions()[0].forward_config().unwrap().target_groups();
    assert_eq!(groups.iter().map(|g| g.weight().unwrap()).collect::<Vec<_>>(), [0, 100]);
    assert_eq!(out.rules()[0].conditions()[0].values(), ["/canary/*"], "conditions left out stay");

    let fixed_response = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("503")
                .content_type("application/json")
                .message_body("{\"down\":true}")
                .build(),
        )
        .build();
    let rule = create_rule(elb, &listener, 2, path("/maintenance"), fixed_response.clone()).await;
    let described = elb.describe_rules().rule_arns(&rule).send().await.unwrap();
    assert_eq!(described.rules()[0].actions()[0].fixed_response_config(), fixed_response.fixed_response_config());

    let redirect = Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder().protocol("HTTPS").port("443").status_code(RedirectActionStatusCodeEnum::Http301).build(),
        )
        .build();
    let rule = create_rule(elb, &listener, 3, path("/old/*"), redirect).await;
    let described = elb.describe_rules().rule_arns(&rule).send().await.unwrap();
    let config = described.rules()[0].actions()[0].redirect_config().unwrap();
    assert_eq!(
        (config.protocol(), config.port(), config.host(), config.path(), config.query(), config.status_code()),
        (Some("HTTPS"), Some("443"), Some("#{host}"), Some("/#{path}"), Some("#{query}"), Some(&RedirectActionStatusCodeEnum::Http301))
    );

    // Actions AWS refuses: codes as AWS answers them, nothing changed.
    let before = rules_of(elb, &listener).await;
    let other_lb = create_lb(elb, "other").await;
    let orange = create_tg(elb, "orange", TargetTypeEnum::Ip).await;
    create_listener(elb, &other_lb.0, free_port(&other_lb.1), forward(&orange)).await;
    let oidc = Action::builder()
        .r#type(ActionTypeEnum::AuthenticateOidc)
        .order(1)
        .authenticate_oidc_config(
            AuthenticateOidcActionConfig::builder()
                .issuer("https://idp.example.com")
                .authorization_endpoint("https://idp.example.com/auth")
                .token_endpoint("https://idp.example.com/token")
                .user_info_endpoint("https://idp.example.com/userinfo")
                .client_id("ferry")
                .client_secret("secret")
                .build(),
        )
        .build();
    let refusals: Vec<(&str, Vec<Action>)> = vec![
        ("TargetGroupNotFound", vec![forward(&blue.replace("/blue/", "/gone/"))]),
        ("TargetGroupAssociationLimit", vec![forward(&orange)]),
        ("ValidationError", vec![weighted(&[(&blue, 1000)])]),
        ("ValidationError", vec![weighted(&[(&blue, 1), (&blue, 2)])]),
        ("ValidationError", vec![fixed("302")]),
        ("InvalidLoadBalancerAction", vec![oidc, forward_in_order(&blue, 2)]),
        (
            "TooManyActions",
            vec![
                Action::builder()
                    .r#type(ActionTypeEnum::FixedResponse)
                    .order(1)
                    .fixed_response_config(FixedResponseActionConfig::builder().status_code("200").build())
                    .build(),
                forward_in_order(&blue, 2),
            ],
        ),
        (
            "InvalidLoadBalancerAction",
            vec![
                Action::builder()
                    .r#type(ActionTypeEnum::Redirect)
                    .redirect_config(RedirectActionConfig::builder().status_code(RedirectActionStatusCodeEnum::Http302).build())
                    .build(),
            ],
        ),
    ];
    for (i, (expected, actions)) in refusals.into_iter().enumerate() {
        let out = elb
            .create_rule()
            .listener_arn(&listener)
            .priority(100 + i as i32)
            .conditions(path("/x"))
            .set_actions(Some(actions))
            .send()
            .await;
        assert_eq!(code(out), expected, "refusal {i}");
    }
    let too_many_groups: Vec<String> = new_groups(elb, 6).await;
    let tuples: Vec<(&str, i32)> = too_many_groups.iter().map(|g| (g.as_str(), 1)).collect();
    let out = elb.create_rule().listener_arn(&listener).priority(150).conditions(path("/x")).actions(weighted(&tuples)).send().await;
    assert_eq!(code(out), "TooManyTargetGroups");
    assert_eq!(rules_of(elb, &listener).await, before);
}

/// `n` new target groups.
async fn new_groups(elb: &Client, n: usize) -> Vec<String> {
    let mut groups = Vec::with_capacity(n);
    for i in 0..n {
        groups.push(create_tg(elb, &format!("many-{i}"), TargetTypeEnum::Ip).await);
    }
    groups
}

#[tokio::test]
async fn priorities_are_unique_per_listener_and_set_rule_priorities_is_all_or_nothing() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb, address) = create_lb(elb, "web").await;
    let blue = create_tg(elb, "blue", TargetTypeEnum::Ip).await;
    let listener = create_listener(elb, &lb, free_port(&address), fixed("404")).await;
    let a = create_rule(elb, &listener, 1, path("/a"), forward(&blue)).await;
    let b = create_rule(elb, &listener, 2, path("/b"), forward(&blue)).await;
    let c = create_rule(elb, &listener, 3, path("/c"), forward(&blue)).await;

    let before = rules_of(elb, &listener).await;
    let (code_, message) =
        error(elb.create_rule().listener_arn(&listener).priority(2).conditions(path("/d")).actions(forward(&blue)).send().await);
    assert_eq!((code_.as_str(), message.as_str()), ("PriorityInUse", "Priority '2' is currently in use"));
    assert_eq!(rules_of(elb, &listener).await, before);

    // Two rules swap priorities in one call.
    let pair = |arn: &str, priority: i32| RulePriorityPair::builder().rule_arn(arn).priority(priority).build();
    let out = elb.set_rule_priorities().rule_priorities(pair(&a, 2)).rule_priorities(pair(&b, 1)).send().await.unwrap();
    assert_eq!(out.rules().len(), 2);
    let described = elb.describe_rules().listener_arn(&listener).send().await.unwrap();
    let order: Vec<&str> = described.rules().iter().map(|r| r.rule_arn().unwrap()).collect();
    assert_eq!(order[..3], [b.as_str(), a.as_str(), c.as_str()]);

    // One clash refuses the whole call: a keeps 2 even though 10 was free.
    let before = rules_of(elb, &listener).await;
    let (code_, message) = error(elb.set_rule_priorities().rule_priorities(pair(&a, 10)).rule_priorities(pair(&b, 3)).send().await);
    assert_eq!((code_.as_str(), message.as_str()), ("PriorityInUse", "Priority '3' is currently in use"));
    assert_eq!(code(elb.set_rule_priorities().rule_priorities(pair(&a, 10)).rule_priorities(pair(&c, 10)).send().await), "ValidationError");
    assert_eq!(code(elb.set_rule_priorities().rule_priorities(pair(&a, 50001)).send().await), "ValidationError");
    assert_eq!(
        code(elb.set_rule_priorities().rule_priorities(pair(&a, 10)).rule_priorities(pair(&format!("{c}0"), 11)).send().await),
        "RuleNotFound"
    );
    assert_eq!(rules_of(elb, &listener).await, before);
    assert_eq!(priorities(elb, &listener).await, ["1", "2", "3", "default"]);

    // Pages of two, in priority order, the default rule last.
    let first = elb.describe_rules().listener_arn(&listener).page_size(2).send().await.unwrap();
    let marker = first.next_marker().unwrap().to_string();
    let second = elb.describe_rules().listener_arn(&listener).page_size(2).marker(marker).send().await.unwrap();
    let pages: Vec<&str> = first.rules().iter().chain(second.rules()).map(|r| r.priority().unwrap()).collect();
    assert_eq!(pages, ["1", "2", "3", "default"]);
    assert!(second.next_marker().is_none());
}

#[tokio::test]
async fn the_default_rule_cannot_be_modified_reprioritized_or_deleted() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb, address) = create_lb(elb, "web").await;
    let blue = create_tg(elb, "blue", TargetTypeEnum::Ip).await;
    let listener = create_listener(elb, &lb, free_port(&address), forward(&blue)).await;
    let rule = create_rule(elb, &listener, 1, path("/a"), forward(&blue)).await;
    let default = elb.describe_rules().listener_arn(&listener).send().await.unwrap().rules()[1].rule_arn().unwrap().to_string();

    let before = rules_of(elb, &listener).await;
    let (code_, message) = error(elb.delete_rule().rule_arn(&default).send().await);
    assert_eq!((code_.as_str(), message), ("OperationNotPermitted", format!("Default rule '{default}' cannot be deleted")));
    let (code_, message) = error(elb.modify_rule().rule_arn(&default).actions(fixed("503")).send().await);
    assert_eq!((code_.as_str(), message), ("OperationNotPermitted", format!("Default rule '{default}' cannot be modified")));
    let pair = |arn: &str, priority: i32| RulePriorityPair::builder().rule_arn(arn).priority(priority).build();
    let out = elb.set_rule_priorities().rule_priorities(pair(&rule, 5)).rule_priorities(pair(&default, 6)).send().await;
    assert_eq!(code(out), "OperationNotPermitted");
    assert_eq!(rules_of(elb, &listener).await, before);

    // Other rules come and go; the default rule stays.
    elb.delete_rule().rule_arn(&rule).send().await.unwrap();
    assert_eq!(code(elb.delete_rule().rule_arn(&rule).send().await), "RuleNotFound");
    assert_eq!(code(elb.modify_rule().rule_arn(&rule).conditions(path("/b")).send().await), "RuleNotFound");
    assert_eq!(code(elb.describe_rules().rule_arns(&rule).send().await), "RuleNotFound");
    assert_eq!(priorities(elb, &listener).await, ["default"]);
}

#[tokio::test]
async fn rule_requests_that_name_nothing_or_too_much_are_refused_with_awss_codes() {
    let local = start(ACCOUNT, REGION, AWS_HEALTH_CHECKS).await;
    let elb = &local.clients.elbv2;
    let (lb, address) = create_lb(elb, "web").await;
    let blue = create_tg(elb, "blue", TargetTypeEnum::Ip).await;
    let listener = create_listener(elb, &lb, free_port(&address), forward(&blue)).await;
    let rule = create_rule(elb, &listener, 1, path("/a"), forward(&blue)).await;
    let before = rules_of(elb, &listener).await;

    let missing_listener = format!("{listener}0");
    let out = elb.create_rule().listener_arn(&missing_listener).priority(2).conditions(path("/b")).actions(forward(&blue)).send().await;
    assert_eq!(code(out), "ListenerNotFound");
    assert_eq!(code(elb.describe_rules().send().await), "ValidationError");
    assert_eq!(code(elb.describe_rules().listener_arn(&listener).rule_arns(&rule).send().await), "ValidationError");
    assert_eq!(code(elb.describe_rules().rule_arns("rule-1").send().await), "ValidationError");
    assert_eq!(code(elb.describe_listeners().send().await), "ValidationError");
    assert_eq!(code(elb.modify_rule().rule_arn(&rule).send().await), "ValidationError");
    for priority in [0, 50001] {
        let out = elb.create_rule().listener_arn(&listener).priority(priority).conditions(path("/b")).actions(forward(&blue)).send().await;
        assert_eq!(code(out), "ValidationError", "priority {priority}");
    }
    let out = elb.create_rule().listener_arn(&listener).priority(2).actions(forward(&blue)).send().await;
    assert_eq!(code(out), "ValidationError", "a rule needs a condition");
    assert_eq!(rules_of(elb, &listener).await, before);

    // Tags given at creation are the rule's.
    let out = elb
        .create_rule()
        .listener_arn(&listener)
        .priority(2)
        .conditions(path("/b"))
        .actions(forward(&blue))
        .tags(Tag::builder().key("ferry:env").value("prod").build())
        .send()
        .await
        .unwrap();
    let arn = out.rules()[0].rule_arn().unwrap();
    let tags = elb.describe_tags().resource_arns(arn).send().await.unwrap();
    assert_eq!(tags.tag_descriptions()[0].tags()[0].value(), Some("prod"));
}
