//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1), as registries send them on a 401.
//!
//! A registry says how to log in only in this header: `Basic realm="…"` for htpasswd-style
//! registries, `Bearer realm="…",service="…",scope="…"` for those behind a token server
//! (Docker Hub, Harbor, Nexus, GitLab, ECR's Docker endpoint). Values are quoted strings that
//! may hold commas (`scope="repository:app:pull,push"`), so a split on `,` is not enough.

use std::collections::BTreeMap;

/// One challenge: its scheme (lowercased) and its parameters (names lowercased).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// A parameter by its lowercase name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses every challenge in one header value; unparseable tails are dropped rather than
/// failing, since a registry that sent something odd after a good challenge still works.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut parser = Parser { text: header.as_bytes(), at: 0 };
    let mut challenges = Vec::new();
    loop {
        parser.skip_separators();
        if parser.peek().is_none() {
            break;
        }
        let Some(scheme) = parser.token() else {
            // Not a token character (the `==` of a token68, or junk): step over it.
            parser.at += 1;
            continue;
        };
        let mut params = BTreeMap::new();
        loop {
            parser.skip_whitespace();
            if parser.peek() == Some(b',') {
                parser.at += 1;
                continue;
            }
            let start = parser.at;
            let Some(name) = parser.token() else { break };
            parser.skip_whitespace();
            if parser.peek() != Some(b'=') {
                // Not `name=value`: the scheme of the next challenge.
                parser.at = start;
                break;
            }
            parser.at += 1;
            parser.skip_whitespace();
            let value = if parser.peek() == Some(b'"') { parser.quoted() } else { parser.token() };
            let Some(value) = value else { break };
            params.insert(name.to_ascii_lowercase(), value);
        }
        challenges.push(Challenge { scheme: scheme.to_ascii_lowercase(), params });
    }
    challenges
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b == b' ' || b == b'\t') {
            self.at += 1;
        }
    }

    fn skip_separators(&mut self) {
        while self.peek().is_some_and(|b| b == b' ' || b == b'\t' || b == b',') {
            self.at += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        (self.at > start).then(|| String::from_utf8_lossy(&self.text[start..self.at]).into_owned())
    }

    /// A quoted string with `\` escapes; an unterminated one runs to the end.
    fn quoted(&mut self) -> Option<String> {
        self.at += 1; // the opening quote
        let mut value = Vec::new();
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&value).into_owned()),
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        value.push(escaped);
                        self.at += 1;
                    }
                }
                _ => value.push(b),
            }
        }
        Some(String::from_utf8_lossy(&value).into_owned())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn docker_hub_bearer_challenge_with_a_comma_in_the_scope() {
        let header =
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#;
        assert_eq!(
            parse(header),
            vec![Challenge {
                scheme: "bearer".into(),
                params: params(&[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io"),
                    ("scope", "repository:samalba/my-app:pull,push"),
                ]),
            }]
        );
    }

    #[test]
    fn distribution_basic_challenge() {
        let challenges = parse(r#"Basic realm="Registry Realm""#);
        assert_eq!(challenges.len(), 1);
        assert_eq!(challenges[0].scheme, "basic");
        assert_eq!(challenges[0].param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn insufficient_scope_error_and_spacing_and_case() {
        let header = r#"BEARER  Realm = "https://h/token" , Service=h ,scope="repository:a:pull" ,error="insufficient_scope""#;
        let challenges = parse(header);
        assert_eq!(challenges.len(), 1);
        assert_eq!(challenges[0].scheme, "bearer");
        assert_eq!(challenges[0].param("realm"), Some("https://h/token"));
        assert_eq!(challenges[0].param("service"), Some("h"));
        assert_eq!(challenges[0].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn two_challenges_in_one_header() {
        let challenges = parse(r#"Basic realm="a", Bearer realm="https://t/token",service="s""#);
        let schemes: Vec<_> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer"]);
        assert_eq!(challenges[1].param("service"), Some("s"));
    }

    #[test]
    fn escapes_and_an_unterminated_quote() {
        let challenges = parse(r#"Bearer realm="a\"b",service="open"#);
        assert_eq!(challenges[0].param("realm"), Some("a\"b"));
        assert_eq!(challenges[0].param("service"), Some("open"));
    }

    #[test]
    fn a_bare_scheme_and_junk_do_not_hang() {
        assert_eq!(parse("Basic")[0].scheme, "basic");
        assert!(parse("").is_empty());
        let odd = parse("Negotiate abc==, Basic realm=x");
        assert!(odd.iter().any(|c| c.scheme == "basic" && c.param("realm") == Some("x")));
        let _ = parse("\"\"\"=,=;;;");
    }
}
