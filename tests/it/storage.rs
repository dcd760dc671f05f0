//! Storage for speed and size: packs, deltas, the stat cache. Behaviour must not change.

use std::fs;
use std::path::Path;

use codever::object::{Kind, MAX_DELTA_DEPTH};
use codever::{CommitOptions, Snapshot, Spec, Store, capture_run};

use crate::common::{
    artifact, assert_fsck_clean, commit_dir, commit_json, commit_ok, copy_missing, init_at,
    init_store, json, lib_store, pack_files, read_tree, rewrite, run_any, run_err, run_ok,
    set_mtime, write,
};

fn files_in(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn a_large_commit_is_one_pack_and_reads_back_identically() {
    let (tmp, store) = lib_store();
    let src = tmp.path().join("src");
    for i in 0..100 {
        write(
            &src,
            &format!("pkg{}/m{i}.py", i % 7),
            format!("x = {i}\n").as_bytes(),
        );
    }
    let o = commit_dir(&store, "code/repo", &src, "r1");
    let packs = store.root().join("packs");
    assert_eq!(files_in(&packs), 2, "one .pack and one .idx");
    // Only the run and commit records are loose.
    let loose: usize = fs::read_dir(store.root().join("objects"))
        .unwrap()
        .map(|d| files_in(&d.unwrap().path()))
        .sum();
    assert_eq!(loose, 2);
    let out = tmp.path().join("out");
    store.checkout(&o.tree, &out, false).unwrap();
    assert_eq!(read_tree(&out), read_tree(&src));
    let r = store.fsck().unwrap();
    assert!(r.corrupt.is_empty() && r.missing.is_empty(), "{r:?}");
    assert_eq!(r.objects, 100 + 8 + 2); // blobs, trees, records
}

#[test]
fn a_damaged_pack_is_corruption_and_a_missing_one_is_not_yet_synced() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    for i in 0..40 {
        write(
            &src,
            &format!("m{i:02}.py"),
            format!("value = {i}\n").repeat(20).as_bytes(),
        );
    }
    commit_ok(&store, "code/repo", &src, "r");
    let pack = pack_files(&store).remove(0);

    // Damage one byte of the first entry's payload: blobs are staged before trees, so it is a
    // blob (pack header 5 bytes, entry length 4, object header 7).
    let good = rewrite(&pack, |bytes| bytes[5 + 4 + 7 + 6] ^= 0x40);
    let (code, text, _) = run_any(&store, &["fsck"]);
    assert_eq!(code, 1);
    assert!(text.contains("does not hash to its name"), "{text}");
    // The damaged object is never served; the others still are, byte for byte.
    let mut refused = 0;
    for i in 0..40 {
        let (code, stdout, stderr) = run_any(&store, &["cat", "repo", &format!("m{i:02}.py")]);
        if code == 0 {
            assert_eq!(stdout, format!("value = {i}\n").repeat(20));
        } else {
            assert_eq!(code, 2, "{stderr}");
            assert!(stderr.contains("is corrupt"), "{stderr}");
            assert_eq!(stdout, "");
            refused += 1;
        }
    }
    assert_eq!(refused, 1);

    // The index arrived, the pack did not: missing, not corrupt.
    fs::remove_file(&pack).unwrap();
    let f = json(&store, &["fsck"]);
    assert_eq!(f["corrupt"].as_array().unwrap().len(), 0, "{f}");
    assert!(!f["missing"].as_array().unwrap().is_empty(), "{f}");
    let err = run_err(&store, &["cat", "repo", "m00.py"]);
    assert!(err.contains("not yet synced"), "{err}");
    // It arrives: all is well again.
    fs::write(&pack, &good).unwrap();
    assert_fsck_clean(&store, "the pack arrived");
}

#[test]
fn edits_are_stored_as_deltas_with_bounded_chains() {
    let (tmp, store) = lib_store();
    let src = tmp.path().join("src");
    let mut body: String = (0..300)
        .map(|i| format!("    w{i} = layer({i}, {})\n", i * 37 % 101))
        .collect();
    let mut contents = Vec::new();
    for v in 0..(usize::from(MAX_DELTA_DEPTH) + 6) {
        body.push_str(&format!("    extra_{v} = {v}\n"));
        write(&src, "model.py", body.as_bytes());
        let o = commit_dir(&store, "code/repo", &src, &format!("r{v}"));
        assert_eq!(o.version, Some(v));
        contents.push(body.clone());
    }
    let codever::Resolved { history: h, .. } =
        store.resolve(&Spec::parse("repo").unwrap()).unwrap();
    let mut depths = Vec::new();
    for (v, content) in h.versions.iter().zip(&contents) {
        let files = codever::flatten(&store, &v.tree).unwrap();
        let id = files[0].meta.id;
        assert_eq!(store.read_blob(&id).unwrap(), content.as_bytes());
        depths.push(store.object_header(&id).unwrap().base.map_or(0, |b| b.1));
    }
    assert_eq!(depths[0], 0);
    assert_eq!(depths[1], 1);
    assert!(depths.iter().all(|d| *d <= MAX_DELTA_DEPTH), "{depths:?}");
    assert!(depths.contains(&MAX_DELTA_DEPTH), "{depths:?}");
    // A chain that reached the cap starts again from a whole object.
    assert!(
        depths
            .windows(2)
            .any(|w| w[0] == MAX_DELTA_DEPTH && w[1] == 0),
        "{depths:?}"
    );
    assert!(store.fsck().unwrap().corrupt.is_empty());
}

#[test]
fn a_delta_whose_base_has_not_arrived_is_not_yet_synced() {
    let (tmp, store) = lib_store();
    let src = tmp.path().join("src");
    let base: String = (0..100)
        .map(|i| format!("line {i} {}\n", i * 13 % 7))
        .collect();
    write(&src, "a.py", base.as_bytes());
    commit_dir(&store, "code/repo", &src, "r0");
    write(&src, "a.py", format!("{base}more\n").as_bytes());
    commit_dir(&store, "code/repo", &src, "r1");
    let base_id = codever::ObjectId::compute(Kind::Blob, base.as_bytes());
    fs::remove_file(store.object_path(&base_id)).unwrap();
    // As another process (or machine) sees the store.
    let store = Store::open(store.root()).unwrap();
    let codever::Resolved { history: h, .. } =
        store.resolve(&Spec::parse("repo:v1").unwrap()).unwrap();
    let files = codever::flatten(&store, &h.versions[1].tree).unwrap();
    assert!(matches!(
        store.read_blob(&files[0].meta.id),
        Err(codever::Error::MissingObject { .. })
    ));
    let r = store.fsck().unwrap();
    assert!(r.corrupt.is_empty(), "{r:?}");
    assert_eq!(r.missing.len(), 1);
    assert_eq!(r.missing[0].id, base_id);
}

/// An edit in the same timestamp tick as the previous commit's read must still be seen, even
/// with the size and mtime made identical.
#[test]
fn the_stat_cache_never_hides_an_edit() {
    let (tmp, store) = lib_store();
    let src = tmp.path().join("src");
    write(&src, "a.py", b"lr = 1\n");
    let mtime = fs::metadata(src.join("a.py")).unwrap().modified().unwrap();
    assert_eq!(commit_dir(&store, "code/repo", &src, "r0").version, Some(0));
    // Same size, same mtime, new content, right away.
    write(&src, "a.py", b"lr = 2\n");
    set_mtime(&src.join("a.py"), mtime);
    let o = commit_dir(&store, "code/repo", &src, "r1");
    assert_eq!((o.version, o.new), (Some(1), true));

    // An old file: its entry is trusted while nothing changes, and an edit is still seen.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    write(&src, "b.py", b"hidden = 64\n");
    set_mtime(&src.join("b.py"), old);
    set_mtime(&src.join("a.py"), old);
    let o = commit_dir(&store, "code/repo", &src, "r2");
    assert!(o.new);
    assert!(!commit_dir(&store, "code/repo", &src, "r3").new);
    write(&src, "b.py", b"hidden = 32\n");
    set_mtime(&src.join("b.py"), old);
    let o = commit_dir(&store, "code/repo", &src, "r4");
    assert!(o.new);
    let files = codever::flatten(&store, &o.tree).unwrap();
    assert_eq!(
        store.read_blob(&files[1].meta.id).unwrap(),
        b"hidden = 32\n"
    );
}

#[test]
fn packed_forks_merge_without_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let base_store = init_at(&tmp.path().join("base"));
    let src = tmp.path().join("src");
    for i in 0..30 {
        write(&src, &format!("m{i}.py"), format!("v = {i}\n").as_bytes());
    }
    commit_ok(&base_store, "code/repo", &src, "r0");
    let mut sources = vec![read_tree(&src)];
    let (m1, m2) = (tmp.path().join("m1"), tmp.path().join("m2"));
    for m in [&m1, &m2] {
        fs::create_dir_all(m).unwrap();
        copy_missing(&base_store, m);
    }
    for (m, tag) in [(&m1, "one"), (&m2, "two")] {
        let s = tmp.path().join(tag);
        for i in 0..30 {
            write(
                &s,
                &format!("m{i}.py"),
                format!("v = {i} # {tag}\n").as_bytes(),
            );
        }
        commit_ok(m, "code/repo", &s, tag);
        sources.push(read_tree(&s));
    }
    let copy = tmp.path().join("m1copy");
    fs::create_dir_all(&copy).unwrap();
    copy_missing(&m1, &copy);
    copy_missing(&m2, &m1);
    copy_missing(&copy, &m2);
    assert_eq!(
        json(&m1, &["versions", "repo"]),
        json(&m2, &["versions", "repo"])
    );
    assert_eq!(
        json(&m1, &["versions", "repo"]).as_array().unwrap().len(),
        3
    );
    assert_fsck_clean(&m1, "m1 after the merge");
    assert_fsck_clean(&m2, "m2 after the merge");
    // Every version, on both machines, is byte for byte what was committed (the two forks'
    // commits were made at nearly the same time: which one is v1 is decided by time and id,
    // the same way on both).
    let listed = json(&m1, &["versions", "repo"]);
    for m in [&m1, &m2] {
        for v in listed.as_array().unwrap() {
            let id = v["id"].as_str().unwrap();
            let files = crate::common::checked_out(m, &format!("repo@{}", &id[..12]));
            let n = v["version"].as_u64().unwrap() as usize;
            let run = v["runs"][0].as_str().unwrap();
            let want = match run {
                "r0" => &sources[0],
                "one" => &sources[1],
                "two" => &sources[2],
                other => panic!("unexpected run {other}"),
            };
            assert!(files == *want, "v{n} ({run}) on {}", m.display());
        }
    }
}

#[test]
fn progress_is_reported_for_every_file() {
    use std::sync::{Arc, Mutex};
    let (tmp, store) = lib_store();
    let src = tmp.path().join("src");
    for i in 0..25 {
        write(&src, &format!("m{i}.py"), format!("x = {i}\n").as_bytes());
    }
    let seen: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let s2 = Arc::clone(&seen);
    let opts = CommitOptions {
        progress: Some(codever::Progress(Arc::new(move |d, t| {
            s2.lock().unwrap().push((d, t))
        }))),
        ..CommitOptions::default()
    };
    let mut s = Snapshot::default();
    s.add_dir(&src, None).unwrap();
    store
        .commit(
            &artifact("t/n"),
            &s,
            &capture_run("r", Path::new("/")).unwrap(),
            &opts,
        )
        .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), 25);
    assert!(seen.iter().all(|&(_, t)| t == 25));
    assert_eq!(seen.last(), Some(&(25, 25)));
}

#[test]
fn files_that_shrink_or_grow_between_versions_read_back_from_their_deltas() {
    // A delta's base is the previous version of the file: larger or smaller than the file itself.
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let lines = |n: usize| -> String { (1..=n).map(|i| format!("x_{i} = {i}\n")).collect() };
    // 20 files (a pack) and one more commit of 1 file (loose), each shrinking, then growing.
    let sizes = [1000, 900, 950, 10];
    for (round, n) in sizes.iter().enumerate() {
        for f in 0..20 {
            write(&src, &format!("m{f}.py"), lines(n + f).as_bytes());
        }
        let run = format!("r{round}");
        assert_eq!(
            commit_json(&store, "code/lib", &src, &run)["version"],
            round
        );
        write(&tmp.path().join("one"), "a.py", lines(*n).as_bytes());
        commit_ok(&store, "code/a", tmp.path().join("one/a.py"), &run);
    }
    for (v, n) in sizes.iter().enumerate() {
        assert_eq!(
            run_ok(&store, &["cat", &format!("a:v{v}"), "a.py"]),
            lines(*n)
        );
        assert_eq!(
            run_ok(&store, &["cat", &format!("lib:v{v}"), "m7.py"]),
            lines(n + 7)
        );
        let out = tmp.path().join(format!("co{v}"));
        run_ok(
            &store,
            &[
                "checkout",
                &format!("lib:v{v}"),
                "--into",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(
            fs::read_to_string(out.join("m19.py")).unwrap(),
            lines(n + 19)
        );
    }
    assert_fsck_clean(&store, "after shrinking and growing");
}
