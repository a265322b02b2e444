//! ferry's client of the OCI distribution API (the Docker Registry HTTP API V2).
//!
//! ferry deploys digests, not tags: a version a build produced (`1.4.2`) is resolved to the
//! digest of its manifest before anything changes, and that digest is what ECS runs and
//! what the ledger records. Environment tags (`app:dev`, `app:prod`) are moved by putting
//! the same manifest bytes under another tag, so a promotion costs two small requests
//! whatever the image's size. This crate does those three things against any registry that
//! speaks the distribution API — Distribution, Harbor, Nexus, GitLab, Docker Hub, ECR's
//! Docker endpoint:
//!
//! - [`RegistryClient::resolve`]: tag or digest → [`Resolved`] digest, media type, size;
//!   multi-platform images resolve to their index's digest.
//! - [`RegistryClient::exists`]: whether a tag or digest is there.
//! - [`RegistryClient::retag`]: point a tag at another tag's (or a digest's) manifest.
//!
//! It logs in as the registry asks (HTTP Basic, or bearer tokens from the registry's token
//! server, anonymous ones included), over HTTPS with rustls on the aws-lc-rs provider the
//! AWS SDK already brings, or plain HTTP for registries marked `insecure`.
//!
//! Why not the `oci-client` crate (measured for issue 9; docs/benchmarks.md, "Retag through
//! oci-client"): its retag takes 5 requests with credentials and 6 without, against this
//! crate's 3, because it probes `GET /v2/` per repository and operation (and before every
//! request to a registry that needs no login), and its raw pull drops the manifest's
//! `Content-Type`.
//!
//! ```no_run
//! # async fn example() -> Result<(), ferry_registry::Error> {
//! use ferry_registry::{Registry, RegistryClient};
//!
//! let registry = Registry::new("registry.example.com").with_basic_auth("ci", "secret");
//! let client = RegistryClient::new(registry)?;
//! if let Some(image) = client.resolve("team/api", "1.4.2").await? {
//!     println!("1.4.2 is {}", image.digest);
//!     client.retag("team/api", image.digest.as_str(), "prod").await?;
//! }
//! # Ok(())
//! # }
//! ```

mod challenge;
mod client;
mod config;
mod error;
mod media_type;
mod reference;
mod transport;

pub use client::{RegistryClient, Resolved, Retagged};
pub use config::{Credentials, Registry};
pub use error::Error;
pub use media_type::MediaType;
pub use reference::{Digest, Reference};
