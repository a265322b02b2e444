//! The HTTP endpoint: one port on 127.0.0.1 serving every emulated service the way the
//! regional endpoints do (in each service's wire protocol, see `protocol`), plus the admin
//! path `/_ferry/…` for faults, limits and status.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::api::{ApiError, Ctx, Input, now};
use crate::faults::{AdminError, ApiFault, Faults, TaskFault, rate_limits_from_json};
use crate::model::Service;
use crate::protocol::{self, AwsJson11, Protocol, Reply, Request, Route};
use crate::runtime::{Engine, lock};
use crate::state::{Journal, Partition, State, Store, partition_key, state_file};
use crate::traffic::Traffic;
use crate::wire::{Signed, caller_from_auth};

/// The port `ferry local up` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 4590;

#[derive(Clone, Debug)]
pub struct Options {
    /// 0 picks a free port.
    pub port: u16,
    pub state_dir: PathBuf,
    /// Scales the health-check timings of target groups (interval, timeout) down from
    /// AWS's, so that tests run in seconds: 1.0 (the default) is AWS's timing, 0.1 checks a
    /// target with a 5 s interval every 0.5 s. What the API answers is never scaled.
    /// `ferry local up --health-check-scale`; see docs/local.md.
    pub health_check_scale: f64,
    /// How many seconds one minute of an ECS deployment's own timings lasts: the bake times
    /// and lifecycle hook timeouts of BLUE_GREEN, LINEAR and CANARY deployments (60, AWS's
    /// minute, by default; 0.6 runs a 10-minute canary bake in 6 s). The configuration is
    /// answered as given; a hook's `expiresAt` is when it really expires. `ferry local up
    /// --minute-seconds`; see docs/local.md.
    pub minute_seconds: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { port: 0, state_dir: PathBuf::new(), health_check_scale: 1.0, minute_seconds: 60.0 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot use state directory {dir}: {source}")]
    StateDir { dir: PathBuf, source: std::io::Error },
    #[error("cannot read saved state: {0}")]
    State(#[from] crate::state::LoadError),
}

#[derive(Clone)]
struct App {
    engine: Arc<Engine>,
    started_at: f64,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// AWS requests received, by `service:Operation`: how benchmarks and tests count the
    /// calls a tool makes.
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
    /// Where every write is persisted before it is answered.
    store: Arc<Store>,
    /// The state directory, reported by `/_ferry/status` so a client that found this
    /// instance by its port can say which one it is.
    state_dir: PathBuf,
    /// The listener proxies, for `/_ferry/status`.
    traffic: Arc<Traffic>,
}

/// A running ferry local.
pub struct LocalServer {
    addr: SocketAddr,
    engine: Arc<Engine>,
    store: Arc<Store>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl LocalServer {
    /// Loads the saved state, marks tasks of a previous run stopped (their services start
    /// new ones), and starts serving.
    pub async fn start(options: Options) -> Result<LocalServer, LocalError> {
        let dir = options.state_dir.clone();
        std::fs::create_dir_all(dir.join("logs")).map_err(|source| LocalError::StateDir { dir: dir.clone(), source })?;
        let mut state = State::load(&state_file(&dir)).map_err(LocalError::State)?;
        let journal = Journal::open(&dir, &mut state).map_err(LocalError::State)?;
        let engine = Arc::new(Engine {
            state: Arc::new(Mutex::new(state)),
            faults: Arc::new(Mutex::new(Faults::default())),
            logs_dir: dir.join("logs"),
            log_events: Arc::new(crate::logs::store::EventStore::new(&dir)),
            minute_seconds: options.minute_seconds,
        });
        engine.recover();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|source| LocalError::Bind { port: options.port, source })?;
        let addr = listener.local_addr().map_err(|source| LocalError::Bind { port: options.port, source })?;
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let store = Arc::new(Store::new(&dir, journal));
        let (traffic, traffic_task) =
            Traffic::start(Arc::clone(&engine.state), &dir.join("logs"), options.health_check_scale, shutdown.subscribe());
        let app = App {
            engine: Arc::clone(&engine),
            started_at: now(),
            shutdown: shutdown.clone(),
            calls: Arc::default(),
            store: Arc::clone(&store),
            state_dir: dir.clone(),
            traffic,
        };
        let router = Router::new()
            .route("/_ferry/status", get(admin_status).fallback(admin_method_not_allowed))
            .route("/_ferry/faults", get(get_faults).post(add_fault).delete(clear_faults).fallback(admin_method_not_allowed))
            .route("/_ferry/task-faults", post(add_task_fault).delete(clear_task_faults).fallback(admin_method_not_allowed))
            .route("/_ferry/rate-limits", post(set_rate_limits).delete(clear_rate_limits).fallback(admin_method_not_allowed))
            .route("/_ferry/shutdown", post(request_shutdown).fallback(admin_method_not_allowed))
            .route("/_ferry/calls", get(get_calls).delete(reset_calls).fallback(admin_method_not_allowed))
            // AWS JSON and Query are POST on `/`, Smithy RPC v2 CBOR POST on
            // `/service/<Service>/operation/<Operation>`; every other method and path is no operation.
            .route("/", post(aws).fallback(not_an_operation))
            .route("/service/{*operation}", post(aws).fallback(not_an_operation))
            .fallback(not_an_operation)
            .with_state(app);
        let mut rx = shutdown.subscribe();
        let http = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await;
        });
        let ticker = tokio::spawn(Arc::clone(&engine).run(shutdown.subscribe()));
        let saver = tokio::spawn(save_loop(Arc::clone(&engine), Arc::clone(&store), shutdown.subscribe()));
        Ok(LocalServer { addr, engine, store, shutdown, tasks: vec![http, ticker, saver, traffic_task] })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL to give AWS clients (`--endpoint-url`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resolves when shutdown was requested (through `POST /_ferry/shutdown`).
    pub async fn shutdown_requested(&self) {
        let mut rx = self.shutdown.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops serving, stops every task process (SIGTERM, then SIGKILL) and saves the state.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.engine.stop_all(Duration::from_secs(5)).await;
        save(&self.engine, &self.store);
    }
}

/// Saves what the scheduler and runtime changed on their own (task states, events,
/// counters), every 500 ms when something did. API writes do not wait for this: they are
/// persisted before they are answered.
async fn save_loop(engine: Arc<Engine>, store: Arc<Store>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
        let dirty = lock(&engine.state).dirty;
        if dirty {
            save(&engine, &store);
        }
    }
}

/// Snapshots the state under its lock and writes it outside the lock (the store keeps
/// snapshots in order). A failure is logged and retried on the next round.
fn save(engine: &Engine, store: &Store) {
    let snapshot = lock(&engine.state).snapshot();
    let written = store.persist_snapshot(snapshot);
    if let Err(e) = written {
        lock(&engine.state).dirty = true;
        tracing::warn!("cannot save ferry local state: {e}");
    }
}

/// An HTTP response from what a protocol wrote, with a fresh request id
/// (`x-amzn-RequestId`) unless one is given.
fn respond(reply: Reply, request_id: Option<&str>) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, reply.body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(reply.content_type));
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    if let Some(v) = reply.error_type.and_then(|t| HeaderValue::from_str(&t).ok()) {
        headers.insert("x-amzn-errortype", v);
    }
    let id = request_id.map(str::to_string).unwrap_or_else(new_request_id);
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An AWS JSON 1.1 error answer, for requests no protocol could take.
fn error_response(err: &ApiError) -> Response {
    respond(AwsJson11.error(None, err, ""), None)
}

/// Every AWS request: the protocol finds the service and operation; then identify the
/// caller, apply injected faults, read the input, validate it against the model, run the
/// handler, and answer in the request's protocol.
async fn aws(AxumState(app): AxumState<App>, uri: Uri, RawQuery(query): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let request = Request {
        target: header("x-amz-target"),
        content_type: header("content-type"),
        authorization: header("authorization"),
        query: query.as_deref(),
        path: uri.path(),
        smithy_protocol: header("smithy-protocol"),
        body: &body,
    };
    let protocol = protocol::detect(&request);
    let request_id = new_request_id();
    let reply = match call(&app, protocol, &request, header("x-amz-date")).await {
        Ok((route, output)) => protocol.output(&route, &output, &request_id),
        Err((route, e)) => protocol.error(route.as_ref(), &e, &request_id),
    };
    respond(reply, Some(&request_id))
}

/// One AWS call, from routed request to the handler's output, in no particular wire format.
async fn call(
    app: &App,
    protocol: &dyn Protocol,
    request: &Request<'_>,
    amz_date: Option<&str>,
) -> Result<(Route, Value), (Option<Route>, ApiError)> {
    let route = protocol.route(request).map_err(|e| (None, e))?;
    let fail = |e: ApiError| (Some(route.clone()), e);
    let (service, operation) = (route.service, route.operation.as_str());
    let Some(model) = service.model() else {
        return Err(fail(ApiError::new(500, "InternalFailure", "service model unavailable")));
    };
    let signed = Signed { authorization: request.authorization, query: request.query, amz_date };
    // The short service names are the models' SigV4 signing names (`ecr` for ECR).
    let caller = caller_from_auth(signed, service.name()).map_err(fail)?;
    *lock(&app.calls).entry(format!("{}:{operation}", service.name())).or_default() += 1;
    let decision = lock(&app.engine.faults).decide(&caller.partition(), service.name(), operation, now());
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    if let Some(err) = decision.error {
        return Err(fail(err));
    }
    let input = protocol.input(&route, request).map_err(fail)?;
    model.validate(operation, &input).map_err(fail)?;
    let empty = Map::new();
    let input_map = input.as_object().unwrap_or(&empty);
    // The state lock is held for this block only: never across an await.
    let (result, listeners_moved) = {
        let mut state = lock(&app.engine.state);
        let key = (caller.account.clone(), caller.region.clone());
        // A write is persisted before it is answered; if that fails it is undone, so keep
        // what it may change. Reads need no copy. The write is persisted under the state
        // lock on purpose: no reader, tick or other write sees a change that may yet be
        // undone, and the undo restores exactly what the handler found (measured: reads
        // behind writes keep p99 at 3.5 ms, docs/benchmarks.md). DynamoDB keeps its own
        // undo log (its changes since `mark`) and journal, so that neither the copy nor the
        // write grows with the items stored (`state::journal`).
        let write = !is_read(operation);
        let dynamodb = matches!(service, Service::DynamoDb);
        let name = partition_key(&key.0, &key.1);
        let before = if write && !dynamodb { Some(state.partitions.get_mut(&name).map(Partition::clone_without_dynamodb)) } else { None };
        let mark = state.partitions.get(&name).map_or(0, |p| p.dynamodb.changes.len());
        let partition = state.partition(&caller.account, &caller.region);
        let mut ctx = Ctx { partition, caller: &caller, now: now() };
        let input = Input(input_map);
        let handled = match service {
            Service::Ecs => crate::ecs::dispatch(operation, &mut ctx, &input),
            Service::Ecr => crate::ecr::dispatch(operation, &mut ctx, &input),
            Service::ApplicationAutoScaling => crate::autoscaling::dispatch(operation, &mut ctx, &input),
            Service::Elbv2 => crate::elbv2::dispatch(operation, &mut ctx, &input),
            Service::Logs => crate::logs::dispatch(operation, &mut ctx, &input, &app.engine.log_events),
            Service::Ssm => crate::ssm::dispatch(operation, &mut ctx, &input),
            Service::SecretsManager => crate::secretsmanager::dispatch(operation, &mut ctx, &input),
            Service::DynamoDb => crate::dynamodb::dispatch(operation, &mut ctx, &input),
            Service::CloudWatch => crate::cloudwatch::dispatch(operation, &mut ctx, &input),
        };
        let result = handled.unwrap_or_else(|| {
            Err(ApiError::client("UnsupportedOperation", format!("ferry local does not implement {}:{operation} yet", service.name())))
        });
        let unavailable = |e: std::io::Error| {
            tracing::error!("cannot persist {}:{operation}, answered 503 and undone: {e}", service.name());
            ApiError::new(
                503,
                "ServiceUnavailableException",
                format!(
                    "ferry local could not persist this request ({e}); nothing was changed. Free disk space in the state directory and retry."
                ),
            )
        };
        let result = match (result, before) {
            // A successful DynamoDB write: its changes journaled before the answer leaves
            // (with the expired items reads found since the last one), or undone.
            (Ok(value), None) if write && dynamodb => {
                let mut journal = app.store.journal();
                let appended = journal.append(state.partition(&key.0, &key.1));
                match appended {
                    Ok(()) => {
                        if journal.wants_compaction()
                            && let Err(e) = journal.compact(&mut state)
                        {
                            tracing::warn!("cannot compact the DynamoDB journal (retried after the next write): {e}");
                        }
                        Ok(value)
                    }
                    Err(e) => {
                        state.partition(&key.0, &key.1).dynamodb.undo(mark);
                        Err(unavailable(e))
                    }
                }
            }
            // A successful write: on disk before the answer leaves, or undone.
            (Ok(value), Some(before)) => match app.store.persist_snapshot(state.snapshot()) {
                Ok(()) => Ok(value),
                Err(e) => {
                    match before {
                        Some(mut partition) => {
                            if let Some(current) = state.partitions.get_mut(&name) {
                                partition.dynamodb = std::mem::take(&mut current.dynamodb);
                            }
                            state.partitions.insert(name, partition)
                        }
                        None => state.partitions.remove(&name),
                    };
                    state.dirty = true;
                    Err(unavailable(e))
                }
            },
            (result, _) => result,
        };
        // Read your writes: a successful ELBv2 write routes the next request through a
        // listener, so its routing table is published before the answer. One that added,
        // moved or removed a listener is answered once the proxies follow (a deleted
        // listener's port free, a new one's bound), waited for below, without the lock.
        let listeners_moved =
            if write && result.is_ok() && matches!(service, Service::Elbv2) { app.traffic.publish_routes(&state) } else { None };
        (result, listeners_moved)
    };
    if let Some(generation) = listeners_moved {
        app.traffic.listeners_applied(generation).await;
    }
    match result {
        Ok(value) => Ok((route, value)),
        Err(e) => Err(fail(e)),
    }
}

/// Any request that is not POST on `/` (or, for Smithy RPC v2 CBOR, on `/service/…`). AWS JSON
/// 1.1 endpoints (the ECS, ECR and Application Auto Scaling regional endpoints) serve POST on
/// `/` only; ferry local's Query-protocol services (ELBv2, CloudWatch) are served POST only,
/// as botocore sends them. A request a real endpoint cannot map to an operation
/// is answered 404 `UnknownOperationException` (the body `<UnknownOperationException/>`, as
/// captured in soto-project/soto#580), not 405; ferry local answers the same status and
/// code, in the JSON error shape its clients parse. Nothing is read or changed. Under
/// `/_ferry/` the admin path answers in its own shape.
async fn not_an_operation(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/_ferry" || path.starts_with("/_ferry/") {
        let error =
            format!("no admin endpoint {path}: the admin path has /_ferry/status, faults, task-faults, rate-limits, calls, shutdown");
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": error}))).into_response();
    }
    let shown: String = path.chars().take(128).collect();
    error_response(&ApiError::new(
        404,
        "UnknownOperationException",
        format!("{method} {shown} is not an operation: AWS JSON 1.1 requests are POST /"),
    ))
}

/// A method an admin endpoint does not have.
async fn admin_method_not_allowed(method: Method, uri: Uri) -> Response {
    let error = format!("{} does not take {method}; see the admin path in docs/local.md", uri.path());
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({"error": error}))).into_response()
}

pub(crate) fn is_read(operation: &str) -> bool {
    // DynamoDB's reads: Query, Scan, TransactGetItems.
    ["Describe", "List", "BatchGet", "Get", "Filter", "Query", "Scan", "TransactGet"].iter().any(|p| operation.starts_with(p))
}

async fn admin_status(AxumState(app): AxumState<App>) -> Response {
    let state = lock(&app.engine.state);
    let mut clusters = 0;
    let mut services = 0;
    let mut running = 0;
    let mut repositories = 0;
    for p in state.partitions.values() {
        clusters += p.clusters.values().filter(|c| c.status == "ACTIVE").count();
        services += p.services.values().filter(|s| s.status == "ACTIVE").count();
        running += p.tasks.values().filter(|t| t.last_status == "RUNNING").count();
        repositories += p.repositories.len();
    }
    let faults = lock(&app.engine.faults);
    axum::Json(json!({
        "pid": std::process::id(),
        "stateDir": app.state_dir.display().to_string(),
        "startedAt": app.started_at,
        "clusters": clusters,
        "services": services,
        "runningTasks": running,
        "repositories": repositories,
        // Each account and region a request reached: a refused request adds none.
        "partitions": state.partitions.len(),
        "faults": faults.api.len(),
        "taskFaults": faults.tasks.len(),
        "rateLimits": faults.rate_limits_enabled,
        "injectedErrors": faults.injected,
        "throttledRequests": faults.throttled,
        // Each ELBv2 listener's proxy: where it listens, or why it cannot.
        "listeners": app.traffic.listeners(),
        "accessLogDropped": app.traffic.access_log_dropped(),
    }))
    .into_response()
}

/// The AWS requests received since start (or the last reset), by `service:Operation`.
async fn get_calls(AxumState(app): AxumState<App>) -> Response {
    let calls = lock(&app.calls).clone();
    let total: u64 = calls.values().sum();
    axum::Json(json!({"total": total, "calls": calls})).into_response()
}

async fn reset_calls(AxumState(app): AxumState<App>) -> Response {
    lock(&app.calls).clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_faults(AxumState(app): AxumState<App>) -> Response {
    let faults = lock(&app.engine.faults);
    axum::Json(json!({"faults": faults.api, "taskFaults": faults.tasks})).into_response()
}

/// A refused admin request: 400 and `{"error": "field: why", "field": "field"}`; nothing changed.
fn bad_admin_request(e: &AdminError) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e.to_string(), "field": e.field}))).into_response()
}

async fn add_fault(AxumState(app): AxumState<App>, body: Bytes) -> Response {
    match ApiFault::from_json(&body) {
        Ok(fault) => {
            lock(&app.engine.faults).api.push(fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_admin_request(&e),
    }
}

async fn clear_faults(AxumState(app): AxumState<App>) -> Response {
    lock(&app.engine.faults).api.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn add_task_fault(AxumState(app): AxumState<App>, body: Bytes) -> Response {
    match TaskFault::from_json(&body) {
        Ok(fault) => {
            lock(&app.engine.faults).tasks.push(fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_admin_request(&e),
    }
}

async fn clear_task_faults(AxumState(app): AxumState<App>) -> Response {
    lock(&app.engine.faults).tasks.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn set_rate_limits(AxumState(app): AxumState<App>, body: Bytes) -> Response {
    let limits = match rate_limits_from_json(&body) {
        Ok(limits) => limits,
        Err(e) => return bad_admin_request(&e),
    };
    let mut faults = lock(&app.engine.faults);
    faults.rate_limits_enabled = true;
    faults.rate_limits = limits;
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_rate_limits(AxumState(app): AxumState<App>) -> Response {
    let mut faults = lock(&app.engine.faults);
    faults.rate_limits_enabled = false;
    faults.rate_limits.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn request_shutdown(AxumState(app): AxumState<App>) -> Response {
    let _ = app.shutdown.send(true);
    StatusCode::ACCEPTED.into_response()
}
