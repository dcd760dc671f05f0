//! The HTTP/1.1 server under `codever ui`: std's blocking sockets, `httparse` for the request
//! head, and the limits a server reachable by any web page needs (ARCHITECTURE.md, "ui").
//!
//! - One thread per connection, at most [`Limits::max_connections`] at once (more are answered
//!   503 and closed): a client that stalls holds only its own thread.
//! - Every read and write has a deadline: a request head must arrive within
//!   [`Limits::head_timeout`] of its first byte, a kept-alive connection closes after
//!   [`Limits::idle_timeout`] without a request, and a response not taken by the client within
//!   [`Limits::write_timeout`] closes its connection. A whole response must be taken within
//!   [`Limits::response_time`] or at [`Limits::min_rate`], whichever allows longer: a client
//!   that reads a trickle cannot hold a response (and its connection) for ever.
//! - Raw downloads are streamed from the store as they are sent ([`super::Body::Stream`]), never
//!   held whole.
//! - The head is capped: a request line longer than [`Limits::max_line`] is answered 414, a
//!   header line longer than that or a head longer than [`Limits::max_head`] 431.
//! - No request body is ever read (only `GET` and `HEAD` are answered): a request that announces
//!   one is answered and its connection closed, so a body that never comes stalls nothing.
//! - The handler gets, with each head, a check of whether its client is still connected
//!   ([`Head::gone`]): a client that closed its connection (a browser that left the page) stops
//!   the rendering of its page between files. How many pages render at once is the handler's
//!   business ([`crate::ui::Ui`] keeps separate slots for cheap and for heavy pages).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Body, Response};
use crate::html::Cancel;

/// What the server lets a client do.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// The longest request line or header line, in bytes.
    pub max_line: usize,
    /// The longest request head (request line and headers), in bytes.
    pub max_head: usize,
    /// How long a request head may take to arrive, from its first byte.
    pub head_timeout: Duration,
    /// How long a kept-alive connection waits for its next request.
    pub idle_timeout: Duration,
    /// How long one write of a response may block on a client that does not read.
    pub write_timeout: Duration,
    /// The least time a whole response (head and body) is given…
    pub response_time: Duration,
    /// …or, when longer, its length at this many bytes a second; and after that least time, a
    /// client that has taken less than this rate since is cut off at once.
    pub min_rate: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            max_line: 16 << 10,
            max_head: 64 << 10,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(10),
            response_time: Duration::from_secs(30),
            min_rate: 64 << 10,
        }
    }
}

/// A request head as the handler sees it.
pub struct Head<'a> {
    /// `GET`, `HEAD`, …
    pub method: &'a str,
    /// The request target, as sent.
    pub url: &'a str,
    /// The `Host` header (a request with two is refused before the handler).
    pub host: Option<&'a str>,
    /// Whether the client has closed the connection: its answer is no longer wanted.
    pub gone: &'a Cancel,
}

/// Whether the client of `s` has closed its side (or the connection failed): a read would
/// return end of file or an error now. Bytes waiting (a pipelined request) mean it is there.
fn client_gone(s: &TcpStream) -> bool {
    // Peeked without waiting; the socket is the connection's, whose thread is in the handler
    // (no other read or write on it meanwhile), and is put back to blocking after.
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let r = s.peek(&mut [0u8; 1]);
    let restored = s.set_nonblocking(false).is_ok();
    match r {
        Ok(0) => true,
        Ok(_) => !restored,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            !restored
        }
        Err(_) => true,
    }
}

/// The [`Cancel`] of a connection: says gone once [`client_gone`] has (one check at a time).
fn gone_check(stream: &TcpStream) -> Cancel {
    let Ok(probe) = stream.try_clone() else {
        return Cancel::default();
    };
    let state = Mutex::new((probe, false));
    Cancel::new(move || {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.1 {
            st.1 = client_gone(&st.0);
        }
        st.1
    })
}

type Handler = dyn Fn(&Head) -> Response + Send + Sync;

/// Answers connections on `listener` with `handle` until the process ends.
pub fn serve(listener: TcpListener, limits: Limits, handle: Arc<Handler>) {
    let open = Arc::new(AtomicUsize::new(0));
    // A refusal is short: it fits in the socket's buffer, so its write does not wait for the
    // client (the accepting thread must not).
    let refusing = Limits {
        write_timeout: Duration::from_millis(200),
        ..limits.clone()
    };
    let limits = Arc::new(limits);
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else {
            // Out of file descriptors (or another passing failure): wait for connections to
            // close instead of spinning on accept.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if open.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            open.fetch_sub(1, Ordering::SeqCst);
            let r = super::Response::text(503, "codever ui: too many connections; try again\n");
            let _ = write_response(&mut stream, r, false, false, &refusing);
            continue;
        }
        let (conn_open, limits, handle) = (open.clone(), limits.clone(), handle.clone());
        let spawned = std::thread::Builder::new()
            .name("codever-ui-conn".into())
            .spawn(move || {
                connection(stream, &limits, &*handle);
                conn_open.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The thread's closure was dropped with the error (the connection closed): its count
            // goes with it.
            open.fetch_sub(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Why a request head could not be read.
enum HeadError {
    /// The connection ended, timed out or failed: nothing more to say to it.
    Gone,
    /// Answer this status and close.
    Refuse(u16, &'static str),
}

/// Reads bytes into `buf` until it holds a whole request head, within the limits; returns the
/// head's length. `Ok(None)`: the client closed the connection between requests.
fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    limits: &Limits,
) -> Result<Option<usize>, HeadError> {
    let mut deadline = (!buf.is_empty()).then(|| Instant::now() + limits.head_timeout);
    let idle_until = Instant::now() + limits.idle_timeout;
    let mut scanned = 0;
    let mut line_start = 0;
    let mut first_line = true;
    let mut chunk = [0u8; 8192];
    loop {
        // Check the lines read so far, each byte once.
        while scanned < buf.len() {
            if buf[scanned] == b'\n' {
                let line = &buf[line_start..scanned];
                if line.is_empty() || line == b"\r" {
                    if first_line {
                        // Blank lines before a request line are allowed (RFC 9112, 2.2).
                        line_start = scanned + 1;
                    } else {
                        return Ok(Some(scanned + 1));
                    }
                } else {
                    first_line = false;
                    line_start = scanned + 1;
                }
            }
            scanned += 1;
            if scanned - line_start > limits.max_line {
                return Err(if first_line {
                    HeadError::Refuse(414, "the request line is too long\n")
                } else {
                    HeadError::Refuse(431, "a header line is too long\n")
                });
            }
        }
        if buf.len() > limits.max_head {
            return Err(HeadError::Refuse(431, "the request head is too long\n"));
        }
        let until = deadline.unwrap_or(idle_until);
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(if deadline.is_some() {
                HeadError::Refuse(408, "the request head did not arrive in time\n")
            } else {
                HeadError::Gone
            });
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| HeadError::Gone)?;
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                deadline.get_or_insert_with(|| Instant::now() + limits.head_timeout);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if buf.is_empty() {
                    return Err(HeadError::Gone);
                }
            }
            Err(_) => return Err(HeadError::Gone),
        }
    }
}

/// One connection: requests read, answered and written in turn, until it closes, times out or
/// announces a body.
fn connection(mut stream: TcpStream, limits: &Limits, handle: &Handler) {
    let _ = stream.set_nodelay(true);
    if stream
        .set_write_timeout(Some(limits.write_timeout))
        .is_err()
    {
        return;
    }
    let gone = gone_check(&stream);
    let mut buf = Vec::new();
    loop {
        let len = match read_head(&mut stream, &mut buf, limits) {
            Ok(Some(n)) => n,
            Ok(None) | Err(HeadError::Gone) => return,
            Err(HeadError::Refuse(status, why)) => {
                let refused = Response::text(status, why);
                let _ = write_response(&mut stream, refused, false, false, limits);
                let _ = stream.shutdown(Shutdown::Write);
                return;
            }
        };
        let (response, head_only, keep) = answer(&buf[..len], &gone, handle);
        buf.drain(..len);
        if write_response(&mut stream, response, head_only, keep, limits).is_err() || !keep {
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
    }
}

/// The response to one head, whether it is for `HEAD`, and whether the connection stays open.
fn answer(head: &[u8], gone: &Cancel, handle: &Handler) -> (Response, bool, bool) {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut req = httparse::Request::new(&mut headers);
    let bad = |why: &str| (Response::text(400, why), false, false);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return bad("incomplete request head\n"),
        Err(httparse::Error::TooManyHeaders) => {
            return (Response::text(431, "too many header lines\n"), false, false);
        }
        Err(e) => return bad(&format!("bad request head: {e}\n")),
    }
    let (Some(method), Some(url), Some(version)) = (req.method, req.path, req.version) else {
        return bad("bad request line\n");
    };
    let value = |name: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| std::str::from_utf8(h.value).map(str::trim))
            .collect::<Vec<_>>()
    };
    let hosts = value("host");
    let host = match hosts.as_slice() {
        [] => None,
        [Ok(h)] => Some(*h),
        [_] => return bad("the Host header is not text\n"),
        _ => return bad("more than one Host header\n"),
    };
    // What a page of another site asks for (an `<img>` or a script's request to this port) is
    // refused before any work: only pages of this server, and addresses the user opened or
    // typed, are answered. Browsers say which with `Sec-Fetch-Site`; tools send none.
    if value("sec-fetch-site")
        .iter()
        .any(|v| matches!(v, Ok(site) if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site")))
    {
        return (
            Response::text(
                403,
                "codever ui answers only its own pages and addresses you open yourself, not \
                 requests made by another site's page\n",
            ),
            method == "HEAD",
            false,
        );
    }
    // A request body is never read: answer, then close (the body never reaches the handler).
    let lengths = value("content-length");
    let has_body =
        !value("transfer-encoding").is_empty() || lengths.iter().any(|l| !matches!(l, Ok("0")));
    let tokens = value("connection");
    let says = |t: &str| {
        tokens
            .iter()
            .flatten()
            .any(|v| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(t)))
    };
    let keep = !has_body
        && if version == 1 {
            !says("close")
        } else {
            says("keep-alive")
        };
    let r = handle(&Head {
        method,
        url,
        host,
        gone,
    });
    (r, method == "HEAD", keep)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Writes to a client within a deadline and at a least rate: each write waits at most the write
/// timeout and never past the deadline, none starts after it, and none once the client has
/// taken less than [`Limits::min_rate`] for each second after the first
/// [`Limits::response_time`] (so a trickle reader of a large download is cut then, not at its
/// deadline an hour later). A cut response's connection is closed by the caller.
struct Paced<'a> {
    stream: &'a mut TcpStream,
    start: Instant,
    until: Instant,
    per_write: Duration,
    grace: Duration,
    rate: u64,
    sent: u64,
}

impl Write for Paced<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let now = Instant::now();
        let left = self.until.saturating_duration_since(now);
        let late = now.duration_since(self.start).saturating_sub(self.grace);
        let owed = late.as_secs_f64() * self.rate as f64;
        if left.is_zero() || (self.sent as f64) < owed {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not take the response in time",
            ));
        }
        self.stream
            .set_write_timeout(Some(left.min(self.per_write)))?;
        let n = self.stream.write(buf)?;
        self.sent += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Passes on at most `left` bytes (a stream that would send more than its `Content-Length`
/// fails instead) and counts them.
struct Counted<'a, W: Write> {
    inner: &'a mut W,
    left: u64,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::other("the body is longer than it said"));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The time a client is given to take a response of `len` bytes (see [`Limits::min_rate`]).
fn allowed(len: u64, limits: &Limits) -> Duration {
    let at_rate = Duration::from_secs(len / limits.min_rate.max(1));
    limits.response_time.max(at_rate)
}

/// Writes `r` (its headers only for `HEAD`, with the `Content-Length` of the body a `GET` gets)
/// within the time [`allowed`] for its length. An error means the response was cut: the caller
/// closes the connection.
fn write_response(
    stream: &mut TcpStream,
    r: Response,
    head_only: bool,
    keep: bool,
    limits: &Limits,
) -> io::Result<()> {
    let len = r.body.len();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nConnection: {}\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        len,
        if keep { "keep-alive" } else { "close" }
    );
    for (k, v) in &r.headers {
        // Header values are made here; a line break in one would split the response.
        if !v.contains(['\r', '\n']) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    let sent = if head_only { 0 } else { len };
    let start = Instant::now();
    let mut out = Paced {
        until: start + allowed(head.len() as u64 + sent, limits),
        start,
        stream,
        per_write: limits.write_timeout,
        grace: limits.response_time,
        rate: limits.min_rate,
        sent: 0,
    };
    out.write_all(head.as_bytes())?;
    if !head_only {
        match r.body {
            Body::Bytes(b) => out.write_all(&b)?,
            Body::Stream { len, write } => {
                let mut counted = Counted {
                    inner: &mut out,
                    left: len,
                };
                write(&mut counted)?;
                if counted.left > 0 {
                    return Err(io::Error::other("the body is shorter than it said"));
                }
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(limits: Limits) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h: Arc<Handler> =
            Arc::new(|h: &Head| Response::text(200, &format!("{} {}", h.method, h.url)));
        std::thread::spawn(move || serve(l, limits, h));
        addr
    }

    fn read_all(s: &mut TcpStream) -> String {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A page of another site can make a browser request any URL of this port (an `<img>`):
    /// such requests are refused before the handler does any work; the user's own navigation
    /// (`none`), this server's pages (`same-origin`) and tools (no header) are answered.
    #[test]
    fn requests_made_by_another_sites_page_are_refused() {
        let addr = server(Limits::default());
        let ask = |site: Option<&str>| {
            let mut s = TcpStream::connect(&addr).unwrap();
            let extra = site.map_or(String::new(), |v| format!("Sec-Fetch-Site: {v}\r\n"));
            s.write_all(
                format!("GET /heavy HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
            read_all(&mut s)
        };
        for site in ["cross-site", "Same-Site"] {
            let got = ask(Some(site));
            assert!(
                got.starts_with("HTTP/1.1 403 Forbidden\r\n"),
                "{site}: {got}"
            );
            assert!(!got.contains("GET /heavy"), "the handler ran");
        }
        for site in [None, Some("none"), Some("same-origin")] {
            let got = ask(site);
            assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{site:?}: {got}");
            assert!(got.ends_with("GET /heavy"));
        }
    }

    #[test]
    fn a_head_that_never_ends_is_answered_408_then_closed() {
        let addr = server(Limits {
            head_timeout: Duration::from_millis(300),
            ..Limits::default()
        });
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        let t = Instant::now();
        let got = read_all(&mut s);
        assert!(got.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{got}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn an_idle_kept_alive_connection_is_closed() {
        let addr = server(Limits {
            idle_timeout: Duration::from_millis(300),
            ..Limits::default()
        });
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let t = Instant::now();
        let got = read_all(&mut s);
        assert!(got.ends_with("\r\n\r\nGET /a"), "{got}");
        assert!(got.contains("Connection: keep-alive\r\n"));
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_client_that_does_not_read_is_dropped_after_the_write_timeout() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let big = Arc::new(vec![b'x'; 32 << 20]);
        let h: Arc<Handler> = Arc::new(move |_: &Head| Response {
            status: 200,
            content_type: "text/plain",
            headers: Vec::new(),
            body: Body::Bytes(big.to_vec()),
        });
        let limits = Limits {
            write_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        std::thread::spawn(move || serve(l, limits, h));
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        // The server gave up: what is left to read ends well before the 32 MiB.
        let got = read_all(&mut s);
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(got.len() < 32 << 20, "{}", got.len());
    }

    /// Asks `addr` for `/` and reads the answer 16 KiB every 20 ms for `slowly`, then all that
    /// is left until the server closes; the bytes read.
    fn read_slowly(addr: &str, slowly: Duration) -> usize {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut got = 0;
        let mut buf = vec![0u8; 16 << 10];
        let t = Instant::now();
        while t.elapsed() < slowly {
            got += s.read(&mut buf).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        got + read_all(&mut s).len()
    }

    /// A client that takes a response a trickle at a time (each write still makes progress
    /// within the write timeout) is cut off at the response's deadline, not served for ever.
    #[test]
    fn a_trickle_reader_is_cut_off_at_the_response_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let size = 32 << 20;
        let h: Arc<Handler> = Arc::new(move |_: &Head| Response {
            status: 200,
            content_type: "text/plain",
            headers: Vec::new(),
            body: Body::Stream {
                len: size as u64,
                write: Box::new(move |out| out.write_all(&vec![b'x'; size])),
            },
        });
        let limits = Limits {
            response_time: Duration::from_millis(500),
            // The size at this rate is less than the half second: the half second it is.
            min_rate: 1 << 30,
            ..Limits::default()
        };
        assert_eq!(allowed(size as u64, &limits), Duration::from_millis(500));
        assert_eq!(
            allowed(10 << 30, &limits),
            Duration::from_secs(10),
            "10 GiB at 1 GiB/s"
        );
        assert_eq!(
            allowed(100 << 20, &Limits::default()),
            Duration::from_secs(1600),
            "100 MiB at 64 KiB/s"
        );
        std::thread::spawn(move || serve(l, limits, h));
        // 16 KiB every 20 ms for 2 s: well past the deadline. Then all that is left: what the
        // server sent before it gave up, not the 32 MiB.
        let got = read_slowly(&addr, Duration::from_secs(2));
        assert!(got < size, "{got} bytes: the response was not cut");
    }

    /// A client that reads steadily but slower than the least rate is cut off once it falls
    /// behind that rate after the first `response_time`, long before its response's deadline.
    #[test]
    fn a_client_slower_than_the_least_rate_is_cut_off_when_it_falls_behind() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let size: u64 = 256 << 20;
        let h: Arc<Handler> = Arc::new(move |_: &Head| Response {
            status: 200,
            content_type: "text/plain",
            headers: Vec::new(),
            body: Body::Stream {
                len: size,
                write: Box::new(move |out| {
                    let mib = vec![b'x'; 1 << 20];
                    (0..256).try_for_each(|_| out.write_all(&mib))
                }),
            },
        });
        let limits = Limits {
            response_time: Duration::from_millis(300),
            min_rate: 8 << 20,
            ..Limits::default()
        };
        assert_eq!(allowed(size, &limits), Duration::from_secs(32));
        std::thread::spawn(move || serve(l, limits, h));
        // 16 KiB every 20 ms (800 KiB/s, a tenth of the rate) for 3 s.
        let got = read_slowly(&addr, Duration::from_secs(3));
        assert!(got < 64 << 20, "{got} bytes: the response was not cut");
    }

    /// A streamed body is written as it is made, after its head; `HEAD` does not make it; one
    /// shorter than its `Content-Length` closes the connection (the client sees it cut).
    #[test]
    fn streamed_bodies_are_written_as_made_and_checked_against_their_length() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let made = Arc::new(AtomicUsize::new(0));
        let count = made.clone();
        let h: Arc<Handler> = Arc::new(move |h: &Head| {
            let count = count.clone();
            let short = h.url == "/short";
            Response {
                status: 200,
                content_type: "text/plain",
                headers: Vec::new(),
                body: Body::Stream {
                    len: 10,
                    write: Box::new(move |out| {
                        count.fetch_add(1, Ordering::SeqCst);
                        out.write_all(if short { b"01234" } else { b"0123456789" })
                    }),
                },
            }
        });
        std::thread::spawn(move || serve(l, Limits::default(), h));
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /short HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let got = read_all(&mut s);
        assert_eq!(got.matches("Content-Length: 10\r\n").count(), 3, "{got}");
        assert!(
            got.contains("\r\n\r\n0123456789HTTP/1.1 200 OK\r\n"),
            "{got}"
        );
        assert!(got.ends_with("\r\n\r\n01234"), "cut, and closed: {got}");
        assert_eq!(
            made.load(Ordering::SeqCst),
            2,
            "not for HEAD nor after the cut"
        );
    }

    #[test]
    fn lines_and_heads_over_their_limits_are_refused() {
        let addr = server(Limits::default());
        let ask = |req: Vec<u8>| {
            let mut s = TcpStream::connect(&addr).unwrap();
            // The server may close before all is sent: its answer is read anyway.
            let _ = s.write_all(&req);
            read_all(&mut s)
        };
        let long_url = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(17 << 10));
        assert!(ask(long_url.into_bytes()).starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        let long_header = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(17 << 10));
        assert!(
            ask(long_header.into_bytes())
                .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n")
        );
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X-A: 12345678901234567890\r\n".repeat(3000)
        );
        assert!(ask(many.into_bytes()).starts_with("HTTP/1.1 431 "));
        // Just under the line limit is fine.
        let ok = format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "a".repeat(16000)
        );
        assert!(ask(ok.into_bytes()).starts_with("HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let addr = server(Limits::default());
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let got = read_all(&mut s);
        let bodies: Vec<&str> = got
            .split("\r\n\r\n")
            .skip(1)
            .map(|b| b.split("HTTP/1.1").next().unwrap())
            .collect();
        assert_eq!(bodies, ["GET /1", "", "GET /3"], "{got}");
        // HEAD: the length of what GET would send.
        assert_eq!(got.matches("Content-Length: 6\r\n").count(), 2);
        assert!(got.contains("Content-Length: 7\r\n"));
    }
}
