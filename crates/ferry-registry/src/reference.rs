//! Repository names, tags and digests, checked against the grammar of the distribution spec.
//!
//! They are checked before any request because they become URL path segments: a name such as
//! `../v2/other` must be refused here, not sent.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::Error;

/// A content digest, `algorithm:encoded` (`sha256:…`): the identity of a manifest, and what
/// ECS pins. Compared as text, which is how registries compare them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The sha256 digest of `bytes`: what a registry must answer for a manifest with these
    /// exact bytes, so it is computed locally whenever a registry does not say.
    pub fn sha256(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The algorithm part (`sha256`).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(algorithm, _)| algorithm)
    }

    /// The whole digest as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidReference { what: "digest", value: text.to_owned(), reason };
        let (algorithm, encoded) = text.split_once(':').ok_or_else(|| invalid("expected `algorithm:hex`, e.g. `sha256:…`"))?;
        let algorithm_ok = !algorithm.is_empty()
            && algorithm
                .split(['+', '.', '_', '-'])
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if !algorithm_ok {
            return Err(invalid("the algorithm must be lowercase letters and digits"));
        }
        match algorithm {
            "sha256" if encoded.len() != 64 || !is_lower_hex(encoded) => {
                Err(invalid("a sha256 digest is 64 lowercase hexadecimal characters"))
            }
            "sha512" if encoded.len() != 128 || !is_lower_hex(encoded) => {
                Err(invalid("a sha512 digest is 128 lowercase hexadecimal characters"))
            }
            _ if encoded.is_empty() || !encoded.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-')) => {
                Err(invalid("the encoded part must be letters, digits, `=`, `_` or `-`"))
            }
            _ => Ok(Digest(text.to_owned())),
        }
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a manifest is looked up by: a tag, which moves, or a digest, which does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// Reads `text` as a digest when it has a `:` (tags cannot), otherwise as a tag.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.contains(':') {
            Ok(Reference::Digest(text.parse()?))
        } else {
            validate_tag(text)?;
            Ok(Reference::Tag(text.to_owned()))
        }
    }

    /// The path segment used in `/v2/<name>/manifests/<reference>`.
    pub fn as_str(&self) -> &str {
        match self {
            Reference::Tag(tag) => tag,
            Reference::Digest(digest) => digest.as_str(),
        }
    }

    /// `repo:tag` or `repo@sha256:…`, the way people write image references.
    pub fn qualify(&self, repository: &str) -> String {
        match self {
            Reference::Tag(tag) => format!("{repository}:{tag}"),
            Reference::Digest(digest) => format!("{repository}@{digest}"),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a tag against `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidReference { what: "tag", value: tag.to_owned(), reason };
    let mut bytes = tag.bytes();
    match bytes.next() {
        None => return Err(invalid("a tag cannot be empty")),
        Some(first) if !(first.is_ascii_alphanumeric() || first == b'_') => {
            return Err(invalid("a tag starts with a letter, a digit or `_`"));
        }
        Some(_) => {}
    }
    if tag.len() > 128 {
        return Err(invalid("a tag is at most 128 characters"));
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return Err(invalid("a tag is letters, digits, `_`, `.` and `-`"));
    }
    Ok(())
}

/// Checks a repository name: `/`-separated components of lowercase letters and digits,
/// joined inside a component by `.`, `_`, `__` or runs of `-`.
pub fn validate_repository(name: &str) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidRepository { name: name.to_owned(), reason };
    if name.is_empty() {
        return Err(invalid("a repository name cannot be empty"));
    }
    if name.len() > 255 {
        return Err(invalid("a repository name is at most 255 characters"));
    }
    for component in name.split('/') {
        if !valid_component(component) {
            return Err(invalid("each `/`-separated part is lowercase letters and digits, joined by `.`, `_`, `__` or `-`"));
        }
    }
    Ok(())
}

fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or any number of `-`.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_bytes() {
        assert_eq!(Digest::sha256(b"").as_str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(Digest::sha256(b"{}").as_str(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert_eq!(Digest::sha256(b"x").algorithm(), "sha256");
    }

    #[test]
    fn digests_are_parsed_strictly() {
        let good = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert_eq!(good.parse::<Digest>().map(|d| d.to_string()).ok().as_deref(), Some(good));
        for bad in [
            "sha256",
            "sha256:",
            "sha256:abc",
            "SHA256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "sha256:44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61CAAFF8A",
            "sha256:../../x",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_reference_with_a_colon_is_a_digest() {
        let digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert!(matches!(Reference::parse(digest), Ok(Reference::Digest(_))));
        assert_eq!(Reference::parse("1.4.2").ok(), Some(Reference::Tag("1.4.2".into())));
        assert_eq!(Reference::parse("v1").map(|r| r.qualify("app")).ok().as_deref(), Some("app:v1"));
        // `image:tag` written where a tag belongs is refused, not sent as a digest.
        assert!(Reference::parse("app:1.0").is_err());
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        for good in ["latest", "1.4.2", "build-90", "_x", "A_b.c-d", &"a".repeat(128)] {
            assert!(validate_tag(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a b", &"a".repeat(129), "ü"] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repository_names_follow_the_spec_grammar() {
        for good in ["app", "team/app", "a.b/c_d/e__f/g--h", "library/nginx", "0"] {
            assert!(validate_repository(good).is_ok(), "{good}");
        }
        for bad in ["", "App", "a//b", "/a", "a/", "../v2/x", "a..b", "a___b", "-a", "a-", "a b", "a:b"] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
    }
}
