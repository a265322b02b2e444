//! Preflight checks what the new task needs before anything changes (issue 13), against
//! ferry local: a container's `secrets` (an SSM parameter, a Secrets Manager secret read
//! through a JSON key) and its awslogs log group must exist, else `ferry deploy` exits 4
//! naming the container and field, with no mutating call; once they exist the same deploy
//! goes through, its tasks starting with them. What cannot be checked with these credentials
//! (a secret of another region) is listed, in `plan` and in the JSON result.
//!
//! The missing sidecar image is pinned in deploy.rs
//! (`a_sidecar_whose_ecr_image_does_not_exist_is_refused_in_preflight_naming_it`).

use ferry_aws::ssm::types::ParameterType;

use crate::common::*;

/// The sample app's template with `members` added to container `app`.
fn template_with(members: &str) -> String {
    template().replacen(r#""memory": 64,"#, &format!(r#""memory": 64, {members},"#), 1)
}

/// The template with `members` in container `app` and an execution role, written as the
/// service's template.
fn write_template(world: &World, members: &str) {
    let text = template_with(members).replacen(
        r#""family": "{{ service }}","#,
        &format!(r#""family": "{{{{ service }}}}", "executionRoleArn": "arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole","#),
        1,
    );
    std::fs::write(world.dir.path().join("app.json"), text).unwrap();
}

/// Runs `ferry deploy test web=1.1.0` and checks that it was refused in preflight (exit 4)
/// saying `expected` (where ferry looked: ferry local's region, account and endpoint), with
/// no mutating call, the service still on `before`. Returns the output and the calls.
async fn refused(world: &World, before: &str, expected: &str) -> (std::process::Output, std::collections::BTreeMap<String, u64>) {
    world.reset_calls().await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    let expected = expected.replace("[WHERE]", &format!("region {REGION}, account {ACCOUNT}, endpoint {}", world.server.endpoint()));
    assert!(text(&output).contains(&expected), "expected {expected:?} in:\n{}", text(&output));
    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:RegisterTaskDefinition"), None, "{calls:?}");
    assert_eq!(mutations(&calls), 0, "no mutating call: {calls:?}");
    assert_eq!(world.service("web").await.task_definition(), Some(before), "the service is untouched");
    (output, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_refused_in_preflight_naming_the_container_and_field_and_the_deploy_goes_once_it_exists() {
    let world = World::new("", &["web"]).await;
    let before = world.create_service("web", 1, "1.0.0", true).await;
    let secret = world.clients.secretsmanager.create_secret().name("app/api").secret_string(r#"{"token":"t0k3n"}"#).send().await.unwrap();
    let secret_arn = secret.arn().unwrap().to_string();
    write_template(
        &world,
        &format!(
            r#""secrets": [{{"name": "DB_PASSWORD", "valueFrom": "/app/db/password"}}, {{"name": "API_TOKEN", "valueFrom": "{secret_arn}:token::"}}]"#
        ),
    );

    let (output, calls) = refused(
        &world,
        &before,
        "containerDefinitions[name=app].secrets[name=DB_PASSWORD].valueFrom: /app/db/password not found in SSM Parameter Store \
         ([WHERE]); create it, or fix valueFrom",
    )
    .await;
    crate::readable::settings(&[world.dir.path()])
        .bind(|| insta::assert_snapshot!("error_secret_not_found", crate::readable::shown(&output)));
    assert_eq!(calls.get("ssm:DescribeParameters"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("secretsmanager:DescribeSecret"), Some(&1), "the secret, without its JSON key, was found: {calls:?}");

    world.clients.ssm.put_parameter().name("/app/db/password").value("s3cret").r#type(ParameterType::SecureString).send().await.unwrap();
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(
        report["not_checked"],
        serde_json::json!(["executionRoleArn: that the role exists (ferry does not read IAM)"]),
        "the secrets were checked: {report}"
    );
    assert_eq!(world.answering_versions("web").await, vec!["1.1.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secrets_manager_secret_is_refused_naming_it_without_its_json_key() {
    let world = World::new("", &["web"]).await;
    let before = world.create_service("web", 1, "1.0.0", true).await;
    let secret = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:app/gone-AbCdEf");
    write_template(&world, &format!(r#""secrets": [{{"name": "API_TOKEN", "valueFrom": "{secret}:token::"}}]"#));

    refused(
        &world,
        &before,
        &format!(
            "containerDefinitions[name=app].secrets[name=API_TOKEN].valueFrom: {secret}:token:: not found in Secrets Manager, or \
             scheduled for deletion (secret {secret}, [WHERE]); create it, or fix valueFrom"
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_log_group_is_refused_in_preflight_and_the_deploy_goes_once_it_exists() {
    let world = World::new("", &["web"]).await;
    let before = world.create_service("web", 1, "1.0.0", true).await;
    write_template(
        &world,
        &format!(
            r#""logConfiguration": {{"logDriver": "awslogs", "options": {{"awslogs-group": "/ecs/web", "awslogs-region": "{REGION}", "awslogs-stream-prefix": "web"}}}}"#
        ),
    );

    let (output, calls) = refused(
        &world,
        &before,
        "containerDefinitions[name=app].logConfiguration.options.awslogs-group: /ecs/web not found in CloudWatch Logs ([WHERE]); \
         create it (Terraform aws_cloudwatch_log_group), or set awslogs-create-group = \"true\"",
    )
    .await;
    crate::readable::settings(&[world.dir.path()])
        .bind(|| insta::assert_snapshot!("error_log_group_not_found", crate::readable::shown(&output)));
    assert_eq!(calls.get("logs:DescribeLogGroups"), Some(&1), "{calls:?}");

    world.clients.logs.create_log_group().log_group_name("/ecs/web").send().await.unwrap();
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let said = "preflight could not check (each says why): executionRoleArn: that the role exists (ferry does not read IAM)";
    assert!(text(&output).contains(said), "the log group was checked, the role could not be: {}", text(&output));
    assert_eq!(world.answering_versions("web").await, vec!["1.1.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_these_credentials_cannot_check_is_listed_by_plan_and_not_looked_up() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let elsewhere = format!("arn:aws:ssm:eu-north-1:{ACCOUNT}:parameter/app/key");
    write_template(
        &world,
        &format!(
            r#""secrets": [{{"name": "KEY", "valueFrom": "{elsewhere}"}}],
            "logConfiguration": {{"logDriver": "awslogs", "options": {{"awslogs-group": "/ecs/web", "awslogs-region": "{REGION}", "awslogs-create-group": "true"}}}}"#
        ),
    );
    world.reset_calls().await;

    let output = world.ferry(&["plan", "test", "web=1.1.0"]).await;

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let expected = format!(
        "  not checked (each says why): containerDefinitions[name=app].secrets[name=KEY].valueFrom: {elsewhere} (region eu-north-1, \
         not the environment's {REGION}: not checked with these credentials); executionRoleArn: that the role exists (ferry does not \
         read IAM)\n"
    );
    assert!(text(&output).contains(&expected), "expected {expected:?} in:\n{}", text(&output));
    let calls = world.calls().await;
    assert_eq!(calls.get("ssm:DescribeParameters"), None, "another region's parameter is not looked up: {calls:?}");
    assert_eq!(calls.get("logs:DescribeLogGroups"), None, "awslogs-create-group: nothing to look up: {calls:?}");
    assert_eq!(mutations(&calls), 0, "plan changes nothing: {calls:?}");
}
