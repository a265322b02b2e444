//! ferry local is strict like AWS: a request AWS refuses is refused with AWS's error, and
//! changes nothing. Each test is named after a fault found by fuzzing ferry local (issue 15,
//! "Strict like AWS"), sends the bad request over HTTP as a client would, and then reads the
//! state back to show nothing was created.

use ferry_aws::{Clients, Target};
use ferry_local::{LocalServer, Options};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const ECR: &str = "AmazonEC2ContainerRegistry_V20150921";

struct Local {
    server: LocalServer,
    clients: Clients,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(Options { port: 0, state_dir: dir.path().to_path_buf(), ..Default::default() }).await.unwrap();
    let clients = Clients::new(&Target::local(&server.endpoint(), ACCOUNT, REGION)).await;
    Local { server, clients, http: reqwest::Client::new(), _dir: dir }
}

/// An HTTP answer read off the socket.
struct Answer {
    status: u16,
    headers: String,
    body: Value,
}

impl Local {
    /// Sends `request_line` with `headers` and `body` as written, on a socket: reqwest would
    /// normalize `/../../etc/passwd` away.
    async fn raw(&self, request_line: &str, headers: &[(&str, String)], body: &str) -> Answer {
        let mut stream = tokio::net::TcpStream::connect(self.server.addr()).await.unwrap();
        let mut request = format!("{request_line} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.server.addr());
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let text = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Answer { status, headers: head.to_ascii_lowercase(), body: serde_json::from_str(body).unwrap_or(Value::Null) }
    }

    /// An AWS JSON 1.1 request by hand, signed (in shape) with `credential` as the scope.
    async fn aws(&self, request_line: &str, target: &str, credential: &str, body: &str) -> Answer {
        let authorization = format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-target, Signature=0");
        self.aws_with(request_line, target, Some(authorization), body).await
    }

    async fn aws_with(&self, request_line: &str, target: &str, authorization: Option<String>, body: &str) -> Answer {
        let mut headers = vec![("Content-Type", "application/x-amz-json-1.1".to_string()), ("X-Amz-Target", target.to_string())];
        if let Some(a) = authorization {
            headers.push(("Authorization", a));
        }
        self.raw(request_line, &headers, body).await
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.server.endpoint()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn status(&self) -> Value {
        self.admin(reqwest::Method::GET, "/_ferry/status", None).await.1
    }

    async fn faults(&self) -> Value {
        self.admin(reqwest::Method::GET, "/_ferry/faults", None).await.1
    }

    async fn clusters(&self) -> Vec<String> {
        self.clients.ecs.list_clusters().send().await.unwrap().cluster_arns().to_vec()
    }
}

fn scope(region: &str, service: &str) -> String {
    format!("{ACCOUNT}/20260101/{region}/{service}/aws4_request")
}

fn assert_aws_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{} {}", answer.headers, answer.body);
    assert_eq!(answer.body["__type"], code, "{}", answer.body);
    assert!(answer.headers.contains(&format!("x-amzn-errortype: {}", code.to_ascii_lowercase())), "{}", answer.headers);
    assert!(answer.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", answer.body);
}

/// What ferry local holds, over every account and region.
async fn holdings(local: &Local) -> (Value, Value, Value) {
    let status = local.status().await;
    (status["partitions"].clone(), status["clusters"].clone(), status["repositories"].clone())
}

// --- 1. POST on / only -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_on_a_traversal_path_is_not_an_operation() {
    let local = start().await;
    let before = holdings(&local).await;
    let create = r#"{"clusterName":"sneaky"}"#;
    let target = format!("{ECS}.CreateCluster");
    for request_line in ["GET /../../etc/passwd", "POST /../../etc/passwd", "GET /", "PUT /", "DELETE /", "POST /x", "POST //"] {
        let answer = local.aws(request_line, &target, &scope(REGION, "ecs"), create).await;
        assert_aws_error(&answer, 404, "UnknownOperationException");
    }
    // Even without any AWS header.
    let answer = local.raw("GET /../../etc/passwd", &[], "").await;
    assert_aws_error(&answer, 404, "UnknownOperationException");
    assert_eq!(holdings(&local).await, before, "nothing was created");
    assert!(local.clusters().await.is_empty());
    // The same request as POST / is an operation.
    let answer = local.aws("POST /", &target, &scope(REGION, "ecs"), create).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(local.clusters().await.len(), 1);
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_admin_path_or_method_gets_a_json_error() {
    let local = start().await;
    let (status, body) = local.admin(reqwest::Method::GET, "/_ferry/nothing", None).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("/_ferry/nothing"), "{body}");
    let (status, body) = local.admin(reqwest::Method::PUT, "/_ferry/faults", Some(json!({"action": "*", "error": "X"}))).await;
    assert_eq!(status, 405);
    assert!(body["error"].as_str().unwrap().contains("PUT"), "{body}");
    assert_eq!(local.faults().await["faults"], json!([]));
    local.server.shutdown().await;
}

// --- 2. A well-formed credential scope -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_cannot_be_created_in_region_dotdot() {
    let local = start().await;
    let before = holdings(&local).await;
    let answer = local.aws("POST /", &format!("{ECS}.CreateCluster"), &scope("..", "ecs"), r#"{"clusterName":"c"}"#).await;
    assert_aws_error(&answer, 400, "InvalidSignatureException");
    assert_eq!(answer.body["message"], "Credential should be scoped to a valid region, not '..'. ");
    assert_eq!(holdings(&local).await, before, "no partition, no cluster");
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_cannot_be_created_in_a_10000_character_region() {
    let local = start().await;
    let before = holdings(&local).await;
    for region in [format!("us-{}-1", "a".repeat(10_000)), "x".repeat(10_000), String::new(), "US-EAST-1".into()] {
        let answer = local.aws("POST /", &format!("{ECS}.CreateCluster"), &scope(&region, "ecs"), r#"{"clusterName":"c"}"#).await;
        assert_aws_error(&answer, 400, "InvalidSignatureException");
        let message = answer.body["message"].as_str().unwrap();
        assert!(message.starts_with("Credential should be scoped to a valid region, not '"), "{message}");
        assert!(message.len() < 200, "the region is not echoed whole");
    }
    assert_eq!(holdings(&local).await, before, "no partition, no cluster");
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_credential_scope_is_not_put_in_us_east_1() {
    let local = start().await;
    let before = holdings(&local).await;
    let target = format!("{ECS}.CreateCluster");
    let body = r#"{"clusterName":"c"}"#;
    // Only an access key: not the five elements of a scope.
    let answer = local.aws("POST /", &target, ACCOUNT, body).await;
    assert_aws_error(&answer, 400, "IncompleteSignatureException");
    assert_eq!(
        answer.body["message"],
        format!("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{ACCOUNT}'")
    );
    // No Credential at all, or no SigV4 at all.
    for authorization in ["AWS4-HMAC-SHA256 SignedHeaders=host, Signature=0", "Bearer token", "AWS AKID:signature"] {
        let answer = local.aws_with("POST /", &target, Some(authorization.to_string()), body).await;
        assert_aws_error(&answer, 400, "IncompleteSignatureException");
        assert!(answer.body["message"].as_str().unwrap().contains("Authorization header requires 'Credential' parameter."));
    }
    let answer = local.aws_with("POST /", &target, None, body).await;
    assert_aws_error(&answer, 403, "MissingAuthenticationTokenException");
    assert_eq!(holdings(&local).await, before, "no partition, no cluster");
    let us_east_1 = Clients::new(&Target::local(&local.server.endpoint(), ACCOUNT, "us-east-1")).await;
    assert!(us_east_1.ecs.list_clusters().send().await.unwrap().cluster_arns().is_empty());
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_scoped_to_another_service_is_refused() {
    let local = start().await;
    let before = holdings(&local).await;
    let answer = local.aws("POST /", &format!("{ECS}.CreateCluster"), &scope(REGION, "ecr"), r#"{"clusterName":"c"}"#).await;
    assert_aws_error(&answer, 400, "InvalidSignatureException");
    assert_eq!(answer.body["message"], "Credential should be scoped to correct service: 'ecs'. ");
    // ECR signs as `ecr`, not as its endpoint prefix `api.ecr`.
    let answer = local.aws("POST /", &format!("{ECR}.CreateRepository"), &scope(REGION, "api.ecr"), r#"{"repositoryName":"web"}"#).await;
    assert_eq!(answer.body["message"], "Credential should be scoped to correct service: 'ecr'. ");
    let answer = local.aws("POST /", &format!("{ECS}.CreateCluster"), &format!("{ACCOUNT}/20260101/{REGION}/ecs/aws4"), "{}").await;
    assert_aws_error(&answer, 400, "InvalidSignatureException");
    assert_eq!(holdings(&local).await, before);
    // Rightly scoped, each service answers.
    let answer = local.aws("POST /", &format!("{ECR}.CreateRepository"), &scope(REGION, "ecr"), r#"{"repositoryName":"web"}"#).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_of_every_partition_are_served_each_apart() {
    let local = start().await;
    for region in ["us-gov-west-1", "cn-north-1", "ap-southeast-7", "eu-central-2"] {
        let answer = local.aws("POST /", &format!("{ECS}.CreateCluster"), &scope(region, "ecs"), r#"{"clusterName":"c"}"#).await;
        assert_eq!(answer.status, 200, "{region}: {}", answer.body);
        assert_eq!(answer.body["cluster"]["clusterArn"], format!("arn:aws:ecs:{region}:{ACCOUNT}:cluster/c"));
    }
    assert_eq!(local.status().await["clusters"], 4);
    // The SDK's own signing (ecs, ecr, application-autoscaling) passes, and sees its region only.
    assert!(local.clusters().await.is_empty());
    local.clients.ecr.describe_repositories().send().await.unwrap();
    local
        .clients
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(ferry_aws::autoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap();
    local.server.shutdown().await;
}

// --- 3. Image manifests ECR can read ---------------------------------------------------

fn oci_manifest() -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", "c".repeat(64)), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", "d".repeat(64)), "size": 32}]
    })
}

async fn put_image_refusal(local: &Local, manifest: &str, media_type: Option<&str>) -> (String, String) {
    let put = local
        .clients
        .ecr
        .put_image()
        .repository_name("web")
        .image_tag("1.0")
        .image_manifest(manifest)
        .set_image_manifest_media_type(media_type.map(str::to_string));
    let error = put.send().await.unwrap_err().into_service_error();
    let meta = error.meta();
    (meta.code().unwrap_or_default().to_string(), meta.message().unwrap_or_default().to_string())
}

async fn assert_no_image(local: &Local) {
    let listed = local.clients.ecr.list_images().repository_name("web").send().await.unwrap();
    assert!(listed.image_ids().is_empty(), "nothing was stored: {:?}", listed.image_ids());
}

async fn with_repository() -> Local {
    let local = start().await;
    local.clients.ecr.create_repository().repository_name("web").send().await.unwrap();
    local
}

const INVALID_MANIFEST: &str = "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_image_refuses_an_empty_object_manifest() {
    let local = with_repository().await;
    let (code, message) = put_image_refusal(&local, "{}", None).await;
    assert_eq!(code, "InvalidParameterException");
    assert!(message.starts_with(INVALID_MANIFEST), "{message}");
    assert_no_image(&local).await;
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_image_refuses_an_array_manifest() {
    let local = with_repository().await;
    let (code, message) = put_image_refusal(&local, "[]", None).await;
    assert_eq!(code, "InvalidParameterException");
    assert!(message.starts_with(INVALID_MANIFEST), "{message}");
    assert_no_image(&local).await;
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_image_refuses_a_manifest_that_is_only_a_schema_version() {
    let local = with_repository().await;
    for (manifest, media_type) in [
        (r#"{"schemaVersion": 2}"#, None),
        (r#"{"schemaVersion": 2}"#, Some("application/vnd.oci.image.manifest.v1+json")),
        (r#"{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}"#, None),
        (r#"{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}"#, None),
    ] {
        let (code, message) = put_image_refusal(&local, manifest, media_type).await;
        assert_eq!(code, "InvalidParameterException", "{manifest}");
        assert!(message.starts_with(INVALID_MANIFEST), "{manifest}: {message}");
    }
    assert_no_image(&local).await;
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_image_refuses_a_media_type_the_manifest_contradicts() {
    let local = with_repository().await;
    let manifest = oci_manifest().to_string();
    let (code, message) = put_image_refusal(&local, &manifest, Some("application/vnd.docker.distribution.manifest.v2+json")).await;
    assert_eq!(code, "InvalidParameterException");
    assert!(message.starts_with("Invalid parameter at 'imageManifestMediaType'"), "{message}");
    assert_no_image(&local).await;
    // The same manifest, with the media type it declares, is stored.
    let put = local.clients.ecr.put_image().repository_name("web").image_tag("1.0").image_manifest(&manifest).send().await.unwrap();
    assert_eq!(put.image().unwrap().image_manifest_media_type(), Some("application/vnd.oci.image.manifest.v1+json"));
    local.server.shutdown().await;
}

fn index_of(digest: &str) -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 400}]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_image_refuses_an_index_of_images_the_repository_does_not_have() {
    let local = with_repository().await;
    let (code, _) = put_image_refusal(&local, &index_of(&format!("sha256:{}", "e".repeat(64))), None).await;
    assert_eq!(code, "ReferencedImagesNotFoundException");
    assert_no_image(&local).await;
    // An index of an image the repository has is taken.
    let child = local.clients.ecr.put_image().repository_name("web").image_manifest(oci_manifest().to_string()).send().await.unwrap();
    let digest = child.image().unwrap().image_id().unwrap().image_digest().unwrap().to_string();
    local.clients.ecr.put_image().repository_name("web").image_tag("multi").image_manifest(index_of(&digest)).send().await.unwrap();
    local.server.shutdown().await;
}

// --- 4. The admin path refuses nonsense ------------------------------------------------

/// POSTs `body` to an admin path and checks it is refused, naming `field`, with nothing changed.
async fn assert_admin_refuses(local: &Local, path: &str, body: Value, field: &str) {
    let faults_before = local.faults().await;
    let status_before = local.status().await;
    let (status, answer) = local.admin(reqwest::Method::POST, path, Some(body.clone())).await;
    assert_eq!(status, 400, "{body} → {answer}");
    assert_eq!(answer["field"], field, "{body} → {answer}");
    assert!(answer["error"].as_str().unwrap().starts_with(&format!("{field}: ")), "{answer}");
    assert_eq!(local.faults().await, faults_before, "{body} changed the faults");
    assert_eq!(local.status().await["rateLimits"], status_before["rateLimits"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_fault_with_status_200_is_refused() {
    let local = start().await;
    assert_admin_refuses(&local, "/_ferry/faults", json!({"action": "*", "error": "ServiceUnavailableException", "status": 200}), "status")
        .await;
    // Nothing was injected: calls go through.
    local.clients.ecs.list_clusters().send().await.unwrap();
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_fault_with_status_0_is_refused() {
    let local = start().await;
    assert_admin_refuses(&local, "/_ferry/faults", json!({"action": "*", "error": "InternalFailure", "status": 0}), "status").await;
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_fault_with_negative_latency_or_a_bad_probability_is_refused() {
    let local = start().await;
    assert_admin_refuses(&local, "/_ferry/faults", json!({"action": "*", "latencyMs": -100}), "latencyMs").await;
    assert_admin_refuses(&local, "/_ferry/faults", json!({"action": "*", "latencyMs": 1e15}), "latencyMs").await;
    assert_admin_refuses(&local, "/_ferry/faults", json!({"action": "*", "error": "X", "probability": 1.5}), "probability").await;
    assert_admin_refuses(&local, "/_ferry/faults", json!({"action": "ecs:DescribeService", "error": "X"}), "action").await;
    assert_admin_refuses(&local, "/_ferry/faults", json!({"action": "*", "eror": "X"}), "eror").await;
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_fault_with_a_negative_duration_is_refused() {
    let local = start().await;
    assert_admin_refuses(&local, "/_ferry/task-faults", json!({"family": "web", "crashAfterSeconds": -5}), "crashAfterSeconds").await;
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_fault_with_an_infinite_duration_is_refused() {
    let local = start().await;
    // JSON has no infinity: 1e999 overflows, and the longest finite value is still refused.
    let before = local.faults().await;
    let response = local
        .http
        .post(format!("{}/_ferry/task-faults", local.server.endpoint()))
        .header("content-type", "application/json")
        .body(r#"{"family": "web", "crashAfterSeconds": 1e999}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["field"], "body", "{answer}");
    assert_eq!(local.faults().await, before);
    assert_admin_refuses(&local, "/_ferry/task-faults", json!({"family": "web", "crashAfterSeconds": f64::MAX}), "crashAfterSeconds").await;
    assert_admin_refuses(&local, "/_ferry/task-faults", json!({"family": "web"}), "failToStart").await;
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_with_nonsense_values_are_refused() {
    let local = start().await;
    for (limits, field) in [
        (json!({"ecs:UpdateService": {"burst": -1, "rate": 1}}), "limits.ecs:UpdateService.burst"),
        (json!({"ecs:UpdateService": {"burst": 10, "rate": 0}}), "limits.ecs:UpdateService.rate"),
        (json!({"ecs:UpdateService": {"burst": 10, "rate": "fast"}}), "limits.ecs:UpdateService.rate"),
        (json!({"ecs:UpdateServce": {"burst": 10, "rate": 1}}), "limits.ecs:UpdateServce"),
    ] {
        assert_admin_refuses(&local, "/_ferry/rate-limits", json!({"limits": limits}), field).await;
    }
    assert_eq!(local.status().await["rateLimits"], false, "rate limiting was not turned on");
    let (status, _) = local
        .admin(reqwest::Method::POST, "/_ferry/rate-limits", Some(json!({"limits": {"ecs:UpdateService": {"burst": 20, "rate": 1}}})))
        .await;
    assert_eq!(status, 204);
    assert_eq!(local.status().await["rateLimits"], true);
    local.server.shutdown().await;
}
