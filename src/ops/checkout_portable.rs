//! [`Root`]'s operations where there are no `*at` system calls: by paths, with the same checks
//! as far as paths allow (no symlinked directory on the way, regular files only).

use super::*;

impl Root {
    fn open(store: &Store, into: &Path) -> Result<Root> {
        refuse_special_target(store, into)?;
        Ok(Root(into.to_path_buf()))
    }

    /// Removes `rel` if it is a regular file holding one of the blobs `ids` (no symlinked
    /// directory on the way), then the directories that held it if they are left empty.
    fn remove_if_copy(&self, rel: &str, ids: &HashSet<ObjectId>) -> io::Result<Removal> {
        let into = self.0.as_path();
        let Ok((Some(dir), target)) = safe_parent(into, rel, None) else {
            return Ok(Removal::Kept);
        };
        let m = match fs::symlink_metadata(&target) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Removal::Gone),
            Err(e) => return Err(e),
        };
        if !m.is_file() || !holds_one_of(&mut fs::File::open(&target)?, m.len(), ids)? {
            return Ok(Removal::Kept);
        }
        fs::remove_file(&target)?;
        let mut dir = dir;
        while dir != into && dir.starts_with(into) && fs::remove_dir(&dir).is_ok() {
            if !dir.pop() {
                break;
            }
        }
        Ok(Removal::Removed)
    }

    /// Writes the file `path` of a version into a temp file beside its target.
    fn stage(
        &self,
        store: &Store,
        into: &Path,
        path: &str,
        meta: &FileMeta,
        created: &mut Vec<PathBuf>,
    ) -> Result<Staged> {
        let (dir, target) = safe_parent(into, path, Some(created))?;
        let dir = dir.unwrap_or_else(|| into.to_path_buf());
        let tmp = tempfile::Builder::new()
            .prefix(".codever-tmp-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io("cannot create a temp file in", &dir, e))?;
        fill(store, tmp.as_file(), meta, &target)?;
        let (_, tmp_path) = tmp
            .keep()
            .map_err(|e| Error::io("cannot write", &target, e.error))?;
        Ok(Staged {
            into: into.to_path_buf(),
            parents: Vec::new(),
            tmp: tmp_path.to_string_lossy().into_owned(),
            name: String::new(),
            target,
        })
    }

    fn persist(&self, s: &Staged) -> Result<()> {
        fs::rename(&s.tmp, &s.target).map_err(|e| Error::io("cannot write", &s.target, e))
    }

    fn discard(&self, s: &Staged) {
        let _ = fs::remove_file(&s.tmp);
    }
}
