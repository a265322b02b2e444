//! Move an environment's registry tag by hand: the same manifest copy a deploy does (no
//! layer is pulled or pushed).

use ferry_core::platform::Registry;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::project::{self, Context, ProjectRegistry};

/// Which service's environment tag to point at which version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TagInput {
    pub service: String,
    pub version: String,
    pub environment: String,
}

/// The tag moved.
#[derive(Clone, Debug, Serialize)]
pub struct TagResult {
    pub repository: String,
    pub tag: String,
    /// The version it was moved to.
    #[serde(skip)]
    pub version: String,
    pub digest: String,
    /// What the tag pointed at before, when it existed.
    pub previous_digest: Option<String>,
}

/// Copies `version`'s manifest to the environment's tag. Errors: an unknown service or
/// environment, a bad version, no `image_tag` configured (invalid input, exit 2); the
/// version not in the registry (refused, 4, saying where it looked); the registry (3).
pub async fn tag(ctx: &Context<'_>, input: TagInput) -> Result<TagResult> {
    let config = project::load_config(ctx.project)?;
    let service = config.service(&input.service).map_err(Error::config)?;
    ferry_core::check_version(&input.version).map_err(Error::config)?;
    let tag = config.image_tag(&input.environment, service).map_err(Error::config)?.ok_or_else(|| {
        Error::input(format!("environments.{}.image_tag is not set: there is no environment tag to move", input.environment))
    })?;
    config.environment(&input.environment).map_err(Error::config)?;
    // A service in one of the `[registries]` needs no AWS client: do not build one.
    let (registry, location) = match config.registry_url(service) {
        Some(url) => {
            let location = ferry_core::template::Variables { registry_url: Some(url), ..Default::default() }.registry_location();
            (ProjectRegistry::new(&config, None)?, location)
        }
        None => {
            let connected = project::connect(&config, &input.environment, ctx.project.endpoint_url.as_deref()).await?;
            let location = connected.location(&config, Some(service));
            (connected.registry, location)
        }
    };
    let repository = service.repository_name();
    let moved = registry
        .copy_tag(repository, &input.version, &tag)
        .await?
        .ok_or_else(|| Error::refused(format!("image {repository}:{} not found in the registry ({location})", input.version)))?;
    Ok(TagResult { repository: repository.to_string(), tag, version: input.version, digest: moved.digest, previous_digest: moved.previous })
}
