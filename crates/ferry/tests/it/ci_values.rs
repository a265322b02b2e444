//! Values only CI knows, in templates (issue 13): `--var NAME=VALUE` and `env("NAME",
//! default)` reach the registered task definition; a bad `--var` or an environment variable
//! that is not set (and has no default) changes nothing.

use std::process::Output;

use crate::common::*;

/// `ferry ARGS` in the world's project, with `env` added to the process environment.
async fn ferry_with_env(world: &World, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = std::process::Command::new(ferry_bin());
    command
        .args(args)
        .arg("--config")
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .env("FERRY_USER", "tester")
        .env("NO_COLOR", "1")
        .env_remove("FERRY_OUTPUT")
        .env_remove("CI_JOB")
        .env_remove("FERRY_TEST_NEVER_SET")
        .envs(env.iter().copied())
        .current_dir(world.dir.path());
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

/// The sample template with BUILD_URL from `vars` and CI_JOB from `job` (template text).
fn template_with(job: &str) -> String {
    template().replace(
        r#"{"name": "VERSION", "value": "{{ version }}"},"#,
        &format!(
            r#"{{"name": "VERSION", "value": "{{{{ version }}}}"}},
      {{"name": "BUILD_URL", "value": "{{{{ vars.BUILD_URL }}}}"}},
      {{"name": "CI_JOB", "value": "{job}"}},"#
        ),
    )
}

/// The environment of the container `app` in the task definition the service runs.
async fn running_environment(world: &World) -> Vec<(String, String)> {
    let arn = world.service("web").await.task_definition().unwrap().to_string();
    let described = world.clients.ecs.describe_task_definition().task_definition(&arn).send().await.unwrap();
    let container = &described.task_definition().unwrap().container_definitions()[0];
    container.environment().iter().map(|kv| (kv.name().unwrap().to_string(), kv.value().unwrap_or("").to_string())).collect()
}

fn value_of<'a>(environment: &'a [(String, String)], name: &str) -> Option<&'a str> {
    environment.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_with_var_and_env_registers_them_in_the_task_definition() {
    let world = World::new("vars = { BUILD_URL = \"none\" }", &["web"]).await;
    std::fs::write(world.dir.path().join("app.json"), template_with("{{ env('CI_JOB', 'local') }}")).unwrap();
    world.create_service("web", 1, "1.0.0", true).await;

    let output = ferry_with_env(
        &world,
        &[("CI_JOB", "job-7")],
        &["deploy", "test", "web=1.1.0", "--var", "BUILD_URL=https://ci.example.com/build/90", "--output", "json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let environment = running_environment(&world).await;
    assert_eq!(value_of(&environment, "BUILD_URL"), Some("https://ci.example.com/build/90"), "--var wins over ferry.toml's vars");
    assert_eq!(value_of(&environment, "CI_JOB"), Some("job-7"));
    assert_eq!(value_of(&environment, "VERSION"), Some("1.1.0"));

    // Without --var and with CI_JOB unset: ferry.toml's vars and env()'s default.
    let output = ferry_with_env(&world, &[], &["deploy", "test", "web=1.0.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let environment = running_environment(&world).await;
    assert_eq!(value_of(&environment, "BUILD_URL"), Some("none"));
    assert_eq!(value_of(&environment, "CI_JOB"), Some("local"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_variable_not_set_without_a_default_is_refused_naming_it_with_nothing_changed() {
    let world = World::new("vars = { BUILD_URL = \"none\" }", &["web"]).await;
    let source = template_with("{{ env('FERRY_TEST_NEVER_SET') }}");
    let line = source.lines().position(|l| l.contains("FERRY_TEST_NEVER_SET")).unwrap() + 1;
    std::fs::write(world.dir.path().join("app.json"), &source).unwrap();
    world.create_service("web", 1, "1.0.0", true).await;
    let revisions = world.revisions("web").await;
    world.reset_calls().await;

    let reason = format!(
        "app.json: line {line}: the environment variable FERRY_TEST_NEVER_SET is not set, and env(\"FERRY_TEST_NEVER_SET\") has no \
         default: set FERRY_TEST_NEVER_SET where ferry runs, or give a default: env(\"FERRY_TEST_NEVER_SET\", \"...\")"
    );
    for command in ["plan", "deploy"] {
        let output = ferry_with_env(&world, &[], &[command, "test", "web=1.1.0", "--output", "json"]).await;
        assert_eq!(output.status.code(), Some(2), "{command}: {}", text(&output));
        assert_eq!(result_of(&output)["services"][0]["reason"], reason.as_str(), "{command}");
    }
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
    assert_eq!(world.revisions("web").await, revisions);

    let check = ferry_with_env(&world, &[], &["check"]).await;
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    assert_eq!(String::from_utf8_lossy(&check.stdout), format!("✗ environment test: {reason}\n"));
    let check = ferry_with_env(&world, &[("FERRY_TEST_NEVER_SET", "x")], &["check"]).await;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_var_is_refused_before_any_aws_call() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    world.reset_calls().await;
    for (var, says) in [
        ("BUILD_URL", "expected NAME=VALUE (e.g. BUILD_URL=https://ci.example.com/build/90), got \"BUILD_URL\""),
        ("=x", "\"=x\" has no NAME before `=`"),
        ("build-url=x", "\"build-url\" is not a variable name"),
    ] {
        for command in ["deploy", "plan", "check"] {
            let args: Vec<&str> =
                if command == "check" { vec![command, "--var", var] } else { vec![command, "test", "web=1.1.0", "--var", var] };
            let output = ferry_with_env(&world, &[], &args).await;
            assert_eq!(output.status.code(), Some(2), "{command} --var {var}: {}", text(&output));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(&format!("invalid value '{var}' for '--var <NAME=VALUE>': {says}")), "{stderr}");
        }
    }
    assert!(world.calls().await.is_empty(), "{:?}", world.calls().await);
}
