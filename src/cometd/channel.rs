//! Bayeux channel names and subscription patterns (`/v2/me/*` one segment, `/**` any depth).

/// Meta channels.
pub const HANDSHAKE: &str = "/meta/handshake";
pub const CONNECT: &str = "/meta/connect";
pub const SUBSCRIBE: &str = "/meta/subscribe";
pub const UNSUBSCRIBE: &str = "/meta/unsubscribe";
pub const DISCONNECT: &str = "/meta/disconnect";

/// Whether `pattern` (a channel name, or one ending in `/*` or `/**`) matches `channel`.
pub fn matches(pattern: &str, channel: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix("/**") {
        return channel.len() > prefix.len()
            && channel.starts_with(prefix)
            && channel.as_bytes()[prefix.len()] == b'/';
    }
    if let Some(prefix) = pattern.strip_suffix("/*") {
        return match channel.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('/')) {
            Some(last) => !last.is_empty() && !last.contains('/'),
            None => false,
        };
    }
    pattern == channel
}

/// A subscription pattern is valid if it is absolute, has no empty segment, and uses wildcards
/// only as its whole last segment.
pub fn is_valid_pattern(pattern: &str) -> bool {
    let Some(rest) = pattern.strip_prefix('/') else { return false };
    let segments: Vec<&str> = rest.split('/').collect();
    segments.iter().enumerate().all(|(i, s)| {
        !s.is_empty()
            && (!s.contains('*') || (i == segments.len() - 1 && (*s == "*" || *s == "**")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_segment_wildcard() {
        assert!(matches("/v2/me/*", "/v2/me/chats"));
        assert!(!matches("/v2/me/*", "/v2/me/chats/x"));
        assert!(!matches("/v2/me/*", "/v2/me"));
        assert!(!matches("/v2/me/*", "/v2/mex/chats"));
    }

    #[test]
    fn deep_wildcard() {
        assert!(matches("/**", "/v2/me/chats"));
        assert!(matches("/v2/**", "/v2/me/chats"));
        assert!(!matches("/v2/**", "/v2"));
        assert!(!matches("/v2/**", "/v22/me"));
    }

    #[test]
    fn exact_names_and_validity() {
        assert!(matches("/v2/me/chats", "/v2/me/chats"));
        assert!(!matches("/v2/me/chats", "/v2/me/channels"));
        assert!(is_valid_pattern("/v2/me/*"));
        assert!(is_valid_pattern("/**"));
        assert!(!is_valid_pattern("v2/me"));
        assert!(!is_valid_pattern("/v2/*/me"));
        assert!(!is_valid_pattern("/v2//me"));
    }
}
