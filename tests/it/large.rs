//! Large files, streamed in bounded memory.

use std::fs;
use std::io::{Seek, SeekFrom, Write};

use codever::Snapshot;

use crate::common::{
    assert_fsck_clean, commit_json, commit_snapshot, git, init_store, json, lib_store, object_path,
    output, pack_files, rewrite, run_err, run_ok, write,
};

/// `n` bytes that compress somewhat, like a data or weights file.
fn big_content(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            if i % 4 == 0 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
            }
            (x >> ((i % 4) * 8)) as u8 & 0x3f
        })
        .collect()
}

#[test]
fn a_large_file_round_trips_and_damage_is_never_restored() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let big = big_content(40 << 20);
    write(&src, "big.bin", &big);
    write(&src, "train.py", b"epochs = 3\n");
    let c = commit_json(&store, "model/weights", &src, "r1");
    assert_eq!(
        (c["version"].as_u64(), c["new"].as_bool()),
        (Some(0), Some(true))
    );

    // One byte changed in place: a new version; both read back exactly.
    let mut changed = big.clone();
    changed[20 << 20] ^= 0x40;
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(src.join("big.bin"))
            .unwrap();
        f.seek(SeekFrom::Start(20 << 20)).unwrap();
        f.write_all(&changed[20 << 20..(20 << 20) + 1]).unwrap();
    }
    let c = commit_json(&store, "model/weights", &src, "r2");
    assert_eq!(
        (c["version"].as_u64(), c["new"].as_bool()),
        (Some(1), Some(true))
    );
    for (v, want) in [("v0", &big), ("v1", &changed)] {
        let out = tmp.path().join(format!("out-{v}"));
        run_ok(
            &store,
            &[
                "checkout",
                &format!("weights:{v}"),
                "--into",
                out.to_str().unwrap(),
            ],
        );
        assert!(fs::read(out.join("big.bin")).unwrap() == **want, "{v}");
        let cat = output(&store, &["cat", &format!("weights:{v}"), "big.bin"]);
        assert!(cat.status.success());
        assert!(cat.stdout == **want, "cat {v}");
    }
    // Compared as binary, with git's ids hashed in pieces (the same ids `git hash-object` gives).
    let diff = run_ok(&store, &["diff", "weights:v0", "weights:v1"]);
    let git_id = |bytes: &[u8]| {
        fs::write(tmp.path().join("for-git"), bytes).unwrap();
        git(tmp.path(), &["hash-object", "for-git"])
            .trim()
            .to_string()
    };
    let (g0, g1) = (git_id(&big), git_id(&changed));
    assert_eq!(
        diff,
        format!(
            "diff --git a/big.bin b/big.bin\nindex {}..{} 100644\nBinary files a/big.bin and b/big.bin differ\n",
            &g0[..7],
            &g1[..7]
        )
    );
    // Blame is for text: a large (or binary) file is refused, not read whole.
    let blame = run_err(&store, &["blame", "weights:v1", "big.bin"]);
    assert!(
        blame.starts_with("error: cannot blame \"big.bin\": 41943040 bytes at v1"),
        "{blame}"
    );
    // Unchanged: linked, nothing stored.
    let c = commit_json(&store, "model/weights", &src, "r3");
    assert_eq!(
        (c["version"].as_u64(), c["new"].as_bool()),
        (Some(1), Some(false))
    );
    assert_fsck_clean(&store, "after three commits");

    // Damage in the middle of the large object of v0: checkout fails and leaves no file, fsck
    // exits 1.
    let files = json(&store, &["show", "weights:v0"]);
    let id = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "big.bin")
        .unwrap()["blake3"]
        .as_str()
        .unwrap()
        .to_string();
    rewrite(&object_path(&store, &id), |bytes| {
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
    });
    let out = tmp.path().join("out-damaged");
    run_err(
        &store,
        &["checkout", "weights:v0", "--into", out.to_str().unwrap()],
    );
    assert!(!out.join("big.bin").exists());
    let cat = output(&store, &["cat", "weights:v0", "big.bin"]);
    assert_ne!(cat.status.code(), Some(0));
    assert_eq!(output(&store, &["fsck"]).status.code(), Some(1));
}

#[test]
fn a_large_blob_stored_in_a_pack_reads_back_and_checks() {
    // Bytes given in memory (Python's add_bytes) are packed like small files, large or not.
    let (tmp, store) = lib_store();
    let big = big_content(40 << 20);
    let mut s = Snapshot::default();
    s.add_bytes("big.bin", big.clone(), false).unwrap();
    for i in 0..20 {
        s.add_bytes(
            &format!("m{i}.py"),
            format!("m = {i}\n").into_bytes(),
            false,
        )
        .unwrap();
    }
    commit_snapshot(&store, "model/packed", &s, "r1");
    assert!(!pack_files(store.root()).is_empty(), "expected a pack");
    let root = store.root().to_path_buf();
    let cat = output(&root, &["cat", "packed", "big.bin"]);
    assert!(cat.status.success());
    assert!(cat.stdout == big);
    let out = tmp.path().join("co");
    run_ok(
        &root,
        &["checkout", "packed", "--into", out.to_str().unwrap()],
    );
    assert!(fs::read(out.join("big.bin")).unwrap() == big);
    assert_fsck_clean(&root, "a large blob in a pack");
}

/// A blob larger than the memory a command may use is read, restored and verified as a stream:
/// `cat` and `fsck` of a 1.25 GiB file succeed under `ulimit -v 1 GiB` (a copy held whole could
/// not even be allocated), and `cat` gives exactly the bytes committed.
#[test]
fn a_blob_larger_than_the_memory_limit_is_streamed() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("data");
    fs::create_dir_all(&src).unwrap();
    let path = src.join("big.bin");
    let size: u64 = 5 << 28;
    {
        // Sparse zeros with a marker at each end: cheap to write, to hash and to compress.
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(b"head").unwrap();
        f.set_len(size - 4).unwrap();
        f.seek(SeekFrom::End(0)).unwrap();
        f.write_all(b"tail").unwrap();
    }
    commit_json(&store, "data/big", &src, "r1");
    let run = |args: &[&str]| {
        let mut c = crate::common::codever_limited(&store, args);
        c.stderr(std::process::Stdio::piped());
        c
    };
    // cat: counted and checked by a pipe reader, never held whole by the test either.
    let mut cat = run(&["cat", "big", "big.bin"]);
    cat.stdout(std::process::Stdio::piped());
    let mut child = cat.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (mut total, mut first, mut last) = (0u64, Vec::new(), Vec::new());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut out, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        if first.len() < 4 {
            first.extend_from_slice(&buf[..n.min(4 - first.len())]);
        }
        last.extend_from_slice(&buf[..n]);
        if last.len() > 4 {
            last.drain(..last.len() - 4);
        }
        total += n as u64;
    }
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(
        (total, &first[..], &last[..]),
        (size, &b"head"[..], &b"tail"[..])
    );
    let fsck = run(&["fsck"]).output().unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
}

/// A large file changed on disk since its version is compared as git compares it: a binary
/// file whose `index` line carries both git blob ids, hashed in pieces from the store and
/// from the file (neither held whole).
#[test]
fn a_large_file_changed_on_disk_diffs_as_binary_with_both_git_ids() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let big = big_content(33 << 20);
    write(&src, "big.bin", &big);
    commit_json(&store, "model/weights", &src, "r1");
    let mut changed = big.clone();
    changed[1 << 20] ^= 0x40;
    fs::write(src.join("big.bin"), &changed).unwrap();
    let git_id = |b: &[u8]| {
        use sha1::Digest;
        let mut h = sha1::Sha1::new();
        h.update(format!("blob {}\0", b.len()).as_bytes());
        h.update(b);
        h.finalize()
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    };
    let patch = run_ok(&store, &["diff", "model/weights:v0"]);
    assert_eq!(
        patch,
        format!(
            "diff --git a/big.bin b/big.bin\nindex {}..{} 100644\nBinary files a/big.bin and \
             b/big.bin differ\n",
            &git_id(&big)[..7],
            &git_id(&changed)[..7]
        )
    );
}
