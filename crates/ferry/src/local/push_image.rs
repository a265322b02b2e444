//! `ferry local push-image IMAGE`: put an image into ferry local's ECR without Docker.
//!
//! ferry local serves ECR's API but no registry (`/v2/`), and runs a task's `entryPoint` +
//! `command` rather than an image's content: an image only has to exist. So an image is
//! put as a manifest alone, through ECR's own CreateRepository and PutImage, as the demo
//! does (it calls [`push`]).

use std::path::Path;

use ferry_aws::platform::platform_error;
use ferry_aws::{Clients, Target};
use ferry_local::wire::DEFAULT_ACCOUNT;
use serde_json::{Value, json};

use super::instances;
use crate::Failure;
use crate::cli::{GlobalArgs, PushImageArgs};
use crate::output::Printer;

/// The media type of the manifests push-image writes.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DEFAULT_REGION: &str = "us-east-1";

/// An image put into ECR.
pub struct Pushed {
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG`: what a task definition names.
    pub image: String,
    pub digest: String,
    pub created_repository: bool,
    /// The tag already held exactly this manifest: nothing changed.
    pub unchanged: bool,
}

/// The image argument, split and checked.
#[derive(Debug, PartialEq, Eq)]
struct ImageName {
    account: Option<String>,
    region: Option<String>,
    repository: String,
    tag: String,
}

/// Text: what it did, where, and a container definition that runs the image. JSON: one
/// result object. `-q`: the image URI.
pub async fn run(printer: &Printer, global: &GlobalArgs, args: PushImageArgs) -> Result<(), Failure> {
    // Everything is checked before anything is sent.
    let name = parse_image(&args.image)?;
    let account = pick("account", name.account.as_deref(), args.account.as_deref(), "--account")?
        .or_else(account_from_access_key)
        .unwrap_or_else(|| DEFAULT_ACCOUNT.to_string());
    check_account(&account)?;
    // As the aws CLI picks it: AWS_REGION, else AWS_DEFAULT_REGION.
    let flag_region = args.region.clone().or_else(|| std::env::var("AWS_DEFAULT_REGION").ok().filter(|r| !r.is_empty()));
    let region = pick("region", name.region.as_deref(), flag_region.as_deref(), "--region (or AWS_REGION, AWS_DEFAULT_REGION)")?
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    check_region(&region)?;
    let (manifest, media_type) = match &args.manifest {
        Some(path) => read_manifest(path)?,
        None => (sample_manifest(&name.repository, &name.tag), OCI_MANIFEST.to_string()),
    };
    let (endpoint, which) = endpoint(printer, global).await?;

    let clients = Clients::new(&Target::local(&endpoint, &account, &region)).await;
    let pushed = push(&clients, &name.repository, &name.tag, &manifest, &media_type).await?;

    if printer.json() {
        // `createdRepository`, as it was first spelt, beside `created_repository`.
        printer.json_line(&super::result(
            "local push-image",
            json!({"image": pushed.image, "digest": pushed.digest, "repository": name.repository, "tag": name.tag,
                   "account": account, "region": region, "endpoint": endpoint,
                   "created_repository": pushed.created_repository, "createdRepository": pushed.created_repository,
                   "changed": !pushed.unchanged}),
        ));
        return Ok(());
    }
    if printer.quiet {
        printer.out(&pushed.image);
        return Ok(());
    }
    if pushed.created_repository {
        printer.out(&format!("created ECR repository {} (account {account}, region {region})", name.repository));
    }
    let what = if pushed.unchanged { "already there" } else { "pushed" };
    printer.out(&format!("{what}: {} → {}", pushed.image, pushed.digest));
    printer.out(&format!("  into {which}"));
    let exe = super::ferry_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "ferry".into());
    printer.out("ferry local runs no containers: a task runs its container definition's entryPoint + command");
    printer.out("as a process, and only checks that the image exists. To run ferry's sample HTTP app from it:");
    printer.out(&format!(
        "  {}",
        json!({"name": "web", "image": pushed.image, "essential": true, "memory": 128,
               "entryPoint": [exe], "command": ["sample-app"], "portMappings": [{"containerPort": 8080}]})
    ));
    Ok(())
}

/// Creates the repository if missing and puts `manifest` under `tag`. Idempotent: the same
/// manifest under the same tag again changes nothing.
pub async fn push(clients: &Clients, repository: &str, tag: &str, manifest: &str, media_type: &str) -> Result<Pushed, Failure> {
    let described = clients.ecr.describe_repositories().repository_names(repository).send().await;
    let (uri, created_repository) = match described {
        Ok(out) => (out.repositories().first().and_then(|r| r.repository_uri()).unwrap_or_default().to_string(), false),
        Err(e) if ferry_aws::ecr::error::ProvideErrorMetadata::code(&e) == Some("RepositoryNotFoundException") => {
            let created = clients
                .ecr
                .create_repository()
                .repository_name(repository)
                .send()
                .await
                .map_err(|e| Failure::platform(platform_error("ecr:CreateRepository", e).to_string()))?;
            (created.repository().and_then(|r| r.repository_uri()).unwrap_or_default().to_string(), true)
        }
        Err(e) => return Err(unreachable_or(platform_error("ecr:DescribeRepositories", e))),
    };
    let local_digest = ferry_registry::Digest::sha256(manifest.as_bytes()).to_string();
    let put = clients
        .ecr
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(manifest)
        .image_manifest_media_type(media_type)
        .send()
        .await;
    let (digest, unchanged) = match put {
        Ok(out) => {
            let digest = out.image().and_then(|i| i.image_id()).and_then(|i| i.image_digest()).unwrap_or(&local_digest);
            (digest.to_string(), false)
        }
        Err(e) if ferry_aws::ecr::error::ProvideErrorMetadata::code(&e) == Some("ImageAlreadyExistsException") => (local_digest, true),
        Err(e) => return Err(Failure::platform(platform_error("ecr:PutImage", e).to_string())),
    };
    Ok(Pushed { image: format!("{uri}:{tag}"), digest, created_repository, unchanged })
}

fn unreachable_or(error: ferry_core::platform::PlatformError) -> Failure {
    if error.code.is_none() || error.code.as_deref() == Some(ferry_aws::reach::UNREACHABLE) {
        return Failure::platform(format!("{error}\n  is ferry local running there? `ferry local status` says which one runs"));
    }
    Failure::platform(error.to_string())
}

/// --endpoint-url, else the one running ferry local `up` recorded.
async fn endpoint(printer: &Printer, global: &GlobalArgs) -> Result<(String, String), Failure> {
    if let Some(url) = &global.endpoint_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Failure::input(format!("--endpoint-url must be an http:// or https:// URL, got {url:?}")));
        }
        return Ok((url.trim_end_matches('/').to_string(), format!("the endpoint {url} (--endpoint-url)")));
    }
    let found = instances::discover().await;
    found.say_removed(printer);
    match found.live.as_slice() {
        [record] => Ok((record.endpoint.clone(), format!("ferry local {}", record.describe()))),
        [] => Err(Failure::platform(format!(
            "no ferry local is running (looked at {}); start one with `ferry local up --detach`, or name one with --endpoint-url URL",
            found.searched.join(" and ")
        ))),
        several => Err(Failure::input(format!(
            "{} ferry locals are running; say which with --endpoint-url:{}",
            several.len(),
            several.iter().map(|r| format!("\n  --endpoint-url {}  ({})", r.endpoint, r.describe())).collect::<String>()
        ))),
    }
}

/// The value from the image URI and the flag must agree when both are given.
fn pick(what: &str, from_uri: Option<&str>, from_flag: Option<&str>, flag: &str) -> Result<Option<String>, Failure> {
    match (from_uri, from_flag) {
        (Some(a), Some(b)) if a != b => Err(Failure::input(format!("the image names {what} {a} but {flag} says {b}; drop one"))),
        (Some(a), _) => Ok(Some(a.to_string())),
        (None, b) => Ok(b.map(str::to_string)),
    }
}

/// ferry local files requests under the access key id when it is 12 digits.
pub(crate) fn account_from_access_key() -> Option<String> {
    std::env::var("AWS_ACCESS_KEY_ID").ok().filter(|k| k.len() == 12 && k.bytes().all(|b| b.is_ascii_digit()))
}

fn check_account(account: &str) -> Result<(), Failure> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err(Failure::input(format!("the account must be 12 digits (e.g. 000000000000), got {account:?}")))
}

fn check_region(region: &str) -> Result<(), Failure> {
    // The rule ferry local itself applies to the credential scope.
    if ferry_local::wire::valid_region(region) {
        return Ok(());
    }
    Err(Failure::input(format!("{region:?} is not an AWS region (e.g. us-east-1, eu-west-1)")))
}

/// `[ACCOUNT.dkr.ecr.REGION.amazonaws.com/]REPOSITORY:TAG`.
fn parse_image(text: &str) -> Result<ImageName, Failure> {
    let usage = "expected REPOSITORY:TAG (e.g. web:1.0.0) or ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG";
    if text.contains('@') {
        return Err(Failure::input(format!("{text:?} names a digest; push-image puts a tag: {usage}")));
    }
    let (mut account, mut region, mut rest) = (None, None, text);
    if let Some((host, path)) = text.split_once('/')
        && (host.contains('.') || host.contains(':'))
    {
        let parts: Vec<&str> = host.split('.').collect();
        match parts.as_slice() {
            [acct, "dkr", "ecr", reg, "amazonaws", "com"] => {
                check_account(acct)?;
                account = Some(acct.to_string());
                region = Some(reg.to_string());
                rest = path;
            }
            _ => {
                return Err(Failure::input(format!(
                    "{host} is not an ECR registry; ferry local's ECR is ACCOUNT.dkr.ecr.REGION.amazonaws.com ({usage})"
                )));
            }
        }
    }
    let Some((repository, tag)) = rest.rsplit_once(':') else {
        return Err(Failure::input(format!("{text:?} has no tag: {usage}")));
    };
    check_repository(repository)?;
    check_tag(tag)?;
    Ok(ImageName { account, region, repository: repository.to_string(), tag: tag.to_string() })
}

/// ECR's repository name rule, as ferry local checks it ([`ferry_local::valid_repository_name`]).
fn check_repository(name: &str) -> Result<(), Failure> {
    if ferry_local::valid_repository_name(name) {
        return Ok(());
    }
    Err(Failure::input(format!(
        "{name:?} is not an ECR repository name: 2 to 256 characters, lowercase letters and digits, separated by '.', '_', '-' or '/' (e.g. web, team/api)"
    )))
}

/// An image tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), Failure> {
    let ok = (1..=128).contains(&tag.len())
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        return Ok(());
    }
    Err(Failure::input(format!(
        "{tag:?} is not an image tag: 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' or '-' (e.g. 1.0.0)"
    )))
}

/// A manifest file: JSON with `schemaVersion` 2, sent byte for byte (its SHA-256 is the
/// digest). Returns it with its media type.
fn read_manifest(path: &Path) -> Result<(String, String), Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::input(format!("cannot read the manifest {}: {e}", path.display())))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Failure::input(format!("{} is not JSON ({e}); expected an image manifest (`skopeo inspect --raw`)", path.display()))
    })?;
    if value.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        return Err(Failure::input(format!(
            "{} is not an image manifest: it needs \"schemaVersion\": 2 (OCI or Docker v2, as `skopeo inspect --raw docker://IMAGE` prints)",
            path.display()
        )));
    }
    let media_type = value.get("mediaType").and_then(Value::as_str).unwrap_or(OCI_MANIFEST).to_string();
    Ok((text, media_type))
}

/// A small, well-formed OCI image manifest, the same every time for the same repository and
/// tag, and different for any other: like a build, each tag its own digest.
pub fn sample_manifest(repository: &str, tag: &str) -> String {
    let blob = |kind: &str| ferry_registry::Digest::sha256(format!("ferry local sample {kind} {repository}:{tag}").as_bytes()).to_string();
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob("config"), "size": 512},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob("layer"), "size": 1048576}]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_a_repository_and_a_tag_or_a_whole_ecr_uri() {
        let plain = parse_image("team/api:1.0.0").unwrap();
        assert_eq!((plain.repository.as_str(), plain.tag.as_str(), plain.account, plain.region), ("team/api", "1.0.0", None, None));
        let uri = parse_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:2").unwrap();
        assert_eq!(uri.account.as_deref(), Some("123456789012"));
        assert_eq!(uri.region.as_deref(), Some("eu-west-1"));
        assert_eq!(uri.repository, "web");
    }

    #[test]
    fn bad_image_names_are_refused_with_what_was_expected() {
        for bad in ["web", "Web:1", "web:", "web:-x", "docker.io/library/web:1", "web@sha256:abc", "w:1", "a//b:1"] {
            assert!(parse_image(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn the_sample_manifest_is_stable_per_tag_and_differs_between_tags() {
        assert_eq!(sample_manifest("web", "1"), sample_manifest("web", "1"));
        assert_ne!(sample_manifest("web", "1"), sample_manifest("web", "2"));
    }
}
