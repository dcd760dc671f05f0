//! The remotes of a store, kept in `local/remotes.json` (machine-local: each machine names its
//! remotes itself), and their URLs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::validate_name;
use crate::store::{Store, read_regular};

const FILE: &str = "remotes.json";

/// One remote: its URL and, for S3-compatible services, the endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteEntry {
    /// A path, `file:///path`, or `s3://bucket/prefix`.
    pub url: String,
    /// The S3 endpoint (`--endpoint-url`), for S3-compatible services; else the AWS
    /// environment's.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

/// Every remote of a store and which one is the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConfig {
    /// The remote used when none is named (the first one added, unless changed).
    #[serde(default)]
    pub default: Option<String>,
    /// Name → remote.
    #[serde(default)]
    pub remotes: BTreeMap<String, RemoteEntry>,
}

/// Where a URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A directory (another store).
    Folder(PathBuf),
    /// A bucket and a key prefix (empty, or ending in `/`).
    S3 { bucket: String, prefix: String },
}

/// Parses a remote URL: `s3://bucket[/prefix]`, `file:///abs/path`, or a plain path.
pub(crate) fn parse_url(url: &str) -> Result<Location> {
    let bad = |reason: &str| Error::InvalidRemoteUrl {
        url: shown_url(url),
        reason: reason.to_string(),
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !bucket_ok {
            return Err(bad(
                "a bucket name is 3 to 63 lowercase letters, digits, `-` and `.`",
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '~')
        {
            // The S3 client (object_store) encodes a listing's prefix as a form does (a space
            // as `+`), which S3's signature check refuses for these characters.
            return Err(bad(
                "the prefix must not hold spaces, control characters, `*` or `~` (S3 refuses \
                 the signature of a listing of such a prefix); use `-` or `_`",
            ));
        }
        if prefix
            .split('/')
            .any(|p| p == "." || p == ".." || (p.is_empty() && !prefix.is_empty()))
        {
            return Err(bad("the prefix must not hold empty, `.` or `..` parts"));
        }
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        return Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix,
        });
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad("a file URL is file:///absolute/path"));
        }
        return Ok(Location::Folder(PathBuf::from(path)));
    }
    if url.contains("://") {
        return Err(bad(
            "only s3:// and file:// URLs, or plain paths, are known",
        ));
    }
    if url.is_empty() {
        return Err(bad("it is empty"));
    }
    Ok(Location::Folder(PathBuf::from(url)))
}

/// The password a URL carries in its authority (`http://user:PASSWORD@host/…`), if any.
pub(crate) fn url_password(url: &str) -> Option<&str> {
    // Without a scheme (`user:pass@host:9000`), what comes first is the authority too.
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// `url` as shown to people (listings, reports): a password in it replaced by `***`.
pub fn shown_url(url: &str) -> String {
    let mut shown = match url_password(url) {
        Some(p) => url.replacen(&format!(":{p}@"), ":***@", 1),
        None => url.to_string(),
    };
    // A query may carry a token (`?token=…`, a presigned signature): never shown.
    if let Some(q) = shown.find('?')
        && q + 1 < shown.len()
    {
        shown.truncate(q + 1);
        shown.push_str("***");
    }
    shown
}

/// Why `endpoint` cannot be an S3 endpoint, if it cannot: it must be an `http://` or `https://`
/// URL with a host (object_store's client panics building requests to some malformed ones,
/// such as `host:9000` without a scheme).
pub(crate) fn endpoint_problem(endpoint: &str) -> Option<String> {
    match url::Url::parse(endpoint) {
        Err(e) => Some(format!("not a URL ({e})")),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            Some("it must start with http:// or https://".into())
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("it names no host".into()),
        Ok(_) => None,
    }
}

/// The URL to remember for folder remote `name` given as `url` (naming `path`): absolute, the
/// store inside a project folder, refused when the folder holds files of something else.
fn folder_url(name: &str, url: &str, path: &std::path::Path) -> Result<String> {
    let absolute = std::path::absolute(path).map_err(|e| Error::io("cannot resolve", path, e))?;
    let is_store = |p: &std::path::Path| p.join("format").is_file();
    let refuse = |detail: String| Error::Remote {
        remote: name.to_string(),
        url: url.to_string(),
        failure: crate::error::RemoteFailure::NotAStore,
        detail,
    };
    let chosen = if is_store(&absolute) {
        absolute
    } else if is_store(&absolute.join(crate::store::STORE_DIR_NAME)) {
        absolute.join(crate::store::STORE_DIR_NAME)
    } else {
        match std::fs::symlink_metadata(&absolute) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => absolute,
            Err(e) => return Err(Error::io("cannot read", &absolute, e)),
            Ok(_) => match std::fs::read_dir(&absolute) {
                Ok(mut entries) => {
                    if entries.next().is_some() {
                        return Err(refuse(format!(
                            "{} holds files and no codever store; a folder remote is an empty \
                             or new folder, a store, or a project holding one in `.codever`",
                            absolute.display()
                        )));
                    }
                    absolute
                }
                Err(_) => {
                    return Err(refuse(format!("{} is not a folder", absolute.display())));
                }
            },
        }
    };
    let text = chosen.to_str().ok_or_else(|| Error::InvalidRemoteUrl {
        url: url.to_string(),
        reason: "the path is not valid UTF-8".into(),
    })?;
    Ok(if url.starts_with("file://") {
        format!("file://{text}")
    } else {
        text.to_string()
    })
}

impl RemoteConfig {
    /// The remotes of `store` (none when the file is absent).
    pub fn load(store: &Store) -> Result<RemoteConfig> {
        let path = store.layout().local_dir().join(FILE);
        match read_regular(&path, 1 << 20) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::NotAStore {
                path: path.clone(),
                reason: format!("its remotes file cannot be read ({e}); fix or delete it"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RemoteConfig::default()),
            Err(e) => Err(Error::io("cannot read", path, e)),
        }
    }

    /// Writes the remotes of `store` (atomically).
    pub fn save(&self, store: &Store) -> Result<()> {
        let dir = store.layout().local_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        store.layout().replace(&dir.join(FILE), &bytes)
    }

    /// Adds remote `name`; the first remote becomes the default, as does one added with
    /// `make_default`.
    ///
    /// A folder is stored as an absolute path (later commands may run from anywhere); a folder
    /// holding a store in `.codever` (a project) means that store; a folder that holds other
    /// files but no store is refused, as its files would be mixed with the store's.
    pub fn add(&mut self, name: &str, mut entry: RemoteEntry, make_default: bool) -> Result<()> {
        validate_name("remote name", name)?;
        if let Location::Folder(path) = parse_url(&entry.url)? {
            entry.url = folder_url(name, &entry.url, &path)?;
        }
        if let Some(endpoint) = &entry.endpoint_url
            && let Some(reason) = endpoint_problem(endpoint)
        {
            return Err(Error::InvalidRemoteUrl {
                url: shown_url(endpoint),
                reason: format!("as --endpoint-url: {reason}"),
            });
        }
        if let Some(old) = self.remotes.get(name) {
            return Err(Error::RemoteExists {
                name: name.to_string(),
                url: old.url.clone(),
            });
        }
        self.remotes.insert(name.to_string(), entry);
        if make_default || self.default.is_none() {
            self.default = Some(name.to_string());
        }
        Ok(())
    }

    /// Removes remote `name` (and its default status).
    pub fn remove(&mut self, name: &str) -> Result<RemoteEntry> {
        let entry = self
            .remotes
            .remove(name)
            .ok_or_else(|| self.unknown(name))?;
        if self.default.as_deref() == Some(name) {
            self.default = None;
        }
        Ok(entry)
    }

    /// Remote `name`, or the default when `None`: (name, entry).
    pub fn get(&self, name: Option<&str>) -> Result<(String, RemoteEntry)> {
        let name = match name {
            Some(n) => n.to_string(),
            None => self.default.clone().ok_or_else(|| Error::NoDefaultRemote {
                known: self.remotes.keys().cloned().collect(),
            })?,
        };
        let entry = self
            .remotes
            .get(&name)
            .cloned()
            .ok_or_else(|| self.unknown(&name))?;
        Ok((name, entry))
    }

    fn unknown(&self, name: &str) -> Error {
        Error::UnknownRemote {
            name: name.to_string(),
            known: self.remotes.keys().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_never_shown() {
        assert_eq!(
            shown_url("http://user:TOPSECRET@127.0.0.1:9000/x"),
            "http://user:***@127.0.0.1:9000/x"
        );
        assert_eq!(url_password("https://u:p%40ss@h"), Some("p%40ss"));
        assert_eq!(shown_url("user:SECRET@host:9000"), "user:***@host:9000");
        assert_eq!(shown_url("http://h/?token=SECRET"), "http://h/?***");
        assert_eq!(shown_url("s3://u:PW@bkt/pre"), "s3://u:***@bkt/pre");
        for plain in [
            "http://127.0.0.1:9000",
            "s3://bucket/p@x",
            "http://user@h/",
            "/mnt/a:b@c",
        ] {
            assert_eq!(shown_url(plain), plain);
            assert_eq!(url_password(plain), None, "{plain}");
        }
    }

    #[test]
    fn an_endpoint_must_be_an_http_url_with_a_host() {
        assert_eq!(endpoint_problem("http://127.0.0.1:9000"), None);
        assert_eq!(endpoint_problem("https://s3.example.com/base"), None);
        for bad in [
            "user:PW@host:9000",
            "localhost:9000",
            "http://user:PW@ho st",
            "ftp://h",
            "http://",
        ] {
            assert!(endpoint_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn urls_are_parsed_or_refused_with_the_reason() {
        assert_eq!(
            parse_url("s3://my-bucket/team/ml").unwrap(),
            Location::S3 {
                bucket: "my-bucket".into(),
                prefix: "team/ml/".into()
            }
        );
        assert_eq!(
            parse_url("s3://my-bucket").unwrap(),
            Location::S3 {
                bucket: "my-bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            parse_url("file:///mnt/share/.codever").unwrap(),
            Location::Folder("/mnt/share/.codever".into())
        );
        assert_eq!(
            parse_url("../shared").unwrap(),
            Location::Folder("../shared".into())
        );
        for bad in [
            "s3://B/x",
            "s3://ab",
            "s3://bucket/a/../b",
            "http://x",
            "file://rel",
            "",
        ] {
            assert!(
                matches!(parse_url(bad), Err(Error::InvalidRemoteUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_first_remote_is_the_default_until_removed() {
        let mut c = RemoteConfig::default();
        let e = |u: &str| RemoteEntry {
            url: u.into(),
            endpoint_url: None,
        };
        c.add("origin", e("/a"), false).unwrap();
        c.add("backup", e("/b"), false).unwrap();
        assert_eq!(c.get(None).unwrap().0, "origin");
        assert!(matches!(
            c.add("origin", e("/c"), false),
            Err(Error::RemoteExists { .. })
        ));
        c.remove("origin").unwrap();
        assert!(
            matches!(c.get(None), Err(Error::NoDefaultRemote { known }) if known == ["backup"])
        );
        assert!(matches!(
            c.get(Some("nope")),
            Err(Error::UnknownRemote { .. })
        ));
    }
}
