//! Conformance against a peer: Debian's `docker-registry` (Distribution 2.8) started here on
//! 127.0.0.1 with an htpasswd user, the images pushed first by `skopeo` from OCI layouts the
//! tests write by hand, and every result checked with `skopeo inspect`, so ferry's reading is
//! compared with another tool's rather than with itself.
//!
//! Needs `docker-registry`, `skopeo`, `htpasswd` (apache2-utils) and `openssl`; ignored by
//! default, run by `tests/conformance/run.sh` (`cargo test -p ferry-registry -- --ignored`).

use std::fs;
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64_URL};
use ferry_registry::{Digest, Error, MediaType, Registry, RegistryClient};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

const USER: &str = "ferry";
const PASSWORD: &str = "s3cret-pass";

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

// ---- the registry under test ---------------------------------------------------------------

/// A `docker-registry serve` process with its own storage; killed when dropped.
struct Distribution {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    tls: bool,
}

impl Distribution {
    fn start() -> Distribution {
        Self::start_with(false, None)
    }

    /// With `tls`, serves HTTPS with a certificate from a CA written to `ca.pem`; with a
    /// token server, asks for its bearer tokens instead of checking passwords itself.
    fn start_with(tls: bool, token: Option<&TokenServer>) -> Distribution {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let htpasswd = run(Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]));
        fs::write(root.join("htpasswd"), htpasswd).unwrap();
        let tls_config = if tls {
            write_certificates(root);
            format!("  tls:\n    certificate: {}\n    key: {}\n", root.join("cert.pem").display(), root.join("key.pem").display())
        } else {
            String::new()
        };
        let port = free_port();
        let config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n{tls_config}\
             auth:\n{auth}",
            storage = root.join("storage").display(),
            auth = match token {
                None => format!("  htpasswd:\n    realm: ferry-registry-test\n    path: {}\n", root.join("htpasswd").display()),
                Some(token) => format!(
                    "  token:\n    realm: http://127.0.0.1:{}/token\n    service: {TOKEN_SERVICE}\n    \
                     issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                    token.port,
                    token.certificate.display()
                ),
            },
        );
        fs::write(root.join("config.yml"), config).unwrap();
        let log = fs::File::create(root.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(root.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry is installed (apt-get install docker-registry)");
        let registry = Distribution { child, dir, port, tls };
        registry.wait_until_listening(Duration::from_secs(20));
        registry
    }

    fn wait_until_listening(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not listen on {} within {within:?}:\n{}", self.port, self.log());
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry as ferry is configured for it, with the right password.
    fn registry(&self) -> Registry {
        let registry = if self.tls {
            Registry::new(self.host()).with_ca_file(self.dir.path().join("ca.pem"))
        } else {
            Registry::new(self.host()).with_insecure(true)
        };
        registry.with_basic_auth(USER, PASSWORD)
    }

    fn client(&self) -> RegistryClient {
        RegistryClient::with_timeout(self.registry(), Duration::from_secs(30)).unwrap()
    }

    /// `skopeo copy` from an OCI layout to `repository:tag` here (`--all` for an index).
    fn push(&self, layout: &Path, layout_tag: &str, repository: &str, tag: &str, all: bool) {
        let mut command = skopeo();
        command.args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", &format!("{USER}:{PASSWORD}")]);
        if all {
            command.arg("--all");
        }
        command.arg(format!("oci:{}:{layout_tag}", layout.display()));
        command.arg(format!("docker://{}/{repository}:{tag}", self.host()));
        run(&mut command);
    }

    /// The manifest bytes skopeo reads for `repository:tag`.
    fn skopeo_raw(&self, repository: &str, tag: &str) -> Vec<u8> {
        let mut command = skopeo();
        command.args(["inspect", "--raw", "--tls-verify=false", "--creds", &format!("{USER}:{PASSWORD}")]);
        command.arg(format!("docker://{}/{repository}:{tag}", self.host()));
        run(&mut command)
    }

    /// The digest `skopeo inspect` reports for `repository:tag`.
    fn skopeo_digest(&self, repository: &str, tag: &str) -> String {
        let mut command = skopeo();
        command.args(["inspect", "--tls-verify=false", "--creds", &format!("{USER}:{PASSWORD}")]);
        command.arg(format!("docker://{}/{repository}:{tag}", self.host()));
        let report: Value = serde_json::from_slice(&run(&mut command)).unwrap();
        report["Digest"].as_str().unwrap().to_owned()
    }

    /// Every file in the registry's blob store: a retag must not add one.
    fn blob_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut pending = vec![self.dir.path().join("storage/docker/registry/v2/blobs")];
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() { pending.push(path) } else { files.push(path) }
            }
        }
        files.sort();
        files
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// skopeo with no system policy needed, bounded by `timeout`.
fn skopeo() -> Command {
    let mut command = Command::new("timeout");
    command.args(["120", "skopeo", "--insecure-policy"]);
    command
}

/// Runs a command to completion; its stdout, or a panic with its stderr.
fn run(command: &mut Command) -> Vec<u8> {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(output.status.success(), "{command:?} failed ({}):\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// A CA, and a certificate for 127.0.0.1 it signed, with openssl.
fn write_certificates(dir: &Path) {
    let path = |name: &str| dir.join(name).display().to_string();
    let openssl = |args: &[&str]| {
        let mut command = Command::new("openssl");
        command.args(args).stdin(Stdio::null());
        run(&mut command);
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &path("ca.key"),
        "-out",
        &path("ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=ferry test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &path("key.pem"),
        "-out",
        &path("cert.csr"),
        "-subj",
        "/CN=127.0.0.1",
    ]);
    fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &path("cert.csr"),
        "-CA",
        &path("ca.pem"),
        "-CAkey",
        &path("ca.key"),
        "-CAcreateserial",
        "-out",
        &path("cert.pem"),
        "-days",
        "2",
        "-extfile",
        &path("ext.cnf"),
    ]);
}

// ---- a token server, for Distribution's `auth: token` ------------------------------------

const TOKEN_SERVICE: &str = "ferry-test-registry";
const TOKEN_ISSUER: &str = "ferry-test-issuer";

/// The token server Distribution's `auth: token` delegates to (what Harbor, GitLab and
/// Docker Hub run): checks the user's password, grants what is asked (anonymous clients: pull
/// only), and signs RS256 JWTs with openssl, the certificate in the `x5c` header. Runs on its
/// own thread so that a test blocked on skopeo does not block it; stopped when dropped.
struct TokenServer {
    port: u16,
    certificate: PathBuf,
    /// Every token request's query string.
    requests: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Signer {
    key: PathBuf,
    certificate_der: Vec<u8>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    fn start(dir: &Path) -> TokenServer {
        let key = dir.join("token.key");
        let certificate = dir.join("token.pem");
        let mut command = Command::new("openssl");
        command.args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ferry token issuer"]);
        command.arg("-keyout").arg(&key).arg("-out").arg(&certificate).stdin(Stdio::null());
        run(&mut command);
        let certificate_der = run(Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&certificate));

        let requests = Arc::new(Mutex::new(Vec::new()));
        let signer = Arc::new(Signer { key, certificate_der, requests: requests.clone() });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().route("/token", axum::routing::get(issue_token)).with_state(signer);
                let _ = axum::serve(listener, app).with_graceful_shutdown(async { stopped.await.unwrap_or(()) }).await;
            });
        });
        TokenServer { port, certificate, requests, stop: Some(stop), thread: Some(thread) }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn issue_token(
    axum::extract::State(signer): axum::extract::State<Arc<Signer>>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let query = uri.query().unwrap_or_default().to_owned();
    signer.requests.lock().unwrap().push(query.clone());
    let basic = format!("Basic {}", BASE64.encode(format!("{USER}:{PASSWORD}")));
    let user = match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        None => None,
        Some(value) if value == basic => Some(USER),
        Some(_) => {
            let body = json!({"details": "incorrect username or password"}).to_string();
            return (axum::http::StatusCode::UNAUTHORIZED, body).into_response();
        }
    };
    let access: Vec<Value> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "scope")
        .filter_map(|(_, scope)| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            let granted: Vec<&str> = actions.split(',').filter(|a| *a == "pull" || (*a == "push" && user.is_some())).collect();
            Some(json!({"type": kind, "name": name, "actions": granted}))
        })
        .collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [BASE64.encode(&signer.certificate_der)]});
    let claims = json!({
        "iss": TOKEN_ISSUER, "sub": user.unwrap_or(""), "aud": TOKEN_SERVICE,
        "exp": now + 300, "nbf": now - 60, "iat": now, "jti": format!("{now}-{}", signer.requests.lock().unwrap().len()),
        "access": access,
    });
    let signing_input = format!("{}.{}", BASE64_URL.encode(header.to_string()), BASE64_URL.encode(claims.to_string()));
    let signer = signer.clone();
    let input = signing_input.clone();
    let signature = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&signer.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap().stdout
    })
    .await
    .unwrap();
    let token = format!("{signing_input}.{}", BASE64_URL.encode(signature));
    axum::Json(json!({"token": token, "expires_in": 300})).into_response()
}

// ---- OCI layouts, written by hand --------------------------------------------------------

/// A content descriptor: what an index or manifest says about a blob.
struct Descriptor {
    media_type: &'static str,
    digest: String,
    size: usize,
}

impl Descriptor {
    fn json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// Stores `bytes` under `blobs/sha256/` of the layout.
fn write_blob(layout: &Path, media_type: &'static str, bytes: &[u8]) -> Descriptor {
    let digest = Digest::sha256(bytes).to_string();
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
    Descriptor { media_type, digest, size: bytes.len() }
}

/// A one-file tar archive (ustar), as a layer holds.
fn tar_with_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let text = format!("{value:0width$o}\0", width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    };
    octal(&mut header[100..108], 0o644); // mode
    octal(&mut header[108..116], 0); // uid
    octal(&mut header[116..124], 0); // gid
    octal(&mut header[124..136], content.len() as u64); // size
    octal(&mut header[136..148], 1_700_000_000); // mtime
    header[156] = b'0'; // regular file
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        "); // checksum counts as spaces
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());

    let mut archive = header.to_vec();
    archive.extend_from_slice(content);
    archive.resize(archive.len().div_ceil(512) * 512, 0);
    archive.extend_from_slice(&[0u8; 1024]); // end of archive
    archive
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes one platform's image (config, one gzip layer, manifest) into the layout's blobs.
fn write_image(layout: &Path, architecture: &str, content: &str) -> Descriptor {
    let tar = tar_with_file("app.txt", content.as_bytes());
    let layer = write_blob(layout, "application/vnd.oci.image.layer.v1.tar+gzip", &gzip(&tar));
    let config = json!({
        "architecture": architecture,
        "os": "linux",
        "config": {"Cmd": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256(&tar).to_string()]},
    });
    let config = write_blob(layout, "application/vnd.oci.image.config.v1+json", &serde_json::to_vec(&config).unwrap());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.json(),
        "layers": [layer.json()],
    });
    write_blob(layout, OCI_MANIFEST, &serde_json::to_vec(&manifest).unwrap())
}

/// Names `top` as `tag` in the layout's `index.json`, and writes `oci-layout`.
fn write_layout_index(layout: &Path, tag: &str, top: &Descriptor) {
    let mut entry = top.json();
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index = json!({"schemaVersion": 2, "manifests": [entry]});
    fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A single-platform image layout, tagged `tag`; returns its manifest's descriptor.
fn single_image_layout(layout: &Path, tag: &str) -> Descriptor {
    let manifest = write_image(layout, "amd64", "hello from ferry\n");
    write_layout_index(layout, tag, &manifest);
    manifest
}

/// A two-platform image layout (amd64, arm64) under an OCI index tagged `tag`.
fn multi_platform_layout(layout: &Path, tag: &str) -> Descriptor {
    let platforms = ["amd64", "arm64"].map(|architecture| {
        let manifest = write_image(layout, architecture, &format!("hello from {architecture}\n"));
        let mut entry = manifest.json();
        entry["platform"] = json!({"architecture": architecture, "os": "linux"});
        entry
    });
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": platforms});
    let index = write_blob(layout, OCI_INDEX, &serde_json::to_vec(&index).unwrap());
    write_layout_index(layout, tag, &index);
    index
}

/// A registry holding `team/app:1.0`, pushed by skopeo; and that manifest's descriptor.
fn registry_with_an_image() -> (Distribution, Descriptor) {
    let registry = Distribution::start();
    let layout = registry.dir.path().join("layout");
    let manifest = single_image_layout(&layout, "1.0");
    registry.push(&layout, "1.0", "team/app", "1.0", false);
    (registry, manifest)
}

// ---- the scenarios -----------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs docker-registry and skopeo: run by tests/conformance/run.sh"]
async fn resolve_gives_the_digest_skopeo_pushed() {
    let (registry, pushed) = registry_with_an_image();
    let resolved = registry.client().resolve("team/app", "1.0").await.unwrap().expect("1.0 is there");

    let raw = registry.skopeo_raw("team/app", "1.0");
    assert_eq!(resolved.digest, Digest::sha256(&raw), "the digest of the bytes skopeo reads");
    assert_eq!(resolved.digest.as_str(), pushed.digest, "skopeo kept the layout's manifest as written");
    assert_eq!(resolved.media_type, MediaType::OciManifest);
    assert_eq!(resolved.size, raw.len() as u64);
    assert!(registry.client().exists("team/app", "1.0").await.unwrap());
    // By digest as well.
    let by_digest = registry.client().resolve("team/app", resolved.digest.as_str()).await.unwrap();
    assert_eq!(by_digest, Some(resolved));
}

#[tokio::test]
#[ignore = "needs docker-registry and skopeo: run by tests/conformance/run.sh"]
async fn retag_to_dev_moves_no_blob_and_skopeo_sees_the_same_digest() {
    let (registry, pushed) = registry_with_an_image();
    let blobs_before = registry.blob_files();
    let client = registry.client();

    let digest = client.retag("team/app", "1.0", "dev").await.unwrap().digest;
    assert_eq!(digest.as_str(), pushed.digest);
    assert_eq!(registry.skopeo_digest("team/app", "dev"), pushed.digest);
    assert_eq!(registry.skopeo_raw("team/app", "dev"), registry.skopeo_raw("team/app", "1.0"));
    assert_eq!(registry.blob_files(), blobs_before, "a retag writes no blob");

    // Idempotent: again by tag, and by digest, from a fresh client.
    assert_eq!(client.retag("team/app", "1.0", "dev").await.unwrap().digest, digest);
    assert_eq!(registry.client().retag("team/app", digest.as_str(), "dev").await.unwrap().digest, digest);
    assert_eq!(registry.skopeo_digest("team/app", "dev"), pushed.digest);
}

#[tokio::test]
#[ignore = "needs docker-registry and skopeo: run by tests/conformance/run.sh"]
async fn a_missing_tag_resolves_to_none_and_a_missing_repository_is_named() {
    let (registry, _) = registry_with_an_image();
    let client = registry.client();
    assert_eq!(client.resolve("team/app", "9.9").await.unwrap(), None);
    assert!(!client.exists("team/app", "9.9").await.unwrap());

    let error = client.resolve("team/nope", "1.0").await.unwrap_err();
    assert!(matches!(&error, Error::RepositoryNotFound { repository, .. } if repository == "team/nope"), "{error}");
    assert!(error.to_string().contains(&registry.host()), "{error}");

    let error = client.retag("team/app", "9.9", "dev").await.unwrap_err();
    assert!(matches!(&error, Error::ManifestNotFound { image, .. } if image == "team/app:9.9"), "{error}");
    assert_eq!(client.resolve("team/app", "dev").await.unwrap(), None, "a failed retag leaves no tag");
}

#[tokio::test]
#[ignore = "needs docker-registry and skopeo: run by tests/conformance/run.sh"]
async fn a_wrong_password_is_unauthorized_naming_registry_and_user() {
    let (registry, _) = registry_with_an_image();
    let wrong = registry.registry().with_basic_auth(USER, "not-the-password");
    let error = RegistryClient::new(wrong).unwrap().resolve("team/app", "1.0").await.unwrap_err();
    assert!(matches!(&error, Error::Unauthorized { user: Some(user), .. } if user == USER), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&registry.host()) && message.contains(&format!("`{USER}`")), "{message}");

    let anonymous = Registry::new(registry.host()).with_insecure(true);
    let error = RegistryClient::new(anonymous).unwrap().exists("team/app", "1.0").await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized { user: None, .. }), "{error:?}");
}

#[tokio::test]
#[ignore = "needs docker-registry and skopeo: run by tests/conformance/run.sh"]
async fn an_oci_index_resolves_to_the_index_digest_and_retags_as_an_index() {
    let registry = Distribution::start();
    let layout = registry.dir.path().join("multi");
    let index = multi_platform_layout(&layout, "2.0");
    registry.push(&layout, "2.0", "team/multi", "2.0", true);
    let client = registry.client();

    let resolved = client.resolve("team/multi", "2.0").await.unwrap().expect("2.0 is there");
    assert_eq!(resolved.digest, Digest::sha256(&registry.skopeo_raw("team/multi", "2.0")));
    assert_eq!(resolved.digest.as_str(), index.digest);
    assert_eq!(resolved.media_type, MediaType::OciIndex);
    assert!(resolved.media_type.is_index());

    let digest = client.retag("team/multi", "2.0", "dev").await.unwrap().digest;
    assert_eq!(digest.as_str(), index.digest);
    let raw = registry.skopeo_raw("team/multi", "dev");
    assert_eq!(Digest::sha256(&raw).as_str(), index.digest);
    let document: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(document["mediaType"], OCI_INDEX);
    assert_eq!(document["manifests"].as_array().map(Vec::len), Some(2));
    let dev = client.resolve("team/multi", "dev").await.unwrap().expect("dev is there");
    assert_eq!(dev.media_type, MediaType::OciIndex);
}

#[tokio::test]
#[ignore = "needs docker-registry and skopeo: run by tests/conformance/run.sh"]
async fn https_with_a_private_ca_works_and_fails_clearly_without_it() {
    let registry = Distribution::start_with(true, None);
    let layout = registry.dir.path().join("layout");
    let pushed = single_image_layout(&layout, "1.0");
    registry.push(&layout, "1.0", "team/app", "1.0", false);

    let client = registry.client();
    let resolved = client.resolve("team/app", "1.0").await.unwrap().expect("1.0 is there");
    assert_eq!(resolved.digest.as_str(), pushed.digest);
    assert_eq!(client.retag("team/app", "1.0", "prod").await.unwrap().digest.as_str(), pushed.digest);
    assert_eq!(registry.skopeo_digest("team/app", "prod"), pushed.digest);

    let without_ca = Registry::new(registry.host()).with_basic_auth(USER, PASSWORD);
    let error = RegistryClient::new(without_ca).unwrap().resolve("team/app", "1.0").await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Network { .. }), "{message}");
    assert!(message.contains(&format!("https://{}/v2/team/app/manifests/1.0", registry.host())), "{message}");
    assert!(message.contains("certificate"), "{message}");
}

#[tokio::test]
#[ignore = "needs docker-registry and skopeo: run by tests/conformance/run.sh"]
async fn bearer_tokens_from_the_token_server_distribution_names() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(dir.path());
    let registry = Distribution::start_with(false, Some(&tokens));
    let layout = registry.dir.path().join("layout");
    let pushed = single_image_layout(&layout, "1.0");
    registry.push(&layout, "1.0", "team/app", "1.0", false);
    let pushes_by_skopeo = tokens.requests().len();

    let client = registry.client();
    let resolved = client.resolve("team/app", "1.0").await.unwrap().expect("1.0 is there");
    assert_eq!(resolved.digest.as_str(), pushed.digest);
    assert_eq!(client.retag("team/app", "1.0", "dev").await.unwrap().digest.as_str(), pushed.digest);
    assert_eq!(registry.skopeo_digest("team/app", "dev"), pushed.digest);
    let ours: Vec<String> = tokens.requests().into_iter().skip(pushes_by_skopeo).take(2).collect();
    assert_eq!(ours.len(), 2, "one token to pull, one to pull and push: {ours:?}");
    assert!(ours[0].contains(&format!("service={TOKEN_SERVICE}")) && ours[0].contains("scope=repository%3Ateam%2Fapp%3Apull"), "{ours:?}");
    assert!(ours[1].contains("scope=repository%3Ateam%2Fapp%3Apull%2Cpush"), "{ours:?}");

    // Anonymous: a token that may pull, not push.
    let anonymous = RegistryClient::new(Registry::new(registry.host()).with_insecure(true)).unwrap();
    assert!(anonymous.exists("team/app", "dev").await.unwrap());
    let error = anonymous.retag("team/app", "1.0", "prod").await.unwrap_err();
    assert!(matches!(&error, Error::Denied { user: None, action: "push to", .. }), "{error:?}");

    // A wrong password is refused by the token server, and said so.
    let wrong = registry.registry().with_basic_auth(USER, "not-the-password");
    let error = RegistryClient::new(wrong).unwrap().resolve("team/app", "1.0").await.unwrap_err();
    assert!(matches!(&error, Error::Unauthorized { user: Some(user), .. } if user == USER), "{error:?}");
    assert!(error.to_string().contains("incorrect username or password"), "{error}");
}
