//! A request head: where it ends in the bytes received, whether it stays
//! within the limits, and what it asks. Pure.
//!
//! The tokens are checked by `httparse` (small, fuzzed, the parser under
//! hyper); the rules on top of it are ours: the limits as README states them
//! (request line, whole head, number of fields), `GET`/`HEAD` only, a `Host`
//! on every HTTP/1.1 request, targets in origin or absolute form.

use super::Limits;

/// What a complete request head asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub head_only: bool,
    /// Path and query in origin form (`/api/now?x=1`), never decoded.
    pub target: String,
    /// HTTP/1.1 (else 1.0: no chunked body, kept alive only on request).
    pub http11: bool,
    pub keep_alive: bool,
    /// A body follows (it is never read: answer, then close).
    pub has_body: bool,
    /// The `If-None-Match` fields, joined.
    pub if_none_match: Option<String>,
}

/// What a head turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    Request(Parsed),
    /// Answer with this status and message, then close.
    Reject(u16, &'static str),
}

/// Where the head at the start of `buf` ends.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// The head is `buf[..end]`, blank line included.
    Complete(usize),
    /// Not complete yet; search again from this index when more arrives.
    Partial(usize),
    /// Over a limit: answer with this, then close.
    Reject(u16, &'static str),
}

/// Looks for the blank line that ends the head, from `searched` on (what
/// was searched before, less three bytes for a line end split across
/// reads), and applies the size limits: a request line over
/// `limits.max_line` bytes (line end excluded) is 414, a head over
/// `limits.max_head` bytes (blank line included) is 431, whether or not its
/// end has arrived.
pub fn scan(buf: &[u8], searched: usize, limits: &Limits) -> Scan {
    let line_end = buf.iter().position(|&b| b == b'\n');
    let upto = line_end.unwrap_or(buf.len());
    let line_len = upto - usize::from(upto > 0 && buf[upto - 1] == b'\r');
    if line_len > limits.max_line {
        return Scan::Reject(414, "request line too long");
    }
    let mut i = searched.saturating_sub(3);
    while let Some(off) = buf
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let nl = i + off;
        let end = match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => Some(nl + 3),
            _ => None,
        };
        if let Some(end) = end {
            if end > limits.max_head {
                return Scan::Reject(431, "request head too large");
            }
            return Scan::Complete(end);
        }
        i = nl + 1;
    }
    if buf.len() >= limits.max_head {
        return Scan::Reject(431, "request head too large");
    }
    Scan::Partial(buf.len())
}

/// Parses a complete head (as [`scan`] delimited it).
pub fn parse(head: &[u8], limits: &Limits) -> Head {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Head::Reject(400, "malformed request head"),
        Err(e) => return rejected(e),
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Head::Reject(400, "malformed request line");
    };
    let http11 = version == 1;
    let Some(target) = origin_form(target) else {
        return Head::Reject(400, "malformed request target");
    };
    let f = Fields::read(req.headers);
    if http11 && f.hosts != 1 {
        return Head::Reject(400, "an HTTP/1.1 request needs one Host field");
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Head::Reject(405, "only GET and HEAD are served"),
    };
    Head::Request(Parsed {
        head_only,
        target,
        http11,
        keep_alive: (http11 || f.keep_alive) && !f.close,
        has_body: f.has_body,
        if_none_match: f.if_none_match,
    })
}

/// The answer to a head httparse refused.
fn rejected(e: httparse::Error) -> Head {
    let status = match e {
        httparse::Error::TooManyHeaders => 431,
        _ => 400,
    };
    Head::Reject(
        status,
        match e {
            httparse::Error::TooManyHeaders => "too many header fields",
            httparse::Error::Version => "unsupported HTTP version",
            httparse::Error::HeaderName => "malformed header field name",
            httparse::Error::HeaderValue => "control character in a header field value",
            _ => "malformed request line",
        },
    )
}

/// What the header fields say that the server acts on.
#[derive(Default)]
struct Fields {
    hosts: usize,
    /// `Connection: keep-alive` / `close` seen.
    keep_alive: bool,
    close: bool,
    has_body: bool,
    if_none_match: Option<String>,
}

impl Fields {
    fn read(headers: &[httparse::Header<'_>]) -> Fields {
        let mut f = Fields::default();
        for h in headers {
            let value = String::from_utf8_lossy(h.value);
            let value = value.trim();
            let name = h.name;
            if name.eq_ignore_ascii_case("host") {
                f.hosts += 1;
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        f.close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        f.keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || (name.eq_ignore_ascii_case("content-length") && value != "0")
            {
                f.has_body = true;
            } else if name.eq_ignore_ascii_case("if-none-match") {
                f.if_none_match = Some(match f.if_none_match {
                    Some(v) => format!("{v}, {value}"),
                    None => value.to_string(),
                });
            }
        }
        f
    }
}

/// The target in origin form: `/path?query` as it is, or the same taken
/// out of an absolute-form `http://host[:port]/path?query`. Printable ASCII
/// only; no fragment (a client never sends one) and no user information
/// in the authority (RFC 9110 4.2.4: an error), which would otherwise be
/// answered as if they were not there.
fn origin_form(target: &str) -> Option<String> {
    if !target.bytes().all(|b| b.is_ascii_graphic()) || target.contains('#') {
        return None;
    }
    if target.starts_with('/') {
        return Some(target.to_string());
    }
    let scheme = target.get(..7)?;
    if !scheme.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = &target[7..];
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    if at == 0 || rest[..at].contains('@') {
        return None;
    }
    Some(match &rest[at..] {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    })
}

/// True when the `If-None-Match` value names `etag` (weak comparison, as
/// for a GET) or is `*`.
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let weakless = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let ours = weakless(etag);
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || weakless(t) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Head {
        parse(format!("{s}\r\n\r\n").as_bytes(), &Limits::default())
    }

    fn request(target: &str, http11: bool, keep_alive: bool) -> Head {
        Head::Request(Parsed {
            head_only: false,
            target: target.into(),
            http11,
            keep_alive,
            has_body: false,
            if_none_match: None,
        })
    }

    #[test]
    fn heads() {
        assert_eq!(
            p("GET /api/now?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close"),
            request("/api/now?x=1", true, false)
        );
        assert_eq!(p("GET / HTTP/1.0"), request("/", false, false));
        assert!(matches!(
            p("HEAD / HTTP/1.0"),
            Head::Request(Parsed {
                head_only: true,
                ..
            })
        ));
        assert!(matches!(
            p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3"),
            Head::Reject(405, _)
        ));
        for bad in [
            "GET /\tx HTTP/1.1\r\nHost: a",
            "GET / HTTP/2\r\nHost: a",
            "GET / HTTP/1.1\r\nHost: a\r\nbad",
            "GET  / HTTP/1.1\r\nHost: a",
            "GET /é HTTP/1.1\r\nHost: a",
        ] {
            assert!(matches!(p(bad), Head::Reject(400, _)), "{bad:?}");
        }
        let many = format!("GET / HTTP/1.1\r\nHost: a{}", "\r\nX: y".repeat(48));
        assert!(matches!(p(&many), Head::Reject(431, _)));
        let most = format!("GET / HTTP/1.1\r\nHost: a{}", "\r\nX: y".repeat(47));
        assert!(matches!(p(&most), Head::Request(_)), "48 fields are fine");
    }

    #[test]
    fn host_is_required_in_http11_only() {
        assert!(matches!(p("GET / HTTP/1.1"), Head::Reject(400, _)));
        assert!(matches!(
            p("GET / HTTP/1.1\r\nHost: a\r\nHost: b"),
            Head::Reject(400, _)
        ));
        assert!(matches!(p("GET / HTTP/1.0"), Head::Request(_)));
    }

    #[test]
    fn control_characters_in_a_value_are_refused() {
        for v in ["a\x01b", "a\x7fb", "a\x00b", "a\rb"] {
            let h = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Y: {v}\r\n\r\n");
            assert!(
                matches!(
                    parse(h.as_bytes(), &Limits::default()),
                    Head::Reject(400, _)
                ),
                "{v:?}"
            );
        }
        assert!(matches!(
            p("GET / HTTP/1.1\r\nHost: a\r\nX-Y: a\tb"),
            Head::Request(_)
        ));
    }

    #[test]
    fn close_anywhere_closes() {
        for c in [
            "close",
            "keep-alive, close",
            "close, keep-alive",
            "Upgrade,CLOSE",
        ] {
            let h = p(&format!("GET / HTTP/1.1\r\nHost: a\r\nConnection: {c}"));
            assert_eq!(h, request("/", true, false), "{c}");
        }
        let h = p("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: keep-alive");
        assert_eq!(h, request("/", true, false));
        let h = p("GET / HTTP/1.0\r\nConnection: keep-alive");
        assert_eq!(h, request("/", false, true));
    }

    #[test]
    fn absolute_form_targets() {
        for (t, want) in [
            ("http://box:8080/api/now", "/api/now"),
            (
                "HTTP://box/api/days?from=2025-01-01",
                "/api/days?from=2025-01-01",
            ),
            ("http://box", "/"),
            ("http://box?x=1", "/?x=1"),
        ] {
            let h = p(&format!("GET {t} HTTP/1.1\r\nHost: box"));
            assert_eq!(h, request(want, true, true), "{t}");
        }
        for t in [
            "https://box/",
            "ftp://box/",
            "http:///x",
            "box/x",
            "*",
            "/api/now#frag",
            "http://box/api/now#x",
            "http://user:pw@box/api/now",
            "http://user@box",
        ] {
            let h = p(&format!("GET {t} HTTP/1.1\r\nHost: box"));
            assert!(matches!(h, Head::Reject(400, _)), "{t}");
        }
    }

    #[test]
    fn limits_hold_exactly() {
        let l = Limits::default();
        // A request line of exactly max_line bytes, and one more.
        let line = |n: usize| format!("GET /{} HTTP/1.1", "a".repeat(n - 14));
        assert_eq!(line(4096).len(), 4096);
        let ok = format!("{}\r\nHost: a\r\n\r\n", line(4096));
        assert_eq!(scan(ok.as_bytes(), 0, &l), Scan::Complete(ok.len()));
        let long = format!("{}\r\nHost: a\r\n\r\n", line(4097));
        assert_eq!(
            scan(long.as_bytes(), 0, &l),
            Scan::Reject(414, "request line too long")
        );
        assert!(matches!(
            scan(&long.as_bytes()[..4097], 0, &l),
            Scan::Reject(414, _)
        ));
        assert!(matches!(
            scan(&long.as_bytes()[..4096], 0, &l),
            Scan::Partial(_)
        ));
        // A head of exactly max_head bytes, blank line included, and one more.
        let head = |n: usize| {
            let start = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
            format!("{start}{}\r\n\r\n", "p".repeat(n - start.len() - 4))
        };
        let ok = head(16 * 1024);
        assert_eq!(ok.len(), 16 * 1024);
        assert_eq!(scan(ok.as_bytes(), 0, &l), Scan::Complete(ok.len()));
        assert!(matches!(parse(ok.as_bytes(), &l), Head::Request(_)));
        let big = head(16 * 1024 + 1);
        assert!(matches!(scan(big.as_bytes(), 0, &l), Scan::Reject(431, _)));
        assert!(matches!(
            scan(&big.as_bytes()[..16 * 1024], 0, &l),
            Scan::Reject(431, _)
        ));
        assert!(matches!(
            scan(&big.as_bytes()[..16 * 1024 - 1], 0, &l),
            Scan::Partial(_)
        ));
    }

    #[test]
    fn scanning_resumes_across_reads() {
        let l = Limits::default();
        let h = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nnext";
        let mut searched = 0;
        for n in 1..h.len() {
            match scan(&h[..n], searched, &l) {
                Scan::Partial(s) => searched = s,
                Scan::Complete(end) => {
                    assert_eq!(end, 27);
                    assert_eq!(n, 27);
                    return;
                }
                r => panic!("{r:?}"),
            }
        }
        panic!("never complete");
    }

    #[test]
    fn bare_line_feeds_end_a_head() {
        let l = Limits::default();
        assert_eq!(scan(b"GET / HTTP/1.0\n\n", 0, &l), Scan::Complete(16));
        assert_eq!(scan(b"GET / HTTP/1.0\r\n", 0, &l), Scan::Partial(16));
    }

    #[test]
    fn validators() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
