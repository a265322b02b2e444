//! A client-side token bucket: ferry's own share of the account's API budget.
//!
//! ECS throttles per account and region with token buckets (a burst, refilled per
//! second). A throttled call is retried by the SDK, after a back-off; a run of fifty
//! services that bursts past the bucket would spend its time in those back-offs. Pacing
//! ferry's calls below the bucket keeps them from being throttled in the first place; the
//! SDK's retries remain for the throttling that other clients of the account cause.
//!
//! Hand-written rather than `governor` (issue 9, item 8): governor's `until_ready` lets waiters
//! through in no particular order (each sleeps on its own timer, then races to take the
//! cell). Twenty callers arriving 1 ms apart at a burst of 2 and 50/s came out as
//! `[0, 1, 4, 7, 5, 17, 16, …, 2, 13, 18, 11]` (bench/governor-order), so a call could wait
//! behind every later one. Made FIFO by a lock around it, governor would replace only the
//! refill arithmetic below, and bring its own clock (quanta) and timer thread (futures-timer)
//! beside tokio's.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Pacer {
    burst: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl Pacer {
    pub fn new(burst: u32, per_second: u32) -> Self {
        Pacer { burst: f64::from(burst), per_second: f64::from(per_second), state: Mutex::new((f64::from(burst), Instant::now())) }
    }

    /// Waits until a call may be made, and takes its token.
    pub async fn take(&self) {
        let mut state = self.state.lock().await;
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - *tokens) / self.per_second);
            // Holding the lock while waiting keeps callers in order.
            tokio::time::sleep(wait).await;
            *tokens = 1.0;
            *last = Instant::now();
        }
        *tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_beyond_the_burst_wait_for_the_refill() {
        let pacer = Pacer::new(3, 100);
        let start = Instant::now();
        for _ in 0..8 {
            pacer.take().await;
        }
        // 3 at once, then 5 at 100 per second: at least 50 ms (an upper bound would be timing).
        assert!(start.elapsed() >= Duration::from_millis(45), "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn waiting_callers_go_through_in_the_order_they_came() {
        let pacer = std::sync::Arc::new(Pacer::new(1, 500));
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut callers = Vec::new();
        for i in 0..10 {
            let (pacer, order) = (pacer.clone(), order.clone());
            callers.push(tokio::spawn(async move {
                pacer.take().await;
                order.lock().unwrap().push(i);
            }));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for caller in callers {
            caller.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
    }
}
