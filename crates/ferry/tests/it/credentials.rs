//! Credentials say which source was tried and what it lacked (issue 8, item 10): a missing
//! or misnamed profile was reported as "cannot reach the endpoint ... IMDS". Each test runs
//! ferry with the AWS variables cleared and HOME in a temporary directory, so only the AWS
//! config files the test writes are there to be found.
//!
//! Also: `ferry init --from-service` against ferry local uses ferry local's credentials and
//! writes them into the config it generates, so the next command works as it did.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

/// A project with a `prod` environment that names a profile, and a `dflt` environment on
/// the default chain (pointed at a closed port: nothing is ever sent).
fn project(dir: &Path) {
    std::fs::write(
        dir.join("ferry.toml"),
        "[environments.prod]\nregion = \"us-east-1\"\ncluster = \"prod\"\nprofile = \"prod\"\n\n\
         [environments.dflt]\nregion = \"us-east-1\"\ncluster = \"dflt\"\nendpoint_url = \"http://127.0.0.1:9\"\n\n\
         [services.web]\nrepository = \"web\"\ncontainer = \"web\"\nfrom = \"live\"\n",
    )
    .unwrap();
}

/// HOME with `~/.aws/config` (default, dev) and `~/.aws/credentials` (staging): no `prod`.
fn home_without_prod(dir: &Path) -> std::path::PathBuf {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(home.join(".aws/config"), "[default]\nregion = us-east-1\n\n[profile dev]\nregion = us-east-1\n").unwrap();
    std::fs::write(home.join(".aws/credentials"), "[staging]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n").unwrap();
    home
}

/// ferry with nothing from the caller's environment but PATH, and HOME as given.
fn ferry(dir: &Path, home: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(ferry_bin());
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("FERRY_USER", "tester")
        .args(args)
        .arg("--config")
        .arg(dir.join("ferry.toml"))
        .arg("--ledger")
        .arg(dir.join("ledger.sqlite"))
        .current_dir(dir);
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn a_profile_missing_from_the_aws_config_files_is_named_with_the_setting_that_named_it() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let home = home_without_prod(dir.path());
    for command in [&["deploy", "prod", "web=1.0.0"][..], &["status", "prod"][..]] {
        let output = ferry(dir.path(), &home, &[], command);
        assert_eq!(output.status.code(), Some(2), "{command:?}: {}", text(&output));
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "error: profile \"prod\" not found in ~/.aws/config or ~/.aws/credentials (from environments.prod.profile in ferry.toml); \
             the files define: default, dev, staging. Add it (`aws configure --profile prod`, or `aws configure sso` for SSO) or name an existing one\n",
            "{command:?}"
        );
    }
}

#[test]
fn a_profile_missing_from_the_files_named_by_aws_config_file_names_those_files() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let home = home_without_prod(dir.path());
    let config = dir.path().join("aws-config");
    std::fs::write(&config, "[profile ops]\nregion = eu-west-1\n").unwrap();
    let config = config.to_string_lossy().into_owned();
    let output = ferry(dir.path(), &home, &[("AWS_CONFIG_FILE", &config)], &["plan", "prod", "web=1.0.0"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: profile \"prod\" not found in {config} or ~/.aws/credentials (from environments.prod.profile in ferry.toml); \
             the files define: ops, staging. Add it (`aws configure --profile prod`, or `aws configure sso` for SSO) or name an existing one\n"
        )
    );
}

#[test]
fn aws_profile_naming_a_missing_profile_is_named_as_aws_profile() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let home = home_without_prod(dir.path());
    let output = ferry(dir.path(), &home, &[("AWS_PROFILE", "stagign")], &["status", "dflt"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: profile \"stagign\" not found in ~/.aws/config or ~/.aws/credentials (from AWS_PROFILE); \
         the files define: default, dev, staging. Add it (`aws configure --profile stagign`, or `aws configure sso` for SSO) or name an existing one\n"
    );
}

#[test]
fn no_credentials_anywhere_says_what_the_default_chain_tried_not_that_the_endpoint_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let home = dir.path().join("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    // No instance metadata service to ask: the test must not depend on the machine.
    let output = ferry(dir.path(), &home, &[("AWS_EC2_METADATA_DISABLED", "true")], &["deploy", "dflt", "web=1.0.0"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let reason = stdout.lines().find(|l| l.starts_with("web: ")).unwrap_or_else(|| panic!("{}", text(&output)));
    assert_eq!(
        reason,
        "web: ecs:DescribeClusters: no AWS credentials found by the default chain (from environments.dflt in ferry.toml, which sets no profile, role_arn or credentials): \
         AWS_ACCESS_KEY_ID is not set; profile \"default\" gave none (~/.aws/config or ~/.aws/credentials); no web identity token (AWS_WEB_IDENTITY_TOKEN_FILE); \
         no container credentials (AWS_CONTAINER_CREDENTIALS_*_URI); the EC2 instance metadata service is turned off (AWS_EC2_METADATA_DISABLED); \
         the SDK says: the credential provider was not enabled: no credentials found in chain. \
         Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile (profile = \"NAME\") or a role (role_arn) for the environment in ferry.toml; \
         for ferry local, set credentials = \"ferry-local\""
    );
    assert!(!text(&output).contains("cannot reach"), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_from_a_service_on_ferry_local_writes_its_credentials_so_the_next_command_works() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    let project = world.dir.path().join("imported");
    std::fs::create_dir_all(&project).unwrap();
    let home = world.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let endpoint = world.server.endpoint();
    // No AWS keys, no AWS config files: only ferry local's own credentials can work.
    let (dir, home_dir) = (project.clone(), home.clone());
    let init = tokio::task::spawn_blocking(move || {
        ferry(
            &dir,
            &home_dir,
            &[],
            &["init", "--from-service", &format!("{CLUSTER}/web"), "--environment", "test", "--endpoint-url", &endpoint],
        )
    })
    .await
    .unwrap();
    assert_eq!(init.status.code(), Some(0), "{}", text(&init));
    let toml = std::fs::read_to_string(project.join("ferry.toml")).unwrap();
    assert!(toml.contains(&format!("endpoint_url = \"{}\"\n", world.server.endpoint())), "{toml}");
    assert!(toml.contains("\ncredentials = \"ferry-local\""), "{toml}");
    assert!(toml.contains("region = \"us-east-1\""), "{toml}");
    // The next command works with what init wrote, and nothing else.
    let (dir, home_dir) = (project.clone(), home.clone());
    let plan = tokio::task::spawn_blocking(move || ferry(&dir, &home_dir, &[], &["plan", "test", "web=1.1.0"])).await.unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}\n{toml}", text(&plan));
}
