//! HTTP(S) requests: hyper with rustls on the aws-lc-rs crypto provider.
//!
//! Why not reqwest: the workspace's reqwest has no TLS backend, and giving it rustls without
//! ring makes every `reqwest::Client::new()` elsewhere in the binary panic for want of a
//! process-wide crypto provider, while giving it ring adds a second provider and rebuilds the
//! AWS SDK. hyper-rustls with an explicit provider reuses exactly the TLS stack the AWS SDK
//! already compiles, and touches nobody else's client.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, LOCATION};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use url::Url;

use crate::Error;

/// Manifests are at most 4 MiB in Distribution and most registries; anything much larger is
/// not a manifest, and reading it whole would only waste memory.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Redirects followed for reads: some registries send manifest reads to a CDN or a canonical
/// host. Writes are never redirected, so a PUT is not replayed somewhere unexpected.
const MAX_REDIRECTS: usize = 5;

/// An answer with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A header as text, if present and ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A connection pool shared by every request to one registry and its token server.
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Transport {
    /// A pool trusting the system's CA certificates and those in `ca_file`. `timeout` bounds
    /// each request whole (connect, redirects, body), `connect_timeout` the TCP connect.
    pub fn new(ca_file: Option<&Path>, connect_timeout: Duration, timeout: Duration) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(native_roots().iter().cloned());
        if let Some(path) = ca_file {
            let config = |message: String| Error::Config { field: "ca_file", message };
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| config(format!("cannot read `{}`: {e}", path.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| config(format!("`{}` is not PEM certificates: {e}", path.display())))?;
            if certificates.is_empty() {
                return Err(config(format!("`{}` holds no certificate", path.display())));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|e| config(format!("`{}` holds an unusable certificate: {e}", path.display())))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config { field: "url", message: format!("TLS setup failed: {e}") })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Transport { client, timeout })
    }

    /// Sends one request and reads the answer, following redirects for GET and HEAD.
    pub async fn send(&self, method: Method, url: &Url, headers: &HeaderMap, body: Bytes) -> Result<Reply, Error> {
        let network = |message: String| Error::Network { method: method_name(&method), url: url.to_string(), message };
        match tokio::time::timeout(self.timeout, self.send_following(&method, url, headers, body)).await {
            Ok(result) => result.map_err(network),
            Err(_) => Err(network(format!("no answer within {} s", self.timeout.as_secs_f32()))),
        }
    }

    async fn send_following(&self, method: &Method, url: &Url, headers: &HeaderMap, body: Bytes) -> Result<Reply, String> {
        let mut url = url.clone();
        let mut headers = headers.clone();
        let follows = *method == Method::GET || *method == Method::HEAD;
        for _ in 0..=MAX_REDIRECTS {
            let mut request = Request::builder().method(method.clone()).uri(url.as_str());
            if let Some(request_headers) = request.headers_mut() {
                // hyper adds `Host` from the URI.
                request_headers.extend(headers.clone());
            }
            let request = request.body(Full::new(body.clone())).map_err(|e| format!("bad request: {e}"))?;
            let response = self.client.request(request).await.map_err(|e| {
                let message = chain(&e);
                if message.contains("invalid peer certificate") {
                    format!("{message} (for a registry behind a private CA, set `ca_file` to its certificate)")
                } else {
                    message
                }
            })?;
            let status = response.status();
            let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
            if follows
                && status.is_redirection()
                && let Some(location) = location
            {
                let next = url.join(&location).map_err(|e| format!("bad redirect to `{location}`: {e}"))?;
                if next.origin() != url.origin() {
                    // Credentials are for this host only.
                    headers.remove(AUTHORIZATION);
                }
                tracing::debug!(from = %url, to = %next, "following redirect");
                url = next;
                continue;
            }
            let (parts, incoming) = response.into_parts();
            let body = Limited::new(incoming, MAX_BODY).collect().await.map_err(|e| format!("reading the answer: {e}"))?.to_bytes();
            return Ok(Reply { status: parts.status, headers: parts.headers, body });
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }
}

/// The system's CA certificates, read once per process: reading `/etc/ssl/certs` for every
/// client would cost more than the requests.
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let result = rustls_native_certs::load_native_certs();
        for error in &result.errors {
            tracing::debug!(%error, "skipping a system CA certificate");
        }
        result.certs
    })
}

/// A method's name for error messages.
pub fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        _ => "request",
    }
}

/// An error with its causes, outermost first: hyper's own message ("client error (Connect)")
/// says nothing until the cause ("Connection refused", "invalid peer certificate") is added.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
