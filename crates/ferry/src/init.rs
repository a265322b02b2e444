//! `ferry init [--from-service CLUSTER/SERVICE]`: write a starting ferry.toml and a task
//! definition template. With --from-service, the template is the service's running revision
//! (read-only fields stripped, the image replaced by `{{ image }}`), so the first deploy
//! changes nothing but the image.

use std::path::{Path, PathBuf};

use ferry_aws::platform::AwsEcs;
use ferry_aws::{Clients, Target};
use ferry_core::platform::Ecs;
use ferry_core::taskdef;

use crate::Failure;
use crate::cli::{GlobalArgs, InitArgs};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, args: InitArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let config_path = global.config.clone();
    let root = config_path.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    if let Some(region) = &args.region {
        ferry_core::region::check_region(region).map_err(|e| Failure::input(format!("--region: {e}")))?;
    }
    // Built once: telling ferry local apart costs a probe of the endpoint.
    let target = init_target(global, &args).await;
    let (service, container, repository, cluster, template, account) = match &args.from_service {
        Some(spec) => import(&target, spec).await?,
        None => (
            "web".to_string(),
            "web".to_string(),
            "web".to_string(),
            args.environment.clone(),
            serde_json::to_string_pretty(&sample_template()).map_err(|e| Failure::internal(e.to_string()))?,
            None,
        ),
    };
    let template_rel = PathBuf::from("deploy").join(format!("{service}.json"));
    let template_path = root.join(&template_rel);
    for path in [&config_path, &template_path] {
        if path.exists() && !args.force {
            return Err(Failure::input(format!("{} already exists (use --force to overwrite)", path.display())));
        }
    }
    let region = target.region.clone().unwrap_or_else(|| "us-east-1".to_string());
    let mut endpoint = global.endpoint_url.as_ref().map(|u| format!("endpoint_url = \"{u}\"\n")).unwrap_or_default();
    // What `init` used is what the next command uses: ferry local's credentials, in the file.
    if is_ferry_local(&target) {
        endpoint.push_str("credentials = \"ferry-local\"   # ferry local's own credentials: no AWS keys needed\n");
    }
    // Templates use `{{ account }}`; `ferry check` refuses one it cannot know offline.
    let account_line = match &account {
        Some(account) => format!("account = \"{account}\"         # the AWS account; templates use it as {{{{ account }}}}\n"),
        None => "# account = \"123456789012\"   # your AWS account id: the template uses it as {{ account }}, and `ferry check` needs it\n"
            .to_string(),
    };
    let toml = format!(
        r#"# ferry.toml: what ferry deploys (services) and where (environments).
# Check it offline with `ferry check`; see what a deploy would change with `ferry plan`.

[defaults]
timeout = "10m"           # roll back a deploy that has not completed by then
max_task_failures = 3     # roll back after this many failed tasks of the new version

[environments.{env}]
region = "{region}"
cluster = "{cluster}"
service_name = "{{{{ service }}}}"   # the ECS service name; e.g. "{{{{ service }}}}-{{{{ environment }}}}"
{account_line}{endpoint}# credentials: the default chain; or profile = "name"; or role_arn = "arn:aws:iam::ACCOUNT:role/NAME"
vars = {{}}                # anything templates may use as {{{{ vars.NAME }}}}

[services.{service}]
repository = "{repository}"     # the ECR repository (name or URI)
container = "{container}"       # the container that gets the new image
template = "{template}"  # native ECS JSON; or: from = "live" to reuse the running revision
"#,
        env = args.environment,
        template = template_rel.display(),
    );
    if let Some(dir) = template_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Failure::input(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(&template_path, format!("{template}\n")).map_err(|e| Failure::input(format!("{}: {e}", template_path.display())))?;
    std::fs::write(&config_path, toml).map_err(|e| Failure::input(format!("{}: {e}", config_path.display())))?;
    printer.out(&format!("wrote {} and {}", config_path.display(), template_path.display()));
    if account.is_none() {
        printer.out("next: set account in ferry.toml (the template's executionRoleArn uses {{ account }}), then `ferry check`, then `ferry plan ENV SERVICE=VERSION`");
    } else {
        printer.out("next: `ferry check`, then `ferry plan ENV SERVICE=VERSION`");
    }
    Ok(())
}

/// Reads a running service's revision: (service, container, repository, cluster, template,
/// the account the service is in).
async fn import(target: &Target, spec: &str) -> Result<(String, String, String, String, String, Option<String>), Failure> {
    let (cluster, service) = spec
        .split_once('/')
        .filter(|(c, s)| !c.is_empty() && !s.is_empty())
        .ok_or_else(|| Failure::input(format!("--from-service: expected CLUSTER/SERVICE, got {spec:?}")))?;
    let clients = Clients::new(target).await;
    let ecs = AwsEcs::new(clients.ecs).with_reach(clients.reach);
    let services = ecs.describe_services(cluster, &[service.to_string()]).await.map_err(|e| Failure::platform(e.to_string()))?;
    let info = services.first().ok_or_else(|| {
        let location = ferry_core::template::Variables {
            region: target.region.clone().unwrap_or_default(),
            endpoint: target.endpoint_url.clone(),
            ..Default::default()
        };
        Failure::input(format!("service {service} not found in cluster {cluster} ({})", location.ecs_location()))
    })?;
    let account = ferry_core::config::account_of_arn(&info.arn).map(str::to_string);
    let td = ecs.describe_task_definition(&info.task_definition).await.map_err(|e| Failure::platform(e.to_string()))?;
    let mut definition = td.definition.clone();
    taskdef::strip_read_only(&mut definition);
    if let Some(object) = definition.as_object_mut()
        && let Some(tags) = object.get_mut("tags").and_then(|t| t.as_array_mut())
    {
        tags.retain(|t| !t.get("key").and_then(|k| k.as_str()).is_some_and(|k| k.starts_with("ferry:")));
    }
    let names = taskdef::container_names(&definition);
    let container = names
        .iter()
        .find(|n| n.as_str() == service)
        .or_else(|| names.first())
        .cloned()
        .ok_or_else(|| Failure::input("the task definition has no containers"))?;
    let image = taskdef::container_image(&definition, &container).unwrap_or_default().to_string();
    let repository = image.split('@').next().unwrap_or_default();
    let repository = match ferry_core::image_tag(repository) {
        Some(tag) => repository.trim_end_matches(tag).trim_end_matches(':'),
        None => repository,
    }
    .to_string();
    taskdef::set_image(&mut definition, &container, "{{ image }}").map_err(|e| Failure::input(e.to_string()))?;
    let text = serde_json::to_string_pretty(&definition).map_err(|e| Failure::internal(e.to_string()))?;
    Ok((service.to_string(), container, repository, cluster.to_string(), text, account))
}

/// Where `init` reads a service: an `--endpoint-url` that is a ferry local (its
/// `/_ferry/status` answers) with ferry local's credentials, so no AWS keys are needed (the
/// account is a 12-digit AWS_ACCESS_KEY_ID, as ferry local reads it, else 000000000000;
/// the region --region, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1); anything else
/// with the SDK's default chain.
async fn init_target(global: &GlobalArgs, args: &InitArgs) -> Target {
    let origin = Some("--endpoint-url or FERRY_ENDPOINT_URL".to_string());
    if let Some(url) = &global.endpoint_url
        && crate::local::instances::probe(url.trim_end_matches('/')).await.is_some()
    {
        let region = args
            .region
            .clone()
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok().filter(|r| !r.is_empty()))
            .unwrap_or_else(|| "us-east-1".into());
        let account = crate::local::push_image::account_from_access_key().unwrap_or_else(|| ferry_local::wire::DEFAULT_ACCOUNT.to_string());
        return Target {
            endpoint_origin: origin,
            credentials_origin: Some("ferry local's credentials".into()),
            ..Target::local(url, &account, &region)
        };
    }
    Target {
        region: args.region.clone(),
        endpoint_url: global.endpoint_url.clone(),
        endpoint_origin: global.endpoint_url.as_ref().and(origin),
        ..Target::default()
    }
}

fn is_ferry_local(target: &Target) -> bool {
    target.static_credentials.as_ref().is_some_and(|(_, secret)| secret == "ferry-local")
}

fn sample_template() -> serde_json::Value {
    serde_json::json!({
        "family": "{{ service }}-{{ environment }}",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": "arn:aws:iam::{{ account }}:role/ecsTaskExecutionRole",
        "containerDefinitions": [{
            "name": "web",
            "image": "{{ image }}",
            "essential": true,
            "portMappings": [{"containerPort": 8080}],
            "environment": [{"name": "VERSION", "value": "{{ version }}"}]
        }]
    })
}
