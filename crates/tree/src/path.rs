//! Znode paths: validation exactly as ZooKeeper's `PathUtils.validatePath`, and splitting
//! into parent and name.

use paddock_jute::ErrorCode;

/// Checks `path` as ZooKeeper does and returns BadArguments for anything it rejects:
/// empty, not absolute, a trailing `/`, empty components, `.` or `..` components, NUL,
/// control characters and the code points ZooKeeper forbids (including every character
/// outside the Basic Multilingual Plane, which Java sees as surrogates).
///
/// `sequential` validates the path as it will be once a sequence number is appended, so
/// `/queue/` is a valid prefix for a sequential create.
pub fn validate(path: &str, sequential: bool) -> Result<(), ErrorCode> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(ErrorCode::BadArguments);
    };
    if rest.is_empty() {
        return Ok(());
    }
    let mut names = rest.split('/').peekable();
    while let Some(name) = names.next() {
        // A sequential create appends a number to the last name, which makes an empty,
        // "." or ".." name valid there.
        let numbered = sequential && names.peek().is_none();
        if !numbered && matches!(name, "" | "." | "..") {
            return Err(ErrorCode::BadArguments);
        }
        if name.chars().any(|c| c == '\0' || is_forbidden_char(c)) {
            return Err(ErrorCode::BadArguments);
        }
    }
    Ok(())
}

fn is_forbidden_char(c: char) -> bool {
    let c = u32::from(c);
    (0x01..=0x1f).contains(&c)
        || (0x7f..=0x9f).contains(&c)
        || (0xd800..=0xf8ff).contains(&c)
        || c >= 0xfff0
}

/// Splits a validated path into its parent and last component. `None` for the root.
pub fn split(path: &str) -> Option<(&str, &str)> {
    if path == "/" {
        return None;
    }
    let slash = path.rfind('/')?;
    let parent = if slash == 0 { "/" } else { &path[..slash] };
    Some((parent, &path[slash + 1..]))
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, name: &str) -> String {
    let mut out = String::with_capacity(parent.len() + name.len() + 1);
    out.push_str(parent);
    if parent != "/" {
        out.push('/');
    }
    out.push_str(name);
    out
}

/// The components of a validated path, root first ("/" has none).
pub fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// True if `ancestor` is `path` itself or one of its ancestors, by whole components.
pub fn is_ancestor_or_self(ancestor: &str, path: &str) -> bool {
    if ancestor == "/" || ancestor == path {
        return true;
    }
    path.len() > ancestor.len()
        && path.starts_with(ancestor)
        && path.as_bytes()[ancestor.len()] == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn accepts_what_zookeeper_accepts() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/...",
            "/a/.b",
            "/zookeeper",
            "/ü",
        ] {
            assert_eq!(validate(ok, false), Ok(()), "{ok}");
        }
        assert_eq!(validate("/q/", true), Ok(()));
        assert_eq!(validate("/", true), Ok(()));
        assert_eq!(validate("/q/..", true), Ok(()), "becomes /q/..1");
    }

    #[test]
    fn rejects_what_zookeeper_rejects() {
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\0",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{e000}",
            "/\u{fff0}",
            "/😀",
        ] {
            assert_eq!(
                validate(bad, false),
                Err(ErrorCode::BadArguments),
                "{bad:?}"
            );
        }
        assert_eq!(validate("/q//", true), Err(ErrorCode::BadArguments));
    }

    #[test]
    fn splits_and_joins() {
        assert_eq!(split("/"), None);
        assert_eq!(split("/a"), Some(("/", "a")));
        assert_eq!(split("/a/b"), Some(("/a", "b")));
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert!(is_ancestor_or_self("/a", "/a/b"));
        assert!(!is_ancestor_or_self("/a", "/ab"));
        assert!(is_ancestor_or_self("/", "/ab"));
    }
}
