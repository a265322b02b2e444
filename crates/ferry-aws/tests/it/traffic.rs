//! The blue/green adapters (`ferry_aws::traffic`) against ferry local: a target group made
//! like another, a rule's and a listener's forward weighted and read back, tags, a service
//! made like the live one, found by its tags, retired and deleted, a scalable target
//! deregistered — each change done twice to show it is the same as once.

use ferry_aws::elbv2::types::{
    Action, ActionTypeEnum, Matcher, PathPatternConditionConfig, ProtocolEnum, RuleCondition, TargetGroupTuple, TargetTypeEnum,
};
use ferry_aws::platform::{AwsEcs, AwsElb};
use ferry_aws::scaling::AwsAutoScaling;
use ferry_aws::{Clients, Target, ecs};
use ferry_core::platform::{AutoScaling, Ecs, Elb, NewService, RouteKind, ScalableTarget};
use ferry_local::{LocalServer, Options};

async fn local() -> (tempfile::TempDir, LocalServer, Clients) {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(Options { port: 0, state_dir: dir.path().to_path_buf(), ..Default::default() }).await.unwrap();
    let clients = Clients::new(&Target::local(&server.endpoint(), "000000000014", "eu-west-1")).await;
    (dir, server, clients)
}

fn forward(groups: &[(&str, i32)]) -> Action {
    let config = ferry_aws::elbv2::types::ForwardActionConfig::builder()
        .set_target_groups(Some(groups.iter().map(|(g, w)| TargetGroupTuple::builder().target_group_arn(*g).weight(*w).build()).collect()))
        .build();
    Action::builder().r#type(ActionTypeEnum::Forward).forward_config(config).build()
}

fn tags() -> Vec<(String, String)> {
    vec![("ferry:version".into(), "2.0.0".into()), ("ferry:status".into(), "new".into())]
}

#[tokio::test]
async fn target_groups_and_weights_through_the_elb_adapter() {
    let (_dir, _server, clients) = local().await;
    let sdk = &clients.elbv2;
    let elb = AwsElb::new(sdk.clone());
    let lb = sdk.create_load_balancer().name("web").subnets("subnet-0a").subnets("subnet-0b").send().await.unwrap();
    let lb = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let blue = sdk
        .create_target_group()
        .name("prod-web-1-0-0")
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id("vpc-0123")
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/health")
        .health_check_interval_seconds(7)
        .healthy_threshold_count(3)
        .matcher(Matcher::builder().http_code("200-299").build())
        .send()
        .await
        .unwrap();
    let blue = blue.target_groups()[0].target_group_arn().unwrap().to_string();

    // A group like blue, tagged; asked twice, the same group.
    let green = elb.create_target_group("prod-web-2-0-0", &blue, &tags()).await.unwrap();
    assert_eq!(elb.create_target_group("prod-web-2-0-0", &blue, &tags()).await.unwrap().arn, green.arn);
    let described = sdk.describe_target_groups().target_group_arns(&green.arn).send().await.unwrap();
    let g = &described.target_groups()[0];
    assert_eq!(g.health_check_path(), Some("/health"));
    assert_eq!((g.health_check_interval_seconds(), g.healthy_threshold_count()), (Some(7), Some(3)));
    assert_eq!(g.matcher().and_then(|m| m.http_code()), Some("200-299"));
    assert_eq!(g.target_type(), Some(&TargetTypeEnum::Ip));
    assert_eq!(g.vpc_id(), Some("vpc-0123"));
    let tagged = elb.describe_tags(std::slice::from_ref(&green.arn)).await.unwrap();
    assert!(tagged[0].tags.contains(&("ferry:version".to_string(), "2.0.0".to_string())), "{tagged:?}");
    let named = elb.target_groups_named(&["prod-web-2-0-0".to_string(), "prod-web-nope".to_string()]).await.unwrap();
    assert_eq!(named.iter().map(|g| g.arn.as_str()).collect::<Vec<_>>(), [green.arn.as_str()]);
    assert!(elb.list_target_groups().await.unwrap().iter().any(|g| g.arn == blue));

    // A listener and a rule forwarding to blue; weights moved on both, read back.
    let port = i32::from(std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port());
    let listener = sdk
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .default_actions(forward(&[(&blue, 1)]))
        .send()
        .await
        .unwrap();
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    let rule = sdk
        .create_rule()
        .listener_arn(&listener)
        .priority(10)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(PathPatternConditionConfig::builder().values("/api/*").build())
                .build(),
        )
        .actions(forward(&[(&blue, 1)]))
        .send()
        .await
        .unwrap();
    let rule = rule.rules()[0].rule_arn().unwrap().to_string();
    assert_eq!(RouteKind::of(&rule), Some(RouteKind::Rule));
    assert_eq!(RouteKind::of(&listener), Some(RouteKind::Listener));

    let weights = vec![(blue.clone(), 90), (green.arn.clone(), 10)];
    let answered = elb.set_forward(&rule, &weights).await.unwrap();
    assert_eq!(answered.weights(), weights.as_slice());
    assert_eq!(elb.describe_route(&rule).await.unwrap().unwrap().weights(), weights.as_slice());
    assert_eq!(elb.set_forward(&rule, &weights).await.unwrap().weights(), weights.as_slice(), "twice is once");
    let only_green = vec![(green.arn.clone(), 100)];
    elb.set_forward(&listener, &only_green).await.unwrap();
    // One group alone is answered with its TargetGroupArn too, which the reader takes at
    // weight 1: all of the traffic either way.
    let route = elb.describe_route(&listener).await.unwrap().unwrap();
    assert_eq!(route.weights().len(), 1, "{route:?}");
    assert_eq!(ferry_core::strategy::blue_green::share(&route, &green.arn), 100);

    // Gone: None; a deleted group is deleted twice without error once no rule forwards to it.
    let gone = format!("{}/0000000000000000", rule.rsplit_once('/').unwrap().0);
    assert_eq!(elb.describe_route(&gone).await.unwrap(), None);
    elb.set_forward(&rule, &[(blue.clone(), 1)]).await.unwrap();
    elb.set_forward(&listener, &[(blue.clone(), 1)]).await.unwrap();
    elb.delete_target_group(&green.arn).await.unwrap();
    elb.delete_target_group(&green.arn).await.unwrap();
    assert!(elb.target_groups_named(&["prod-web-2-0-0".to_string()]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_service_like_the_live_one_is_made_found_by_its_tags_retired_and_deleted() {
    let (_dir, _server, clients) = local().await;
    let ecs_sdk = &clients.ecs;
    let ecs_port = AwsEcs::new(ecs_sdk.clone());
    let scaling = AwsAutoScaling::new(clients.autoscaling.clone());
    ecs_sdk.create_cluster().cluster_name("prod").send().await.unwrap();
    let td = ecs_sdk
        .register_task_definition()
        .family("web")
        .container_definitions(ecs::types::ContainerDefinition::builder().name("web").image("web:1").essential(true).memory(64).build())
        .send()
        .await
        .unwrap();
    let td = td.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    ecs_sdk
        .create_service()
        .cluster("prod")
        .service_name("web-prod")
        .task_definition(&td)
        .desired_count(0)
        .deployment_configuration(ecs::types::DeploymentConfiguration::builder().minimum_healthy_percent(50).maximum_percent(150).build())
        .send()
        .await
        .unwrap();
    let live = ecs_port.describe_services("prod", &["web-prod".to_string()]).await.unwrap().remove(0);

    let spec = NewService::like(&live, "prod", "web-prod-2-0-0", &td, 0, &[], tags());
    let made = ecs_port.create_service(&spec).await.unwrap();
    assert_eq!((made.name.as_str(), made.minimum_healthy_percent, made.maximum_percent), ("web-prod-2-0-0", Some(50), Some(150)));

    let listed = ecs_port.list_services("prod").await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let found = ecs_port.describe_tagged_services("prod", &listed).await.unwrap();
    let green = found.iter().find(|s| s.tag("ferry:version") == Some("2.0.0")).expect("found by its tag");
    assert_eq!(green.service.name, "web-prod-2-0-0");
    assert!(green.created_at > 0);

    // Retire: tag obsolete (replacing new), untag, scalable target deregistered twice.
    ecs_port.tag_service(&made.arn, &[("ferry:status".into(), "obsolete".into())]).await.unwrap();
    ecs_port.untag_service(&made.arn, &["ferry:version".to_string()]).await.unwrap();
    let again = ecs_port.describe_tagged_services("prod", &["web-prod-2-0-0".to_string()]).await.unwrap();
    assert_eq!(again[0].tag("ferry:status"), Some("obsolete"));
    assert_eq!(again[0].tag("ferry:version"), None);
    let resource = ScalableTarget::resource_id("prod", "web-prod-2-0-0");
    scaling.register_scalable_target(&ScalableTarget { resource_id: resource.clone(), min_capacity: 1, max_capacity: 4 }).await.unwrap();
    scaling.deregister_scalable_target(&resource).await.unwrap();
    scaling.deregister_scalable_target(&resource).await.unwrap();
    assert_eq!(scaling.describe_scalable_target(&resource).await.unwrap(), None);

    // Deleted (force), twice the same as once.
    ecs_port.delete_service("prod", "web-prod-2-0-0").await.unwrap();
    ecs_port.delete_service("prod", "web-prod-2-0-0").await.unwrap();
    let after = ecs_port.describe_services("prod", &["web-prod-2-0-0".to_string()]).await.unwrap();
    assert!(after.iter().all(|s| s.status != "ACTIVE"), "{:?}", after.iter().map(|s| &s.status).collect::<Vec<_>>());
}
