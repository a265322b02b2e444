//! Calls that cannot reach their endpoint (issue 8, item 9, "never silent, never slow to say
//! so"), through the adapter itself: each kind of dead endpoint ends the call within the
//! operation timeout, with an error that names the endpoint, the cause and the fix, and each
//! retry is told as it starts.
//!
//! Timings are not what these tests are about; the one upper bound asserted (well past the
//! 20 s operation timeout) is what proves a call no longer runs for minutes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_aws::platform::AwsEcs;
use ferry_aws::reach::{self, Retry};
use ferry_aws::{Clients, Target};
use ferry_core::platform::Ecs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generous: the operation timeout is 20 s; before, a closed port took 36–52 s per call
/// and a port that never answered held a call for more than ten minutes.
const BOUND: Duration = Duration::from_secs(40);

/// The retries told so far, for the endpoint a test made (tests run side by side).
fn retries_to(endpoint: &str) -> Arc<Mutex<Vec<(Instant, Retry)>>> {
    static SEEN: Mutex<Vec<(Instant, Retry)>> = Mutex::new(Vec::new());
    reach::on_retry(|retry| SEEN.lock().unwrap().push((Instant::now(), retry.clone())));
    let mine = Arc::new(Mutex::new(Vec::new()));
    let (endpoint, copy) = (endpoint.to_string(), mine.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let seen = SEEN.lock().unwrap().iter().filter(|(_, r)| r.endpoint == endpoint).cloned().collect::<Vec<_>>();
            *copy.lock().unwrap() = seen;
        }
    });
    mine
}

async fn ecs_at(endpoint: &str) -> AwsEcs {
    let target = Target {
        endpoint_origin: Some("environments.dev.endpoint_url in ferry.toml".into()),
        ..Target::local(endpoint, "000000000000", "us-east-1")
    };
    let clients = Clients::new(&target).await;
    AwsEcs::new(clients.ecs).with_reach(clients.reach)
}

/// A port nothing listens on: bound, noted, closed.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_ends_the_call_within_the_operation_timeout_naming_ferry_local_up() {
    let port = closed_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let retries = retries_to(&endpoint);
    let ecs = ecs_at(&endpoint).await;
    let start = Instant::now();
    let error = ecs.describe_cluster("dev").await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(error.code.as_deref(), Some(reach::UNREACHABLE));
    assert_eq!(
        error.to_string(),
        format!(
            "ecs:DescribeClusters: cannot reach {endpoint}: connection refused: nothing listens there. Is ferry local running? Start it with `ferry local up --detach` (it prints its endpoint), or correct the URL (environments.dev.endpoint_url in ferry.toml)"
        )
    );
    assert!(took < BOUND, "took {took:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let retries = retries.lock().unwrap().clone();
    let (first_at, first) = retries.first().cloned().expect("the retries were told");
    assert_eq!((first.operation.as_str(), first.retry, &first.problem), ("ecs:DescribeClusters", 1, &reach::Problem::Refused));
    // Told within seconds (the first back-off is at most 1 s), not at the end.
    assert!(first_at - start < Duration::from_secs(5), "first retry told after {:?}", first_at - start);
    println!("closed port: {took:?}, {} retries told, the first after {:?}", retries.len(), first_at - start);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_accepts_and_never_answers_ends_the_call_within_the_operation_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Accept, read, never write.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let retries = retries_to(&endpoint);
    let ecs = ecs_at(&endpoint).await;
    let start = Instant::now();
    let error = ecs.describe_services("dev", &["web".to_string()]).await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(error.code.as_deref(), Some(reach::UNREACHABLE));
    assert_eq!(
        error.to_string(),
        format!(
            "ecs:DescribeServices: cannot reach {endpoint}: it accepted the connection but sent no answer within 5s. Something listens there but does not answer like ferry local: check `ferry local status` (or restart it with `ferry local down` and `ferry local up --detach`), or correct the URL (environments.dev.endpoint_url in ferry.toml)"
        )
    );
    assert!(took < BOUND, "took {took:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let retries = retries.lock().unwrap().clone();
    let (first_at, first) = retries.first().cloned().expect("the retries were told");
    assert_eq!((first.retry, &first.problem), (1, &reach::Problem::NoAnswer(reach::READ_TIMEOUT)));
    // The read timeout (5 s) and the first back-off (at most 1 s).
    assert!(first_at - start < Duration::from_secs(10), "first retry told after {:?}", first_at - start);
    println!("silent port: {took:?}, {} retries told, the first after {:?}", retries.len(), first_at - start);
}

/// A web server's page: what a wrong URL (a dashboard, a proxy) answers.
async fn html_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let _ = socket.read(&mut buffer).await;
                let body = "<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    endpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_answers_html_is_said_to_be_no_aws_api() {
    let endpoint = html_server().await;
    let ecs = ecs_at(&endpoint).await;
    let error = ecs.describe_cluster("dev").await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some(reach::NOT_AWS));
    assert_eq!(
        error.to_string(),
        format!(
            "ecs:DescribeClusters: {endpoint} is not an AWS API endpoint: it answered with an HTML page (HTTP 200), not as an AWS API does. Check the URL (environments.dev.endpoint_url in ferry.toml): `ferry local status` prints ferry local's endpoint (if it is not running, start it with `ferry local up --detach`)"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_without_its_clients_reach_still_says_what_happened() {
    // platform_error alone (no endpoint known): what it knows, without the hint.
    let port = closed_port();
    let clients = Clients::new(&Target::local(&format!("http://127.0.0.1:{port}"), "000000000000", "us-east-1")).await;
    let error = AwsEcs::new(clients.ecs).describe_cluster("dev").await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some(reach::UNREACHABLE));
    let text = error.to_string();
    assert!(
        [
            // The operation timeout came first (the usual case) ...
            "ecs:DescribeClusters: cannot reach the endpoint: no AWS answer within 20s, retries included",
            // ... or the eight attempts ran out before it.
            "ecs:DescribeClusters: cannot reach the endpoint: connection refused: nothing listens there",
        ]
        .contains(&text.as_str()),
        "{text}"
    );
}
