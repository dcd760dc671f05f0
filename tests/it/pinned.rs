//! Behaviour that mutation testing found unpinned (issue 16): each test fails when the library
//! or the CLI is changed to skip the behaviour it names.

use std::fs;

use crate::common::*;

/// `commit -m` records the message, and `show` prints it (text and JSON).
#[test]
fn commit_messages_are_recorded_and_shown() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    write(&src, "a.py", b"a = 1\n");
    run_ok(
        &store,
        &[
            "commit",
            "m",
            "--type",
            "code",
            src.to_str().unwrap(),
            "-m",
            "first try",
            "--run",
            "r1",
        ],
    );
    assert_eq!(json(&store, &["show", "m"])["message"], "first try");
    assert!(run_ok(&store, &["show", "m"]).contains("\nmessage  first try\n"));
}

/// A file that is a symbolic link to a file is captured with the content it points at.
#[cfg(unix)]
#[test]
fn symlinked_files_are_captured_with_their_target_content() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    write(&src, "real.py", b"lr = 3e-4\n");
    std::os::unix::fs::symlink(src.join("real.py"), src.join("link.py")).unwrap();
    commit_ok(&store, "code/m", &src, "r1");
    let files = json(&store, &["show", "m"])["files"].clone();
    let paths: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["link.py", "real.py"]);
    assert_eq!(files[0]["blake3"], files[1]["blake3"]);
    assert_eq!(
        checked_out(&store, "m")[0],
        ("link.py".to_string(), b"lr = 3e-4\n".to_vec())
    );
}

fn two_versions(
    v0: &[(&str, &[u8])],
    v1: &[(&str, &[u8])],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, store) = init_store();
    for (i, files) in [v0, v1].iter().enumerate() {
        let src = tmp.path().join(format!("v{i}"));
        fs::create_dir_all(&src).unwrap();
        for (p, c) in files.iter() {
            write(&src, p, c);
        }
        commit_ok(&store, "code/m", &src, &format!("r{i}"));
    }
    (tmp, store)
}

/// Empty files are never paired as renames: any empty file would match any other.
#[test]
fn an_empty_file_deleted_and_another_added_is_not_a_rename() {
    let (_tmp, store) = two_versions(
        &[("a.txt", b""), ("k.py", b"k = 1\n")],
        &[("b.txt", b""), ("k.py", b"k = 1\n")],
    );
    assert_eq!(
        run_ok(&store, &["diff", "m:v0", "m:v1", "--name-status"]),
        "D\ta.txt\nA\tb.txt\n"
    );
}

/// `--no-renames` turns off pairing by similarity (exact renames are still found).
#[test]
fn no_renames_shows_an_edited_move_as_a_deletion_and_an_addition() {
    let body: Vec<u8> = (0..20)
        .map(|i| format!("x{i} = {i}\n"))
        .collect::<String>()
        .into_bytes();
    let mut edited = body.clone();
    edited.extend_from_slice(b"y = 1\n");
    let (_tmp, store) = two_versions(
        &[("old.py", &body), ("same.py", b"s = 1\n")],
        &[("new.py", &edited), ("moved.py", b"s = 1\n")],
    );
    assert_eq!(
        run_ok(&store, &["diff", "m:v0", "m:v1", "--name-status"]),
        "R100\tsame.py\tmoved.py\nR096\told.py\tnew.py\n"
    );
    assert_eq!(
        run_ok(
            &store,
            &["diff", "m:v0", "m:v1", "--name-status", "--no-renames"]
        ),
        "R100\tsame.py\tmoved.py\nA\tnew.py\nD\told.py\n"
    );
}

/// Colour: on a terminal a patch is coloured unless `NO_COLOR` is set (https://no-color.org).
/// Runs the CLI on a pseudo-terminal (`script`).
#[cfg(unix)]
#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let (_tmp, store) = two_versions(&[("a.py", b"a = 1\n")], &[("a.py", b"a = 2\n")]);
    let on_terminal = |no_color: bool| -> String {
        let bin = assert_cmd::cargo::cargo_bin!("codever");
        let cmd = format!(
            "'{}' --store '{}' diff m:v0 m:v1",
            bin.display(),
            store.display()
        );
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env_remove("NO_COLOR")
            .env_remove("CODEVER_PAGER")
            .env("PAGER", "cat")
            .env("TERM", "xterm");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let coloured = on_terminal(false);
    assert!(coloured.contains("\x1b[31m-a = \x1b[7m1"), "{coloured:?}");
    let plain = on_terminal(true);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(plain.contains("-a = 1\r\n+a = 2\r\n"), "{plain:?}");
}
