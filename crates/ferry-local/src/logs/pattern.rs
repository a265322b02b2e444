//! FilterLogEvents' `filterPattern` for unstructured events, as the CloudWatch Logs User
//! Guide ("Filter pattern syntax for metric filters, subscription filters, filter log events,
//! and Live Tail", "Matching terms in unstructured log events") describes it:
//!
//! - `ERROR` or `"Connection refused"`: the event contains the term or the quoted phrase
//!   (case-sensitive); several terms must all be there;
//! - `?ERROR ?WARN`: at least one of the `?` terms is there;
//! - `ERROR -Exiting`: a term after `-` must not be there.
//!
//! An empty pattern matches every event. JSON patterns (`{ $.level = "x" }`), space-delimited
//! patterns (`[ip, user, ...]`) and regular expressions (`%...%`) are refused with
//! InvalidParameterException, rather than silently matching nothing (docs/local.md).

use crate::api::ApiError;

/// A parsed filter pattern.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pattern {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

impl Pattern {
    /// Parses `text`. Errors: a pattern kind ferry local does not implement, or an
    /// unterminated quote (InvalidParameterException, `Invalid filter pattern` as AWS says).
    pub fn parse(text: &str) -> Result<Pattern, ApiError> {
        let trimmed = text.trim();
        let unsupported = |kind: &str| {
            ApiError::invalid_parameter(format!(
                "ferry local does not implement {kind} filter patterns; it matches plain terms, \"quoted phrases\", ?either and -excluded terms"
            ))
        };
        if trimmed.starts_with('{') {
            return Err(unsupported("JSON"));
        }
        if trimmed.starts_with('[') {
            return Err(unsupported("space-delimited"));
        }
        if trimmed.starts_with('%') && trimmed.len() > 1 && trimmed.ends_with('%') {
            return Err(unsupported("regular expression"));
        }
        let mut pattern = Pattern::default();
        let mut chars = trimmed.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let Some(&first) = chars.peek() else { break };
            let kind = match first {
                '?' | '-' => {
                    chars.next();
                    first
                }
                _ => ' ',
            };
            let mut term = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => term.extend(chars.next()),
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => term.push(c),
                    }
                }
                if !closed {
                    return Err(ApiError::invalid_parameter(format!("Invalid filter pattern: unterminated quote in {trimmed}")));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    term.push(c);
                    chars.next();
                }
            }
            if term.is_empty() {
                continue;
            }
            match kind {
                '?' => pattern.any.push(term),
                '-' => pattern.none.push(term),
                _ => pattern.all.push(term),
            }
        }
        Ok(pattern)
    }

    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, message: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(message)
    }

    #[test]
    fn terms_phrases_alternatives_and_exclusions() {
        assert!(matches("", "anything"));
        assert!(matches("   ", "anything"));
        assert!(matches("ERROR", "an ERROR here"));
        assert!(!matches("ERROR", "an error here"), "terms are case-sensitive");
        assert!(matches("ERROR disk", "ERROR: disk full"));
        assert!(!matches("ERROR disk", "ERROR: memory"), "every term must be there");
        assert!(matches("\"disk full\"", "ERROR: disk full"));
        assert!(!matches("\"disk full\"", "full disk"));
        assert!(matches("?WARN ?ERROR", "WARN low"));
        assert!(!matches("?WARN ?ERROR", "INFO ok"));
        assert!(matches("ERROR -Exiting", "ERROR retrying"));
        assert!(!matches("ERROR -Exiting", "ERROR Exiting now"));
        assert!(matches(r#""say \"hi\"""#, r#"they say "hi""#));
    }

    #[test]
    fn unsupported_kinds_and_broken_quotes_are_refused() {
        for pattern in [r#"{ $.level = "error" }"#, "[ip, user]", "%err.*%", "\"open"] {
            let e = Pattern::parse(pattern).unwrap_err();
            assert_eq!(e.code, "InvalidParameterException", "{pattern}");
        }
    }
}
