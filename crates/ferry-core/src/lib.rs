//! ferry's domain: the ECS vocabulary and the rules every other crate shares.
//! Pure: no I/O, no clock.

/// The kinds of failure ferry reports, each with its own exit code, so CI can tell a bad
/// command line from a refused deploy from a failed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// Success.
    Ok,
    /// Something went wrong that is not the user's doing.
    Internal,
    /// Invalid input: command line, config, request.
    InvalidInput,
    /// The platform (AWS or ferry local) refused or could not be reached.
    Platform,
}

impl ExitKind {
    pub fn code(self) -> i32 {
        match self {
            ExitKind::Ok => 0,
            ExitKind::Internal => 1,
            ExitKind::InvalidInput => 2,
            ExitKind::Platform => 3,
        }
    }
}

/// The tag of an image reference (`repo:tag`), or None for a digest reference or no tag.
pub fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_are_read_past_registry_ports() {
        assert_eq!(image_tag("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2"), Some("1.4.2"));
        assert_eq!(image_tag("localhost:5000/web"), None);
        assert_eq!(image_tag("localhost:5000/web:dev"), Some("dev"));
        assert_eq!(image_tag("web@sha256:abc"), None);
    }
}
