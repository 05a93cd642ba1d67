//! A small HTTP/1.1 server on `std::net` for `mcce serve`: the only module
//! that speaks HTTP.
//!
//! Written here rather than taken from a crate because what the box needs is
//! small and its limits are the point. One thread, the gate
//! ([`gate`]), accepts connections, turns away clients outside the
//! allowlist at once, and gathers request heads from every open socket with
//! `poll(2)`, each head due within a deadline from accept; a fixed pool of
//! workers ([`worker`]) answers complete heads only, so silent or slow
//! clients cost a socket, never a thread. Heads are checked by `httparse`
//! against our limits ([`head`]); responses carry `Date`, are sent with
//! `Content-Length` when they fit a chunk and chunked when larger (to
//! HTTP/1.1; to HTTP/1.0 they end with the connection), so a day of raw
//! samples never sits whole in memory, and a client that takes them slower
//! than a minimum rate is cut off ([`respond`]). `GET`/`HEAD` only, no
//! request bodies.

mod conn;
mod gate;
mod head;
mod respond;
mod worker;

use std::io::{self, Write};
use std::net::{IpAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Threads answering requests.
    pub workers: usize,
    /// Connections open at once (gathering a head, answered, or idle
    /// between requests); past it the oldest head not complete of the
    /// client holding the most connections makes room, or the newcomer
    /// gets 503.
    pub connections: usize,
    /// Connections open at once from one client address; past it that
    /// client's oldest head not complete makes room, or its newcomer gets
    /// 503. So one client cannot fill `connections` alone.
    pub per_client: usize,
    /// Streamed responses (downloads) at once, each holding a worker;
    /// past it: 503.
    pub streams: usize,
    /// Of those, at once for one client address.
    pub streams_per_client: usize,
    /// The kernel's send buffer of a connection (it doubles it): what a
    /// client that reads nothing can hold of the box's memory, and so how
    /// soon the minimum rate finds it out.
    pub send_buffer: usize,
    /// Time allowed for a whole request head, from accept (or from the end
    /// of the previous response on a kept-alive connection).
    pub head_timeout: Duration,
    /// A response may take this long before the minimum rate applies...
    pub grace: Duration,
    /// ...then the client must have taken this many bytes a second, on
    /// average since the response began, or the connection is closed.
    pub min_rate: u64,
    /// How long an early answer waits for the client to stop sending.
    pub linger: Duration,
    /// Longest request line (method, target, version), line end excluded.
    pub max_line: usize,
    /// Longest request head (request line, fields and the blank line).
    pub max_head: usize,
    /// Most header fields.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            workers: 8,
            connections: 256,
            per_client: 32,
            streams: 2,
            streams_per_client: 1,
            send_buffer: 64 * 1024,
            head_timeout: Duration::from_secs(5),
            grace: Duration::from_secs(10),
            min_rate: 8 * 1024,
            linger: Duration::from_secs(2),
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
        crate::core::json::push_str(&mut body, message);
        body.extend_from_slice(b"}\n");
        Response::new(status, "application/json", Body::Bytes(body))
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
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

pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Decides at accept whether a client is answered at all: `Some(answer)`
/// turns it away with that answer before it costs a worker.
pub type Refuse = dyn Fn(IpAddr) -> Option<Response> + Send + Sync;

/// Serves `listener` forever: the gate on this thread, `limits.workers`
/// workers. Nothing runs without a client: the gate blocks in `poll`, the
/// workers on their queue.
pub fn serve(
    listener: TcpListener,
    limits: Limits,
    refuse: Arc<Refuse>,
    handler: Arc<Handler>,
) -> io::Result<()> {
    let (wake_rx, wake_tx) = UnixStream::pair()?;
    wake_rx.set_nonblocking(true)?;
    wake_tx.set_nonblocking(true)?;
    let shared = Arc::new(conn::Shared::new(wake_tx));
    for i in 0..limits.workers.max(1) {
        let s = Arc::clone(&shared);
        let h = Arc::clone(&handler);
        std::thread::Builder::new()
            .name(format!("http-{i}"))
            .stack_size(512 * 1024)
            .spawn(move || worker::run(&s, &limits, &*h))?;
    }
    gate::run(listener, &limits, &shared, wake_rx, &*refuse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpStream;

    #[test]
    fn params() {
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

    /// A server with small limits on an ephemeral port of both 127.0.0.1
    /// and ::1 (two clients to tell apart): `/big` is a 64 MiB fixed body,
    /// `/mid` a 200 KB one, `/stream` a 64 MiB streamed one, anything
    /// else a short answer. It runs until the test process ends.
    fn small_server(limits: Limits) -> u16 {
        let listener = TcpListener::bind("[::]:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handler: Arc<Handler> = Arc::new(|req: &Request| match req.path.as_str() {
            "/big" => Response::new(200, "text/plain", Body::Bytes(vec![b'x'; 64 << 20])),
            "/mid" => Response::new(200, "text/plain", Body::Bytes(vec![b'x'; 200_000])),
            "/stream" => Response::new(
                200,
                "text/plain",
                Body::Stream(Box::new(|w: &mut dyn Write| {
                    let block = vec![b'y'; 64 * 1024];
                    for _ in 0..1024 {
                        w.write_all(&block)
                            .map_err(|_| Response::error(500, "cut"))?;
                    }
                    Ok(())
                })),
            ),
            _ => Response::error(404, "small"),
        });
        std::thread::spawn(move || serve(listener, limits, Arc::new(|_| None), handler));
        port
    }

    fn ask(port: u16, path: &str) -> TcpStream {
        ask_from("127.0.0.1", port, path)
    }

    /// Asks for `path` from the client `from` (127.0.0.1 or ::1).
    fn ask_from(from: &str, port: u16, path: &str) -> TcpStream {
        let mut s = TcpStream::connect((from, port)).unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        s
    }

    fn status_within(port: u16, path: &str, limit: Duration) -> String {
        status_from("127.0.0.1", port, path, limit)
    }

    fn status_from(from: &str, port: u16, path: &str, limit: Duration) -> String {
        let t = std::time::Instant::now();
        let mut s = ask_from(from, port, path);
        s.set_read_timeout(Some(limit)).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert!(t.elapsed() < limit, "{path} took {:?}", t.elapsed());
        String::from_utf8_lossy(&head[9..12]).into_owned()
    }

    /// Reads what `s` still delivers until the server ends it: the count,
    /// and whether it ended with a reset (a cut) rather than a close.
    fn drain(mut s: TcpStream) -> (usize, bool) {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (total, false),
                Ok(n) => total += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (total, true),
                Err(e) => panic!("not ended by the server after {total} bytes: {e}"),
            }
        }
    }

    fn quick() -> Limits {
        Limits {
            workers: 2,
            streams: 1,
            grace: Duration::from_millis(300),
            min_rate: 8 << 20,
            ..Limits::default()
        }
    }

    /// A client that takes a large fixed body too slowly holds no worker
    /// while it is sent, and is cut off at the minimum rate.
    #[test]
    fn a_slow_reader_of_a_fixed_body_is_cut_off() {
        let port = small_server(Limits {
            workers: 1,
            ..quick()
        });
        let slow = ask(port, "/big");
        std::thread::sleep(Duration::from_millis(200));
        for _ in 0..3 {
            assert_eq!(status_within(port, "/now", Duration::from_secs(1)), "404");
        }
        std::thread::sleep(Duration::from_secs(3));
        let (got, reset) = drain(slow);
        assert!(got < 64 << 20, "all {got} bytes sent");
        assert!(reset, "a cut response must not look complete");
    }

    /// Downloads run on at most `streams` workers; one read too slowly is
    /// cut off at the minimum rate.
    #[test]
    fn streams_are_bounded_and_paced() {
        let port = small_server(quick());
        let slow = ask(port, "/stream");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            status_within(port, "/stream", Duration::from_secs(1)),
            "503"
        );
        assert_eq!(status_within(port, "/now", Duration::from_secs(1)), "404");
        std::thread::sleep(Duration::from_secs(3));
        let (got, reset) = drain(slow);
        assert!(got < 64 << 20, "all {got} bytes sent");
        assert!(reset, "a cut download must not look complete");
        assert_eq!(status_within(port, "/now", Duration::from_secs(1)), "404");
    }

    /// The head the server answers `HEAD path` with (it closes after).
    fn head_of(from: &str, port: u16, path: &str) -> String {
        let mut s = TcpStream::connect((from, port)).unwrap();
        s.write_all(
            format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// HEAD of a download says what a GET would get now: 503 while the
    /// downloads are taken; and no framing it cannot know without making
    /// the body (a short one goes with `Content-Length`, a long one
    /// chunked).
    #[test]
    fn head_of_a_download_is_what_a_get_would_get() {
        let port = small_server(Limits {
            streams: 1,
            grace: Duration::from_secs(30),
            min_rate: 1,
            ..quick()
        });
        let h = head_of("::1", port, "/stream");
        assert!(h.starts_with("HTTP/1.1 200 "), "{h}");
        let l = h.to_ascii_lowercase();
        assert!(
            !l.contains("transfer-encoding") && !l.contains("content-length"),
            "{h}"
        );
        let _taken = ask(port, "/stream");
        std::thread::sleep(Duration::from_millis(300));
        let h = head_of("::1", port, "/stream");
        assert!(h.starts_with("HTTP/1.1 503 "), "{h}");
    }

    /// Connections from `from` that each sent one byte of a head.
    fn partial_heads(from: &str, port: u16, n: usize) -> Vec<TcpStream> {
        (0..n)
            .map(|_| {
                let mut s = TcpStream::connect((from, port)).unwrap();
                s.write_all(b"G").unwrap();
                s
            })
            .collect()
    }

    /// Whether the server answered `s` with a 503 (it then closed it).
    fn told_busy(s: &mut TcpStream) -> bool {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok() && &head[9..12] == b"503"
    }

    /// One client holding a head begun on every connection it may open
    /// cannot keep the server from others, nor from its own next request:
    /// its oldest unfinished head makes room.
    #[test]
    fn one_client_of_unfinished_heads_starves_nobody() {
        let port = small_server(quick());
        let mut flood = partial_heads("127.0.0.1", port, 300);
        std::thread::sleep(Duration::from_millis(300));
        for from in ["::1", "127.0.0.1", "::1"] {
            assert_eq!(
                status_from(from, port, "/now", Duration::from_secs(1)),
                "404"
            );
        }
        // The client's oldest heads went first.
        assert!(told_busy(&mut flood[0]));
        assert!(!told_busy(&mut flood[299]));
    }

    /// With every connection taken, by clients sending heads that never
    /// end, a newcomer from another client gets in: the oldest unfinished
    /// head of the client holding the most connections makes room, not
    /// only a connection that sent nothing.
    #[test]
    fn a_full_server_makes_room_at_the_busiest_client() {
        let port = small_server(Limits {
            connections: 40,
            ..quick()
        });
        let mut busiest = partial_heads("127.0.0.1", port, 32);
        let _other = partial_heads("::1", port, 8);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            status_from("::1", port, "/now", Duration::from_secs(1)),
            "404"
        );
        assert!(told_busy(&mut busiest[0]));
    }

    /// One download at a time per client: its second waits its turn, and
    /// another client still gets one.
    #[test]
    fn one_download_at_a_time_per_client() {
        let port = small_server(Limits {
            streams: 2,
            grace: Duration::from_secs(30),
            min_rate: 1,
            ..quick()
        });
        let _first = ask(port, "/stream");
        std::thread::sleep(Duration::from_millis(300));
        let limit = Duration::from_secs(1);
        assert_eq!(status_within(port, "/stream", limit), "503");
        assert_eq!(status_from("::1", port, "/stream", limit), "200");
    }

    /// What the kernel holds for connection `client` (its local address) on
    /// the server's side: the bytes not acknowledged by the client, from
    /// /proc/net/tcp6 (the server listens on `::`).
    fn server_queue(port: u16, client: std::net::SocketAddr) -> Option<u64> {
        let table = std::fs::read_to_string("/proc/net/tcp6").unwrap();
        table.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok()?;
            let remote = u16::from_str_radix(f[2].rsplit(':').next()?, 16).ok()?;
            let tx = f[4].split(':').next()?;
            (local == port && remote == client.port()).then(|| u64::from_str_radix(tx, 16).ok())?
        })
    }

    /// A client that asks for a large body and reads nothing holds at most
    /// about `send_buffer` of the kernel's memory on the server's side (it
    /// doubles it), not megabytes: so the minimum rate finds it out soon.
    #[test]
    fn a_client_that_reads_nothing_holds_a_bounded_send_buffer() {
        let port = small_server(Limits {
            grace: Duration::from_secs(30),
            ..quick()
        });
        let s = ask(port, "/big");
        std::thread::sleep(Duration::from_millis(1500));
        let held = server_queue(port, s.local_addr().unwrap()).expect("the server's socket");
        assert!(
            held > 0 && held <= 2 * 64 * 1024 + 4096,
            "{held} bytes held"
        );
    }

    /// A connection closed after its answer, whose client takes nothing,
    /// does not leave the answer in the kernel (an orphan holds it as long
    /// as the client likes): once the client is overdue it is reset.
    #[test]
    fn an_answer_never_taken_is_reset_not_left_behind() {
        let port = small_server(Limits {
            linger: Duration::from_millis(300),
            ..quick()
        });
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /mid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            server_queue(port, s.local_addr().unwrap()),
            None,
            "left behind"
        );
        assert!(drain(s).1, "ended with a reset");
    }

    #[test]
    fn error_bodies_are_json() {
        let r = Response::error(404, "no \"x\"\n");
        let Body::Bytes(b) = r.body else { panic!() };
        assert_eq!(b, b"{\"error\":\"no \\\"x\\\"\\u000a\"}\n");
    }
}
