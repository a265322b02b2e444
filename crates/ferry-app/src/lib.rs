//! ferry's use cases, shared by the CLI and `ferry serve`: deploy, plan, promote, rollback,
//! release, status, history, tag, unlock, check and task (`ferry run`), one module each.
//!
//! Each takes a [`Context`] (where the project is, who runs it, an [`EventSink`] for what
//! happens as it runs, a cancellation token) and a typed input, and returns a typed result
//! (`Serialize`, for JSON) or an [`Error`] whose [`Error::kind`] is the exit code. Nothing
//! here prints, prompts or reads the terminal: a promotion's approval is asked through an
//! [`Approver`] the caller implements, and Ctrl-C is the caller's to turn into a cancelled
//! token. The wiring of the engine's ports (the ledger's locks and journal, the system clock,
//! the AWS and OCI clients) lives in [`project`] and [`journal`].

pub mod actor;
pub mod check;
pub mod deploy;
pub mod error;
pub mod events;
pub mod gc;
pub mod history;
pub mod journal;
pub mod ledger;
pub mod logs;
pub mod plan;
pub mod probe;
pub mod proceed;
pub mod project;
pub mod promote;
pub mod release;
pub mod rollback;
pub mod run;
pub mod scale;
pub mod sink;
pub mod status;
pub mod tag;
pub mod task;
pub mod unlock;
pub mod upstream;
pub mod watch;
pub mod words;

pub use actor::Actor;
pub use error::{Error, Result};
pub use project::{Context, Project, ServiceVersion, Var};
pub use run::{Interrupted, RunResult};
pub use sink::{Approver, EventSink};
pub use tokio_util::sync::CancellationToken;
