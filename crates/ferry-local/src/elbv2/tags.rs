//! ELBv2: AddTags, RemoveTags, DescribeTags, for load balancers, target groups, listeners and
//! rules (their tags live in `Partition::elb_tags`, by ARN).
//!
//! The create handlers (CreateLoadBalancer, CreateTargetGroup, CreateListener, CreateRule)
//! take `Tags` too: they validate them with [`tags_from`] before changing anything, then
//! store them with [`put_tags`] once the resource exists.
//!
//! Limits and errors follow the ELBv2 API reference: at most 50 tags per resource
//! (`TooManyTags`), a key given twice in one request is `DuplicateTagKeys`, keys are 1–128
//! and values 0–256 characters of letters, digits, spaces and `_.:/=+-@`, and keys starting
//! with `aws:` are reserved (`ValidationError`). An ARN of a resource that does not exist is
//! answered with the NotFound error of its kind (`LoadBalancerNotFound`,
//! `TargetGroupNotFound`, `ListenerNotFound`, `RuleNotFound`).

use serde_json::{Value, json};

use super::{Ctx, ResourceKind, key_values, validation};
use crate::api::{ApiError, ApiResult, Input};
use crate::state::{Partition, Tag};

/// ELBv2 allows at most 50 tags per resource.
pub(crate) const MAX_TAGS: usize = 50;

/// DescribeTags takes at most 20 resources per call.
const MAX_DESCRIBED: usize = 20;

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "AddTags" => add(ctx, input),
        "RemoveTags" => remove(ctx, input),
        "DescribeTags" => describe(ctx, input),
        _ => return None,
    })
}

/// The `Tags` of a create request, validated (keys, values, duplicates, at most 50), in
/// request order. Nothing is stored: call [`put_tags`] once the resource is created.
///
/// Errors: `ValidationError`, `DuplicateTagKeys`, `TooManyTags`.
pub(crate) fn tags_from(input: &Input) -> Result<Vec<Tag>, ApiError> {
    let tags = parse_tags(input.array("Tags"), "tags")?;
    if tags.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    Ok(tags)
}

/// Stores `tags` (from [`tags_from`]) as the tags of the new resource `arn`, replacing any
/// it had.
pub(crate) fn put_tags(partition: &mut Partition, arn: &str, tags: Vec<Tag>) {
    partition.elb_tags.insert(arn.to_string(), tags);
}

/// The tags of `arn` as the API answers them (`[{Key, Value}]`).
pub(crate) fn render_tags(partition: &Partition, arn: &str) -> Value {
    let tags = partition.elb_tags.get(arn).map(Vec::as_slice).unwrap_or(&[]);
    Value::Array(tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect())
}

/// AddTags: adds the tags to every resource (a key it already has gets the new value).
/// All resources are checked before any is tagged, so a refused request changes nothing.
fn add(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arns = resources(ctx, input)?;
    let new_tags = parse_tags(input.array("Tags"), "tags")?;
    let mut updated = Vec::with_capacity(arns.len());
    for arn in arns {
        let mut tags = ctx.partition.elb_tags.get(&arn).cloned().unwrap_or_default();
        for tag in &new_tags {
            match tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value.clone(),
                None => tags.push(tag.clone()),
            }
        }
        if tags.len() > MAX_TAGS {
            return Err(too_many_tags());
        }
        updated.push((arn, tags));
    }
    for (arn, tags) in updated {
        ctx.partition.elb_tags.insert(arn, tags);
    }
    Ok(json!({}))
}

/// RemoveTags: removes the keys from every resource; a key a resource does not have is
/// ignored.
fn remove(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arns = resources(ctx, input)?;
    let keys = input.strings("TagKeys");
    for key in &keys {
        check_key(key, "tagKeys")?;
    }
    for arn in arns {
        if let Some(tags) = ctx.partition.elb_tags.get_mut(&arn) {
            tags.retain(|t| !keys.contains(&t.key));
        }
    }
    Ok(json!({}))
}

/// DescribeTags: the tags of each resource, in request order (up to 20 resources).
fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arns = resources(ctx, input)?;
    if arns.len() > MAX_DESCRIBED {
        return Err(validation(format!(
            "1 validation error detected: Value '[{}]' at 'resourceArns' failed to satisfy constraint: Member must have length less than or equal to {MAX_DESCRIBED}",
            arns.join(", ")
        )));
    }
    let descriptions: Vec<Value> = arns.iter().map(|arn| json!({"ResourceArn": arn, "Tags": render_tags(ctx.partition, arn)})).collect();
    Ok(json!({ "TagDescriptions": descriptions }))
}

/// The request's `ResourceArns`, each naming an ELBv2 resource of this partition that
/// exists. Errors: `ValidationError` for none or a malformed ARN; the NotFound error of the
/// first missing resource's kind.
fn resources(ctx: &Ctx, input: &Input) -> Result<Vec<String>, ApiError> {
    let arns = input.strings("ResourceArns");
    if arns.is_empty() {
        return Err(validation("A resource ARN must be specified"));
    }
    for arn in &arns {
        let Some(kind) = ResourceKind::of(arn) else {
            return Err(validation(format!("'{arn}' is not a valid resource ARN")));
        };
        if !kind.exists(ctx.partition, arn) {
            return Err(kind.not_found());
        }
    }
    Ok(arns)
}

/// `[{Key, Value}]` → tags, each checked; `member` names the list in messages (`tags`).
fn parse_tags(list: &[Value], member: &str) -> Result<Vec<Tag>, ApiError> {
    let mut tags: Vec<Tag> = Vec::with_capacity(list.len());
    for (i, (key, value)) in key_values(list).into_iter().enumerate() {
        check_key(&key, &format!("{member}.{}.member.key", i + 1))?;
        if value.chars().count() > 256 {
            return Err(validation(format!(
                "1 validation error detected: Value '{value}' at '{member}.{}.member.value' failed to satisfy constraint: Member must have length less than or equal to 256",
                i + 1
            )));
        }
        if !allowed(&value) {
            return Err(pattern_error(&value, &format!("{member}.{}.member.value", i + 1)));
        }
        if tags.iter().any(|t| t.key == key) {
            return Err(ApiError::client("DuplicateTagKeysException", format!("Tag key was specified more than once: {key}")));
        }
        tags.push(Tag { key, value });
    }
    Ok(tags)
}

/// A tag key: 1–128 allowed characters, not starting with `aws:`.
fn check_key(key: &str, at: &str) -> Result<(), ApiError> {
    let length = key.chars().count();
    if length == 0 || length > 128 {
        let bound = if length == 0 { "greater than or equal to 1" } else { "less than or equal to 128" };
        return Err(validation(format!(
            "1 validation error detected: Value '{key}' at '{at}' failed to satisfy constraint: Member must have length {bound}"
        )));
    }
    if !allowed(key) {
        return Err(pattern_error(key, at));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(validation(format!("Tag key '{key}' is not valid: keys starting with 'aws:' are reserved for internal use")));
    }
    Ok(())
}

/// The model's pattern for keys and values: `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`.
fn allowed(text: &str) -> bool {
    text.chars().all(|c| c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c))
}

fn pattern_error(text: &str, at: &str) -> ApiError {
    validation(format!(
        "1 validation error detected: Value '{text}' at '{at}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*)$"
    ))
}

/// `TooManyTags`, in AWS's words.
fn too_many_tags() -> ApiError {
    ApiError::client(
        "TooManyTagsException",
        format!("The quota for the number of tags that can be assigned to a resource has been reached ({MAX_TAGS})"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{handle, world};
    use super::*;
    use crate::state::TargetGroup;

    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef";

    fn partition() -> Partition {
        let mut p = world();
        p.target_groups.insert(TG.into(), TargetGroup::for_test(TG, "web"));
        p
    }

    fn tags(n: usize) -> Value {
        Value::Array((0..n).map(|i| json!({"Key": format!("k{i}"), "Value": "v"})).collect())
    }

    #[test]
    fn added_tags_are_described_and_a_second_add_updates_the_value() {
        let mut p = partition();
        handle(&mut p, "AddTags", json!({"ResourceArns": [TG], "Tags": [{"Key": "team", "Value": "a"}, {"Key": "env"}]})).unwrap();
        handle(&mut p, "AddTags", json!({"ResourceArns": [TG], "Tags": [{"Key": "team", "Value": "b"}]})).unwrap();
        let out = handle(&mut p, "DescribeTags", json!({"ResourceArns": [TG]})).unwrap();
        assert_eq!(
            out,
            json!({"TagDescriptions": [{"ResourceArn": TG, "Tags": [{"Key": "team", "Value": "b"}, {"Key": "env", "Value": ""}]}]})
        );
        handle(&mut p, "RemoveTags", json!({"ResourceArns": [TG], "TagKeys": ["team", "absent"]})).unwrap();
        assert_eq!(p.elb_tags[TG], vec![Tag { key: "env".into(), value: "".into() }]);
    }

    #[test]
    fn an_unknown_resource_is_not_found_by_its_kind_and_nothing_is_tagged() {
        let mut p = partition();
        let lb = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/lb/0123456789abcdef";
        let e = handle(&mut p, "AddTags", json!({"ResourceArns": [TG, lb], "Tags": [{"Key": "a", "Value": "b"}]})).unwrap_err();
        assert_eq!(e.code, "LoadBalancerNotFoundException");
        assert!(p.elb_tags.is_empty());
        let listener = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/lb/0123456789abcdef/0123456789abcdef";
        assert_eq!(handle(&mut p, "DescribeTags", json!({"ResourceArns": [listener]})).unwrap_err().code, "ListenerNotFoundException");
        let rule =
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/lb/0123456789abcdef/0123456789abcdef/0123456789abcdef";
        assert_eq!(
            handle(&mut p, "RemoveTags", json!({"ResourceArns": [rule], "TagKeys": ["a"]})).unwrap_err().code,
            "RuleNotFoundException"
        );
        let missing_tg = TG.replace("web", "gone");
        assert_eq!(handle(&mut p, "DescribeTags", json!({"ResourceArns": [missing_tg]})).unwrap_err().code, "TargetGroupNotFoundException");
        assert_eq!(handle(&mut p, "DescribeTags", json!({"ResourceArns": ["web"]})).unwrap_err().code, "ValidationError");
    }

    #[test]
    fn more_than_fifty_tags_and_duplicate_keys_are_refused_and_change_nothing() {
        let mut p = partition();
        handle(&mut p, "AddTags", json!({"ResourceArns": [TG], "Tags": tags(50)})).unwrap();
        let e = handle(&mut p, "AddTags", json!({"ResourceArns": [TG], "Tags": [{"Key": "one-more", "Value": "v"}]})).unwrap_err();
        assert_eq!(e.code, "TooManyTagsException");
        assert_eq!(p.elb_tags[TG].len(), 50);
        // Updating an existing key is not one more tag.
        handle(&mut p, "AddTags", json!({"ResourceArns": [TG], "Tags": [{"Key": "k0", "Value": "new"}]})).unwrap();
        let e =
            handle(&mut p, "AddTags", json!({"ResourceArns": [TG], "Tags": [{"Key": "k0", "Value": "x"}, {"Key": "k0", "Value": "y"}]}))
                .unwrap_err();
        assert_eq!(e.code, "DuplicateTagKeysException");
        assert_eq!(p.elb_tags[TG][0], Tag { key: "k0".into(), value: "new".into() });
    }

    #[test]
    fn create_tags_are_checked_before_anything_is_stored() {
        let map = |v: Value| v.as_object().cloned().unwrap_or_default();
        let too_many = map(json!({"Tags": tags(51)}));
        assert_eq!(tags_from(&Input(&too_many)).unwrap_err().code, "TooManyTagsException");
        let reserved = map(json!({"Tags": [{"Key": "aws:cloudformation:stack-name", "Value": "x"}]}));
        assert_eq!(tags_from(&Input(&reserved)).unwrap_err().code, "ValidationError");
        let bad_char = map(json!({"Tags": [{"Key": "a<b", "Value": "x"}]}));
        assert!(tags_from(&Input(&bad_char)).unwrap_err().message.contains("'tags.1.member.key'"));
        let long_value = map(json!({"Tags": [{"Key": "a", "Value": "v".repeat(257)}]}));
        assert_eq!(tags_from(&Input(&long_value)).unwrap_err().code, "ValidationError");
        let good = map(json!({"Tags": [{"Key": "ferry:env", "Value": "prod stage/1 @a+b=c"}]}));
        let parsed = tags_from(&Input(&good)).unwrap();
        let mut p = partition();
        put_tags(&mut p, TG, parsed);
        assert_eq!(render_tags(&p, TG), json!([{"Key": "ferry:env", "Value": "prod stage/1 @a+b=c"}]));
    }

    #[test]
    fn describe_tags_takes_at_most_twenty_resources() {
        let mut p = partition();
        let arns: Vec<&str> = std::iter::repeat_n(TG, 21).collect();
        assert_eq!(handle(&mut p, "DescribeTags", json!({"ResourceArns": arns})).unwrap_err().code, "ValidationError");
    }
}
