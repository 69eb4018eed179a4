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
    if sequential {
        let mut with_suffix = String::with_capacity(path.len() + 1);
        with_suffix.push_str(path);
        with_suffix.push('1');
        return validate(&with_suffix, false);
    }
    let chars: Vec<char> = path.chars().collect();
    if chars.first() != Some(&'/') {
        return Err(ErrorCode::BadArguments);
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars.last() == Some(&'/') {
        return Err(ErrorCode::BadArguments);
    }
    for i in 1..chars.len() {
        let c = chars[i];
        let last = chars[i - 1];
        let component_ends = i + 1 == chars.len() || chars[i + 1] == '/';
        let bad = c == '\0'
            || (c == '/' && last == '/')
            || (c == '.' && last == '.' && chars[i - 2] == '/' && component_ends)
            || (c == '.' && last == '/' && component_ends)
            || is_forbidden_char(c);
        if bad {
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
