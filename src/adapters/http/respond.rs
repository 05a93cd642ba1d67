//! A response on the wire: its head (status, `Date`, how the body is
//! delimited, whether the connection stays), `304 Not Modified` for a
//! client that already holds the validator, and writes on non-blocking
//! sockets that give up when the client takes less than the minimum rate.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::head::etag_matches;
use super::{Body, Limits, Response, Writer, reason};
use crate::adapters::sys::{PollFd, Wait, poll};

/// How a body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    /// HTTP/1.1 only.
    Chunked,
    /// HTTP/1.0 has no chunks: the body ends when the connection closes.
    UntilClose,
    /// A 304: no body, and no length of one.
    None,
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110's IMF-fixdate) for `t`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let days = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    let (y, m, d) = crate::core::calendar::civil_from_days(days);
    const WEEKDAY: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTH: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        WEEKDAY[days.rem_euclid(7) as usize],
        MONTH[(m as usize).clamp(1, 12) - 1],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The head of `resp`, ending with the blank line.
pub fn head_bytes(resp: &Response, framing: Framing, keep: bool) -> Vec<u8> {
    let mut h = Vec::with_capacity(256);
    let _ = write!(
        h,
        "HTTP/1.1 {} {}\r\nDate: {}\r\n",
        resp.status,
        reason(resp.status),
        http_date(SystemTime::now())
    );
    if framing != Framing::None {
        let _ = write!(h, "Content-Type: {}\r\n", resp.content_type);
    }
    h.extend_from_slice(b"X-Content-Type-Options: nosniff\r\n");
    for (name, value) in &resp.headers {
        let _ = write!(h, "{name}: {value}\r\n");
    }
    match framing {
        Framing::Length(n) => {
            let _ = write!(h, "Content-Length: {n}\r\n");
        }
        Framing::Chunked => h.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::UntilClose | Framing::None => {}
    }
    h.extend_from_slice(if keep && framing != Framing::UntilClose {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    h
}

/// A 200 whose `ETag` the client named in `If-None-Match` becomes a 304
/// without a body: the client's copy is current.
pub fn not_modified(resp: Response, if_none_match: Option<&str>) -> Response {
    let current = resp.status == 200
        && if_none_match.is_some_and(|inm| {
            resp.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("etag") && etag_matches(inm, v))
        });
    if !current {
        return resp;
    }
    Response {
        status: 304,
        body: Body::Static(b""),
        ..resp
    }
}

/// A body whose bytes are all at hand.
pub enum Fixed {
    Bytes(Vec<u8>),
    Static(&'static [u8]),
    Shared(Arc<Vec<u8>>),
}

impl Fixed {
    fn bytes(&self) -> &[u8] {
        match self {
            Fixed::Bytes(b) => b,
            Fixed::Static(b) => b,
            Fixed::Shared(b) => b,
        }
    }
}

/// Splits a response into its head-only shell and its body: fixed, or
/// the writer of a streamed one.
pub fn split(resp: Response) -> (Response, Result<Fixed, Writer>) {
    let Response {
        status,
        content_type,
        headers,
        body,
    } = resp;
    let body = match body {
        Body::Bytes(b) => Ok(Fixed::Bytes(b)),
        Body::Static(b) => Ok(Fixed::Static(b)),
        Body::Shared(b) => Ok(Fixed::Shared(b)),
        Body::Stream(w) => Err(w),
    };
    let shell = Response {
        status,
        content_type,
        headers,
        body: Body::Static(b""),
    };
    (shell, body)
}

/// A response being sent: its head, then its body, from `sent` on.
pub struct Outgoing {
    head: Vec<u8>,
    body: Option<Fixed>,
    sent: usize,
    pub pace: Pace,
}

/// Bodies up to this size go out in the same write as their head.
const SMALL: usize = 16 * 1024;

impl Outgoing {
    /// `shell`'s head and `body` (none for `HEAD`, or `framing` without
    /// one), with `Content-Length` unless `framing` says otherwise.
    pub fn new(
        shell: &Response,
        body: Option<Fixed>,
        framing: Option<Framing>,
        keep: bool,
    ) -> Self {
        let framing = match (shell.status, framing, &body) {
            (304, _, _) => Framing::None,
            (_, Some(f), _) => f,
            (_, None, Some(b)) => Framing::Length(b.bytes().len()),
            (_, None, None) => Framing::Length(0),
        };
        let mut head = head_bytes(shell, framing, keep);
        let body = body.filter(|_| framing != Framing::None);
        let body = match body {
            Some(b) if b.bytes().len() <= SMALL => {
                head.extend_from_slice(b.bytes());
                None
            }
            b => b,
        };
        Outgoing {
            head,
            body,
            sent: 0,
            pace: Pace::new(),
        }
    }

    /// A whole response: its head and, unless `head_only`, its body.
    /// A streamed body has no place here: only its head is sent.
    pub fn whole(resp: Response, head_only: bool, keep: bool) -> Self {
        match split(resp) {
            (shell, Ok(b)) if head_only => {
                let framing = Framing::Length(b.bytes().len());
                Outgoing::new(&shell, None, Some(framing), keep)
            }
            (shell, Ok(b)) => Outgoing::new(&shell, Some(b), None, keep),
            (shell, Err(_)) => Outgoing::new(&shell, None, None, keep),
        }
    }

    /// Writes what the socket takes now; `Ok(true)` once all is sent.
    pub fn push(&mut self, stream: &mut TcpStream) -> io::Result<bool> {
        loop {
            let body = self.body.as_ref().map_or(&[][..], Fixed::bytes);
            let rest = if self.sent < self.head.len() {
                &self.head[self.sent..]
            } else {
                match body.get(self.sent - self.head.len()..) {
                    Some(r) if !r.is_empty() => r,
                    _ => return Ok(true),
                }
            };
            match stream.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    self.pace.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }
}

/// The minimum rate a client must take a response at: after a grace
/// period, at least `min_rate` bytes a second on average since the
/// response began, or the connection is closed.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    start: Instant,
    sent: u64,
}

impl Pace {
    pub fn new() -> Self {
        Pace {
            start: Instant::now(),
            sent: 0,
        }
    }

    /// When the response must have sent more than it has.
    pub fn deadline(&self, limits: &Limits) -> Instant {
        let per_byte = 1.0 / limits.min_rate.max(1) as f64;
        let allowed = limits.grace + Duration::from_secs_f64(self.sent as f64 * per_byte);
        self.start
            .checked_add(allowed)
            .unwrap_or(self.start + limits.grace)
    }
}

/// Writes all of `bytes` to the non-blocking `stream`, waiting for room
/// until `pace` says the client is too slow (then `TimedOut`).
pub fn write_paced(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    pace: &mut Pace,
    limits: &Limits,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                pace.sent += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = pace
                    .deadline(limits)
                    .saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                let mut fds = [PollFd::new(stream, Wait::Write)];
                poll(&mut fds, Some(left))?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

const CHUNK: usize = 16 * 1024;
/// Room for a chunk's size line (`ffffffff\r\n`) before its data.
const CHUNK_PREFIX: usize = 10;

/// Sends a streamed body as it is written: held back until a chunk is
/// full, so a short body still goes out with `Content-Length` (and can
/// still be replaced by an error); a long one chunked to HTTP/1.1, or as
/// it comes, ended by closing, to HTTP/1.0.
pub struct StreamOut<'a> {
    stream: &'a mut TcpStream,
    shell: &'a Response,
    http11: bool,
    keep: bool,
    limits: &'a Limits,
    pace: Pace,
    buf: Vec<u8>,
    started: bool,
}

impl<'a> StreamOut<'a> {
    pub fn new(
        stream: &'a mut TcpStream,
        shell: &'a Response,
        http11: bool,
        keep: bool,
        limits: &'a Limits,
    ) -> Self {
        let mut buf = Vec::with_capacity(CHUNK + CHUNK_PREFIX + 4096);
        buf.resize(CHUNK_PREFIX, 0);
        StreamOut {
            stream,
            shell,
            http11,
            keep,
            limits,
            pace: Pace::new(),
            buf,
            started: false,
        }
    }

    pub fn started(&self) -> bool {
        self.started
    }

    fn emit(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            let framing = if self.http11 {
                Framing::Chunked
            } else {
                Framing::UntilClose
            };
            let h = head_bytes(self.shell, framing, self.keep);
            write_paced(self.stream, &h, &mut self.pace, self.limits)?;
        }
        if self.buf.len() <= CHUNK_PREFIX {
            return Ok(());
        }
        if !self.http11 {
            write_paced(
                self.stream,
                &self.buf[CHUNK_PREFIX..],
                &mut self.pace,
                self.limits,
            )?;
            self.buf.truncate(CHUNK_PREFIX);
            return Ok(());
        }
        // The size line goes into the room kept at the buffer's start, so
        // each chunk is one write.
        let size = format!("{:x}\r\n", self.buf.len() - CHUNK_PREFIX);
        let at = CHUNK_PREFIX - size.len();
        self.buf[at..CHUNK_PREFIX].copy_from_slice(size.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        write_paced(self.stream, &self.buf[at..], &mut self.pace, self.limits)?;
        self.buf.truncate(CHUNK_PREFIX);
        Ok(())
    }

    /// Ends the body; `Ok(true)` when the connection can carry another
    /// request.
    pub fn finish(mut self) -> io::Result<bool> {
        if !self.started {
            let body = &self.buf[CHUNK_PREFIX..];
            let mut out = head_bytes(self.shell, Framing::Length(body.len()), self.keep);
            out.extend_from_slice(body);
            write_paced(self.stream, &out, &mut self.pace, self.limits)?;
            return Ok(self.keep);
        }
        self.emit()?;
        if self.http11 {
            write_paced(self.stream, b"0\r\n\r\n", &mut self.pace, self.limits)?;
            return Ok(self.keep);
        }
        Ok(false)
    }
}

impl Write for StreamOut<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK + CHUNK_PREFIX {
            self.emit()?;
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

    #[test]
    fn dates() {
        let at = |s: u64| http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(1_709_208_000), "Thu, 29 Feb 2024 12:00:00 GMT");
        assert_eq!(at(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn heads_say_how_the_body_ends() {
        let r = Response::error(404, "no");
        let h = String::from_utf8(head_bytes(&r, Framing::Length(3), true)).unwrap();
        assert!(h.starts_with("HTTP/1.1 404 Not Found\r\nDate: "), "{h}");
        assert!(h.contains("\r\nContent-Length: 3\r\n"));
        assert!(h.ends_with("\r\nConnection: keep-alive\r\n\r\n"));
        let h = String::from_utf8(head_bytes(&r, Framing::UntilClose, true)).unwrap();
        assert!(
            !h.contains("Content-Length") && !h.contains("chunked"),
            "{h}"
        );
        assert!(h.ends_with("\r\nConnection: close\r\n\r\n"), "{h}");
    }

    #[test]
    fn a_current_validator_gets_304() {
        let page =
            || Response::new(200, "text/html", Body::Static(b"page")).header("ETag", "\"v1\"");
        assert_eq!(not_modified(page(), Some("\"v1\"")).status, 304);
        assert_eq!(not_modified(page(), Some("\"v0\"")).status, 200);
        assert_eq!(not_modified(page(), None).status, 200);
        let r = not_modified(page(), Some("*"));
        let (shell, body) = split(r);
        let out = Outgoing::new(&shell, body.ok(), None, true);
        let h = String::from_utf8(out.head).unwrap();
        assert!(h.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{h}");
        assert!(h.contains("\r\nETag: \"v1\"\r\n"), "{h}");
        assert!(
            !h.contains("Content-Length") && h.ends_with("\r\n\r\n"),
            "{h}"
        );
        assert!(out.body.is_none());
    }
}
