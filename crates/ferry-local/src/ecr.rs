//! ECR (`AmazonEC2ContainerRegistry_V20150921`): repositories and image manifests.
//!
//! ferry local's ECR holds manifests only (no layers): enough for what deploy tools do with
//! a registry (resolve a tag to a digest, retag by BatchGetImage + PutImage, check that an
//! image exists) and for tasks to fail with `CannotPullContainerError` when their image is
//! missing, as they do on ECS.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::api::{ApiError, ApiResult, Ctx, Input, paginate, put};
use crate::state::{Image, Repository};

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "CreateRepository" => create_repository(ctx, input),
        "DescribeRepositories" => describe_repositories(ctx, input),
        "DeleteRepository" => delete_repository(ctx, input),
        "PutImage" => put_image(ctx, input),
        "BatchGetImage" => batch_get_image(ctx, input),
        "DescribeImages" => describe_images(ctx, input),
        "ListImages" => list_images(ctx, input),
        "BatchDeleteImage" => batch_delete_image(ctx, input),
        _ => return None,
    })
}

fn repository_not_found(ctx: &Ctx, name: &str) -> ApiError {
    ApiError::client(
        "RepositoryNotFoundException",
        format!("The repository with name '{name}' does not exist in the registry with id '{}'", ctx.caller.account),
    )
}

/// ECR's repository name rule (the model's pattern
/// `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`, 2 to 256 characters):
/// path components of lowercase letters and digits, each separator ('.', '_', '-') between
/// two of them. Also what `ferry local push-image` checks before it sends anything.
pub fn valid_repository_name(name: &str) -> bool {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.split(['.', '_', '-']).all(|run| !run.is_empty() && run.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    };
    (2..=256).contains(&name.len()) && name.split('/').all(component_ok)
}

fn valid_tag(tag: &str) -> bool {
    (1..=300).contains(&tag.len()) && tag.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn create_repository(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("repositoryName")?.to_string();
    if !valid_repository_name(&name) {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''; got '{name}'"
        )));
    }
    if ctx.partition.repositories.contains_key(&name) {
        return Err(ApiError::client(
            "RepositoryAlreadyExistsException",
            format!("The repository with name '{name}' already exists in the registry with id '{}'", ctx.caller.account),
        ));
    }
    let tags = input
        .array("tags")
        .iter()
        .map(|t| crate::state::Tag {
            key: t.get("Key").and_then(Value::as_str).unwrap_or_default().to_string(),
            value: t.get("Value").and_then(Value::as_str).unwrap_or_default().to_string(),
        })
        .collect();
    let repository = Repository {
        arn: ctx.caller.arn("ecr", &format!("repository/{name}")),
        uri: format!("{}.dkr.ecr.{}.amazonaws.com/{name}", ctx.caller.account, ctx.caller.region),
        name: name.clone(),
        created_at: ctx.now,
        image_tag_mutability: input.str("imageTagMutability").unwrap_or("MUTABLE").to_string(),
        image_scanning_configuration: input.value("imageScanningConfiguration").cloned().unwrap_or_else(|| json!({"scanOnPush": false})),
        encryption_configuration: input.value("encryptionConfiguration").cloned().unwrap_or_else(|| json!({"encryptionType": "AES256"})),
        images: Default::default(),
        tags,
    };
    let rendered = render_repository(ctx, &repository);
    ctx.partition.repositories.insert(name, repository);
    Ok(json!({ "repository": rendered }))
}

fn render_repository(ctx: &Ctx, repository: &Repository) -> Value {
    json!({
        "repositoryArn": repository.arn,
        "registryId": ctx.caller.account,
        "repositoryName": repository.name,
        "repositoryUri": repository.uri,
        "createdAt": repository.created_at,
        "imageTagMutability": repository.image_tag_mutability,
        "imageScanningConfiguration": repository.image_scanning_configuration,
        "encryptionConfiguration": repository.encryption_configuration,
    })
}

fn describe_repositories(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let names = input.strings("repositoryNames");
    let repositories: Vec<Value> = if names.is_empty() {
        ctx.partition.repositories.values().map(|r| render_repository(ctx, r)).collect()
    } else {
        let mut found = Vec::new();
        for name in &names {
            let repository = ctx.partition.repositories.get(name).ok_or_else(|| repository_not_found(ctx, name))?;
            found.push(render_repository(ctx, repository));
        }
        found
    };
    let (page, next) = paginate(&repositories, input.str("nextToken"), input.i64("maxResults"), 100, 1000)?;
    let mut out = Map::new();
    out.insert("repositories".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

fn delete_repository(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("repositoryName")?;
    let repository = ctx.partition.repositories.get(name).ok_or_else(|| repository_not_found(ctx, name))?;
    if !repository.images.is_empty() && input.bool("force") != Some(true) {
        return Err(ApiError::client(
            "RepositoryNotEmptyException",
            format!(
                "The repository with name '{name}' in registry with id '{}' cannot be deleted because it still contains images",
                ctx.caller.account
            ),
        ));
    }
    let rendered = render_repository(ctx, repository);
    ctx.partition.repositories.remove(name);
    Ok(json!({ "repository": rendered }))
}

const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
const DOCKER_SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// ECR's answer to a manifest it cannot take. ECR says "Invalid JSON syntax" for any
/// manifest it cannot read as one of its formats, valid JSON or not (an OCI manifest without
/// `mediaType` and without `imageManifestMediaType`: aws/aws-cli#6745, containers/image#584);
/// ferry local adds what it found wrong after ECR's words.
fn invalid_manifest(why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_parameter(format!(
        "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax' (ferry local: {why})"
    ))
}

/// Checks a manifest as ECR reads it and returns its media type: a JSON object in one of the
/// formats ECR stores (Docker image manifest V2 schema 1 and schema 2, Docker manifest list,
/// OCI image manifest and index), with the members its format requires. The media type is
/// the manifest's `mediaType`, else `imageManifestMediaType` ("If you push an image manifest
/// that does not contain the mediaType field, you must specify the imageManifestMediaType",
/// the PutImage reference); when both are given they must agree.
fn check_manifest(text: &str, given: Option<&str>) -> Result<(Value, String), ApiError> {
    let manifest: Value = serde_json::from_str(text).map_err(|e| invalid_manifest(format_args!("not JSON: {e}")))?;
    let Some(object) = manifest.as_object() else {
        return Err(invalid_manifest("a manifest is a JSON object"));
    };
    let schema_version = object.get("schemaVersion").and_then(Value::as_i64);
    let declared = match object.get("mediaType") {
        None => None,
        Some(Value::String(m)) => Some(m.as_str()),
        Some(_) => return Err(invalid_manifest("mediaType must be a string")),
    };
    if let (Some(declared), Some(given)) = (declared, given)
        && declared != given
    {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid parameter at 'imageManifestMediaType' failed to satisfy constraint: 'must match the mediaType of the image manifest'; got '{given}', the manifest says '{declared}'"
        )));
    }
    let media_type = match (declared.or(given), schema_version) {
        (Some(m), _) => m.to_string(),
        // Schema 1 manifests carry no mediaType; a signed one has its JWS signatures.
        (None, Some(1)) if object.contains_key("signatures") => DOCKER_SCHEMA1_SIGNED.to_string(),
        (None, Some(1)) => DOCKER_SCHEMA1.to_string(),
        (None, _) => {
            return Err(invalid_manifest("the manifest has no mediaType and the request no imageManifestMediaType"));
        }
    };
    let wanted_schema = if [DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED].contains(&media_type.as_str()) { 1 } else { 2 };
    if schema_version != Some(wanted_schema) {
        return Err(invalid_manifest(format_args!("a {media_type} manifest has schemaVersion {wanted_schema}")));
    }
    match media_type.as_str() {
        DOCKER_SCHEMA2 | OCI_MANIFEST => {
            descriptor(object.get("config"), "config")?;
            descriptors(object.get("layers"), "layers")?;
        }
        DOCKER_LIST | OCI_INDEX => descriptors(object.get("manifests"), "manifests")?,
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => {
            for member in ["name", "tag"] {
                if !object.get(member).is_some_and(Value::is_string) {
                    return Err(invalid_manifest(format_args!("a schema 1 manifest has a {member} string")));
                }
            }
            let layers = object.get("fsLayers").and_then(Value::as_array).filter(|l| !l.is_empty());
            let Some(layers) = layers else {
                return Err(invalid_manifest("a schema 1 manifest has fsLayers, an array of {blobSum}"));
            };
            if !layers.iter().all(|l| l.get("blobSum").and_then(Value::as_str).is_some_and(is_digest)) {
                return Err(invalid_manifest("each of fsLayers has a blobSum digest"));
            }
            if media_type == DOCKER_SCHEMA1_SIGNED && !object.get("signatures").is_some_and(Value::is_array) {
                return Err(invalid_manifest("a signed schema 1 manifest has signatures"));
            }
        }
        other => {
            return Err(invalid_manifest(format_args!(
                "'{other}' is not a manifest media type ECR stores ({DOCKER_SCHEMA2}, {OCI_MANIFEST}, {DOCKER_LIST}, {OCI_INDEX}, {DOCKER_SCHEMA1_SIGNED})"
            )));
        }
    }
    Ok((manifest, media_type))
}

/// A digest as registries write them: `sha256:` and 64 lowercase hex digits (or sha512, 128).
pub(crate) fn is_digest(digest: &str) -> bool {
    let hex = |h: &str, len: usize| h.len() == len && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match digest.split_once(':') {
        Some(("sha256", h)) => hex(h, 64),
        Some(("sha512", h)) => hex(h, 128),
        _ => false,
    }
}

/// A content descriptor: `mediaType`, `digest` and `size`, all required (OCI image spec,
/// descriptor.md; the Docker V2 schema 2 spec likewise).
fn descriptor(value: Option<&Value>, at: &str) -> Result<(), ApiError> {
    let Some(d) = value.and_then(Value::as_object) else {
        return Err(invalid_manifest(format_args!("{at} must be a descriptor {{mediaType, digest, size}}")));
    };
    if !d.get("mediaType").is_some_and(Value::is_string) {
        return Err(invalid_manifest(format_args!("{at}.mediaType must be a string")));
    }
    if !d.get("digest").and_then(Value::as_str).is_some_and(is_digest) {
        return Err(invalid_manifest(format_args!("{at}.digest must be a digest such as sha256:<64 hex digits>")));
    }
    if d.get("size").and_then(Value::as_i64).is_none_or(|s| s < 0) {
        return Err(invalid_manifest(format_args!("{at}.size must be a whole number of bytes")));
    }
    Ok(())
}

fn descriptors(value: Option<&Value>, at: &str) -> Result<(), ApiError> {
    let Some(list) = value.and_then(Value::as_array) else {
        return Err(invalid_manifest(format_args!("{at} must be an array of descriptors")));
    };
    list.iter().enumerate().try_for_each(|(i, d)| descriptor(Some(d), &format!("{at}[{i}]")))
}

/// The images a manifest list or index refers to; ECR refuses one whose images are not in
/// the repository (`ReferencedImagesNotFoundException`).
fn referenced_digests(manifest: &Value) -> Vec<&str> {
    manifest
        .get("manifests")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|d| d.get("digest").and_then(Value::as_str)).collect())
        .unwrap_or_default()
}

/// What a manifest says its image weighs: config plus layers (or the manifests of an index).
fn size_of(manifest: &Value) -> i64 {
    let sum = |key: &str| {
        manifest.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(|l| l.get("size")?.as_i64()).sum()).unwrap_or(0)
    };
    manifest.pointer("/config/size").and_then(Value::as_i64).unwrap_or(0) + sum("layers") + sum("manifests")
}

fn put_image(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("repositoryName")?.to_string();
    let manifest_text = input.required_str("imageManifest")?.to_string();
    let (manifest, media_type) = check_manifest(&manifest_text, input.str("imageManifestMediaType"))?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(manifest_text.as_bytes())));
    if let Some(given) = input.str("imageDigest")
        && given != digest
    {
        return Err(ApiError::client(
            "ImageDigestDoesNotMatchException",
            format!("The provided image digest '{given}' does not match the calculated digest '{digest}'"),
        ));
    }
    let tag = input.str("imageTag").map(str::to_string);
    if let Some(tag) = &tag
        && !valid_tag(tag)
    {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy regular expression [a-zA-Z0-9._-]+'; got '{tag}'"
        )));
    }
    let account = ctx.caller.account.clone();
    let not_found = repository_not_found(ctx, &name);
    let repository = ctx.partition.repositories.get_mut(&name).ok_or(not_found)?;
    let missing: Vec<&str> = referenced_digests(&manifest).into_iter().filter(|d| !repository.images.contains_key(*d)).collect();
    if !missing.is_empty() {
        return Err(ApiError::client(
            "ReferencedImagesNotFoundException",
            format!("The manifest list references images that do not exist in the repository with name '{name}': {}", missing.join(", ")),
        ));
    }
    if let Some(existing) = repository.images.get(&digest) {
        let already = match &tag {
            Some(t) => existing.tags.contains(t),
            None => true,
        };
        if already {
            let with_tag = tag.as_ref().map(|t| format!(" and tag '{t}'")).unwrap_or_default();
            return Err(ApiError::client(
                "ImageAlreadyExistsException",
                format!(
                    "Image with digest '{digest}'{with_tag} already exists in the repository with name '{name}' in registry with id '{account}'"
                ),
            ));
        }
    }
    if let Some(tag) = &tag {
        let holder = repository.digest_of_tag(tag).map(str::to_string);
        if let Some(holder) = holder.filter(|h| *h != digest) {
            if repository.image_tag_mutability == "IMMUTABLE" {
                return Err(ApiError::client(
                    "ImageTagAlreadyExistsException",
                    format!(
                        "The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the repository is immutable."
                    ),
                ));
            }
            if let Some(previous) = repository.images.get_mut(&holder) {
                previous.tags.retain(|t| t != tag);
            }
        }
    }
    let image = repository.images.entry(digest.clone()).or_insert_with(|| Image {
        manifest: manifest_text.clone(),
        media_type: media_type.clone(),
        tags: Vec::new(),
        pushed_at: ctx.now,
        size_in_bytes: size_of(&manifest),
    });
    if let Some(tag) = &tag {
        image.tags.push(tag.clone());
    }
    let mut image_id = Map::new();
    image_id.insert("imageDigest".into(), json!(digest));
    put(&mut image_id, "imageTag", tag);
    Ok(json!({
        "image": {
            "registryId": account,
            "repositoryName": name,
            "imageId": image_id,
            "imageManifest": manifest_text,
            "imageManifestMediaType": media_type,
        }
    }))
}

/// Finds the digest an image id names, or the failure code ECR reports for it.
fn lookup(repository: &Repository, id: &Value) -> Result<String, (&'static str, &'static str)> {
    let digest = id.get("imageDigest").and_then(Value::as_str);
    let tag = id.get("imageTag").and_then(Value::as_str);
    // ECR's ImageFailureCode InvalidImageDigest: a digest that is not one.
    if let Some(d) = digest
        && !is_digest(d)
    {
        // The code is ECR's (the model's ImageFailureCode); the reason's wording is ours.
        return Err(("InvalidImageDigest", "Invalid image digest: expected sha256: and 64 hex digits"));
    }
    match (digest, tag) {
        (Some(d), Some(t)) => match repository.images.get(d) {
            Some(image) if image.tags.iter().any(|x| x == t) => Ok(d.to_string()),
            Some(_) => Err(("ImageTagDoesNotMatchDigest", "Invalid image tag for image digest")),
            None => Err(("ImageNotFound", "Requested image not found")),
        },
        (Some(d), None) => {
            if repository.images.contains_key(d) {
                Ok(d.to_string())
            } else {
                Err(("ImageNotFound", "Requested image not found"))
            }
        }
        (None, Some(t)) => repository.digest_of_tag(t).map(str::to_string).ok_or(("ImageNotFound", "Requested image not found")),
        (None, None) => Err(("MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null")),
    }
}

fn batch_get_image(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("repositoryName")?;
    let repository = ctx.partition.repositories.get(name).ok_or_else(|| repository_not_found(ctx, name))?;
    let accepted = input.strings("acceptedMediaTypes");
    let mut images = Vec::new();
    let mut failures = Vec::new();
    for id in input.array("imageIds") {
        match lookup(repository, id) {
            Ok(digest) => {
                let image = &repository.images[&digest];
                if !accepted.is_empty() && !accepted.contains(&image.media_type) {
                    failures.push(json!({"imageId": id, "failureCode": "UnsupportedImageType", "failureReason": "The image's media type is not among the accepted media types"}));
                    continue;
                }
                let mut image_id = Map::new();
                image_id.insert("imageDigest".into(), json!(digest));
                put(&mut image_id, "imageTag", id.get("imageTag").cloned());
                images.push(json!({
                    "registryId": ctx.caller.account,
                    "repositoryName": name,
                    "imageId": image_id,
                    "imageManifest": image.manifest,
                    "imageManifestMediaType": image.media_type,
                }));
            }
            Err((code, reason)) => failures.push(json!({"imageId": id, "failureCode": code, "failureReason": reason})),
        }
    }
    Ok(json!({ "images": images, "failures": failures }))
}

fn tag_status_filter<'a>(input: &Input<'a>) -> &'a str {
    input.value("filter").and_then(|f| f.get("tagStatus")).and_then(Value::as_str).unwrap_or("ANY")
}

fn describe_images(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("repositoryName")?;
    let repository = ctx.partition.repositories.get(name).ok_or_else(|| repository_not_found(ctx, name))?;
    let ids = input.array("imageIds");
    if !ids.is_empty() && (input.value("maxResults").is_some() || input.value("nextToken").is_some()) {
        return Err(ApiError::invalid_parameter("maxResults and nextToken cannot be used with imageIds."));
    }
    let digests: Vec<String> = if ids.is_empty() {
        let status = tag_status_filter(input);
        repository
            .images
            .iter()
            .filter(|(_, i)| match status {
                "TAGGED" => !i.tags.is_empty(),
                "UNTAGGED" => i.tags.is_empty(),
                _ => true,
            })
            .map(|(d, _)| d.clone())
            .collect()
    } else {
        let mut found = Vec::new();
        for id in ids {
            let digest = lookup(repository, id).map_err(|(code, _)| {
                if code == "InvalidImageDigest" {
                    let digest = id.get("imageDigest").and_then(Value::as_str).unwrap_or_default();
                    return ApiError::invalid_parameter(format!(
                        "Invalid parameter at 'imageDigest' failed to satisfy constraint: 'sha256: and 64 hex digits'; got '{digest}'"
                    ));
                }
                ApiError::client(
                    "ImageNotFoundException",
                    format!(
                        "The image with imageId {{imageDigest:'{}', imageTag:'{}'}} does not exist within the repository with name '{name}' in the registry with id '{}'",
                        id.get("imageDigest").and_then(Value::as_str).unwrap_or("null"),
                        id.get("imageTag").and_then(Value::as_str).unwrap_or("null"),
                        ctx.caller.account
                    ),
                )
            })?;
            if !found.contains(&digest) {
                found.push(digest);
            }
        }
        found
    };
    let details: Vec<Value> = digests
        .iter()
        .map(|digest| {
            let image = &repository.images[digest];
            let manifest: Value = serde_json::from_str(&image.manifest).unwrap_or_default();
            let mut out = Map::new();
            out.insert("registryId".into(), json!(ctx.caller.account));
            out.insert("repositoryName".into(), json!(name));
            out.insert("imageDigest".into(), json!(digest));
            if !image.tags.is_empty() {
                out.insert("imageTags".into(), json!(image.tags));
            }
            out.insert("imageSizeInBytes".into(), json!(image.size_in_bytes));
            out.insert("imagePushedAt".into(), json!(image.pushed_at));
            out.insert("imageManifestMediaType".into(), json!(image.media_type));
            put(&mut out, "artifactMediaType", manifest.pointer("/config/mediaType").cloned());
            Value::Object(out)
        })
        .collect();
    let (page, next) = paginate(&details, input.str("nextToken"), input.i64("maxResults"), 100, 1000)?;
    let mut out = Map::new();
    out.insert("imageDetails".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

fn list_images(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("repositoryName")?;
    let repository = ctx.partition.repositories.get(name).ok_or_else(|| repository_not_found(ctx, name))?;
    let status = tag_status_filter(input);
    let mut ids = Vec::new();
    for (digest, image) in &repository.images {
        if image.tags.is_empty() {
            if status != "TAGGED" {
                ids.push(json!({"imageDigest": digest}));
            }
        } else if status != "UNTAGGED" {
            ids.extend(image.tags.iter().map(|t| json!({"imageDigest": digest, "imageTag": t})));
        }
    }
    let (page, next) = paginate(&ids, input.str("nextToken"), input.i64("maxResults"), 100, 1000)?;
    let mut out = Map::new();
    out.insert("imageIds".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

fn batch_delete_image(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("repositoryName")?;
    let not_found = repository_not_found(ctx, name);
    let repository = ctx.partition.repositories.get_mut(name).ok_or(not_found)?;
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for id in input.array("imageIds") {
        let digest = match lookup(repository, id) {
            Ok(d) => d,
            Err((code, reason)) => {
                failures.push(json!({"imageId": id, "failureCode": code, "failureReason": reason}));
                continue;
            }
        };
        match id.get("imageTag").and_then(Value::as_str) {
            // Deleting by tag removes the tag; the image goes with its last tag.
            Some(tag) => {
                if let Some(image) = repository.images.get_mut(&digest) {
                    image.tags.retain(|t| t != tag);
                    if image.tags.is_empty() {
                        repository.images.remove(&digest);
                    }
                }
                deleted.push(json!({"imageDigest": digest, "imageTag": tag}));
            }
            None => {
                if let Some(image) = repository.images.remove(&digest) {
                    if image.tags.is_empty() {
                        deleted.push(json!({"imageDigest": digest}));
                    }
                    deleted.extend(image.tags.iter().map(|t| json!({"imageDigest": digest, "imageTag": t})));
                }
            }
        }
    }
    Ok(json!({ "imageIds": deleted, "failures": failures }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_malformed_digest_is_an_invalid_image_digest_not_a_missing_image() {
        let repository = super::Repository {
            arn: String::new(),
            name: "web".into(),
            uri: String::new(),
            created_at: 0.0,
            image_tag_mutability: "MUTABLE".into(),
            image_scanning_configuration: serde_json::json!({}),
            encryption_configuration: serde_json::json!({}),
            images: Default::default(),
            tags: Vec::new(),
        };
        let failure = super::lookup(&repository, &serde_json::json!({"imageDigest": "sha256:nothex"}));
        assert_eq!(failure.map_err(|(code, _)| code), Err("InvalidImageDigest"));
        let missing = super::lookup(&repository, &serde_json::json!({"imageDigest": format!("sha256:{}", "a".repeat(64))}));
        assert_eq!(missing.map_err(|(code, _)| code), Err("ImageNotFound"));
    }

    use super::*;

    fn oci(config_digest: &str) -> Value {
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", "b".repeat(64)), "size": 10}]
        })
    }

    fn refused(manifest: &str, given: Option<&str>) -> String {
        let e = check_manifest(manifest, given).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException", "{manifest}");
        e.message
    }

    #[test]
    fn manifests_of_every_format_ecr_stores_are_accepted() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let (_, m) = check_manifest(&oci(&digest).to_string(), None).unwrap();
        assert_eq!(m, OCI_MANIFEST);
        let mut docker = oci(&digest);
        docker["mediaType"] = json!(DOCKER_SCHEMA2);
        docker["layers"] = json!([]);
        assert_eq!(check_manifest(&docker.to_string(), Some(DOCKER_SCHEMA2)).unwrap().1, DOCKER_SCHEMA2);
        // Without mediaType, the request's imageManifestMediaType says what it is.
        let mut bare = oci(&digest);
        bare.as_object_mut().unwrap().remove("mediaType");
        assert_eq!(check_manifest(&bare.to_string(), Some(OCI_MANIFEST)).unwrap().1, OCI_MANIFEST);
        let index =
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": 300}]});
        assert_eq!(check_manifest(&index.to_string(), None).unwrap().1, OCI_INDEX);
        let list = json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": []});
        assert_eq!(check_manifest(&list.to_string(), None).unwrap().1, DOCKER_LIST);
        let schema1 = json!({"schemaVersion": 1, "name": "web", "tag": "1", "architecture": "amd64", "fsLayers": [{"blobSum": digest}],
            "history": [], "signatures": [{"header": {}, "signature": "x", "protected": "y"}]});
        assert_eq!(check_manifest(&schema1.to_string(), None).unwrap().1, DOCKER_SCHEMA1_SIGNED);
    }

    #[test]
    fn put_image_refuses_manifests_ecr_cannot_read() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for (manifest, why) in [
            ("{}".to_string(), "no mediaType"),
            ("[]".to_string(), "JSON object"),
            (r#"{"schemaVersion": 2}"#.to_string(), "no mediaType"),
            (format!(r#"{{"schemaVersion": 2, "mediaType": "{OCI_MANIFEST}"}}"#), "config"),
            (format!(r#"{{"schemaVersion": 2, "mediaType": "{OCI_INDEX}"}}"#), "manifests"),
            (format!(r#"{{"schemaVersion": 1, "mediaType": "{OCI_MANIFEST}", "config": {{}}, "layers": []}}"#), "schemaVersion 2"),
            (r#"{"schemaVersion": 2, "mediaType": "text/plain"}"#.to_string(), "not a manifest media type"),
            ("not json".to_string(), "not JSON"),
        ] {
            let message = refused(&manifest, None);
            assert!(
                message.starts_with("Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"),
                "{message}"
            );
            assert!(message.contains(why), "{manifest}: {message}");
        }
        let mut broken = oci("sha256:short");
        assert!(refused(&broken.to_string(), None).contains("config.digest"));
        broken = oci(&digest);
        broken["layers"][0]["size"] = json!(-1);
        assert!(refused(&broken.to_string(), None).contains("layers[0].size"));
        broken = oci(&digest);
        broken["layers"] = json!({});
        assert!(refused(&broken.to_string(), None).contains("layers must be an array"));
    }

    #[test]
    fn put_image_refuses_a_media_type_the_manifest_contradicts() {
        let manifest = oci(&format!("sha256:{}", "a".repeat(64))).to_string();
        let message = refused(&manifest, Some(DOCKER_SCHEMA2));
        assert!(message.starts_with("Invalid parameter at 'imageManifestMediaType'"), "{message}");
        assert!(message.contains(OCI_MANIFEST), "{message}");
    }

    #[test]
    fn repository_names_follow_the_ecr_pattern() {
        assert!(valid_repository_name("team/web-api"));
        assert!(!valid_repository_name("Web"));
        assert!(!valid_repository_name("web/"));
        assert!(!valid_repository_name("a"));
        assert!(!valid_repository_name("a..b") && !valid_repository_name("a.-b") && !valid_repository_name("a--b"));
        assert!(valid_repository_name("a.b-c_d/e1"));
    }
}
