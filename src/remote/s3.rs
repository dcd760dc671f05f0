//! A remote in a bucket of S3 or an S3-compatible service (MinIO, Ceph, R2, GCS's S3 API),
//! through `object_store`. Credentials, region and endpoint come from the usual AWS
//! environment variables, else from the profile (`AWS_PROFILE`, else `default`) in
//! `~/.aws/credentials` and `~/.aws/config`; the remote's own `--endpoint-url` wins over both.
//! Path-style addressing, so S3-compatible servers work without DNS tricks. Writes are
//! create-only (`If-None-Match: *`); requests are retried with backoff on 5xx and timeouts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use super::{PARALLEL_REQUESTS, RemoteFile, RequestCounts, Transport};
use crate::error::{Error, RemoteFailure, Result};

/// Files of this size or more are sent as multipart uploads, streamed.
const MULTIPART_FROM: u64 = 16 << 20;
/// The size of a part of a multipart upload.
const PART_SIZE: usize = 8 << 20;
/// Parts of one upload in flight at once (memory: this many parts).
const PARTS_IN_FLIGHT: usize = 2;

pub(crate) struct S3 {
    store: Arc<AmazonS3>,
    prefix: String,
    runtime: tokio::runtime::Runtime,
    /// Secrets to keep out of every message.
    secrets: Vec<String>,
    /// Whether any credentials were given (keys in the environment or the profile, or the
    /// environment of a web identity or a container role): without them, a refusal means
    /// none were found, not that they were wrong.
    has_credentials: bool,
    list: AtomicU64,
    get: AtomicU64,
    put: AtomicU64,
}

/// `[section]` → key → value of an AWS ini file (`~/.aws/config`, `~/.aws/credentials`).
fn read_ini(path: &std::path::Path) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

impl S3 {
    pub fn new(
        name: &str,
        url: &str,
        bucket: &str,
        prefix: &str,
        endpoint: Option<&str>,
    ) -> Result<S3> {
        let mut b = AmazonS3Builder::new().with_bucket_name(bucket);
        // The profile's settings first; the environment's override them.
        let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let mut secrets = Vec::new();
        let mut region = None;
        let mut endpoint_url = None;
        if let Some(home) = &home {
            let creds = read_ini(
                &env("AWS_SHARED_CREDENTIALS_FILE")
                    .map(Into::into)
                    .unwrap_or_else(|| home.join(".aws/credentials")),
            );
            let config = read_ini(
                &env("AWS_CONFIG_FILE")
                    .map(Into::into)
                    .unwrap_or_else(|| home.join(".aws/config")),
            );
            let config_section = if profile == "default" {
                "default".to_string()
            } else {
                format!("profile {profile}")
            };
            for section in [creds.get(&profile), config.get(&config_section)]
                .into_iter()
                .flatten()
            {
                if let Some(v) = section.get("aws_access_key_id") {
                    secrets.push(v.clone());
                    b = b.with_access_key_id(v);
                }
                if let Some(v) = section.get("aws_secret_access_key") {
                    secrets.push(v.clone());
                    b = b.with_secret_access_key(v);
                }
                if let Some(v) = section.get("aws_session_token") {
                    secrets.push(v.clone());
                    b = b.with_token(v);
                }
                if let Some(v) = section.get("region") {
                    region = Some(v.clone());
                }
                if let Some(v) = section.get("endpoint_url") {
                    endpoint_url = Some(v.clone());
                }
            }
        }
        if let Some(v) = env("AWS_ACCESS_KEY_ID") {
            secrets.push(v.clone());
            b = b.with_access_key_id(v);
        }
        if let Some(v) = env("AWS_SECRET_ACCESS_KEY") {
            secrets.push(v.clone());
            b = b.with_secret_access_key(v);
        }
        if let Some(v) = env("AWS_SESSION_TOKEN") {
            secrets.push(v.clone());
            b = b.with_token(v);
        }
        if let Some(v) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
            region = Some(v);
        }
        if let Some(v) = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")) {
            endpoint_url = Some(v);
        }
        if let Some(v) = endpoint {
            endpoint_url = Some(v.to_string());
        }
        let has_credentials = !secrets.is_empty()
            || [
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            ]
            .iter()
            .any(|k| env(k).is_some());
        if let Some(e) = &endpoint_url
            && let Some(reason) = super::config::endpoint_problem(e)
        {
            return Err(Error::InvalidRemoteUrl {
                url: super::config::shown_url(e),
                reason: format!("as the S3 endpoint (--endpoint-url, AWS_ENDPOINT_URL): {reason}"),
            });
        }
        // A password in the endpoint's URL is a secret too: never in a message.
        if let Some(p) = endpoint_url
            .as_deref()
            .and_then(super::config::url_password)
        {
            secrets.push(p.to_string());
        }
        b = b.with_region(region.unwrap_or_else(|| "us-east-1".into()));
        let allow_http = endpoint_url
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        if let Some(e) = &endpoint_url {
            b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
        }
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: env("CODEVER_S3_RETRIES")
                .and_then(|v| v.parse().ok())
                .unwrap_or(4),
            retry_timeout: Duration::from_secs(60),
        };
        b = b.with_retry(retry).with_client_options(
            ClientOptions::new()
                .with_allow_http(allow_http)
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(120)),
        );
        let fail = |failure, detail: String| Error::Remote {
            remote: name.to_string(),
            url: url.to_string(),
            failure,
            detail,
        };
        let store = b
            .build()
            .map_err(|e| fail(RemoteFailure::Failed, scrub(&e.to_string(), &secrets)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .on_thread_start(crate::signals::block_in_helper_thread)
            .enable_all()
            .build()
            .map_err(|e| fail(RemoteFailure::Failed, e.to_string()))?;
        Ok(S3 {
            store: Arc::new(store),
            prefix: prefix.to_string(),
            runtime,
            secrets,
            has_credentials,
            list: AtomicU64::new(0),
            get: AtomicU64::new(0),
            put: AtomicU64::new(0),
        })
    }

    fn path(&self, key: &str) -> ObjPath {
        ObjPath::from(format!("{}{key}", self.prefix))
    }

    /// An object_store error as a remote error: what kind of failure, in one line, without
    /// credentials.
    fn error(&self, e: object_store::Error) -> Error {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            // object_store's messages often hold their sources' already: each said once.
            let more = s.to_string();
            if !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            source = s.source();
        }
        // A key object_store cannot parse fails the whole listing page: name it.
        if let Some(rest) = text.split_once("Error parsing Path \"").map(|(_, r)| r)
            && let Some((key, _)) = rest.split_once("\": ")
        {
            return Error::Remote {
                remote: String::new(),
                url: String::new(),
                failure: RemoteFailure::BadKey,
                detail: format!(
                    "{:?}: a `..`, `.` or empty segment, or a control character",
                    scrub(key, &self.secrets)
                ),
            };
        }
        let lower = text.to_lowercase();
        let failure = if lower.contains("nosuchbucket") || lower.contains("bucket does not exist") {
            RemoteFailure::NoBucket
        } else if lower.contains("invalidaccesskeyid")
            || lower.contains("signaturedoesnotmatch")
            || lower.contains("accessdenied")
            || lower.contains("403")
            || lower.contains("missing credentials")
            || matches!(e, object_store::Error::Unauthenticated { .. })
            || matches!(e, object_store::Error::PermissionDenied { .. })
        {
            RemoteFailure::Credentials
        } else if lower.contains("connect")
            || lower.contains("timed out")
            || lower.contains("dns")
            || lower.contains("error sending request")
        {
            RemoteFailure::Unreachable
        } else {
            RemoteFailure::Failed
        };
        let failure = if no_credentials_found(self.has_credentials, &lower) {
            RemoteFailure::NoCredentials
        } else {
            failure
        };
        let detail = match failure {
            RemoteFailure::Failed => first_words(&scrub(&text, &self.secrets)),
            _ => String::new(),
        };
        Error::Remote {
            remote: String::new(),
            url: String::new(),
            failure,
            detail,
        }
    }

    fn count(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    async fn get_async(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.count(&self.get);
        match self.store.get(&self.path(key)).await {
            Ok(r) if r.meta.size > super::MAX_GET => {
                Err(super::too_large_to_get(self.path(key).to_string()))
            }
            Ok(r) => match r.bytes().await {
                Ok(b) => Ok(Some(b.to_vec())),
                Err(e) => Err(self.error(e)),
            },
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn put_async(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        self.count(&self.put);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let payload = PutPayload::from(bytes.to_vec());
        match self.store.put_opts(&self.path(key), payload, opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }
}

/// Whether a failure (its text, lowercased) means no credentials were found: none were given,
/// so object_store asked the cloud's instance metadata service for a role's, at
/// 169.254.169.254, and that failed (off a cloud VM it cannot be reached; on one without a
/// role it has none to give).
fn no_credentials_found(has_credentials: bool, text: &str) -> bool {
    !has_credentials && text.contains("169.254.169.254")
}

/// `text` with every secret (and access key id) replaced, and any request signature or
/// credential scope a server echoed back (`Signature=…`, `Credential=…`).
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s.as_str(), "***");
    }
    for marker in ["Signature=", "Credential=", "X-Amz-Security-Token="] {
        let mut rest = out.as_str();
        let mut masked = String::with_capacity(out.len());
        while let Some(at) = rest.find(marker) {
            let (before, after) = rest.split_at(at + marker.len());
            masked.push_str(before);
            let end = after
                .find(|c: char| c == ',' || c == '&' || c == '"' || c == ';' || c.is_whitespace())
                .unwrap_or(after.len());
            if end > 0 {
                masked.push_str("***");
            }
            rest = &after[end..];
        }
        masked.push_str(rest);
        out = masked;
    }
    out
}

/// The start of a long message, on one line.
fn first_words(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 3000 {
        one_line.chars().take(300).collect::<String>() + "…"
    } else {
        one_line
    }
}

impl Transport for S3 {
    fn list(&self, prefix: &str) -> Result<Vec<RemoteFile>> {
        let full = self.path(prefix);
        let strip = self.prefix.len();
        self.runtime.block_on(async {
            let mut out = Vec::new();
            let mut stream = self.store.list(Some(&full));
            let mut n = 0u64;
            while let Some(meta) = stream.try_next().await.map_err(|e| self.error(e))? {
                if n.is_multiple_of(1000) {
                    self.count(&self.list);
                }
                n += 1;
                let key = meta.location.as_ref();
                if let Some(k) = key.get(strip..) {
                    out.push(RemoteFile {
                        key: k.to_string(),
                        size: meta.size,
                        not_a_file: false,
                    });
                }
            }
            if n == 0 {
                self.count(&self.list);
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.runtime.block_on(self.get_async(key))
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        self.count(&self.get);
        self.runtime.block_on(async {
            match self
                .store
                .get_range(&self.path(key), offset..offset + len)
                .await
            {
                Ok(b) => Ok(Some(b.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.error(e)),
            }
        })
    }

    fn put_new(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        self.runtime.block_on(self.put_async(key, bytes))
    }

    /// Files below [`MULTIPART_FROM`] go as one create-only PUT. Larger ones (large blobs) go as
    /// a multipart upload streamed from the file, parts of [`PART_SIZE`], a few in flight: S3's
    /// multipart uploads (as object_store exposes them) cannot be made create-only, so the key
    /// is first looked up and written only when absent. Two machines uploading the same large
    /// blob at the same moment can then both complete; the object is content-named, a large blob
    /// is stored whole and is never a delta base, so either copy is the same blob.
    fn put_file(&self, key: &str, src: &std::path::Path) -> Result<bool> {
        use std::io::Read;
        let mut f =
            crate::store::open_regular(src).map_err(|e| Error::io("cannot read", src, e))?;
        let len = f
            .metadata()
            .map_err(|e| Error::io("cannot read", src, e))?
            .len();
        if len < MULTIPART_FROM {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
                .map_err(|e| Error::io("cannot read", src, e))?;
            return self.put_new(key, &bytes);
        }
        let path = self.path(key);
        self.runtime.block_on(async {
            self.count(&self.get);
            match self.store.head(&path).await {
                Ok(_) => return Ok(false),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.error(e)),
            }
            self.count(&self.put);
            let upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(|e| self.error(e))?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                w.wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| self.error(e))?;
                let n = f
                    .read(&mut buf)
                    .map_err(|e| Error::io("cannot read", src, e))?;
                if n == 0 {
                    break;
                }
                w.write(&buf[..n]);
            }
            w.finish().await.map_err(|e| self.error(e))?;
            Ok(true)
        })
    }

    fn get_to(&self, key: &str, out: &mut dyn std::io::Write) -> Result<bool> {
        self.count(&self.get);
        self.runtime.block_on(async {
            let r = match self.store.get(&self.path(key)).await {
                Ok(r) => r,
                Err(object_store::Error::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(self.error(e)),
            };
            let mut stream = r.into_stream();
            while let Some(chunk) = stream.try_next().await.map_err(|e| self.error(e))? {
                out.write_all(&chunk)
                    .map_err(|e| Error::io("cannot write", "a temp file", e))?;
            }
            Ok(true)
        })
    }

    fn put_replace(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.count(&self.put);
        self.runtime.block_on(async {
            self.store
                .put(&self.path(key), PutPayload::from(bytes.to_vec()))
                .await
                .map(|_| ())
                .map_err(|e| self.error(e))
        })
    }

    fn get_many(&self, keys: &[String]) -> Vec<Result<Option<Vec<u8>>>> {
        self.runtime.block_on(
            futures::stream::iter(keys.iter().map(|k| self.get_async(k)))
                .buffered(PARALLEL_REQUESTS)
                .collect(),
        )
    }

    fn put_many(&self, items: &[(String, Vec<u8>)]) -> Vec<Result<bool>> {
        self.runtime.block_on(
            futures::stream::iter(items.iter().map(|(k, b)| self.put_async(k, b)))
                .buffered(PARALLEL_REQUESTS)
                .collect(),
        )
    }

    fn requests(&self) -> RequestCounts {
        RequestCounts {
            list: self.list.load(Ordering::Relaxed),
            get: self.get.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_key_ids_and_echoed_signatures_are_scrubbed() {
        let echoed = "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/s3/\
                      aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d92\
                      79b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7 and key AKIDEXAMPLE secret s3cr3t!";
        assert_eq!(
            scrub(echoed, &["AKIDEXAMPLE".into(), "s3cr3t!".into()]),
            "Authorization: AWS4-HMAC-SHA256 Credential=***, SignedHeaders=host;x-amz-date, \
             Signature=*** and key *** secret ***"
        );
        assert_eq!(scrub("no Signature= here", &[]), "no Signature= here");
    }

    #[test]
    fn only_a_failed_metadata_lookup_without_credentials_means_none_were_found() {
        let imds = "generic s3 error: error getting credentials: error sending request for url \
                    (http://169.254.169.254/latest/api/token)";
        assert!(no_credentials_found(false, imds));
        // Credentials were given: the failure is theirs, or the endpoint's.
        assert!(!no_credentials_found(true, imds));
        // None given, but the endpoint itself failed (a role came from the metadata service).
        assert!(!no_credentials_found(
            false,
            "error sending request for url (http://127.0.0.1:1/bucket)"
        ));
    }
}
