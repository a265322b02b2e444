//! ferry's domain: the ECS vocabulary, the configuration model, and the deploy engine over
//! ports (traits) that adapters implement.
//!
//! - [`strategy`]: each strategy (rolling, env-tag) a step machine that decides the next
//!   step from what is desired and what is observed;
//! - [`deploy`]: the executor that applies those steps, journaled through the [`journal`]
//!   (so a run killed at any moment is finished by the same command), watches the exact ECS
//!   deployment it started, and rolls back; its [`deploy::Event`]s are data;
//! - [`rolling`]: the rollout's judgement, and [`target_health`] its load balancer's part;
//!   [`promote`]: the promotion gates;
//!   [`error`]: the one error type.
//!
//! Pure apart from the journal's test hook ([`journal::kill_point`]): no I/O and no clock of
//! its own. The platform (ECS, ELBv2, the registry), the ledger and time are reached through the
//! traits in [`platform`] and [`deploy`], so the engine can be driven by the real SDK
//! adapters against AWS or `ferry local`, and by in-memory fakes in unit tests.

pub mod config;
pub mod deploy;
pub mod error;
pub mod gc;
pub mod journal;
pub mod memory;
pub mod naming;
pub mod one_off;
pub mod platform;
pub mod probe;
pub mod promote;
pub mod region;
pub mod rolling;
pub mod strategy;
pub mod target_health;
pub mod taskdef;
pub mod template;
pub mod text;
pub mod time;

/// The kinds of failure ferry reports, each with its own exit code, so CI can tell a bad
/// command line from a refused deploy from a failed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// Success.
    Ok,
    /// Something went wrong that is not the user's doing.
    Internal,
    /// Invalid input: command line, config, template, request.
    InvalidInput,
    /// The platform (AWS or ferry local) refused or could not be reached.
    Platform,
    /// Preflight refused the deploy (missing image, inactive service, ...); nothing changed.
    PreflightRefused,
    /// The deploy failed and the service is back on its previous revision. For `ferry run`:
    /// a one-off task stopped without an exit code for its container (it never ran it, or
    /// was stopped), or its `--timeout` passed.
    FailedRolledBack,
    /// The deploy failed and so did the rollback: the service needs a person.
    RollbackFailed,
    /// Another deploy of the same service holds the lock.
    LockHeld,
    /// The ledger (history, locks, releases) could not be read or written.
    Ledger,
    /// Stopped by Ctrl-C (SIGINT); whatever ECS was doing carries on.
    Interrupted,
}

impl ExitKind {
    pub fn code(self) -> i32 {
        match self {
            ExitKind::Ok => 0,
            ExitKind::Internal => 1,
            ExitKind::InvalidInput => 2,
            ExitKind::Platform => 3,
            ExitKind::PreflightRefused => 4,
            ExitKind::FailedRolledBack => 5,
            ExitKind::RollbackFailed => 6,
            ExitKind::LockHeld => 7,
            ExitKind::Ledger => 8,
            ExitKind::Interrupted => 130,
        }
    }

    /// The worst of two outcomes, for a run that deploys several services: a rollback that
    /// failed outranks a clean rollback, which outranks a refusal.
    pub fn worst(self, other: ExitKind) -> ExitKind {
        fn rank(kind: ExitKind) -> u8 {
            match kind {
                ExitKind::Ok => 0,
                ExitKind::PreflightRefused => 1,
                ExitKind::LockHeld => 2,
                ExitKind::InvalidInput => 3,
                ExitKind::FailedRolledBack => 4,
                ExitKind::Platform => 5,
                ExitKind::Ledger => 6,
                ExitKind::Internal => 7,
                ExitKind::RollbackFailed => 8,
                ExitKind::Interrupted => 9,
            }
        }
        if rank(other) > rank(self) { other } else { self }
    }
}

/// The tag of an image reference (`repo:tag`), or None for a digest reference or no tag.
pub fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

/// The digest of an image reference (`repo@sha256:...`), if it names one.
pub fn image_digest(image: &str) -> Option<&str> {
    image.split_once('@').map(|(_, digest)| digest)
}

/// `sha256:0123456789abcdef...` → `sha256:0123456789ab`: enough to tell digests apart in a line.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", hex.get(..12).unwrap_or(hex)),
        None => digest.to_string(),
    }
}

/// Checks that a version can be an image tag: the OCI distribution spec's
/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`. Returns what is wrong, in words.
pub fn check_version(version: &str) -> Result<(), error::Error> {
    if version.is_empty() {
        return Err(error::Error::invalid("the version is empty"));
    }
    if version.len() > 128 {
        return Err(error::Error::invalid(format!("the version is {} characters long; an image tag has at most 128", version.len())));
    }
    let mut chars = version.chars();
    let first = chars.next().unwrap_or('_');
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return Err(error::Error::invalid(format!(
            "the version {version:?} must start with a letter, a digit or '_' (it is an image tag)"
        )));
    }
    if let Some(bad) = version.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(error::Error::invalid(format!(
            "the version {version:?} contains {bad:?}; an image tag allows letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_are_read_past_registry_ports() {
        assert_eq!(image_tag("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2"), Some("1.4.2"));
        assert_eq!(image_tag("localhost:5000/web"), None);
        assert_eq!(image_tag("localhost:5000/web:dev"), Some("dev"));
        assert_eq!(image_tag("web@sha256:abc"), None);
        assert_eq!(image_digest("web@sha256:abc"), Some("sha256:abc"));
    }

    #[test]
    fn versions_must_be_image_tags() {
        assert!(check_version("1.4.2").is_ok());
        assert!(check_version("build-90_rc.1").is_ok());
        assert!(check_version("").unwrap_err().contains("empty"));
        assert!(check_version("-x").unwrap_err().contains("must start"));
        assert!(check_version("1.0/beta").unwrap_err().contains("'/'"));
        assert!(check_version(&"a".repeat(129)).unwrap_err().contains("at most 128"));
    }

    #[test]
    fn the_worst_outcome_wins() {
        assert_eq!(ExitKind::Ok.worst(ExitKind::FailedRolledBack), ExitKind::FailedRolledBack);
        assert_eq!(ExitKind::RollbackFailed.worst(ExitKind::FailedRolledBack), ExitKind::RollbackFailed);
        let codes: std::collections::HashSet<i32> = [
            ExitKind::Ok,
            ExitKind::Internal,
            ExitKind::InvalidInput,
            ExitKind::Platform,
            ExitKind::PreflightRefused,
            ExitKind::FailedRolledBack,
            ExitKind::RollbackFailed,
            ExitKind::LockHeld,
            ExitKind::Interrupted,
        ]
        .into_iter()
        .map(ExitKind::code)
        .collect();
        assert_eq!(codes.len(), 9);
    }
}
