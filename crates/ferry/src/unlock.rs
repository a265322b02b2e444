//! `ferry unlock ENV SERVICE --reason TEXT`: free a lock a deploy left behind, saying why.
//! The ledger records whose lock it was, who freed it, when and why, in the same
//! transaction that frees it.

use ferry_app::Context;
use ferry_app::unlock::UnlockInput;
use ferry_store::{LockInfo, Unlock};

use crate::Failure;
use crate::cli::{GlobalArgs, UnlockArgs};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, args: UnlockArgs) -> Result<(), Failure> {
    // `--output json` ends with a result object, also when the command is refused.
    unlock(global, args).await.inspect_err(|failure| crate::output::failure_result(global, "unlock", failure))
}

async fn unlock(global: &GlobalArgs, args: UnlockArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: Default::default() };
    let input = UnlockInput { environment: args.environment, service: args.service, reason: args.reason };
    let result = ferry_app::unlock::unlock(&ctx, input).await?;
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result",
            "command": "unlock",
            "environment": result.environment,
            "service": result.service,
            "unlocked": result.freed.is_some(),
            "freed": result.freed,
            "exit_code": 0,
        }));
        return Ok(());
    }
    match &result.freed {
        None => printer.out(&format!("{} in {} is not locked: nothing to free, nothing recorded", result.service, result.environment)),
        Some(unlock) => printer.out(&freed_text(unlock, result.at, &actor.host)),
    }
    Ok(())
}

/// What `ferry unlock` says it did: whose lock it freed (held since when, by which
/// deployment), that it is recorded, and — when the holder may still be at work — what that
/// means.
pub fn freed_text(unlock: &Unlock, now: i64, this_host: &str) -> String {
    let lock = &unlock.lock;
    let mut text = format!(
        "freed the lock on {} in {} held by {} since {} (deployment {}, pid {}); recorded in the ledger: freed by {}: {}",
        lock.service,
        lock.environment,
        lock.holder.name(),
        ferry_store::format_rfc3339(lock.acquired_at),
        lock.holder.deployment_id,
        lock.holder.pid,
        unlock.by,
        unlock.reason
    );
    if !lock.is_expired(now) {
        let alive = lock.holder.host == this_host && ferry_app::actor::process_alive(lock.holder.pid);
        text.push_str(&format!(
            "\nwarning: its lease ran until {}{}: if that deploy still runs, it stops watching when it next renews its lock, and the ECS deployment it started carries on by itself (see `ferry status {}`)",
            ferry_store::format_rfc3339(lock.lease_until),
            if alive { format!(", and process {} on this host is still running", lock.holder.pid) } else { String::new() },
            lock.environment
        ));
    }
    text
}

/// A lock as `ferry status` lists it: who holds it, since when, for which deployment, and
/// whether its lease ran out (then anyone may take it over).
pub fn lock_text(lock: &LockInfo, now: i64) -> String {
    let lease = if lock.is_expired(now) {
        format!("lease ran out at {}: the next deploy takes it over", ferry_store::format_rfc3339(lock.lease_until))
    } else {
        format!("lease until {}", ferry_store::format_rfc3339(lock.lease_until))
    };
    format!(
        "{} in {}: locked by {} since {} (deployment {}, pid {}; {lease})",
        lock.service,
        lock.environment,
        lock.holder.name(),
        ferry_store::format_rfc3339(lock.acquired_at),
        lock.holder.deployment_id,
        lock.holder.pid
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_store::LockHolder;

    fn lock(who: &str, lease_until: i64) -> LockInfo {
        LockInfo {
            environment: "prod".into(),
            service: "web".into(),
            holder: LockHolder { deployment_id: "fd-1".into(), who: who.into(), host: "vm".into(), pid: 4_000_000 },
            acquired_at: 1_795_428_000_000,
            lease_until,
        }
    }

    #[test]
    fn unlock_says_who_held_the_lock_and_that_it_is_recorded() {
        let unlock =
            Unlock { lock: lock("root@vm", 1_795_428_120_000), by: "bob@ops".into(), at: 1_795_428_060_000, reason: "runner died".into() };
        let text = freed_text(&unlock, unlock.at, "elsewhere");
        assert!(
            text.starts_with(
                "freed the lock on web in prod held by root@vm since 2026-11-23T10:00:00Z (deployment fd-1, pid 4000000); recorded in the ledger: freed by bob@ops: runner died"
            ),
            "{text}"
        );
        assert!(text.contains("warning: its lease ran until 2026-11-23T10:02:00Z: if that deploy still runs"), "{text}");
        let expired = freed_text(&unlock, 1_795_428_120_000, "elsewhere");
        assert!(!expired.contains("warning"), "{expired}");
    }

    #[test]
    fn status_shows_who_holds_a_lock_since_when() {
        let text = lock_text(&lock("root@vm", 1_795_428_120_000), 1_795_428_060_000);
        assert_eq!(
            text,
            "web in prod: locked by root@vm since 2026-11-23T10:00:00Z (deployment fd-1, pid 4000000; lease until 2026-11-23T10:02:00Z)"
        );
        let text = lock_text(&lock("alice", 1_795_428_120_000), 1_795_428_120_000);
        assert!(text.contains("locked by alice@vm since") && text.contains("lease ran out at 2026-11-23T10:02:00Z"), "{text}");
    }
}
