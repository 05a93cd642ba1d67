//! The client against a real mosquitto (Debian's 2.0): what we send is
//! what a broker accepts, and the broker's own behaviour — Last Will,
//! retained messages, refusals, keep-alive — is what the session sees.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::incoming::{ConnectReturnCode, Frame, Incoming, SubAckCode, decode};
use super::mosquitto::{Mosquitto, PASSWORD, USER};
use super::packet::{Connect, Login, QoS, Will};
use super::session::{Limits, Session, SessionError};

fn connect_packet(
    client_id: &str,
    keep_alive: u16,
    will: Option<Will>,
    login: Option<Login>,
) -> Connect {
    Connect {
        client_id: client_id.into(),
        keep_alive,
        clean_session: true,
        will,
        login,
    }
}

fn offline_will(topic: &str) -> Will {
    Will {
        topic: topic.into(),
        payload: b"offline".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: true,
    }
}

fn login(password: &str) -> Option<Login> {
    Some(Login {
        username: USER.into(),
        password: Some(password.as_bytes().to_vec()),
    })
}

fn open(port: u16, c: &Connect) -> Result<Session, SessionError> {
    Session::connect(("127.0.0.1", port), c, Limits::default()).map(|(s, _)| s)
}

/// Polls until a message on `topic` arrives, up to `limit`.
fn next_on(s: &mut Session, topic: &str, limit: Duration) -> Option<super::incoming::Message> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(m) = s.poll(Duration::from_millis(100)).unwrap()
            && m.topic == topic
        {
            return Some(m);
        }
    }
    None
}

#[test]
fn a_login_and_a_retained_will_are_accepted_and_retained_messages_reach_a_later_subscriber() {
    let Some(m) = Mosquitto::start("mqtt login and retained messages") else {
        return;
    };
    let c = connect_packet(
        "mcce-retain",
        30,
        Some(offline_will("mcce/t1/availability")),
        login(PASSWORD),
    );
    let mut s = open(m.auth_port, &c).unwrap();
    s.publish("mcce/t1/availability", b"online", QoS::AtLeastOnce, true)
        .unwrap();
    s.publish(
        "mcce/t1/state",
        "{\"power\":1234}".as_bytes(),
        QoS::AtMostOnce,
        true,
    )
    .unwrap();
    s.publish("mcce/t1/not-kept", b"x", QoS::AtMostOnce, false)
        .unwrap();
    // The broker read our CONNECT as we meant it.
    let log = m.log();
    assert!(
        log.contains("as mcce-retain (p2, c1, k30, u'mcce')"),
        "{log}"
    );
    assert!(
        log.contains("Will message specified (7 bytes) (r1, q1)."),
        "{log}"
    );
    assert!(log.contains("\tmcce/t1/availability"), "{log}");
    // A clean DISCONNECT: the broker drops the will, so "online" stays.
    s.disconnect().unwrap();
    assert_eq!(
        m.sub_one("mcce/t1/availability").as_deref(),
        Some("1 online")
    );
    assert_eq!(
        m.sub_one("mcce/t1/state").as_deref(),
        Some("1 {\"power\":1234}")
    );
    assert_eq!(
        m.sub_one("mcce/t1/not-kept"),
        None,
        "a message not retained is not kept"
    );
}

#[test]
fn a_refusal_is_the_brokers_reason() {
    let Some(m) = Mosquitto::start("mqtt refused connections") else {
        return;
    };
    // mosquitto 2.0 answers both with "not authorized" (5) on MQTT 3.1.1.
    for (what, creds) in [("wrong password", login("wrong")), ("no login", None)] {
        match open(
            m.auth_port,
            &connect_packet("mcce-refused", 30, None, creds),
        ) {
            Err(SessionError::Refused(code)) => {
                assert_eq!(code, ConnectReturnCode::NotAuthorized, "{what}")
            }
            other => panic!("{what}: {:?}", other.map(|_| "connected")),
        }
    }
    let e = open(m.auth_port, &connect_packet("mcce-refused", 30, None, None))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "the broker refused the connection: not authorized"
    );
    assert!(
        open(
            m.auth_port,
            &connect_packet("mcce-refused", 30, None, login(PASSWORD))
        )
        .is_ok()
    );

    // A protocol level we do not speak (3) draws code 1, which we read too.
    let mut raw = TcpStream::connect(("127.0.0.1", m.open_port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(&[
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 3, 2, 0, 30, 0, 1, b'x',
    ])
    .unwrap();
    let mut answer = [0u8; 4];
    raw.read_exact(&mut answer).unwrap();
    let frame = Frame::parse(&answer).unwrap().unwrap();
    assert_eq!(
        decode(frame.first, &answer[frame.header_len..]),
        Ok(Incoming::ConnAck {
            session_present: false,
            code: ConnectReturnCode::UnacceptableProtocolVersion
        })
    );
}

#[test]
fn messages_the_broker_delivers_reach_poll_and_qos_1_is_acknowledged() {
    let Some(m) = Mosquitto::start("mqtt subscribe and poll") else {
        return;
    };
    let mut s = open(m.open_port, &connect_packet("mcce-sub", 30, None, None)).unwrap();
    let codes = s
        .subscribe(&[
            ("homeassistant/status", QoS::AtMostOnce),
            ("mcce/cmd/#", QoS::AtLeastOnce),
        ])
        .unwrap();
    assert_eq!(codes, [SubAckCode::MaximumQoS0, SubAckCode::MaximumQoS1]);

    m.pub_one("homeassistant/status", "online", 0);
    let birth = next_on(&mut s, "homeassistant/status", Duration::from_secs(5))
        .expect("HA's birth message");
    assert_eq!(
        (birth.payload.as_slice(), birth.qos, birth.retain),
        (&b"online"[..], QoS::AtMostOnce, false)
    );

    m.pub_one("mcce/cmd/x", "1", 1);
    let got = next_on(&mut s, "mcce/cmd/x", Duration::from_secs(5)).expect("the QoS 1 message");
    assert_eq!(got.qos, QoS::AtLeastOnce);
    // The broker saw our PUBACK for it (its log names the packet id).
    let id = got.packet_id.unwrap();
    let acked = format!("Received PUBACK from mcce-sub (Mid: {id}, RC:0)");
    let t = Instant::now();
    while !m.log().contains(&acked) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(m.log().contains(&acked), "{}", m.log());
    s.disconnect().unwrap();
}

/// How long the keep-alive tests hold a session with keep-alive 1 s.
/// mosquitto 2.0 checks keep-alive every few seconds, not at the 1.5 s the
/// spec allows it: measured here, it drops a silent client after 5 to 6 s.
const KEEP_ALIVE_HOLD: Duration = Duration::from_secs(10);

#[test]
fn keep_alive_pings_hold_the_session_past_its_interval() {
    let Some(m) = Mosquitto::start("mqtt keep-alive") else {
        return;
    };
    let mut s = open(m.open_port, &connect_packet("mcce-ping", 1, None, None)).unwrap();
    // Ten keep-alive intervals: long enough for the broker to drop a
    // silent client (the control below shows it does).
    let t = Instant::now();
    while t.elapsed() < KEEP_ALIVE_HOLD {
        assert_eq!(s.poll(Duration::from_millis(250)).unwrap(), None);
    }
    s.publish("mcce/ping/still-here", b"yes", QoS::AtLeastOnce, false)
        .unwrap();
    let pings = m.log().matches("Received PINGREQ from mcce-ping").count();
    assert!(pings >= 9, "{pings} pings: {}", m.log());
    s.disconnect().unwrap();
}

#[test]
fn a_silent_client_is_dropped_within_the_keep_alive_test_interval() {
    let Some(m) = Mosquitto::start("mqtt keep-alive control") else {
        return;
    };
    let c = connect_packet("mcce-silent", 1, None, None)
        .encode()
        .unwrap();
    let mut raw = TcpStream::connect(("127.0.0.1", m.open_port)).unwrap();
    raw.write_all(&c).unwrap();
    raw.set_read_timeout(Some(KEEP_ALIVE_HOLD)).unwrap();
    let mut connack = [0u8; 4];
    raw.read_exact(&mut connack).unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0]);
    let t = Instant::now();
    let mut rest = [0u8; 1];
    assert!(
        matches!(raw.read(&mut rest), Ok(0) | Err(_)),
        "the broker closes the connection"
    );
    assert!(
        t.elapsed() < KEEP_ALIVE_HOLD,
        "closed after {:?}",
        t.elapsed()
    );
}

/// A child process killed and reaped however the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child process of the next test: connects with a retained will,
/// says "ready" and waits to be killed. Does nothing when run on its own.
#[test]
#[ignore = "run as a child process by a_killed_client_leaves_its_will"]
fn will_child() {
    let Ok(port) = std::env::var("MCCE_TEST_WILL_PORT") else {
        return;
    };
    let port: u16 = port.parse().unwrap();
    let c = connect_packet(
        "mcce-will",
        30,
        Some(offline_will("mcce/t2/availability")),
        None,
    );
    let (mut s, _) = Session::connect(("127.0.0.1", port), &c, Limits::default()).unwrap();
    s.publish("mcce/t2/availability", b"online", QoS::AtLeastOnce, true)
        .unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_killed_client_leaves_its_will() {
    let Some(m) = Mosquitto::start("mqtt Last Will after kill -9") else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(&exe)
        .args([
            "--exact",
            "adapters::mqtt::mosquitto_tests::will_child",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("MCCE_TEST_WILL_PORT", m.open_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = Reaped(match child {
        Ok(c) => c,
        // Under qemu-user without binfmt the test binary cannot start
        // itself again.
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
            eprintln!(
                "SKIPPED mqtt Last Will after kill -9: cannot run {} again here: {e}",
                exe.display()
            );
            return;
        }
        Err(e) => panic!("{}: {e}", exe.display()),
    });
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    // libtest prints the test's name on the same line first.
    let ready = lines.any(|l| l.is_ok_and(|l| l.ends_with("ready")));
    assert!(ready, "the child never connected");

    let mut watcher = open(m.open_port, &connect_packet("mcce-watcher", 30, None, None)).unwrap();
    watcher
        .subscribe(&[("mcce/t2/availability", QoS::AtLeastOnce)])
        .unwrap();
    let online = next_on(&mut watcher, "mcce/t2/availability", Duration::from_secs(5)).unwrap();
    assert_eq!(
        (online.payload.as_slice(), online.retain),
        (&b"online"[..], true)
    );

    child.0.kill().unwrap(); // SIGKILL: no DISCONNECT, the socket just closes
    child.0.wait().unwrap();
    let will =
        next_on(&mut watcher, "mcce/t2/availability", Duration::from_secs(5)).expect("the will");
    assert_eq!(will.payload, b"offline");
    // Retained: a subscriber that comes later still learns we are gone.
    assert_eq!(
        m.sub_one("mcce/t2/availability").as_deref(),
        Some("1 offline")
    );
}
