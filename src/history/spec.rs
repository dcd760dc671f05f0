//! Parsing `[TYPE/]NAME[:vN|:latest|:ALIAS|@HEXPREFIX]`.

use crate::error::{Error, Result};
use crate::names::{validate_alias, validate_name};

/// Which version of an artifact a spec selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// The most recently committed version.
    Latest,
    /// `vN`.
    Number(u64),
    /// A named alias.
    Alias(String),
    /// A prefix of the version id (hex).
    IdPrefix(String),
}

/// A parsed `[TYPE/]NAME[:vN|:latest|:ALIAS|@HEXPREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The type, when given.
    pub artifact_type: Option<String>,
    /// The name.
    pub name: String,
    /// The version.
    pub selector: Selector,
}

impl Spec {
    /// Parses `[TYPE/]NAME`, an artifact rather than a version: a version suffix (`:v1`,
    /// `@3fa9`, `:latest`, an alias) is refused. Returns the type, when given, and the name.
    pub fn parse_artifact(text: &str) -> Result<(Option<String>, String)> {
        let spec = Spec::parse(text)?;
        if text.contains([':', '@']) {
            return Err(Error::InvalidSpec {
                spec: text.to_string(),
                reason: "this names an artifact: give [TYPE/]NAME, without a version".into(),
            });
        }
        Ok((spec.artifact_type, spec.name))
    }

    /// Whether `text`, a spec, names a version explicitly (`NAME:vN`, `NAME:latest`,
    /// `NAME:ALIAS`, `NAME@IDPREFIX`) rather than by a bare name, which means `latest`.
    pub fn names_version(text: &str) -> bool {
        text.contains([':', '@'])
    }

    /// Parses a spec; names are validated.
    pub fn parse(spec: &str) -> Result<Spec> {
        let fail = |reason: String| Error::InvalidSpec {
            spec: spec.to_string(),
            reason,
        };
        let (artifact_type, rest) = match spec.split_once('/') {
            Some((t, r)) => (Some(t), r),
            None => (None, spec),
        };
        let (name, selector) = match rest.find([':', '@']) {
            None => (rest, Selector::Latest),
            Some(i) => {
                let (name, sel) = rest.split_at(i);
                let body = &sel[1..];
                let selector = if sel.starts_with('@') {
                    if body.len() < 4 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(fail(format!(
                            "{body:?} after `@` must be at least 4 hex characters of a version id"
                        )));
                    }
                    Selector::IdPrefix(body.to_ascii_lowercase())
                } else if body == "latest" {
                    Selector::Latest
                } else if let Some(n) = body
                    .strip_prefix('v')
                    .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                {
                    // One spelling per number: `v01` would silently name v1.
                    if n.len() > 1 && n.starts_with('0') {
                        return Err(fail(format!(
                            "write version numbers without leading zeros (v{})",
                            n.trim_start_matches('0').parse::<u64>().unwrap_or(0)
                        )));
                    }
                    Selector::Number(n.parse().map_err(|_| fail(format!("{n} is too large")))?)
                } else {
                    validate_alias(body).map_err(|e| fail(e.to_string()))?;
                    Selector::Alias(body.to_string())
                };
                (name, selector)
            }
        };
        if let Some(t) = artifact_type {
            validate_name("type", t).map_err(|e| fail(e.to_string()))?;
        }
        validate_name("artifact name", name).map_err(|e| fail(e.to_string()))?;
        Ok(Spec {
            artifact_type: artifact_type.map(str::to_string),
            name: name.to_string(),
            selector,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_is_named_without_a_version_and_a_version_with_one() {
        assert_eq!(
            Spec::parse_artifact("rl_algo_code/ppo").unwrap(),
            (Some("rl_algo_code".to_string()), "ppo".to_string())
        );
        assert_eq!(
            Spec::parse_artifact("ppo").unwrap(),
            (None, "ppo".to_string())
        );
        for versioned in ["ppo:v1", "ppo:latest", "ppo:best", "t/ppo@3fa9"] {
            match Spec::parse_artifact(versioned) {
                Err(Error::InvalidSpec { spec, reason }) => {
                    assert_eq!(spec, versioned);
                    assert_eq!(
                        reason,
                        "this names an artifact: give [TYPE/]NAME, without a version"
                    );
                }
                other => panic!("{versioned}: {other:?}"),
            }
        }
        assert!(Spec::parse_artifact("bad name").is_err());
        for (spec, explicit) in [
            ("ppo", false),
            ("t/ppo", false),
            ("ppo:v3", true),
            ("ppo:latest", true),
            ("ppo@3fa9", true),
        ] {
            assert_eq!(Spec::names_version(spec), explicit, "{spec}");
        }
    }
}
