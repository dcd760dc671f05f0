//! Hostile store files (a store is synced from machines that may be broken or hostile): special
//! files in place of objects, decompression bombs, trees built to exhaust the stack or to lie,
//! and stray files in the marker directories. No command may hang, crash, exhaust memory or
//! serve wrong bytes; fsck must report each of them.
//!
//! Commands run with a deadline and, where memory is at stake, under `ulimit -v 1 GiB`: a hang is
//! reported as such, an allocation that runs away as a signal.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use codever::object::{FileMeta, Kind, Tree};
use codever::{ObjectId, Store};

use crate::common::{
    Finished, assert_fsck_clean, assert_no_problems, blob_id, checked_out, codever_cmd,
    codever_limited, codever_process, commit_ok, commit_record_of, copy_missing, dir_entry,
    expect_code, file_entry, forge_version, init_at, init_store, json, mkfifo, now_ns, object_path,
    run_all_within, run_ok, run_within, set_mtime, write, write_blob, write_tree,
};

/// Long enough for a loaded 2-core machine; a hang (what these tests catch) never ends.
const DEADLINE: Duration = Duration::from_secs(30);

const PPO: &[u8] = b"print('hello')\n";
const MODELS: &[u8] = b"hidden = 64\n";

/// A store with artifact code/ppo v0 = {ppo.py, models.py}, committed by run r1.
fn base() -> (tempfile::TempDir, PathBuf) {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    write(&src, "ppo.py", PPO);
    write(&src, "models.py", MODELS);
    commit_ok(&store, "code/ppo", &src, "r1");
    (tmp, store)
}

// ---------------------------------------------------------------------------------------------
// Versions forged with the library, as a hostile machine could make them.

/// Forging makes versions every command accepts when the tree is sound; without this control
/// the tests below could pass or fail for the wrong reason.
#[test]
fn a_forged_sound_version_is_accepted_by_every_command() {
    let (_tmp, root) = base();
    let store = Store::open(&root).unwrap();
    let a = write_blob(&store, b"a = 1\n");
    let b = write_blob(&store, b"b = 2\n");
    let sub = write_tree(&store, vec![file_entry("b.py", b)]);
    let top = write_tree(&store, vec![file_entry("a.py", a), dir_entry("sub", sub)]);
    forge_version(
        &store,
        "code/forged",
        "f1",
        top,
        &[("a.py", a), ("sub/b.py", b)],
        now_ns(),
    );
    assert_fsck_clean(&root, "a sound forged version");
    assert_eq!(run_ok(&root, &["cat", "forged:v0", "sub/b.py"]), "b = 2\n");
    assert_eq!(
        checked_out(&root, "forged:v0"),
        [
            ("a.py".to_string(), b"a = 1\n".to_vec()),
            ("sub/b.py".to_string(), b"b = 2\n".to_vec())
        ]
    );
    let shown = json(&root, &["show", "forged:v0"]);
    assert_eq!(shown["files"].as_array().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Special files in place of object files.

/// Replaces the blob of ppo.py (store 1) and the commit record (store 2) with a special file
/// made by `make`; cat, checkout, versions and fsck must end quickly with an error. Returns how
/// each command ended.
fn special_object_files(make: fn(&Path)) -> Vec<Finished> {
    let (tmp, one) = base();
    let two = tmp.path().join("two");
    fs::create_dir_all(&two).unwrap();
    copy_missing(&one, &two);
    let blob = object_path(&one, blob_id(PPO));
    fs::remove_file(&blob).unwrap();
    make(&blob);
    let record = object_path(&two, commit_record_of(&two, "r1"));
    fs::remove_file(&record).unwrap();
    make(&record);

    let into = tmp.path().join("out");
    let checkout = codever_limited(&one, &["checkout", "ppo", "--into", into.to_str().unwrap()]);
    let done = run_all_within(
        vec![
            codever_limited(&one, &["cat", "ppo", "ppo.py"]),
            checkout,
            codever_limited(&one, &["fsck"]),
            codever_limited(&two, &["versions", "ppo"]),
            codever_limited(&two, &["cat", "ppo", "models.py"]),
            codever_limited(&two, &["fsck"]),
        ],
        DEADLINE,
    );
    let mut problems = Vec::new();
    expect_code(&done[0], &[2], &mut problems);
    if !done[0].stdout.is_empty() {
        problems.push("cat printed bytes of a special file".into());
    }
    expect_code(&done[1], &[2], &mut problems);
    expect_code(&done[2], &[1], &mut problems);
    // versions may list the artifact as incomplete (exit 0 with a warning) or refuse (exit 2).
    expect_code(&done[3], &[0, 2], &mut problems);
    if done[3].code() == Some(0)
        && done[3].stderr.is_empty()
        && !done[3].stdout_text().contains("INCOMPLETE")
    {
        problems.push("versions said nothing about the unreadable record".into());
    }
    expect_code(&done[4], &[2], &mut problems);
    expect_code(&done[5], &[1], &mut problems);
    assert_no_problems(problems);
    done
}

#[test]
fn an_object_file_that_is_a_fifo_is_refused_without_hanging() {
    special_object_files(mkfifo);
}

#[test]
fn an_object_file_that_links_to_dev_zero_is_refused_without_reading_it() {
    let done = special_object_files(|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap());
    // Under the 1 GiB limit, reading the link until memory runs out ends in a clean "out of
    // memory" error, which the exit codes alone would accept: it must not be read at all.
    let read_it: Vec<String> = done
        .iter()
        .filter(|f| {
            let text = format!("{}{}", f.stdout_text(), String::from_utf8_lossy(&f.stderr));
            text.contains("out of memory")
        })
        .map(|f| f.describe())
        .collect();
    assert!(
        read_it.is_empty(),
        "/dev/zero was read until memory ran out:\n{}",
        read_it.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// zstd frames without a content size.

/// A format-1 envelope of a blob around `frame` (magic, format 1, kind blob, encoding 0).
fn envelope_around(frame: &[u8]) -> Vec<u8> {
    let mut out = b"CDVO\x01\x01\x00".to_vec();
    out.extend_from_slice(frame);
    out
}

/// Replaces ppo.py's blob with `envelope` and checks that cat, checkout and fsck refuse it, in
/// bounded time and memory.
fn refuse_blob_envelope(envelope: &[u8]) {
    let (tmp, root) = base();
    fs::write(object_path(&root, blob_id(PPO)), envelope).unwrap();
    let into = tmp.path().join("out");
    let checkout = codever_limited(
        &root,
        &["checkout", "ppo", "--into", into.to_str().unwrap()],
    );
    let done = run_all_within(
        vec![
            codever_limited(&root, &["cat", "ppo", "ppo.py"]),
            checkout,
            codever_limited(&root, &["fsck"]),
        ],
        DEADLINE,
    );
    let mut problems = Vec::new();
    expect_code(&done[0], &[2], &mut problems);
    if !done[0].stdout.is_empty() {
        problems.push(format!(
            "cat printed {} bytes of a frame without a content size",
            done[0].stdout.len()
        ));
    }
    expect_code(&done[1], &[2], &mut problems);
    expect_code(&done[2], &[1], &mut problems);
    assert_no_problems(problems);
}

#[test]
fn a_frame_without_a_content_size_is_refused() {
    // The right content, streamed: the frame header does not say how large it is.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    std::io::Write::write_all(&mut enc, PPO).unwrap();
    let frame = enc.finish().unwrap();
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&frame).unwrap(),
        None,
        "the streaming encoder is expected to leave the content size out"
    );
    refuse_blob_envelope(&envelope_around(&frame));
}

/// A valid zstd frame without a content size that decodes to `blocks` × 128 KiB of zeros: RLE
/// blocks of 4 bytes each (zstd format: magic, a header without content size, window 128 KiB).
fn zero_bomb(blocks: usize) -> Vec<u8> {
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        let header = last | (1 << 1) | ((128 * 1024) << 3);
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.push(0);
    }
    f
}

#[test]
fn a_decompression_bomb_without_a_content_size_is_refused_in_bounded_memory() {
    let bomb = zero_bomb(32 * 1024); // 4 GiB of zeros in 128 KiB
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&bomb).unwrap(),
        None
    );
    // It is a valid frame: the first MiB decodes to zeros.
    let mut head = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            zstd::stream::read::Decoder::new(&bomb[..]).unwrap(),
            1 << 20,
        ),
        &mut head,
    )
    .unwrap();
    assert!(head.len() == 1 << 20 && head.iter().all(|b| *b == 0));
    // It claims to be ppo.py (15 bytes in the tree).
    refuse_blob_envelope(&envelope_around(&bomb));
}

// ---------------------------------------------------------------------------------------------
// Trees that lie: too deep, unsorted, impossible sizes.

/// A chain of `depth` directories `d/d/…/d/x.py` above the file; returns the root tree. The
/// trees are written as loose files without fsync (`Store::write_structured` syncs each one,
/// which for 10,000 trees takes longer than the whole test budget).
fn deep_tree(store: &Store, depth: usize) -> (ObjectId, FileMeta) {
    use codever::object::Structured;
    let leaf = write_blob(store, b"x = 1\n");
    let mut t = write_tree(store, vec![file_entry("x.py", leaf)]);
    for _ in 0..depth {
        let raw = Tree {
            entries: vec![dir_entry("d", t)],
        }
        .encode();
        t = ObjectId::compute(Kind::Tree, &raw);
        let path = store.object_path(&t);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, codever::object::encode_envelope(Kind::Tree, &raw)).unwrap();
    }
    (t, leaf)
}

#[test]
fn a_tree_nested_10000_deep_is_an_error_not_a_crash() {
    let (tmp, root) = base();
    let store = Store::open(&root).unwrap();
    let a = write_blob(&store, b"a = 1\n");
    let shallow = write_tree(&store, vec![file_entry("a.py", a)]);
    let t = now_ns();
    forge_version(&store, "code/deep", "f1", shallow, &[("a.py", a)], t);
    let (deep, leaf) = deep_tree(&store, 10_000);
    let path = format!("{}x.py", "d/".repeat(10_000));
    forge_version(&store, "code/deep", "f2", deep, &[(&path, leaf)], t + 1);

    let into = tmp.path().join("out");
    let checkout = codever_limited(
        &root,
        &["checkout", "deep:v1", "--into", into.to_str().unwrap()],
    );
    let done = run_all_within(
        vec![
            codever_limited(&root, &["diff", "deep:v0", "deep:v1"]),
            codever_limited(&root, &["log", "deep"]),
            checkout,
            codever_limited(&root, &["show", "deep:v1"]),
            codever_limited(&root, &["fsck"]),
            codever_limited(&root, &["versions", "deep"]),
        ],
        Duration::from_secs(60),
    );
    let mut problems = Vec::new();
    for f in &done[..4] {
        expect_code(f, &[1, 2], &mut problems);
        if f.code().is_some_and(|c| c != 0) && f.stderr.is_empty() {
            problems.push(format!("{}: no message", f.what));
        }
    }
    expect_code(&done[4], &[1], &mut problems);
    // A listing: it may show the version or refuse, but must not crash.
    expect_code(&done[5], &[0, 2], &mut problems);
    assert_no_problems(problems);
}

#[test]
fn a_tree_deeper_than_256_fails_fsck() {
    let (tmp, root) = base();
    let store = Store::open(&root).unwrap();
    let (deep, leaf) = deep_tree(&store, 300);
    let path = format!("{}x.py", "d/".repeat(300));
    forge_version(&store, "code/deep", "f1", deep, &[(&path, leaf)], now_ns());
    let into = tmp.path().join("out");
    let checkout = codever_cmd(
        &root,
        &["checkout", "deep:v0", "--into", into.to_str().unwrap()],
    );
    let done = run_all_within(vec![codever_cmd(&root, &["fsck"]), checkout], DEADLINE);
    let mut problems = Vec::new();
    expect_code(&done[0], &[1], &mut problems);
    expect_code(&done[1], &[2], &mut problems);
    assert_no_problems(problems);
}

#[test]
fn an_unsorted_tree_fails_fsck_and_is_never_served_wrong() {
    let (tmp, root) = base();
    let store = Store::open(&root).unwrap();
    let a = write_blob(&store, b"a = 1\n");
    let b = write_blob(&store, b"b = 2\n");
    let unsorted = write_tree(&store, vec![file_entry("b.py", b), file_entry("a.py", a)]);
    forge_version(
        &store,
        "code/unsorted",
        "f1",
        unsorted,
        &[("b.py", b), ("a.py", a)],
        now_ns(),
    );
    let into = tmp.path().join("out");
    let checkout = codever_cmd(
        &root,
        &["checkout", "unsorted", "--into", into.to_str().unwrap()],
    );
    let done = run_all_within(
        vec![
            codever_cmd(&root, &["fsck"]),
            codever_cmd(&root, &["cat", "unsorted", "a.py"]),
            checkout,
        ],
        DEADLINE,
    );
    let mut problems = Vec::new();
    expect_code(&done[0], &[1], &mut problems);
    expect_code(&done[1], &[0, 2], &mut problems);
    if done[1].code() == Some(0) && done[1].stdout != b"a = 1\n" {
        problems.push("cat served wrong bytes".into());
    }
    expect_code(&done[2], &[0, 2], &mut problems);
    assert_no_problems(problems);
}

#[test]
fn a_file_size_of_u64_max_fails_fsck_and_crashes_nothing() {
    let (tmp, root) = base();
    let store = Store::open(&root).unwrap();
    let mut a = write_blob(&store, b"a = 1\n");
    let mut b = write_blob(&store, b"b = 2\n");
    a.size = u64::MAX;
    b.size = u64::MAX;
    let t = write_tree(&store, vec![file_entry("a.py", a), file_entry("b.py", b)]);
    forge_version(
        &store,
        "code/huge",
        "f1",
        t,
        &[("a.py", a), ("b.py", b)],
        now_ns(),
    );
    let into = tmp.path().join("out");
    let checkout = codever_limited(
        &root,
        &["checkout", "huge", "--into", into.to_str().unwrap()],
    );
    let done = run_all_within(
        vec![
            codever_limited(&root, &["fsck"]),
            codever_limited(&root, &["show", "huge"]),
            codever_limited(&root, &["--json", "show", "huge"]),
            codever_limited(&root, &["versions", "huge"]),
            codever_limited(&root, &["list"]),
            codever_limited(&root, &["cat", "huge", "a.py"]),
            checkout,
        ],
        DEADLINE,
    );
    let mut problems = Vec::new();
    expect_code(&done[0], &[1], &mut problems);
    for f in &done[1..] {
        expect_code(f, &[0, 2], &mut problems);
    }
    assert_no_problems(problems);
}

// ---------------------------------------------------------------------------------------------
// Stray files in the marker directories.

#[test]
fn ds_store_files_and_directories_are_ignored_and_listed_as_stray() {
    let (tmp, pristine) = base();
    let commands: [&[&str]; 3] = [&["list"], &["runs"], &["versions", "ppo"]];
    let expected: Vec<String> = commands.iter().map(|a| run_ok(&pristine, a)).collect();
    let mut problems = Vec::new();
    for (i, place) in ["refs", "refs/code", "refs/code/ppo", "runs", "runs/r1"]
        .iter()
        .enumerate()
    {
        for as_dir in [false, true] {
            let store = tmp.path().join(format!("copy{i}-{as_dir}"));
            fs::create_dir_all(&store).unwrap();
            copy_missing(&pristine, &store);
            let stray = store.join(place).join(".DS_Store");
            if as_dir {
                fs::create_dir(&stray).unwrap();
            } else {
                fs::write(&stray, b"\0\0\0\x01Bud1").unwrap();
            }
            let what = format!(
                "{place}/.DS_Store as a {}",
                if as_dir { "directory" } else { "file" }
            );
            let mut cmds: Vec<_> = commands.iter().map(|a| codever_cmd(&store, a)).collect();
            cmds.push(codever_cmd(&store, &["--json", "fsck"]));
            let done = run_all_within(cmds, DEADLINE);
            for (f, want) in done.iter().zip(&expected) {
                if f.code() != Some(0) {
                    problems.push(format!("{what}: {}", f.describe()));
                } else if f.stdout_text() != *want {
                    problems.push(format!("{what}: {} printed something else", f.what));
                }
            }
            let fsck = &done[3];
            if fsck.code() != Some(0) {
                problems.push(format!("{what}: {}", fsck.describe()));
                continue;
            }
            let report: serde_json::Value = serde_json::from_slice(&fsck.stdout).unwrap();
            let listed = report["stray"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| Path::new(p.as_str().unwrap()).starts_with(&stray));
            if !listed || report["ok"] != true {
                problems.push(format!("{what}: fsck reported {report}"));
            }
        }
    }
    assert_no_problems(problems);
}

#[test]
fn links_inside_the_store_never_let_a_command_delete_outside_it() {
    // Clean-ups (old temp files on open, packs without an index on repair) run on a store that
    // may come from elsewhere with `local/` and links in it.
    let (tmp, store) = base();
    let victim = tmp.path().join("victim");
    fs::create_dir_all(&victim).unwrap();
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86400);
    for name in ["thesis.tex", "old.pack"] {
        let p = victim.join(name);
        fs::write(&p, b"precious\n").unwrap();
        set_mtime(&p, two_days_ago);
    }
    fs::remove_dir_all(store.join("local/tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, store.join("local/tmp")).unwrap();
    for args in [&["list"][..], &["fsck", "--repair"]] {
        let f = run_within(codever_cmd(&store, args), DEADLINE);
        assert_eq!(f.code(), Some(0), "{}", f.describe());
    }
    // packs/ itself a link to a folder holding an old, index-less pack.
    let packs = store.join("packs");
    let kept = tmp.path().join("packs-kept");
    fs::rename(&packs, &kept).unwrap();
    std::os::unix::fs::symlink(&victim, &packs).unwrap();
    let f = run_within(codever_cmd(&store, &["fsck", "--repair"]), DEADLINE);
    assert!(f.code().is_some(), "{}", f.describe());
    assert_eq!(fs::read(victim.join("thesis.tex")).unwrap(), b"precious\n");
    assert_eq!(fs::read(victim.join("old.pack")).unwrap(), b"precious\n");
}

#[test]
fn a_tree_naming_one_subtree_many_times_is_refused_not_expanded() {
    // 20 levels, each naming the level below four times: 21 objects, 4^20 paths.
    let (tmp, root) = base();
    let store = Store::open(&root).unwrap();
    let leaf = write_blob(&store, b"x = 1\n");
    let mut t = write_tree(&store, vec![file_entry("x.py", leaf)]);
    for _ in 0..20 {
        t = write_tree(
            &store,
            ["a", "b", "c", "d"].map(|n| dir_entry(n, t)).to_vec(),
        );
    }
    forge_version(&store, "code/bomb", "f1", t, &[("a/x.py", leaf)], now_ns());
    let into = tmp.path().join("out");
    let checkout = codever_limited(
        &root,
        &["checkout", "bomb", "--into", into.to_str().unwrap()],
    );
    let done = run_all_within(
        vec![
            codever_limited(&root, &["show", "bomb"]),
            codever_limited(&root, &["cat", "bomb", "a/x.py"]),
            checkout,
            codever_limited(&root, &["diff", "ppo", "bomb"]),
            codever_limited(&root, &["log", "bomb"]),
            codever_limited(&root, &["fsck"]),
            codever_limited(&root, &["versions", "bomb"]),
        ],
        DEADLINE,
    );
    let mut problems = Vec::new();
    // A listing needs no expansion: it must answer.
    expect_code(&done[6], &[0], &mut problems);
    for f in &done[..5] {
        expect_code(f, &[2], &mut problems);
        if !String::from_utf8_lossy(&f.stderr).contains("expands to more than 1000000") {
            problems.push(format!(
                "{}: {}",
                f.what,
                String::from_utf8_lossy(&f.stderr)
            ));
        }
    }
    expect_code(&done[5], &[1], &mut problems);
    if !done[5]
        .stdout_text()
        .contains("expands to more than 1000000")
    {
        problems.push(format!("fsck: {}", done[5].stdout_text()));
    }
    assert_no_problems(problems);
}

#[test]
fn huge_sparse_store_files_are_refused_without_being_read() {
    let (tmp, root) = base();
    let record = commit_record_of(&root, "r1");
    // A commit record grown to a sparse 10 GiB, and a sparse 2 GiB pack index.
    fs::File::options()
        .write(true)
        .open(object_path(&root, record))
        .unwrap()
        .set_len(10 << 30)
        .unwrap();
    let idx = root.join("packs").join(format!("{}.idx", "ab".repeat(32)));
    let mut head = b"CDVX\x01".to_vec();
    head.extend_from_slice(&[0xab; 32]);
    head.extend_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&idx, &head).unwrap();
    fs::File::options()
        .write(true)
        .open(&idx)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let done = run_all_within(
        vec![
            codever_limited(&root, &["list"]),
            codever_limited(&root, &["versions", "ppo"]),
            codever_limited(&root, &["cat", "ppo", "ppo.py"]),
            codever_limited(&root, &["fsck"]),
        ],
        DEADLINE,
    );
    let mut problems = Vec::new();
    // Listings answer (marking the artifact incomplete); reading a number is refused; fsck
    // reports the record as corrupt.
    expect_code(&done[0], &[0], &mut problems);
    expect_code(&done[1], &[0], &mut problems);
    expect_code(&done[2], &[2], &mut problems);
    expect_code(&done[3], &[1], &mut problems);
    if !done[3]
        .stdout_text()
        .contains("more than such an object can be stored in")
    {
        problems.push(format!("fsck: {}", done[3].stdout_text()));
    }
    assert_no_problems(problems);
    drop(tmp);
}

#[test]
fn a_damaged_format_file_is_an_error_never_a_reason_to_use_a_store_further_up() {
    let (tmp, outer) = base();
    let inner = tmp.path().join("proj");
    let format = init_at(&inner).join("format");
    fs::remove_file(&format).unwrap();
    fs::create_dir(&format).unwrap();
    write(&inner, "f.py", b"f = 1\n");
    // A commit from inside the project, finding its store by walking up.
    let commit = || {
        let mut cmd = codever_process();
        cmd.current_dir(&inner)
            .args(["commit", "f", "--type", "code", "f.py", "--run", "r9"]);
        run_within(cmd, DEADLINE)
    };
    let f = commit();
    assert_eq!(f.code(), Some(2), "{}", f.describe());
    assert!(!outer.join("refs/code/f").exists());
    // No format file at all (a copy that has not brought it yet): the same.
    fs::remove_dir(&format).unwrap();
    let f = commit();
    assert_eq!(f.code(), Some(2), "{}", f.describe());
    assert!(String::from_utf8_lossy(&f.stderr).contains("no `format` file"));
    assert!(!outer.join("refs/code/f").exists());
}
