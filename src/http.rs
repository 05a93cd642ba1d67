//! A minimal HTTP/1.1 server on `std::net` for `mcce serve`: the only module
//! that speaks HTTP.
//!
//! Written here rather than taken from a crate because what the box needs is
//! small and its limits are the point: a fixed pool of worker threads fed by
//! a bounded queue (a crowd of clients is refused with 503, never given a
//! thread each), a deadline for the whole request head (a client sending a
//! byte a second is cut off), caps on the request line and the headers,
//! `GET`/`HEAD` only, no request bodies. Responses are buffered up to a
//! chunk and sent with `Content-Length` when they fit, chunked when larger,
//! so a day of raw samples never sits whole in memory. Keep-alive is kept
//! only while no other client waits for a worker.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Threads answering requests.
    pub workers: usize,
    /// Accepted connections waiting for a worker; beyond it: 503.
    pub queue: usize,
    /// Time allowed for a whole request head, from its first byte.
    pub head_timeout: Duration,
    /// How long an idle kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Time allowed for each write to the client.
    pub write_timeout: Duration,
    /// Longest request line (method, target, version).
    pub max_line: usize,
    /// Longest request head (request line and all headers).
    pub max_head: usize,
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            workers: 8,
            queue: 256,
            head_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_line: 4096,
            max_head: 16 * 1024,
            max_headers: 48,
        }
    }
}

/// One parsed request. The target is split at `?` and never decoded: the
/// router matches paths exactly and query values against strict grammars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub head_only: bool,
    pub path: String,
    pub query: String,
    pub peer: IpAddr,
}

impl Request {
    /// The raw value of query parameter `name` (the first one).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Writes a streamed body; returning `Err(response)` before anything was
/// sent replaces the answer with that response, after it cuts the
/// connection (the client sees a truncated transfer, never a wrong one).
pub type Writer = Box<dyn FnOnce(&mut dyn Write) -> Result<(), Response>>;

pub enum Body {
    Bytes(Vec<u8>),
    Static(&'static [u8]),
    /// Bytes shared with a cache.
    Shared(Arc<Vec<u8>>),
    Stream(Writer),
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: Body) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// `{"error": "..."}` with `status`.
    pub fn error(status: u16, message: &str) -> Response {
        let mut body = Vec::with_capacity(message.len() + 16);
        body.extend_from_slice(b"{\"error\":");
        push_json_str(&mut body, message);
        body.extend_from_slice(b"}\n");
        Response::new(status, "application/json", Body::Bytes(body))
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    push_json_bytes(out, s.as_bytes());
}

/// [`push_json_str`] for text already held as bytes (the export's fields).
pub fn push_json_bytes(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            c if c < 0x20 => {
                let _ = write!(out, "\\u{c:04x}");
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// What a request head turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    Request {
        head_only: bool,
        target: String,
        keep_alive: bool,
        has_body: bool,
    },
    /// Answer with this status and message, then close.
    Reject(u16, &'static str),
}

/// Parses a complete request head (without the blank line). Pure.
pub fn parse_head(head: &[u8], limits: &Limits) -> Head {
    let Ok(text) = std::str::from_utf8(head) else {
        return Head::Reject(400, "request head is not UTF-8");
    };
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or("");
    if line.len() > limits.max_line {
        return Head::Reject(414, "request line too long");
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Head::Reject(400, "malformed request line");
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Head::Reject(400, "unsupported HTTP version"),
    };
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Head::Reject(400, "malformed request target");
    }
    let mut keep_alive = http11;
    let mut has_body = false;
    let mut count = 0;
    for h in lines {
        count += 1;
        if count > limits.max_headers {
            return Head::Reject(431, "too many header fields");
        }
        let Some((name, value)) = h.split_once(':') else {
            return Head::Reject(400, "malformed header field");
        };
        if name.is_empty() || name.bytes().any(|b| b <= b' ') {
            return Head::Reject(400, "malformed header field");
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            has_body = true;
        }
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Head::Reject(405, "only GET and HEAD are served"),
    };
    Head::Request {
        head_only,
        target: target.to_string(),
        keep_alive,
        has_body,
    }
}

/// Finds the end of the head: the index just past the blank line.
fn head_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let start = from.saturating_sub(3);
    let mut i = start;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

struct Queue {
    waiting: Mutex<VecDeque<TcpStream>>,
    ready: Condvar,
}

impl Queue {
    fn is_busy(&self) -> bool {
        !self.waiting.lock().map(|q| q.is_empty()).unwrap_or(true)
    }
}

pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Serves `listener` forever with `limits.workers` threads. Nothing runs
/// without a client: the acceptor blocks in `accept`, workers on the queue.
pub fn serve(listener: TcpListener, limits: Limits, handler: Arc<Handler>) -> io::Result<()> {
    let queue = Arc::new(Queue {
        waiting: Mutex::new(VecDeque::with_capacity(limits.queue)),
        ready: Condvar::new(),
    });
    for i in 0..limits.workers.max(1) {
        let q = Arc::clone(&queue);
        let h = Arc::clone(&handler);
        std::thread::Builder::new()
            .name(format!("http-{i}"))
            .stack_size(512 * 1024)
            .spawn(move || worker(&q, &limits, &*h))?;
    }
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and the like: wait, do not spin.
                log::warn!("accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let mut q = queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= limits.queue {
            drop(q);
            refuse(stream);
        } else {
            q.push_back(stream);
            drop(q);
            queue.ready.notify_one();
        }
    }
    Ok(())
}

/// Tells a client over the queue's limit to come back, without a thread.
fn refuse(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let mut scratch = [0u8; 4096];
    let _ = stream.read(&mut scratch);
    let resp = Response::error(503, "too many clients, try again").header("Retry-After", "1");
    let Body::Bytes(body) = &resp.body else {
        return;
    };
    let mut out = head_bytes(&resp, Some(body.len()), false);
    out.extend_from_slice(body);
    let _ = stream.write_all(&out);
    let _ = stream.shutdown(Shutdown::Write);
}

fn worker(queue: &Queue, limits: &Limits, handler: &Handler) {
    loop {
        let stream = {
            let mut q = queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(s) = q.pop_front() {
                    break s;
                }
                q = queue.ready.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        connection(stream, queue, limits, handler);
    }
}

enum ReadOutcome {
    /// A head of this many bytes (blank line included) is at the buffer's
    /// start; the first number is where the blank line begins.
    Head(usize, usize),
    Closed,
    Reject(u16, &'static str),
}

fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    limits: &Limits,
    first: bool,
) -> ReadOutcome {
    let mut scratch = [0u8; 4096];
    // Wait for the first byte of a follow-up request only as long as an
    // idle connection may stay; from the first byte the head deadline runs.
    let mut deadline = if buf.is_empty() && !first {
        Instant::now() + limits.idle_timeout
    } else {
        Instant::now() + limits.head_timeout
    };
    let mut started = !buf.is_empty();
    let mut searched = 0;
    loop {
        if let Some((blank, end)) = head_end(buf, searched) {
            return ReadOutcome::Head(blank, end);
        }
        searched = buf.len();
        let line_done = buf.contains(&b'\n');
        if !line_done && buf.len() > limits.max_line {
            return ReadOutcome::Reject(414, "request line too long");
        }
        if buf.len() > limits.max_head {
            return ReadOutcome::Reject(431, "request head too large");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return if started {
                ReadOutcome::Reject(408, "request head not received in time")
            } else {
                ReadOutcome::Closed
            };
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut scratch) {
            Ok(0) => return ReadOutcome::Closed,
            Ok(n) => {
                if !started {
                    started = true;
                    deadline = Instant::now() + limits.head_timeout;
                }
                buf.extend_from_slice(&scratch[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return ReadOutcome::Closed,
        }
    }
}

fn peer_ip(stream: &TcpStream) -> Option<IpAddr> {
    let ip = stream.peer_addr().ok()?.ip();
    Some(match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    })
}

fn connection(mut stream: TcpStream, queue: &Queue, limits: &Limits, handler: &Handler) {
    let Some(peer) = peer_ip(&stream) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut first = true;
    loop {
        let (blank, end) = match read_head(&mut stream, &mut buf, limits, first) {
            ReadOutcome::Head(b, e) => (b, e),
            ReadOutcome::Closed => return,
            ReadOutcome::Reject(status, msg) => {
                let _ = send(&mut stream, Response::error(status, msg), false, false);
                linger_close(stream);
                return;
            }
        };
        first = false;
        let head = parse_head(&buf[..blank], limits);
        buf.drain(..end);
        let (head_only, target, keep_alive, has_body) = match head {
            Head::Request {
                head_only,
                target,
                keep_alive,
                has_body,
            } => (head_only, target, keep_alive, has_body),
            Head::Reject(status, msg) => {
                let mut resp = Response::error(status, msg);
                if status == 405 {
                    resp = resp.header("Allow", "GET, HEAD");
                }
                let _ = send(&mut stream, resp, false, false);
                linger_close(stream);
                return;
            }
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target, String::new()),
        };
        let req = Request {
            head_only,
            path,
            query,
            peer,
        };
        let resp = handler(&req);
        // A request with a body is answered and the connection closed: the
        // body is never read, so it cannot be mistaken for a next request.
        let keep = keep_alive && !has_body && !queue.is_busy();
        match send(&mut stream, resp, head_only, keep) {
            Ok(true) if keep => continue,
            Ok(_) => {
                if has_body {
                    linger_close(stream);
                }
                return;
            }
            Err(_) => return,
        }
    }
}

/// After an early answer, stops writing and reads (and drops) what the
/// client still sends for a moment (2 s, 4 MiB at most), so the answer is
/// not lost to a reset.
fn linger_close(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + Duration::from_secs(2);
    let mut scratch = [0u8; 16 * 1024];
    let mut total = 0usize;
    while total < 4 * 1024 * 1024 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = stream.set_read_timeout(Some(left.min(Duration::from_millis(500))));
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

fn head_bytes(resp: &Response, length: Option<usize>, keep: bool) -> Vec<u8> {
    let mut h = Vec::with_capacity(256);
    let _ = write!(
        h,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nX-Content-Type-Options: nosniff\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type
    );
    for (name, value) in &resp.headers {
        let _ = write!(h, "{name}: {value}\r\n");
    }
    match length {
        Some(n) => {
            let _ = write!(h, "Content-Length: {n}\r\n");
        }
        None => h.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    h.extend_from_slice(if keep {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    h
}

/// Sends `resp`; `Ok(true)` when the connection can carry another request.
fn send(stream: &mut TcpStream, resp: Response, head_only: bool, keep: bool) -> io::Result<bool> {
    let Response {
        status,
        content_type,
        headers,
        body,
    } = resp;
    let shell = Response {
        status,
        content_type,
        headers,
        body: Body::Static(b""),
    };
    let fixed = |stream: &mut TcpStream, shell: &Response, bytes: &[u8]| {
        let mut out = head_bytes(shell, Some(bytes.len()), keep);
        if head_only {
            return stream.write_all(&out).map(|()| keep);
        }
        // A small body goes out with its head in one write; a large one
        // after it, uncopied.
        if bytes.len() <= CHUNK {
            out.extend_from_slice(bytes);
            return stream.write_all(&out).map(|()| keep);
        }
        stream.write_all(&out)?;
        stream.write_all(bytes).map(|()| keep)
    };
    match body {
        Body::Bytes(b) => fixed(stream, &shell, &b),
        Body::Static(b) => fixed(stream, &shell, b),
        Body::Shared(b) => fixed(stream, &shell, &b),
        Body::Stream(w) => {
            if head_only {
                let out = head_bytes(&shell, None, false);
                return stream.write_all(&out).map(|()| false);
            }
            let mut cw = ChunkWriter {
                stream,
                shell: &shell,
                keep,
                buf: {
                    let mut b = Vec::with_capacity(CHUNK + CHUNK_PREFIX + 4096);
                    b.resize(CHUNK_PREFIX, 0);
                    b
                },
                started: false,
            };
            match w(&mut cw) {
                Ok(()) => cw.finish().map(|()| keep),
                Err(err_resp) if !cw.started => {
                    let ChunkWriter { stream, .. } = cw;
                    let Body::Bytes(b) = &err_resp.body else {
                        return Ok(false);
                    };
                    let mut out = head_bytes(&err_resp, Some(b.len()), keep);
                    out.extend_from_slice(b);
                    stream.write_all(&out).map(|()| keep)
                }
                Err(_) => Ok(false),
            }
        }
    }
}

const CHUNK: usize = 16 * 1024;
/// Room for a chunk's size line (`ffffffff\r\n`) before its data.
const CHUNK_PREFIX: usize = 10;

/// Holds the body back until a chunk is full: a short body goes out with
/// `Content-Length` (and can still be replaced by an error), a long one
/// chunked.
struct ChunkWriter<'a> {
    stream: &'a mut TcpStream,
    shell: &'a Response,
    keep: bool,
    buf: Vec<u8>,
    started: bool,
}

impl ChunkWriter<'_> {
    fn emit_chunk(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            let h = head_bytes(self.shell, None, self.keep);
            self.stream.write_all(&h)?;
        }
        if self.buf.len() <= CHUNK_PREFIX {
            return Ok(());
        }
        // The size line goes into the room kept at the buffer's start, so
        // each chunk is one write.
        let size = format!("{:x}\r\n", self.buf.len() - CHUNK_PREFIX);
        let at = CHUNK_PREFIX - size.len();
        self.buf[at..CHUNK_PREFIX].copy_from_slice(size.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        self.stream.write_all(&self.buf[at..])?;
        self.buf.truncate(CHUNK_PREFIX);
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        if !self.started {
            let body = &self.buf[CHUNK_PREFIX..];
            let mut out = head_bytes(self.shell, Some(body.len()), self.keep);
            out.extend_from_slice(body);
            return self.stream.write_all(&out);
        }
        self.emit_chunk()?;
        self.stream.write_all(b"0\r\n\r\n")
    }
}

impl Write for ChunkWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK + CHUNK_PREFIX {
            self.emit_chunk()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Head {
        parse_head(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn heads() {
        assert_eq!(
            p("GET /api/now?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close"),
            Head::Request {
                head_only: false,
                target: "/api/now?x=1".into(),
                keep_alive: false,
                has_body: false
            }
        );
        assert_eq!(
            p("HEAD / HTTP/1.0"),
            Head::Request {
                head_only: true,
                target: "/".into(),
                keep_alive: false,
                has_body: false
            }
        );
        assert!(matches!(
            p("POST / HTTP/1.1\r\nContent-Length: 3"),
            Head::Reject(405, _)
        ));
        assert!(matches!(p("GET /\tx HTTP/1.1"), Head::Reject(400, _)));
        assert!(matches!(p("GET http://x/ HTTP/1.1"), Head::Reject(400, _)));
        assert!(matches!(p("GET / HTTP/2"), Head::Reject(400, _)));
        assert!(matches!(p("GET / HTTP/1.1\r\nbad"), Head::Reject(400, _)));
        assert!(matches!(p("GET  / HTTP/1.1"), Head::Reject(400, _)));
        let long = format!("GET /{} HTTP/1.1", "a".repeat(5000));
        assert!(matches!(p(&long), Head::Reject(414, _)));
        let many = format!("GET / HTTP/1.1{}", "\r\nX: y".repeat(60));
        assert!(matches!(p(&many), Head::Reject(431, _)));
    }

    #[test]
    fn head_end_and_params() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest", 0), Some((15, 18)));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n", 0), Some((14, 16)));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n", 0), None);
        let r = Request {
            head_only: false,
            path: "/x".into(),
            query: "from=2026-01-01&to&x=1&from=2".into(),
            peer: IpAddr::from([127, 0, 0, 1]),
        };
        assert_eq!(r.param("from"), Some("2026-01-01"));
        assert_eq!(r.param("to"), Some(""));
        assert_eq!(r.param("y"), None);
    }

    #[test]
    fn error_bodies_are_json() {
        let r = Response::error(404, "no \"x\"\n");
        let Body::Bytes(b) = r.body else { panic!() };
        assert_eq!(b, b"{\"error\":\"no \\\"x\\\"\\u000a\"}\n");
    }
}
