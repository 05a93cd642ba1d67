//! Our codec checked against `mqttbytes`, the MQTT codec of the rumqtt
//! project, used only here: what we send must be byte for byte what it
//! encodes and read back by its decoder as the same packet; what it
//! encodes as a broker's packet must decode to the same fields here.
//!
//! Its `Login` holds a user name and password as strings and writes
//! neither when empty, so credentials are drawn non-empty here; empty ones
//! are covered by the packet tests and by mosquitto.

use bytes::BytesMut;
use mqttbytes::v4 as theirs;
use proptest::prelude::*;

use super::incoming::{ConnectReturnCode, Frame, Incoming, Message, SubAckCode, decode};
use super::packet::{self, Connect, Login, QoS, Will};

/// A packet they wrote, as bytes.
fn written(write: impl FnOnce(&mut BytesMut) -> Result<usize, mqttbytes::Error>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    write(&mut buf).expect("mqttbytes encodes the packet");
    buf.to_vec()
}

/// Our bytes through their decoder.
fn read_by_them(bytes: &[u8]) -> theirs::Packet {
    let mut buf = BytesMut::from(bytes);
    let packet = theirs::read(&mut buf, bytes.len()).expect("mqttbytes decodes our packet");
    assert!(buf.is_empty(), "mqttbytes read the whole packet");
    packet
}

/// Their bytes through our decoder.
fn read_by_us(bytes: &[u8]) -> Incoming {
    let frame = Frame::parse(bytes).unwrap().expect("a whole fixed header");
    assert_eq!(frame.total_len(), bytes.len());
    decode(frame.first, &bytes[frame.header_len..]).expect("we decode their packet")
}

fn their_qos(q: QoS) -> mqttbytes::QoS {
    match q {
        QoS::AtMostOnce => mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => mqttbytes::QoS::AtLeastOnce,
    }
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]
}

/// Topic names: levels of any characters but the wildcards and NUL,
/// including empty levels and multi-byte UTF-8.
fn topic_name() -> impl Strategy<Value = String> {
    "[^+#\u{0}]{1,40}"
}

fn connect() -> impl Strategy<Value = Connect> {
    let will = (
        topic_name(),
        proptest::collection::vec(any::<u8>(), 0..64),
        qos(),
        any::<bool>(),
    )
        .prop_map(|(topic, payload, qos, retain)| Will {
            topic,
            payload,
            qos,
            retain,
        });
    let login = ("[^\u{0}]{1,20}", "[^\u{0}]{1,20}").prop_map(|(u, p): (String, String)| Login {
        username: u,
        password: Some(p.into_bytes()),
    });
    (
        "[^\u{0}]{0,30}",
        any::<u16>(),
        any::<bool>(),
        proptest::option::of(will),
        proptest::option::of(login),
    )
        .prop_map(
            |(client_id, keep_alive, clean_session, will, login)| Connect {
                client_id,
                keep_alive,
                clean_session,
                will,
                login,
            },
        )
}

fn their_connect(c: &Connect) -> theirs::Connect {
    theirs::Connect {
        protocol: mqttbytes::Protocol::V4,
        keep_alive: c.keep_alive,
        client_id: c.client_id.clone(),
        clean_session: c.clean_session,
        last_will: c.will.as_ref().map(|w| {
            theirs::LastWill::new(&w.topic, w.payload.clone(), their_qos(w.qos), w.retain)
        }),
        login: c.login.as_ref().map(|l| {
            let password = String::from_utf8(l.password.clone().unwrap_or_default()).unwrap();
            theirs::Login::new(l.username.clone(), password)
        }),
    }
}

/// A PUBLISH's topic, payload, QoS, retain flag and packet identifier.
fn publish_fields() -> impl Strategy<Value = (String, Vec<u8>, QoS, bool, u16)> {
    (
        topic_name(),
        proptest::collection::vec(any::<u8>(), 0..400),
        qos(),
        any::<bool>(),
        1..=u16::MAX,
    )
}

/// Their PUBLISH of those fields (the packet identifier only with QoS 1).
fn their_publish(
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    retain: bool,
    id: u16,
) -> theirs::Publish {
    let mut p = theirs::Publish::new(topic, their_qos(qos), payload);
    p.retain = retain;
    p.pkid = if qos == QoS::AtMostOnce { 0 } else { id };
    p
}

fn filters() -> impl Strategy<Value = Vec<(String, QoS)>> {
    let level = prop_oneof![Just("+".to_string()), "[^+#/\u{0}]{0,8}"];
    let filter =
        (proptest::collection::vec(level, 1..5), any::<bool>()).prop_map(|(mut levels, hash)| {
            if hash {
                levels.push("#".into());
            }
            levels.join("/")
        });
    let filter = filter.prop_filter("a filter is not empty", |f| !f.is_empty());
    proptest::collection::vec((filter, qos()), 1..6)
}

proptest! {
    #[test]
    fn connect_is_their_connect(c in connect()) {
        let ours = c.encode().unwrap();
        let expected = their_connect(&c);
        prop_assert_eq!(&ours, &written(|b| expected.write(b)));
        prop_assert_eq!(read_by_them(&ours), theirs::Packet::Connect(expected));
    }

    #[test]
    fn publish_is_their_publish((topic, payload, qos, retain, id) in publish_fields()) {
        let ours = packet::publish(&topic, &payload, qos, retain, id).unwrap();
        let expected = their_publish(topic, payload, qos, retain, id);
        prop_assert_eq!(&ours, &written(|b| expected.write(b)));
        prop_assert_eq!(read_by_them(&ours), theirs::Packet::Publish(expected));
    }

    #[test]
    fn subscribe_is_their_subscribe(filters in filters(), id in 1..=u16::MAX) {
        let ours_in: Vec<(&str, QoS)> = filters.iter().map(|(f, q)| (f.as_str(), *q)).collect();
        let ours = packet::subscribe(id, &ours_in).unwrap();
        let expected = theirs::Subscribe::new_many(
            filters.iter().map(|(f, q)| theirs::SubscribeFilter::new(f.clone(), their_qos(*q))),
        );
        let expected = theirs::Subscribe { pkid: id, ..expected };
        prop_assert_eq!(&ours, &written(|b| expected.write(b)));
        prop_assert_eq!(read_by_them(&ours), theirs::Packet::Subscribe(expected));
    }

    #[test]
    fn their_publish_decodes_here((topic, payload, qos, retain, id) in publish_fields(), dup in any::<bool>()) {
        let dup = dup && qos == QoS::AtLeastOnce;
        let mut p = their_publish(topic.clone(), payload.clone(), qos, retain, id);
        p.dup = dup;
        let expected = Message {
            topic,
            payload,
            qos,
            retain,
            dup,
            packet_id: (qos == QoS::AtLeastOnce).then_some(id),
        };
        prop_assert_eq!(read_by_us(&written(|b| p.write(b))), Incoming::Publish(expected));
    }

    #[test]
    fn their_suback_and_puback_decode_here(id in 1..=u16::MAX, raw in proptest::collection::vec(0..4u8, 1..20)) {
        let (ours, their_codes): (Vec<SubAckCode>, Vec<theirs::SubscribeReasonCode>) = raw
            .iter()
            .map(|c| match c {
                0 => (SubAckCode::MaximumQoS0, theirs::SubscribeReasonCode::Success(mqttbytes::QoS::AtMostOnce)),
                1 => (SubAckCode::MaximumQoS1, theirs::SubscribeReasonCode::Success(mqttbytes::QoS::AtLeastOnce)),
                2 => (SubAckCode::MaximumQoS2, theirs::SubscribeReasonCode::Success(mqttbytes::QoS::ExactlyOnce)),
                _ => (SubAckCode::Failure, theirs::SubscribeReasonCode::Failure),
            })
            .unzip();
        let suback = theirs::SubAck::new(id, their_codes);
        prop_assert_eq!(read_by_us(&written(|b| suback.write(b))), Incoming::SubAck { packet_id: id, codes: ours });
        prop_assert_eq!(read_by_us(&written(|b| theirs::PubAck::new(id).write(b))), Incoming::PubAck { packet_id: id });
        prop_assert_eq!(packet::puback(id), written(|b| theirs::PubAck::new(id).write(b)));
    }
}

/// Publishes whose remaining length needs two, three and four varint bytes.
#[test]
fn large_publishes_are_their_publishes() {
    for size in [200usize, 20_000, 2_100_000] {
        let payload = vec![0x5a; size];
        let ours = packet::publish("big/one", &payload, QoS::AtLeastOnce, true, 7).unwrap();
        let mut expected = theirs::Publish::new("big/one", mqttbytes::QoS::AtLeastOnce, payload);
        expected.retain = true;
        expected.pkid = 7;
        assert_eq!(ours, written(|b| expected.write(b)), "{size} bytes");
    }
}

#[test]
fn every_connack_they_encode_decodes_here() {
    use ConnectReturnCode as Our;
    use theirs::ConnectReturnCode as Their;
    let codes = [
        (Their::Success, Our::Accepted),
        (
            Their::RefusedProtocolVersion,
            Our::UnacceptableProtocolVersion,
        ),
        (Their::BadClientId, Our::IdentifierRejected),
        (Their::ServiceUnavailable, Our::ServerUnavailable),
        (Their::BadUserNamePassword, Our::BadUserNameOrPassword),
        (Their::NotAuthorized, Our::NotAuthorized),
    ];
    for (their, our) in codes {
        let bytes = written(|b| theirs::ConnAck::new(their, false).write(b));
        assert_eq!(
            read_by_us(&bytes),
            Incoming::ConnAck {
                session_present: false,
                code: our
            }
        );
    }
    let bytes =
        written(|b| theirs::ConnAck::new(theirs::ConnectReturnCode::Success, true).write(b));
    assert_eq!(
        read_by_us(&bytes),
        Incoming::ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted
        }
    );
    assert_eq!(
        read_by_us(&written(|b| theirs::PingResp.write(b))),
        Incoming::PingResp
    );
}

#[test]
fn fixed_packets_are_theirs() {
    assert_eq!(
        packet::pingreq().to_vec(),
        written(|b| theirs::PingReq.write(b))
    );
    assert_eq!(
        packet::disconnect().to_vec(),
        written(|b| theirs::Disconnect.write(b))
    );
}
