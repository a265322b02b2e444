//! TagResource, UntagResource, ListTagsForResource, for every ECS resource ARN type.

use serde_json::json;

use super::{Ctx, cluster_not_found, render_tags, tags_from};
use crate::api::{ApiError, ApiResult, Input};
use crate::records::find_definition;

/// ECS allows at most 50 user tags per resource.
const MAX_TAGS: usize = 50;

pub fn tag(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = existing_resource(ctx, input)?;
    let new_tags = tags_from(input, "tags")?;
    let mut tags = ctx.partition.tags.get(&arn).cloned().unwrap_or_default();
    for tag in new_tags {
        match tags.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value,
            None => tags.push(tag),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ApiError::invalid_parameter(format!("A resource can have at most {MAX_TAGS} tags.")));
    }
    ctx.partition.tags.insert(arn, tags);
    Ok(json!({}))
}

pub fn untag(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = existing_resource(ctx, input)?;
    let keys = input.strings("tagKeys");
    if let Some(tags) = ctx.partition.tags.get_mut(&arn) {
        tags.retain(|t| !keys.contains(&t.key));
    }
    Ok(json!({}))
}

pub fn list(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = existing_resource(ctx, input)?;
    let tags = ctx.partition.tags.get(&arn).map(Vec::as_slice).unwrap_or(&[]);
    Ok(json!({ "tags": render_tags(tags) }))
}

/// The `resourceArn` of the request, which must name an ECS resource that exists.
fn existing_resource(ctx: &Ctx, input: &Input) -> Result<String, ApiError> {
    let arn = input.required_str("resourceArn")?.to_string();
    let not_found = || ApiError::client("ResourceNotFoundException", "The specified resource could not be found.");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "ecs" {
        return Err(ApiError::invalid_parameter(format!("Invalid resource ARN: {arn}")));
    }
    if parts[3] != ctx.caller.region || parts[4] != ctx.caller.account {
        return Err(not_found());
    }
    let resource = parts[5];
    let (kind, rest) = resource.split_once('/').unwrap_or((resource, ""));
    let exists = match kind {
        "cluster" => {
            if ctx.partition.clusters.get(rest).is_none_or(|c| c.status != "ACTIVE") {
                return Err(cluster_not_found());
            }
            true
        }
        "service" => ctx.partition.services.get(&arn).is_some_and(|s| s.status != "INACTIVE"),
        "task" => ctx.partition.tasks.contains_key(&arn),
        "task-definition" => find_definition(ctx.partition, &arn).is_some(),
        _ => return Err(ApiError::invalid_parameter(format!("Unsupported resource type in ARN: {arn}"))),
    };
    if exists { Ok(arn) } else { Err(not_found()) }
}
