//! A client connection as the gate and the workers pass it between them:
//! its socket, the bytes received and not yet answered, what it waits for;
//! and the shared places where it waits (the workers' queue, the way back
//! to the gate).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Limits;
use super::head::Parsed;
use super::respond::Outgoing;
use crate::adapters::sys::{Wait, reset_on_close, unacknowledged};

pub struct Conn {
    pub stream: TcpStream,
    pub peer: IpAddr,
    /// Received and not yet answered: a head being gathered, or what a
    /// client sent after the request being answered.
    pub buf: Vec<u8>,
    pub state: State,
    _slot: Slot,
}

pub enum State {
    /// Gathering a request head, complete by `deadline`; `searched` bytes
    /// of `buf` hold no head end.
    Head { deadline: Instant, searched: usize },
    /// Writing a response, then `then`.
    Send { out: Outgoing, then: Then },
    /// After an answer given early, or a last answer the client has not
    /// taken yet: reading and dropping what the client still sends until
    /// it closes (`ended`) or `until` (so the answer is not lost to a
    /// reset), at most `LINGER_BYTES`; reset at `until` if the client still
    /// has not taken all of it.
    Linger {
        until: Instant,
        dropped: usize,
        ended: bool,
    },
}

/// What follows a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// The next request on the same connection.
    Next,
    Close,
    /// Unread bytes may follow (a body, a request after a `close`): linger.
    Linger,
}

pub const LINGER_BYTES: usize = 4 * 1024 * 1024;

impl Conn {
    pub fn new(stream: TcpStream, peer: IpAddr, slot: Slot, limits: &Limits) -> Conn {
        Conn {
            stream,
            peer,
            buf: Vec::new(),
            state: State::Head {
                deadline: Instant::now() + limits.head_timeout,
                searched: 0,
            },
            _slot: slot,
        }
    }

    /// Waits for the next request: its head is due `head_timeout` from now.
    pub fn wait_head(&mut self, limits: &Limits) {
        self.state = State::Head {
            deadline: Instant::now() + limits.head_timeout,
            searched: 0,
        };
    }

    /// Stops writing, and reads what still comes for `limits.linger`, and
    /// as long again as what the client has not taken takes at the
    /// minimum rate.
    pub fn linger(&mut self, limits: &Limits) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let left = unacknowledged(&self.stream).unwrap_or(0) as f64;
        let take = Duration::from_secs_f64(left / limits.min_rate.max(1) as f64);
        self.state = State::Linger {
            until: Instant::now() + limits.linger + take,
            dropped: 0,
            ended: false,
        };
    }

    /// Ends the connection after its last response: closed at once when
    /// the client has taken all of it (`None`), else lingering while it
    /// takes the rest (its orphan would keep the bytes in the kernel for
    /// as long as a client that reads nothing likes).
    pub fn close(mut self, limits: &Limits) -> Option<Conn> {
        if !self.taking() {
            return None;
        }
        self.linger(limits);
        Some(self)
    }

    /// Ends a connection whose response is cut short: reset, always. A
    /// body that ends with the connection (HTTP/1.0) would otherwise look
    /// complete.
    pub fn cut(self) {
        let _ = reset_on_close(&self.stream);
    }

    /// The client has not taken all that was sent yet.
    pub fn taking(&self) -> bool {
        !matches!(unacknowledged(&self.stream), Ok(0) | Err(_))
    }

    /// Ends a connection the server gives up on (a deadline passed, a
    /// download cut): reset when the client has not taken everything, so
    /// no orphan keeps its bytes in the kernel and the client sees a
    /// broken transfer, never a complete-looking one.
    pub fn give_up(self) {
        if self.taking() {
            let _ = reset_on_close(&self.stream);
        }
    }

    /// When what this connection waits for is overdue.
    pub fn deadline(&self, limits: &Limits) -> Instant {
        match &self.state {
            State::Head { deadline, .. } => *deadline,
            State::Send { out, .. } => out.pace.deadline(limits),
            State::Linger { until, .. } => *until,
        }
    }

    pub fn poll_events(&self) -> Wait {
        match self.state {
            State::Send { .. } => Wait::Write,
            // At its end the socket stays readable: only the deadline.
            State::Linger { ended: true, .. } => Wait::Nothing,
            _ => Wait::Read,
        }
    }
}

/// A request head gathered whole, for a worker.
pub struct Job {
    pub conn: Conn,
    pub head: Parsed,
}

/// Counts a connection as open, in all and for its peer, until it is
/// dropped.
pub struct Slot {
    counts: Arc<Counts>,
    peer: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counts.open.fetch_sub(1, Ordering::Relaxed);
        let mut peers = lock(&self.counts.peers);
        if let Some(n) = peers.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

/// Connections open: in all, and per client address.
#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    peers: Mutex<HashMap<IpAddr, usize>>,
}

/// What the gate and the workers share.
pub struct Shared {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
    back: Mutex<Vec<Conn>>,
    /// A byte written here wakes the gate from `poll`.
    wake: UnixStream,
    counts: Arc<Counts>,
    /// The clients of the streamed responses being written (each holds a
    /// worker), one entry per response.
    streams: Mutex<Vec<IpAddr>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(wake: UnixStream) -> Shared {
        Shared {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            back: Mutex::new(Vec::new()),
            wake,
            counts: Arc::default(),
            streams: Mutex::new(Vec::new()),
        }
    }

    /// Connections open: gathering, queued, answered or lingering.
    pub fn open(&self) -> usize {
        self.counts.open.load(Ordering::Relaxed)
    }

    /// Connections open from `peer`.
    pub fn open_from(&self, peer: IpAddr) -> usize {
        lock(&self.counts.peers).get(&peer).copied().unwrap_or(0)
    }

    pub fn slot(&self, peer: IpAddr) -> Slot {
        self.counts.open.fetch_add(1, Ordering::Relaxed);
        *lock(&self.counts.peers).entry(peer).or_insert(0) += 1;
        Slot {
            counts: Arc::clone(&self.counts),
            peer,
        }
    }

    /// A place for a streamed response to `peer`: at most `limit` at once,
    /// `per_peer` of them for one client; `None` when there is none.
    pub fn stream_permit(
        &self,
        peer: IpAddr,
        limit: usize,
        per_peer: usize,
    ) -> Option<StreamPermit<'_>> {
        let mut s = lock(&self.streams);
        let mine = s.iter().filter(|p| **p == peer).count();
        if s.len() >= limit || mine >= per_peer {
            return None;
        }
        s.push(peer);
        Some(StreamPermit { shared: self, peer })
    }

    pub fn push_job(&self, job: Job) {
        lock(&self.jobs).push_back(job);
        self.ready.notify_one();
    }

    pub fn next_job(&self) -> Job {
        let mut q = lock(&self.jobs);
        loop {
            if let Some(j) = q.pop_front() {
                return j;
            }
            q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Hands a connection back to the gate, and wakes it.
    pub fn give_back(&self, conn: Conn) {
        lock(&self.back).push(conn);
        // A full socket means a wake-up is pending already.
        let _ = (&self.wake).write(&[1]);
    }

    pub fn take_back(&self) -> Vec<Conn> {
        std::mem::take(&mut *lock(&self.back))
    }
}

/// One streamed response's place, given back when dropped.
pub struct StreamPermit<'a> {
    shared: &'a Shared,
    peer: IpAddr,
}

impl Drop for StreamPermit<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.shared.streams);
        if let Some(i) = s.iter().position(|p| *p == self.peer) {
            s.swap_remove(i);
        }
    }
}
