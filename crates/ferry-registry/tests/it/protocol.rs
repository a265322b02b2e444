//! The client against an in-process fake registry: the login flows (Basic, bearer tokens,
//! anonymous tokens), the HEAD-then-GET fallback and the retag write, each checked request by
//! request. Runs everywhere; `tests/distribution.rs` checks the same against a real registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ferry_registry::{Digest, Error, MediaType, Registry, RegistryClient, Retagged};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

#[derive(Clone, Copy, PartialEq)]
enum Auth {
    None,
    /// htpasswd-style: `Basic` with ci:secret.
    Basic,
    /// A token server at /token; `anonymous` tokens are handed out without credentials.
    Bearer {
        anonymous: bool,
    },
}

struct Fake {
    auth: Auth,
    /// Whether HEAD answers carry `Docker-Content-Digest` (some registries' do not).
    head_digest: bool,
    manifests: HashMap<(String, String), (String, Vec<u8>)>,
    /// Every request: "METHOD /path?query".
    log: Vec<String>,
    port: u16,
}

type Shared = Arc<Mutex<Fake>>;

struct Server {
    fake: Shared,
    port: u16,
}

impl Server {
    async fn start(auth: Auth, head_digest: bool) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut manifests = HashMap::new();
        manifests.insert(("team/app".to_owned(), "1.0".to_owned()), (OCI_MANIFEST.to_owned(), MANIFEST.to_vec()));
        let fake = Arc::new(Mutex::new(Fake { auth, head_digest, manifests, log: Vec::new(), port }));
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server { fake, port }
    }

    fn registry(&self) -> Registry {
        Registry::new(format!("127.0.0.1:{}", self.port)).with_insecure(true)
    }

    fn log(&self) -> Vec<String> {
        self.fake.lock().unwrap().log.clone()
    }

    fn count(&self, prefix: &str) -> usize {
        self.log().iter().filter(|line| line.starts_with(prefix)).count()
    }
}

const BASIC_CI_SECRET: &str = "Basic Y2k6c2VjcmV0"; // ci:secret

async fn handle(State(fake): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut fake = fake.lock().unwrap();
    let path = uri.path().to_owned();
    fake.log.push(format!("{method} {}", uri.path_and_query().map(|p| p.as_str()).unwrap_or("")));
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");

    if path == "/token" {
        let anonymous = matches!(fake.auth, Auth::Bearer { anonymous: true });
        return if authorization == BASIC_CI_SECRET || (authorization.is_empty() && anonymous) {
            let token = if authorization.is_empty() { "anonymous-token" } else { "ci-token" };
            axum::Json(serde_json::json!({"token": token, "expires_in": 300})).into_response()
        } else {
            (StatusCode::UNAUTHORIZED, r#"{"details":"incorrect username or password"}"#).into_response()
        };
    }

    let (scheme, allowed) = match fake.auth {
        Auth::None => ("", true),
        Auth::Basic => (r#"Basic realm="fake""#, authorization == BASIC_CI_SECRET),
        Auth::Bearer { .. } => ("", authorization == "Bearer ci-token" || authorization == "Bearer anonymous-token"),
    };
    if !allowed {
        let challenge = match fake.auth {
            Auth::Bearer { .. } => {
                format!(r#"Bearer realm="http://127.0.0.1:{}/token",service="fake-registry",scope="repository:team/app:pull""#, fake.port)
            }
            _ => scheme.to_owned(),
        };
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], body).into_response();
    }

    let Some(rest) = path.strip_prefix("/v2/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(repository) = rest.strip_suffix("/tags/list") {
        let known = fake.manifests.keys().any(|(r, _)| r == repository);
        return if known {
            axum::Json(serde_json::json!({"name": repository, "tags": []})).into_response()
        } else {
            (StatusCode::NOT_FOUND, r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#)
                .into_response()
        };
    }
    let Some((repository, reference)) = rest.split_once("/manifests/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let key = (repository.to_owned(), reference.to_owned());
    match method {
        Method::PUT => {
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let digest = Digest::sha256(&body).to_string();
            fake.manifests.insert(key.clone(), (content_type.clone(), body.to_vec()));
            fake.manifests.insert((repository.to_owned(), digest.clone()), (content_type, body.to_vec()));
            (StatusCode::CREATED, [("docker-content-digest", digest)]).into_response()
        }
        Method::GET | Method::HEAD => match fake.manifests.get(&key) {
            None => (StatusCode::NOT_FOUND, r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#).into_response(),
            Some((content_type, bytes)) => {
                let mut response_headers = HeaderMap::new();
                response_headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
                if method == Method::GET || fake.head_digest {
                    response_headers.insert("docker-content-digest", Digest::sha256(bytes).to_string().parse().unwrap());
                }
                // axum sets Content-Length from the body, for HEAD too.
                (StatusCode::OK, response_headers, bytes.clone()).into_response()
            }
        },
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

#[tokio::test]
async fn bearer_challenge_gets_a_token_from_the_realm_once_and_reuses_it() {
    let server = Server::start(Auth::Bearer { anonymous: false }, true).await;
    let client = RegistryClient::new(server.registry().with_basic_auth("ci", "secret")).unwrap();

    let resolved = client.resolve("team/app", "1.0").await.unwrap().unwrap();
    assert_eq!(resolved.digest, Digest::sha256(MANIFEST));
    assert_eq!(resolved.media_type, MediaType::OciManifest);
    assert_eq!(resolved.size, MANIFEST.len() as u64);
    assert!(client.exists("team/app", "1.0").await.unwrap());

    let tokens: Vec<_> = server.log().into_iter().filter(|l| l.starts_with("GET /token")).collect();
    assert_eq!(tokens, ["GET /token?service=fake-registry&scope=repository%3Ateam%2Fapp%3Apull"]);
    // One challenge, then every request carries the token.
    assert_eq!(server.count("HEAD /v2/team/app/manifests/1.0"), 3);
}

#[tokio::test]
async fn without_credentials_an_anonymous_token_is_fetched() {
    let server = Server::start(Auth::Bearer { anonymous: true }, true).await;
    let client = RegistryClient::new(server.registry()).unwrap();
    assert!(client.exists("team/app", "1.0").await.unwrap());
    assert_eq!(server.count("GET /token"), 1);
}

#[tokio::test]
async fn a_wrong_password_at_the_token_server_is_unauthorized_naming_the_user() {
    let server = Server::start(Auth::Bearer { anonymous: true }, true).await;
    let client = RegistryClient::new(server.registry().with_basic_auth("ci", "wrong")).unwrap();
    let error = client.resolve("team/app", "1.0").await.unwrap_err();
    assert!(matches!(&error, Error::Unauthorized { user: Some(user), .. } if user == "ci"), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{}", server.port)) && message.contains("`ci`"), "{message}");
    assert!(message.contains("incorrect username or password"), "{message}");
}

#[tokio::test]
async fn basic_credentials_go_up_front_without_a_401_round_trip() {
    let server = Server::start(Auth::Basic, true).await;
    let client = RegistryClient::new(server.registry().with_basic_auth("ci", "secret")).unwrap();
    assert!(client.exists("team/app", "1.0").await.unwrap());
    assert!(client.exists("team/app", "1.0").await.unwrap());
    assert_eq!(server.count("HEAD"), 2, "{:?}", server.log());

    // Refused credentials are not sent twice.
    let wrong = RegistryClient::new(server.registry().with_basic_auth("ci", "wrong")).unwrap();
    let before = server.log().len();
    let error = wrong.exists("team/app", "1.0").await.unwrap_err();
    assert!(matches!(&error, Error::Unauthorized { user: Some(user), .. } if user == "ci"), "{error:?}");
    assert_eq!(server.log().len() - before, 1, "{:?}", server.log());

    let anonymous = RegistryClient::new(server.registry()).unwrap();
    let error = anonymous.exists("team/app", "1.0").await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized { user: None, .. }), "{error:?}");
}

#[tokio::test]
async fn head_without_a_digest_falls_back_to_get_and_hashes_the_bytes() {
    let server = Server::start(Auth::None, false).await;
    let client = RegistryClient::new(server.registry()).unwrap();
    let resolved = client.resolve("team/app", "1.0").await.unwrap().unwrap();
    assert_eq!(resolved.digest, Digest::sha256(MANIFEST));
    assert_eq!(server.log(), ["HEAD /v2/team/app/manifests/1.0", "GET /v2/team/app/manifests/1.0"]);
}

#[tokio::test]
async fn a_missing_tag_is_none_and_a_missing_repository_is_an_error() {
    let server = Server::start(Auth::None, true).await;
    let client = RegistryClient::new(server.registry()).unwrap();
    assert_eq!(client.resolve("team/app", "2.0").await.unwrap(), None);
    assert!(!client.exists("team/app", "2.0").await.unwrap());
    let error = client.resolve("team/ap", "1.0").await.unwrap_err();
    assert!(matches!(&error, Error::RepositoryNotFound { repository, .. } if repository == "team/ap"), "{error:?}");
    assert!(!client.exists("team/ap", "1.0").await.unwrap());

    let error = client.retag("team/app", "2.0", "dev").await.unwrap_err();
    assert!(matches!(&error, Error::ManifestNotFound { image, .. } if image == "team/app:2.0"), "{error:?}");
}

#[tokio::test]
async fn retag_puts_the_same_bytes_with_their_media_type_and_is_idempotent() {
    let server = Server::start(Auth::Bearer { anonymous: false }, true).await;
    let client = RegistryClient::new(server.registry().with_basic_auth("ci", "secret")).unwrap();
    let moved = client.retag("team/app", "1.0", "dev").await.unwrap();
    let digest = moved.digest;
    assert_eq!(digest, Digest::sha256(MANIFEST));
    assert_eq!(moved.previous, None, "dev was a new tag");
    {
        let fake = server.fake.lock().unwrap();
        let (content_type, bytes) = &fake.manifests[&("team/app".to_owned(), "dev".to_owned())];
        assert_eq!((content_type.as_str(), bytes.as_slice()), (OCI_MANIFEST, MANIFEST));
    }
    // Retag asks for push up front, so the write does not need a second token.
    let tokens: Vec<_> = server.log().into_iter().filter(|l| l.starts_with("GET /token")).collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(tokens[0].contains("scope=repository%3Ateam%2Fapp%3Apull%2Cpush"), "{tokens:?}");

    // Once logged in: GET the source, HEAD the tag, PUT — three requests.
    let registry_requests: Vec<String> = server.log().into_iter().filter(|l| l.contains("/v2/")).collect();
    let after_token: Vec<&str> = registry_requests.iter().skip(1).map(String::as_str).collect();
    assert_eq!(
        after_token,
        ["GET /v2/team/app/manifests/1.0", "HEAD /v2/team/app/manifests/dev", "PUT /v2/team/app/manifests/dev"],
        "{:?}",
        server.log()
    );

    // Again, and by digest: the tag is already there, nothing is written.
    let again = client.retag("team/app", digest.as_str(), "dev").await.unwrap();
    assert_eq!(again, Retagged { digest: digest.clone(), previous: Some(digest) });
    assert_eq!(server.count("PUT"), 1, "{:?}", server.log());
}

#[tokio::test]
async fn a_schema1_manifest_is_refused_by_name() {
    let server = Server::start(Auth::None, true).await;
    let schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    server
        .fake
        .lock()
        .unwrap()
        .manifests
        .insert(("team/old".to_owned(), "1".to_owned()), (schema1.to_owned(), br#"{"schemaVersion":1}"#.to_vec()));
    let client = RegistryClient::new(server.registry()).unwrap();
    let error = client.resolve("team/old", "1").await.unwrap_err();
    assert!(matches!(&error, Error::UnsupportedMediaType { media_type, .. } if media_type == schema1), "{error:?}");
}

#[tokio::test]
async fn a_registry_that_is_not_there_is_a_network_error_naming_the_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = RegistryClient::new(Registry::new(format!("127.0.0.1:{port}")).with_insecure(true)).unwrap();
    let error = client.resolve("team/app", "1.0").await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Network { .. }), "{message}");
    assert!(message.contains(&format!("HEAD http://127.0.0.1:{port}/v2/team/app/manifests/1.0")), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test]
async fn names_are_checked_before_anything_is_sent() {
    let client = RegistryClient::new(Registry::new("127.0.0.1:1").with_insecure(true)).unwrap();
    assert!(matches!(client.resolve("../v2/x", "1").await, Err(Error::InvalidRepository { .. })));
    assert!(matches!(client.retag("app", "1", "sha256:abc").await, Err(Error::InvalidReference { .. })));
}
