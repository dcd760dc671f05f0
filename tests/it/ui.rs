//! `codever ui` as a real process on a free port: the pages over HTTP, the Host check,
//! read-only methods, escaping of hostile names, raw downloads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};

use crate::common::{codever_cmd, commit_ok, fixture, init_store, write};

/// A `codever ui` process, killed when dropped.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(store: &Path) -> Served {
    serve_with(store, &[]).0
}

/// `codever ui ARGS`: the server and the lines it wrote to standard error before serving.
fn serve_with(store: &Path, args: &[&str]) -> (Served, Vec<String>) {
    let mut all = vec!["ui"];
    all.extend_from_slice(args);
    let mut child = codever_cmd(store, &all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("first line is the URL: {line:?}"))
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    // The first stderr line says where it serves; a warning follows on a non-loopback address.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    let exposed = args
        .windows(2)
        .any(|w| w[0] == "--host" && !matches!(w[1], "127.0.0.1" | "localhost" | "::1"));
    let want = 1 + usize::from(exposed);
    for _ in 0..want {
        let mut l = String::new();
        err.read_line(&mut l).unwrap();
        lines.push(l);
    }
    // Later lines (none expected) must not block the server on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    (Served { child, addr }, lines)
}

/// (status, headers, body) of one request.
fn request(addr: &str, method: &str, path: &str, host: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    // A server that stalls fails the test instead of hanging it.
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// This machine's name, as runs record it.
fn gethostname_text() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// What a browser shows of `html` as text: tags dropped, entities decoded.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text after the first `prefix` in `html` up to the next `"`, with `&amp;` decoded: the
/// value of the attribute `prefix` opens (`data-gaps="`).
fn first_attr(html: &str, prefix: &str) -> String {
    html.split(prefix)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no {prefix} in the page"))
        .replace("&amp;", "&")
}

fn get(srv: &Served, path: &str) -> (u16, String, String) {
    request(&srv.addr, "GET", path, &srv.addr)
}

fn fixture_store() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, store) = init_store();
    for (i, v) in ["baseline", "ppo-lr", "layernorm", "tuned"]
        .iter()
        .enumerate()
    {
        commit_ok(&store, "code/safelife", fixture(v), &format!("run-{i}"));
    }
    (tmp, store)
}

#[test]
fn pages_of_the_fixture_store() {
    let (_tmp, store) = fixture_store();
    let srv = serve(&store);
    let (st, head, body) = get(&srv, "/");
    assert_eq!(st, 200);
    assert!(head.contains("Content-Security-Policy: default-src 'none'; script-src 'self';"));
    assert!(body.contains("<a href=\"/artifact/code/safelife\">safelife</a>"));
    let (_, _, body) = get(&srv, "/artifact/code/safelife");
    assert_eq!(body.matches("<input class=\"cdv-pick\"").count(), 4);
    assert!(body.contains("<tr data-spec=\"code/safelife:v3\">"));
    let (st, _, body) = get(&srv, "/compare/code%2Fsafelife%3Av0...code%2Fsafelife%3Av3");
    assert_eq!(st, 200);
    assert!(body.contains("<span class=\"cdv-nfiles\">3 files changed</span>"));
    assert!(body.contains("<script src=\"/assets/codever.js\"></script>"));
    assert!(!body.contains("<script>"), "no inline script under the CSP");
    // Unchanged lines stay on the server until a reader expands them.
    assert!(body.contains(
        "<table class=\"cdv-t cdv-u\" data-gaps=\"/compare/code%2Fsafelife%3Av0...code%2Fsafelife%3Av3?at="
    ));
    assert!(!body.contains("<template class=\"cdv-g\""));
    let (st, _, gap) = get(
        &srv,
        "/compare/code%2Fsafelife%3Av0...code%2Fsafelife%3Av3?file=0&gap=0",
    );
    assert_eq!(st, 200);
    assert!(gap.starts_with(
        "<template class=\"cdv-g\" data-gap=\"0\"><tr class=\"cdv-l cdv-c\"><td class=\"cdv-n\" data-n=\"1\"></td>\
         <td class=\"cdv-n\" data-n=\"1\"></td><td class=\"cdv-code\"><span class=\"k\">import</span> torch</td></tr>"
    ), "{gap}");
    assert_eq!(gap.matches("<tr ").count(), 3);
    let (st, _, body) = get(
        &srv,
        "/blame?spec=code%2Fsafelife%3Av2&path=training%2Fppo.py",
    );
    assert_eq!(st, 200);
    assert!(body.contains("<a class=\"cdv-br\" href=\"/run/run-1\">run-1</a>"));
    let (st, _, body) = get(&srv, "/runs");
    assert_eq!(st, 200);
    // Runs are listed newest first: the page's script compares the older with the newer.
    assert!(
        body.contains("<div class=\"cdv-picker\" data-base=\"/compare-runs/\" data-newest-first>")
    );
    let host = gethostname_text();
    assert!(
        body.contains("<td><a href=\"/run/run-3\">run-3</a></td>"),
        "{body}"
    );
    assert!(
        body.contains(&format!("</td><td>{host}</td>")),
        "the host of each run"
    );
    assert!(!body.contains("null"));
    // Two runs compared: what each logged, then the files.
    let (st, _, body) = get(&srv, "/compare-runs/run-0...run-3");
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("<span class=\"cdv-nfiles\">3 files changed</span>"),
        "{body}"
    );
    let (st, _, body) = get(&srv, "/run/run-2");
    assert_eq!(st, 200);
    assert!(body.contains("<h1>Run run-2</h1>"));
    let (st, _, body) = get(&srv, "/version/nope%3Av0");
    assert_eq!(st, 404);
    assert!(body.contains("<p class=\"cdv-error\">"), "{body}");
}

#[test]
fn wrong_host_and_writing_methods_are_refused() {
    let (_tmp, store) = fixture_store();
    let srv = serve(&store);
    let port = srv.addr.rsplit(':').next().unwrap().to_string();
    for host in [
        format!("attacker.example:{port}"),
        "127.0.0.1:1".to_string(),
        String::new(),
    ] {
        let (st, _, body) = request(&srv.addr, "GET", "/", &host);
        assert_eq!(st, 421, "{host}");
        assert!(!body.contains("safelife"));
    }
    let (st, _, _) = request(&srv.addr, "GET", "/", &format!("localhost:{port}"));
    assert_eq!(st, 200);
    for method in ["POST", "PUT", "DELETE"] {
        let (st, head, _) = request(&srv.addr, method, "/", &srv.addr);
        assert_eq!(st, 405, "{method}");
        assert!(head.contains("Allow: GET, HEAD"));
    }
}

#[test]
fn hostile_names_are_text_and_raw_files_are_downloads() {
    let (tmp, store) = init_store();
    let dir = tmp.path().join("repo");
    let name = "\"><img src=x onerror=alert(1)>.html";
    write(&dir, name, b"<script>alert(2)</script>\n");
    commit_ok(&store, "code/evil", &dir, "r1");
    let srv = serve(&store);
    let (st, _, body) = get(&srv, "/version/code%2Fevil%3Av0");
    assert_eq!(st, 200);
    assert!(!body.contains("<img"));
    assert!(body.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.html</a>"));
    let q = "spec=code%2Fevil%3Av0&path=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.html";
    let (st, _, body) = get(&srv, &format!("/file?{q}"));
    assert_eq!(st, 200);
    assert!(!body.contains("<script>alert"));
    assert_eq!(body.matches("<script").count(), 1);
    assert!(
        text_of(&body).contains("<script>alert(2)</script>"),
        "the line as text"
    );
    let (st, head, body) = get(&srv, &format!("/raw?{q}"));
    assert_eq!(st, 200);
    assert!(head.contains("Content-Type: application/octet-stream"));
    assert!(head.contains("X-Content-Type-Options: nosniff"));
    assert!(head.contains(
        "Content-Disposition: attachment; filename=\"___img_src_x_onerror_alert_1__.html\""
    ));
    assert_eq!(body, "<script>alert(2)</script>\n");
}

/// Connections that stall the way hostile clients do: a body announced and never sent, a head
/// never finished, a pipeline never read. With more of them than the server has workers, a
/// normal request is still answered at once.
#[test]
fn stalled_connections_do_not_stall_other_clients() {
    let (_tmp, store) = fixture_store();
    let srv = serve(&store);
    let mut held = Vec::new();
    for i in 0..6 {
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        let host = if i % 2 == 0 {
            "evil.example"
        } else {
            &srv.addr
        };
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000000\r\n\r\nabc"
        )
        .unwrap();
        held.push(s);
    }
    for _ in 0..6 {
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        write!(s, "GET / HTTP/1.1\r\nHost: {}\r\nX-Slow: a", srv.addr).unwrap();
        held.push(s);
    }
    let mut reader = TcpStream::connect(&srv.addr).unwrap();
    let page = "/compare/code%2Fsafelife%3Av0...code%2Fsafelife%3Av3";
    let req = format!("GET {page} HTTP/1.1\r\nHost: {}\r\n\r\n", srv.addr);
    reader.write_all(req.repeat(200).as_bytes()).unwrap();
    held.push(reader);
    std::thread::sleep(std::time::Duration::from_millis(300));
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let (st, _, body) = get(&srv, "/");
        assert_eq!(st, 200);
        assert!(body.contains("safelife"));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            t.elapsed()
        );
    }
    // The refused requests were answered without waiting for their bodies.
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000000\r\n\r\nabc",
        srv.addr
    )
    .unwrap();
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).unwrap();
    assert_eq!(answer, "HTTP/1.1 405 Method Not Allowed\r\n");
}

#[test]
fn head_answers_gets_headers_and_two_hosts_are_refused() {
    let (_tmp, store) = fixture_store();
    let srv = serve(&store);
    let (st, head, body) = get(&srv, "/artifact/code/safelife");
    assert_eq!(st, 200);
    let (st, head_of_head, nothing) =
        request(&srv.addr, "HEAD", "/artifact/code/safelife", &srv.addr);
    assert_eq!(st, 200);
    assert_eq!(nothing, "");
    assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
    assert_eq!(head_of_head, head);
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {}\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        srv.addr
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{all}");
    assert!(
        all.ends_with("\r\n\r\nmore than one Host header\n"),
        "{all}"
    );
    assert!(!all.contains("safelife"));
}

#[test]
fn oversized_request_heads_are_refused_with_431() {
    let (_tmp, store) = fixture_store();
    let srv = serve(&store);
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let line = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nX: {}",
        srv.addr,
        "a".repeat(1 << 20)
    );
    let _ = s.write_all(line.as_bytes());
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).unwrap();
    assert_eq!(answer, "HTTP/1.1 431 Request Header Fields Too Large\r\n");
}

/// A compare URL of thousands of dots is refused at once (it took seconds of CPU per request,
/// quadratic in its length).
#[test]
fn compare_urls_of_many_dots_are_refused_at_once() {
    let (_tmp, store) = fixture_store();
    let srv = serve(&store);
    for prefix in ["/compare/", "/compare-runs/"] {
        let t = std::time::Instant::now();
        let (st, head, body) = get(&srv, &format!("{prefix}{}", "...".repeat(5000)));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(st, 414, "{prefix}");
        assert!(head.contains("Content-Type: text/html; charset=utf-8"));
        assert!(body.contains("<h1>URL too long</h1>"), "{body}");
        assert!(body.contains("names two sides of at most 512 bytes each"));
    }
}

/// `--host 0.0.0.0`: a warning that the store is open to the network, a URL that works here, and
/// the names a user would type accepted (DNS-rebound names still refused).
#[test]
fn listening_on_every_address_warns_and_accepts_this_machines_names() {
    let (_tmp, store) = fixture_store();
    let (srv, err) = serve_with(&store, &["--host", "0.0.0.0"]);
    let port = srv.addr.rsplit(':').next().unwrap().to_string();
    // The machine's name as the server sees it; a machine with no usable name (empty,
    // `localhost`) is told to use its address, and only IP literals and `localhost` work.
    let names = codever::ui::machine_names();
    let name = names
        .first()
        .cloned()
        .unwrap_or_else(|| "ADDRESS-OF-THIS-MACHINE".to_string());
    assert!(err[0].starts_with("codever ui: serving "), "{err:?}");
    assert!(err[0].ends_with(&format!(
        " read-only at http://127.0.0.1:{port}/ (Ctrl-C to stop)\n"
    )));
    assert_eq!(
        err[1],
        format!(
            "warning: listening on 0.0.0.0:{port}: anyone who can reach this machine on any of \
             its addresses on port {port} can read the whole store (there is no password); other \
             machines open http://{name}:{port}/\n"
        )
    );
    let mut hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    hosts.extend(names.iter().map(|n| format!("{n}:{port}")));
    for host in hosts {
        let (st, _, body) = request(&srv.addr, "GET", "/", &host);
        assert_eq!(st, 200, "{host}");
        assert!(body.contains("safelife"));
    }
    for host in [format!("rebound.example:{port}"), format!("{name}:1")] {
        assert_eq!(request(&srv.addr, "GET", "/", &host).0, 421, "{host}");
    }
}

/// Bidirectional and control characters from the store (code, paths, config and summary) are
/// shown as marked tokens on every page, never sent raw, and the file view and blame warn.
#[test]
fn hidden_characters_are_shown_on_every_page() {
    use crate::common::{commit_snapshot, lib_store, snapshot};
    let (_tmp, lib) = lib_store();
    let code = "s = \"a\u{202e}b\"\nt = \"\x1b[2J\"\n";
    commit_snapshot(
        &lib,
        "code/c",
        &snapshot(&[
            ("a.py", code.as_bytes(), false),
            ("n\u{2067}.py", b"x\n", false),
            ("a\u{200b}.py", b"y\n", false),
        ]),
        "r1",
    );
    lib.save_run_state(&codever::RunStateRecord {
        run: "r1".into(),
        time_ns: codever::run::now_ns(),
        host: "h".into(),
        name: String::new(),
        job_type: String::new(),
        group: String::new(),
        config: r#"{"nul":"a\u0000b","esc":"\u001b]0;pwned\u0007x","k\u202eey":1}"#.into(),
        summary: r#"{"s\u0000":"\u009b1m"}"#.into(),
        ranges: "{}".into(),
        steps: 0,
        finished: true,
        exit_code: None,
    })
    .unwrap();
    let srv = serve(lib.root());
    let bad = |body: &str| {
        body.chars().any(|c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
    };
    let warn = "<div class=\"cdv-warn cdv-bidi-warn\" role=\"note\">";
    for (page, warned) in [
        ("/version/code%2Fc%3Av0", false),
        ("/file?spec=code%2Fc%3Av0&path=a.py", true),
        ("/blame?spec=code%2Fc%3Av0&path=a.py", true),
        ("/history?spec=code%2Fc%3Av0&path=a.py", false),
        ("/run/r1", false),
        ("/runs", false),
    ] {
        let (st, _, body) = get(&srv, page);
        assert_eq!(st, 200, "{page}");
        assert!(!bad(&body), "{page}: a raw control or bidi character");
        assert_eq!(body.contains(warn), warned, "{page}");
    }
    let (_, _, file) = get(&srv, "/file?spec=code%2Fc%3Av0&path=a.py");
    assert!(
        file.contains("<span class=\"cdv-ctl\" title=\"U+001B\">␛</span>[2J"),
        "{file}"
    );
    let (_, _, version) = get(&srv, "/version/code%2Fc%3Av0");
    assert!(version.contains(
        ">n<span class=\"cdv-bidi\" title=\"RIGHT-TO-LEFT ISOLATE\">U+2067</span>.py</a>"
    ));
    // A name that would look like another (`a.py`): its zero-width space is shown.
    assert!(
        version
            .contains(">a<span class=\"cdv-bidi\" title=\"ZERO WIDTH SPACE\">U+200B</span>.py</a>")
    );
    let (_, _, run) = get(&srv, "/run/r1");
    assert!(run.contains(
        "<tr><th>nul</th><td class=\"cdv-mono\">a<span class=\"cdv-ctl\" title=\"U+0000\">␀</span>b</td></tr>"
    ), "{run}");
    assert!(run.contains(
        "<td class=\"cdv-mono\"><span class=\"cdv-ctl\" title=\"U+001B\">␛</span>]0;pwned<span class=\"cdv-ctl\" title=\"U+0007\">␇</span>x</td>"
    ));
    assert!(run.contains(
        "<th>k<span class=\"cdv-bidi\" title=\"RIGHT-TO-LEFT OVERRIDE\">U+202E</span>ey</th>"
    ));
    assert!(run.contains("<span class=\"cdv-ctl\" title=\"U+009B\">U+009B</span>1m"));
}

/// A file too large for the web view: its compare shows a note with the terminal command and the
/// raw files instead of rendering 25,000 lines; its view and blame are pages that say why and
/// offer the download; a binary file has no blame link.
#[test]
fn large_and_binary_files_get_pages_not_renders() {
    let huge = vec![b'a'; (4 << 20) + 1];
    let (_tmp, store) = crate::common::store_with_a_25000_line_file(&[
        ("huge.txt", &huge),
        ("w.bin", b"\0\x01\x02binary"),
    ]);
    let srv = serve(&store);
    let t = std::time::Instant::now();
    let page = "/compare/code%2Fbig%3Av0...code%2Fbig%3Av1";
    let (st, _, body) = get(&srv, page);
    assert_eq!(st, 200);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t.elapsed()
    );
    assert!(body.contains(
        "<div class=\"cdv-note cdv-too-large\">This diff is too large to show here (25,000 lines). \
         In a terminal: <code>codever diff code/big:v0 code/big:v1</code> · raw: \
         <a href=\"/raw?spec=code%2Fbig%3Av1&amp;path=many.py\">new</a></div>"
    ), "{body}");
    let many_at = body.find("data-path=\"many.py\"").unwrap();
    let next = body[many_at..]
        .find("<div class=\"cdv-file\"")
        .map_or(body.len(), |e| many_at + e);
    assert!(!body[many_at..next].contains("cdv-lazy"), "never fetched");
    let files: Vec<&str> = body
        .match_indices("data-path=\"")
        .map(|(i, _)| &body[i + 11..i + 20])
        .collect();
    let n = files.iter().position(|f| f.starts_with("many.py")).unwrap();
    let (st, _, _) = get(&srv, &format!("{page}?file={n}"));
    assert_eq!(st, 413);

    let (st, _, listing) = get(&srv, "/version/code%2Fbig%3Av1");
    assert_eq!(st, 200);
    assert!(listing.contains("w.bin</a> <span class=\"cdv-muted\">(binary)</span>"));
    assert!(
        listing.contains("huge.txt</a> <span class=\"cdv-muted\">(too large to view here)</span>")
    );
    assert!(!listing.contains("path=w.bin\">blame"));
    assert!(!listing.contains("path=huge.txt\">blame"));
    assert!(listing.contains("path=many.py\">blame</a>"));
    for what in ["file", "blame"] {
        let t = std::time::Instant::now();
        let (st, head, body) = get(&srv, &format!("/{what}?spec=code%2Fbig%3Av1&path=huge.txt"));
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(st, 413, "{what}");
        assert!(head.contains("Content-Type: text/html; charset=utf-8"));
        assert!(body.contains("<nav class=\"cdv-nav\"><a href=\"/\">Artifacts</a>"));
        assert!(
            body.contains(
                "<p>This file is 4194305 bytes, more than the web view shows (4194304 bytes).</p>\
             <p><a href=\"/raw?spec=code%2Fbig%3Av1&amp;path=huge.txt\">Download it</a> or, in a \
             terminal: <code>codever cat code/big:v1 huge.txt</code></p>"
            ),
            "{body}"
        );
    }
    let (st, _, body) = get(&srv, "/raw?spec=code%2Fbig%3Av1&path=huge.txt");
    assert_eq!((st, body.len()), (200, (4 << 20) + 1));
    let (st, _, body) = get(&srv, "/blame?spec=code%2Fbig%3Av1&path=w.bin");
    assert_eq!(st, 200);
    assert!(body.contains("<p class=\"cdv-note\">Binary file not shown (9 bytes).</p>"));
}

/// `--host localhost` listens on 127.0.0.1 (no warning); an address that is neither an IP nor
/// `localhost` is refused with what to give instead.
#[test]
fn host_localhost_is_loopback_and_a_bad_address_says_what_to_give() {
    let (_tmp, store) = fixture_store();
    // (`serve_with` checks that it serves on 127.0.0.1)
    let (_srv, err) = serve_with(&store, &["--host", "localhost"]);
    assert!(err[0].starts_with("codever ui: serving "), "{err:?}");
    let (code, _, err) = crate::common::run_any(&store, &["ui", "--host", "my-laptop"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with(
            "error: invalid value 'my-laptop' for '--host <ADDR>': an IP address to listen on, \
             such as 127.0.0.1 (the default), 0.0.0.0 (every address of this machine) or ::1, \
             or `localhost`"
        ),
        "{err}"
    );
}

/// `codever ui --open` with `env` set (and `BROWSER` removed unless set there): the URL it
/// printed and the standard error it wrote before serving (`lines` lines).
fn serve_open(store: &Path, env: &[(&str, String)], lines: usize) -> (Served, String) {
    let mut cmd = codever_cmd(store, &["ui", "--open"]);
    cmd.env_remove("BROWSER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let addr = url
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut text = String::new();
    for _ in 0..lines {
        err.read_line(&mut text).unwrap();
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    (Served { child, addr }, text)
}

/// A script that records its arguments, one a line, in `log`.
fn recorder(dir: &Path, name: &str, log: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {0}.tmp && mv {0}.tmp {0}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// The arguments the recorder wrote to `log`, once it has (within 10 s).
fn recorded(log: &Path) -> String {
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(log) {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "the browser command was not started: {} never written",
        log.display()
    );
}

#[test]
fn open_starts_the_browser_command_on_the_url() {
    let (tmp, store) = fixture_store();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // $BROWSER: the URL as its last argument.
    let log = tmp.path().join("browser.log");
    let script = recorder(&bin, "browser", &log);
    let (srv, err) = serve_open(&store, &[("BROWSER", script.display().to_string())], 1);
    let url = format!("http://{}/", srv.addr);
    assert_eq!(recorded(&log), format!("{url}\n"));
    assert!(err.starts_with("codever ui: serving "), "{err}");
    // The page it was sent to answers.
    assert_eq!(get(&srv, "/").0, 200);
    drop(srv);
    // A list: the first command that starts; `%s` where the URL goes.
    let log2 = tmp.path().join("browser2.log");
    let script2 = recorder(&bin, "browser2", &log2);
    let list = format!(
        "/nonexistent/browser:{} --new-window %s --x",
        script2.display()
    );
    let (srv, _) = serve_open(&store, &[("BROWSER", list)], 1);
    assert_eq!(
        recorded(&log2),
        format!("--new-window\nhttp://{}/\n--x\n", srv.addr)
    );
    drop(srv);
    // No $BROWSER: xdg-open, found on PATH.
    let log3 = tmp.path().join("xdg.log");
    recorder(&bin, "xdg-open", &log3);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (srv, _) = serve_open(&store, &[("PATH", path)], 1);
    assert_eq!(recorded(&log3), format!("http://{}/\n", srv.addr));
    drop(srv);
    // Nothing to start: a note, and the server serves anyway.
    let (srv, err) = serve_open(
        &store,
        &[("BROWSER", "/nonexistent/browser".to_string())],
        2,
    );
    let url = format!("http://{}/", srv.addr);
    assert!(
        err.ends_with(&format!(
            "note: could not start a browser (/nonexistent/browser: No such file or directory \
             (os error 2)); open {url} yourself\n"
        )),
        "{err}"
    );
    assert_eq!(get(&srv, "/").0, 200);
}

/// A server in this process (so that a test can hold its heavy renders): its address and the
/// view, whose counters the test reads. `hold` runs in each heavy render once it has its slot.
fn serve_in_process(
    store: &Path,
    heavy: usize,
    hold: impl Fn() + Send + Sync + 'static,
) -> (String, std::sync::Arc<codever::ui::Ui>) {
    use codever::ui::{Server, Ui};
    let server = Server::bind("127.0.0.1".parse().unwrap(), 0).unwrap();
    let addr = server.addr();
    let mut ui = Ui::with_slots(codever::Store::open(store).unwrap(), addr, 4, heavy);
    ui.on_heavy = Some(Box::new(hold));
    let ui = std::sync::Arc::new(ui);
    let shared = ui.clone();
    std::thread::spawn(move || server.run_shared(shared));
    (addr.to_string(), ui)
}

/// A latch the test opens: heavy renders wait at it, and say when one has arrived.
#[derive(Default)]
struct Latch {
    state: std::sync::Mutex<(usize, bool)>,
    changed: std::sync::Condvar,
}

impl Latch {
    fn arrive_and_wait(&self) {
        let mut st = self.state.lock().unwrap();
        st.0 += 1;
        self.changed.notify_all();
        while !st.1 {
            st = self.changed.wait(st).unwrap();
        }
    }
    fn wait_arrivals(&self, n: usize) {
        let st = self.state.lock().unwrap();
        let (st, timeout) = self
            .changed
            .wait_timeout_while(st, std::time::Duration::from_secs(20), |s| s.0 < n)
            .unwrap();
        assert!(!timeout.timed_out(), "{} heavy renders arrived", st.0);
    }
    fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}

/// With every heavy slot held by a compare, the cheap pages (artifacts, versions, runs,
/// assets, a small file) still answer: they have slots of their own.
#[test]
fn cheap_pages_answer_while_heavy_renders_hold_every_slot() {
    let (_tmp, store) = fixture_store();
    let latch = std::sync::Arc::new(Latch::default());
    let held = latch.clone();
    let (addr, _ui) = serve_in_process(&store, 2, move || held.arrive_and_wait());
    let compares: Vec<_> = (0..2)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                write!(
                    s,
                    "GET /compare/code%2Fsafelife%3Av0...code%2Fsafelife%3Av3 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut all = String::new();
                s.read_to_string(&mut all).unwrap();
                all
            })
        })
        .collect();
    latch.wait_arrivals(2);
    for path in [
        "/",
        "/artifact/code/safelife",
        "/version/code%2Fsafelife%3Av3",
        "/runs",
        "/assets/codever.css",
        "/file?spec=code%2Fsafelife%3Av3&path=training%2Fdqn.py",
    ] {
        let (status, _, body) = request(&addr, "GET", path, &addr);
        assert_eq!(status, 200, "{path}: {body}");
    }
    latch.open();
    for c in compares {
        let got = c.join().unwrap();
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.contains("training/dqn.py"));
    }
}

/// A client that leaves while its compare waits or renders stops that render (nothing more is
/// coloured, it is counted as abandoned) and frees its slot for the next request.
#[test]
fn a_client_that_leaves_stops_its_render_and_frees_its_slot() {
    let (_tmp, store) = fixture_store();
    let latch = std::sync::Arc::new(Latch::default());
    let held = latch.clone();
    let first = std::sync::atomic::AtomicBool::new(true);
    let (addr, ui) = serve_in_process(&store, 1, move || {
        if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            held.arrive_and_wait();
        }
    });
    let page = "/compare/code%2Fsafelife%3Av0...code%2Fsafelife%3Av3";
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET {page} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    latch.wait_arrivals(1);
    drop(s);
    latch.open();
    let t = std::time::Instant::now();
    while ui.abandoned() == 0 && t.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(ui.abandoned(), 1);
    assert_eq!(ui.colourings_kept(), 0, "no file was rendered");
    // The only heavy slot is free: the next compare gets it, and renders its files.
    let (status, _, body) = request(&addr, "GET", page, &addr);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<span class=\"cdv-nfiles\">"));
    assert!(ui.colourings_kept() > 0);
    assert_eq!(ui.abandoned(), 1);
}

/// The server's peak memory so far (VmHWM of /proc/PID/status), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM: {status}"))
}

/// A raw download is streamed from the store as it is sent: a 40 MiB file (stored in a few
/// KiB) costs the server far less than 40 MiB of memory, and arrives byte for byte.
#[test]
fn raw_downloads_are_streamed_in_bounded_memory() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let size = 40 << 20;
    write(&src, "z.txt", &vec![b'a'; size]);
    commit_ok(&store, "data/zz", &src, "r1");
    let srv = serve(&store);
    let before = peak_rss_kib(srv.child.id());
    let (st, head, body) = get(&srv, "/raw?spec=data%2Fzz%3Av0&path=z.txt");
    assert_eq!(st, 200);
    assert!(
        head.contains(&format!("Content-Length: {size}\r\n")),
        "{head}"
    );
    assert_eq!(body.len(), size);
    assert!(body.bytes().all(|b| b == b'a'));
    let peak = peak_rss_kib(srv.child.id());
    assert!(
        peak < before + (16 << 10),
        "the server's peak memory went from {before} KiB to {peak} KiB for a 40 MiB download"
    );
    // A blob that is not there gets its error page, not a download cut after its head.
    let blob = crate::common::blob_id(&vec![b'a'; size]);
    std::fs::remove_file(crate::common::object_path(&store, blob)).unwrap();
    let (st, _, body) = get(&srv, "/raw?spec=data%2Fzz%3Av0&path=z.txt");
    assert_eq!(st, 500, "{body}");
    assert!(
        body.contains("<h1>Cannot read the store</h1><p class=\"cdv-error\">object ")
            && body.contains("is not yet synced (missing from this store)"),
        "{body}"
    );
    // A malformed spec is a bad request; an unknown artifact is not found.
    let (st, _, body) = get(&srv, "/version/zz%3Av01");
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("<h1>Bad request</h1>"), "{body}");
    let (st, _, body) = get(&srv, "/version/nothing%3Av0");
    assert_eq!(st, 404, "{body}");
    assert!(body.contains("<h1>Not found</h1>"), "{body}");
}

/// A version of more files than a page lists is shown a page at a time: 1,000 files, then the
/// next page from `?from=1000`, each with a note that says which and links the others.
#[test]
fn a_versions_files_are_listed_a_page_at_a_time() {
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    for i in 0..1002 {
        write(&src, &format!("f{i:04}.txt"), format!("{i}\n").as_bytes());
    }
    commit_ok(&store, "data/many", &src, "r1");
    let srv = serve(&store);
    let page = "/version/data%2Fmany%3Av0";
    let (st, _, body) = get(&srv, page);
    assert_eq!(st, 200);
    assert_eq!(body.matches("<tr><td class=\"cdv-mono\">").count(), 1000);
    let note = format!(
        "<p class=\"cdv-note cdv-more\">There are 1,002 files: this page shows 1–1,000. \
         <a class=\"cdv-next\" href=\"{page}?from=1000\">next →</a></p>"
    );
    assert_eq!(body.matches(&note).count(), 2, "above and below: {body}");
    assert!(body.contains(">f0999.txt</a>") && !body.contains(">f1000.txt</a>"));
    let (st, _, body) = get(&srv, &format!("{page}?from=1000"));
    assert_eq!(st, 200);
    assert_eq!(body.matches("<tr><td class=\"cdv-mono\">").count(), 2);
    assert!(body.contains(&format!(
        "There are 1,002 files: this page shows 1,001–1,002. <a class=\"cdv-prev\" \
         href=\"{page}?from=0\">← previous</a></p>"
    )));
    assert!(body.contains(">f1001.txt</a>"));
    assert_eq!(get(&srv, &format!("{page}?from=x")).0, 400);
}

/// An artifact's timeline opens on its newest versions: with more than a page (500) of them,
/// the last page, with a link back to the first.
#[test]
fn a_long_timeline_opens_on_its_newest_versions() {
    use crate::common::{commit_snapshot, scratch_store, snapshot};
    let (_tmp, lib) = scratch_store();
    for i in 0..502 {
        let text = format!("step = {i}\n");
        commit_snapshot(
            &lib,
            "code/sweep",
            &snapshot(&[("a.py", text.as_bytes(), false)]),
            &format!("r{i}"),
        );
    }
    let srv = serve(lib.root());
    let (st, _, body) = get(&srv, "/artifact/code%2Fsweep");
    assert_eq!(st, 200);
    let note = "There are 502 versions: this page shows 501–502. <a class=\"cdv-prev\" \
                href=\"/artifact/code%2Fsweep?from=0\">← previous</a></p>";
    assert_eq!(body.matches(note).count(), 2, "above and below: {body}");
    assert!(body.contains(">v501</a>") && body.contains(">v500</a>"));
    assert!(!body.contains(">v499</a>") && !body.contains(">v0</a>"));
    // The first page is still there.
    let (_, _, body) = get(&srv, "/artifact/code%2Fsweep?from=0");
    assert!(body.contains(">v0</a>") && body.contains(">v499</a>") && !body.contains(">v500</a>"));
}

/// A cheap request whose client left while it waited for a slot is not rendered (it is
/// counted as abandoned), as a heavy one is not.
#[test]
fn a_cheap_request_whose_client_left_is_not_rendered() {
    use codever::ui::{Server, Ui};
    let (_tmp, store) = fixture_store();
    let latch = std::sync::Arc::new(Latch::default());
    let held = latch.clone();
    let server = Server::bind("127.0.0.1".parse().unwrap(), 0).unwrap();
    let addr = server.addr().to_string();
    let mut ui = Ui::with_slots(codever::Store::open(&store).unwrap(), server.addr(), 1, 1);
    let first = std::sync::atomic::AtomicBool::new(true);
    ui.on_light = Some(Box::new(move || {
        if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            held.arrive_and_wait();
        }
    }));
    let ui = std::sync::Arc::new(ui);
    let shared = ui.clone();
    std::thread::spawn(move || server.run_shared(shared));
    // The only cheap slot is held by the first request; the second waits for it, then leaves.
    let holder = {
        let addr = addr.clone();
        std::thread::spawn(move || request(&addr, "GET", "/", &addr))
    };
    latch.wait_arrivals(1);
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /runs HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(s);
    std::thread::sleep(std::time::Duration::from_millis(100));
    latch.open();
    assert_eq!(holder.join().unwrap().0, 200);
    let t = std::time::Instant::now();
    while ui.abandoned() == 0 && t.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(ui.abandoned(), 1);
    // The slot is free: the next cheap page answers.
    assert_eq!(request(&addr, "GET", "/runs", &addr).0, 200);
    assert_eq!(ui.abandoned(), 1);
}

/// A compare page of a spec that moves (`latest`) stays one diff: its unchanged lines and lazy
/// files come from the diff the page shows, or the server says to reload — never lines of the
/// newer diff laid into the older page (which hid a change at line 80 here).
#[test]
fn a_page_open_while_latest_moves_gets_its_own_lines_or_is_told_to_reload() {
    use codever::ui::Ui;
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let lines = |edits: &[(usize, &str)]| {
        let mut l: Vec<String> = (1..=100).map(|i| format!("line {i}")).collect();
        for (i, t) in edits {
            l[i - 1] = t.to_string();
        }
        l.join("\n") + "\n"
    };
    let mut edits: Vec<(usize, &str)> = Vec::new();
    for (i, e) in [
        (0, ""),
        (50, "line 50 v1"),
        (10, "line 10 v2"),
        (30, "line 30 v3"),
    ]
    .into_iter()
    .enumerate()
    {
        if e.0 > 0 {
            edits.push(e);
        }
        write(&src, "f.py", lines(&edits).as_bytes());
        commit_ok(&store, "code/p", &src, &format!("r{i}"));
    }
    let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let ui = Ui::new(codever::Store::open(&store).unwrap(), addr);
    let host = Some("127.0.0.1:1");
    let get = |ui: &Ui, url: &str| {
        let r = ui.handle("GET", url, host);
        (
            r.status,
            String::from_utf8_lossy(r.body.bytes().unwrap()).into_owned(),
        )
    };
    let page = "/compare/p:v0...p:latest";
    let (st, body) = get(&ui, page);
    assert_eq!(st, 200);
    let gaps = first_attr(&body, "data-gaps=\"");
    assert!(
        gaps.starts_with("/compare/p:v0...p:latest?at=") && gaps.ends_with("&file=0"),
        "{gaps}"
    );
    let tail = first_attr(&body, "cdv-tail\" data-gap=\"");
    let tail_url = format!("{gaps}&gap={tail}");
    // v4 changes line 80, inside the page's hidden tail (lines 54–100); someone loads the
    // compare again, so the server now holds the newer diff too.
    edits.push((80, "line 80 v4"));
    write(&src, "f.py", lines(&edits).as_bytes());
    commit_ok(&store, "code/p", &src, "r4");
    let (st, newer) = get(&ui, page);
    assert_eq!(st, 200);
    assert!(text_of(&newer).contains("line 80 v4"));
    assert!(!newer.contains(&gaps.replace('&', "&amp;")), "a new pin");
    // The open page's tail: the 47 lines of v3 it hid, up to the file's end.
    let (st, tail_rows) = get(&ui, &tail_url);
    assert_eq!(st, 200, "{tail_rows}");
    assert_eq!(tail_rows.matches("<tr ").count(), 47, "{tail_rows}");
    assert!(text_of(&tail_rows).contains("line 100"));
    assert!(!text_of(&tail_rows).contains("v4"));
    // A server that no longer holds that diff (restarted, or other compares since) cannot
    // make it again from `latest`: it says so, and the page shows the reason.
    let fresh = Ui::new(codever::Store::open(&store).unwrap(), addr);
    for url in [tail_url.as_str(), gaps.as_str()] {
        let (st, why) = get(&fresh, url);
        assert_eq!(
            (st, why.as_str()),
            (
                409,
                "this compare changed since the page was loaded (a spec such as `latest` names \
                 another version now, or a run logged more): reload the page\n"
            )
        );
    }
    // Pinned to what it shows, a page of fixed specs keeps working on any server.
    let (_, fixed) = get(&ui, "/compare/p:v0...p:v4");
    let url = first_attr(&fixed, "data-gaps=\"");
    let (st, _) = get(&fresh, &format!("{url}&gap=0"));
    assert_eq!(st, 200);
}

/// A long file's view and blame come a page of 10,000 lines at a time, with links between the
/// pages and the version and run again at the top of each page; a bad `from=` is refused.
#[test]
fn a_long_files_view_and_blame_come_a_page_of_lines_at_a_time() {
    use codever::ui::Ui;
    let (tmp, store) = init_store();
    let src = tmp.path().join("src");
    let body = |edit: bool| {
        (1..=25_001)
            .map(|i| {
                if edit && i == 20_005 {
                    "edited = 1\n".to_string()
                } else {
                    format!("x{i} = {i}\n")
                }
            })
            .collect::<String>()
    };
    write(&src, "long.py", body(false).as_bytes());
    commit_ok(&store, "code/l", &src, "r0");
    write(&src, "long.py", body(true).as_bytes());
    commit_ok(&store, "code/l", &src, "r1");
    let ui = Ui::new(
        codever::Store::open(&store).unwrap(),
        "127.0.0.1:1".parse().unwrap(),
    );
    let get = |url: &str| {
        let r = ui.handle("GET", url, Some("127.0.0.1:1"));
        (
            r.status,
            String::from_utf8_lossy(r.body.bytes().unwrap()).into_owned(),
        )
    };
    let rows = |page: &str| page.matches("<td class=\"cdv-n\" data-n=").count();
    let first_n = |page: &str| first_attr(page, "<td class=\"cdv-n\" data-n=\"");
    for what in ["file", "blame"] {
        let base = format!("/{what}?spec=code%2Fl%3Av1&path=long.py");
        let (st, page) = get(&format!("/{what}?spec=l%3Alatest&path=long.py"));
        assert_eq!(st, 200, "{page}");
        assert_eq!((rows(&page), first_n(&page)), (10_000, "1".to_string()));
        assert!(
            text_of(&page).contains("There are 25,001 lines: this page shows 1–10,000. next →"),
            "{what}"
        );
        // The links name the version, not `latest`, which may move.
        assert!(page.contains(&format!(
            "<a class=\"cdv-next\" href=\"{}\">",
            format!("{base}&from=10000").replace('&', "&amp;")
        )));
        let (st, last) = get(&format!("{base}&from=20000"));
        assert_eq!(st, 200);
        assert_eq!((rows(&last), first_n(&last)), (5_001, "20001".to_string()));
        assert!(text_of(&last).contains("this page shows 20,001–25,001. ← previous"));
        assert!(last.contains(&format!(
            "<a class=\"cdv-prev\" href=\"{}\">",
            format!("{base}&from=10000").replace('&', "&amp;")
        )));
        assert!(text_of(&last).contains("edited = 1"));
        let (st, _) = get(&format!("{base}&from=-1"));
        assert_eq!(st, 400);
    }
    // Blame: the first line of a page names its version and run, as does each change of origin.
    let (_, last) = get("/blame?spec=l%3Av1&path=long.py&from=20000");
    let labelled: Vec<String> = last
        .split("<a class=\"cdv-br\" href=\"/run/")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(labelled, ["r0", "r1", "r0"]);
}
