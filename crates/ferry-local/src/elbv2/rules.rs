//! ELBv2: CreateRule, DescribeRules, ModifyRule, SetRulePriorities, DeleteRule.
//!
//! A listener's rules are evaluated by priority (1–50000, lowest first), its default rule
//! (priority `default`, created with the listener) last; DescribeRules lists them in that
//! order. Conditions are checked and stored by `conditions`, actions by `actions`, in the
//! shape DescribeRules answers — the shape the listener proxy reads.
//!
//! AWS's behaviour followed here (ELBv2 API reference, Application Load Balancer quotas, and
//! AWS's answers as reported by its users): a priority taken on the listener is
//! `PriorityInUse` ("Priority '5' is currently in use"); a load balancer has at most 100
//! rules besides its default rules (`TooManyRules`); the default rule cannot be modified,
//! reprioritized or deleted (`OperationNotPermitted`: "Default rule '…' cannot be
//! modified" / "… cannot be deleted"); SetRulePriorities changes all the priorities it is
//! given or none, and may swap priorities between the rules it names. Rule `Transforms`
//! (host header and URL rewrites) are refused: ferry local's proxy does not apply them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::tags::{put_tags, tags_from};
use super::{Ctx, ResourceKind, actions, check_range, conditions, listeners, page, validation};
use crate::api::{ApiError, ApiResult, Input, hex_id, put};
use crate::state::{Partition, Rule};

/// Rules per application load balancer, default rules not counted (AWS's default quota).
const MAX_RULES: usize = 100;

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "CreateRule" => create(ctx, input),
        "DescribeRules" => describe(ctx, input),
        "ModifyRule" => modify(ctx, input),
        "SetRulePriorities" => set_priorities(ctx, input),
        "DeleteRule" => delete(ctx, input),
        _ => return None,
    })
}

/// `arn:…:listener/app/LB/LB-ID/ID` → `arn:…:listener-rule/app/LB/LB-ID/ID/<16 hex digits>`.
pub(crate) fn rule_arn(listener_arn: &str) -> String {
    format!("{}/{}", listener_arn.replacen(":listener/", ":listener-rule/", 1), hex_id(16))
}

/// The `Rule` structure the API answers.
pub(crate) fn render(rule: &Rule) -> Value {
    json!({
        "RuleArn": rule.arn,
        "Priority": rule.priority,
        "Conditions": rule.conditions,
        "Actions": rule.actions,
        "IsDefault": rule.is_default,
    })
}

/// The rule an ARN names. Errors: `ValidationError` for a malformed ARN, `RuleNotFound`.
fn existing<'a>(partition: &'a Partition, arn: &str) -> Result<&'a Rule, ApiError> {
    ResourceKind::Rule.check(arn)?;
    partition.rules.get(arn).ok_or_else(|| ResourceKind::Rule.not_found())
}

/// The load balancer a listener belongs to.
fn load_balancer_of(partition: &Partition, listener_arn: &str) -> String {
    partition.listeners.get(listener_arn).map(|l| l.load_balancer_arn.clone()).unwrap_or_default()
}

/// CreateRule.
///
/// Errors: `ListenerNotFound`; `ValidationError` (a priority out of 1–50000, bad conditions,
/// bad actions, `Transforms`); `PriorityInUse`; `TooManyRules`; the action errors of
/// `actions::normalize` (`TargetGroupNotFound`, …) and the tag errors.
fn create(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let listener_arn = input.str("ListenerArn").unwrap_or_default().to_string();
    listeners::existing(ctx.partition, &listener_arn)?;
    let lb_arn = load_balancer_of(ctx.partition, &listener_arn);
    let priority = input.i64("Priority").unwrap_or_default();
    check_range("Priority", priority, 1, 50000)?;
    let conditions = conditions::normalize(input.array("Conditions"))?;
    check_no_transforms(input)?;
    let actions = actions::normalize(input.array("Actions"), "actions", ctx.partition, &lb_arn, None)?;
    let tags = tags_from(input)?;
    let priority = priority.to_string();
    if ctx.partition.rules.values().any(|r| r.listener_arn == listener_arn && r.priority == priority) {
        return Err(priority_in_use(&priority));
    }
    let rules_of_load_balancer = ctx
        .partition
        .rules
        .values()
        .filter(|r| !r.is_default && ctx.partition.listeners.get(&r.listener_arn).is_some_and(|l| l.load_balancer_arn == lb_arn))
        .count();
    if rules_of_load_balancer >= MAX_RULES {
        return Err(ApiError::client(
            "TooManyRulesException",
            format!("A load balancer can have at most {MAX_RULES} rules besides its default rules; '{lb_arn}' has {MAX_RULES}"),
        ));
    }
    let rule = Rule { arn: rule_arn(&listener_arn), listener_arn, priority, is_default: false, conditions, actions, created_at: ctx.now };
    let out = json!({ "Rules": [render(&rule)] });
    put_tags(ctx.partition, &rule.arn, tags);
    ctx.partition.rules.insert(rule.arn.clone(), rule);
    Ok(out)
}

/// DescribeRules: the rules of `ListenerArn` by priority, the default rule last, or those
/// named in `RuleArns` (in request order), a page at a time (`Marker`, `PageSize` 1–400).
///
/// Errors: `ValidationError` for both or neither, a malformed ARN or a bad page;
/// `ListenerNotFound`; `RuleNotFound` when any named rule does not exist.
fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let listener_arn = input.str("ListenerArn");
    let arns = input.strings("RuleArns");
    let partition = &*ctx.partition;
    let mut found: Vec<&Rule> = match (listener_arn, arns.is_empty()) {
        (Some(_), false) => return Err(validation("Listener rule ARNs and a listener ARN cannot be specified at the same time")),
        (None, true) => return Err(validation("You must specify either listener rule ARNs or a listener ARN")),
        (Some(listener_arn), true) => {
            listeners::existing(partition, listener_arn)?;
            let mut rules: Vec<&Rule> = partition.rules.values().filter(|r| r.listener_arn == listener_arn).collect();
            rules.sort_by_key(|r| (r.rank(), r.arn.clone()));
            rules
        }
        (None, false) => arns.iter().map(|arn| existing(partition, arn)).collect::<Result<_, _>>()?,
    };
    let mut seen = std::collections::HashSet::new();
    found.retain(|r| seen.insert(r.arn.clone()));
    let (items, next) = page(&found, input)?;
    let mut out = Map::new();
    out.insert("Rules".into(), Value::Array(items.iter().map(|r| render(r)).collect()));
    put(&mut out, "NextMarker", next);
    Ok(Value::Object(out))
}

/// ModifyRule: new conditions and/or actions; what the request leaves out stays.
///
/// Errors: `RuleNotFound`; `OperationNotPermitted` for a default rule (ModifyListener
/// changes its actions); `ValidationError` (nothing to change, bad conditions or actions,
/// `Transforms`); the action errors of `actions::normalize`.
fn modify(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = input.str("RuleArn").unwrap_or_default().to_string();
    let rule = existing(ctx.partition, &arn)?;
    if rule.is_default {
        return Err(default_rule_refused(&arn, "modified"));
    }
    let lb_arn = load_balancer_of(ctx.partition, &rule.listener_arn);
    check_no_transforms(input)?;
    let conditions = match input.value("Conditions") {
        Some(_) => Some(conditions::normalize(input.array("Conditions"))?),
        None => None,
    };
    let actions = match input.value("Actions") {
        Some(_) => Some(actions::normalize(input.array("Actions"), "actions", ctx.partition, &lb_arn, Some(&arn))?),
        None => None,
    };
    if conditions.is_none() && actions.is_none() && input.bool("ResetTransforms").is_none() {
        return Err(validation("Either conditions or actions must be specified"));
    }
    let Some(rule) = ctx.partition.rules.get_mut(&arn) else {
        return Err(ResourceKind::Rule.not_found());
    };
    if let Some(conditions) = conditions {
        rule.conditions = conditions;
    }
    if let Some(actions) = actions {
        rule.actions = actions;
    }
    Ok(json!({ "Rules": [render(rule)] }))
}

/// SetRulePriorities: all the given priorities, or none. Rules not named keep theirs; the
/// named ones may swap priorities among themselves.
///
/// Errors: `ValidationError` (no pair, a pair without a rule or a priority, a priority out
/// of 1–50000, a rule named twice, a priority given twice on one listener); `RuleNotFound`;
/// `OperationNotPermitted` for a default rule; `PriorityInUse` when a priority would be held
/// by two rules of a listener.
fn set_priorities(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let pairs = input.array("RulePriorities");
    if pairs.is_empty() {
        return Err(validation("At least one rule priority must be specified"));
    }
    let mut wanted: Vec<(String, String)> = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let Some(arn) = pair.get("RuleArn").and_then(Value::as_str).filter(|a| !a.is_empty()) else {
            return Err(validation(format!("A rule ARN must be specified at 'rulePriorities.{}.member.ruleArn'", i + 1)));
        };
        let Some(priority) = pair.get("Priority").and_then(Value::as_i64) else {
            return Err(validation(format!("A priority must be specified at 'rulePriorities.{}.member.priority'", i + 1)));
        };
        check_range(&format!("rulePriorities.{}.member.priority", i + 1), priority, 1, 50000)?;
        let rule = existing(ctx.partition, arn)?;
        if rule.is_default {
            return Err(default_rule_refused(arn, "modified"));
        }
        if wanted.iter().any(|(a, _)| a == arn) {
            return Err(validation(format!("Rule '{arn}' was provided multiple times")));
        }
        wanted.push((arn.to_string(), priority.to_string()));
    }
    // The priorities each touched listener would end with.
    let mut by_listener: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
    for rule in ctx.partition.rules.values().filter(|r| !r.is_default) {
        let named = wanted.iter().find(|(a, _)| *a == rule.arn);
        let priority = named.map(|(_, p)| p.clone()).unwrap_or_else(|| rule.priority.clone());
        by_listener.entry(rule.listener_arn.clone()).or_default().push((rule.arn.clone(), priority, named.is_some()));
    }
    for rules in by_listener.values() {
        for (arn, priority, _) in rules.iter().filter(|(_, _, named)| *named) {
            match rules.iter().find(|(other, p, _)| other != arn && p == priority) {
                Some((_, _, true)) => return Err(validation(format!("Priority '{priority}' was provided multiple times"))),
                Some((_, _, false)) => return Err(priority_in_use(priority)),
                None => {}
            }
        }
    }
    let mut out = Vec::with_capacity(wanted.len());
    for (arn, priority) in wanted {
        if let Some(rule) = ctx.partition.rules.get_mut(&arn) {
            rule.priority = priority;
            out.push(render(rule));
        }
    }
    Ok(json!({ "Rules": out }))
}

/// DeleteRule. Errors: `RuleNotFound`; `OperationNotPermitted` for a default rule.
fn delete(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = input.str("RuleArn").unwrap_or_default().to_string();
    if existing(ctx.partition, &arn)?.is_default {
        return Err(default_rule_refused(&arn, "deleted"));
    }
    ctx.partition.rules.remove(&arn);
    ctx.partition.elb_tags.remove(&arn);
    Ok(json!({}))
}

/// Rule transforms rewrite requests before they reach targets; ferry local's proxy does not.
fn check_no_transforms(input: &Input) -> Result<(), ApiError> {
    if !input.array("Transforms").is_empty() {
        return Err(validation("ferry local does not apply rule Transforms (host-header-rewrite, url-rewrite); leave Transforms out"));
    }
    Ok(())
}

fn priority_in_use(priority: &str) -> ApiError {
    ApiError::client("PriorityInUseException", format!("Priority '{priority}' is currently in use"))
}

fn default_rule_refused(arn: &str, what: &str) -> ApiError {
    ApiError::client("OperationNotPermittedException", format!("Default rule '{arn}' cannot be {what}"))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{handle, world};
    use super::*;
    use crate::state::{Listener, TargetGroup};

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/lb/1111111111111111";
    const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/lb/1111111111111111/2222222222222222";
    const DEFAULT: &str =
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/lb/1111111111111111/2222222222222222/3333333333333333";

    fn tg(name: &str) -> String {
        format!("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/{name}/0123456789abcdef")
    }

    /// A listener with its default rule, and target groups blue and green (no load balancer
    /// record is needed by the rule handlers).
    fn partition() -> Partition {
        let mut p = world();
        p.listeners.insert(
            LISTENER.into(),
            Listener {
                arn: LISTENER.into(),
                load_balancer_arn: LB.into(),
                port: 8080,
                protocol: "HTTP".into(),
                created_at: 0.0,
                attributes: Default::default(),
            },
        );
        p.rules.insert(
            DEFAULT.into(),
            Rule {
                arn: DEFAULT.into(),
                listener_arn: LISTENER.into(),
                priority: "default".into(),
                is_default: true,
                conditions: json!([]),
                actions: json!([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]),
                created_at: 0.0,
            },
        );
        for name in ["blue", "green"] {
            p.target_groups.insert(tg(name), TargetGroup::for_test(&tg(name), name));
        }
        p
    }

    fn create(p: &mut Partition, priority: i64, path: &str) -> ApiResult {
        handle(
            p,
            "CreateRule",
            json!({
                "ListenerArn": LISTENER,
                "Priority": priority,
                "Conditions": [{"Field": "path-pattern", "Values": [path]}],
                "Actions": [{"Type": "forward", "TargetGroupArn": tg("blue")}],
                "Tags": [{"Key": "team", "Value": "web"}]
            }),
        )
    }

    fn arn_of(out: &Value) -> String {
        out["Rules"][0]["RuleArn"].as_str().unwrap().to_string()
    }

    fn snapshot(p: &Partition) -> String {
        serde_json::to_string(&(&p.rules, &p.elb_tags)).unwrap()
    }

    fn priorities(p: &mut Partition) -> Vec<String> {
        let out = handle(p, "DescribeRules", json!({"ListenerArn": LISTENER})).unwrap();
        out["Rules"].as_array().unwrap().iter().map(|r| r["Priority"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn a_created_rule_is_answered_as_stored_and_listed_by_priority_with_the_default_last() {
        let mut p = partition();
        let out = create(&mut p, 10, "/b/*").unwrap();
        let rule = &out["Rules"][0];
        assert!(rule["RuleArn"].as_str().unwrap().starts_with(&LISTENER.replace(":listener/", ":listener-rule/")));
        assert_eq!(rule["Priority"], "10");
        assert_eq!(rule["IsDefault"], false);
        assert_eq!(rule["Conditions"][0]["PathPatternConfig"], json!({"Values": ["/b/*"]}));
        assert_eq!(rule["Actions"][0]["ForwardConfig"]["TargetGroups"], json!([{"TargetGroupArn": tg("blue"), "Weight": 1}]));
        assert_eq!(p.elb_tags[&arn_of(&out)].len(), 1);
        create(&mut p, 2, "/a/*").unwrap();
        create(&mut p, 300, "/c/*").unwrap();
        assert_eq!(priorities(&mut p), ["2", "10", "300", "default"]);
        let by_arn = handle(&mut p, "DescribeRules", json!({"RuleArns": [arn_of(&out), DEFAULT]})).unwrap();
        assert_eq!(by_arn["Rules"][0], out["Rules"][0]);
        assert_eq!(by_arn["Rules"][1]["IsDefault"], true);
        let first = handle(&mut p, "DescribeRules", json!({"ListenerArn": LISTENER, "PageSize": 3})).unwrap();
        let marker = first["NextMarker"].as_str().unwrap();
        let rest = handle(&mut p, "DescribeRules", json!({"ListenerArn": LISTENER, "PageSize": 3, "Marker": marker})).unwrap();
        assert_eq!((first["Rules"].as_array().unwrap().len(), rest["Rules"][0]["Priority"].as_str()), (3, Some("default")));
        assert!(rest.get("NextMarker").is_none());
    }

    #[test]
    fn refused_creates_change_nothing() {
        let mut p = partition();
        create(&mut p, 5, "/a").unwrap();
        let before = snapshot(&p);
        let e = create(&mut p, 5, "/b").unwrap_err();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("PriorityInUseException", "Priority '5' is currently in use"));
        for priority in [0, 50001] {
            assert_eq!(create(&mut p, priority, "/b").unwrap_err().code, "ValidationError");
        }
        let missing_listener = LISTENER.replace("2222222222222222", "4444444444444444");
        let e = handle(&mut p, "CreateRule", json!({"ListenerArn": missing_listener, "Priority": 1, "Conditions": [], "Actions": []}))
            .unwrap_err();
        assert_eq!(e.code, "ListenerNotFoundException");
        let bad_group = json!({"ListenerArn": LISTENER, "Priority": 6, "Conditions": [{"Field": "path-pattern", "Values": ["/x"]}],
            "Actions": [{"Type": "forward", "TargetGroupArn": tg("gone")}]});
        assert_eq!(handle(&mut p, "CreateRule", bad_group).unwrap_err().code, "TargetGroupNotFoundException");
        let transforms = json!({"ListenerArn": LISTENER, "Priority": 6, "Conditions": [{"Field": "path-pattern", "Values": ["/x"]}],
            "Actions": [{"Type": "forward", "TargetGroupArn": tg("blue")}], "Transforms": [{"Type": "url-rewrite"}]});
        assert_eq!(handle(&mut p, "CreateRule", transforms).unwrap_err().code, "ValidationError");
        let bad_tags = json!({"ListenerArn": LISTENER, "Priority": 6, "Conditions": [{"Field": "path-pattern", "Values": ["/x"]}],
            "Actions": [{"Type": "forward", "TargetGroupArn": tg("blue")}], "Tags": [{"Key": "aws:x", "Value": "y"}]});
        assert_eq!(handle(&mut p, "CreateRule", bad_tags).unwrap_err().code, "ValidationError");
        assert_eq!(snapshot(&p), before);
    }

    #[test]
    fn a_load_balancer_takes_at_most_a_hundred_rules_besides_its_default_rules() {
        let mut p = partition();
        for priority in 1..=100 {
            create(&mut p, priority, "/a").unwrap();
        }
        assert_eq!(create(&mut p, 101, "/a").unwrap_err().code, "TooManyRulesException");
        assert_eq!(p.rules.len(), 101);
    }

    #[test]
    fn modify_replaces_what_is_given_and_the_default_rule_is_refused() {
        let mut p = partition();
        let arn = arn_of(&create(&mut p, 5, "/a").unwrap());
        let weighted = json!([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tg("blue"), "Weight": 80}, {"TargetGroupArn": tg("green"), "Weight": 20}]}}]);
        let out = handle(&mut p, "ModifyRule", json!({"RuleArn": arn, "Actions": weighted})).unwrap();
        assert_eq!(out["Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"][1], json!({"TargetGroupArn": tg("green"), "Weight": 20}));
        assert!(out["Rules"][0]["Actions"][0].get("TargetGroupArn").is_none());
        assert_eq!(out["Rules"][0]["Conditions"][0]["Values"], json!(["/a"]));
        let out =
            handle(&mut p, "ModifyRule", json!({"RuleArn": arn, "Conditions": [{"Field": "host-header", "Values": ["a.example.com"]}]}))
                .unwrap();
        assert_eq!(out["Rules"][0]["Conditions"][0]["Field"], "host-header");
        assert_eq!(p.rules[&arn].actions[0]["ForwardConfig"]["TargetGroups"][0]["Weight"], 80);
        let before = snapshot(&p);
        assert_eq!(handle(&mut p, "ModifyRule", json!({"RuleArn": arn})).unwrap_err().code, "ValidationError");
        let bad = json!({"RuleArn": arn, "Conditions": [{"Field": "path-pattern", "Values": ["/b"]}], "Actions": [{"Type": "forward", "TargetGroupArn": tg("gone")}]});
        assert_eq!(handle(&mut p, "ModifyRule", bad).unwrap_err().code, "TargetGroupNotFoundException");
        let e = handle(&mut p, "ModifyRule", json!({"RuleArn": DEFAULT, "Actions": [{"Type": "forward", "TargetGroupArn": tg("blue")}]}))
            .unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message),
            ("OperationNotPermittedException", format!("Default rule '{DEFAULT}' cannot be modified"))
        );
        assert_eq!(snapshot(&p), before);
    }

    #[test]
    fn set_rule_priorities_swaps_atomically_and_refuses_clashes_as_a_whole() {
        let mut p = partition();
        let a = arn_of(&create(&mut p, 1, "/a").unwrap());
        let b = arn_of(&create(&mut p, 2, "/b").unwrap());
        let c = arn_of(&create(&mut p, 3, "/c").unwrap());
        let swap = json!({"RulePriorities": [{"RuleArn": a, "Priority": 2}, {"RuleArn": b, "Priority": 1}]});
        let out = handle(&mut p, "SetRulePriorities", swap).unwrap();
        assert_eq!(out["Rules"].as_array().unwrap().len(), 2);
        assert_eq!((p.rules[&a].priority.as_str(), p.rules[&b].priority.as_str()), ("2", "1"));
        let before = snapshot(&p);
        // The first pair alone is fine, the second clashes with c: neither is applied.
        let clash = json!({"RulePriorities": [{"RuleArn": a, "Priority": 10}, {"RuleArn": b, "Priority": 3}]});
        let e = handle(&mut p, "SetRulePriorities", clash).unwrap_err();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("PriorityInUseException", "Priority '3' is currently in use"));
        let twice = json!({"RulePriorities": [{"RuleArn": a, "Priority": 10}, {"RuleArn": c, "Priority": 10}]});
        assert_eq!(handle(&mut p, "SetRulePriorities", twice).unwrap_err().code, "ValidationError");
        let default = json!({"RulePriorities": [{"RuleArn": a, "Priority": 10}, {"RuleArn": DEFAULT, "Priority": 11}]});
        assert_eq!(handle(&mut p, "SetRulePriorities", default).unwrap_err().code, "OperationNotPermittedException");
        let missing = json!({"RulePriorities": [{"RuleArn": a, "Priority": 10}, {"RuleArn": format!("{c}0"), "Priority": 11}]});
        assert_eq!(handle(&mut p, "SetRulePriorities", missing).unwrap_err().code, "RuleNotFoundException");
        let out_of_range = json!({"RulePriorities": [{"RuleArn": a, "Priority": 50001}]});
        assert_eq!(handle(&mut p, "SetRulePriorities", out_of_range).unwrap_err().code, "ValidationError");
        assert_eq!(snapshot(&p), before);
        assert_eq!(priorities(&mut p), ["1", "2", "3", "default"]);
    }

    #[test]
    fn delete_removes_a_rule_and_its_tags_but_never_the_default_rule() {
        let mut p = partition();
        let arn = arn_of(&create(&mut p, 1, "/a").unwrap());
        let e = handle(&mut p, "DeleteRule", json!({"RuleArn": DEFAULT})).unwrap_err();
        assert_eq!((e.code.as_str(), e.message), ("OperationNotPermittedException", format!("Default rule '{DEFAULT}' cannot be deleted")));
        handle(&mut p, "DeleteRule", json!({"RuleArn": arn})).unwrap();
        assert!(!p.rules.contains_key(&arn) && !p.elb_tags.contains_key(&arn));
        assert_eq!(handle(&mut p, "DeleteRule", json!({"RuleArn": arn})).unwrap_err().code, "RuleNotFoundException");
        assert_eq!(handle(&mut p, "DescribeRules", json!({"RuleArns": [arn]})).unwrap_err().code, "RuleNotFoundException");
        assert_eq!(handle(&mut p, "DeleteRule", json!({"RuleArn": "rule-1"})).unwrap_err().code, "ValidationError");
        assert_eq!(p.rules.len(), 1);
    }
}
