//! Names of the resources ferry creates per version (blue/green and canary deploys): a
//! target group and an ECS service for each version of a service in an environment.
//!
//! AWS's limits (Elastic Load Balancing API reference, CreateTargetGroup `Name`): "This name
//! must be unique per region per account, can have a maximum of 32 characters, must contain
//! only alphanumeric characters or hyphens, and must not begin or end with a hyphen." ECS
//! service names (CreateService `serviceName`): up to 255 letters, numbers, hyphens and
//! underscores. Versions are image tags (up to 128 characters, with `.` and `_`), so
//! `env-service-version` often breaks the first limit: `prod-payments-gateway-1.42.0-rc.1`.
//!
//! The names here are deterministic (a re-run after a crash finds what the dead run
//! created), valid, and unique: a readable prefix cut to fit, then a hash of the exact
//! (environment, service, version), so `1.4.2` and `1-4-2`, or environment `a-b` with
//! service `c` and environment `a` with service `b-c`, never share a name.

use sha2::{Digest, Sha256};

/// The longest target group name ELBv2 accepts.
pub const TARGET_GROUP_NAME_MAX: usize = 32;

/// The longest ECS service name.
pub const ECS_SERVICE_NAME_MAX: usize = 255;

/// Hex digits of the hash that ends every name: 36 bits, so two versions of one service
/// share a name with odds of about 1 in 69 billion.
const HASH_LEN: usize = 9;

/// The target group of `version` of `service` in `environment`: at most 32 characters,
/// ASCII letters, digits and hyphens, not starting or ending with a hyphen
/// (`prod-web-1-4-2-0a1b2c3d4`).
pub fn target_group_name(environment: &str, service: &str, version: &str) -> String {
    name_within(&[environment, service, version], TARGET_GROUP_NAME_MAX, |c| c.is_ascii_alphanumeric())
}

/// The ECS service that runs `version` of `ecs_service` (the environment's service name):
/// at most 255 letters, digits, hyphens and underscores (`web-prod-1-4-2-0a1b2c3d4`).
pub fn version_service_name(ecs_service: &str, version: &str) -> String {
    name_within(&[ecs_service, version], ECS_SERVICE_NAME_MAX, |c| c.is_ascii_alphanumeric() || c == '_')
}

/// CreateService's `clientToken` for the service `name` that deployment `deployment_id`
/// creates: 32 hex characters (ECS allows up to 36 ASCII characters), the same for the same
/// pair, so a re-run's CreateService gets the service the dead run created.
pub fn client_token(deployment_id: &str, name: &str) -> String {
    hash_of(&[deployment_id, name])[..32].to_string()
}

/// `parts` joined by hyphens, every character `keep` refuses turned into a hyphen, runs of
/// hyphens made one, cut to leave room for `-HASH`, never starting or ending with a hyphen.
fn name_within(parts: &[&str], max: usize, keep: impl Fn(char) -> bool) -> String {
    let mut readable = String::new();
    for part in parts {
        for c in part.chars().chain(std::iter::once('-')) {
            let c = if keep(c) { c } else { '-' };
            if c == '-' && (readable.is_empty() || readable.ends_with('-')) {
                continue;
            }
            readable.push(c);
        }
    }
    let room = max - HASH_LEN - 1;
    let cut: String = readable.chars().take(room).collect();
    let cut = cut.trim_matches('-');
    let hash = hash_of(parts);
    if cut.is_empty() { format!("v-{}", &hash[..HASH_LEN.min(max - 2)]) } else { format!("{cut}-{}", &hash[..HASH_LEN]) }
}

/// SHA-256 of the parts, each ended by a NUL (no part holds one), in hex.
fn hash_of(parts: &[&str]) -> String {
    let mut sha = Sha256::new();
    for part in parts {
        sha.update(part.as_bytes());
        sha.update([0u8]);
    }
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether ELBv2 accepts `name` as a target group name (the rule quoted above).
pub fn is_valid_target_group_name(name: &str) -> bool {
    (1..=TARGET_GROUP_NAME_MAX).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_short_name_reads_as_env_service_version() {
        let name = target_group_name("prod", "web", "1.4.2");
        assert!(name.starts_with("prod-web-1-4-2-"), "{name}");
        assert!(is_valid_target_group_name(&name), "{name}");
        assert_eq!(name, target_group_name("prod", "web", "1.4.2"), "stable");
    }

    #[test]
    fn names_that_would_read_alike_differ() {
        assert_ne!(target_group_name("prod", "web", "1.4.2"), target_group_name("prod", "web", "1-4-2"));
        assert_ne!(target_group_name("a-b", "c", "1"), target_group_name("a", "b-c", "1"));
        assert_ne!(version_service_name("web", "1.4.2"), version_service_name("web", "1_4_2"));
    }

    #[test]
    fn a_long_name_is_cut_to_32_and_keeps_its_hash() {
        let name = target_group_name("production-eu-west-1", "payments-gateway-service", "2026.11.30-build.1234-rc.1");
        assert_eq!(name.len(), 32, "{name}");
        assert!(is_valid_target_group_name(&name), "{name}");
        assert!(name.starts_with("production-eu-west-1-p-"), "{name}");
    }

    #[test]
    fn a_name_of_symbols_only_still_names_something_valid() {
        let name = target_group_name("_", "_", "...");
        assert!(is_valid_target_group_name(&name), "{name}");
    }

    fn part() -> impl Strategy<Value = String> {
        // What ferry.toml allows for environments and services, and image tags for versions.
        "[A-Za-z0-9_.-]{1,128}"
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn every_target_group_name_is_valid_and_stable(env in part(), service in part(), version in part()) {
            let name = target_group_name(&env, &service, &version);
            prop_assert!(is_valid_target_group_name(&name), "{}", name);
            prop_assert_eq!(&name, &target_group_name(&env, &service, &version));
            let ecs = version_service_name(&service, &version);
            prop_assert!(ecs.len() <= ECS_SERVICE_NAME_MAX);
            prop_assert!(ecs.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{}", ecs);
        }

        #[test]
        fn two_versions_never_share_a_target_group(env in part(), service in part(), a in part(), b in part()) {
            prop_assume!(a != b);
            prop_assert_ne!(target_group_name(&env, &service, &a), target_group_name(&env, &service, &b));
        }
    }
}
