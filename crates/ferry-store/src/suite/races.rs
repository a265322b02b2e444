//! The ledger suite: concurrent writers, and locks freed by a person.

use std::sync::Barrier;

use crate::{Ledger, LockHolder, StoreError};

const T0: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z
const MINUTE: i64 = 60_000;

fn holder(deployment_id: &str, who: &str, pid: u32) -> LockHolder {
    LockHolder { deployment_id: deployment_id.into(), who: who.into(), host: "runner".into(), pid }
}

/// Eight threads share one ledger handle and race for the same fresh lock, round after round
/// (over a network store the requests really overlap): exactly one wins each round, every
/// loser is told who won, and the stored lock agrees.
pub fn eight_threads_racing_for_one_lock_have_exactly_one_winner_every_round(ledger: &Ledger) {
    const RACERS: usize = 8;
    const ROUNDS: usize = 5;
    let barrier = Barrier::new(RACERS);
    // Each racer returns, per round, Ok(name of the winner it saw) or Err(what went wrong),
    // and never panics before the last barrier, so no racer is left waiting.
    let results: Vec<Vec<Result<String, String>>> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..RACERS)
            .map(|racer| {
                let barrier = &barrier;
                scope.spawn(move || {
                    (0..ROUNDS)
                        .map(|round| {
                            barrier.wait();
                            let who = format!("racer-{racer}");
                            let pid = u32::try_from(racer).unwrap_or(0) + 100;
                            let me = holder(&format!("fd-{racer}-{round}"), &who, pid);
                            match ledger.acquire_lock("prod", &format!("svc-{round}"), &me, 10 * MINUTE, T0) {
                                Ok(()) => Ok(who),
                                Err(StoreError::LockHeld(info)) => Ok(info.holder.who.clone()),
                                Err(other) => Err(format!("{who}: {other}")),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        racers.into_iter().map(|racer| racer.join().expect("racer thread")).collect()
    });
    for round in 0..ROUNDS {
        let seen: Vec<&String> = results.iter().map(|r| r[round].as_ref().expect("acquire")).collect();
        assert!(seen.iter().all(|who| *who == seen[0]), "round {round}: racers disagree on the winner: {seen:?}");
        let stored = ledger.lock("prod", &format!("svc-{round}")).expect("lock").expect("held");
        assert_eq!(&stored.holder.who, seen[0], "round {round}: the stored lock names the winner");
    }
}

pub fn unlock_frees_the_lock_and_records_who_held_it(ledger: &Ledger) {
    let held = holder("fd-1", "alice@laptop", 7);
    ledger.acquire_lock("prod", "web", &held, 10 * MINUTE, T0).expect("lock");
    let freed = ledger.unlock("prod", "web", "bob@ops", "deploy was killed", T0 + 1).expect("unlock").expect("a lock");
    assert_eq!(freed.lock.holder, held);
    assert_eq!((freed.by.as_str(), freed.reason.as_str(), freed.at), ("bob@ops", "deploy was killed", T0 + 1));
    assert_eq!(ledger.lock("prod", "web").expect("read"), None);
    assert_eq!(ledger.unlocks("prod", "web").expect("read"), vec![freed]);
    let next = holder("fd-2", "carol", 8);
    ledger.acquire_lock("prod", "web", &next, 10 * MINUTE, T0 + 2).expect("lock again");
}

pub fn unlock_without_a_reason_changes_nothing(ledger: &Ledger) {
    let held = holder("fd-1", "alice", 7);
    ledger.acquire_lock("prod", "web", &held, 10 * MINUTE, T0).expect("lock");
    let before = ledger.lock("prod", "web").expect("read");
    assert!(matches!(ledger.unlock("prod", "web", "bob", "  ", T0 + 1), Err(StoreError::Invalid(_))));
    assert_eq!(ledger.lock("prod", "web").expect("read"), before);
    assert_eq!(ledger.unlocks("prod", "web").expect("read"), vec![]);
    assert_eq!(ledger.unlock("prod", "api", "bob", "why", T0 + 1).expect("unlock"), None);
    assert_eq!(ledger.unlocks("prod", "api").expect("read"), vec![]);
}
