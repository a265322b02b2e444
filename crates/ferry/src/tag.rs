//! `ferry tag SERVICE VERSION ENV`: move an environment's registry tag by hand — the same
//! manifest copy a deploy does (no layer is pulled or pushed).

use ferry_core::ExitKind;
use ferry_core::platform::Registry;

use crate::Failure;
use crate::cli::{GlobalArgs, TagArgs};
use crate::output::{Printer, short_digest};
use crate::project;

pub async fn run(global: &GlobalArgs, args: TagArgs) -> Result<(), Failure> {
    let config = project::load_config(global)?;
    let service = config.service(&args.service).map_err(Failure::input)?;
    ferry_core::check_version(&args.version).map_err(Failure::input)?;
    let tag = config.image_tag(&args.environment, service).map_err(Failure::input)?.ok_or_else(|| {
        Failure::input(format!("environments.{}.image_tag is not set: there is no environment tag to move", args.environment))
    })?;
    config.environment(&args.environment).map_err(Failure::input)?;
    // A service in one of the `[registries]` needs no AWS client: do not build one.
    let (registry, location) = match config.registry_url(service) {
        Some(url) => {
            let location = ferry_core::template::Variables { registry_url: Some(url), ..Default::default() }.registry_location();
            (project::ProjectRegistry::new(&config, None)?, location)
        }
        None => {
            let connected = project::connect(&config, &args.environment, global.endpoint_url.as_deref()).await?;
            let location = connected.location(&config, Some(service));
            (connected.registry, location)
        }
    };
    let repository = service.repository_name();
    let moved =
        registry.copy_tag(repository, &args.version, &tag).await.map_err(|e| Failure::platform(e.to_string()))?.ok_or_else(|| {
            Failure::new(ExitKind::PreflightRefused, format!("image {repository}:{} not found in the registry ({location})", args.version))
        })?;
    let printer = Printer::new(global);
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result", "command": "tag", "repository": repository, "tag": tag,
            "digest": moved.digest, "previous_digest": moved.previous,
        }));
    } else {
        printer.out(&format!(
            "{repository}:{tag} → {} ({}){}",
            short_digest(&moved.digest),
            args.version,
            moved.previous.map(|b| format!(", was {}", short_digest(&b))).unwrap_or_default()
        ));
    }
    Ok(())
}
