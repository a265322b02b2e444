//! The ledger suite: one set of cases every [`LedgerBackend`](crate::LedgerBackend) must pass,
//! the same code for each (not copies). Compiled with the `suite` feature, for tests only.
//!
//! Each case is a function taking an empty [`Ledger`]; [`ledger_suite!`](crate::ledger_suite)
//! turns every case into a `#[test]` over a backend:
//!
//! ```ignore
//! ferry_store::ledger_suite!(|| {
//!     let dir = tempfile::tempdir().expect("tempdir");
//!     let ledger = ferry_store::Ledger::open(&dir.path().join("ledger.sqlite")).expect("open");
//!     (dir, ledger) // the first part is kept alive for the test's length
//! });
//! ```

// Test code: a failed expectation panics with its message, which is how a case fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod deployments_and_locks;
pub mod journal;
pub mod races;
pub mod releases;
pub mod transfer;

/// One `#[test]` per case of the suite, each over a fresh ledger from `$open` (a closure
/// returning `(guard, Ledger)`; the guard, such as a temporary directory or a table to drop,
/// lives until the case ends).
///
/// `ledger_suite!(ignored: $open)` marks every case `#[ignore]`, for a backend that needs a
/// server started outside `cargo test` (run them with `cargo test -- --ignored`).
#[macro_export]
macro_rules! ledger_suite {
    (ignored: $open:expr) => {
        $crate::ledger_suite!(@list [ignore] $open);
    };
    ($open:expr) => {
        $crate::ledger_suite!(@list [] $open);
    };
    (@list $attrs:tt $open:expr) => {
        $crate::ledger_suite!(@cases $attrs $open;
            deployments_and_locks::every_field_survives_insert_update_and_read,
            deployments_and_locks::every_outcome_is_stored_and_read_back,
            deployments_and_locks::unknown_deployments_are_not_found,
            deployments_and_locks::a_duplicate_deployment_id_is_refused,
            deployments_and_locks::history_is_newest_first_filtered_and_limited,
            deployments_and_locks::history_without_a_limit_returns_fifty,
            deployments_and_locks::last_succeeded_skips_failures_and_the_excluded_task_definition,
            deployments_and_locks::last_succeeded_excludes_every_deployment_of_the_running_task_definition,
            deployments_and_locks::latest_per_service_is_the_newest_success_of_each,
            deployments_and_locks::succeeded_with_version_finds_the_newest_success_of_that_version,
            deployments_and_locks::events_come_back_in_the_order_they_were_recorded,
            deployments_and_locks::an_event_for_an_unknown_deployment_is_refused,
            deployments_and_locks::a_second_holder_is_refused_with_the_first_holder_named,
            deployments_and_locks::an_expired_lease_is_taken_over,
            deployments_and_locks::the_same_deployment_may_acquire_again,
            deployments_and_locks::renewing_extends_the_lease_and_a_stale_holder_is_refused,
            deployments_and_locks::a_lapsed_lease_nobody_took_can_still_be_renewed,
            deployments_and_locks::renewing_a_lock_that_is_gone_is_not_found,
            deployments_and_locks::release_by_a_non_holder_is_a_no_op,
            releases::a_release_is_recorded_with_its_content_derived_id_and_entries_sorted,
            releases::creating_the_same_release_again_returns_the_first_unchanged,
            releases::a_release_without_services_or_with_a_service_twice_is_refused,
            releases::a_release_is_found_by_a_unique_prefix_of_its_id,
            releases::an_ambiguous_prefix_is_refused_naming_the_candidates,
            releases::rejection_is_permanent_and_the_first_one_is_kept,
            releases::releases_are_listed_newest_first_and_limited,
            releases::promotions_are_inserted_updated_and_listed_per_release,
            releases::a_promotion_needs_a_recorded_release_that_was_not_rejected,
            releases::healthy_since_is_when_the_running_digest_last_succeeded,
            releases::healthy_since_ends_when_a_later_success_moves_the_service,
            journal::steps_are_journaled_before_and_after_in_order,
            journal::a_step_of_an_unknown_deployment_is_refused_and_writes_nothing,
            journal::the_newest_unfinished_deployment_is_found,
            journal::a_lock_whose_holder_is_gone_is_taken_over_and_says_whose_it_was,
            journal::a_resumed_deployment_takes_its_own_lock_only_from_a_dead_process,
            races::eight_threads_racing_for_one_lock_have_exactly_one_winner_every_round,
            races::unlock_frees_the_lock_and_records_who_held_it,
            races::unlock_without_a_reason_changes_nothing,
            transfer::an_export_holds_everything_and_importing_it_again_adds_nothing,
            transfer::a_damaged_export_is_refused_and_changes_nothing,
            transfer::an_import_while_another_runs_is_refused_naming_it_and_changes_nothing,
        );
    };
    (@cases $attrs:tt $open:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            $crate::ledger_suite!(@case $attrs $open; $module :: $case);
        )*
    };
    (@case [$($attr:meta)*] $open:expr; $module:ident :: $case:ident) => {
        #[test]
        $(#[$attr])*
        fn $case() {
            let (_guard, ledger) = ($open)();
            $crate::suite::$module::$case(&ledger);
        }
    };
}
