//! Revision clean-up (`ferry gc`, `keep_revisions`): which ACTIVE revisions of a service's
//! task-definition family may be deregistered, and why every other one is kept. Pure: the
//! caller reads the revisions, what uses them and the ledger, and applies the verdict.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rolling::short_task_definition;

/// One ACTIVE revision of a family, as the clean-up judges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub arn: String,
    pub revision: i32,
    /// It carries a `ferry:` tag (`ferry:version`, `ferry:digest`, `ferry:deployment`):
    /// ferry registered it. Revisions without one are never touched.
    pub by_ferry: bool,
}

/// Why a revision must stay, whatever `--keep` says.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum Keep {
    /// Not registered by ferry (no `ferry:` tag).
    NotFerry,
    /// Among the newest N ferry revisions of the family.
    Newest,
    /// The service's task definition: what it runs, and what `ferry promote` reads from
    /// this environment.
    Service,
    /// A deployment of the service (PRIMARY or ACTIVE, its id) uses it.
    Deployment(String),
    /// A ferry deployment still in progress in the ledger (its id) goes to or from it.
    InProgress(String),
    /// A RUNNING or PENDING task (its id) uses it.
    Task(String),
    /// The revision `ferry rollback` (without `--to`) would return to.
    Rollback,
}

impl Keep {
    /// In words, for the terminal.
    pub fn text(&self) -> String {
        match self {
            Keep::NotFerry => "not registered by ferry".to_string(),
            Keep::Newest => "among the newest kept".to_string(),
            Keep::Service => "the service's task definition".to_string(),
            Keep::Deployment(id) => format!("used by deployment {id}"),
            Keep::InProgress(id) => format!("used by {id}, in progress"),
            Keep::Task(id) => format!("used by task {id}"),
            Keep::Rollback => "what `ferry rollback` returns to".to_string(),
        }
    }
}

/// A revision ferry must keep, named by ARN (or `family:N`), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protection {
    pub task_definition: String,
    pub why: Keep,
}

/// A kept revision and all the reasons it is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub revision: String,
    pub reasons: Vec<Keep>,
}

/// The verdict on one family: what goes (oldest first) and what stays (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `family:N` of each revision to deregister.
    pub deregister: Vec<String>,
    pub kept: Vec<Kept>,
}

/// Judges a family's ACTIVE revisions: the newest `keep` that ferry registered stay, and so
/// does every revision without a `ferry:` tag and every protected one (protections name a
/// revision by ARN or `family:N`; those of other families are ignored). Every other one is
/// to be deregistered.
pub fn decide(revisions: &[Revision], keep: usize, protections: &[Protection]) -> Verdict {
    let mut sorted: Vec<&Revision> = revisions.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.revision));
    let mut reasons: BTreeMap<&str, Vec<Keep>> = BTreeMap::new();
    for p in protections {
        let short = short_task_definition(&p.task_definition);
        if let Some(r) = sorted.iter().find(|r| short_task_definition(&r.arn) == short) {
            let entry = reasons.entry(short_task_definition(&r.arn)).or_default();
            if !entry.contains(&p.why) {
                entry.push(p.why.clone());
            }
        }
    }
    let mut verdict = Verdict::default();
    let mut newest = 0;
    for r in &sorted {
        let short = short_task_definition(&r.arn);
        let mut why = reasons.remove(short).unwrap_or_default();
        if !r.by_ferry {
            why.insert(0, Keep::NotFerry);
        } else if newest < keep {
            newest += 1;
            why.insert(0, Keep::Newest);
        }
        why.sort();
        if why.is_empty() {
            verdict.deregister.push(short.to_string());
        } else {
            verdict.kept.push(Kept { revision: short.to_string(), reasons: why });
        }
    }
    verdict.deregister.reverse();
    verdict
}

/// The revision `ferry rollback` falls back to when the ledger knows no earlier good deploy:
/// the newest ferry revision older than `running` whose `ferry:version` differs from it.
/// `revisions` are (revision, `family:N` or ARN, its `ferry:version`).
pub fn rollback_by_tags<'a>(
    revisions: &'a [(i32, String, Option<String>)],
    running: i32,
    running_version: Option<&str>,
) -> Option<&'a str> {
    revisions
        .iter()
        .filter(|(n, _, v)| *n < running && v.is_some() && v.as_deref() != running_version)
        .max_by_key(|(n, _, _)| *n)
        .map(|(_, arn, _)| arn.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revs(n: i32) -> Vec<Revision> {
        (1..=n).map(|i| Revision { arn: format!("arn:aws:ecs:eu-west-1:1:task-definition/web:{i}"), revision: i, by_ferry: true }).collect()
    }

    fn protect(td: &str, why: Keep) -> Protection {
        Protection { task_definition: td.to_string(), why }
    }

    #[test]
    fn keeps_the_newest_n_and_deregisters_the_rest_oldest_first() {
        let v = decide(&revs(6), 2, &[]);
        assert_eq!(v.deregister, ["web:1", "web:2", "web:3", "web:4"]);
        assert_eq!(v.kept.iter().map(|k| k.revision.as_str()).collect::<Vec<_>>(), ["web:6", "web:5"]);
        assert!(v.kept.iter().all(|k| k.reasons == [Keep::Newest]));
    }

    #[test]
    fn never_deregisters_a_revision_without_ferry_tags() {
        let mut revisions = revs(4);
        revisions[0].by_ferry = false;
        let v = decide(&revisions, 0, &[]);
        assert_eq!(v.deregister, ["web:2", "web:3", "web:4"]);
        assert_eq!(v.kept, [Kept { revision: "web:1".into(), reasons: vec![Keep::NotFerry] }]);
    }

    #[test]
    fn a_revision_without_ferry_tags_does_not_count_among_the_newest() {
        let mut revisions = revs(4);
        revisions[3].by_ferry = false;
        let v = decide(&revisions, 1, &[]);
        assert_eq!(v.deregister, ["web:1", "web:2"]);
    }

    #[test]
    fn never_deregisters_what_the_service_its_deployments_or_a_task_uses() {
        let protections = [
            protect("arn:aws:ecs:eu-west-1:1:task-definition/web:1", Keep::Service),
            protect("web:2", Keep::Deployment("ecs-svc/1".into())),
            protect("arn:aws:ecs:eu-west-1:1:task-definition/web:3", Keep::Task("abc".into())),
        ];
        let v = decide(&revs(6), 1, &protections);
        assert_eq!(v.deregister, ["web:4", "web:5"]);
        let reasons: Vec<_> = v.kept.iter().map(|k| (k.revision.as_str(), k.reasons.clone())).collect();
        assert_eq!(
            reasons,
            [
                ("web:6", vec![Keep::Newest]),
                ("web:3", vec![Keep::Task("abc".into())]),
                ("web:2", vec![Keep::Deployment("ecs-svc/1".into())]),
                ("web:1", vec![Keep::Service]),
            ]
        );
    }

    #[test]
    fn never_deregisters_an_in_progress_deployments_or_the_rollback_target() {
        let protections = [protect("web:2", Keep::InProgress("fd-1".into())), protect("web:3", Keep::Rollback)];
        let v = decide(&revs(4), 0, &protections);
        assert_eq!(v.deregister, ["web:1", "web:4"]);
    }

    #[test]
    fn a_revision_kept_for_several_reasons_says_each_once() {
        let protections = [protect("web:2", Keep::Service), protect("web:2", Keep::Service), protect("web:2", Keep::Task("t".into()))];
        let v = decide(&revs(2), 1, &protections);
        assert_eq!(v.deregister, ["web:1"]);
        assert_eq!(v.kept[0].reasons, [Keep::Newest, Keep::Service, Keep::Task("t".into())]);
    }

    #[test]
    fn protections_of_other_families_protect_nothing() {
        let v = decide(&revs(2), 0, &[protect("api:1", Keep::Service), protect("web-worker:2", Keep::Service)]);
        assert_eq!(v.deregister, ["web:1", "web:2"]);
    }

    #[test]
    fn rollback_by_tags_is_the_newest_earlier_revision_of_another_version() {
        let r = |n: i32, v: Option<&str>| (n, format!("web:{n}"), v.map(str::to_string));
        let revisions = [r(1, Some("1.0")), r(2, Some("1.1")), r(3, None), r(4, Some("1.2")), r(5, Some("1.2"))];
        assert_eq!(rollback_by_tags(&revisions, 5, Some("1.2")), Some("web:2"));
        assert_eq!(rollback_by_tags(&revisions, 1, Some("1.0")), None);
    }
}
