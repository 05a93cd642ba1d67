//! The gate: one thread that accepts connections, turns away a client the
//! server does not answer before it costs anything, gathers request heads
//! from every pending socket with `poll(2)`, and finishes the responses a
//! worker could not write at once. A worker only ever gets a complete
//! head, so a silent or slow client holds no thread; the gate blocks in
//! `poll` until a socket is ready or the nearest deadline, so it costs no
//! CPU while nothing happens.

use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::conn::{Conn, Job, LINGER_BYTES, Shared, State, Then};
use super::head::{self, Head, Scan};
use super::respond::Outgoing;
use super::{Limits, Refuse, Response};
use crate::adapters::sys::{PollFd, Wait, poll, set_send_buffer};

/// Connections accepted per wake-up at most, so a burst of them cannot
/// keep the sockets already open waiting.
const ACCEPTS_PER_ROUND: usize = 64;
/// How long to stop accepting after an error such as running out of file
/// descriptors (the listener stays readable: polling it would spin).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How long to wait before polling again after `poll` itself failed.
const POLL_RETRY: Duration = Duration::from_millis(100);

struct Gate<'a> {
    limits: &'a Limits,
    shared: &'a Shared,
    refuse: &'a Refuse,
    conns: Vec<Conn>,
}

pub fn run(
    listener: TcpListener,
    limits: &Limits,
    shared: &Shared,
    mut wake: UnixStream,
    refuse: &Refuse,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut g = Gate {
        limits,
        shared,
        refuse,
        conns: Vec::new(),
    };
    let mut fds: Vec<PollFd> = Vec::new();
    let mut paused_until: Option<Instant> = None;
    let mut poll_failing = false;
    loop {
        for c in shared.take_back() {
            g.advance(c);
        }
        let now = Instant::now();
        g.expire(now);
        paused_until = paused_until.filter(|t| *t > now);
        fds.clear();
        fds.push(PollFd::new(&wake, Wait::Read));
        let accepting = paused_until.is_none();
        fds.push(PollFd::new(
            &listener,
            if accepting { Wait::Read } else { Wait::Nothing },
        ));
        fds.extend(
            g.conns
                .iter()
                .map(|c| PollFd::new(&c.stream, c.poll_events())),
        );
        let nearest = g
            .conns
            .iter()
            .map(|c| c.deadline(limits))
            .chain(paused_until)
            .min();
        if let Err(e) = poll(&mut fds, nearest.map(|t| t.saturating_duration_since(now))) {
            // Short of kernel memory, say: nothing is lost by waiting, the
            // deadlines still close connections, and the next round tries
            // again.
            if !poll_failing {
                log::warn!("poll: {e}; serving again as soon as it works");
                poll_failing = true;
            }
            std::thread::sleep(POLL_RETRY);
            continue;
        }
        if poll_failing {
            log::info!("poll works again");
            poll_failing = false;
        }
        if fds[0].ready() {
            let mut scratch = [0u8; 64];
            while matches!(wake.read(&mut scratch), Ok(n) if n > 0) {}
        }
        let conns = std::mem::take(&mut g.conns);
        for (c, fd) in conns.into_iter().zip(&fds[2..]) {
            if !fd.ready() {
                g.conns.push(c);
            } else {
                g.advance(c);
            }
        }
        if accepting && fds[1].ready() && !g.accept(&listener) {
            paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        }
    }
}

impl Gate<'_> {
    /// Accepts what is waiting; false after an error that calls for a pause.
    fn accept(&mut self, listener: &TcpListener) -> bool {
        for _ in 0..ACCEPTS_PER_ROUND {
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    log::warn!("accept: {e}");
                    return false;
                }
            };
            let Some(peer) = peer_ip(&stream) else {
                continue;
            };
            if let Some(resp) = (self.refuse)(peer) {
                turn_away(stream, resp);
                continue;
            }
            let room = (self.shared.open_from(peer) < self.limits.per_client
                || self.make_room(Some(peer)))
                && (self.shared.open() < self.limits.connections || self.make_room(None));
            if !room {
                turn_away(stream, busy());
                continue;
            }
            let _ = stream.set_nonblocking(true);
            let _ = stream.set_nodelay(true);
            let _ = set_send_buffer(&stream, self.limits.send_buffer);
            let c = Conn::new(stream, peer, self.shared.slot(peer), self.limits);
            self.conns.push(c);
        }
        true
    }

    /// Past a connection limit, a connection whose head is not complete
    /// gives way to a new one (told to come back): `from` that client's,
    /// or else the client's holding the most connections; the oldest of
    /// them. False when there is none.
    fn make_room(&mut self, from: Option<IpAddr>) -> bool {
        let heads = || {
            self.conns
                .iter()
                .enumerate()
                .filter(|(_, c)| matches!(c.state, State::Head { .. }))
        };
        let Some(peer) = from.or_else(|| {
            heads()
                .map(|(_, c)| c.peer)
                .max_by_key(|p| self.shared.open_from(*p))
        }) else {
            return false;
        };
        let oldest = heads()
            .filter(|(_, c)| c.peer == peer)
            .min_by_key(|(_, c)| c.deadline(self.limits))
            .map(|(i, _)| i);
        match oldest {
            Some(i) => {
                let c = self.conns.swap_remove(i);
                turn_away(c.stream, busy());
                true
            }
            None => false,
        }
    }

    /// Ends or answers the connections whose deadline passed: a head not
    /// begun closes quietly, one begun gets 408; a response the client
    /// takes too slowly, or a linger, ends.
    fn expire(&mut self, now: Instant) {
        let conns = std::mem::take(&mut self.conns);
        for mut c in conns {
            if c.deadline(self.limits) > now {
                self.conns.push(c);
                continue;
            }
            if matches!(c.state, State::Head { .. }) && !c.buf.is_empty() {
                c.state = reject(408, "request head not received in time");
                self.advance(c);
            } else {
                c.give_up();
            }
        }
    }

    /// Moves `c` on as far as it goes without waiting; keeps it while it
    /// waits for its socket, hands it to the workers once its head is
    /// complete, or drops it (closing it) when it is done.
    fn advance(&mut self, mut c: Conn) {
        loop {
            match &mut c.state {
                State::Head { searched, .. } => {
                    match head::scan(&c.buf, *searched, self.limits) {
                        Scan::Complete(end) => {
                            let parsed = head::parse(&c.buf[..end], self.limits);
                            c.buf.drain(..end);
                            if c.buf.is_empty() {
                                c.buf = Vec::new();
                            }
                            match parsed {
                                Head::Request(head) => {
                                    self.shared.push_job(Job { conn: c, head });
                                    return;
                                }
                                Head::Reject(status, msg) => c.state = reject(status, msg),
                            }
                            continue;
                        }
                        Scan::Reject(status, msg) => {
                            c.state = reject(status, msg);
                            continue;
                        }
                        Scan::Partial(s) => *searched = s,
                    }
                    match fill(&mut c.stream, &mut c.buf) {
                        Fill::Data => {}
                        Fill::Nothing => {
                            self.conns.push(c);
                            return;
                        }
                        Fill::End => return,
                    }
                }
                State::Send { out, then } => match out.push(&mut c.stream) {
                    Ok(true) => match *then {
                        Then::Next => c.wait_head(self.limits),
                        Then::Close => {
                            self.conns.extend(c.close(self.limits));
                            return;
                        }
                        Then::Linger => c.linger(self.limits),
                    },
                    Ok(false) => {
                        self.conns.push(c);
                        return;
                    }
                    Err(_) => return,
                },
                State::Linger { dropped, ended, .. } => {
                    match drop_input(&mut c.stream, dropped) {
                        Input::More => self.conns.push(c),
                        // The client is done sending; it may still be
                        // taking the answer: wait for that, or the deadline.
                        Input::End => {
                            *ended = true;
                            if c.taking() {
                                self.conns.push(c);
                            }
                        }
                        Input::TooMuch => c.give_up(),
                    }
                    return;
                }
            }
        }
    }
}

/// What a lingering client sent.
enum Input {
    /// Nothing more for now: keep waiting.
    More,
    /// It closed its side, or the socket failed.
    End,
    /// More than `LINGER_BYTES` in all.
    TooMuch,
}

/// Reads and drops what a lingering client sends, until it would block,
/// ends, or has sent more than `LINGER_BYTES` in all.
fn drop_input(stream: &mut TcpStream, dropped: &mut usize) -> Input {
    let mut scratch = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut scratch) {
            Ok(0) => return Input::End,
            Ok(n) => {
                *dropped += n;
                if *dropped > LINGER_BYTES {
                    return Input::TooMuch;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Input::More,
            Err(_) => return Input::End,
        }
    }
}

enum Fill {
    Data,
    /// Nothing to read now.
    Nothing,
    /// The client closed, or the socket failed.
    End,
}

/// Reads what is there into `buf`, 4 KiB at most: through the stack, so
/// a connection holds only what it was sent (nothing while silent).
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Fill {
    let mut scratch = [0u8; 4096];
    loop {
        match stream.read(&mut scratch) {
            Ok(0) => return Fill::End,
            Ok(n) => {
                buf.extend_from_slice(&scratch[..n]);
                return Fill::Data;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Fill::Nothing,
            Err(_) => return Fill::End,
        }
    }
}

/// The answer to a head the server will not serve, then a linger.
fn reject(status: u16, message: &str) -> State {
    let mut resp = Response::error(status, message);
    if status == 405 {
        resp = resp.header("Allow", "GET, HEAD");
    }
    State::Send {
        out: Outgoing::whole(resp, false, false),
        then: Then::Linger,
    }
}

fn busy() -> Response {
    Response::error(503, "too many clients, try again").header("Retry-After", "1")
}

/// Answers a connection the gate will not keep, without waiting for it:
/// what it sent so far is read and dropped (so closing does not reset the
/// answer away), the answer goes into the socket's buffer, and it closes.
fn turn_away(mut stream: TcpStream, resp: Response) {
    let _ = stream.set_nonblocking(true);
    let mut scratch = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let _ = Outgoing::whole(resp, false, false).push(&mut stream);
    let _ = stream.shutdown(Shutdown::Write);
}

/// The client's address; an IPv4 client on a dual-stack socket shows as
/// `::ffff:a.b.c.d`, and is an IPv4 client.
fn peer_ip(stream: &TcpStream) -> Option<IpAddr> {
    let ip = stream.peer_addr().ok()?.ip();
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}
