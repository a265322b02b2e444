//! `oci-retag (oci|ferry) HOST REPOSITORY FROM TO [USER PASSWORD]`: moves tag TO to the manifest
//! FROM names, on a plain-HTTP registry at HOST, with oci-client (`pull_manifest_raw`,
//! `fetch_manifest_digest`, `push_manifest_raw`) or with ferry-registry (`RegistryClient::retag`).
//! Prints `digest previous` and the milliseconds the retag itself took (after the client is built);
//! with OCI_RETAG_STEPS set, oci-client's steps are timed on stderr too.

use std::time::Instant;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, tool, host, repository, from, to, rest @ ..] = args.as_slice() else {
        return Err("usage: oci-retag (oci|ferry) HOST REPOSITORY FROM TO [USER PASSWORD]".into());
    };
    let credentials = match rest {
        [user, password] => Some((user.clone(), password.clone())),
        _ => None,
    };
    let (digest, previous, started) = match tool.as_str() {
        "oci" => {
            let client = Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
            let auth = match &credentials {
                Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
                None => RegistryAuth::Anonymous,
            };
            let started = Instant::now();
            // Built, not parsed: parsing compiles oci-spec's reference grammar (a regex, ~39 ms
            // here) on first use, which a retag need not pay.
            let source = Reference::with_tag(host.clone(), repository.clone(), from.clone());
            let target = Reference::with_tag(host.clone(), repository.clone(), to.clone());
            let (bytes, digest) = client.pull_manifest_raw(&source, &auth, ACCEPT).await?;
            step("pull_manifest_raw", started);
            // pull_manifest_raw drops the Content-Type; the manifest's own mediaType is all there is.
            let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)?
                .get("mediaType")
                .and_then(|m| m.as_str().map(str::to_owned))
                .ok_or("manifest has no mediaType field")?;
            let previous = client.fetch_manifest_digest(&target, &auth).await.ok();
            step("fetch_manifest_digest", started);
            if previous.as_deref() != Some(digest.as_str()) {
                client.push_manifest_raw(&target, bytes, media_type.parse()?).await?;
                step("push_manifest_raw", started);
            }
            (digest, previous, started)
        }
        "ferry" => {
            let mut registry = ferry_registry::Registry::new(format!("http://{host}")).with_insecure(true);
            if let Some((user, password)) = &credentials {
                registry = registry.with_basic_auth(user.clone(), password.clone());
            }
            let client = ferry_registry::RegistryClient::new(registry)?;
            let started = Instant::now();
            let retagged = client.retag(repository, from, to).await?;
            (retagged.digest.to_string(), retagged.previous.map(|d| d.to_string()), started)
        }
        other => return Err(format!("unknown tool {other}").into()),
    };
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    println!("{digest} {} {elapsed:.3}", previous.as_deref().unwrap_or("-"));
    Ok(())
}

/// With OCI_RETAG_STEPS set, the milliseconds since `started` after each step, on stderr.
fn step(name: &str, started: Instant) {
    if std::env::var_os("OCI_RETAG_STEPS").is_some() {
        eprintln!("{name} {:.3}", started.elapsed().as_secs_f64() * 1000.0);
    }
}
