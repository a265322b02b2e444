//! The registry client: resolve, exists, retag, and the login dance they share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use url::Url;

use crate::challenge::{self, Challenge};
use crate::media_type::{self, MediaType};
use crate::reference::{Reference, validate_repository, validate_tag};
use crate::transport::{Reply, Transport, method_name};
use crate::{Digest, Error, Registry};

const USER_AGENT_VALUE: &str = concat!("ferry/", env!("CARGO_PKG_VERSION"));

/// Connecting to a registry that is up takes milliseconds; ten seconds means it is not.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Every request here moves a few kilobytes of JSON, so thirty seconds is generous.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Token lifetime when the token server does not say (the token spec's default).
const DEFAULT_TOKEN_SECONDS: u64 = 60;

/// What a tag or digest points at in a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The manifest's digest: for a multi-platform image, the index's, which is what ECS
    /// records and what keeps every platform pinned.
    pub digest: Digest,
    /// The manifest's type; [`MediaType::is_index`] tells a multi-platform image.
    pub media_type: MediaType,
    /// The manifest's size in bytes (not the image's).
    pub size: u64,
}

/// A client of one registry's distribution API (Docker Registry HTTP API V2).
///
/// It logs in the way the registry asks on its first 401: HTTP Basic, or a bearer token from
/// the token server it names (anonymously when no credentials are configured). Tokens are
/// kept per repository and access until they expire, so a run of calls logs in once.
pub struct RegistryClient {
    registry: Registry,
    base: Url,
    /// The registry as errors name it: its base URL without the trailing `/`.
    name: String,
    transport: Transport,
    auth: Mutex<AuthState>,
}

/// What the registry asked for, learned from its challenges. Never held across an await.
#[derive(Default)]
struct AuthState {
    scheme: Scheme,
    /// Bearer tokens by the scope they were asked for.
    tokens: HashMap<String, Token>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
enum Scheme {
    #[default]
    Unknown,
    Basic,
    Bearer,
}

struct Token {
    value: String,
    expires: Instant,
}

/// What an operation needs to do to a repository: the `actions` of its token scope.
#[derive(Clone, Copy)]
enum Access {
    Pull,
    /// Retag reads and writes; asking for both up front saves a second token.
    PullPush,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::PullPush => "pull,push",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Access::Pull => "pull from",
            Access::PullPush => "push to",
        }
    }
}

/// What a retag did: the digest the tag names now, and the one it named before (`None`
/// when the tag is new).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retagged {
    pub digest: Digest,
    pub previous: Option<Digest>,
}

/// A manifest as fetched: its exact bytes, which retag puts back unchanged.
struct Manifest {
    bytes: Bytes,
    media_type: MediaType,
    digest: Digest,
}

impl RegistryClient {
    /// A client for `registry` with default timeouts (10 s to connect, 30 s per request).
    pub fn new(registry: Registry) -> Result<Self, Error> {
        Self::with_timeout(registry, DEFAULT_TIMEOUT)
    }

    /// A client whose requests each give up after `timeout` (connecting after at most 10 s).
    pub fn with_timeout(registry: Registry, timeout: Duration) -> Result<Self, Error> {
        let base = registry.base_url()?;
        let name = base.as_str().trim_end_matches('/').to_owned();
        let transport = Transport::new(registry.ca_file.as_deref(), DEFAULT_CONNECT_TIMEOUT.min(timeout), timeout)?;
        Ok(RegistryClient { registry, base, name, transport, auth: Mutex::new(AuthState::default()) })
    }

    /// The registry this client talks to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// What `reference` (a tag, or a digest) points at in `repository`.
    ///
    /// `None` when the repository exists but has no such tag; a missing repository is the
    /// error [`Error::RepositoryNotFound`], since it usually means a misspelt name rather
    /// than a version not built yet. A manifest list or OCI index resolves to its own digest.
    pub async fn resolve(&self, repository: &str, reference: &str) -> Result<Option<Resolved>, Error> {
        validate_repository(repository)?;
        let reference = Reference::parse(reference)?;
        match self.probe(repository, &reference, Access::Pull).await? {
            Some(resolved) => Ok(Some(resolved)),
            None if self.repository_missing(repository, Access::Pull).await? => {
                Err(Error::RepositoryNotFound { registry: self.name.clone(), repository: repository.to_owned() })
            }
            None => Ok(None),
        }
    }

    /// Whether `repository` has a manifest under `reference`; `false` as well when the
    /// repository does not exist. One request when the registry answers HEAD fully.
    pub async fn exists(&self, repository: &str, reference: &str) -> Result<bool, Error> {
        validate_repository(repository)?;
        let reference = Reference::parse(reference)?;
        Ok(self.probe(repository, &reference, Access::Pull).await?.is_some())
    }

    /// Points `to_tag` at the manifest `from` (a tag or a digest) names; returns its digest
    /// and the one `to_tag` named before.
    ///
    /// The manifest's bytes are fetched and put back unchanged under the new tag: no layer
    /// moves, whatever the image's size, and the digest stays the same (checked against the
    /// one the registry reports for the write). Idempotent: when `to_tag` already points at
    /// the digest nothing is written. Three requests: GET `from`, HEAD `to_tag`, PUT.
    pub async fn retag(&self, repository: &str, from: &str, to_tag: &str) -> Result<Retagged, Error> {
        validate_repository(repository)?;
        let from = Reference::parse(from)?;
        validate_tag(to_tag)?;
        let to = Reference::Tag(to_tag.to_owned());
        let access = Access::PullPush;

        let Some(source) = self.fetch(repository, &from, access).await? else {
            return Err(self.not_found(repository, &from, access).await);
        };
        let previous = self.probe(repository, &to, access).await?.map(|current| current.digest);
        if previous.as_ref() == Some(&source.digest) {
            tracing::debug!(repository, tag = to_tag, digest = %source.digest, "tag already points at the digest");
            return Ok(Retagged { digest: source.digest, previous });
        }

        let url = self.manifest_url(repository, &to)?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(source.media_type.as_str()));
        let reply = self.send(Method::PUT, &url, &headers, source.bytes.clone(), repository, access).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(self.not_found(repository, &to, access).await);
        }
        if !reply.status.is_success() {
            return Err(status_error(Method::PUT, &url, &reply));
        }
        let stored = match reply.header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok()) {
            Some(stored) => stored,
            // Not every registry says; read the tag back rather than trust the write.
            None => match self.probe(repository, &to, access).await? {
                Some(resolved) => resolved.digest,
                None => return Err(self.not_found(repository, &to, access).await),
            },
        };
        if stored != source.digest {
            return Err(Error::DigestMismatch { url: url.to_string(), expected: source.digest.to_string(), actual: stored.to_string() });
        }
        tracing::debug!(repository, from = %from, tag = to_tag, digest = %stored, "retagged");
        Ok(Retagged { digest: stored, previous })
    }

    /// HEAD, then GET when HEAD does not tell the digest, type and size (some registries
    /// omit `Docker-Content-Digest` on HEAD; then the digest is the sha256 of the bytes).
    async fn probe(&self, repository: &str, reference: &Reference, access: Access) -> Result<Option<Resolved>, Error> {
        let url = self.manifest_url(repository, reference)?;
        let reply = self.send(Method::HEAD, &url, &accept_headers(), Bytes::new(), repository, access).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if reply.status.is_success() {
            let digest = reply.header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
            let media_type = reply.header("content-type").and_then(MediaType::from_content_type);
            let size = reply.header("content-length").and_then(|l| l.trim().parse::<u64>().ok());
            if let (Some(digest), Some(media_type), Some(size)) = (digest, media_type, size) {
                check_digest(&url, reference, &digest)?;
                return Ok(Some(Resolved { digest, media_type, size }));
            }
        }
        // A HEAD error has no body to explain it; the GET's will.
        let manifest = self.fetch(repository, reference, access).await?;
        Ok(manifest.map(|m| Resolved { size: m.bytes.len() as u64, digest: m.digest, media_type: m.media_type }))
    }

    /// GETs a manifest's exact bytes; `None` on 404.
    async fn fetch(&self, repository: &str, reference: &Reference, access: Access) -> Result<Option<Manifest>, Error> {
        let url = self.manifest_url(repository, reference)?;
        let reply = self.send(Method::GET, &url, &accept_headers(), Bytes::new(), repository, access).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !reply.status.is_success() {
            return Err(status_error(Method::GET, &url, &reply));
        }
        let media_type = media_type::decide(reply.header("content-type"), &reply.body).map_err(|media_type| {
            Error::UnsupportedMediaType { registry: self.name.clone(), image: reference.qualify(repository), media_type }
        })?;
        let digest = Digest::sha256(&reply.body);
        if let Some(claimed) = reply.header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok())
            && claimed.algorithm() == digest.algorithm()
            && claimed != digest
        {
            return Err(Error::DigestMismatch { url: url.to_string(), expected: claimed.to_string(), actual: digest.to_string() });
        }
        check_digest(&url, reference, &digest)?;
        Ok(Some(Manifest { bytes: reply.body, media_type, digest }))
    }

    /// The error for a manifest that is not there: which of repository and tag is missing.
    async fn not_found(&self, repository: &str, reference: &Reference, access: Access) -> Error {
        match self.repository_missing(repository, access).await {
            Ok(true) => Error::RepositoryNotFound { registry: self.name.clone(), repository: repository.to_owned() },
            Ok(false) => Error::ManifestNotFound { registry: self.name.clone(), image: reference.qualify(repository) },
            Err(error) => error,
        }
    }

    /// Whether the repository is unknown. A manifest 404 does not say (Distribution answers
    /// `MANIFEST_UNKNOWN` for a tag in a repository that does not exist), the tag list does:
    /// it is 404 only for a repository with no tags at all.
    async fn repository_missing(&self, repository: &str, access: Access) -> Result<bool, Error> {
        let url = self.api_url(&format!("v2/{repository}/tags/list?n=1"))?;
        let reply = self.send(Method::GET, &url, &HeaderMap::new(), Bytes::new(), repository, access).await?;
        Ok(reply.status == StatusCode::NOT_FOUND)
    }

    fn manifest_url(&self, repository: &str, reference: &Reference) -> Result<Url, Error> {
        self.api_url(&format!("v2/{repository}/manifests/{reference}"))
    }

    fn api_url(&self, path: &str) -> Result<Url, Error> {
        self.base.join(path).map_err(|e| Error::Config { field: "url", message: format!("cannot form {path}: {e}") })
    }

    /// Sends a request, logging in as the registry asks when it answers 401, and retrying
    /// once with the credentials or token. A second 401 is [`Error::Unauthorized`], a 403
    /// [`Error::Denied`]; other answers are the caller's to judge.
    ///
    /// With credentials configured, a request to a registry whose scheme is not known yet
    /// carries them as Basic: Distribution, Nexus and Artifactory take them at once, which
    /// saves the 401 round trip (one request in two for a `ferry tag`); a registry that
    /// wants a token answers 401 with its Bearer challenge, as it would have anyway.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        headers: &HeaderMap,
        body: Bytes,
        repository: &str,
        access: Access,
    ) -> Result<Reply, Error> {
        let scope = format!("repository:{repository}:{}", access.actions());
        let mut headers = headers.clone();
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        let attached = self.attach(&mut headers, &scope);
        tracing::debug!(method = %method, %url, auth = ?attached, "registry request");
        let reply = self.transport.send(method.clone(), url, &headers, body.clone()).await?;
        if reply.status != StatusCode::UNAUTHORIZED {
            return self.check_forbidden(reply, repository, access);
        }

        let challenges: Vec<Challenge> =
            reply.headers.get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).flat_map(challenge::parse).collect();
        let bearer = challenges.iter().find(|c| c.scheme == "bearer" && c.param("realm").is_some());
        if let Some(bearer) = bearer {
            self.fetch_token(bearer, &scope).await?;
            self.set_scheme(Scheme::Bearer);
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            if self.registry.credentials.is_none() || attached == Scheme::Basic {
                // Nothing else to try: no credentials, or these were just refused.
                return Err(self.unauthorized(registry_message(&reply.body)));
            }
            self.set_scheme(Scheme::Basic);
        } else {
            let offered = reply.header("www-authenticate").unwrap_or("nothing").to_owned();
            return Err(self.unauthorized(Some(format!("no Basic or Bearer challenge; the registry offered {offered}"))));
        }

        headers.remove(AUTHORIZATION);
        self.attach(&mut headers, &scope);
        let retry = self.transport.send(method, url, &headers, body).await?;
        if retry.status == StatusCode::UNAUTHORIZED {
            let error = challenge::parse(retry.header("www-authenticate").unwrap_or_default())
                .into_iter()
                .find_map(|c| c.param("error").map(str::to_owned));
            let detail = registry_message(&retry.body).or_else(|| error.clone());
            if error.as_deref() == Some("insufficient_scope") {
                // Logged in, but the token server granted less than asked: a permission.
                return Err(Error::Denied {
                    registry: self.name.clone(),
                    user: self.username(),
                    repository: repository.to_owned(),
                    action: access.verb(),
                    detail,
                });
            }
            return Err(self.unauthorized(detail));
        }
        self.check_forbidden(retry, repository, access)
    }

    fn check_forbidden(&self, reply: Reply, repository: &str, access: Access) -> Result<Reply, Error> {
        if reply.status != StatusCode::FORBIDDEN {
            return Ok(reply);
        }
        Err(Error::Denied {
            registry: self.name.clone(),
            user: self.username(),
            repository: repository.to_owned(),
            action: access.verb(),
            detail: registry_message(&reply.body),
        })
    }

    /// Adds the `Authorization` this registry is known to want, if it can; says which.
    fn attach(&self, headers: &mut HeaderMap, scope: &str) -> Scheme {
        let Ok(state) = self.auth.lock() else {
            return Scheme::Unknown;
        };
        match state.scheme {
            Scheme::Basic => {
                if let Some(value) = self.basic_header() {
                    headers.insert(AUTHORIZATION, value);
                    return Scheme::Basic;
                }
            }
            Scheme::Bearer => {
                if let Some(token) = state.tokens.get(scope).filter(|t| t.expires > Instant::now())
                    && let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", token.value))
                {
                    headers.insert(AUTHORIZATION, value);
                    return Scheme::Bearer;
                }
            }
            Scheme::Unknown => {
                if let Some(value) = self.basic_header() {
                    headers.insert(AUTHORIZATION, value);
                    return Scheme::Basic;
                }
            }
        }
        Scheme::Unknown
    }

    fn set_scheme(&self, scheme: Scheme) {
        if let Ok(mut state) = self.auth.lock() {
            state.scheme = scheme;
        }
    }

    /// Gets a token from the challenge's realm (the token spec's GET flow), with the
    /// credentials as Basic auth, or anonymously without them; keeps it under `scope`.
    ///
    /// The token asks for this operation's scope and, if different, the challenge's: the
    /// challenge names what this request needs, the operation what the next ones will.
    async fn fetch_token(&self, challenge: &Challenge, scope: &str) -> Result<(), Error> {
        let realm = challenge.param("realm").unwrap_or_default();
        let mut url = Url::parse(realm).map_err(|e| Error::Token {
            url: realm.to_owned(),
            message: format!("the registry's challenge names a realm that is not a URL: {e}"),
        })?;
        let realm_text = url.to_string();
        match url.scheme() {
            "https" => {}
            // Credentials go to the realm: never over plain HTTP unless the registry itself is.
            "http" if self.registry.insecure || self.registry.credentials.is_none() => {}
            other => {
                return Err(Error::Token {
                    url: realm_text,
                    message: format!("refusing to send credentials to a `{other}` realm; the registry is HTTPS"),
                });
            }
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = challenge.param("service") {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
            if let Some(asked) = challenge.param("scope").filter(|asked| *asked != scope) {
                query.append_pair("scope", asked);
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(value) = self.basic_header() {
            headers.insert(AUTHORIZATION, value);
        }
        let reply = self.transport.send(Method::GET, &url, &headers, Bytes::new()).await?;
        if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized(registry_message(&reply.body).or_else(|| Some(format!("token server {realm_text}")))));
        }
        if !reply.status.is_success() {
            return Err(Error::Token {
                url: realm_text,
                message: format!(
                    "answered {}{}",
                    reply.status,
                    registry_message(&reply.body).map(|m| format!(": {m}")).unwrap_or_default()
                ),
            });
        }
        let (value, seconds) = parse_token(&reply.body).map_err(|message| Error::Token { url: realm_text, message })?;
        // Renew a little early, so a token does not expire between attach and arrival.
        let lifetime = Duration::from_secs(seconds).saturating_sub(Duration::from_secs(5)).max(Duration::from_secs(1));
        if let Ok(mut state) = self.auth.lock() {
            state.tokens.insert(scope.to_owned(), Token { value, expires: Instant::now() + lifetime });
        }
        Ok(())
    }

    fn basic_header(&self) -> Option<HeaderValue> {
        let credentials = self.registry.credentials.as_ref()?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", credentials.username, credentials.password));
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    fn username(&self) -> Option<String> {
        self.registry.credentials.as_ref().map(|c| c.username.clone())
    }

    fn unauthorized(&self, detail: Option<String>) -> Error {
        Error::Unauthorized { registry: self.name.clone(), user: self.username(), detail }
    }
}

fn accept_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&media_type::accept_header()) {
        headers.insert(ACCEPT, value);
    }
    headers
}

/// A digest reference must get exactly that manifest back.
fn check_digest(url: &Url, reference: &Reference, actual: &Digest) -> Result<(), Error> {
    match reference {
        Reference::Digest(wanted) if wanted.algorithm() == actual.algorithm() && wanted != actual => {
            Err(Error::DigestMismatch { url: url.to_string(), expected: wanted.to_string(), actual: actual.to_string() })
        }
        _ => Ok(()),
    }
}

fn status_error(method: Method, url: &Url, reply: &Reply) -> Error {
    Error::Status {
        method: method_name(&method),
        url: url.to_string(),
        status: reply.status.as_u16(),
        message: registry_message(&reply.body),
    }
}

/// The registry's explanation from an error body: the spec's
/// `{"errors":[{"code","message"}]}` as `CODE: message; …`, or the start of a text body.
pub(crate) fn registry_message(body: &[u8]) -> Option<String> {
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(body) {
        let errors = document.get("errors").and_then(|e| e.as_array());
        let parts: Vec<String> = errors
            .into_iter()
            .flatten()
            .filter_map(|error| {
                let code = error.get("code").and_then(|c| c.as_str());
                let message = error.get("message").and_then(|m| m.as_str());
                match (code, message) {
                    (Some(code), Some(message)) => Some(format!("{code}: {message}")),
                    (Some(text), None) | (None, Some(text)) => Some(text.to_owned()),
                    (None, None) => None,
                }
            })
            .collect();
        if !parts.is_empty() {
            return Some(parts.join("; "));
        }
        if let Some(detail) = document.get("details").or_else(|| document.get("message")).and_then(|m| m.as_str()) {
            return Some(detail.to_owned());
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    Some(short)
}

/// The token and its lifetime in seconds from a token server's JSON answer: `token`, or
/// OAuth2's `access_token`; `expires_in`, or the spec's 60 s default.
pub(crate) fn parse_token(body: &[u8]) -> Result<(String, u64), String> {
    let document: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let token = ["token", "access_token"]
        .iter()
        .find_map(|key| document.get(*key).and_then(|t| t.as_str()).filter(|t| !t.is_empty()))
        .ok_or("the answer has no `token` or `access_token`")?;
    let seconds = document.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(DEFAULT_TOKEN_SECONDS);
    Ok((token.to_owned(), seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_error_bodies_become_one_line() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(registry_message(body).as_deref(), Some("MANIFEST_UNKNOWN: manifest unknown"));
        let two = br#"{"errors":[{"code":"A","message":"a"},{"code":"B"}]}"#;
        assert_eq!(registry_message(two).as_deref(), Some("A: a; B"));
        assert_eq!(registry_message(b"  upstream timed out \n").as_deref(), Some("upstream timed out"));
        assert_eq!(registry_message(b""), None);
        assert_eq!(registry_message("x".repeat(300).as_bytes()).map(|m| m.chars().count()), Some(201));
    }

    #[test]
    fn tokens_come_as_token_or_access_token() {
        assert_eq!(parse_token(br#"{"token":"abc","expires_in":300}"#), Ok(("abc".into(), 300)));
        assert_eq!(parse_token(br#"{"access_token":"xyz"}"#), Ok(("xyz".into(), 60)));
        assert_eq!(parse_token(br#"{"token":"","access_token":"xyz"}"#), Ok(("xyz".into(), 60)));
        assert!(parse_token(br#"{"expires_in":300}"#).is_err());
        assert!(parse_token(b"<html>").is_err());
    }
}
