//! A client-side token bucket: ferry's own share of the account's API budget.
//!
//! ECS throttles per account and region with token buckets (a burst, refilled per
//! second). A throttled call is retried by the SDK, after a back-off; a run of fifty
//! services that bursts past the bucket would spend its time in those back-offs. Pacing
//! ferry's calls below the bucket keeps them from being throttled in the first place; the
//! SDK's retries remain for the throttling that other clients of the account cause.

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
}
