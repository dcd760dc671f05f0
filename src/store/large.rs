//! Files of [`LARGE_FILE`] bytes or more: hashed, stored, verified and restored as streams.

use super::*;

impl Store {
    /// Stores the file at `src` as blob `id` of `size` bytes without holding it in memory: one
    /// zstd frame streamed into a loose object (large blobs are never deltas and never packed).
    /// The bytes are hashed again as they are compressed; if they are not the blob `id` any more
    /// (the file changed since it was hashed) nothing is stored and `Ok(None)` is returned.
    /// Otherwise returns whether a new object file was made, and its directory.
    pub(crate) fn store_large_file(
        &self,
        src: &Path,
        id: &ObjectId,
        size: u64,
    ) -> Result<Option<(bool, PathBuf)>> {
        use std::io::Read;
        let path = self.object_path(id);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if path.is_file() {
            return Ok(Some((false, dir)));
        }
        self.prepare_write()?;
        let tmp = self.layout.new_temp("obj")?;
        let tmp_path = tmp.path().to_path_buf();
        let werr = |e: io::Error| Error::io("cannot write", tmp_path.clone(), e);
        let mut out = ChecksumWriter {
            inner: io::BufWriter::with_capacity(1 << 20, tmp.as_file()),
            hasher: blake3::Hasher::new(),
        };
        out.write_all(&crate::object::envelope_header(Kind::Blob))
            .map_err(werr)?;
        let mut enc =
            zstd::stream::write::Encoder::new(&mut out, crate::object::ZSTD_LEVEL).map_err(werr)?;
        enc.set_pledged_src_size(Some(size)).map_err(werr)?;
        enc.include_contentsize(true).map_err(werr)?;
        let mut file = fs::File::open(src).map_err(|e| Error::io("cannot read", src, e))?;
        let mut hasher = crate::id::BlobHasher::new(size);
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Error::io("cannot read", src, e))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > size {
                return Ok(None);
            }
            hasher.update(&buf[..n]);
            enc.write_all(&buf[..n]).map_err(werr)?;
        }
        if total != size {
            return Ok(None);
        }
        enc.finish().map_err(werr)?;
        let sum = out.hasher.finalize();
        out.inner
            .write_all(&sum.as_bytes()[..crate::object::CHECKSUM_LEN])
            .and_then(|()| out.inner.flush())
            .map_err(werr)?;
        drop(out);
        if hasher.finish().map(|(got, _)| got) != Some(*id) {
            return Ok(None);
        }
        tmp.as_file().sync_all().map_err(werr)?;
        self.layout.make_dir(&dir)?;
        Ok(Some((persist_new(tmp, &path)?, dir)))
    }

    /// Writes the bytes of blob `id`, which its tree says has `size` bytes, to `out`. Large
    /// blobs stored whole are streamed (their stored checksum is verified first, their id as
    /// they are written: a mismatch is an error after the fact, so a caller writing to a file
    /// must only keep it on success). Everything else is read, verified, then written.
    pub fn write_blob_to(&self, id: &ObjectId, size: u64, out: &mut dyn Write) -> Result<()> {
        if size >= LARGE_FILE {
            for place in self.places(id)? {
                let streamed = match &place {
                    Place::Loose(path) => self.stream_whole(id, size, path, out)?.is_some(),
                    Place::Packed(pack, loc, true) => match open_regular(pack) {
                        Ok(f) => self.stream_packed(id, pack, &f, *loc, out)?.is_some(),
                        Err(_) => false,
                    },
                    Place::Packed(_, _, false) => false,
                };
                if streamed {
                    return Ok(());
                }
            }
        }
        let bytes = self.read_file_blob(id, size)?;
        out.write_all(&bytes)
            .map_err(|e| Error::io("cannot write", PathBuf::from("the output"), e))
    }

    /// Verifies a large loose blob file as a stream (fsck): `None` when `path` is not one (small,
    /// a delta, damaged), for the caller to verify it the ordinary way.
    /// Returns the blob's size and MD5 when it is sound.
    pub(crate) fn verify_large_loose(
        &self,
        id: &ObjectId,
        path: &Path,
    ) -> Option<Result<(u64, crate::id::Md5)>> {
        use crate::object::HEADER_LEN;
        use std::io::Read;
        let mut f = open_regular(path).ok()?;
        let mut head = [0u8; PEEK_LEN];
        f.read_exact(&mut head).ok()?;
        // Only blobs are streamed (other kinds are small, and the ordinary check says what is
        // wrong with them). The rest of the header is checked by `stream_range`, which decides
        // whether the bytes are a whole-stored blob; a file it refuses is verified the ordinary
        // way.
        if head[5] != Kind::Blob as u8 {
            return None;
        }
        let size = zstd::zstd_safe::get_frame_content_size(&head[HEADER_LEN..]).ok()??;
        let len = f.metadata().ok()?.len();
        if len > crate::object::stored_bound(&head, size) {
            return Some(Err(Error::CorruptObject {
                id: *id,
                reason: format!("{len} bytes, more than {size} bytes of content can be stored in"),
            }));
        }
        if size < LARGE_FILE {
            return None;
        }
        match self.stream_whole(id, size, path, &mut io::sink()) {
            Ok(Some(md5)) => Some(Ok((size, md5))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Streams a loose, whole-stored blob; `Ok(None)` when that file is not such an object
    /// (a delta, damaged), leaving the caller to try the other ways.
    pub(super) fn stream_whole(
        &self,
        id: &ObjectId,
        size: u64,
        path: &Path,
        out: &mut dyn Write,
    ) -> Result<Option<crate::id::Md5>> {
        let Ok(file) = open_regular(path) else {
            return Ok(None);
        };
        let len = file
            .metadata()
            .map_err(|e| Error::io("cannot read", path, e))?
            .len();
        self.stream_range(id, size, path, &file, 0, len, out)
    }

    /// Streams the whole-stored blob `id` whose envelope is `len` bytes at `offset` of `file`
    /// (a loose object file, or an entry of a pack); `Ok(None)` when those bytes are not such an
    /// object or fail their checksum, leaving the caller to try the other ways.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stream_range(
        &self,
        id: &ObjectId,
        size: u64,
        path: &Path,
        file: &fs::File,
        offset: u64,
        len: u64,
        out: &mut dyn Write,
    ) -> Result<Option<crate::id::Md5>> {
        use crate::object::{CHECKSUM_LEN, ENCODING_ZSTD, ENVELOPE_FORMAT, HEADER_LEN, MAGIC};
        use std::io::Read;
        let rerr = |e: io::Error| Error::io("cannot read", path, e);
        let file_len = file.metadata().map_err(rerr)?.len();
        if len < (HEADER_LEN + CHECKSUM_LEN) as u64
            || offset.checked_add(len).is_none_or(|end| end > file_len)
        {
            return Ok(None);
        }
        let range = |from: u64, n: u64| RangeReader {
            file,
            pos: offset + from,
            end: offset + from + n,
        };
        let mut head = [0u8; HEADER_LEN];
        if range(0, HEADER_LEN as u64).read_exact(&mut head).is_err() {
            return Ok(None);
        }
        if head[..4] != MAGIC
            || head[4] != ENVELOPE_FORMAT
            || head[5] != Kind::Blob as u8
            || head[6] != ENCODING_ZSTD
        {
            return Ok(None);
        }
        // The stored bytes first: a damaged copy is never decoded.
        let body = len - CHECKSUM_LEN as u64;
        let mut hasher = blake3::Hasher::new();
        io::copy(&mut range(0, body), &mut HashSink(&mut hasher)).map_err(rerr)?;
        let mut sum = [0u8; CHECKSUM_LEN];
        range(body, CHECKSUM_LEN as u64)
            .read_exact(&mut sum)
            .map_err(rerr)?;
        if hasher.finalize().as_bytes()[..CHECKSUM_LEN] != sum {
            return Ok(None);
        }
        let frame = range(HEADER_LEN as u64, body - HEADER_LEN as u64);
        let mut dec = zstd::stream::read::Decoder::new(frame).map_err(rerr)?;
        let mut blob = crate::id::BlobHasher::new(size);
        let mut buf = vec![0u8; 1 << 20];
        let corrupt = |reason: String| Error::CorruptObject { id: *id, reason };
        loop {
            let n = dec
                .read(&mut buf)
                .map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
            if n == 0 {
                break;
            }
            blob.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| Error::io("cannot write", PathBuf::from("the output"), e))?;
        }
        match blob.finish() {
            Some((got, md5)) if got == *id => Ok(Some(md5)),
            _ => Err(corrupt(
                "the streamed content does not hash to its id".into(),
            )),
        }
    }

    /// Streams the large whole blob `id` if the pack entry `loc` of `pack` holds one (fsck and
    /// reads of packed large blobs); `Ok(None)` otherwise.
    pub(crate) fn stream_packed(
        &self,
        id: &ObjectId,
        pack: &Path,
        file: &fs::File,
        loc: Location,
        out: &mut dyn Write,
    ) -> Result<Option<(u64, crate::id::Md5)>> {
        use crate::object::HEADER_LEN;
        use std::io::Read;
        let mut head = [0u8; PEEK_LEN];
        let n = head.len().min(loc.len as usize);
        if (RangeReader {
            file,
            pos: loc.offset,
            end: loc.offset.saturating_add(n as u64),
        })
        .read_exact(&mut head[..n])
        .is_err()
            || n < head.len()
            || head[5] != Kind::Blob as u8
        {
            return Ok(None);
        }
        let Some(size) = zstd::zstd_safe::get_frame_content_size(&head[HEADER_LEN..])
            .ok()
            .flatten()
        else {
            return Ok(None);
        };
        if size < LARGE_FILE {
            return Ok(None);
        }
        Ok(self
            .stream_range(id, size, pack, file, loc.offset, u64::from(loc.len), out)?
            .map(|md5| (size, md5)))
    }
}

/// The bytes read to learn a whole-stored object's content size: its envelope header and the
/// longest zstd frame header (18 bytes), which holds the content size.
const PEEK_LEN: usize = crate::object::HEADER_LEN + 18;

/// A writer that also hashes what goes through it (the checksum of a streamed envelope).
pub(super) struct ChecksumWriter<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the bytes `pos..end` of a file with positioned reads (no shared cursor).
pub(super) struct RangeReader<'a> {
    file: &'a fs::File,
    pos: u64,
    end: u64,
}

impl std::io::Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        #[cfg(unix)]
        let n = {
            use std::os::unix::fs::FileExt;
            self.file.read_at(&mut buf[..want], self.pos)?
        };
        #[cfg(not(unix))]
        let n = {
            use std::io::{Seek, SeekFrom};
            let mut f = self.file;
            f.seek(SeekFrom::Start(self.pos))?;
            std::io::Read::read(&mut f, &mut buf[..want])?
        };
        self.pos += n as u64;
        Ok(n)
    }
}

/// Feeds what is written to a hasher.
pub(super) struct HashSink<'a>(&'a mut blake3::Hasher);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{CHECKSUM_LEN, HEADER_LEN};

    /// A whole-stored blob envelope of `content`, as `store_large_file` writes it.
    fn streamed_envelope(store: &Store, dir: &Path, content: &[u8]) -> (ObjectId, Vec<u8>) {
        let src = dir.join("content");
        fs::write(&src, content).unwrap();
        let id = ObjectId::compute(Kind::Blob, content);
        let stored = store
            .store_large_file(&src, &id, content.len() as u64)
            .unwrap();
        assert!(matches!(stored, Some((true, _))), "{stored:?}");
        (id, fs::read(store.object_path(&id)).unwrap())
    }

    /// Streams the first `len` of `bytes` placed at `offset` of a file (after `offset` bytes of
    /// other data, as in a pack); returns the result and what was written out.
    fn stream_at(
        store: &Store,
        dir: &Path,
        id: &ObjectId,
        size: u64,
        offset: usize,
        bytes: &[u8],
        len: usize,
    ) -> (Result<Option<crate::id::Md5>>, Vec<u8>) {
        let path = dir.join("holder");
        let mut all = vec![0x5a; offset];
        all.extend_from_slice(bytes);
        fs::write(&path, &all).unwrap();
        let file = fs::File::open(&path).unwrap();
        let mut out = Vec::new();
        let r = store.stream_range(id, size, &path, &file, offset as u64, len as u64, &mut out);
        (r, out)
    }

    /// A large blob stored whole inside a pack (as another build or a hand-made pack may hold
    /// it; codever's own pushes send large blobs loose) is read as a stream: `cat`/checkout get
    /// its bytes, fsck verifies it.
    #[test]
    fn a_large_blob_inside_a_pack_is_streamed_out_and_verified() {
        use crate::store::pack::{PACK_MIN_OBJECTS, PackWriter};
        // Exactly the size from which a blob is streamed, and more.
        for extra in [0, 7] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::init(dir.path()).unwrap();
            let content: Vec<u8> = (0..LARGE_FILE as u32 + extra)
                .map(|i| (i % 251) as u8)
                .collect();
            let (id, env) = streamed_envelope(&store, dir.path(), &content);
            fs::remove_file(store.object_path(&id)).unwrap();
            let mut w = PackWriter::new(store.layout());
            w.add(id, env).unwrap();
            for i in 1..PACK_MIN_OBJECTS {
                let filler = format!("filler {i}\n").into_bytes();
                w.add(
                    ObjectId::compute(Kind::Blob, &filler),
                    crate::object::encode_envelope(Kind::Blob, &filler),
                )
                .unwrap();
            }
            w.finish().unwrap();
            let store = Store::open(store.root()).unwrap();
            assert!(!store.object_path(&id).exists() && store.has_object(&id));
            // Written in pieces as it is read (never held whole): the largest write is small.
            struct Pieces(Vec<u8>, usize);
            impl Write for Pieces {
                fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                    self.1 = self.1.max(buf.len());
                    self.0.extend_from_slice(buf);
                    Ok(buf.len())
                }
                fn flush(&mut self) -> io::Result<()> {
                    Ok(())
                }
            }
            let mut out = Pieces(Vec::new(), 0);
            store
                .write_blob_to(&id, content.len() as u64, &mut out)
                .unwrap();
            assert!(out.0 == content);
            assert!(out.1 <= 4 << 20, "a write of {} bytes", out.1);
            let r = store.fsck().unwrap();
            assert_eq!(
                (r.corrupt.len(), r.objects),
                (0, PACK_MIN_OBJECTS),
                "{:?}",
                r.corrupt
            );
        }
    }

    #[test]
    fn a_streamed_blob_reads_back_at_any_offset_and_ends_exactly_at_its_file_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (id, env) = streamed_envelope(&store, dir.path(), &content);
        // Loose (offset 0, the object is the whole file) and inside a larger file (offset 4099,
        // other bytes after it): the same bytes and the same MD5.
        for (offset, trailer) in [(0usize, 0usize), (4099, 0), (4099, 77)] {
            let mut bytes = env.clone();
            bytes.extend(std::iter::repeat_n(0xa5, trailer));
            let (r, out) = stream_at(
                &store,
                dir.path(),
                &id,
                content.len() as u64,
                offset,
                &bytes,
                env.len(),
            );
            let md5 = r.unwrap();
            assert_eq!(
                md5,
                Some(crate::id::Md5::of(&content)),
                "{offset} {trailer}"
            );
            assert!(out == content, "{offset} {trailer}");
        }
        // A range that runs one byte past the end of the file is not such an object.
        let path = dir.path().join("short");
        fs::write(&path, &env).unwrap();
        let file = fs::File::open(&path).unwrap();
        let r = store.stream_range(&id, 0, &path, &file, 1, env.len() as u64, &mut Vec::new());
        assert!(matches!(r, Ok(None)), "{r:?}");
    }

    #[test]
    fn a_damaged_or_foreign_header_is_not_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let content = vec![7u8; 100_000];
        let (id, env) = streamed_envelope(&store, dir.path(), &content);
        let size = content.len() as u64;
        // Each of magic, envelope format, kind and encoding changed, with the stored checksum
        // made to match (a forged object, not a damaged one): not a whole-stored blob, so left
        // to the ordinary read (`Ok(None)`), nothing written.
        for at in [0, 3, 4, 5, 6] {
            let mut bad = env.clone();
            bad[at] ^= 0x10;
            let body = bad.len() - CHECKSUM_LEN;
            let sum = blake3::hash(&bad[..body]);
            bad[body..].copy_from_slice(&sum.as_bytes()[..CHECKSUM_LEN]);
            let (r, out) = stream_at(&store, dir.path(), &id, size, 0, &bad, bad.len());
            assert!(matches!(r, Ok(None)), "byte {at}: {r:?}");
            assert!(out.is_empty(), "byte {at}");
        }
        // A stored byte flipped fails the stored checksum: never decoded, nothing written.
        let mut bad = env.clone();
        bad[env.len() / 2] ^= 1;
        let (r, out) = stream_at(&store, dir.path(), &id, size, 0, &bad, bad.len());
        assert!(matches!(r, Ok(None)) && out.is_empty(), "{r:?}");
        // Truncated to a header and a few bytes, or to nothing past the header: not an object
        // (and no arithmetic on its length may overflow).
        for keep in [HEADER_LEN, HEADER_LEN + 3, HEADER_LEN + CHECKSUM_LEN - 1] {
            let (r, out) = stream_at(&store, dir.path(), &id, size, 0, &env[..keep], keep);
            assert!(matches!(r, Ok(None)) && out.is_empty(), "{keep}: {r:?}");
        }
    }

    /// fsck refuses an object file longer than any encoding of its content could be without
    /// reading it, and the limit is exact: a file of exactly that length is read and judged by
    /// its checksum.
    #[test]
    fn an_object_file_longer_than_its_content_allows_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let content = vec![9u8; 50_000];
        let (id, env) = streamed_envelope(&store, dir.path(), &content);
        let bound = crate::object::stored_bound(&env, content.len() as u64);
        let path = store.object_path(&id);
        let grow = |len: u64| {
            let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(len).unwrap();
        };
        grow(bound);
        assert!(store.verify_large_loose(&id, &path).is_none());
        grow(bound + 1);
        match store.verify_large_loose(&id, &path) {
            Some(Err(Error::CorruptObject { reason, .. })) => assert_eq!(
                reason,
                format!(
                    "{} bytes, more than 50000 bytes of content can be stored in",
                    bound + 1
                )
            ),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn sound_stored_bytes_that_are_not_the_blob_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let content = vec![3u8; 50_000];
        let (id, env) = streamed_envelope(&store, dir.path(), &content);
        // A header with an empty frame and a correct checksum: the checksum passes, the content
        // (none) does not hash to the id, and that is an error, not a silent fallback.
        let mut empty = env[..HEADER_LEN].to_vec();
        let sum = blake3::hash(&empty);
        empty.extend_from_slice(&sum.as_bytes()[..CHECKSUM_LEN]);
        let (r, _) = stream_at(
            &store,
            dir.path(),
            &id,
            content.len() as u64,
            0,
            &empty,
            empty.len(),
        );
        assert!(matches!(r, Err(Error::CorruptObject { .. })), "{r:?}");
        // The right envelope asked for under another id: corrupt as well.
        let other = ObjectId::compute(Kind::Blob, b"another blob");
        let (r, out) = stream_at(
            &store,
            dir.path(),
            &other,
            content.len() as u64,
            0,
            &env,
            env.len(),
        );
        match r {
            Err(Error::CorruptObject { id, reason }) => {
                assert_eq!(id, other);
                assert_eq!(reason, "the streamed content does not hash to its id");
            }
            r => panic!("{r:?}"),
        }
        assert!(out == content);
    }
}
