//! Errors that name the thing (issue 8, items 12-16), through the binary against an
//! embedded ferry local: each fault's right message, asserted whole, and proof that the
//! bad input changed nothing where a command could have (no mutating call, no revision).

use std::process::{Command, Output};

use crate::common::*;

/// The line of the template (1-based) that contains `needle`.
fn line_of(template: &str, needle: &str) -> usize {
    template.lines().position(|l| l.contains(needle)).expect("needle in template") + 1
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// `plan` and `deploy` of web=1.1.0 in JSON: both refused with `reason`, exit `code`, and
/// nothing changed.
async fn refused_without_a_change(world: &World, code: i32, reason: &str) {
    let revisions = world.revisions("web").await;
    world.reset_calls().await;
    for command in ["plan", "deploy"] {
        let output = world.ferry(&[command, "test", "web=1.1.0", "--output", "json"]).await;
        assert_eq!(output.status.code(), Some(code), "{command}: {}", text(&output));
        let result = result_of(&output);
        assert_eq!(result["services"][0]["reason"], reason, "{command}");
    }
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
    assert_eq!(world.revisions("web").await, revisions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undefined_variable_verison_is_named_with_its_template_file_by_check_plan_and_deploy() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let broken = template().replace("\"value\": \"{{ version }}\"", "\"value\": \"{{ verison }}\"");
    let line = line_of(&broken, "verison");
    std::fs::write(world.dir.path().join("app.json"), &broken).unwrap();

    let check = world.ferry(&["check"]).await;
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    let message = format!("app.json: line {line}: undefined variable `verison` (did you mean `version`?)");
    assert_eq!(stdout(&check), format!("✗ environment test: {message}\n"));
    // The summary names the template, not ferry.toml.
    assert_eq!(stderr(&check).trim_end(), "error: 1 problem(s) in app.json");

    refused_without_a_change(&world, 2, &message).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_container_named_names_the_template_file_and_the_key() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    std::fs::write(world.dir.path().join("app.json"), template().replace("\"name\": \"app\"", "\"name\": \"main\"")).unwrap();
    let message = "app.json: services.web.container in ferry.toml: no container named \"app\" in the task definition (containers: main)";
    let check = world.ferry(&["check"]).await;
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    assert_eq!(stdout(&check), format!("✗ environment test: {message}\n"));
    refused_without_a_change(&world, 2, message).await;

    // Every template error is named with the file by plan and deploy, as check does.
    std::fs::write(world.dir.path().join("app.json"), template().replace("\"stopTimeout\"", "\"stopTimeOut\"")).unwrap();
    refused_without_a_change(
        &world,
        2,
        "app.json: task definition: containerDefinitions[0].stopTimeOut: unknown field (did you mean \"stopTimeout\"?)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_nobody_configured_is_refused_by_check_and_read_from_the_service_by_plan() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let with_role =
        template().replace("\"family\"", "\"executionRoleArn\": \"arn:aws:iam::{{ account }}:role/ecsTaskExecutionRole\",\n  \"family\"");
    std::fs::write(world.dir.path().join("app.json"), &with_role).unwrap();
    // The default credential chain (as against AWS), pointed at ferry local: nothing in
    // ferry.toml says which account it is.
    let config = std::fs::read_to_string(world.config()).unwrap().replace("credentials = \"ferry-local\"\n", "");
    std::fs::write(world.config(), config).unwrap();
    let ferry = |args: &[&str]| {
        Command::new(ferry_bin())
            .args(args)
            .arg("--config")
            .arg(world.config())
            .arg("--ledger")
            .arg(world.ledger())
            .env("AWS_ACCESS_KEY_ID", ACCOUNT)
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("NO_COLOR", "1")
            .current_dir(world.dir.path())
            .output()
            .unwrap()
    };

    let check = ferry(&["check"]);
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    assert_eq!(
        stdout(&check),
        format!(
            "✗ environment test: app.json: line {}: undefined variable `account`: the AWS account is not known here; \
             set account = \"123456789012\" (your 12-digit account id, `aws sts get-caller-identity` prints it) in [environments.test] of ferry.toml\n",
            line_of(&with_role, "{{ account }}")
        )
    );

    // plan knows the account the service lives in, from its ARN: never `arn:aws:iam:::role`.
    world.reset_calls().await;
    let plan = ferry(&["plan", "test", "web=1.1.0", "--output", "json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let changes = result_of(&plan)["services"][0]["changes"].clone();
    let role = changes.as_array().unwrap().iter().find(|c| c["path"] == "executionRoleArn").unwrap_or_else(|| panic!("{changes}"));
    assert_eq!(role["new"], format!("arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"));
    assert_eq!(mutations(&world.calls().await), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_inits_own_template_does_not_pass_check_with_an_empty_account() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| Command::new(ferry_bin()).args(args).env("NO_COLOR", "1").current_dir(dir.path()).output().unwrap();
    let init = run(&["init"]);
    assert!(init.status.success(), "{}", text(&init));
    assert!(stdout(&init).contains("next: set account in ferry.toml"), "{}", text(&init));
    let check = run(&["check"]);
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    let template = std::fs::read_to_string(dir.path().join("deploy/web.json")).unwrap();
    assert_eq!(
        stdout(&check),
        format!(
            "✗ environment dev: deploy/web.json: line {}: undefined variable `account`: the AWS account is not known here; \
             set account = \"123456789012\" (your 12-digit account id, `aws sts get-caller-identity` prints it) in [environments.dev] of ferry.toml\n",
            line_of(&template, "{{ account }}")
        )
    );
    // Setting it, as the message and the commented line in ferry.toml say, is enough.
    let toml = std::fs::read_to_string(dir.path().join("ferry.toml")).unwrap();
    assert!(toml.contains("# account = \"123456789012\""), "{toml}");
    std::fs::write(dir.path().join("ferry.toml"), toml.replace("# account = \"123456789012\"", "account = \"123456789012\"")).unwrap();
    let check = run(&["check"]);
    assert!(check.status.success(), "{}", text(&check));
    // A region typo is refused by init itself.
    let typo =
        Command::new(ferry_bin()).args(["init", "--region", "us-east1", "--config"]).arg(dir.path().join("other.toml")).output().unwrap();
    assert_eq!(typo.status.code(), Some(2), "{}", text(&typo));
    assert!(stderr(&typo).contains("--region: \"us-east1\" is not an AWS region name"), "{}", text(&typo));
    assert!(!dir.path().join("other.toml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_typo_us_east1_fails_check_and_plan_before_any_call() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let config = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(world.config(), config.replace("region = \"us-east-1\"", "region = \"us-east1\"")).unwrap();
    let expected = format!(
        "error: {}: environments.test.region: \"us-east1\" is not an AWS region name (they look like \"us-east-1\", \"eu-central-2\" or \"us-gov-west-1\"); did you mean \"us-east-1\"?\n",
        world.config().display()
    );
    let check = world.ferry(&["check"]).await;
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    assert_eq!(stderr(&check), expected);
    world.reset_calls().await;
    for command in ["plan", "deploy"] {
        let output = world.ferry(&[command, "test", "web=1.1.0"]).await;
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert_eq!(stderr(&output), expected);
    }
    assert!(world.calls().await.is_empty(), "{:?}", world.calls().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_says_in_which_region_account_and_endpoint() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let endpoint = world.server.endpoint();
    let location = format!("region {REGION}, account {ACCOUNT}, endpoint {endpoint}");

    let output = world.ferry(&["plan", "test", "web=9.9.9", "--output", "json"]).await;
    assert_eq!(
        result_of(&output)["services"][0]["reason"],
        format!("image app:9.9.9 not found in the registry (ECR: {location})"),
        "{}",
        text(&output)
    );

    let config = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(world.config(), config.replace("[services.web]", "[services.web]\nservice_name = \"webb\"")).unwrap();
    let output = world.ferry(&["plan", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(
        result_of(&output)["services"][0]["reason"],
        format!("service webb not found in cluster {CLUSTER} ({location})"),
        "{}",
        text(&output)
    );

    std::fs::write(world.config(), config.replace(&format!("cluster = \"{CLUSTER}\""), "cluster = \"dev\"")).unwrap();
    world.reset_calls().await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert_eq!(result_of(&output)["services"][0]["reason"], format!("cluster dev not found ({location})"));
    assert_eq!(mutations(&world.calls().await), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_that_multiplies_a_string_5000_times_is_a_template_error_not_an_abort() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let doubling = "{% set ns = namespace(s='x') %}{% for i in range(5000) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
    std::fs::write(
        world.dir.path().join("app.json"),
        template().replace("\"value\": \"{{ version }}\"", &format!("\"value\": \"{doubling}\"")),
    )
    .unwrap();
    let message = "app.json: rendering stopped: it needed more than 64 MiB of memory; look for a string repeated or doubled in a loop";
    let check = world.ferry(&["check"]).await;
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    assert_eq!(stdout(&check), format!("✗ environment test: {message}\n"));
    refused_without_a_change(&world, 2, message).await;

    // A loop that runs too long stops on fuel, one that writes too much on the output bound.
    let endless = "{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}";
    std::fs::write(
        world.dir.path().join("app.json"),
        template().replace("\"value\": \"{{ version }}\"", &format!("\"value\": \"{endless}\"")),
    )
    .unwrap();
    let check = world.ferry(&["check"]).await;
    assert!(stdout(&check).contains("app.json: rendering stopped: line "), "{}", text(&check));
    assert!(stdout(&check).contains("it ran more than 1000000 instructions"), "{}", text(&check));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_describe_task_definition_returns_are_ignored_with_a_warning_naming_them() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let pasted = template().replace("\"family\"", "\"taskDefinitionArn\": \"arn:aws:ecs:us-east-1:000000000000:task-definition/web:1\",\n  \"revision\": 1,\n  \"status\": \"ACTIVE\",\n  \"family\"");
    std::fs::write(world.dir.path().join("app.json"), pasted).unwrap();
    let warning = "app.json: warning: taskDefinitionArn, revision, status ignored: DescribeTaskDefinition returns these fields \
                   but RegisterTaskDefinition does not accept them (ECS sets them); remove them from the template";
    let check = world.ferry(&["check"]).await;
    assert!(check.status.success(), "{}", text(&check));
    assert!(stdout(&check).starts_with(&format!("! environment test: {warning}\n")), "{}", text(&check));

    let plan = world.ferry(&["plan", "test", "web=1.1.0", "--output", "json"]).await;
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(events_of(&plan).iter().any(|e| e["message"] == warning), "{}", text(&plan));
    let plan = world.ferry(&["plan", "test", "web=1.1.0"]).await;
    assert!(stderr(&plan).contains(warning), "{}", text(&plan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100000_character_value_is_not_echoed_whole() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let long = "x".repeat(100_000);
    world.reset_calls().await;
    for command in ["plan", "deploy"] {
        let output = world.ferry(&[command, "test", &format!("web={long}")]).await;
        assert_eq!(output.status.code(), Some(2), "{}", &text(&output)[..2000.min(text(&output).len())]);
        assert!(text(&output).len() < 2_000, "{} bytes", text(&output).len());
        assert!(!text(&output).contains("panicked"), "{}", &text(&output)[..2000.min(text(&output).len())]);
    }
    assert_eq!(mutations(&world.calls().await), 0);

    std::fs::write(
        world.dir.path().join("app.json"),
        template().replace("\"family\"", &format!("\"networkMode\": {long:?},\n  \"family\"")),
    )
    .unwrap();
    let check = world.ferry(&["check"]).await;
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    assert!(
        text(&check).contains(&format!("networkMode: invalid value \"{}…\" (100000 characters)", "x".repeat(80))),
        "{}",
        &text(&check)[..2000.min(text(&check).len())]
    );
    assert!(text(&check).len() < 1_000, "{}", text(&check).len());
    let config = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(world.config(), config.replace("[services.web]", &format!("[services.web]\nservice_name = \"{long}\""))).unwrap();
    let check = world.ferry(&["check"]).await;
    assert_eq!(check.status.code(), Some(2), "{}", &text(&check)[..2000.min(text(&check).len())]);
    assert!(
        text(&check).contains(&format!("renders to \"{}…\" (100000 characters)", "x".repeat(80))),
        "{}",
        &text(&check)[..2000.min(text(&check).len())]
    );
    assert!(text(&check).len() < 1_000, "{}", text(&check).len());
}
