//! `codever diff --html`: the compare page of every diff form, asserted on its markup (counts,
//! statuses, line numbers, changed words), and escaping of hostile names and contents.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{commit_ok, fixture, init_store, output, run_any, write};

/// code/safelife v0..v3 from the fixture's four steps by runs r1..r4, and ppo by the same runs.
fn fixture_store() -> (tempfile::TempDir, PathBuf) {
    let (tmp, store) = init_store();
    for (i, v) in ["baseline", "ppo-lr", "layernorm", "tuned"]
        .iter()
        .enumerate()
    {
        let run = format!("r{}", i + 1);
        commit_ok(&store, "code/safelife", fixture(v), &run);
        commit_ok(
            &store,
            "rl_algo_code/ppo",
            fixture(v).join("training/ppo.py"),
            &run,
        );
    }
    (tmp, store)
}

/// Runs `diff ARGS --html FILE` and returns the page, asserting the command's output.
fn html_file(store: &Path, args: &[&str]) -> String {
    html_file_at(store, args, &store.parent().unwrap().join("page.html"))
}

/// Runs `diff ARGS --html FILE` to `file` and returns the page, asserting the command's output.
fn html_file_at(store: &Path, args: &[&str], file: &Path) -> String {
    let mut all: Vec<&str> = args.to_vec();
    let arg = format!("--html={}", file.display());
    all.push(&arg);
    let (code, stdout, stderr) = run_any(store, &all);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert_eq!(stderr, format!("wrote {}\n", file.display()));
    fs::read_to_string(file).unwrap()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Every `<script` and `</script` of a page: only codever's own one.
fn assert_only_own_script(page: &str) {
    assert_eq!(count(page, "<script"), 1, "one script element");
    assert_eq!(count(page, "</script"), 1, "one script end");
    assert!(!page.contains("<img"), "no element from the store");
}

#[test]
fn two_versions_summary_tree_and_files() {
    let (_tmp, store) = fixture_store();
    let page = html_file(&store, &["diff", "code/safelife:v0", "code/safelife:v3"]);
    assert!(page.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    assert!(page.contains("<title>code/safelife:v0 → code/safelife:v3 · codever</title>"));
    assert!(page.contains(
        "<span class=\"cdv-nfiles\">3 files changed</span> <span class=\"cdv-plus\">+5</span> \
         <span class=\"cdv-minus\">−1</span>"
    ));
    assert_eq!(count(&page, "<div class=\"cdv-file\""), 3);
    for (i, (path, status, add, del)) in [
        ("training/dqn.py", "modified", 1, 1),
        ("training/models.py", "modified", 1, 0),
        ("training/utils.py", "added", 3, 0),
    ]
    .iter()
    .enumerate()
    {
        assert!(
            page.contains(&format!(
                "<li data-status=\"{status}\"><span class=\"cdv-st\">{}</span> <a href=\"#{path}\">{path}</a> \
                 <span class=\"cdv-plus\">+{add}</span> <span class=\"cdv-minus\">−{del}</span></li>",
                &status[..1].to_uppercase()
            )),
            "{path} in the tree"
        );
        assert!(
            page.contains(&format!(
                "<div class=\"cdv-file\" id=\"file-{i}\" data-path=\"{path}\" data-status=\"{status}\">"
            )),
            "{path}'s section"
        );
    }
    // Every line of the diff, numbered on its sides; the added file has no unchanged lines.
    assert_eq!(count(&page, "<tr class=\"cdv-l cdv-a\">"), 5);
    assert_eq!(count(&page, "<tr class=\"cdv-l cdv-d\">"), 1);
    assert!(page.contains(
        "<tr class=\"cdv-l cdv-a\"><td class=\"cdv-n\"></td><td class=\"cdv-n\" data-n=\"1\"></td>\
         <td class=\"cdv-code\"><span class=\"k\">def</span> <span class=\"f\">explained_variance</span>"
    ));
    assert_only_own_script(&page);
}

#[test]
fn changed_words_are_marked_and_unchanged_lines_are_expandable() {
    let (_tmp, store) = fixture_store();
    let page = html_file(&store, &["diff", "ppo:v0", "ppo:v1"]);
    assert!(page.contains(
        "<tr class=\"cdv-l cdv-d\"><td class=\"cdv-n\" data-n=\"7\"></td><td class=\"cdv-n\"></td>\
         <td class=\"cdv-code\">    clip_eps <span class=\"k\">=</span> <span class=\"n\">0.</span>\
         <mark><span class=\"n\">2</span></mark></td></tr>\
         <tr class=\"cdv-l cdv-a\"><td class=\"cdv-n\"></td><td class=\"cdv-n\" data-n=\"7\"></td>\
         <td class=\"cdv-code\">    clip_eps <span class=\"k\">=</span> <span class=\"n\">0.</span>\
         <mark><span class=\"n\">1</span></mark></td></tr>"
    ));
    // The hunk header with git's function context, and the 1 line above it behind its buttons.
    assert!(page.contains("<td class=\"cdv-hh\">@@ -2,9 +2,9 @@ import torch</td></tr>"));
    assert!(page.contains("title=\"Show 1 hidden line\">↕ 1</button>"));
    assert!(page.contains(
        "<template class=\"cdv-g\" data-gap=\"0\"><tr class=\"cdv-l cdv-c\"><td class=\"cdv-n\" \
         data-n=\"1\"></td><td class=\"cdv-n\" data-n=\"1\"></td><td class=\"cdv-code\">\
         <span class=\"k\">import</span> torch</td></tr></template>"
    ));
    // Below the hunk: lines 11 to 22 of the 22-line file.
    assert!(page.contains("title=\"Show 12 hidden lines\">↕ 12</button>"));
    assert_eq!(count(&page, "<template class=\"cdv-g\""), 2);
    assert_eq!(count(&page, "<tr class=\"cdv-l cdv-c\">"), 7 + 1 + 12);
}

#[test]
fn to_standard_output_without_a_file() {
    let (_tmp, store) = fixture_store();
    for args in [
        &["diff", "ppo:v0", "ppo:v1", "--html"][..],
        &["diff", "ppo:v0", "ppo:v1", "--html=-"][..],
    ] {
        let out = output(&store, args);
        assert_eq!(out.status.code(), Some(0));
        let page = String::from_utf8(out.stdout).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"), "{args:?}");
        assert!(page.ends_with("</script></body></html>"));
        assert!(page.contains("<span class=\"cdv-nfiles\">1 file changed</span>"));
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn a_version_against_the_files_on_disk() {
    let (tmp, store) = init_store();
    let dir = tmp.path().join("repo");
    write(&dir, "train.py", b"lr = 0.1\nsteps = 10\n");
    write(&dir, "notes.md", b"# notes\n");
    commit_ok(&store, "code/repo", &dir, "r1");
    write(&dir, "train.py", b"lr = 0.2\nsteps = 10\n");
    fs::remove_file(dir.join("notes.md")).unwrap();
    let page = html_file(&store, &["diff", "code/repo:v0"]);
    assert!(page.contains("<code>code/repo:v0</code> → <code>files on disk</code>"));
    assert!(page.contains("<span class=\"cdv-nfiles\">2 files changed</span>"));
    assert!(page.contains("data-path=\"notes.md\" data-status=\"deleted\""));
    assert!(page.contains("data-path=\"train.py\" data-status=\"modified\""));
    assert!(page.contains(
        "lr <span class=\"k\">=</span> <span class=\"n\">0.</span><mark><span class=\"n\">2</span></mark>"
    ));
}

#[test]
fn two_runs_show_which_artifacts_changed() {
    let (_tmp, store) = fixture_store();
    let page = html_file(&store, &["diff", "--runs", "r1", "r2"]);
    assert!(page.contains(
        "<tr data-state=\"changed\"><td>code/safelife</td><td>v0</td><td>v1</td>\
         <td class=\"cdv-note\">changed</td></tr>"
    ));
    assert!(page.contains(
        "<tr data-state=\"changed\"><td>rl_algo_code/ppo</td><td>v0</td><td>v1</td>\
         <td class=\"cdv-note\">changed</td></tr>"
    ));
    assert!(page.contains("data-path=\"code/safelife/training/ppo.py\""));
    assert!(page.contains("data-path=\"rl_algo_code/ppo/ppo.py\""));
    // The layernorm step changed the model only: the same PPO version.
    let same = html_file(&store, &["diff", "--runs", "r2", "r3"]);
    assert!(same.contains(
        "<tr data-state=\"same\"><td>rl_algo_code/ppo</td><td>v1</td><td>v1</td>\
         <td class=\"cdv-note\">same</td></tr>"
    ));
}

#[test]
fn hostile_names_and_contents_render_as_text() {
    let (tmp, store) = init_store();
    let dir = tmp.path().join("repo");
    let name = "\"><img src=x onerror=alert(1)>";
    write(&dir, name, b"a = 1\n");
    write(&dir, "x.py", b"s = '</script><script>alert(2)</script>'\n");
    commit_ok(&store, "code/evil", &dir, "r1");
    write(&dir, name, b"a = 2\n");
    write(&dir, "x.py", b"s = '</script><script>alert(3)</script>'\n");
    commit_ok(&store, "code/evil", &dir, "r2");
    let page = html_file(&store, &["diff", "code/evil:v0", "code/evil:v1"]);
    assert_only_own_script(&page);
    let escaped = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;";
    assert!(page.contains(&format!("data-path=\"{escaped}\"")));
    assert!(page.contains(&format!("<span class=\"cdv-path\">{escaped}</span>")));
    assert!(page.contains("<a href=\"#%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E\">"));
    assert!(page.contains(
        "<span class=\"s\">&#39;&lt;/script&gt;&lt;script&gt;alert(</span><mark><span class=\"s\">3\
         </span></mark><span class=\"s\">)&lt;/script&gt;&#39;</span>"
    ));
}

#[test]
fn binary_files_renames_and_mode_changes_as_github_shows_them() {
    let (tmp, store) = init_store();
    let dir = tmp.path().join("repo");
    write(&dir, "w.bin", b"\0\x01\x02");
    write(&dir, "old_name.py", b"x = 1\ny = 2\nz = 3\n");
    write(&dir, "run.sh", b"echo hi\n");
    commit_ok(&store, "code/r", &dir, "r1");
    write(&dir, "w.bin", b"\0\x01\x03\x04");
    fs::rename(dir.join("old_name.py"), dir.join("new_name.py")).unwrap();
    crate::common::set_executable(&dir.join("run.sh"), true);
    commit_ok(&store, "code/r", &dir, "r2");
    let page = html_file(&store, &["diff", "code/r:v0", "code/r:v1"]);
    assert!(page.contains("<p class=\"cdv-note\">Binary file not shown. 3 → 4 bytes</p>"));
    assert!(page.contains(
        "<span class=\"cdv-st\" data-status=\"renamed\">renamed 100%</span> <span class=\"cdv-path\">\
         <span class=\"cdv-old\">old_name.py</span> → new_name.py</span>"
    ));
    assert!(page.contains("<p class=\"cdv-note\">File renamed without changes.</p>"));
    assert!(page.contains("<span class=\"cdv-mode-change\">mode 100644 → 100755</span>"));
    assert!(page.contains("<p class=\"cdv-note\">File mode changed.</p>"));
}

#[test]
fn no_differences_and_a_write_error() {
    let (_tmp, store) = fixture_store();
    let page = html_file(&store, &["diff", "ppo:v0", "ppo:v0"]);
    assert!(page.contains("<span class=\"cdv-nfiles\">0 files changed</span>"));
    assert!(page.contains("<p class=\"cdv-same\">No differences.</p>"));
    let (code, _, err) = run_any(
        &store,
        &["diff", "ppo:v0", "ppo:v1", "--html=/nonexistent-dir/x.html"],
    );
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: cannot write /nonexistent-dir/x.html"),
        "{err}"
    );
}

/// A page whose writing fails midway (here a file-size limit, as a full disk does) leaves the
/// file that was there byte for byte, and no partial file beside it.
#[test]
fn a_failed_write_leaves_the_old_file_intact() {
    let (tmp, store) = init_store();
    let dir = tmp.path().join("repo");
    write(&dir, "a.py", "a = 1\n".repeat(3000).as_bytes());
    commit_ok(&store, "code/a", &dir, "r1");
    write(&dir, "a.py", "b = 2\n".repeat(3000).as_bytes());
    commit_ok(&store, "code/a", &dir, "r2");
    let out_dir = tmp.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let file = out_dir.join("page.html");
    fs::write(&file, b"the old page\n").unwrap();
    let c = crate::common::codever_cmd(
        &store,
        &[
            "diff",
            "code/a:v0",
            "code/a:v1",
            &format!("--html={}", file.display()),
        ],
    );
    // bash: ignore SIGXFSZ (the write fails with EFBIG instead), limit files to 64 KiB.
    let mut sh = std::process::Command::new("bash");
    sh.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"")
        .arg(c.get_program())
        .args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    let out = sh.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!("error: cannot write {}", file.display())),
        "{err}"
    );
    let now = fs::read(&file).unwrap();
    assert!(
        now == b"the old page\n",
        "the old file was replaced by {} bytes",
        now.len()
    );
    let names: Vec<_> = fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["page.html"]);
    // Without the limit the page replaces the old one, whole.
    let page = html_file_at(&store, &["diff", "code/a:v0", "code/a:v1"], &file);
    assert!(page.ends_with("</script></body></html>"));
    assert!(page.len() > 64 << 10);
}

/// Trojan Source (CVE-2021-42574): bidirectional controls in a line of code and in a file name
/// are shown as marked tokens, never obeyed, and the file carries GitHub's warning.
#[test]
fn bidirectional_text_is_shown_and_warned_about() {
    let (tmp, store) = init_store();
    let dir = tmp.path().join("repo");
    let trojan = "def is_admin(user):\n    access = \"user\"\n    if access != \"none\u{202e} \u{2066}# admin only\u{2069} \u{2066}\":\n        return True\n    return False\n";
    write(&dir, "auth.py", trojan.as_bytes());
    write(&dir, "plain.py", b"x = 1\n");
    commit_ok(&store, "code/bidi", &dir, "r1");
    write(&dir, "auth.py", b"def is_admin(user):\n    return False\n");
    write(&dir, "plain.py", b"x = 2\n");
    write(&dir, "\u{202e}txt.exe", b"ok\n");
    commit_ok(&store, "code/bidi", &dir, "r2");
    let page = html_file(&store, &["diff", "code/bidi:v0", "code/bidi:v1"]);
    // Raw only where nothing shows it: the `data-path` the script matches `#PATH` against.
    let shown: String = page
        .split("data-path=\"")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once('"').map_or("", |p| p.1)
            }
        })
        .collect();
    assert_eq!(count(&page, "data-path=\"\u{202e}txt.exe\""), 1);
    for c in ['\u{202e}', '\u{2066}', '\u{2069}'] {
        assert!(!shown.contains(c), "{c:?} raw in the page");
    }
    let rlo = "<span class=\"cdv-bidi\" title=\"RIGHT-TO-LEFT OVERRIDE\">U+202E</span>";
    assert!(page.contains(&format!("<span class=\"cdv-path\">{rlo}txt.exe</span>")));
    assert!(
        page.contains(&format!("\">{rlo}txt.exe</a>")),
        "the file tree"
    );
    assert!(page.contains(&format!(
        "<span class=\"s\">&quot;none{rlo} <span class=\"cdv-bidi\" title=\"LEFT-TO-RIGHT ISOLATE\">U+2066</span>"
    )));
    // The warning is on auth.py only.
    let warn = "<div class=\"cdv-warn cdv-bidi-warn\" role=\"note\"><strong>This file contains bidirectional Unicode text</strong>";
    assert_eq!(count(&page, warn), 1);
    let auth = page.find("data-path=\"auth.py\"").unwrap();
    let plain = page.find("data-path=\"plain.py\"").unwrap();
    let at = page.find(warn).unwrap();
    assert!(auth < at && at < plain, "{auth} {at} {plain}");
}

/// A file whose diff is too large is not rendered into the page: a note says how to see it.
#[test]
fn a_diff_too_large_for_a_page_is_a_note() {
    let (_tmp, store) = crate::common::store_with_a_25000_line_file(&[]);
    let page = html_file(&store, &["diff", "code/big:v0", "code/big:v1"]);
    assert!(page.contains(
        "<div class=\"cdv-note cdv-too-large\">This diff is too large to show here (25,000 lines). \
         In a terminal: <code>codever diff code/big:v0 code/big:v1</code></div>"
    ));
    assert!(!page.contains("x24999"));
    assert!(page.len() < 100_000, "{}", page.len());
    assert_eq!(
        count(&page, "<table class=\"cdv-t cdv-u\">"),
        1,
        "small.py is shown"
    );
}

/// `--html FILE` replaces a regular file only by renaming a complete copy over it; through a
/// symbolic link it replaces the link's target (the link stays); a FIFO (or `/dev/stdout`, a
/// process substitution) is written into as it is; a directory is refused.
#[test]
fn html_files_that_are_links_fifos_or_directories_are_handled_as_such() {
    let (tmp, store) = init_store();
    let dir = tmp.path().join("repo");
    write(&dir, "a.py", b"a = 1\n");
    commit_ok(&store, "code/a", &dir, "r1");
    write(&dir, "a.py", b"a = 2\n");
    commit_ok(&store, "code/a", &dir, "r2");
    let page = |file: &std::path::Path| {
        crate::common::codever_cmd(
            &store,
            &[
                "diff",
                "a:v0",
                "a:v1",
                &format!("--html={}", file.display()),
            ],
        )
        .output()
        .unwrap()
    };
    // A link: its target gets the page.
    let target = tmp.path().join("target.html");
    fs::write(&target, b"old").unwrap();
    let link = tmp.path().join("link.html");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = page(&link);
    assert!(out.status.success(), "{out:?}");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let written = fs::read_to_string(&target).unwrap();
    assert!(written.starts_with("<!DOCTYPE html>"), "{written:.80}");
    // A FIFO: a reader gets the whole page, and it is still a FIFO. The reader opens it
    // without blocking first, so that a FIFO replaced by a file fails here instead of hanging.
    let fifo = tmp.path().join("page.fifo");
    crate::common::mkfifo(&fifo);
    let mut reader = {
        use std::os::unix::fs::OpenOptionsExt as _;
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap()
    };
    let mut child = crate::common::codever_cmd(
        &store,
        &[
            "diff",
            "a:v0",
            "a:v1",
            &format!("--html={}", fifo.display()),
        ],
    )
    .spawn()
    .unwrap();
    let mut got = Vec::new();
    let status = loop {
        let mut buf = [0u8; 1 << 16];
        match std::io::Read::read(&mut reader, &mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            Ok(_) | Err(_) => match child.try_wait().unwrap() {
                Some(status) => break status,
                None => std::thread::sleep(std::time::Duration::from_millis(5)),
            },
        }
    };
    // What it wrote just before it ended.
    let mut buf = [0u8; 1 << 16];
    while let Ok(n @ 1..) = std::io::Read::read(&mut reader, &mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    assert!(status.success());
    assert_eq!(String::from_utf8(got).unwrap(), written);
    use std::os::unix::fs::FileTypeExt as _;
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    // A directory: refused, left alone.
    let out = page(tmp.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("it is a directory"), "{err}");
}

/// The output is bounded, not only the input: a 9,999-line rewrite of lines full of `<>&"`
/// (23 MB of HTML uncapped) is a note, a compare of 1,500 changed files lists and shows its
/// first 1,000 and says how to see the rest; a real-sized Python rewrite is shown whole.
#[test]
fn the_html_a_page_makes_is_bounded() {
    let (tmp, store) = init_store();
    let dir = tmp.path().join("repo");
    let hostile = |c: &str| -> String {
        (0..9_999)
            .map(|i| format!("{i}{}\n", c.repeat(50)))
            .collect()
    };
    write(&dir, "a.html", hostile("<>&\"").as_bytes());
    // A Python file of 9,000 lines from the fixture's modules, every line of it reindented.
    let mut py = String::new();
    let sources = ["training/ppo.py", "training/dqn.py", "training/models.py"]
        .map(|p| fs::read_to_string(fixture("baseline").join(p)).unwrap());
    while py.lines().count() < 9_000 {
        for s in &sources {
            py.push_str(s);
        }
    }
    let py: String = py.lines().take(9_000).map(|l| format!("{l}\n")).collect();
    write(&dir, "big.py", py.as_bytes());
    commit_ok(&store, "code/x", &dir, "r1");
    write(&dir, "a.html", hostile("&\"<>").as_bytes());
    write(&dir, "big.py", py.replace("    ", "  ").as_bytes());
    commit_ok(&store, "code/x", &dir, "r2");
    let page = html_file(&store, &["diff", "code/x:v0", "code/x:v1"]);
    assert!(page.ends_with("</script></body></html>"));
    assert!(page.contains(
        "<div class=\"cdv-note cdv-too-large\">This diff is too large to show here (19,998 lines \
         making more than 8 MiB of HTML). In a terminal: <code>codever diff code/x:v0 \
         code/x:v1</code></div>"
    ));
    // big.py is whole: its last line and the file after it.
    let changed = py.lines().filter(|l| l.contains("    ")).count();
    assert!(changed > 5_000, "{changed}");
    assert!(page.contains("data-n=\"9000\""));
    assert_eq!(count(&page, "<table class=\"cdv-t cdv-u\">"), 1);
    assert!(page.len() < 9 << 20, "{}", page.len());

    let (tmp, store) = init_store();
    let dir = tmp.path().join("many");
    for rev in 0..2 {
        for i in 0..1_500 {
            write(
                &dir,
                &format!("f{i:04}.txt"),
                format!("{i} {rev}\n").as_bytes(),
            );
        }
        commit_ok(&store, "code/many", &dir, &format!("r{rev}"));
    }
    let page = html_file(&store, &["diff", "code/many:v0", "code/many:v1"]);
    assert!(page.contains("<span class=\"cdv-nfiles\">1,500 files changed</span>"));
    assert_eq!(count(&page, "<li data-status"), 1_000);
    assert_eq!(count(&page, "<div class=\"cdv-file\""), 1_000);
    assert!(page.contains("data-path=\"f0999.txt\""));
    assert!(!page.contains("f1000.txt"));
    assert_eq!(
        count(
            &page,
            "<p class=\"cdv-note cdv-more\">This compare changes 1,500 files: this page shows files \
             1–1,000. All of them in a terminal: <code>codever diff code/many:v0 code/many:v1 \
             --stat</code></p>"
        ),
        2
    );
}
