//! What a use case tells whoever runs it, as it happens: the events of a deploy, notes on
//! what it is doing, warnings, a promotion's plan. The CLI prints them (a terminal, a CI log,
//! JSON lines); a server streams them. Nothing below the binary prints.

use ferry_core::deploy::{Event, ServiceReport};

use crate::promote::PromotionPlan;

/// Receives what a use case has to say while it runs. Every method may be called from any
/// task of the run (hence `Send + Sync`), and must not block for long.
pub trait EventSink: Send + Sync {
    /// One event of a deploy run (phase, progress, an ECS event, a stopped task, the end).
    fn event(&self, report: &ServiceReport, event: &Event);

    /// A line of progress about `service` (or the whole run): "rolling back to web:3 (...)",
    /// "promoting rel-1a2b to prod (atomic)", "warning: cannot record events in the ledger".
    fn note(&self, service: Option<&str>, text: &str);

    /// Something the person must hear whatever the output format (a ledger that lost
    /// history since ferry last used it): said once, without the `warning: ` prefix.
    fn warning(&self, text: &str);

    /// A promotion's plan, before anything changes and before approval is asked for.
    fn promotion_plan(&self, plan: &PromotionPlan) {
        let _ = plan;
    }

    /// What a one-off task of `service` (`ferry run`) does as it runs: the revision it runs,
    /// its start, its status, a line it printed, its end. The default drops it.
    fn task_event(&self, service: &str, event: &crate::task::TaskEvent) {
        let _ = (service, event);
    }

    /// The running figures of a deployment's probe (requests sent through the production
    /// listener, failed, p99), about once a second while it probes. The default drops them.
    fn probe(&self, service: &str, deployment_id: &str, stats: &ferry_core::probe::ProbeStats) {
        let _ = (service, deployment_id, stats);
    }

    /// Whether progress should carry the new tasks' health (it costs API calls): a person
    /// watching a live view wants it, a pipeline does not.
    fn wants_task_health(&self) -> bool {
        false
    }
}

/// A sink that drops everything: for callers that only want the result.
pub struct Silent;

impl EventSink for Silent {
    fn event(&self, _report: &ServiceReport, _event: &Event) {}
    fn note(&self, _service: Option<&str>, _text: &str) {}
    fn warning(&self, _text: &str) {}
}

/// Who approves a promotion into an environment that requires approval, when the input
/// does not approve it already: the CLI asks the person at the terminal, a server asks its
/// caller (or nobody).
pub trait Approver: Send + Sync {
    /// Asks `question` (it follows the plan); true approves as the actor of the run.
    /// False when nobody can be asked.
    fn approve(&self, question: &str) -> bool;
}

/// An approver that never approves: nobody to ask.
pub struct NoApprover;

impl Approver for NoApprover {
    fn approve(&self, _question: &str) -> bool {
        false
    }
}
