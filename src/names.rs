//! Validation of names (artifact names, types, aliases, run ids) and display paths.
//!
//! Everything here is applied twice: to what a user types, and to what is read back from a store
//! (which may have been synced from an untrusted machine).

use crate::error::{Error, Result};

/// Longest artifact name, type, alias or run id.
pub const MAX_NAME_LEN: usize = 128;

/// Path components never accepted in a display path: writing them on checkout could change how
/// git or codever treat the target directory.
const RESERVED_COMPONENTS: [&str; 2] = [".git", ".codever"];

/// Checks an artifact name, type, alias or run id: `[A-Za-z0-9_.-]`, 1–128 characters, and not
/// made only of dots (so it is always safe as one path component).
pub fn validate_name(what: &'static str, value: &str) -> Result<()> {
    let fail = |reason: &str| {
        Err(Error::InvalidName {
            what,
            value: value.to_string(),
            reason: reason.to_string(),
        })
    };
    if value.is_empty() {
        return fail("it is empty");
    }
    if value.len() > MAX_NAME_LEN {
        return fail("it is longer than 128 characters");
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return fail(&format!("{c:?} is not allowed"));
    }
    if value.chars().all(|c| c == '.') {
        return fail("it is only dots");
    }
    Ok(())
}

/// Checks an alias: a valid name that is not `latest` and does not look like a version number.
pub fn validate_alias(alias: &str) -> Result<()> {
    validate_name("alias", alias)?;
    let reserved = alias == "latest"
        || (alias.len() > 1
            && alias.starts_with('v')
            && alias[1..].bytes().all(|b| b.is_ascii_digit()));
    if reserved {
        return Err(Error::ReservedAlias {
            alias: alias.to_string(),
        });
    }
    Ok(())
}

/// Checks a tag of a version (W&B's rule): words of letters, digits, `_` and `-`, separated by
/// spaces, at most 128 characters.
pub fn validate_tag(tag: &str) -> Result<()> {
    let fail = |reason: &str| {
        Err(Error::InvalidName {
            what: "tag",
            value: tag.to_string(),
            reason: reason.to_string(),
        })
    };
    if tag.is_empty() {
        return fail("it is empty");
    }
    if tag.chars().count() > MAX_NAME_LEN {
        return fail("it is longer than 128 characters");
    }
    if tag.starts_with(' ') || tag.ends_with(' ') {
        return fail("it starts or ends with a space");
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | ' ')))
    {
        return fail(&format!(
            "{c:?} is not allowed (letters, digits, `_` and `-`, words separated by spaces)"
        ));
    }
    Ok(())
}

/// Normalises a display path: `./a` → `a`, `a//b` → `a/b`, trailing `/` dropped.
///
/// Rejects empty paths, absolute paths, `..`, backslashes, NUL and control characters, and the
/// components `.git` and `.codever`.
pub fn normalize_path(path: &str) -> Result<String> {
    let fail = |reason: &str| {
        Err(Error::InvalidPath {
            path: path.to_string(),
            reason: reason.to_string(),
        })
    };
    if path.starts_with('/') {
        return fail("absolute paths are not allowed");
    }
    let mut parts = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => continue,
            ".." => return fail("`..` is not allowed"),
            c => {
                if let Err(reason) = check_component(c) {
                    return fail(&reason);
                }
                parts.push(c);
            }
        }
    }
    if parts.is_empty() {
        return fail("it names no file");
    }
    Ok(parts.join("/"))
}

/// Whether `path` is already in normal form and safe (used on paths read from a store).
pub fn is_normal_path(path: &str) -> bool {
    normalize_path(path).is_ok_and(|n| n == path)
}

/// Checks one component of a display path (no `/` inside by construction).
pub fn check_component(c: &str) -> std::result::Result<(), String> {
    if c.is_empty() || c == "." || c == ".." {
        return Err(format!("{c:?} is not a file name"));
    }
    if c.contains('/') {
        return Err("a name contains `/`".into());
    }
    if c.contains('\\') {
        return Err("backslashes are not allowed (use `/`)".into());
    }
    if c.chars().any(|ch| ch.is_control()) {
        return Err("control characters are not allowed".into());
    }
    if RESERVED_COMPONENTS
        .iter()
        .any(|r| c.eq_ignore_ascii_case(r))
    {
        return Err(format!("{c:?} is reserved"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_wandbs_rule() {
        for ok in ["rl", "sweep 1", "a  b", "ünï-code_1", &"t".repeat(128)] {
            validate_tag(ok).unwrap();
        }
        for (bad, reason) in [
            ("", "it is empty"),
            (" a", "it starts or ends with a space"),
            ("a ", "it starts or ends with a space"),
            (
                "a/b",
                "'/' is not allowed (letters, digits, `_` and `-`, words separated by spaces)",
            ),
            (&"t".repeat(129), "it is longer than 128 characters"),
        ] {
            let e = validate_tag(bad).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidName { what: "tag", reason: r, .. } if r == reason),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn names() {
        for ok in ["ppo", "model_code", "a.b-c", "A9", &"x".repeat(128)] {
            validate_name("artifact name", ok).unwrap();
        }
        for bad in [
            "",
            "a/b",
            "a:b",
            "a b",
            "é",
            ".",
            "..",
            "...",
            &"x".repeat(129),
        ] {
            assert!(validate_name("artifact name", bad).is_err(), "{bad:?}");
        }
        let e = validate_name("type", "a/b").unwrap_err().to_string();
        assert_eq!(e, "invalid type \"a/b\": '/' is not allowed");
    }

    #[test]
    fn aliases() {
        validate_alias("best").unwrap();
        validate_alias("v").unwrap();
        validate_alias("v1a").unwrap();
        for bad in ["latest", "v0", "v12", "a:b", "a/b"] {
            assert!(validate_alias(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(normalize_path("./a").unwrap(), "a");
        assert_eq!(normalize_path("a//b/").unwrap(), "a/b");
        assert_eq!(normalize_path("a/./b").unwrap(), "a/b");
        for bad in [
            "",
            ".",
            "/a",
            "../a",
            "a/../b",
            "a\\b",
            "a\0b",
            ".git/config",
            "x/.codever/y",
            "./",
            "a\nb",
        ] {
            assert!(normalize_path(bad).is_err(), "{bad:?}");
        }
        assert!(is_normal_path("a/b"));
        assert!(!is_normal_path("a//b"));
        assert!(!is_normal_path("../b"));
        let e = normalize_path("../x").unwrap_err().to_string();
        assert_eq!(e, "invalid path \"../x\": `..` is not allowed");
    }
}
