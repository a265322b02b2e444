//! The one error of the use cases: what went wrong in words (the `Display`), what kind of
//! failure it is ([`Error::kind`], which is the exit code), what caused it
//! ([`std::error::Error::source`]), and what to do about it ([`Error::hint`]) when ferry
//! knows more than the message says.
//!
//! Messages are whole sentences a person reads after `error: `; a source's own words are in
//! the message already, so a report walks the chain only for what the message lacks.

use std::path::PathBuf;

use ferry_core::ExitKind;
use ferry_core::platform::PlatformError;
use ferry_store::StoreError;

use crate::run::Interrupted;

/// Any error, boxed, as the cause of an [`Error::Input`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of a use case. Every variant maps to one [`ExitKind`] (see [`Error::kind`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input: the command line, ferry.toml, a template or a file it names (exit 2).
    #[error("{message}")]
    Input {
        /// What is wrong, naming the field or file and what was expected.
        message: String,
        /// The error behind it (the config loader's, an I/O error), when there was one.
        #[source]
        source: Option<BoxError>,
    },
    /// A gate or preflight refused before anything changed: a release that is not healthy
    /// or was rejected, a service that is not there, nothing earlier to roll back to (exit 4).
    #[error("{message}")]
    Refused { message: String },
    /// The platform (AWS, ferry local, a registry) refused a call or could not be reached
    /// (exit 3). `message` is the platform error's words, or a summary of several.
    #[error("{message}")]
    Platform {
        /// `operation: what the platform said` (`ecs:DescribeServices: AccessDeniedException: ...`).
        message: String,
        /// The call that failed: its operation, AWS's error code, its message.
        #[source]
        source: Option<PlatformError>,
    },
    /// The ledger could not be opened, read or written (exit 8).
    #[error("{message}")]
    Ledger {
        message: String,
        /// The ledger's file, when known.
        path: Option<PathBuf>,
        /// Boxed: the ledger's errors are large, and every `Result` carries this one.
        #[source]
        source: Option<Box<StoreError>>,
    },
    /// A run (deploy, plan, promote, rollback) in which not every service succeeded: `kind`
    /// is the worst of their outcomes (4 refused, 5 rolled back, 6 rollback failed, 7 lock
    /// held, ...), `message` names each failed service and how it ended.
    #[error("{message}")]
    Run {
        kind: ExitKind,
        message: String,
        /// What to do about it (for a lock held: who to ask, how to free it).
        hint: Option<String>,
    },
    /// Stopped through the cancellation token (Ctrl-C) while a run was under way (exit
    /// 130): the deployments it marked interrupted, and the reason.
    #[error("{}", .0.reason)]
    Interrupted(Box<Interrupted>),
    /// Something that is not the user's doing (exit 1).
    #[error("{message}")]
    Internal { message: String },
}

/// The result of a use case.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The kind of failure, which is the process's exit code (`kind().code()`): 1 internal,
    /// 2 invalid input, 3 platform, 4 refused, 5 failed and rolled back, 6 rollback failed,
    /// 7 lock held, 8 ledger, 130 interrupted.
    pub fn kind(&self) -> ExitKind {
        match self {
            Error::Input { .. } => ExitKind::InvalidInput,
            Error::Refused { .. } => ExitKind::PreflightRefused,
            Error::Platform { .. } => ExitKind::Platform,
            Error::Ledger { .. } => ExitKind::Ledger,
            Error::Run { kind, .. } => *kind,
            Error::Interrupted(_) => ExitKind::Interrupted,
            Error::Internal { .. } => ExitKind::Internal,
        }
    }

    /// What to do about the error, when ferry knows more than the message says: for a lock
    /// held, who holds it, since when and how to free it; for a ledger file that cannot be
    /// opened or written, which file it is and how to choose another; for access denied,
    /// whose permissions.
    ///
    /// An unreachable endpoint, an endpoint that is not AWS, and credentials that cannot be
    /// found carry their hint in the message already (worded once, by `ferry_aws::reach`:
    /// "Is ferry local running? ...", with the endpoint and where it is configured, or the
    /// credential chain that was tried); `hint` does not repeat it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Run { hint, .. } => hint.clone(),
            // The ledger's own errors say what to do about a damaged, replaced or newer
            // file; a file that cannot be opened or written at all gets where it is and how
            // to choose another.
            Error::Ledger { path: Some(path), source: Some(e), .. }
                if matches!(**e, StoreError::Sqlite { .. } | StoreError::Io { .. } | StoreError::File { .. }) =>
            {
                Some(format!(
                    "the ledger is {}: check that ferry may write there (permissions, free space, no other program holding it), or choose another file with --ledger FILE (or FERRY_LEDGER)",
                    path.display()
                ))
            }
            Error::Platform { source: Some(e), .. } => match e.code.as_deref() {
                Some(code) if code.starts_with("AccessDenied") || code == "UnauthorizedOperation" => Some(format!(
                    "the credentials in use may not call {}: check their IAM policy, or the environment's profile or role_arn in ferry.toml",
                    e.operation
                )),
                _ => None,
            },
            _ => None,
        }
    }

    /// Invalid input (exit 2).
    pub fn input(message: impl Into<String>) -> Self {
        Error::Input { message: message.into(), source: None }
    }

    /// Invalid input caused by `source` (exit 2); `message` says it in full.
    pub fn input_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Input { message: message.into(), source: Some(source.into()) }
    }

    /// A refusal before anything changed (exit 4).
    pub fn refused(message: impl Into<String>) -> Self {
        Error::Refused { message: message.into() }
    }

    /// A platform failure said in words, without a platform error behind it (exit 3).
    pub fn platform(message: impl Into<String>) -> Self {
        Error::Platform { message: message.into(), source: None }
    }

    /// The ledger failed (exit 8), said in words.
    pub fn ledger(message: impl Into<String>) -> Self {
        Error::Ledger { message: message.into(), path: None, source: None }
    }

    /// The ledger at `path` failed with `source`; `message` says what was being done.
    pub fn ledger_at(message: impl Into<String>, path: impl Into<PathBuf>, source: StoreError) -> Self {
        Error::Ledger { message: message.into(), path: Some(path.into()), source: Some(Box::new(source)) }
    }

    /// Something that is not the user's doing (exit 1).
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal { message: message.into() }
    }

    /// An error of the given kind, said in words: for callers (the binary's own commands)
    /// that decide the kind themselves.
    pub fn new(kind: ExitKind, message: impl Into<String>) -> Self {
        let message = message.into();
        match kind {
            ExitKind::InvalidInput => Error::input(message),
            ExitKind::PreflightRefused => Error::refused(message),
            ExitKind::Platform => Error::platform(message),
            ExitKind::Ledger => Error::ledger(message),
            ExitKind::Internal | ExitKind::Ok => Error::internal(message),
            ExitKind::Interrupted => {
                Error::Interrupted(Box::new(Interrupted { command: "", run_id: String::new(), services: Vec::new(), reason: message }))
            }
            kind => Error::Run { kind, message, hint: None },
        }
    }

    /// Cancelled before a run changed anything (exit 130).
    pub fn interrupted_before(command: &'static str) -> Self {
        Error::Interrupted(Box::new(Interrupted {
            command,
            run_id: String::new(),
            services: Vec::new(),
            reason: "interrupted: nothing was changed".into(),
        }))
    }

    /// A ledger error as the user sees it: a refusal when the ledger refused on the merits
    /// (a rejected release, an ambiguous id), a ledger failure otherwise.
    pub fn from_store(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(message) => Error::refused(message),
            other => Error::Ledger { message: other.to_string(), path: None, source: Some(Box::new(other)) },
        }
    }

    /// A config lookup (`config.service(..)`, `config.environment(..)`) that failed: the
    /// config's message is the whole story.
    pub(crate) fn config(error: ferry_core::error::Error) -> Self {
        Error::from(error)
    }
}

impl From<ferry_core::error::Error> for Error {
    /// Invalid input (exit 2) or a gate's refusal (exit 4), as the engine's error says.
    fn from(e: ferry_core::error::Error) -> Self {
        match e.kind {
            ferry_core::error::ErrorKind::Invalid => Error::input(e.message),
            ferry_core::error::ErrorKind::Refused => Error::refused(e.message),
        }
    }
}

impl From<PlatformError> for Error {
    fn from(e: PlatformError) -> Self {
        Error::Platform { message: e.to_string(), source: Some(e) }
    }
}

impl From<StoreError> for Error {
    /// Any ledger error is a ledger failure (exit 8); see [`Error::from_store`] for the
    /// ledger's refusals.
    fn from(e: StoreError) -> Self {
        Error::Ledger { message: e.to_string(), path: None, source: Some(Box::new(e)) }
    }
}

/// The causes of `error` that its message does not already say, outermost first: what a
/// report adds under the message.
pub fn unsaid_causes(error: &dyn std::error::Error) -> Vec<String> {
    let mut said = error.to_string();
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !said.contains(&text) {
            said.push_str(&text);
            causes.push(text);
        }
        source = cause.source();
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_keeps_its_exit_code() {
        assert_eq!(Error::input("x").kind().code(), 2);
        assert_eq!(Error::platform("x").kind().code(), 3);
        assert_eq!(Error::refused("x").kind().code(), 4);
        assert_eq!(Error::new(ExitKind::FailedRolledBack, "x").kind().code(), 5);
        assert_eq!(Error::new(ExitKind::RollbackFailed, "x").kind().code(), 6);
        assert_eq!(Error::new(ExitKind::LockHeld, "x").kind().code(), 7);
        assert_eq!(Error::ledger("x").kind().code(), 8);
        assert_eq!(Error::new(ExitKind::Interrupted, "x").kind().code(), 130);
        assert_eq!(Error::internal("x").kind().code(), 1);
    }

    #[test]
    fn a_ledger_that_cannot_be_created_is_named_in_the_hint_and_one_that_advises_itself_is_not() {
        let path = std::path::Path::new("/dev/null/ferry/ledger.sqlite");
        let e = match ferry_store::Ledger::open(path) {
            Ok(_) => panic!("a ledger under /dev/null opened"),
            Err(e) => Error::ledger_at(format!("cannot open the ledger {}: {e}", path.display()), path, e),
        };
        assert_eq!(e.kind(), ExitKind::Ledger);
        assert!(e.hint().is_some_and(|h| h.contains("/dev/null/ferry/ledger.sqlite") && h.contains("--ledger FILE")), "{:?}", e.hint());
        let rejected = StoreError::Invalid("release rel-1 was rejected".into());
        assert_eq!(Error::from_store(rejected).kind(), ExitKind::PreflightRefused);
        let corrupt = StoreError::Corrupt { path: path.to_path_buf(), detail: "not a database".into() };
        assert_eq!(Error::ledger_at("cannot open the ledger", path, corrupt).hint(), None);
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_said_twice() {
        let e = Error::from(PlatformError::new("ecs:DescribeServices", Some("AccessDeniedException".into()), "denied"));
        assert_eq!(e.to_string(), "ecs:DescribeServices: denied");
        assert!(unsaid_causes(&e).is_empty());
        assert!(e.hint().is_some_and(|h| h.contains("ecs:DescribeServices")), "{:?}", e.hint());
        let e = Error::input_from("registries.main: bad URL", std::io::Error::other("no scheme"));
        assert_eq!(unsaid_causes(&e), vec!["no scheme".to_string()]);
    }
}
