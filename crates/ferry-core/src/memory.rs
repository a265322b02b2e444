//! A memory budget for work that must not take the process down: rendering a template.
//!
//! minijinja bounds instructions (fuel) and recursion, but not the size of the values a
//! template builds: `{% set ns.s = ns.s ~ ns.s %}` in a loop doubles a string each turn, and
//! 40 turns ask for a terabyte. Rust aborts the process when an allocation fails, so the only
//! bound that holds is one checked before the allocation is made.
//!
//! [`BoundedAlloc`] is the system allocator that counts what a thread allocates while the
//! thread is under a budget. [`run_bounded`] runs a closure on its own thread under a
//! budget; an allocation that would go over it is never made: that thread stops for good
//! (it sleeps, holding what it already had, at most the budget) and the caller gets
//! [`Exceeded`] instead of a process aborted for want of memory.
//!
//! The stopped thread must hold no lock anyone else needs: rendering takes none (no
//! printing, no logging), and a panicking thread, whose hook does take one, is not bounded.
//!
//! The binary installs the allocator (`#[global_allocator]`); without it the closure runs
//! the same, unbounded. Only the budgeted thread pays for the bookkeeping beyond one
//! thread-local read per allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

thread_local! {
    /// Whether this thread is under a budget.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Bytes this thread may still allocate.
    static LEFT: Cell<isize> = const { Cell::new(0) };
    /// Set when this thread went over its budget (owned by the thread's [`run_bounded`] call).
    static TRIPPED: Cell<*const AtomicBool> = const { Cell::new(std::ptr::null()) };
}

/// The system allocator, counting allocations of threads under a budget.
pub struct BoundedAlloc;

/// Takes `bytes` from the thread's budget, if it has one; over budget, never returns.
fn charge(bytes: usize) {
    let armed = ARMED.try_with(Cell::get).unwrap_or(false);
    // A panicking thread is let through: the panic hook allocates (a backtrace, many MiB)
    // under a lock every later panic needs, and must not stop holding it.
    if !armed || std::thread::panicking() {
        return;
    }
    let left = LEFT.try_with(|l| {
        let left = l.get().saturating_sub(isize::try_from(bytes).unwrap_or(isize::MAX));
        l.set(left);
        left
    });
    if left.is_ok_and(|left| left < 0) {
        over_budget();
    }
}

fn refund(bytes: usize) {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = LEFT.try_with(|l| l.set(l.get().saturating_add(isize::try_from(bytes).unwrap_or(isize::MAX))));
    }
}

/// Tells the waiting caller and stops this thread for good, without allocating.
fn over_budget() -> ! {
    let _ = ARMED.try_with(|a| a.set(false));
    let flag = TRIPPED.try_with(Cell::get).unwrap_or(std::ptr::null());
    if !flag.is_null() {
        // SAFETY: the pointer is to an AtomicBool in an Arc this thread's run_bounded frame
        // keeps alive, and that frame never returns from here.
        unsafe { (*flag).store(true, Ordering::SeqCst) };
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

// SAFETY: every method defers to the system allocator with the same arguments; the
// bookkeeping around it neither allocates nor unwinds.
unsafe impl GlobalAlloc for BoundedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refund(layout.size());
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        } else {
            refund(layout.size() - new_size);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Why [`run_bounded`] returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("needed more than {} MiB of memory", .0 / (1024 * 1024))]
    Memory(usize),
    #[error("stopped unexpectedly (a panic)")]
    Panicked,
    #[error("could not start: no thread to run on")]
    NoThread,
}

/// Runs `f` on a thread of its own that may allocate at most `budget` bytes (when
/// [`BoundedAlloc`] is the global allocator). Over budget, that thread is abandoned and
/// `Exceeded::Memory` returned; the memory it holds (at most the budget) is not given back.
pub fn run_bounded<T: Send + 'static>(budget: usize, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Exceeded> {
    let tripped = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let flag = tripped.clone();
    // The main thread's stack size: a template's nesting (bounded) must not overflow it.
    let spawned = std::thread::Builder::new().name("ferry-bounded".into()).stack_size(8 * 1024 * 1024).spawn(move || {
        let _ = TRIPPED.try_with(|t| t.set(Arc::as_ptr(&flag)));
        let _ = LEFT.try_with(|l| l.set(isize::try_from(budget).unwrap_or(isize::MAX)));
        let _ = ARMED.try_with(|a| a.set(true));
        let value = f();
        let _ = ARMED.try_with(|a| a.set(false));
        let _ = TRIPPED.try_with(|t| t.set(std::ptr::null()));
        let _ = tx.send(value);
        drop(flag);
    });
    if spawned.is_err() {
        // No thread to spare: refuse rather than run unbounded on the caller's thread.
        return Err(Exceeded::NoThread);
    }
    loop {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(value) => return Ok(value),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if tripped.load(Ordering::SeqCst) => return Err(Exceeded::Memory(budget)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Err(Exceeded::Panicked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOCATOR: BoundedAlloc = BoundedAlloc;

    #[test]
    fn work_within_the_budget_returns_its_value() {
        let value = run_bounded(1 << 20, || vec![7u8; 1000].len()).expect("within budget");
        assert_eq!(value, 1000);
    }

    #[test]
    fn an_allocation_over_the_budget_is_never_made_and_the_caller_is_told() {
        let result = run_bounded(1 << 20, || {
            let mut s = String::from("x");
            // Doubling: a terabyte after 40 turns, were it allowed.
            for _ in 0..40 {
                s = format!("{s}{s}");
            }
            s.len()
        });
        assert_eq!(result, Err(Exceeded::Memory(1 << 20)));
        // This thread is not under any budget.
        assert_eq!(vec![0u8; 4 << 20].len(), 4 << 20);
    }

    #[test]
    fn a_panic_is_reported_not_propagated() {
        let result: Result<(), Exceeded> = run_bounded(1 << 20, || panic!("boom"));
        assert_eq!(result, Err(Exceeded::Panicked));
    }
}
