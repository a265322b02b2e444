//! A listener: an HTTP/1.1 reverse proxy on its load balancer's address and port.
//!
//! Per request, as an application load balancer does (Elastic Load Balancing,
//! *Application Load Balancers* guide): the first rule in priority order whose conditions
//! hold (`elbv2::conditions`) decides; its action forwards, answers itself
//! (`fixed-response`) or redirects. A forward picks a target group by weight, then a target
//! (see `table`), and passes the request on over a pooled keep-alive connection with
//! `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Port` and `X-Amzn-Trace-Id` added
//! ("HTTP headers and Application Load Balancers").
//!
//! What the load balancer answers itself ("Troubleshoot your Application Load Balancers":
//! "The load balancer generates an HTTP error"), with ALB's bodies and `Server: awselb/2.0`:
//! - 503 when the chosen group has no target that takes requests;
//! - 502 when the target refuses or breaks the connection, or its answer is not HTTP;
//! - 504 when the connection to the target is not established within 10 s, or the target
//!   has not answered within the load balancer's idle timeout.
//!
//! Connections: client connections are kept alive (HTTP/1.1) until idle for the load
//! balancer's `idle_timeout.timeout_seconds` (default 60 s); an answer from a target that
//! is draining carries `Connection: close`, so clients reconnect (and are balanced anew)
//! rather than keep a connection that was serving it.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rand::Rng;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::access_log::{AccessLog, Entry, clipped};
use super::table::{DEFAULT_IDLE_TIMEOUT, Forward, ListenerRoutes, Origin, RouteAction, RouteTarget, Table, TargetSlot, pick_weighted};
use crate::elbv2::conditions::{RequestFacts, host_without_port, matches};

/// ALB's timeout to establish a connection to a target.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled connection to a target is kept: shorter than the keep-alive
/// timeout of common servers (Node's 5 s), so the proxy does not reuse a connection the
/// target is closing.
const POOL_IDLE: Duration = Duration::from_secs(4);
const SERVER: HeaderValue = HeaderValue::from_static("awselb/2.0");

pub type Upstream = Client<HttpConnector, Incoming>;

/// A client to one target, with its own pool of keep-alive connections (see
/// `table::RouteTarget::client`). Cheap to create; nothing connects before a request.
pub fn upstream() -> Upstream {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_idle_timeout(POOL_IDLE).pool_timer(TokioTimer::new()).build(connector)
}

/// What every listener shares: the published table and the access log.
pub struct Shared {
    pub table: RwLock<Arc<Table>>,
    pub log: AccessLog,
}

impl Shared {
    pub fn new(log: AccessLog) -> Shared {
        Shared { table: RwLock::new(Arc::default()), log }
    }

    /// The table now (a pointer copy under a read lock held for no await).
    pub fn table(&self) -> Arc<Table> {
        Arc::clone(&self.table.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn publish(&self, table: Table) {
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
    }

    fn listener(&self, arn: &str) -> Option<Arc<ListenerRoutes>> {
        self.table().listeners.get(arn).cloned()
    }
}

/// Accepts connections on `listener` until `stop` fires (or its sender is dropped); each
/// connection is served on its own task and closed gracefully when `stop` fires.
pub async fn serve(listener: TcpListener, arn: Arc<str>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, peer, Arc::clone(&arn), Arc::clone(&shared), stop.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: say so, breathe, go on.
                tracing::warn!("listener {arn}: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A client connection's activity, for its idle timeout.
struct ConnState {
    opened: Instant,
    active: AtomicUsize,
    /// Milliseconds after `opened` of the last request's start or end.
    last: AtomicU64,
}

impl ConnState {
    fn touch(&self) {
        self.last.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long nothing has been going on (zero while a request is open).
    fn idle(&self) -> Duration {
        if self.active.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        self.opened.elapsed().saturating_sub(Duration::from_millis(self.last.load(Ordering::Relaxed)))
    }
}

/// The end of a request on its connection and, for a forwarded one, at its target: dropped
/// with the answer's body once it is sent (or abandoned).
struct Guard {
    conn: Arc<ConnState>,
    target: Option<Arc<TargetSlot>>,
}

impl Guard {
    fn new(conn: &Arc<ConnState>) -> Guard {
        conn.active.fetch_add(1, Ordering::Relaxed);
        conn.touch();
        Guard { conn: Arc::clone(conn), target: None }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(slot) = self.target.take() {
            slot.release();
        }
        self.conn.touch();
        self.conn.active.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(stream: tokio::net::TcpStream, peer: SocketAddr, arn: Arc<str>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let state = Arc::new(ConnState { opened: Instant::now(), active: AtomicUsize::new(0), last: AtomicU64::new(0) });
    let service = {
        let (state, arn, shared) = (Arc::clone(&state), Arc::clone(&arn), Arc::clone(&shared));
        service_fn(move |request| {
            let guard = Guard::new(&state);
            let (arn, shared) = (Arc::clone(&arn), Arc::clone(&shared));
            async move { Ok::<_, Infallible>(handle(request, peer, &arn, &shared, guard).await) }
        })
    };
    let conn = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let timeout = shared.listener(&arn).map_or(DEFAULT_IDLE_TIMEOUT, |l| l.idle_timeout);
        let wait = timeout.saturating_sub(state.idle()).max(Duration::from_millis(100));
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep(wait), if !closing => {
                if state.idle() >= timeout {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
            _ = stop.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// The answer's body: the target's, streamed, or one the load balancer wrote. It holds the
/// request's [`Guard`] until it is sent.
pub struct ProxyBody {
    kind: Kind,
    _guard: Option<Guard>,
}

enum Kind {
    Upstream(Incoming),
    Bytes(Option<Bytes>),
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.kind {
            Kind::Upstream(body) => Pin::new(body).poll_frame(cx),
            Kind::Bytes(bytes) => Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Upstream(body) => body.is_end_stream(),
            Kind::Bytes(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Upstream(body) => body.size_hint(),
            Kind::Bytes(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// An answer the load balancer writes itself.
fn own(status: StatusCode, content_type: &'static str, body: Bytes, guard: Guard) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody { kind: Kind::Bytes(Some(body)), _guard: Some(guard) });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::SERVER, SERVER);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// ALB's error page for `status` (502, 503 or 504).
fn error_page(status: StatusCode, guard: Guard) -> Response<ProxyBody> {
    let title = match status.as_u16() {
        502 => "502 Bad Gateway",
        503 => "503 Service Temporarily Unavailable",
        504 => "504 Gateway Time-out",
        _ => "500 Internal Server Error",
    };
    let body =
        format!("<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n");
    own(status, "text/html", Bytes::from(body), guard)
}

/// What the access log says of a request, filled in as it is routed.
struct Record {
    started: Instant,
    time: f64,
    method: String,
    host: Option<String>,
    path: String,
    rule: Option<Arc<str>>,
    action: Option<&'static str>,
    group: Option<Arc<str>>,
    target: Option<Arc<str>>,
    error: Option<&'static str>,
}

async fn handle(request: Request<Incoming>, peer: SocketAddr, arn: &Arc<str>, shared: &Shared, guard: Guard) -> Response<ProxyBody> {
    let mut record = Record {
        started: Instant::now(),
        time: crate::api::now(),
        method: clipped(request.method().as_str()),
        host: host_of(&request).map(clipped),
        path: clipped(request.uri().path()),
        rule: None,
        action: None,
        group: None,
        target: None,
        error: None,
    };
    let table = shared.table();
    let (response, port) = match table.listeners.get(&**arn) {
        Some(listener) => (route(request, peer, listener, guard, &mut record).await, listener.port),
        // Deleted a moment ago: its proxy is about to stop.
        None => (error_page(StatusCode::SERVICE_UNAVAILABLE, guard), 0),
    };
    shared.log.write(Entry {
        time: record.time,
        listener: Arc::clone(arn),
        port,
        client: peer,
        method: record.method,
        host: record.host,
        path: record.path,
        rule: record.rule,
        action: record.action,
        target_group: record.group,
        target: record.target,
        status: response.status().as_u16(),
        latency_ms: (record.started.elapsed().as_micros() as f64) / 1000.0,
        error: record.error,
    });
    response
}

fn host_of<B>(request: &Request<B>) -> Option<&str> {
    request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| request.uri().host())
}

async fn route(
    request: Request<Incoming>,
    peer: SocketAddr,
    listener: &ListenerRoutes,
    guard: Guard,
    record: &mut Record,
) -> Response<ProxyBody> {
    // Headers as the condition matcher reads them, only when a rule has conditions.
    let headers: Vec<(&str, &str)> = if listener.rules.len() > 1 {
        request.headers().iter().filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))).collect()
    } else {
        Vec::new()
    };
    let facts = RequestFacts {
        host: host_of(&request),
        path: request.uri().path(),
        method: request.method().as_str(),
        query: request.uri().query(),
        headers: &headers,
        source_ip: Some(peer.ip()),
    };
    let Some(rule) = listener.rules.iter().find(|r| matches(&r.conditions, &facts)) else {
        drop(headers);
        return error_page(StatusCode::SERVICE_UNAVAILABLE, guard);
    };
    record.rule = Some(Arc::clone(&rule.priority));
    record.action = Some(rule.action.name());
    match &rule.action {
        RouteAction::Fixed(fixed) => {
            let mut response = own(StatusCode::OK, "text/plain; charset=utf-8", fixed.body.clone(), guard);
            *response.status_mut() = StatusCode::from_u16(fixed.status).unwrap_or(StatusCode::OK);
            if let Some(v) = fixed.content_type.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
                response.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            response
        }
        RouteAction::Redirect(redirect) => {
            let host = redirect_host(facts.host, listener.ip);
            let origin =
                Origin { protocol: "HTTP", host: &host, port: listener.port, path: facts.path, query: facts.query.unwrap_or_default() };
            let location = super::table::redirect_location(redirect, &origin);
            let status = if redirect.status == 302 { StatusCode::FOUND } else { StatusCode::MOVED_PERMANENTLY };
            let mut response = own(status, "text/html", Bytes::new(), guard);
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            response
        }
        RouteAction::Unsupported => error_page(StatusCode::SERVICE_UNAVAILABLE, guard),
        RouteAction::Forward(forward) => {
            drop(headers);
            forward_request(request, peer, listener, forward, guard, record).await
        }
    }
}

/// What `#{host}` stands for in a redirect: the request's `Host` without its port
/// (`[::1]:8080` → `[::1]`), or the listener's address when the request has none (an IPv6
/// address in brackets, as in a URL).
fn redirect_host(host: Option<&str>, ip: IpAddr) -> String {
    match (host, ip) {
        (Some(h), _) => host_without_port(h).to_string(),
        (None, IpAddr::V6(v6)) => format!("[{v6}]"),
        (None, IpAddr::V4(v4)) => v4.to_string(),
    }
}

/// The value of cookie `name` among the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Hop-by-hop headers (RFC 9110 7.6.1): they concern one connection, never the next.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

/// `Root=1-<epoch seconds, hex>-<96 random bits, hex>`, ALB's trace id.
fn trace_id() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let random: u128 = rand::rng().random::<u128>() & ((1u128 << 96) - 1);
    format!("Root=1-{seconds:08x}-{random:024x}")
}

fn sticky_cookie(name: &str, value: &str, seconds: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("{name}={value}; Max-Age={seconds}; Path=/")).ok()
}

async fn forward_request(
    request: Request<Incoming>,
    peer: SocketAddr,
    listener: &ListenerRoutes,
    forward: &Forward,
    mut guard: Guard,
    record: &mut Record,
) -> Response<ProxyBody> {
    // The group: the one the AWSALBTG cookie names, if it is still weighted in; else by weight.
    let sticky_group = forward
        .stickiness
        .and_then(|_| cookie(request.headers(), "AWSALBTG"))
        .and_then(|value| forward.groups.iter().position(|g| g.weight > 0 && g.group.cookie == value));
    let chosen = sticky_group.or_else(|| {
        let roll = if forward.total > 1 { rand::rng().random_range(0..forward.total) } else { 0 };
        pick_weighted(&forward.weights, roll)
    });
    let Some(weighted) = chosen.map(|i| &forward.groups[i]) else {
        return error_page(StatusCode::SERVICE_UNAVAILABLE, guard);
    };
    let group = &weighted.group;
    record.group = Some(Arc::clone(&group.name));
    let sticky_target = group.stickiness.and_then(|_| cookie(request.headers(), "AWSALB"));
    let roll = if group.targets.len() > 1 { rand::rng().random_range(0..group.targets.len()) } else { 0 };
    let Some(target) = group.pick(sticky_target, roll) else {
        return error_page(StatusCode::SERVICE_UNAVAILABLE, guard);
    };
    guard.target = Some(Arc::clone(&target.slot));
    record.target = Some(Arc::clone(&target.authority));

    let upstream = match upstream_request(request, peer, listener, target) {
        Some(r) => r,
        None => {
            record.error = Some("TargetResponseError");
            return error_page(StatusCode::BAD_GATEWAY, guard);
        }
    };
    let response = match tokio::time::timeout(listener.idle_timeout, target.client.request(upstream)).await {
        Err(_) => {
            record.error = Some("TargetTimeout");
            return error_page(StatusCode::GATEWAY_TIMEOUT, guard);
        }
        Ok(Err(e)) => {
            if timed_out(&e) {
                record.error = Some("TargetConnectionTimeout");
                return error_page(StatusCode::GATEWAY_TIMEOUT, guard);
            }
            record.error = Some(if e.is_connect() { "TargetConnectionError" } else { "TargetResponseError" });
            return error_page(StatusCode::BAD_GATEWAY, guard);
        }
        Ok(Ok(response)) => response,
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if target.slot.is_draining() {
        parts.headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(seconds) = forward.stickiness
        && forward.groups.len() > 1
        && let Some(v) = sticky_cookie("AWSALBTG", &group.cookie, seconds)
    {
        parts.headers.append(header::SET_COOKIE, v);
    }
    if let Some(seconds) = group.stickiness
        && let Some(v) = sticky_cookie("AWSALB", &target.cookie, seconds)
    {
        parts.headers.append(header::SET_COOKIE, v);
    }
    Response::from_parts(parts, ProxyBody { kind: Kind::Upstream(body), _guard: Some(guard) })
}

/// The request as the target gets it: same method, path, query, headers and body, the
/// hop-by-hop headers dropped, ALB's `X-Forwarded-*` and trace id added. None when the
/// URI cannot be built (never for a request hyper parsed).
fn upstream_request(
    request: Request<Incoming>,
    peer: SocketAddr,
    listener: &ListenerRoutes,
    target: &RouteTarget,
) -> Option<Request<Incoming>> {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = Uri::builder().scheme("http").authority(&*target.authority).path_and_query(path).build().ok()?;
    parts.version = hyper::Version::HTTP_11;
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    if !headers.contains_key(header::HOST)
        && let Ok(v) = HeaderValue::from_str(&listener.ip.to_string())
    {
        headers.insert(header::HOST, v);
    }
    let client = peer.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {client}"),
        None => client,
    };
    headers.insert(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_str(&forwarded_for).ok()?);
    headers.insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_static("http"));
    headers.insert(HeaderName::from_static("x-forwarded-port"), HeaderValue::from(listener.port));
    if !headers.contains_key("x-amzn-trace-id") {
        headers.insert(HeaderName::from_static("x-amzn-trace-id"), HeaderValue::from_str(&trace_id()).ok()?);
    }
    Some(Request::from_parts(parts, body))
}

/// Whether a client error is a connection that timed out being established.
fn timed_out(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name_among_several_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("AWSALBTG=abc; theme=dark"));
        headers.append(header::COOKIE, HeaderValue::from_static("AWSALB=def"));
        assert_eq!(cookie(&headers, "AWSALBTG"), Some("abc"));
        assert_eq!(cookie(&headers, "AWSALB"), Some("def"));
        assert_eq!(cookie(&headers, "AWS"), None);
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(), vec!["content-type"]);
    }

    #[test]
    fn a_trace_id_has_albs_shape() {
        let id = trace_id();
        let parts: Vec<&str> = id.strip_prefix("Root=1-").unwrap().split('-').collect();
        assert_eq!((parts.len(), parts[0].len(), parts[1].len()), (2, 8, 24));
        assert!(parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit())));
    }

    #[test]
    fn a_redirect_to_an_ipv6_host_header_drops_its_port_and_keeps_its_brackets() {
        let v4: IpAddr = "127.42.0.1".parse().unwrap();
        assert_eq!(redirect_host(Some("shop.example.com:8080"), v4), "shop.example.com");
        assert_eq!(redirect_host(Some("shop.example.com"), v4), "shop.example.com");
        assert_eq!(redirect_host(Some("[::1]:8080"), v4), "[::1]");
        assert_eq!(redirect_host(None, v4), "127.42.0.1");
        assert_eq!(redirect_host(None, "::1".parse().unwrap()), "[::1]");
        let defaults = super::super::table::Redirect {
            protocol: "#{protocol}".into(),
            host: "#{host}".into(),
            port: "#{port}".into(),
            path: "/#{path}".into(),
            query: "#{query}".into(),
            status: 301,
        };
        let host = redirect_host(Some("[::1]:8080"), v4);
        let origin = Origin { protocol: "HTTP", host: &host, port: 8080, path: "/cart", query: "" };
        let location = super::super::table::redirect_location(&defaults, &origin);
        assert_eq!(location, "http://[::1]:8080/cart");
        assert!(location.parse::<Uri>().is_ok_and(|u| u.host() == Some("[::1]") && u.port_u16() == Some(8080)));
    }
}
