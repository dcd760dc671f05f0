//! Object kinds, their serialized forms and the on-disk envelope.
//!
//! Every object has a *raw content* (what its id hashes) and an *envelope* (what is written to
//! disk). Blob content is the file's bytes. Structured objects (trees and records) are one schema
//! byte followed by the postcard encoding of the struct. The envelope is:
//!
//! ```text
//! offset 0  4 bytes  magic "CDVO"
//! offset 4  1 byte   envelope format (2; format 1 is still read)
//! offset 5  1 byte   kind (1 blob, 2 tree, 3 commit, 4 run, 5 alias, 6 use, 7 forget, 8 rename,
//!                    9 state)
//! offset 6  1 byte   encoding: 0 = one zstd frame of the raw content;
//!                    1 = one zstd frame compressed with a base object's raw content as prefix
//! offset 7  …        encoding 0: payload
//!                    encoding 1: base id (32 bytes), delta depth (1 byte, 1..=16), payload
//! last 16 bytes      format 2 only: the first 16 bytes of the BLAKE3 of every byte before them
//! ```
//!
//! The trailing checksum covers the stored bytes themselves (header and base id included), so a
//! flipped byte is found without decompressing and without the base: a damaged delta is
//! "corrupt", never "waiting for its base". Format 1 objects (no checksum) are still verified by
//! their id after decoding.
//!
//! A delta's id is still the hash of its plain raw content; the base is another object (any kind
//! of storage), itself possibly a delta, at most [`MAX_DELTA_DEPTH`] deep.
//!
//! Postcard's format is stable and documented; the structs below must never have fields
//! reordered or enum variants renumbered. New fields mean a new schema byte. The golden-byte tests
//! at the end of this file pin the encoding.

mod records;

pub use crate::kind::Kind;
pub use records::{
    AliasRecord, COMMIT_SCHEMA_2, CommitRecord, FileMeta, ForgetRecord, Node, RenameRecord,
    RunRecord, RunStateRecord, SourceRecord, Structured, Tree, TreeEntry, UseRecord,
};

use crate::error::{Error, Result};
use crate::id::ObjectId;

/// Magic bytes at the start of every object file.
pub const MAGIC: [u8; 4] = *b"CDVO";
/// Envelope format written by this build: with a trailing checksum of the stored bytes.
pub const ENVELOPE_FORMAT: u8 = 2;
/// The first envelope format (no checksum), still read.
pub const ENVELOPE_FORMAT_V1: u8 = 1;
/// Length of the trailing checksum of format-2 envelopes.
pub const CHECKSUM_LEN: usize = 16;
/// Schema byte of structured objects written by this build (commit records with W&B-walk
/// sources or tags use [`COMMIT_SCHEMA_2`]).
pub const SCHEMA: u8 = 1;
/// The store format every write needs at least: objects carry the checksum of their stored
/// bytes (see `store::FORMAT`).
pub const WRITE_FORMAT: u32 = 2;
/// The store format of a store holding records a format-2 build cannot read: run state records
/// and commit records of schema 2 (see `store::FORMAT`).
pub const EXTENDED_FORMAT: u32 = 3;
/// Envelope encoding: the payload is one zstd frame of the raw content.
pub const ENCODING_ZSTD: u8 = 0;
/// Envelope encoding: one zstd frame compressed with a base object's content as prefix.
pub const ENCODING_ZSTD_DELTA: u8 = 1;
/// Longest chain of deltas (git caps at 50; shorter chains keep reads cheap).
pub const MAX_DELTA_DEPTH: u8 = 16;
/// Length of the envelope header.
pub const HEADER_LEN: usize = 7;
/// zstd level for new objects.
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// Files of this size or more are streamed (hashed, stored, read, checked out and diffed
/// without holding them whole), never delta-encoded and never used as a delta base.
pub const LARGE_FILE: u64 = 32 << 20;
/// Largest raw content a frame may claim; more is treated as corruption rather than allocated.
pub const MAX_OBJECT_SIZE: u64 = 1 << 36;
/// Largest raw content of a tree or record: far above any real one (a tree of 100,000 entries is
/// about 10 MB), and small enough that a forged size cannot exhaust memory.
pub const MAX_STRUCTURED_SIZE: u64 = 256 << 20;
/// Largest raw content of a commit, run, alias or use record: far above any real one (a run's
/// config is a few kilobytes), and small enough that thousands of forged records that claim it
/// (each a few bytes on disk) cannot exhaust memory when an artifact's history is read.
pub const MAX_RECORD_SIZE: u64 = 1 << 20;
/// Largest raw content of a delta's base in a format-2 store: codever never writes a delta
/// against a base of [`LARGE_FILE`] bytes or more. Format-1 deltas (written before
/// that rule) may have bases up to [`MAX_V1_DELTA_BASE`].
pub const MAX_DELTA_BASE: u64 = 32 << 20;
/// Largest base of a format-1 delta.
pub const MAX_V1_DELTA_BASE: u64 = 256 << 20;

impl Header {
    /// The most raw content this delta's base may have (see [`MAX_DELTA_BASE`]).
    pub fn base_limit(&self) -> u64 {
        if self.format == ENVELOPE_FORMAT_V1 {
            MAX_V1_DELTA_BASE
        } else {
            MAX_DELTA_BASE
        }
    }
}
/// Frames up to this size are decoded in one call into a buffer of the declared size; larger ones
/// are decoded as a stream into a buffer that grows with what really comes out, so a frame that
/// lies about its size cannot make a reader allocate what it claims.
const ONE_SHOT_LIMIT: u64 = 16 << 20;

impl Kind {
    /// The most raw content an object of this kind may have.
    pub fn max_size(self) -> u64 {
        match self {
            Kind::Blob => MAX_OBJECT_SIZE,
            Kind::Tree => MAX_STRUCTURED_SIZE,
            Kind::Commit
            | Kind::Run
            | Kind::Alias
            | Kind::Use
            | Kind::Forget
            | Kind::Rename
            | Kind::State => MAX_RECORD_SIZE,
        }
    }
}

thread_local! {
    // Creating a zstd context costs more than (de)compressing a typical source file: keep one
    // per thread.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DELTA_COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DELTA_DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// One zstd frame of `raw` that refers to `base` as history. zstd defines a prefix as a
/// single-use raw-content dictionary, so the base is loaded (copied) as one into a compressor
/// kept per thread; the frame decodes with the base as prefix.
fn compress_against(raw: &[u8], base: &[u8]) -> std::io::Result<Vec<u8>> {
    DELTA_COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            Some(c) => c.set_dictionary(ZSTD_LEVEL, base)?,
            None => *c = Some(zstd::bulk::Compressor::with_dictionary(ZSTD_LEVEL, base)?),
        }
        match c.as_mut() {
            Some(c) => c.compress(raw),
            None => Err(std::io::Error::other("no compressor")),
        }
    })
}

/// One zstd frame of `raw`, with its content size in the frame header.
fn compress(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?);
        }
        match c.as_mut() {
            Some(c) => c.compress(raw),
            None => zstd::bulk::compress(raw, ZSTD_LEVEL),
        }
    })
}

/// Decompresses one frame (with an optional prefix). The frame must declare its content size
/// (every frame codever writes does), and the size must be at most `limit`.
fn decompress(
    payload: &[u8],
    prefix: Option<&[u8]>,
    limit: u64,
) -> std::result::Result<Vec<u8>, String> {
    let size = zstd::zstd_safe::get_frame_content_size(payload).map_err(|e| format!("{e:?}"))?;
    let Some(n) = size else {
        return Err("the frame does not declare its content size".into());
    };
    if n > limit {
        return Err(format!(
            "frame claims {n} bytes, more than the {limit} allowed here"
        ));
    }
    if n > ONE_SHOT_LIMIT {
        return decompress_stream(payload, prefix, n);
    }
    let n = n as usize;
    match prefix {
        None => DECOMPRESSOR.with(|d| {
            let mut d = d.borrow_mut();
            if d.is_none() {
                *d = Some(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?);
            }
            match d.as_mut() {
                Some(d) => d.decompress(payload, n).map_err(|e| e.to_string()),
                None => Err("no decompressor".into()),
            }
        }),
        // The base, loaded (copied) as a raw-content dictionary, is the prefix the frame was
        // compressed against; the decompressor is kept per thread.
        Some(prefix) => DELTA_DECOMPRESSOR.with(|d| {
            let mut d = d.borrow_mut();
            match d.as_mut() {
                Some(d) => d.set_dictionary(prefix).map_err(|e| e.to_string())?,
                None => {
                    *d = Some(
                        zstd::bulk::Decompressor::with_dictionary(prefix)
                            .map_err(|e| e.to_string())?,
                    )
                }
            }
            match d.as_mut() {
                Some(d) => d.decompress(payload, n).map_err(|e| e.to_string()),
                None => Err("no decompressor".into()),
            }
        }),
    }
}

/// Decodes a large frame as a stream, never holding more than what really came out (plus one
/// byte to notice a frame longer than it declared).
fn decompress_stream(
    payload: &[u8],
    prefix: Option<&[u8]>,
    n: u64,
) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    let read = match prefix {
        None => zstd::stream::read::Decoder::with_buffer(payload)
            .and_then(|d| d.take(n + 1).read_to_end(&mut out)),
        Some(p) => zstd::stream::read::Decoder::with_ref_prefix(payload, p)
            .and_then(|d| d.take(n + 1).read_to_end(&mut out)),
    };
    read.map_err(|e| e.to_string())?;
    if out.len() as u64 != n {
        return Err(format!(
            "the frame declares {n} bytes but holds {}",
            out.len()
        ));
    }
    Ok(out)
}

/// The checksum that ends a format-2 envelope.
fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&blake3::hash(bytes).as_bytes()[..CHECKSUM_LEN]);
    out
}

/// Appends the checksum of everything in `out` so far.
fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let sum = checksum(&out);
    out.extend_from_slice(&sum);
    out
}

/// The most stored bytes an object whose envelope starts with `head` (at least its first 6
/// bytes) can take when its raw content is at most `limit` bytes (and within its kind's limit):
/// zstd never expands data by more than about 1/256 plus a block header, and the envelope adds
/// at most 56 bytes. A store file larger than that is refused before it is read into memory (a
/// sparse 10 GiB "record" must not cost 10 GiB).
pub(crate) fn stored_bound(head: &[u8], limit: u64) -> u64 {
    let cap = match head.get(5).and_then(|b| Kind::from_byte(*b)) {
        Some(k) => limit.min(k.max_size()),
        None => limit,
    };
    cap.saturating_add(cap / 128).saturating_add(4096)
}

/// The header of a whole-stored object of `kind` (what precedes its frame).
pub(crate) fn envelope_header(kind: Kind) -> [u8; HEADER_LEN] {
    [
        MAGIC[0],
        MAGIC[1],
        MAGIC[2],
        MAGIC[3],
        ENVELOPE_FORMAT,
        kind as u8,
        ENCODING_ZSTD,
    ]
}

/// Builds the on-disk bytes of an object.
pub fn encode_envelope(kind: Kind, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + raw.len() / 2 + 32);
    out.extend_from_slice(&MAGIC);
    out.push(ENVELOPE_FORMAT);
    out.push(kind as u8);
    out.push(ENCODING_ZSTD);
    match compress(raw) {
        Ok(frame) => out.extend_from_slice(&frame),
        // Compressing into memory only fails on allocation failure.
        Err(e) => unreachable!("zstd compression into memory failed: {e}"),
    }
    seal(out)
}

/// Builds the on-disk bytes of an object stored as a delta against `base` (whose raw content is
/// `base_raw` and whose own depth is `base_depth`).
pub fn encode_delta(
    kind: Kind,
    raw: &[u8],
    base: ObjectId,
    base_raw: &[u8],
    base_depth: u8,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 33 + raw.len() / 8 + 32);
    out.extend_from_slice(&MAGIC);
    out.push(ENVELOPE_FORMAT);
    out.push(kind as u8);
    out.push(ENCODING_ZSTD_DELTA);
    out.extend_from_slice(base.as_bytes());
    out.push(base_depth + 1);
    match compress_against(raw, base_raw) {
        Ok(frame) => {
            out.extend_from_slice(&frame);
            seal(out)
        }
        // In-memory compression does not fail; fall back to a plain object if it ever does.
        Err(_) => encode_envelope(kind, raw),
    }
}

/// What the header of an object file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The kind.
    pub kind: Kind,
    /// For a delta: its base and its depth.
    pub base: Option<(ObjectId, u8)>,
    /// Where the zstd payload starts.
    pub payload: usize,
    /// Where it ends (the checksum of a format-2 envelope follows).
    pub end: usize,
    /// The envelope format (1 or 2).
    pub format: u8,
}

impl Header {
    /// The delta depth: 0 for an object stored whole.
    pub fn depth(&self) -> u8 {
        self.base.map_or(0, |(_, d)| d)
    }
}

/// Parses the header of object `id`'s bytes. For a format-2 envelope this first checks the
/// checksum of all the stored bytes, so a header that parses is one that was written.
pub fn parse_header(id: ObjectId, bytes: &[u8]) -> Result<Header> {
    let corrupt = |reason: String| Error::CorruptObject { id, reason };
    if bytes.len() < HEADER_LEN || bytes[..4] != MAGIC {
        return Err(corrupt("not a codever object (bad magic)".into()));
    }
    let format = bytes[4];
    let end = match format {
        ENVELOPE_FORMAT => {
            if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
                return Err(corrupt("truncated object".into()));
            }
            let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
            if checksum(body) != sum {
                return Err(corrupt(
                    "stored bytes do not match their checksum (damaged on disk)".into(),
                ));
            }
            body.len()
        }
        ENVELOPE_FORMAT_V1 => bytes.len(),
        other => {
            return Err(corrupt(format!(
                "envelope format {other} is unknown to this codever; upgrade codever"
            )));
        }
    };
    let kind =
        Kind::from_byte(bytes[5]).ok_or_else(|| corrupt(format!("unknown kind {}", bytes[5])))?;
    match bytes[6] {
        ENCODING_ZSTD => Ok(Header {
            kind,
            base: None,
            payload: HEADER_LEN,
            end,
            format,
        }),
        ENCODING_ZSTD_DELTA => {
            if end < HEADER_LEN + 33 {
                return Err(corrupt("truncated delta header".into()));
            }
            let mut b = [0u8; 32];
            b.copy_from_slice(&bytes[HEADER_LEN..HEADER_LEN + 32]);
            let depth = bytes[HEADER_LEN + 32];
            if depth == 0 || depth > MAX_DELTA_DEPTH {
                return Err(corrupt(format!("delta depth {depth} out of range")));
            }
            let base = ObjectId::from_bytes(b);
            if base == id {
                return Err(corrupt("a delta against itself".into()));
            }
            Ok(Header {
                kind,
                base: Some((base, depth)),
                payload: HEADER_LEN + 33,
                end,
                format,
            })
        }
        other => Err(corrupt(format!("unknown encoding {other}"))),
    }
}

/// Parses and verifies the on-disk bytes of object `id`, returning its kind and raw content.
/// `base` supplies the raw content of a delta's base (verified by the caller).
pub fn decode_envelope(
    id: ObjectId,
    bytes: &[u8],
    base: &mut dyn FnMut(&ObjectId) -> Result<Vec<u8>>,
) -> Result<(Kind, Vec<u8>)> {
    decode_envelope_limited(id, bytes, base, MAX_OBJECT_SIZE)
}

/// [`decode_envelope`] for an object whose raw content is known to be at most `limit` bytes
/// (a blob whose size a tree gives); the kind's own limit applies as well.
pub fn decode_envelope_limited(
    id: ObjectId,
    bytes: &[u8],
    base: &mut dyn FnMut(&ObjectId) -> Result<Vec<u8>>,
    limit: u64,
) -> Result<(Kind, Vec<u8>)> {
    let corrupt = |reason: String| Error::CorruptObject { id, reason };
    let header = parse_header(id, bytes)?;
    let payload = &bytes[header.payload..header.end];
    let limit = limit.min(header.kind.max_size());
    let raw = match header.base {
        None => decompress(payload, None, limit)
            .map_err(|e| corrupt(format!("cannot decompress: {e}")))?,
        Some((base_id, _)) => {
            let prefix = base(&base_id)?;
            decompress(payload, Some(&prefix), limit)
                .map_err(|e| corrupt(format!("cannot decompress delta: {e}")))?
        }
    };
    let actual = ObjectId::compute(header.kind, &raw);
    if actual != id {
        return Err(corrupt(format!("content hashes to {actual}")));
    }
    Ok((header.kind, raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Md5;

    fn no_base(id: &ObjectId) -> Result<Vec<u8>> {
        Err(Error::MissingObject { id: *id })
    }

    #[test]
    fn deltas_round_trip_and_are_small() {
        // Varied lines, like code (a file of near-identical lines compresses well on its own).
        let base: Vec<u8> = (0..200)
            .flat_map(|i| {
                format!(
                    "    w_{i} = init({}, \"{}\")\n",
                    i * 7919 % 1000,
                    i * 31 % 97
                )
                .into_bytes()
            })
            .collect();
        let mut new = base.clone();
        new.extend_from_slice(b"one more line\n");
        let base_id = ObjectId::compute(Kind::Blob, &base);
        let id = ObjectId::compute(Kind::Blob, &new);
        let delta = encode_delta(Kind::Blob, &new, base_id, &base, 0);
        let plain = encode_envelope(Kind::Blob, &new);
        assert!(
            delta.len() * 5 < plain.len(),
            "{} vs {}",
            delta.len(),
            plain.len()
        );
        let h = parse_header(id, &delta).unwrap();
        assert_eq!(h.base, Some((base_id, 1)));
        let mut give = |b: &ObjectId| {
            assert_eq!(*b, base_id);
            Ok(base.clone())
        };
        assert_eq!(decode_envelope(id, &delta, &mut give).unwrap().1, new);
        // A wrong base is caught by the hash check.
        let mut wrong = |_: &ObjectId| Ok(b"something else".to_vec());
        assert!(decode_envelope(id, &delta, &mut wrong).is_err());
        // Depth bytes out of range are corruption.
        let mut bad = delta.clone();
        bad[HEADER_LEN + 32] = MAX_DELTA_DEPTH + 1;
        assert!(parse_header(id, &bad).is_err());
    }

    fn oid(b: u8) -> ObjectId {
        ObjectId::from_bytes([b; 32])
    }

    fn hexs(bytes: &[u8]) -> String {
        crate::id::hex(bytes)
    }

    // Golden bytes: if one of these fails, the on-disk format changed. Do not update the expected
    // value; bump SCHEMA and keep reading the old one instead.
    #[test]
    fn golden_tree_encoding() {
        let tree = Tree {
            entries: vec![
                TreeEntry {
                    name: "a.py".into(),
                    node: Node::File(FileMeta {
                        id: oid(0xaa),
                        size: 300,
                        md5: Md5::from_bytes([0x11; 16]),
                        executable: true,
                    }),
                },
                TreeEntry {
                    name: "d".into(),
                    node: Node::Dir(oid(0xbb)),
                },
            ],
        };
        let raw = tree.encode();
        assert_eq!(
            hexs(&raw),
            concat!(
                "01",
                "02", // schema, 2 entries
                "04",
                "612e7079",
                "00", // "a.py", Node::File
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "ac02", // size 300 as varint
                "11111111111111111111111111111111",
                "01", // md5, executable
                "01",
                "64",
                "01", // "d", Node::Dir
                "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            )
        );
        assert_eq!(Tree::decode(oid(0), &raw).unwrap(), tree);
    }

    #[test]
    fn golden_alias_and_run_encoding() {
        let alias = AliasRecord {
            artifact_type: "t".into(),
            name: "n".into(),
            alias: "best".into(),
            tree: oid(0x01),
            time_ns: 1,
            run: String::new(),
        };
        assert_eq!(
            hexs(&alias.encode()),
            concat!(
                "01",
                "0174",
                "016e",
                "0462657374",
                "0101010101010101010101010101010101010101010101010101010101010101",
                "02",
                "00" // zigzag(1) = 2, empty run
            )
        );
        let run = RunRecord {
            id: "r".into(),
            time_ns: -1,
            host: "h".into(),
            user: "u".into(),
            cwd: "/".into(),
            git_commit: Some("c".into()),
            git_dirty: Some(false),
            project: String::new(),
            config: String::new(),
            notes: String::new(),
            tags: vec!["x".into()],
        };
        assert_eq!(
            hexs(&run.encode()),
            concat!(
                "01", "0172", "01", "0168", "0175",
                "012f", // schema, id, time -1, host, user, cwd
                "010163", "0100", // git_commit Some("c"), git_dirty Some(false)
                "00", "00", "00", "01", "0178" // project, config, notes, tags ["x"]
            )
        );
    }

    #[test]
    fn golden_use_encoding() {
        let u = UseRecord {
            run: "r".into(),
            artifact_type: "t".into(),
            name: "n".into(),
            tree: oid(0x02),
            time_ns: 3,
        };
        assert_eq!(
            hexs(&u.encode()),
            concat!(
                "01",
                "0172",
                "0174",
                "016e", // schema, run, type, name
                "0202020202020202020202020202020202020202020202020202020202020202",
                "06" // zigzag(3)
            )
        );
        assert_eq!(UseRecord::decode(oid(0), &u.encode()).unwrap(), u);
    }

    #[test]
    fn golden_commit_schema_2_and_state_encoding() {
        let mut c = CommitRecord::for_test(("t", "n"), oid(0x04), "r", 1);
        c.sources = vec![SourceRecord {
            path: "/p".into(),
            display: String::new(),
            is_dir: true,
            every_file: false,
        }];
        // Without tags or W&B-walk sources: schema 1, as every older build wrote it.
        let v1 = c.encode();
        assert_eq!(v1[0], SCHEMA);
        assert_eq!(c.format(), WRITE_FORMAT);
        assert_eq!(CommitRecord::decode(oid(0), &v1).unwrap(), c);
        let tail_v1 = concat!("01", "022f70", "00", "01", "00", "00"); // 1 source "/p", "", dir; include, exclude
        assert!(hexs(&v1).ends_with(tail_v1), "{}", hexs(&v1));
        // Either tags or a W&B-walk source alone needs schema 2 (and a format-3 store).
        let mut tagged = c.clone();
        tagged.tags = vec!["rl".into()];
        assert_eq!(
            (tagged.encode()[0], tagged.format()),
            (COMMIT_SCHEMA_2, EXTENDED_FORMAT)
        );
        let mut walked = c.clone();
        walked.sources[0].every_file = true;
        assert_eq!(
            (walked.encode()[0], walked.format()),
            (COMMIT_SCHEMA_2, EXTENDED_FORMAT)
        );
        c.sources[0].every_file = true;
        c.tags = vec!["rl".into()];
        let v2 = c.encode();
        assert_eq!(c.format(), EXTENDED_FORMAT);
        // Schema 2: the schema-1 body, then one flag per source and the tags.
        assert_eq!(v2[0], COMMIT_SCHEMA_2);
        assert_eq!(hexs(&v2[1..v1.len()]), hexs(&v1[1..]));
        assert_eq!(hexs(&v2[v1.len()..]), concat!("01", "01", "01", "02726c"));
        assert_eq!(CommitRecord::decode(oid(0), &v2).unwrap(), c);
        // A flag count that does not match the sources is corrupt, not misread.
        let mut bad = v2.clone();
        let flags = v1.len();
        bad[flags] = 2;
        bad.insert(flags + 1, 0);
        let e = CommitRecord::decode(oid(0), &bad).unwrap_err().to_string();
        assert!(e.contains("1 sources but 2 source flags"), "{e}");
        let e = CommitRecord::decode(oid(0), &[3, 0])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("commit schema 3 is unknown to this codever (it knows 1 and 2)"),
            "{e}"
        );

        let state = RunStateRecord {
            run: "r".into(),
            time_ns: 2,
            host: "h".into(),
            name: "n".into(),
            job_type: String::new(),
            group: String::new(),
            config: "{}".into(),
            summary: String::new(),
            ranges: String::new(),
            steps: 3,
            finished: true,
            exit_code: Some(-1),
        };
        assert_eq!(
            hexs(&state.encode()),
            concat!(
                "01", "0172", "04", "0168", "016e", // schema, run, zigzag(2), host, name
                "00", "00", "027b7d", "00",
                "00", // job type, group, config "{}", summary, ranges
                "03", "01", "0101" // steps, finished, Some(zigzag(-1))
            )
        );
        assert_eq!(state.format(), EXTENDED_FORMAT);
        assert_eq!(
            RunStateRecord::decode(oid(0), &state.encode()).unwrap(),
            state
        );
        let bytes = encode_envelope(Kind::State, &state.encode());
        assert_eq!(&bytes[..7], b"CDVO\x02\x09\x00");
        assert_eq!(Kind::from_byte(9), Some(Kind::State));
    }

    #[test]
    fn golden_forget_and_rename_encoding() {
        let forget = ForgetRecord {
            artifact_type: "t".into(),
            name: "n".into(),
            tree: Some(oid(0x03)),
            forgotten: true,
            time_ns: 5,
            host: "h".into(),
        };
        assert_eq!(
            hexs(&forget.encode()),
            concat!(
                "01",
                "0174",
                "016e", // schema, type, name
                "01",   // Some(tree)
                "0303030303030303030303030303030303030303030303030303030303030303",
                "01",
                "0a",
                "0168" // forgotten, zigzag(5), host
            )
        );
        assert_eq!(
            ForgetRecord::decode(oid(0), &forget.encode()).unwrap(),
            forget
        );
        // The whole artifact, shown again.
        let unforget = ForgetRecord {
            tree: None,
            forgotten: false,
            ..forget.clone()
        };
        assert_eq!(
            hexs(&unforget.encode()),
            concat!("01", "0174", "016e", "00", "00", "0a", "0168")
        );
        let rename = RenameRecord {
            from_type: "a".into(),
            from_name: "b".into(),
            to_type: "c".into(),
            to_name: "d".into(),
            time_ns: -2,
            host: String::new(),
        };
        assert_eq!(
            hexs(&rename.encode()),
            concat!(
                "01", "0161", "0162", "0163", "0164", // schema, from, to
                "03", "00" // zigzag(-2), empty host
            )
        );
        assert_eq!(
            RenameRecord::decode(oid(0), &rename.encode()).unwrap(),
            rename
        );
        // The kind bytes are part of the format too.
        let bytes = encode_envelope(Kind::Forget, &forget.encode());
        assert_eq!(&bytes[..7], b"CDVO\x02\x07\x00");
        let bytes = encode_envelope(Kind::Rename, &rename.encode());
        assert_eq!(&bytes[..7], b"CDVO\x02\x08\x00");
        assert_eq!(Kind::from_byte(7), Some(Kind::Forget));
        assert_eq!(Kind::from_byte(8), Some(Kind::Rename));
        // Ids hash the kind's name: `forget` and `rename`.
        for (kind, name, raw) in [
            (Kind::Forget, "forget", forget.encode()),
            (Kind::Rename, "rename", rename.encode()),
        ] {
            let mut prefixed = format!("{name} {}\0", raw.len()).into_bytes();
            prefixed.extend_from_slice(&raw);
            assert_eq!(
                ObjectId::compute(kind, &raw).as_bytes(),
                blake3::hash(&prefixed).as_bytes()
            );
        }
    }

    /// A frame larger than the one-shot limit is decoded as a stream, to exactly its bytes.
    #[test]
    fn a_frame_above_the_one_shot_limit_decodes_exactly() {
        let raw: Vec<u8> = (0..ONE_SHOT_LIMIT as usize + 4097)
            .map(|i| (i % 251) as u8)
            .collect();
        let bytes = encode_envelope(Kind::Blob, &raw);
        let id = ObjectId::compute(Kind::Blob, &raw);
        let (kind, back) = decode_envelope(id, &bytes, &mut |_| unreachable!()).unwrap();
        assert_eq!(kind, Kind::Blob);
        assert!(back == raw, "{} bytes back of {}", back.len(), raw.len());
    }

    /// The same for a delta (a format-1 store's deltas may be that large): the frame, read
    /// against its base as a stream, gives back exactly the content, not a byte more or less.
    #[test]
    fn a_delta_frame_above_the_one_shot_limit_decodes_exactly() {
        let base: Vec<u8> = (0..4096).map(|i| (i % 7) as u8).collect();
        let base_id = ObjectId::compute(Kind::Blob, &base);
        let raw: Vec<u8> = (0..ONE_SHOT_LIMIT as usize + 4097)
            .map(|i| (i % 253) as u8)
            .collect();
        let bytes = encode_delta(Kind::Blob, &raw, base_id, &base, 0);
        assert_eq!(
            parse_header(ObjectId::compute(Kind::Blob, &raw), &bytes)
                .unwrap()
                .base,
            Some((base_id, 1))
        );
        let id = ObjectId::compute(Kind::Blob, &raw);
        let (kind, back) = decode_envelope(id, &bytes, &mut |b| {
            assert_eq!(*b, base_id);
            Ok(base.clone())
        })
        .unwrap();
        assert_eq!(kind, Kind::Blob);
        assert!(back == raw, "{} bytes back of {}", back.len(), raw.len());
    }

    /// Every cut of an object file, and every delta header cut short or with a depth out of
    /// range (the checksum made to match, so the header checks are what refuse it), is a
    /// corrupt object: never a panic, never a header.
    #[test]
    fn cut_objects_and_bad_delta_headers_are_corrupt_never_a_panic() {
        let corrupt = |r: Result<Header>| matches!(r, Err(Error::CorruptObject { .. }));
        let raw = b"hello world\n".repeat(20);
        let id = ObjectId::compute(Kind::Blob, &raw);
        let good = encode_envelope(Kind::Blob, &raw);
        assert!(parse_header(id, &good).is_ok());
        for n in 0..good.len() {
            assert!(corrupt(parse_header(id, &good[..n])), "cut at {n}");
        }
        // Format 1 has no checksum: only the length and the header refuse a cut.
        let mut v1 = good[..good.len() - CHECKSUM_LEN].to_vec();
        v1[4] = ENVELOPE_FORMAT_V1;
        assert!(parse_header(id, &v1).is_ok());
        for n in 0..HEADER_LEN {
            assert!(corrupt(parse_header(id, &v1[..n])), "format 1 cut at {n}");
        }
        let base_raw = b"hello world\n".repeat(19);
        let base = ObjectId::compute(Kind::Blob, &base_raw);
        let delta = encode_delta(Kind::Blob, &raw, base, &base_raw, 0);
        let body = &delta[..delta.len() - CHECKSUM_LEN];
        for cut in HEADER_LEN..HEADER_LEN + 33 {
            assert!(
                corrupt(parse_header(id, &seal(body[..cut].to_vec()))),
                "delta header cut at {cut}"
            );
        }
        for depth in [0, MAX_DELTA_DEPTH + 1, u8::MAX] {
            let mut b = body.to_vec();
            b[HEADER_LEN + 32] = depth;
            assert!(corrupt(parse_header(id, &seal(b))), "depth {depth}");
        }
        let mut b = body.to_vec();
        b[HEADER_LEN + 32] = MAX_DELTA_DEPTH;
        assert_eq!(
            parse_header(id, &seal(b)).unwrap().base,
            Some((base, MAX_DELTA_DEPTH))
        );
    }

    #[test]
    fn golden_envelope_header() {
        let bytes = encode_envelope(Kind::Blob, b"hello");
        assert_eq!(&bytes[..7], b"CDVO\x02\x01\x00");
        let sum = blake3::hash(&bytes[..bytes.len() - CHECKSUM_LEN]);
        assert_eq!(
            &bytes[bytes.len() - CHECKSUM_LEN..],
            &sum.as_bytes()[..CHECKSUM_LEN]
        );
        let id = ObjectId::compute(Kind::Blob, b"hello");
        assert_eq!(
            decode_envelope(id, &bytes, &mut no_base).unwrap(),
            (Kind::Blob, b"hello".to_vec())
        );
    }

    #[test]
    fn decode_rejects_tampering() {
        let id = ObjectId::compute(Kind::Blob, b"hello");
        let good = encode_envelope(Kind::Blob, b"hello");
        // Wrong id for the content.
        assert!(matches!(
            decode_envelope(ObjectId::compute(Kind::Blob, b"other"), &good, &mut no_base),
            Err(Error::CorruptObject { .. })
        ));
        // Kind byte changed: the id no longer matches.
        let mut k = good.clone();
        k[5] = Kind::Tree as u8;
        assert!(decode_envelope(id, &k, &mut no_base).is_err());
        // Truncated payload.
        assert!(decode_envelope(id, &good[..good.len() - 2], &mut no_base).is_err());
        // Bad magic and future formats.
        assert!(decode_envelope(id, b"XXXX\x01\x01\x00", &mut no_base).is_err());
        let mut f = good.clone();
        f[4] = 9;
        let err = decode_envelope(id, &f, &mut no_base)
            .unwrap_err()
            .to_string();
        assert!(err.contains("envelope format 9"), "{err}");
    }

    #[test]
    fn decode_rejects_unknown_schema_and_trailing_bytes() {
        let mut raw = Tree::default().encode();
        raw.push(0);
        assert!(Tree::decode(oid(0), &raw).is_err());
        let err = Tree::decode(oid(0), &[7, 0]).unwrap_err().to_string();
        assert!(err.contains("schema 7"), "{err}");
    }
}
