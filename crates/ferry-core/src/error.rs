//! ferry-core's one error: a value that is not valid (a config key, a version, a name, a
//! template's lookup, a task definition) or a gate that refuses (the promotion chain, soak,
//! approval), in words that name what was wrong and what was expected. The use cases map its
//! [`ErrorKind`] to an exit code (2 for invalid input, 4 for a refusal).

use serde::Serialize;

use crate::ExitKind;

/// See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    /// What was wrong, naming it, and what was expected.
    pub message: String,
}

/// What kind of error an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The user's input: ferry.toml, a command-line value, a template.
    Invalid,
    /// A gate refused: nothing is wrong with the input, but it may not go ahead.
    Refused,
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Invalid, message: message.into() }
    }

    pub fn refused(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Refused, message: message.into() }
    }

    /// The exit code's kind: 2 for invalid input, 4 for a refusal.
    pub fn exit_kind(&self) -> ExitKind {
        match self.kind {
            ErrorKind::Invalid => ExitKind::InvalidInput,
            ErrorKind::Refused => ExitKind::PreflightRefused,
        }
    }

    /// Whether the message says `text` (for tests and callers that add context).
    pub fn contains(&self, text: &str) -> bool {
        self.message.contains(text)
    }
}

/// The message alone, for callers that build on it.
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.message
    }
}

/// A message that is an invalid-input error (a `?` from a function that words its own).
impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::invalid(message)
    }
}

/// Results of ferry-core's checks.
pub type Result<T, E = Error> = std::result::Result<T, E>;
