//! Content hashes: [`ObjectId`] (BLAKE3, names every object), [`Md5`] (W&B compatibility) and the
//! W&B artifact digest.

use std::fmt;

use base64::Engine as _;
use md5::Digest as _;
use serde::{Deserialize, Serialize};

use crate::kind::Kind;

/// The id of a stored object: BLAKE3 of `"<kind> <length>\0"` followed by the raw content.
///
/// The prefix means a blob can never be mistaken for a tree with the same bytes, and the id never
/// depends on how the object is compressed or delta-encoded on disk.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId([u8; 32]);

impl ObjectId {
    /// Length of the full hex form.
    pub const HEX_LEN: usize = 64;
    /// Length of the short hex form shown beside version numbers.
    pub const SHORT_LEN: usize = 12;

    /// Computes the id of `content` stored as an object of `kind`.
    pub fn compute(kind: Kind, content: &[u8]) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(kind.name().as_bytes());
        h.update(b" ");
        h.update(content.len().to_string().as_bytes());
        h.update(b"\0");
        // Large inputs hash faster on several threads; small ones (most source files) are
        // cheaper on one.
        if content.len() >= 1 << 20 {
            h.update_rayon(content);
        } else {
            h.update(content);
        }
        ObjectId(*h.finalize().as_bytes())
    }

    /// Wraps raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ObjectId(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses a full 64-character lowercase or uppercase hex id.
    pub fn from_hex(s: &str) -> Option<Self> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let b = s.as_bytes();
        if b.len() != Self::HEX_LEN {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = (nibble(b[2 * i])? << 4) | nibble(b[2 * i + 1])?;
        }
        Some(ObjectId(out))
    }

    /// An id as the store names its files: exactly 64 lowercase hex digits. Any other
    /// spelling of an id (upper case) is not a store file, so one record or object is never
    /// counted twice under two names; fsck lists such files as strays.
    pub fn from_file_name(s: &str) -> Option<Self> {
        if s.bytes().any(|c| c.is_ascii_uppercase()) {
            return None;
        }
        Self::from_hex(s)
    }

    /// Full lowercase hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// The first [`Self::SHORT_LEN`] hex characters.
    pub fn short(&self) -> String {
        let mut s = self.to_hex();
        s.truncate(Self::SHORT_LEN);
        s
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.short())
    }
}

/// Hashes a blob given in pieces: its id and its MD5 in one pass, for files too large to hold.
pub struct BlobHasher {
    id: blake3::Hasher,
    md5: md5::Md5,
    len: u64,
    seen: u64,
}

impl BlobHasher {
    /// A hasher for a blob of exactly `len` bytes (the length is part of the id).
    pub fn new(len: u64) -> Self {
        let mut id = blake3::Hasher::new();
        id.update(Kind::Blob.name().as_bytes());
        id.update(b" ");
        id.update(len.to_string().as_bytes());
        id.update(b"\0");
        BlobHasher {
            id,
            md5: md5::Md5::default(),
            len,
            seen: 0,
        }
    }

    /// Feeds the next piece.
    pub fn update(&mut self, data: &[u8]) {
        self.id.update(data);
        self.md5.update(data);
        self.seen += data.len() as u64;
    }

    /// The id and MD5, or None when the pieces did not add up to the announced length.
    pub fn finish(self) -> Option<(ObjectId, Md5)> {
        (self.seen == self.len).then(|| {
            (
                ObjectId(*self.id.finalize().as_bytes()),
                Md5(self.md5.finalize().into()),
            )
        })
    }
}

/// An MD5 digest, kept for W&B compatibility (never used as an identity).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Md5([u8; 16]);

impl Md5 {
    /// MD5 of `data`.
    pub fn of(data: &[u8]) -> Self {
        Md5(md5::Md5::digest(data).into())
    }

    /// Wraps raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Md5(bytes)
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Standard base64 with padding, as W&B manifests write a file's digest.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Lowercase hex, as W&B writes an artifact digest.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5({})", self.to_hex())
    }
}

/// The W&B artifact digest of a manifest: MD5 of `"wandb-artifact-manifest-v1\n"` followed by
/// `"{path}:{md5_base64}\n"` for each entry, in byte order of the paths.
///
/// Entries may be given in any order; they are sorted here.
pub fn wandb_digest<'a>(entries: impl IntoIterator<Item = (&'a str, Md5)>) -> Md5 {
    let mut entries: Vec<(&str, Md5)> = entries.into_iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = md5::Md5::new();
    h.update(b"wandb-artifact-manifest-v1\n");
    for (path, md5) in entries {
        h.update(path.as_bytes());
        h.update(b":");
        h.update(md5.to_base64().as_bytes());
        h.update(b"\n");
    }
    Md5(h.finalize().into())
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wandb_digest_matches_the_published_vectors() {
        let a = Md5::of(b"print('a')\n");
        let b = Md5::of(b"x = 1\n");
        // Order of the input must not matter.
        let d = wandb_digest([("training/b.py", b), ("a.py", a)]);
        assert_eq!(d.to_hex(), "74bc2832439434534c7d552dd8787632");
        assert_eq!(
            wandb_digest(std::iter::empty()).to_hex(),
            "64e7c61456b10382e2f3b571ac24b659"
        );
    }

    #[test]
    fn md5_base64_is_standard_with_padding() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(Md5::of(b"").to_base64(), "1B2M2Y8AsgTpgAmY7PhCfg==");
        // The raw bytes behind it (the library's accessor), and back.
        let raw = *Md5::of(b"").as_bytes();
        assert_eq!(hex(&raw), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(Md5::from_bytes(raw), Md5::of(b""));
    }

    #[test]
    fn object_id_hex_round_trips_and_kinds_differ() {
        let blob = ObjectId::compute(Kind::Blob, b"hello");
        let tree = ObjectId::compute(Kind::Tree, b"hello");
        assert_ne!(blob, tree);
        assert_eq!(ObjectId::from_hex(&blob.to_hex()), Some(blob));
        assert_eq!(
            ObjectId::from_hex(&blob.to_hex().to_uppercase()),
            Some(blob)
        );
        assert_eq!(ObjectId::from_hex("zz"), None);
        assert_eq!(ObjectId::from_file_name(&blob.to_hex()), Some(blob));
        assert_eq!(
            ObjectId::from_file_name(&blob.to_hex().to_uppercase()),
            None
        );
        assert_eq!(blob.short().len(), 12);
        // The id is BLAKE3 of the documented prefix and content.
        let expected = blake3::hash(b"blob 5\0hello");
        assert_eq!(blob.as_bytes(), expected.as_bytes());
    }
}
