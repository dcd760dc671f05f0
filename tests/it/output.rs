//! Writing the output: a write error (a full disk, `> /dev/full`) exits 2 with one line naming
//! it, never 0 with truncated output; a reader that goes away (`| head -1`) is not an error.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::{codever_cmd, commit_ok, file_names, init_store, rewrite, write};

/// A store with artifact `t/a`: v0 holds `big.txt` (1 MiB, more than a pipe buffer) and `a.py`,
/// v1 changes `a.py`.
fn store() -> (tempfile::TempDir, PathBuf) {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let big: String = (0..1 << 20)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    write(&src, "big.txt", big.as_bytes());
    for (run, body) in [("r1", "a = 1\n"), ("r2", "a = 2\n")] {
        write(&src, "a.py", body.as_bytes());
        commit_ok(&store, "t/a", &src, run);
    }
    (tmp, store)
}

/// Commands whose output is small (written only by the final flush) or large.
const COMMANDS: [&[&str]; 11] = [
    &["list"],
    &["--json", "list"],
    &["runs"],
    &["versions", "a"],
    &["--json", "versions", "a"],
    &["show", "a"],
    &["cat", "a:v0", "a.py"],
    &["cat", "a:v0", "big.txt"],
    &["diff", "a:v0", "a:v1"],
    &["log", "a"],
    &["blame", "a", "big.txt"],
];

#[test]
fn a_full_device_is_an_error_for_every_command() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let (_tmp, store) = store();
    let mut commands: Vec<Vec<&str>> = COMMANDS.iter().map(|c| c.to_vec()).collect();
    commands.push(vec!["fsck"]);
    for args in commands {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = codever_cmd(&store, &args).stdout(full).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let (error, hint) = (
            "cannot write to standard output: No space left on device (os error 28)",
            "free some space on that disk, then run the command again",
        );
        let expected = if args.contains(&"--json") {
            format!(
                "{}\n",
                serde_json::json!({"error": error, "hint": hint, "kind": "io"})
            )
        } else {
            format!("error: {error}\nhint: {hint}\n")
        };
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{args:?}");
    }
    // clap's own output (help) too.
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = codever_cmd(&store, &["--help"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot write to standard output: No space left on device (os error 28)\n\
         hint: free some space on that disk, then run the command again\n"
    );
}

/// Runs a command whose stdout is a pipe nobody reads any more (the reader closed it before the
/// command wrote anything): every write gets EPIPE.
fn with_closed_pipe(store: &Path, args: &[&str]) -> std::process::Output {
    let mut child = codever_cmd(store, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_is_quiet_and_keeps_the_exit_code() {
    let (_tmp, store) = store();
    for args in COMMANDS.iter().chain([&["--help"][..]].iter()) {
        let out = with_closed_pipe(&store, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
    // A reader that takes the first line and leaves (`codever cat … | head -1`).
    let mut child = codever_cmd(&store, &["cat", "a:v0", "big.txt"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 26];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(&first, b"abcdefghijklmnopqrstuvwxyz");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // The exit code is the command's own: fsck piped into `head` still fails on corruption.
    let fan = store
        .join("objects")
        .join(&file_names(&store.join("objects"))[0]);
    let victim = fan.join(&file_names(&fan)[0]);
    rewrite(&victim, |bytes| *bytes.last_mut().unwrap() ^= 1);
    let out = with_closed_pipe(&store, &["fsck"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// On a terminal, long-output commands go through a pager as git's do: `$CODEVER_PAGER`, else
/// `$PAGER`; `--no-pager`, an empty pager or `cat`, or output that is not a terminal, print
/// directly. Runs the CLI on a pseudo-terminal (`script`).
#[cfg(unix)]
#[test]
fn long_output_is_paged_on_a_terminal_only() {
    let (_tmp, store) = store();
    let bin = assert_cmd::cargo::cargo_bin!("codever");
    let on_terminal = |env: &[(&str, &str)], args: &str| -> String {
        let cmd = format!("'{}' --store '{}' {args}", bin.display(), store.display());
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env_remove("CODEVER_PAGER")
            .env_remove("PAGER")
            .env("NO_COLOR", "1")
            .env("TERM", "xterm");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().replace("\r\n", "\n")
    };
    let marked = [("PAGER", "sed 's/^/paged: /'")];
    let paged = on_terminal(&marked, "versions a");
    assert!(paged.starts_with("paged: t/a\npaged: v0 "), "{paged:?}");
    assert_eq!(paged.lines().count(), 3, "{paged:?}");
    assert!(paged.lines().all(|l| l.starts_with("paged: ")), "{paged:?}");
    // CODEVER_PAGER wins over PAGER.
    let ours = on_terminal(
        &[
            ("PAGER", "sed 's/^/paged: /'"),
            ("CODEVER_PAGER", "sed 's/^/ours: /'"),
        ],
        "log a",
    );
    assert!(ours.starts_with("ours: v1 "), "{ours:?}");
    // Not paged: --no-pager, `cat`, an empty pager, a command that is not a listing.
    for (env, args) in [
        (&marked[..], "--no-pager versions a"),
        (&[("PAGER", "cat")][..], "versions a"),
        (
            &[("CODEVER_PAGER", ""), ("PAGER", "sed 's/^/paged: /'")][..],
            "versions a",
        ),
        (&marked[..], "cat a:v0 a.py"),
    ] {
        let text = on_terminal(env, args);
        assert!(!text.contains("paged: "), "{args}: {text:?}");
    }
    // Not a terminal: never paged.
    let piped = codever_cmd(&store, &["versions", "a"])
        .env("PAGER", "sed 's/^/paged: /'")
        .output()
        .unwrap();
    assert!(
        String::from_utf8(piped.stdout)
            .unwrap()
            .starts_with("t/a\n")
    );
}

/// Text output shows what the store holds, and a store may come from another machine: a run's
/// config, summary and host, or a commit message, holding terminal escape sequences (clear the
/// screen, retitle the window, a C1 CSI, a carriage return that rewrites a line) must reach a
/// terminal as visible escapes, in text, in JSON (same values once parsed) and in errors. File
/// contents stay byte-exact (`cat`), and codever's own colours still colour.
#[test]
fn stored_control_characters_are_shown_escaped_never_obeyed_by_the_terminal() {
    let (_tmp, lib) = crate::common::lib_store();
    let hostile = "\u{1b}[2J\u{1b}]0;pwned\u{7}x\u{9b}31m\rOK\u{202e}\u{1b}[31m\u{0}";
    // What a user can type (an argument holds no NUL).
    let typed = hostile.trim_end_matches('\0');
    crate::common::commit_snapshot(
        &lib,
        "t/a",
        &crate::common::snapshot(&[("a.py", hostile.as_bytes(), false)]),
        "r1",
    );
    let state = codever::RunStateRecord {
        run: "r1".into(),
        time_ns: crate::common::now_ns(),
        host: format!("host{hostile}"),
        name: String::new(),
        job_type: String::new(),
        group: String::new(),
        config: serde_json::json!({ "lr": hostile }).to_string(),
        summary: serde_json::json!({ format!("k{typed}"): 1 }).to_string(),
        ranges: "{}".into(),
        steps: 0,
        finished: true,
        exit_code: None,
    };
    lib.save_run_state(&state).unwrap();
    let store = lib.root().to_path_buf();
    let shown = r"\x1b[2J\x1b]0;pwned\x07x\u{9b}31m\rOK\u{202e}\x1b[31m\x00";
    let raw = |s: &[u8]| {
        s.iter()
            .any(|&b| b == 0x1b || b == 0x07 || b == b'\r' || b == 0)
            || s.windows(2).any(|w| w == [0xc2, 0x9b])
            || s.windows(3).any(|w| w == "\u{202e}".as_bytes())
    };
    for args in [
        &["runs", "show", "r1"][..],
        &["--color=never", "runs", "show", "r1"],
        &["runs", "--show", &format!("k{typed}")],
    ] {
        let out = crate::common::output(&store, args);
        assert!(out.status.success(), "{args:?}");
        assert!(!raw(&out.stdout), "{args:?} sent control bytes: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        // (the summary key has no NUL: an argument cannot hold one)
        let shown = if args[0] == "runs" && args[1] == "--show" {
            shown.trim_end_matches(r"\x00")
        } else {
            shown
        };
        assert!(
            text.contains(shown),
            "{args:?} does not show the value: {text}"
        );
    }
    let out = crate::common::output(&store, &["--json", "runs", "show", "r1"]);
    assert!(!raw(&out.stdout), "JSON sent control bytes: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config"]["lr"], hostile, "JSON changed the value: {v:#}");
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains(r"\u009b31m"),
        "C1 escaped as JSON"
    );
    // A file's bytes are the file's bytes.
    let out = crate::common::output(&store, &["cat", "a:v0", "a.py"]);
    assert_eq!(out.stdout, hostile.as_bytes());
    // An error naming what the user typed.
    let (code, stdout, stderr) =
        crate::common::run_any(&store, &["cat", "a:v0", &format!("b{typed}.py")]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(
        !raw(stderr.as_bytes()),
        "stderr sent control bytes: {stderr:?}"
    );
    // With colour on, a stored colour code can colour (nothing else passes); codever's own
    // colours are kept.
    let out = crate::common::output(&store, &["--color=always", "runs", "show", "r1"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\\x1b[2J\\x1b]0;pwned\\x07x\\u{9b}31m\\rOK\\u{202e}\u{1b}[31m\\x00"),
        "{text:?}"
    );
    let out = crate::common::output(&store, &["--color=always", "versions", "a"]);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("\u{1b}[33mv0   \u{1b}[m"),
        "own colours lost"
    );
}
