//! What can go wrong talking to a registry, worded for the person who has to fix it: every
//! error names the registry (or URL) and, where it matters, the user and the image.

/// An error from a registry operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The [`Registry`](crate::Registry) configuration is unusable; `field` names the field.
    #[error("registry `{field}`: {message}")]
    Config { field: &'static str, message: String },

    /// A repository name that the distribution spec does not allow.
    #[error("invalid repository name `{name}`: {reason}")]
    InvalidRepository { name: String, reason: &'static str },

    /// A tag or digest that the distribution spec does not allow.
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidReference { what: &'static str, value: String, reason: &'static str },

    /// The registry (or its token server) refused the credentials, or wants some and none
    /// are configured.
    #[error("{registry}: {}{}", unauthorized(user.as_deref()), detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Unauthorized { registry: String, user: Option<String>, detail: Option<String> },

    /// Logged in, but not allowed to do this to this repository (403).
    #[error("{registry}: {} may not {action} repository `{repository}` (403 Forbidden{})", who(user.as_deref()), detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Denied { registry: String, user: Option<String>, repository: String, action: &'static str, detail: Option<String> },

    /// The repository itself does not exist in the registry.
    #[error("repository `{repository}` not found in {registry}")]
    RepositoryNotFound { registry: String, repository: String },

    /// The repository exists but has no manifest under this tag or digest.
    #[error("`{image}` not found in {registry}: the repository has no such tag or digest")]
    ManifestNotFound { registry: String, image: String },

    /// The manifest is of a type ferry does not resolve or retag.
    #[error(
        "{registry}: `{image}` is a `{media_type}` manifest; ferry handles OCI image manifests and indexes, \
         and Docker v2 manifests and manifest lists"
    )]
    UnsupportedMediaType { registry: String, image: String, media_type: String },

    /// The request did not get an answer: connection, TLS, timeout.
    #[error("{method} {url}: {message}")]
    Network { method: &'static str, url: String, message: String },

    /// The registry answered with a status this operation does not expect.
    #[error("{method} {url}: the registry answered {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status { method: &'static str, url: String, status: u16, message: Option<String> },

    /// The bytes and their digest disagree: the registry answered for other content than
    /// asked, or stored the manifest under another digest than its bytes have.
    #[error("{url}: digest mismatch: expected {expected}, the registry has {actual}")]
    DigestMismatch { url: String, expected: String, actual: String },

    /// The token server's answer was not a usable token.
    #[error("token server {url}: {message}")]
    Token { url: String, message: String },
}

fn unauthorized(user: Option<&str>) -> String {
    match user {
        Some(user) => {
            format!("the registry refused the credentials of user `{user}` (401 Unauthorized)")
        }
        None => "the registry requires credentials and none are configured (401 Unauthorized)".to_owned(),
    }
}

fn who(user: Option<&str>) -> String {
    match user {
        Some(user) => format!("user `{user}`"),
        None => "an anonymous client".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_names_registry_and_user() {
        let error = Error::Unauthorized {
            registry: "https://registry.example.com".into(),
            user: Some("ci".into()),
            detail: Some("invalid username or password".into()),
        };
        assert_eq!(
            error.to_string(),
            "https://registry.example.com: the registry refused the credentials of user `ci` \
             (401 Unauthorized) (invalid username or password)"
        );
        let anonymous = Error::Unauthorized { registry: "r".into(), user: None, detail: None };
        assert_eq!(anonymous.to_string(), "r: the registry requires credentials and none are configured (401 Unauthorized)");
    }

    #[test]
    fn not_found_says_which_part_is_missing() {
        let repository = Error::RepositoryNotFound { registry: "r".into(), repository: "team/app".into() };
        assert_eq!(repository.to_string(), "repository `team/app` not found in r");
        let tag = Error::ManifestNotFound { registry: "r".into(), image: "team/app:1.2".into() };
        assert_eq!(tag.to_string(), "`team/app:1.2` not found in r: the repository has no such tag or digest");
    }
}
