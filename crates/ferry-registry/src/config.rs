//! Where a registry is and how to log in to it.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::Error;

/// One registry: the shape a `[registries.NAME]` table of `ferry.toml` deserializes into.
///
/// `url` is `host[:port]` (HTTPS, or plain HTTP when `insecure`), or a full `https://…` URL,
/// which may carry a path prefix for registries served below one (Nexus, Artifactory).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub url: String,
    /// Plain HTTP instead of HTTPS. Only for registries on a trusted network or loopback:
    /// credentials then travel in clear.
    #[serde(default)]
    pub insecure: bool,
    /// Username and password; without them the client is anonymous (and still gets an
    /// anonymous token from registries that hand them out, such as Docker Hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// A PEM file of CA certificates trusted for this registry besides the system's: the
    /// usual way to reach a Harbor or Nexus behind a company CA without turning off checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl Registry {
    /// An HTTPS registry with no credentials.
    pub fn new(url: impl Into<String>) -> Self {
        Registry { url: url.into(), insecure: false, credentials: None, ca_file: None }
    }

    /// The same registry, logging in with a username and password.
    pub fn with_basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials { username: username.into(), password: password.into() });
        self
    }

    /// The same registry over plain HTTP (`true`) or HTTPS (`false`).
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// The same registry, also trusting the CA certificates in this PEM file.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// The base URL every API path is joined to, ending in `/`.
    ///
    /// A scheme that contradicts `insecure` is an error rather than a silent choice: the
    /// point of the flag is that nobody sends credentials in clear by accident.
    pub fn base_url(&self) -> Result<Url, Error> {
        let config = |field, message: String| Error::Config { field, message };
        let text = self.url.trim();
        if text.is_empty() {
            return Err(config("url", "is empty; expected `host[:port]` or `https://host[:port]`".into()));
        }
        let with_scheme =
            if text.contains("://") { text.to_owned() } else { format!("{}://{text}", if self.insecure { "http" } else { "https" }) };
        let mut url = Url::parse(&with_scheme).map_err(|e| config("url", format!("`{text}` is not a URL: {e}")))?;
        match (url.scheme(), self.insecure) {
            ("https", false) | ("http", true) => {}
            ("http", false) => {
                return Err(config("url", format!("`{text}` is plain http://; set `insecure = true` to allow it")));
            }
            ("https", true) => {
                return Err(config("insecure", format!("`insecure = true` means plain HTTP, but `url` is `{text}`; drop one of the two")));
            }
            (scheme, _) => {
                return Err(config("url", format!("`{text}`: scheme `{scheme}` is not http or https")));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(config("url", format!("`{text}` has no host")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(config("url", "must not hold credentials; put them in `credentials`".into()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(config("url", format!("`{text}` must not have a query or fragment")));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }
}

/// A username and password, sent as HTTP Basic auth or exchanged for a bearer token.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Keeps the password out of logs and `{:?}` output.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(registry: Registry) -> String {
        match registry.base_url() {
            Ok(url) => url.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn a_bare_host_is_https_unless_insecure() {
        assert_eq!(base(Registry::new("registry.example.com")), "https://registry.example.com/");
        assert_eq!(base(Registry::new("127.0.0.1:5000").with_insecure(true)), "http://127.0.0.1:5000/");
        assert_eq!(base(Registry::new("https://nexus.example.com/repository/docker")), "https://nexus.example.com/repository/docker/");
    }

    #[test]
    fn a_scheme_that_contradicts_insecure_is_refused() {
        assert_eq!(
            base(Registry::new("http://127.0.0.1:5000")),
            "error: registry `url`: `http://127.0.0.1:5000` is plain http://; set `insecure = true` to allow it"
        );
        assert!(base(Registry::new("https://r.example.com").with_insecure(true)).starts_with("error: registry `insecure`"));
        assert!(base(Registry::new("ftp://r.example.com")).starts_with("error: registry `url`"));
        assert!(base(Registry::new("https://u:p@r.example.com")).contains("credentials"));
        assert!(base(Registry::new("")).contains("empty"));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let registry = Registry::new("r.example.com").with_basic_auth("ci", "hunter2");
        let shown = format!("{registry:?}");
        assert!(shown.contains("ci") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn deserializes_from_a_ferry_toml_table() {
        let registry: Registry = match serde_json::from_str(
            r#"{"url": "harbor.example.com", "credentials": {"username": "robot", "password": "x"}, "ca_file": "/etc/ca.pem"}"#,
        ) {
            Ok(registry) => registry,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(registry, Registry::new("harbor.example.com").with_basic_auth("robot", "x").with_ca_file("/etc/ca.pem"));
        assert!(serde_json::from_str::<Registry>(r#"{"url": "r", "pasword": "x"}"#).is_err());
    }
}
