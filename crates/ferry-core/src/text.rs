//! Small helpers for messages: values quoted short enough to read, and the closest known
//! name for a typo.

/// How many characters of a value a message shows before it cuts it short.
pub const EXCERPT_CHARS: usize = 80;

/// `value`, or its first [`EXCERPT_CHARS`] characters, an ellipsis and how long it is, so a
/// 100,000-character value in a config or a template does not flood the terminal.
pub fn excerpt(value: &str) -> String {
    excerpt_to(value, EXCERPT_CHARS)
}

/// [`excerpt`] with a chosen length.
pub fn excerpt_to(value: &str, max_chars: usize) -> String {
    let count = value.chars().count();
    if count <= max_chars {
        return value.to_string();
    }
    let head: String = value.chars().take(max_chars).collect();
    format!("{head}… ({count} characters)")
}

/// `value` quoted as Rust's `{:?}` would, cut short like [`excerpt`]: `"abc…" (100000 characters)`.
pub fn quoted(value: &str) -> String {
    let count = value.chars().count();
    if count <= EXCERPT_CHARS {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(EXCERPT_CHARS).collect();
    let head = format!("{head:?}");
    format!("{}…\" ({count} characters)", &head[..head.len() - 1])
}

/// Cuts every line of `message` longer than `max_chars` (a parser's message that quotes a
/// whole line of input, say).
pub fn excerpt_lines(message: &str, max_chars: usize) -> String {
    message.lines().map(|line| excerpt_to(line, max_chars)).collect::<Vec<_>>().join("\n")
}

/// The edit distance between two strings (insertions, deletions, substitutions).
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The known name closest to `typo`, when it is close enough to be what was meant: at most
/// a third of its length away (and at least one edit, so `verison` finds `version`).
pub fn closest<'a>(typo: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typo_lower = typo.to_ascii_lowercase();
    let limit = (typo.chars().count() / 3).max(1);
    known
        .into_iter()
        .filter(|k| *k != typo)
        .map(|k| (distance(&typo_lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_100000_character_value_is_cut_with_an_ellipsis_and_its_length() {
        let value = "x".repeat(100_000);
        let short = excerpt(&value);
        assert_eq!(short, format!("{}… (100000 characters)", "x".repeat(80)));
        assert_eq!(quoted(&value), format!("\"{}…\" (100000 characters)", "x".repeat(80)));
        assert_eq!(excerpt("short"), "short");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        assert_eq!(excerpt_lines(&format!("line 1\n{value}"), 10), format!("line 1\n{}… (100000 characters)", "x".repeat(10)));
        // Characters, not bytes: a multi-byte value is cut at a character boundary.
        assert_eq!(excerpt_to("ééééé", 2), "éé… (5 characters)");
    }

    #[test]
    fn the_closest_name_is_suggested_only_when_close() {
        assert_eq!(closest("verison", ["version", "vars", "region"]), Some("version"));
        assert_eq!(closest("us-east1", ["us-east-1", "us-east-2", "eu-west-1"]), Some("us-east-1"));
        assert_eq!(closest("zzz", ["version"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
