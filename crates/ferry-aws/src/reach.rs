//! Whether calls reach the endpoint, and what to say when they do not.
//!
//! Every AWS call is bounded ([`timeout_config`]): a TCP connection within
//! [`CONNECT_TIMEOUT`], the answer's first byte within [`READ_TIMEOUT`], an attempt within
//! [`ATTEMPT_TIMEOUT`], and the whole call, retries and their back-off included, within
//! [`OPERATION_TIMEOUT`]. Without these a stalled endpoint held a call for as long as the
//! operating system kept the connection (300 s past a deploy's deadline, measured), and a
//! closed port was retried, silently, for a minute per call.
//!
//! An attempt that gets no AWS answer is classified ([`Problem`]: nothing listens, no
//! answer, an HTML page...). The retry that follows is told as it starts to whoever listens
//! ([`on_retry`]; the binary's printer shows "endpoint unreachable, retrying (1)"), so a
//! person hears of it within seconds, and the error the call ends with names the cause and
//! the likely fix ([`Reach::error`]).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, Error, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use ferry_core::platform::PlatformError;

use crate::credentials;

/// A TCP connection to an AWS endpoint takes milliseconds; three seconds means a firewall
/// or a wrong address (the SDK's own default is 3.1 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// ECS, ECR and ELB answer in well under a second; five seconds without the first byte of
/// an answer is an endpoint that accepted the connection and is not going to answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// One attempt, the answer's body included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// One call, all its attempts and the back-off between them included: the standard retry
/// mode's first five back-offs add up to 15 s at most, which absorbs throttling.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// The timeouts every client ferry builds uses.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Why an attempt got no AWS answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Nothing listens at the address: the connection was refused.
    Refused,
    /// The host name does not resolve.
    UnknownHost(String),
    /// No TCP connection within [`CONNECT_TIMEOUT`].
    ConnectTimeout,
    /// Connected, but no answer within [`READ_TIMEOUT`] (or the attempt's timeout).
    NoAnswer(Duration),
    /// It answered with an HTML page (a web server, a proxy's error page): not an AWS API.
    Html { status: u16 },
    /// No AWS answer within this long, retries included, for reasons not seen.
    GaveUp(Duration),
    /// AWS answered, throttling the request (its error code: `ThrottlingException`,
    /// `ProvisionedThroughputExceededException`, ...): the caller's rate is over a limit.
    Throttled(String),
    /// The connection failed otherwise (reset, TLS): the transport's words.
    Transport(String),
}

impl Problem {
    /// Whether nothing answered at all (as opposed to something that is not AWS answering).
    pub fn is_unreachable(&self) -> bool {
        !matches!(self, Problem::Html { .. } | Problem::Throttled(_))
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Refused => write!(f, "connection refused: nothing listens there"),
            Problem::UnknownHost(host) => write!(f, "the host name {host} does not resolve"),
            Problem::ConnectTimeout => write!(f, "no connection within {}s", CONNECT_TIMEOUT.as_secs()),
            Problem::NoAnswer(after) => write!(f, "it accepted the connection but sent no answer within {}s", after.as_secs()),
            Problem::Html { status } => write!(f, "it answered with an HTML page (HTTP {status}), not as an AWS API does"),
            Problem::GaveUp(after) => write!(f, "no AWS answer within {}s, retries included", after.as_secs()),
            Problem::Throttled(code) => write!(f, "AWS throttled the call ({code})"),
            Problem::Transport(text) => write!(f, "{text}"),
        }
    }
}

/// How long an endpoint a call gave up on stays given up on: calls to it in that time get
/// one attempt each, without retries, until one gets an answer. A command that makes several
/// calls to a dead endpoint (status of several environments; a rollback after a deadline
/// missed for want of answers) then says so in seconds, not an operation timeout per call,
/// and an endpoint that comes back is used at once.
pub const GIVEN_UP_FOR: Duration = Duration::from_secs(60);

static GIVEN_UP: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

fn given_up(key: &str) -> bool {
    GIVEN_UP.lock().is_ok_and(|list| list.iter().any(|(k, at)| k == key && at.elapsed() < GIVEN_UP_FOR))
}

fn give_up(key: &str, yes: bool) {
    if let Ok(mut list) = GIVEN_UP.lock() {
        list.retain(|(k, at)| k != key && at.elapsed() < GIVEN_UP_FOR);
        if yes {
            list.push((key.to_string(), Instant::now()));
        }
    }
}

/// A call is retried after an attempt that got no AWS answer: told as the retry starts.
#[derive(Clone, Debug)]
pub struct Retry {
    /// `ecs:DescribeServices`.
    pub operation: String,
    /// 1 for the first retry.
    pub retry: u32,
    /// Where the attempt went: `http://127.0.0.1:4590`, `https://ecs.us-east-1.amazonaws.com`.
    pub endpoint: String,
    pub problem: Problem,
}

type RetryObserver = Arc<dyn Fn(&Retry) + Send + Sync>;

static OBSERVER: RwLock<Option<RetryObserver>> = RwLock::new(None);

/// Sets what hears of retries (one observer per process: the binary's printer). The SDK
/// retries on its own; this is how a person learns of it while it happens.
pub fn on_retry(observer: impl Fn(&Retry) + Send + Sync + 'static) {
    if let Ok(mut slot) = OBSERVER.write() {
        *slot = Some(Arc::new(observer));
    }
}

fn tell(retry: &Retry) {
    tracing::debug!("{}: retry {} to {}: {}", retry.operation, retry.retry, retry.endpoint, retry.problem);
    let observer = OBSERVER.read().ok().and_then(|slot| slot.clone());
    if let Some(observer) = observer {
        observer(retry);
    }
}

/// What one environment's clients know about where they call, for the errors they end with.
#[derive(Debug, Default)]
pub struct Reach {
    /// The configured endpoint URL; None for AWS's own.
    pub endpoint: Option<String>,
    /// Where the endpoint URL was set (`environments.dev.endpoint_url in ferry.toml`).
    pub endpoint_origin: Option<String>,
    pub region: Option<String>,
    /// The calls are meant for ferry local: its credentials, or a loopback endpoint.
    pub local: bool,
    /// How the clients get credentials, for the error when they cannot.
    pub credentials: credentials::Source,
    /// The last attempt that got no AWS answer: what, where, when. A call that runs out of
    /// time ends with a bare timeout; this is what it ran into.
    last: Mutex<Option<(Problem, String, Instant)>>,
}

impl Reach {
    pub fn new(target: &crate::Target) -> Reach {
        let local = target.static_credentials.as_ref().is_some_and(|(_, secret)| secret == "ferry-local")
            || target.endpoint_url.as_deref().is_some_and(is_loopback);
        Reach {
            endpoint: target.endpoint_url.clone(),
            endpoint_origin: target.endpoint_origin.clone(),
            region: target.region.clone(),
            local,
            credentials: credentials::Source::of(target),
            last: Mutex::new(None),
        }
    }

    /// What calls of these clients go to, for [`GIVEN_UP`]: the endpoint URL, or AWS's
    /// endpoints of the region.
    fn key(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| format!("aws:{}", self.region.as_deref().unwrap_or_default()))
    }

    fn remember(&self, problem: &Problem, endpoint: &str) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((problem.clone(), endpoint.to_string(), Instant::now()));
        }
    }

    /// The last problem, when recent enough to explain a call that just failed.
    fn recent(&self) -> Option<(Problem, String)> {
        let last = self.last.lock().ok()?.clone()?;
        (last.2.elapsed() <= OPERATION_TIMEOUT + Duration::from_secs(5)).then_some((last.0, last.1))
    }

    /// The error a call ended with, in words that name the cause and what to do.
    pub fn error<E, R>(&self, operation: &str, error: SdkError<E, R>) -> PlatformError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + AsResponse,
    {
        if let Some(text) = credentials::failure(&error) {
            return PlatformError::new(operation, Some(CREDENTIALS.into()), self.credentials.explain(&text));
        }
        // On the operation's (or an attempt's) timeout: what the attempts ran into, if known.
        let on_timeout = || self.recent().map(|(p, _)| p).unwrap_or(Problem::GaveUp(OPERATION_TIMEOUT));
        let Some(problem) = transport_problem(&error, on_timeout) else { return answered(operation, error) };
        // The operation's timeout drops the interceptor's last hook: given up on here.
        if problem.is_unreachable() {
            give_up(&self.key(), true);
        }
        let endpoint = self.endpoint.clone().or_else(|| self.recent().map(|(_, e)| e)).unwrap_or_else(|| "the AWS endpoint".to_string());
        let message = match problem {
            Problem::Html { .. } => format!("{endpoint} is not an AWS API endpoint: {problem}. {}", self.hint(&problem)),
            Problem::Throttled(_) => format!(
                "{problem} on every attempt until the call's {}s ran out: the account's or the resource's request rate is over its limit. Try again later; if it lasts, look for another client calling as fast, or raise the quota (Service Quotas)",
                OPERATION_TIMEOUT.as_secs()
            ),
            _ => format!("cannot reach {endpoint}: {problem}. {}", self.hint(&problem)),
        };
        PlatformError::new(operation, Some(code_of(&problem).into()), message)
    }

    /// What to do about a problem, for these clients.
    fn hint(&self, problem: &Problem) -> String {
        let origin = self.endpoint_origin.as_deref().map(|o| format!(" ({o})")).unwrap_or_default();
        match (problem, &self.endpoint) {
            (Problem::Html { .. }, Some(_)) if self.local => format!(
                "Check the URL{origin}: `ferry local status` prints ferry local's endpoint (if it is not running, start it with `ferry local up --detach`)"
            ),
            (Problem::Html { .. }, Some(_)) => format!("Check the URL{origin}: it must be an AWS API endpoint, or ferry local's"),
            (_, Some(_)) if self.local => match problem {
                Problem::Refused => format!(
                    "Is ferry local running? Start it with `ferry local up --detach` (it prints its endpoint), or correct the URL{origin}"
                ),
                Problem::NoAnswer(_) => format!(
                    "Something listens there but does not answer like ferry local: check `ferry local status` (or restart it with `ferry local down` and `ferry local up --detach`), or correct the URL{origin}"
                ),
                Problem::UnknownHost(_) | Problem::ConnectTimeout => {
                    format!("Correct the URL{origin}: ferry local listens on 127.0.0.1 (`ferry local status` prints its endpoint)")
                }
                _ => format!("Check `ferry local status` (start it with `ferry local up --detach`), or correct the URL{origin}"),
            },
            (_, Some(_)) => format!("Check that the endpoint is up and that the URL{origin} is right"),
            (_, None) => format!(
                "Check the network, a proxy (HTTPS_PROXY) and the region ({})",
                self.region.as_deref().unwrap_or("from the AWS config")
            ),
        }
    }
}

/// The error code a reach problem carries in a [`PlatformError`], so callers can tell it
/// from AWS's own codes.
pub const UNREACHABLE: &str = "EndpointUnreachable";
/// An endpoint that answered, but not as an AWS API does.
pub const NOT_AWS: &str = "NotAnAwsEndpoint";
/// No credentials could be found or used.
pub const CREDENTIALS: &str = "NoCredentials";

fn code_of(problem: &Problem) -> &str {
    match problem {
        Problem::Throttled(code) => code,
        _ if problem.is_unreachable() => UNREACHABLE,
        _ => NOT_AWS,
    }
}

/// A platform error from an SDK error without knowing the clients' endpoint: the
/// operation, AWS's error code and message, or the transport's problem in words.
pub fn platform_error<E, R>(operation: &str, error: SdkError<E, R>) -> PlatformError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + AsResponse,
{
    if let Some(text) = credentials::failure(&error) {
        return PlatformError::new(operation, Some(CREDENTIALS.into()), format!("no usable AWS credentials: {text}"));
    }
    if error.code().is_some() && error.message().is_some() {
        return answered(operation, error);
    }
    match transport_problem(&error, || Problem::GaveUp(OPERATION_TIMEOUT)) {
        Some(problem) => PlatformError::new(operation, Some(code_of(&problem).into()), format!("cannot reach the endpoint: {problem}")),
        None => answered(operation, error),
    }
}

/// Why a call got no AWS answer, when that is what happened: the connection failed, the
/// call timed out (`on_timeout` says with what), or the endpoint answered an HTML page.
fn transport_problem<E, R>(error: &SdkError<E, R>, on_timeout: impl FnOnce() -> Problem) -> Option<Problem>
where
    R: AsResponse,
{
    match error {
        SdkError::DispatchFailure(failure) => failure.as_connector_error().and_then(classify_connector),
        SdkError::TimeoutError(_) => Some(on_timeout()),
        _ => error.raw_response().and_then(AsResponse::html_status).map(|status| Problem::Html { status }),
    }
}

/// A failure that is neither about credentials nor the transport: AWS's code and message,
/// or the error chain in words.
fn answered<E, R>(operation: &str, error: SdkError<E, R>) -> PlatformError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().map(str::to_string);
    if let (Some(message), Some(code)) = (error.message(), &code) {
        return PlatformError::new(operation, Some(code.clone()), format!("{code}: {message}"));
    }
    PlatformError::new(operation, code, error_chain(&error))
}

/// The response of an SDK error, as far as telling an HTML page goes.
pub trait AsResponse {
    /// The HTTP status, when the response is an HTML page.
    fn html_status(&self) -> Option<u16>;
}

impl AsResponse for HttpResponse {
    fn html_status(&self) -> Option<u16> {
        let content_type = self.headers().get("content-type").unwrap_or_default().to_ascii_lowercase();
        content_type.contains("html").then(|| self.status().as_u16())
    }
}

/// An error and its sources, one after the other.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let next = s.to_string();
        // The SDK's wrappers often repeat their source's words.
        if !text.ends_with(&next) {
            text = format!("{text}: {next}");
        }
        source = s.source();
    }
    text
}

/// Loopback: where ferry local listens.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What a transport failure was.
fn classify_connector(error: &ConnectorError) -> Option<Problem> {
    let chain = error_chain(error);
    if error.is_timeout() {
        // The SDK's timeouts say which: "HTTP connect timeout occurred after 3s".
        return Some(if chain.contains("connect timeout") { Problem::ConnectTimeout } else { Problem::NoAnswer(READ_TIMEOUT) });
    }
    if error.is_other() && credentials::is_credentials_error(error) {
        return None;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return Some(Problem::Refused);
        }
        source = e.source();
    }
    if chain.contains("dns error") || chain.contains("failed to lookup address") {
        return Some(Problem::UnknownHost(chain.rsplit(": ").next().unwrap_or_default().to_string()));
    }
    if error.is_io() {
        return Some(Problem::Transport(chain.rsplit(": ").next().unwrap_or(&chain).to_string()));
    }
    None
}

/// What an attempt ran into, when it got no AWS answer.
fn classify_attempt(error: &OrchestratorError<Error>, response: Option<&HttpResponse>) -> Option<Problem> {
    if let Some(status) = response.and_then(AsResponse::html_status) {
        return Some(Problem::Html { status });
    }
    if let Some(code) = response.and_then(throttling_code) {
        return Some(Problem::Throttled(code));
    }
    if error.is_timeout_error() {
        return Some(Problem::NoAnswer(ATTEMPT_TIMEOUT));
    }
    error.as_connector_error().and_then(classify_connector)
}

/// The throttling error code of an AWS JSON answer (its `X-Amzn-ErrorType` header, as
/// `Code` or `Code:https://...`), when it is one the SDK's standard retry mode treats as
/// throttling.
fn throttling_code(response: &HttpResponse) -> Option<String> {
    const THROTTLING: [&str; 8] = [
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
    ];
    let header = response.headers().get("x-amzn-errortype")?;
    let code = header.split(':').next().unwrap_or_default().trim();
    THROTTLING.contains(&code).then(|| code.to_string())
}

/// `ecs:DescribeServices`, ferry's name of an operation.
fn operation_name(cfg: &ConfigBag) -> String {
    match cfg.load::<Metadata>() {
        Some(meta) => {
            let service = match meta.service() {
                "ECS" => "ecs".to_string(),
                "ECR" => "ecr".to_string(),
                other => other.to_ascii_lowercase().replace(' ', ""),
            };
            format!("{service}:{}", meta.name())
        }
        None => "call".to_string(),
    }
}

/// The scheme, host and port a request went to.
fn endpoint_of(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split(['/', '?']).next().unwrap_or_default()),
        None => uri.to_string(),
    }
}

/// What the last attempt of an operation ran into, kept in the operation's config bag.
#[derive(Clone, Debug)]
struct LastAttempt(Option<(Problem, String)>);

impl Storable for LastAttempt {
    type Storer = StoreReplace<Self>;
}

/// Where the current attempt goes (its request is gone once sent), and when it was sent.
#[derive(Clone, Debug)]
struct AttemptEndpoint(String, Instant);

impl Storable for AttemptEndpoint {
    type Storer = StoreReplace<Self>;
}

/// The interceptor on every client: classifies each attempt that got no AWS answer,
/// remembers it for the call's final error, and tells the retry that follows.
#[derive(Debug)]
pub(crate) struct Watch {
    pub reach: Arc<Reach>,
}

impl Intercept for Watch {
    fn name(&self) -> &'static str {
        "ferry-reach"
    }

    fn read_before_execution(&self, _: &BeforeSerializationInterceptorContextRef<'_>, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        if given_up(&self.reach.key()) {
            cfg.interceptor_state().store_put(RetryConfig::standard().with_max_attempts(1));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let unreachable = match context.output_or_error() {
            Some(Ok(_)) => false,
            Some(Err(error)) => match cfg.load::<LastAttempt>() {
                Some(LastAttempt(problem)) => problem.as_ref().is_some_and(|(p, _)| p.is_unreachable()),
                // The last attempt never finished: a timeout cut it short.
                None => error.is_timeout_error(),
            },
            None => return Ok(()),
        };
        // An answer, even an error, means the endpoint is there.
        if unreachable || context.response().is_some() {
            give_up(&self.reach.key(), unreachable);
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, RequestAttempts::attempts);
        let last = cfg.load::<LastAttempt>().cloned();
        cfg.interceptor_state().unset::<LastAttempt>();
        if attempt < 2 {
            return Ok(());
        }
        // The request's URI is not resolved yet at this point: the endpoint is the last
        // attempt's, or the configured one.
        let configured = || {
            self.reach
                .endpoint
                .clone()
                .or_else(|| self.reach.recent().map(|(_, e)| e))
                .unwrap_or_else(|| endpoint_of(context.request().uri()))
        };
        let (problem, endpoint) = match last {
            Some(LastAttempt(Some((problem, endpoint)))) => (problem, endpoint),
            Some(LastAttempt(None)) => return Ok(()),
            // The previous attempt never finished: its timeout cut it short.
            None => (Problem::NoAnswer(ATTEMPT_TIMEOUT), configured()),
        };
        tell(&Retry { operation: operation_name(cfg), retry: attempt - 1, endpoint, problem });
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(AttemptEndpoint(endpoint_of(context.request().uri()), Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let problem = match context.output_or_error() {
            Some(Err(error)) => classify_attempt(error, context.response()),
            _ => None,
        };
        let (endpoint, sent) = cfg.load::<AttemptEndpoint>().map(|e| (e.0.clone(), Some(e.1))).unwrap_or_default();
        // An attempt the operation's timeout cut short, before its own timeout ran out, says
        // nothing new: what the earlier attempts ran into (remembered) explains the failure.
        let cut_short = |p: &Problem| *p == Problem::NoAnswer(ATTEMPT_TIMEOUT) && sent.is_some_and(|s| s.elapsed() < ATTEMPT_TIMEOUT);
        let problem = problem.filter(|p| !cut_short(p));
        if let Some(problem) = &problem {
            self.reach.remember(problem, &endpoint);
            // Two attempts in a row without an answer: other calls need not retry too (this
            // one may be dropped before it ends, by a deadline of the caller's).
            if problem.is_unreachable() && cfg.load::<RequestAttempts>().map_or(1, RequestAttempts::attempts) >= 2 {
                give_up(&self.reach.key(), true);
            }
        }
        cfg.interceptor_state().store_put(LastAttempt(problem.map(|p| (p, endpoint))));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_are_told_apart() {
        assert!(is_loopback("http://127.0.0.1:4590"));
        assert!(is_loopback("http://localhost:4590/"));
        assert!(is_loopback("http://[::1]:4590"));
        assert!(!is_loopback("https://ecs.us-east-1.amazonaws.com"));
        assert!(!is_loopback("http://10.0.0.5:4590"));
    }

    #[test]
    fn the_hint_fits_the_problem_and_who_is_called() {
        let local = Reach {
            endpoint: Some("http://127.0.0.1:4590".into()),
            endpoint_origin: Some("environments.dev.endpoint_url in ferry.toml".into()),
            local: true,
            ..Reach::default()
        };
        assert_eq!(
            local.hint(&Problem::UnknownHost("localhst".into())),
            "Correct the URL (environments.dev.endpoint_url in ferry.toml): ferry local listens on 127.0.0.1 (`ferry local status` prints its endpoint)"
        );
        assert_eq!(
            local.hint(&Problem::GaveUp(OPERATION_TIMEOUT)),
            "Check `ferry local status` (start it with `ferry local up --detach`), or correct the URL (environments.dev.endpoint_url in ferry.toml)"
        );
        let vpc = Reach {
            endpoint: Some("https://vpce-1.ecs.eu-west-1.vpce.amazonaws.com".into()),
            endpoint_origin: Some("--endpoint-url".into()),
            ..Reach::default()
        };
        assert_eq!(vpc.hint(&Problem::ConnectTimeout), "Check that the endpoint is up and that the URL (--endpoint-url) is right");
        assert_eq!(
            vpc.hint(&Problem::Html { status: 403 }),
            "Check the URL (--endpoint-url): it must be an AWS API endpoint, or ferry local's"
        );
        let aws = Reach { region: Some("eu-west-1".into()), ..Reach::default() };
        assert_eq!(aws.hint(&Problem::ConnectTimeout), "Check the network, a proxy (HTTPS_PROXY) and the region (eu-west-1)");
    }

    #[test]
    fn an_endpoint_is_its_scheme_host_and_port() {
        assert_eq!(endpoint_of("http://127.0.0.1:4590/?x=1"), "http://127.0.0.1:4590");
        assert_eq!(endpoint_of("https://ecs.us-east-1.amazonaws.com/"), "https://ecs.us-east-1.amazonaws.com");
    }
}
