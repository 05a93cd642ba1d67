//! A client connection as the gate and the workers pass it between them:
//! its socket, the bytes received and not yet answered, what it waits for;
//! and the shared places where it waits (the workers' queue, the way back
//! to the gate).

use std::collections::VecDeque;
use std::io::Write;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::Limits;
use super::head::Parsed;
use super::respond::Outgoing;
use crate::adapters::sys::Wait;

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
    /// After an answer given early: reading and dropping what the client
    /// still sends until it closes or `until` (so the answer is not lost
    /// to a reset), at most `LINGER_BYTES`.
    Linger { until: Instant, dropped: usize },
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

    /// Stops writing, and reads what still comes for `limits.linger`.
    pub fn linger(&mut self, limits: &Limits) {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.state = State::Linger {
            until: Instant::now() + limits.linger,
            dropped: 0,
        };
    }

    /// When what this connection waits for is overdue.
    pub fn deadline(&self, limits: &Limits) -> Instant {
        match &self.state {
            State::Head { deadline, .. } => *deadline,
            State::Send { out, .. } => out.pace.deadline(limits),
            State::Linger { until, .. } => *until,
        }
    }

    /// Nothing of a request has arrived: the first to go when room is needed.
    pub fn silent(&self) -> bool {
        matches!(self.state, State::Head { .. }) && self.buf.is_empty()
    }

    pub fn poll_events(&self) -> Wait {
        match self.state {
            State::Send { .. } => Wait::Write,
            _ => Wait::Read,
        }
    }
}

/// A request head gathered whole, for a worker.
pub struct Job {
    pub conn: Conn,
    pub head: Parsed,
}

/// Counts a connection as open until it is dropped.
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the gate and the workers share.
pub struct Shared {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
    back: Mutex<Vec<Conn>>,
    /// A byte written here wakes the gate from `poll`.
    wake: UnixStream,
    open: Arc<AtomicUsize>,
    /// Streamed responses being written (each holds a worker).
    pub streams: AtomicUsize,
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
            open: Arc::new(AtomicUsize::new(0)),
            streams: AtomicUsize::new(0),
        }
    }

    /// Connections open: gathering, queued, answered or lingering.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    pub fn slot(&self) -> Slot {
        self.open.fetch_add(1, Ordering::Relaxed);
        Slot(Arc::clone(&self.open))
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
