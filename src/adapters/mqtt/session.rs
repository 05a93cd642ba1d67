//! One blocking MQTT 3.1.1 session over a `TcpStream`: connect, publish,
//! subscribe, keep-alive, read what the broker delivers, close.
//!
//! Blocking, with a deadline on every wait, because its user is a process
//! of its own whose only job is this connection: no thread of a poll or a
//! siren ever waits on it, so there is nothing an async runtime would buy.
//! Any error leaves the session unusable: drop it and connect again (the
//! broker forgets a clean session, so there is nothing to resume). Dropping
//! it without [`Session::disconnect`] closes the socket abruptly, which is
//! what makes the broker publish the Last Will.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::incoming::{
    ConnectReturnCode, DecodeError, Frame, Incoming, Message, PUBLISH_TYPE, SubAckCode, decode,
    packet_type,
};
use super::packet::{self, Connect, EncodeError, QoS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// For the TCP connect, each write, and each wait for the broker's
    /// answer (CONNACK, PUBACK, SUBACK, PINGRESP).
    pub timeout: Duration,
    /// The largest packet body read into memory. A larger PUBLISH is
    /// skipped as it arrives, unread; any other larger packet is an error.
    pub max_packet: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            max_packet: 64 * 1024,
        }
    }
}

/// Messages that arrive while we wait for an acknowledgement are kept for
/// [`Session::poll`], at most this many: past it the oldest goes, since the
/// newest of a topic is the one that counts.
const INBOX: usize = 16;

/// What one read asks the socket for.
const CHUNK: usize = 4096;

/// No single wait is longer than a day, so deadline arithmetic cannot
/// overflow whatever a caller passes.
const LONGEST_WAIT: Duration = Duration::from_secs(86_400);

#[derive(Debug)]
pub(crate) enum SessionError {
    /// Resolving the address or opening the TCP connection failed.
    Connect(io::Error),
    /// Reading or writing the open connection failed.
    Io(io::Error),
    /// The broker closed the connection.
    Closed,
    /// The broker answered CONNECT with a refusal.
    Refused(ConnectReturnCode),
    /// No answer of this kind within [`Limits::timeout`].
    Timeout(&'static str),
    /// The broker sent bytes MQTT 3.1.1 does not allow.
    Protocol(DecodeError),
    /// A well-formed packet where the conversation has no place for it.
    Unexpected {
        got: &'static str,
        waiting_for: &'static str,
    },
    /// A packet other than PUBLISH larger than [`Limits::max_packet`].
    TooLarge { len: usize, max: usize },
    /// We were asked to send something MQTT does not allow.
    Encode(EncodeError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Connect(e) => write!(f, "cannot connect: {e}"),
            SessionError::Io(e) => write!(f, "connection failed: {e}"),
            SessionError::Closed => write!(f, "the broker closed the connection"),
            SessionError::Refused(code) => write!(f, "the broker refused the connection: {code}"),
            SessionError::Timeout(what) => write!(f, "no {what} from the broker in time"),
            SessionError::Protocol(e) => write!(f, "the broker sent invalid MQTT: {e}"),
            SessionError::Unexpected { got, waiting_for } => {
                write!(
                    f,
                    "the broker sent a {got} while we waited for {waiting_for}"
                )
            }
            SessionError::TooLarge { len, max } => {
                write!(
                    f,
                    "the broker sent a packet of {len} bytes, over our limit of {max}"
                )
            }
            SessionError::Encode(e) => write!(f, "cannot send: {e}"),
        }
    }
}

impl From<EncodeError> for SessionError {
    fn from(e: EncodeError) -> Self {
        SessionError::Encode(e)
    }
}

impl From<DecodeError> for SessionError {
    fn from(e: DecodeError) -> Self {
        SessionError::Protocol(e)
    }
}

pub(crate) struct Session {
    stream: TcpStream,
    limits: Limits,
    /// `None` when CONNECT turned keep-alive off.
    keep_alive: Option<Duration>,
    /// Received bytes not yet decoded: at most one packet within
    /// `max_packet` plus one read.
    inbuf: Vec<u8>,
    /// Bytes still to drop of an oversized PUBLISH.
    skip: usize,
    last_sent: Instant,
    ping_sent: Option<Instant>,
    next_id: u16,
    inbox: VecDeque<Message>,
}

impl Session {
    /// Opens the connection, sends CONNECT and waits for CONNACK. Returns
    /// the session and whether the broker kept an earlier one for this
    /// client id ("session present").
    pub(crate) fn connect<A: ToSocketAddrs>(
        addr: A,
        connect: &Connect,
        limits: Limits,
    ) -> Result<(Session, bool), SessionError> {
        let limits = Limits {
            timeout: limits.timeout.clamp(Duration::from_millis(1), LONGEST_WAIT),
            ..limits
        };
        let packet = connect.encode()?;
        let stream = open(addr, limits.timeout)?;
        stream.set_nodelay(true).map_err(SessionError::Connect)?;
        stream
            .set_write_timeout(Some(limits.timeout))
            .map_err(SessionError::Connect)?;
        let keep_alive =
            (connect.keep_alive > 0).then(|| Duration::from_secs(connect.keep_alive.into()));
        let mut s = Session {
            stream,
            limits,
            keep_alive,
            inbuf: Vec::new(),
            skip: 0,
            last_sent: Instant::now(),
            ping_sent: None,
            next_id: 1,
            inbox: VecDeque::new(),
        };
        s.send(&packet)?;
        // The first packet from the broker must be CONNACK (3.2).
        match s.read_packet(later(Instant::now(), limits.timeout))? {
            Some(Incoming::ConnAck {
                code: ConnectReturnCode::Accepted,
                session_present,
            }) => Ok((s, session_present)),
            Some(Incoming::ConnAck { code, .. }) => Err(SessionError::Refused(code)),
            Some(other) => Err(SessionError::Unexpected {
                got: other.name(),
                waiting_for: "CONNACK",
            }),
            None => Err(SessionError::Timeout("CONNACK")),
        }
    }

    /// Publishes one message. With QoS 1 it returns once the broker has
    /// acknowledged it (PUBACK).
    pub(crate) fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), SessionError> {
        let id = match qos {
            QoS::AtMostOnce => 0,
            QoS::AtLeastOnce => self.take_id(),
        };
        self.send(&packet::publish(topic, payload, qos, retain, id)?)?;
        if qos == QoS::AtLeastOnce {
            self.wait_for("PUBACK", |p| {
                matches!(p, Incoming::PubAck { packet_id } if *packet_id == id).then_some(())
            })?;
        }
        Ok(())
    }

    /// Subscribes to each filter at its QoS; returns the broker's answer
    /// for each, in order (a filter may be refused, [`SubAckCode::Failure`]).
    pub(crate) fn subscribe(
        &mut self,
        filters: &[(&str, QoS)],
    ) -> Result<Vec<SubAckCode>, SessionError> {
        let id = self.take_id();
        self.send(&packet::subscribe(id, filters)?)?;
        let codes = self.wait_for("SUBACK", |p| match p {
            Incoming::SubAck { packet_id, codes } if *packet_id == id => Some(codes.clone()),
            _ => None,
        })?;
        if codes.len() != filters.len() {
            // One return code per filter, in order (3.9.3).
            return Err(SessionError::Unexpected {
                got: "SUBACK of another length",
                waiting_for: "SUBACK",
            });
        }
        Ok(codes)
    }

    /// Waits up to `wait` for a message from the broker, keeping the
    /// connection alive meanwhile (PINGREQ when due); `None` if none came.
    /// For a caller that waits on this socket alone (the tests): `mcce
    /// publish` waits on it with other descriptors and calls
    /// [`Session::receive`].
    #[cfg(test)]
    pub(crate) fn poll(&mut self, wait: Duration) -> Result<Option<Message>, SessionError> {
        if let Some(m) = self.inbox.pop_front() {
            return Ok(Some(m));
        }
        match self.read_packet(later(Instant::now(), wait))? {
            None => Ok(None),
            Some(Incoming::Publish(m)) => Ok(Some(m)),
            Some(other) => Err(SessionError::Unexpected {
                got: other.name(),
                waiting_for: "PUBLISH",
            }),
        }
    }

    /// For a caller that waits on the socket itself (`poll(2)` with other
    /// descriptors): takes what the broker sent without waiting for more
    /// (`readable`: the socket has bytes, one read takes them), answers and
    /// keeps the connection alive (a PINGREQ when due), and returns the
    /// messages that arrived.
    pub(crate) fn receive(&mut self, readable: bool) -> Result<Vec<Message>, SessionError> {
        if readable {
            self.fill(Duration::ZERO)?;
        }
        let mut got: Vec<Message> = self.inbox.drain(..).collect();
        while let Some(p) = self.take_packet()? {
            match p {
                Incoming::PingResp => self.ping_sent = None,
                Incoming::Publish(m) => {
                    if let Some(id) = m.packet_id {
                        self.send(&packet::puback(id))?;
                    }
                    got.push(m);
                }
                other => {
                    return Err(SessionError::Unexpected {
                        got: other.name(),
                        waiting_for: "PUBLISH",
                    });
                }
            }
        }
        self.keep_alive(Instant::now())?;
        Ok(got)
    }

    /// When [`Session::receive`] must run even if the socket stays quiet:
    /// the next keep-alive ping, or the deadline of its answer.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        let keep_alive = self.keep_alive?;
        Some(match self.ping_sent {
            Some(sent) => later(sent, self.limits.timeout),
            None => later(self.last_sent, keep_alive * 3 / 4),
        })
    }

    /// Ends the session cleanly: DISCONNECT, so the broker discards the
    /// Last Will (3.14.4), then the connection is closed.
    pub(crate) fn disconnect(mut self) -> Result<(), SessionError> {
        self.send(&packet::disconnect())?;
        self.stream
            .shutdown(Shutdown::Both)
            .map_err(SessionError::Io)
    }

    fn take_id(&mut self) -> u16 {
        let id = self.next_id;
        // 1..=65535: identifier 0 is reserved (2.3.1).
        self.next_id = id.checked_add(1).unwrap_or(1);
        id
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        self.stream.write_all(bytes).map_err(SessionError::Io)?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// Reads packets until the one `accept` takes (its answer returned),
    /// keeping the messages that arrive meanwhile for [`Session::poll`].
    fn wait_for<T>(
        &mut self,
        what: &'static str,
        accept: impl Fn(&Incoming) -> Option<T>,
    ) -> Result<T, SessionError> {
        let deadline = later(Instant::now(), self.limits.timeout);
        loop {
            match self.read_packet(deadline)? {
                None => return Err(SessionError::Timeout(what)),
                Some(Incoming::Publish(m)) => {
                    if self.inbox.len() == INBOX {
                        self.inbox.pop_front();
                    }
                    self.inbox.push_back(m);
                }
                Some(p) => match accept(&p) {
                    Some(answer) => return Ok(answer),
                    None => {
                        return Err(SessionError::Unexpected {
                            got: p.name(),
                            waiting_for: what,
                        });
                    }
                },
            }
        }
    }

    /// The next packet other than PINGRESP, or `None` at `deadline`. A QoS 1
    /// PUBLISH is acknowledged here, as it arrives.
    fn read_packet(&mut self, deadline: Instant) -> Result<Option<Incoming>, SessionError> {
        loop {
            match self.take_packet()? {
                Some(Incoming::PingResp) => self.ping_sent = None,
                Some(Incoming::Publish(m)) => {
                    if let Some(id) = m.packet_id {
                        self.send(&packet::puback(id))?;
                    }
                    return Ok(Some(Incoming::Publish(m)));
                }
                Some(p) => return Ok(Some(p)),
                None => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Ok(None);
                    }
                    let wake = self.keep_alive(now)?.map_or(deadline, |t| t.min(deadline));
                    self.fill(wake.saturating_duration_since(now))?;
                }
            }
        }
    }

    /// Sends PINGREQ when due and fails when its PINGRESP is overdue;
    /// returns when to check again. Due after three quarters of the
    /// keep-alive without sending: the spec lets the broker wait one and a
    /// half (3.1.2.10), and the early ping leaves room for a caller that is
    /// busy elsewhere between two polls.
    fn keep_alive(&mut self, now: Instant) -> Result<Option<Instant>, SessionError> {
        let Some(keep_alive) = self.keep_alive else {
            return Ok(None);
        };
        if let Some(sent) = self.ping_sent {
            if now.saturating_duration_since(sent) >= self.limits.timeout {
                return Err(SessionError::Timeout("PINGRESP"));
            }
            return Ok(Some(later(sent, self.limits.timeout)));
        }
        let due = later(self.last_sent, keep_alive * 3 / 4);
        if now < due {
            return Ok(Some(due));
        }
        self.send(&packet::pingreq())?;
        self.ping_sent = Some(now);
        Ok(Some(later(now, self.limits.timeout)))
    }

    /// One whole packet from the bytes received so far, if they hold one.
    fn take_packet(&mut self) -> Result<Option<Incoming>, SessionError> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.inbuf.len());
                self.inbuf.drain(..n);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            let Some(frame) = Frame::parse(&self.inbuf)? else {
                return Ok(None);
            };
            if frame.body_len > self.limits.max_packet {
                if packet_type(frame.first) != PUBLISH_TYPE {
                    return Err(SessionError::TooLarge {
                        len: frame.total_len(),
                        max: self.limits.max_packet,
                    });
                }
                self.skip = frame.total_len();
                continue;
            }
            let end = frame.total_len();
            if self.inbuf.len() < end {
                return Ok(None);
            }
            let packet = decode(frame.first, &self.inbuf[frame.header_len..end]);
            self.inbuf.drain(..end);
            return Ok(Some(packet?));
        }
    }

    /// Waits up to `wait` for bytes and appends what one read returns.
    fn fill(&mut self, wait: Duration) -> Result<(), SessionError> {
        // A zero timeout is refused by the socket; a millisecond is the
        // least wait that means "wait".
        let wait = wait.clamp(Duration::from_millis(1), LONGEST_WAIT);
        self.stream
            .set_read_timeout(Some(wait))
            .map_err(SessionError::Io)?;
        let mut chunk = [0u8; CHUNK];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(SessionError::Closed),
            Ok(n) => {
                self.inbuf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(SessionError::Io(e)),
        }
    }
}

impl std::os::fd::AsRawFd for Session {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.stream.as_raw_fd()
    }
}

/// The first address of `addr` that accepts a TCP connection in time.
fn open<A: ToSocketAddrs>(addr: A, timeout: Duration) -> Result<TcpStream, SessionError> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing");
    for a in addr.to_socket_addrs().map_err(SessionError::Connect)? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(SessionError::Connect(last))
}

/// `t + d`, with `d` capped at a day so it cannot overflow.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(LONGEST_WAIT)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    fn limits() -> Limits {
        Limits {
            timeout: Duration::from_millis(500),
            max_packet: 64,
        }
    }

    fn hello() -> Connect {
        Connect {
            client_id: "t".into(),
            keep_alive: 0,
            clean_session: true,
            will: None,
            login: None,
        }
    }

    /// A fake broker on 127.0.0.1 that reads one packet (our CONNECT),
    /// then plays `script`: bytes to send, and pauses between them. It
    /// returns everything it read from us after CONNECT.
    fn broker(script: Vec<Result<Vec<u8>, Duration>>) -> (u16, JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut head = [0u8; 2];
            s.read_exact(&mut head).unwrap();
            let mut connect = vec![0u8; usize::from(head[1])];
            s.read_exact(&mut connect).unwrap();
            for step in script {
                match step {
                    Ok(bytes) => s.write_all(&bytes).unwrap(),
                    Err(pause) => std::thread::sleep(pause),
                }
            }
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            rest
        });
        (port, handle)
    }

    const CONNACK_OK: [u8; 4] = [0x20, 2, 0, 0];

    fn connect(port: u16) -> Result<Session, SessionError> {
        Session::connect(("127.0.0.1", port), &hello(), limits()).map(|(s, _)| s)
    }

    #[test]
    fn silence_and_garbage_end_the_connect_with_a_reason() {
        let (port, _b) = broker(vec![Err(Duration::from_secs(1))]);
        assert!(matches!(
            connect(port),
            Err(SessionError::Timeout("CONNACK"))
        ));
        let (port, _b) = broker(vec![Ok(vec![0x20, 2, 0, 9])]);
        let e = connect(port).err().unwrap();
        assert_eq!(
            e.to_string(),
            "the broker sent invalid MQTT: invalid CONNACK return code 9"
        );
        // The first packet must be CONNACK (3.2).
        let (port, _b) = broker(vec![Ok(vec![0x30, 3, 0, 1, b't'])]);
        let e = connect(port).err().unwrap();
        assert_eq!(
            e.to_string(),
            "the broker sent a PUBLISH while we waited for CONNACK"
        );
        let (port, _b) = broker(vec![]);
        assert!(matches!(connect(port), Err(SessionError::Closed)));
        let (port, _b) = broker(vec![Ok(vec![0x20, 2, 0, 5])]);
        assert!(matches!(
            connect(port),
            Err(SessionError::Refused(ConnectReturnCode::NotAuthorized))
        ));
    }

    #[test]
    fn an_oversized_publish_is_skipped_and_the_next_one_read() {
        // 0x30, remaining length 300 (0xac 0x02): over the 64-byte limit.
        let mut big = vec![0x30, 0xac, 0x02, 0, 1, b'b'];
        big.resize(3 + 300, b'x');
        let small = vec![0x30, 4, 0, 1, b's', b'!'];
        // Sent in pieces, so the skip spans reads.
        let script = vec![
            Ok(CONNACK_OK.to_vec()),
            Ok(big[..100].to_vec()),
            Err(Duration::from_millis(50)),
            Ok(big[100..].to_vec()),
            Ok(small),
        ];
        let (port, _b) = broker(script);
        let mut s = connect(port).unwrap();
        let m = s.poll(Duration::from_secs(2)).unwrap().unwrap();
        assert_eq!((m.topic.as_str(), m.payload.as_slice()), ("s", &b"!"[..]));
        // Any other oversized packet is an error.
        let (port, _b) = broker(vec![Ok(CONNACK_OK.to_vec()), Ok(vec![0x90, 0xac, 0x02])]);
        let mut s = connect(port).unwrap();
        assert!(matches!(
            s.poll(Duration::from_secs(2)),
            Err(SessionError::TooLarge { len: 303, max: 64 })
        ));
    }

    #[test]
    fn messages_arriving_during_a_puback_wait_are_kept_for_poll_and_acknowledged() {
        let script = vec![
            Ok(CONNACK_OK.to_vec()),
            Err(Duration::from_millis(100)),
            // A QoS 1 message (id 9), then the PUBACK of our publish (id 1).
            Ok(vec![0x32, 6, 0, 1, b'h', 0, 9, b'1']),
            Ok(vec![0x40, 2, 0, 1]),
        ];
        let (port, b) = broker(script);
        let mut s = connect(port).unwrap();
        s.publish("t", b"v", QoS::AtLeastOnce, false).unwrap();
        let m = s.poll(Duration::ZERO).unwrap().unwrap();
        assert_eq!((m.topic.as_str(), m.packet_id), ("h", Some(9)));
        s.disconnect().unwrap();
        let sent = b.join().unwrap();
        let publish = packet::publish("t", b"v", QoS::AtLeastOnce, false, 1).unwrap();
        let expected = [publish, packet::puback(9), packet::disconnect().to_vec()].concat();
        assert_eq!(sent, expected);
    }

    #[test]
    fn receive_takes_what_came_without_waiting_and_pings_when_due() {
        let script = vec![
            Ok(CONNACK_OK.to_vec()),
            Ok(vec![0x30, 4, 0, 1, b'h', b'1']),
            Err(Duration::from_millis(900)),
            Ok(vec![0xd0, 0]), // PINGRESP
        ];
        let (port, b) = broker(script);
        let c = Connect {
            keep_alive: 1,
            ..hello()
        };
        let t = Instant::now();
        let (mut s, _) = Session::connect(("127.0.0.1", port), &c, limits()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let got = s.receive(true).unwrap();
        assert_eq!(
            (got[0].topic.as_str(), got[0].payload.as_slice()),
            ("h", &b"1"[..])
        );
        // Nothing more: no wait.
        let before = Instant::now();
        assert!(s.receive(false).unwrap().is_empty());
        assert!(before.elapsed() < Duration::from_millis(50));
        // The ping is due three quarters of the keep-alive after CONNECT.
        let due = s.wake_at().unwrap();
        assert!(due > t + Duration::from_millis(700) && due < t + Duration::from_millis(800));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        assert!(s.receive(false).unwrap().is_empty());
        // Now its answer is awaited, within the timeout.
        assert!(s.wake_at().unwrap() > Instant::now() + Duration::from_millis(400));
        std::thread::sleep(Duration::from_millis(300));
        assert!(s.receive(true).unwrap().is_empty());
        // Answered: the next ping three quarters of the keep-alive after
        // the last.
        let next = s.wake_at().unwrap();
        assert!(
            next >= due + Duration::from_millis(750) && next < due + Duration::from_millis(850)
        );
        s.disconnect().unwrap();
        assert_eq!(
            b.join().unwrap(),
            [packet::pingreq().to_vec(), packet::disconnect().to_vec()].concat()
        );
    }

    #[test]
    fn a_missing_puback_or_pingresp_is_a_timeout() {
        let (port, _b) = broker(vec![Ok(CONNACK_OK.to_vec()), Err(Duration::from_secs(2))]);
        let mut s = connect(port).unwrap();
        assert!(matches!(
            s.publish("t", b"", QoS::AtLeastOnce, false),
            Err(SessionError::Timeout("PUBACK"))
        ));

        let (port, _b) = broker(vec![Ok(CONNACK_OK.to_vec()), Err(Duration::from_secs(3))]);
        let c = Connect {
            keep_alive: 1,
            ..hello()
        };
        let (mut s, _) = Session::connect(("127.0.0.1", port), &c, limits()).unwrap();
        let t = Instant::now();
        let e = loop {
            match s.poll(Duration::from_millis(100)) {
                Ok(_) => assert!(t.elapsed() < Duration::from_secs(3), "no timeout"),
                Err(e) => break e,
            }
        };
        assert!(matches!(e, SessionError::Timeout("PINGRESP")), "{e}");
    }
}
