//! The ledger suite: releases. Each case takes an empty ledger.

//! temporary directories; and the move of a version 1 ledger to version 2.

use std::collections::HashMap;

use crate::{DeploymentRecord, Ledger, Outcome, Promotion, Rejection, Release, ReleaseEntry, StoreError, release_id};

const T0: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z
const MINUTE: i64 = 60_000;

pub fn entry(service: &str, digest: &str, version: Option<&str>) -> ReleaseEntry {
    ReleaseEntry {
        service: service.into(),
        repository: format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{service}"),
        digest: digest.into(),
        version: version.map(Into::into),
    }
}

/// A release of web and api; `n` varies web's digest so each `n` is another release.
pub fn entries(n: u32) -> Vec<ReleaseEntry> {
    vec![entry("web", &format!("sha256:{n:064x}"), Some("1.2.0")), entry("api", &format!("sha256:{:064x}", 0xa91), Some("3.0.1"))]
}

pub fn create(ledger: &Ledger, n: u32, now: i64) -> Release {
    ledger.create_release(entries(n), "alice", "env:dev", &[], now).expect("create")
}

pub fn promotion(id: &str, release_id: &str, started_at: i64) -> Promotion {
    Promotion {
        id: id.into(),
        release_id: release_id.into(),
        from_environment: "dev".into(),
        to_environment: "stage".into(),
        services: vec!["api".into(), "web".into()],
        approved_by: None,
        who: "alice".into(),
        started_at,
        finished_at: None,
        outcome: Outcome::InProgress,
        reason: None,
        deployment_ids: Vec::new(),
    }
}

/// A finished deployment of `digest` to (`environment`, `service`), `MINUTE` long.
fn deployed(id: &str, environment: &str, service: &str, digest: Option<&str>, started_at: i64, outcome: Outcome) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        run_id: format!("run-{id}"),
        kind: "deploy".into(),
        environment: environment.into(),
        service: service.into(),
        cluster: format!("{environment}-cluster"),
        ecs_service: format!("{service}-{environment}"),
        from_version: None,
        from_digest: None,
        from_task_definition: None,
        to_version: None,
        to_digest: digest.map(Into::into),
        to_task_definition: None,
        image: None,
        ecs_deployment_id: None,
        who: "alice".into(),
        commit: None,
        commit_message: None,
        started_at,
        finished_at: Some(started_at + MINUTE),
        outcome,
        reason: None,
        strategy: None,
        cause: None,
        rollback_deployment_id: None,
        gates_skipped: None,
    }
}

fn release_ids(releases: &[Release]) -> Vec<&str> {
    releases.iter().map(|r| r.id.as_str()).collect()
}

fn promotion_ids(promotions: &[Promotion]) -> Vec<&str> {
    promotions.iter().map(|p| p.id.as_str()).collect()
}

// Releases

pub fn a_release_is_recorded_with_its_content_derived_id_and_entries_sorted(ledger: &Ledger) {
    let commits = vec!["0123456789abcdef".to_string(), "fedcba9876543210".to_string()];
    let created = ledger.create_release(entries(1), "alice", "env:dev", &commits, T0).expect("create");

    assert_eq!(created.id, release_id(&entries(1)));
    let services: Vec<&str> = created.entries.iter().map(|e| e.service.as_str()).collect();
    assert_eq!(services, ["api", "web"], "sorted by service");
    assert_eq!((created.created_by.as_str(), created.created_at, created.source.as_str()), ("alice", T0, "env:dev"));
    assert_eq!(created.commits, commits);
    assert_eq!(created.rejected, None);
    assert_eq!(ledger.release(&created.id).expect("read"), Some(created.clone()), "what is read back is what create returned");

    // The same images in another order, named by other tags: the same release.
    let mut reordered = entries(1);
    reordered.reverse();
    reordered[0].version = Some("latest".into());
    reordered[1].version = None;
    assert_eq!(release_id(&reordered), created.id);

    // One digest differs: another release.
    let other = create(ledger, 2, T0 + 1);
    assert_ne!(other.id, created.id);
    assert_eq!(ledger.releases(0).expect("list").len(), 2);
}

pub fn creating_the_same_release_again_returns_the_first_unchanged(ledger: &Ledger) {
    let first = ledger.create_release(entries(1), "alice", "env:dev", &["abc123".into()], T0).expect("create");

    let mut again = entries(1);
    again.reverse();
    again[0].version = Some("1.2.0-rc1".into());
    let second = ledger.create_release(again, "bob", "versions", &["def456".into()], T0 + MINUTE).expect("create again");

    assert_eq!(second, first, "creator, time, source, commits and versions of the first");
    assert_eq!(ledger.releases(0).expect("list"), [first]);
}

pub fn a_release_without_services_or_with_a_service_twice_is_refused(ledger: &Ledger) {
    let err = ledger.create_release(Vec::new(), "alice", "versions", &[], T0).expect_err("empty");
    assert!(matches!(&err, StoreError::Invalid(message) if message.contains("at least one service")), "{err:?}");

    let twice = vec![entry("web", "sha256:aa", Some("1.0.0")), entry("api", "sha256:bb", None), entry("web", "sha256:cc", Some("1.1.0"))];
    let err = ledger.create_release(twice, "alice", "versions", &[], T0).expect_err("duplicate");
    assert!(matches!(&err, StoreError::Invalid(message) if message.contains("web") && message.contains("twice")), "{err:?}");

    // Not even the same image twice: one entry per service.
    let same_twice = vec![entry("web", "sha256:aa", None), entry("web", "sha256:aa", None)];
    ledger.create_release(same_twice, "alice", "versions", &[], T0).expect_err("same image twice");

    let no_digest = vec![entry("web", "", Some("1.0.0"))];
    ledger.create_release(no_digest, "alice", "versions", &[], T0).expect_err("empty digest");

    assert!(ledger.releases(0).expect("list").is_empty(), "nothing recorded");
}

pub fn a_release_is_found_by_a_unique_prefix_of_its_id(ledger: &Ledger) {
    let release = create(ledger, 1, T0);
    let other = create(ledger, 2, T0 + 1);
    assert_ne!(release.id[..10], other.id[..10], "the test needs distinct prefixes");
    let digits = release.id.strip_prefix("rel-").expect("rel-");

    for query in [
        release.id.clone(),
        format!("rel-{}", &digits[..6]),
        format!("rel-{}", &digits[..9]),
        digits[..6].to_string(),
        digits[..6].to_ascii_uppercase(),
    ] {
        assert_eq!(ledger.release(&query).expect("lookup").map(|r| r.id), Some(release.id.clone()), "{query}");
    }
    // Too short to be trusted, longer than an id, or not an id at all.
    for query in [
        format!("rel-{}", &digits[..5]),
        digits[..5].to_string(),
        format!("{}0", release.id),
        "rel-".to_string(),
        "rel-zzzzzz".to_string(),
        "rel-000000".to_string(),
        "%".to_string(),
        String::new(),
    ] {
        assert_eq!(ledger.release(&query).expect("lookup"), None, "{query:?}");
    }
}

pub fn rejection_is_permanent_and_the_first_one_is_kept(ledger: &Ledger) {
    let release = create(ledger, 1, T0);
    let untouched = create(ledger, 2, T0 + 1);

    let rejected = ledger.reject_release(&release.id[..10], "bob", "5xx in stage", T0 + MINUTE).expect("reject by prefix");
    let first = Rejection { by: "bob".into(), at: T0 + MINUTE, reason: "5xx in stage".into() };
    assert_eq!(rejected.rejected, Some(first.clone()));
    assert_eq!(Release { rejected: None, ..rejected.clone() }, release, "nothing but the rejection changed");

    // Again, by someone else: the first rejection stands.
    let again = ledger.reject_release(&release.id, "carol", "changed my mind", T0 + 2 * MINUTE).expect("reject again");
    assert_eq!(again.rejected, Some(first.clone()));
    assert_eq!(ledger.release(&release.id).expect("read"), Some(again));

    // Creating it again does not make it new.
    let recreated = create(ledger, 1, T0 + 3 * MINUTE);
    assert_eq!(recreated.rejected, Some(first));

    assert_eq!(ledger.release(&untouched.id).expect("read").and_then(|r| r.rejected), None, "only that release");

    let err = ledger.reject_release("rel-000000000000", "bob", "typo", T0).expect_err("missing");
    assert!(matches!(&err, StoreError::NotFound(message) if message.contains("rel-000000000000")), "{err:?}");
}

pub fn releases_are_listed_newest_first_and_limited(ledger: &Ledger) {
    // Created out of order; 3 and 4 in the same millisecond.
    let ids: Vec<String> =
        [(1, T0 + 1), (0, T0), (2, T0 + 2), (3, T0 + 3), (4, T0 + 3)].into_iter().map(|(n, at)| create(ledger, n, at).id).collect();
    let listed = ledger.releases(0).expect("list");
    assert_eq!(release_ids(&listed), [&ids[4], &ids[3], &ids[2], &ids[0], &ids[1]], "ties go to the later creation");
    assert!(listed.iter().all(|r| r.entries.len() == 2), "with entries");
    assert_eq!(release_ids(&ledger.releases(2).expect("list")), [&ids[4], &ids[3]]);

    for n in 5..60 {
        create(ledger, n, T0 + i64::from(n));
    }
    let default = ledger.releases(0).expect("list");
    assert_eq!(default.len(), 50, "0 means 50");
    assert_eq!(default[0].created_at, T0 + 59);
    assert_eq!(ledger.releases(100).expect("list").len(), 60);
}

// Promotions

pub fn promotions_are_inserted_updated_and_listed_per_release(ledger: &Ledger) {
    let a = create(ledger, 1, T0);
    let b = create(ledger, 2, T0);

    let first = promotion("fp-1", &a.id, T0 + MINUTE);
    let second = Promotion {
        from_environment: "stage".into(),
        to_environment: "prod".into(),
        services: vec!["web".into()],
        approved_by: Some("carol".into()),
        ..promotion("fp-2", &a.id, T0 + 3 * MINUTE)
    };
    let other = promotion("fp-3", &b.id, T0 + 2 * MINUTE);
    for p in [&first, &second, &other] {
        ledger.insert_promotion(p).expect("insert");
    }

    assert_eq!(
        ledger.promotions(None, 0).expect("list"),
        [second.clone(), other.clone(), first.clone()],
        "newest first, every field read back"
    );
    assert_eq!(promotion_ids(&ledger.promotions(Some(&a.id), 0).expect("list")), ["fp-2", "fp-1"]);
    assert_eq!(promotion_ids(&ledger.promotions(Some(&b.id), 0).expect("list")), ["fp-3"]);
    assert_eq!(promotion_ids(&ledger.promotions(None, 1).expect("list")), ["fp-2"]);
    assert!(ledger.promotions(Some("rel-000000000000"), 0).expect("list").is_empty());

    let finished = Promotion {
        approved_by: Some("dave".into()),
        finished_at: Some(T0 + 2 * MINUTE),
        outcome: Outcome::FailedRolledBack,
        reason: Some("api failed its health checks; web rolled back".into()),
        deployment_ids: vec!["fd-1".into(), "fd-2".into(), "fd-3".into()],
        ..first.clone()
    };
    ledger.update_promotion(&finished).expect("update");
    // What was asked is fixed at insert.
    ledger
        .update_promotion(&Promotion {
            release_id: b.id.clone(),
            to_environment: "prod".into(),
            services: vec!["worker".into()],
            who: "mallory".into(),
            started_at: 0,
            ..finished.clone()
        })
        .expect("update");
    let stored = ledger.promotions(Some(&a.id), 0).expect("list");
    assert_eq!(stored.last(), Some(&finished));

    let err = ledger.update_promotion(&promotion("fp-missing", &a.id, T0)).expect_err("missing");
    assert!(matches!(&err, StoreError::NotFound(message) if message.contains("fp-missing")), "{err:?}");

    let err = ledger.insert_promotion(&promotion("fp-1", &b.id, T0)).expect_err("duplicate id");
    assert!(err.to_string().contains(&ledger.location()), "{err}");
}

pub fn a_promotion_needs_a_recorded_release_that_was_not_rejected(ledger: &Ledger) {
    let err = ledger.insert_promotion(&promotion("fp-1", "rel-000000000000", T0)).expect_err("unknown release");
    assert!(matches!(&err, StoreError::NotFound(message) if message.contains("rel-000000000000")), "{err:?}");

    let release = create(ledger, 1, T0);
    ledger.insert_promotion(&promotion("fp-1", &release.id, T0 + MINUTE)).expect("promote");
    ledger.reject_release(&release.id, "bob", "data loss in stage", T0 + 2 * MINUTE).expect("reject");

    let err = ledger.insert_promotion(&promotion("fp-2", &release.id, T0 + 3 * MINUTE)).expect_err("rejected");
    assert!(
        matches!(&err, StoreError::Invalid(message)
            if message.contains(&release.id) && message.contains("bob") && message.contains("data loss in stage")),
        "{err:?}"
    );
    // The promotion already under way is still recorded to its end.
    ledger
        .update_promotion(&Promotion {
            finished_at: Some(T0 + 4 * MINUTE),
            outcome: Outcome::Succeeded,
            ..promotion("fp-1", &release.id, T0 + MINUTE)
        })
        .expect("finish");
    assert_eq!(promotion_ids(&ledger.promotions(None, 0).expect("list")), ["fp-1"]);
}

// Soak

pub fn healthy_since_is_when_the_running_digest_last_succeeded(ledger: &Ledger) {
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:aa").expect("query"), None, "never deployed");

    ledger.insert_deployment(&deployed("fd-1", "dev", "web", Some("sha256:aa"), T0, Outcome::Succeeded)).expect("insert");
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:aa").expect("query"), Some(T0 + MINUTE), "the deployment's finish");
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:bb").expect("query"), None, "another digest");

    // Failures and unfinished deploys of other digests, and anything in other environments
    // or of other services, leave the clock alone.
    for record in [
        deployed("fd-2", "dev", "web", Some("sha256:bb"), T0 + 2 * MINUTE, Outcome::FailedRolledBack),
        deployed("fd-3", "dev", "web", Some("sha256:bb"), T0 + 3 * MINUTE, Outcome::Failed),
        deployed("fd-4", "dev", "web", Some("sha256:bb"), T0 + 4 * MINUTE, Outcome::FailedRollbackFailed),
        deployed("fd-5", "dev", "web", Some("sha256:bb"), T0 + 5 * MINUTE, Outcome::Interrupted),
        deployed("fd-6", "dev", "web", Some("sha256:bb"), T0 + 6 * MINUTE, Outcome::InProgress),
        deployed("fd-7", "stage", "web", Some("sha256:bb"), T0 + 7 * MINUTE, Outcome::Succeeded),
        deployed("fd-8", "dev", "api", Some("sha256:bb"), T0 + 7 * MINUTE, Outcome::Succeeded),
    ] {
        ledger.insert_deployment(&record).expect("insert");
    }
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:aa").expect("query"), Some(T0 + MINUTE));
    assert_eq!(
        ledger.healthy_since("stage", "web", "sha256:bb").expect("query"),
        Some(T0 + 8 * MINUTE),
        "each environment has its own clock"
    );
    assert_eq!(ledger.healthy_since("stage", "web", "sha256:aa").expect("query"), None, "aa never ran in stage");
}

pub fn healthy_since_ends_when_a_later_success_moves_the_service(ledger: &Ledger) {
    for record in [
        deployed("fd-1", "dev", "web", Some("sha256:aa"), T0, Outcome::Succeeded),
        deployed("fd-2", "dev", "web", Some("sha256:bb"), T0 + 2 * MINUTE, Outcome::Succeeded),
    ] {
        ledger.insert_deployment(&record).expect("insert");
    }
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:aa").expect("query"), None, "moved to bb: not running any more");
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:bb").expect("query"), Some(T0 + 3 * MINUTE));

    // Back to aa (a rollback, say): its clock starts again from that deployment.
    let mut rollback = deployed("fd-3", "dev", "web", Some("sha256:aa"), T0 + 4 * MINUTE, Outcome::Succeeded);
    rollback.kind = "rollback".into();
    ledger.insert_deployment(&rollback).expect("insert");
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:aa").expect("query"), Some(T0 + 5 * MINUTE));
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:bb").expect("query"), None);

    // A success that recorded no digest: nothing says aa survived it.
    ledger.insert_deployment(&deployed("fd-4", "dev", "web", None, T0 + 6 * MINUTE, Outcome::Succeeded)).expect("insert");
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:aa").expect("query"), None);
}

pub fn an_ambiguous_prefix_is_refused_naming_the_candidates(ledger: &Ledger) {
    // Find two releases whose ids share their first 6 hex digits (a birthday search over
    // 24 bits: a few thousand hashes).
    let mut seen: HashMap<String, u32> = HashMap::new();
    let (a, b) = (0u32..)
        .find_map(|n| {
            let prefix = release_id(&entries(n))[..10].to_string();
            seen.insert(prefix, n).map(|earlier| (earlier, n))
        })
        .expect("a collision");

    let first = create(ledger, a, T0);
    let second = create(ledger, b, T0 + 1);
    assert_eq!(first.id[..10], second.id[..10]);

    let err = ledger.release(&first.id[..10]).expect_err("ambiguous");
    let StoreError::Invalid(message) = &err else { panic!("expected Invalid, got {err:?}") };
    assert!(message.contains(&first.id) && message.contains(&second.id) && message.contains("ambiguous"), "{message}");
    // Rejecting by an ambiguous prefix rejects nothing.
    ledger.reject_release(&first.id[..10], "bob", "flaky", T0 + 2).expect_err("ambiguous");
    assert_eq!(ledger.release(&first.id).expect("read").and_then(|r| r.rejected), None);

    // Full ids, and any prefix long enough to tell them apart, still work.
    assert_eq!(ledger.release(&first.id).expect("read"), Some(first.clone()));
    let common = first.id.chars().zip(second.id.chars()).take_while(|(x, y)| x == y).count();
    assert_eq!(ledger.release(&second.id[..=common]).expect("read"), Some(second));
}
