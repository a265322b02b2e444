//! 20 callers arrive 1 ms apart at a bucket of burst 2, 50/s. Which order are they let through?
//! Prints the order of three rounds and how many neighbours are out of order (0 for FIFO).
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{Quota, RateLimiter};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rate = NonZeroU32::new(50).ok_or("zero rate")?;
    let burst = NonZeroU32::new(2).ok_or("zero burst")?;
    for round in 0..3 {
        let limiter = Arc::new(RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let mut callers = Vec::new();
        for i in 0..20 {
            let (limiter, order) = (limiter.clone(), order.clone());
            callers.push(tokio::spawn(async move {
                limiter.until_ready().await;
                order.lock().map(|mut order| order.push(i)).is_ok()
            }));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for caller in callers {
            caller.await?;
        }
        let order = order.lock().map_err(|_| "poisoned")?.clone();
        let inversions = order.windows(2).filter(|w| w[0] > w[1]).count();
        println!("round {round}: {order:?} in {:?}; {inversions} out-of-order neighbours", start.elapsed());
    }
    Ok(())
}
