//! The manifest media types ferry handles, and how a fetched manifest's type is decided.
//!
//! The `Accept` header matters: a registry that is not told a client understands OCI indexes
//! or Docker manifest lists may answer with one platform's manifest (or a converted schema 1
//! one), whose digest is not the one ECS pins.

use std::fmt;

/// A manifest media type ferry can resolve and retag.
///
/// Other types (Docker schema 1, artifacts) are refused: their digests are not stable across
/// a GET and a PUT, or they are not images ECS can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `application/vnd.oci.image.manifest.v1+json`
    OciManifest,
    /// `application/vnd.oci.image.index.v1+json`
    OciIndex,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerManifest,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerManifestList,
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

impl MediaType {
    /// Every handled type, indexes first: the order of the `Accept` header.
    pub const ALL: [MediaType; 4] = [MediaType::OciIndex, MediaType::DockerManifestList, MediaType::OciManifest, MediaType::DockerManifest];

    /// The media type string.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::OciManifest => OCI_MANIFEST,
            MediaType::OciIndex => OCI_INDEX,
            MediaType::DockerManifest => DOCKER_MANIFEST,
            MediaType::DockerManifestList => DOCKER_MANIFEST_LIST,
        }
    }

    /// Whether this is a list of per-platform manifests (an OCI index or a Docker manifest
    /// list): its digest names the whole multi-platform image.
    pub fn is_index(self) -> bool {
        matches!(self, MediaType::OciIndex | MediaType::DockerManifestList)
    }

    /// Reads a `Content-Type` value, ignoring parameters (`; charset=utf-8`) and case.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        MediaType::ALL.into_iter().find(|media_type| media_type.as_str().eq_ignore_ascii_case(essence))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `Accept` header for manifest requests: all four handled types, so the registry
/// returns exactly what it stores instead of converting or picking a platform.
pub fn accept_header() -> String {
    MediaType::ALL.map(MediaType::as_str).join(", ")
}

/// Decides a fetched manifest's media type.
///
/// The `Content-Type` header wins when it names a manifest type. Some registries answer
/// `application/json` or nothing; then the manifest's own `mediaType` field decides, and for
/// OCI documents that omit it (it is optional there), their shape: `manifests` makes an
/// index, `config` and `layers` an image manifest.
///
/// Returns the type ferry handles, or the name of the one it does not (for the error).
pub fn decide(content_type: Option<&str>, body: &[u8]) -> Result<MediaType, String> {
    let header = content_type.map(|value| value.split(';').next().unwrap_or_default().trim().to_owned());
    if let Some(header) = &header
        && let Some(media_type) = MediaType::from_content_type(header)
    {
        return Ok(media_type);
    }
    let generic = header.as_deref().is_none_or(|h| h.is_empty() || h.eq_ignore_ascii_case("application/json"));
    let document: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let declared = document.as_ref().and_then(|d| d.get("mediaType")).and_then(|m| m.as_str());
    if generic {
        if let Some(declared) = declared {
            return MediaType::from_content_type(declared).ok_or_else(|| declared.to_owned());
        }
        if let Some(document) = &document
            && document.get("schemaVersion").and_then(|v| v.as_u64()) == Some(2)
        {
            if document.get("manifests").is_some() {
                return Ok(MediaType::OciIndex);
            }
            if document.get("config").is_some() && document.get("layers").is_some() {
                return Ok(MediaType::OciManifest);
            }
        }
    }
    Err(header.filter(|h| !h.is_empty()).unwrap_or_else(|| "(none)".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_names_all_four_types_indexes_first() {
        assert_eq!(
            accept_header(),
            "application/vnd.oci.image.index.v1+json, \
             application/vnd.docker.distribution.manifest.list.v2+json, \
             application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json"
        );
    }

    #[test]
    fn content_type_parameters_and_case_are_ignored() {
        assert_eq!(MediaType::from_content_type("application/vnd.OCI.image.index.v1+json; charset=utf-8"), Some(MediaType::OciIndex));
        assert_eq!(MediaType::from_content_type("application/json"), None);
    }

    #[test]
    fn the_header_decides_when_it_names_a_manifest_type() {
        // The body says otherwise; the registry's header is what it will serve the type as.
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert_eq!(decide(Some(DOCKER_MANIFEST_LIST), body), Ok(MediaType::DockerManifestList));
    }

    #[test]
    fn a_generic_header_defers_to_the_body() {
        let declared = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#;
        assert_eq!(decide(Some("application/json"), declared), Ok(MediaType::DockerManifest));
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(decide(None, index), Ok(MediaType::OciIndex));
        let image = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert_eq!(decide(Some(""), image), Ok(MediaType::OciManifest));
    }

    #[test]
    fn unhandled_types_are_named() {
        let schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        assert_eq!(decide(Some(schema1), b"{}"), Err(schema1.to_owned()));
        let artifact = br#"{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"}"#;
        assert_eq!(decide(Some("application/json"), artifact), Err("application/vnd.example.thing+json".to_owned()));
        assert_eq!(decide(None, b"not json"), Err("(none)".to_owned()));
    }
}
