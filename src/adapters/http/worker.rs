//! The workers: each takes a complete request head from the gate, asks the
//! handler, and starts the answer. It is written here while the client
//! takes it; once the client stops taking it, the rest of a fixed body
//! goes back to the gate, so a slow reader never holds a worker. A streamed body (a download) is written by
//! its worker as it is made, at the minimum rate, and only `streams` of
//! them run at once, so downloads can never hold every worker.

use std::time::Duration;

use super::conn::{Conn, Job, Shared, State, Then};
use super::head::Parsed;
use super::respond::{Framing, Outgoing, StreamOut, not_modified, split};
use super::{Body, Handler, Limits, Request, Response, Writer};
use crate::adapters::sys::{PollFd, Wait, poll};

pub fn run(shared: &Shared, limits: &Limits, handler: &Handler) {
    loop {
        let Job { conn, head } = shared.next_job();
        answer(conn, head, shared, limits, handler);
    }
}

fn answer(mut conn: Conn, head: Parsed, shared: &Shared, limits: &Limits, handler: &Handler) {
    let (path, query) = match head.target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (head.target.clone(), String::new()),
    };
    let req = Request {
        head_only: head.head_only,
        path,
        query,
        peer: conn.peer,
    };
    let resp = not_modified(handler(&req), head.if_none_match.as_deref());
    // A request with a body is answered and the connection closed: the
    // body is never read, so it cannot be mistaken for a next request.
    let keep = head.keep_alive && !head.has_body;
    let after_close = if head.has_body || !conn.buf.is_empty() {
        Then::Linger
    } else {
        Then::Close
    };
    let then = if keep { Then::Next } else { after_close };
    let out = match resp.body {
        Body::Stream(_) if head.head_only => {
            // The head a GET would get now (503 while the downloads are
            // taken), without its body. The stream is not made, so its
            // framing is not known (a GET's short download has a
            // `Content-Length`, a long one is chunked): neither is sent,
            // as RFC 9110 9.3.2 allows.
            let permit = shared.stream_permit(conn.peer, limits.streams, limits.streams_per_client);
            let out = match permit {
                Some(_) => Outgoing::new(&split(resp).0, None, Some(Framing::None), keep),
                None => Outgoing::whole(downloads_busy(), true, keep),
            };
            return send(conn, out, then, shared, limits);
        }
        Body::Stream(_) => {
            let (shell, body) = split(resp);
            let Err(writer) = body else {
                return;
            };
            match stream(&mut conn, &shell, writer, &head, keep, shared, limits) {
                Streamed::Done(true) => return finish(conn, Then::Next, shared, limits),
                Streamed::Done(false) => return finish(conn, after_close, shared, limits),
                Streamed::Cut => return conn.cut(),
                Streamed::Instead(resp) => Outgoing::whole(resp, false, keep),
            }
        }
        _ => Outgoing::whole(resp, head.head_only, keep),
    };
    send(conn, out, then, shared, limits);
}

/// How long a worker waits for room in a socket's buffer before it hands
/// the rest of a response to the gate: a client that reads as fast as the
/// network goes gets its response from the worker, without a hand-over
/// per buffer-full; one that does not costs the worker this long at most.
const HAND_OVER: Duration = Duration::from_millis(20);

/// Writes while the client takes it; the gate finishes the rest.
fn send(mut conn: Conn, mut out: Outgoing, then: Then, shared: &Shared, limits: &Limits) {
    loop {
        match out.push(&mut conn.stream) {
            Ok(true) => return finish(conn, then, shared, limits),
            Ok(false) => {
                let mut fds = [PollFd::new(&conn.stream, Wait::Write)];
                if matches!(poll(&mut fds, Some(HAND_OVER)), Ok(n) if n > 0) {
                    continue;
                }
                conn.state = State::Send { out, then };
                return shared.give_back(conn);
            }
            Err(_) => return,
        }
    }
}

/// After a response: back to the gate for the next request or a linger,
/// or closed.
fn finish(mut conn: Conn, then: Then, shared: &Shared, limits: &Limits) {
    match then {
        Then::Next => conn.wait_head(limits),
        Then::Linger => conn.linger(limits),
        Then::Close => match conn.close(limits) {
            Some(c) => conn = c,
            None => return,
        },
    }
    shared.give_back(conn);
}

enum Streamed {
    /// Sent; whether the connection can carry another request.
    Done(bool),
    /// Failed after its head was sent: the connection is cut, and the
    /// client sees a truncated transfer, never a wrong one.
    Cut,
    /// Send this instead (nothing was sent yet).
    Instead(Response),
}

fn stream(
    conn: &mut Conn,
    shell: &Response,
    writer: Writer,
    head: &Parsed,
    keep: bool,
    shared: &Shared,
    limits: &Limits,
) -> Streamed {
    let permit = shared.stream_permit(conn.peer, limits.streams, limits.streams_per_client);
    let Some(_permit) = permit else {
        return Streamed::Instead(downloads_busy());
    };
    let mut out = StreamOut::new(&mut conn.stream, shell, head.http11, keep, limits);
    match writer(&mut out) {
        Ok(()) => out.finish().map_or(Streamed::Cut, Streamed::Done),
        Err(resp) if !out.started() => Streamed::Instead(resp),
        Err(_) => Streamed::Cut,
    }
}

fn downloads_busy() -> Response {
    Response::error(503, "too many downloads at once, try again").header("Retry-After", "5")
}
