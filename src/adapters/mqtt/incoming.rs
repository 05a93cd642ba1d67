//! The packets a broker sends a client, read as MQTT 3.1.1 (spec chapter
//! 3): CONNACK, PUBLISH, PUBACK, SUBACK and PINGRESP.
//!
//! A broker's bytes are input like any other: every length is checked
//! before it is used, nothing is allocated beyond the packet's own body
//! (whose size the caller bounds before reading it), and whatever the
//! spec does not allow — reserved bits set, a field running past the end,
//! bytes left over, a packet type a broker never sends a client — is an
//! error, never a panic or a guess.

use std::fmt;

pub(crate) use super::errors::DecodeError;
use super::packet::QoS;
use super::wire::{Fields, remaining_length};

/// CONNACK's return code (3.2.2.3, table 3.1), named as the spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectReturnCode {
    Accepted,
    UnacceptableProtocolVersion,
    IdentifierRejected,
    ServerUnavailable,
    BadUserNameOrPassword,
    NotAuthorized,
}

impl ConnectReturnCode {
    fn from_byte(b: u8) -> Option<ConnectReturnCode> {
        Some(match b {
            0 => ConnectReturnCode::Accepted,
            1 => ConnectReturnCode::UnacceptableProtocolVersion,
            2 => ConnectReturnCode::IdentifierRejected,
            3 => ConnectReturnCode::ServerUnavailable,
            4 => ConnectReturnCode::BadUserNameOrPassword,
            5 => ConnectReturnCode::NotAuthorized,
            _ => return None,
        })
    }
}

/// The spec's words for each code, so a log line matches what a broker's
/// documentation and its own log say.
impl fmt::Display for ConnectReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectReturnCode::Accepted => "connection accepted",
            ConnectReturnCode::UnacceptableProtocolVersion => "unacceptable protocol version",
            ConnectReturnCode::IdentifierRejected => "identifier rejected",
            ConnectReturnCode::ServerUnavailable => "server unavailable",
            ConnectReturnCode::BadUserNameOrPassword => "bad user name or password",
            ConnectReturnCode::NotAuthorized => "not authorized",
        })
    }
}

/// One SUBACK return code (3.9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubAckCode {
    MaximumQoS0,
    MaximumQoS1,
    MaximumQoS2,
    Failure,
}

/// An application message the broker delivered to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    /// Present with QoS 1: the PUBACK must carry it back.
    pub packet_id: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    ConnAck {
        session_present: bool,
        code: ConnectReturnCode,
    },
    Publish(Message),
    PubAck {
        packet_id: u16,
    },
    SubAck {
        packet_id: u16,
        codes: Vec<SubAckCode>,
    },
    PingResp,
}

/// The type of a packet, from its first byte (2.2.1).
pub(crate) const fn packet_type(first: u8) -> u8 {
    first >> 4
}

pub(crate) const PUBLISH_TYPE: u8 = 3;

/// Where the packet at the start of `buf` lies: its first byte, the length
/// of its fixed header and of its body. `None` while the fixed header is
/// incomplete; the body may still be arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    pub first: u8,
    pub header_len: usize,
    pub body_len: usize,
}

impl Frame {
    pub(crate) fn parse(buf: &[u8]) -> Result<Option<Frame>, DecodeError> {
        let Some((&first, rest)) = buf.split_first() else {
            return Ok(None);
        };
        Ok(remaining_length(rest)?.map(|(body_len, n)| Frame {
            first,
            header_len: 1 + n,
            body_len,
        }))
    }

    /// Header and body together.
    pub(crate) fn total_len(&self) -> usize {
        self.header_len.saturating_add(self.body_len)
    }
}

/// Decodes one whole packet from its first byte and its body.
pub(crate) fn decode(first: u8, body: &[u8]) -> Result<Incoming, DecodeError> {
    let mut f = Fields::new(body);
    let packet = match first {
        0x20 => connack(&mut f)?,
        0x30..=0x3f => Incoming::Publish(publish(first, &mut f)?),
        0x40 => Incoming::PubAck {
            packet_id: packet_id(&mut f)?,
        },
        0x90 => suback(&mut f)?,
        0xd0 => Incoming::PingResp,
        // Known types with the wrong flags are malformed; any other type
        // is one a broker never sends us.
        0x21..=0x2f | 0x41..=0x4f | 0x91..=0x9f | 0xd1..=0xdf => {
            return Err(DecodeError::BadFlags(first));
        }
        _ => return Err(DecodeError::UnexpectedType(packet_type(first))),
    };
    f.end(packet.name())?;
    Ok(packet)
}

impl Incoming {
    /// The spec's name of the packet type, for messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Incoming::ConnAck { .. } => "CONNACK",
            Incoming::Publish(_) => "PUBLISH",
            Incoming::PubAck { .. } => "PUBACK",
            Incoming::SubAck { .. } => "SUBACK",
            Incoming::PingResp => "PINGRESP",
        }
    }
}

fn connack(f: &mut Fields) -> Result<Incoming, DecodeError> {
    let flags = f.u8("CONNACK flags")?;
    let code = f.u8("CONNACK return code")?;
    let code = ConnectReturnCode::from_byte(code).ok_or(DecodeError::Invalid {
        what: "CONNACK return code",
        value: code.into(),
    })?;
    // Bits 7-1 are reserved, and a refusal never has a session (3.2.2.2).
    if flags > 1 || (flags == 1 && code != ConnectReturnCode::Accepted) {
        return Err(DecodeError::Invalid {
            what: "CONNACK flags",
            value: flags.into(),
        });
    }
    Ok(Incoming::ConnAck {
        session_present: flags == 1,
        code,
    })
}

fn publish(first: u8, f: &mut Fields) -> Result<Message, DecodeError> {
    let qos = match (first >> 1) & 3 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        // QoS 2 is never asked for (our subscriptions are 0 or 1), and 3
        // does not exist (3.3.1.2).
        q => {
            return Err(DecodeError::Invalid {
                what: "PUBLISH QoS",
                value: q.into(),
            });
        }
    };
    let dup = first & 0x08 != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::BadFlags(first));
    }
    let topic = f.str("topic name")?;
    if topic.is_empty() || topic.contains(['+', '#']) {
        return Err(DecodeError::BadTopicName);
    }
    let packet_id = match qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(packet_id(f)?),
    };
    Ok(Message {
        topic: topic.to_string(),
        payload: f.rest().to_vec(),
        qos,
        retain: first & 0x01 != 0,
        dup,
        packet_id,
    })
}

fn suback(f: &mut Fields) -> Result<Incoming, DecodeError> {
    let packet_id = packet_id(f)?;
    let raw = f.rest();
    if raw.is_empty() {
        return Err(DecodeError::Truncated("SUBACK return codes"));
    }
    let codes = raw
        .iter()
        .map(|&b| match b {
            0x00 => Ok(SubAckCode::MaximumQoS0),
            0x01 => Ok(SubAckCode::MaximumQoS1),
            0x02 => Ok(SubAckCode::MaximumQoS2),
            0x80 => Ok(SubAckCode::Failure),
            _ => Err(DecodeError::Invalid {
                what: "SUBACK return code",
                value: b.into(),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Incoming::SubAck { packet_id, codes })
}

fn packet_id(f: &mut Fields) -> Result<u16, DecodeError> {
    match f.u16("packet identifier")? {
        0 => Err(DecodeError::Invalid {
            what: "packet identifier",
            value: 0,
        }),
        id => Ok(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes the one whole packet that `bytes` must be.
    fn decode_all(bytes: &[u8]) -> Result<Incoming, DecodeError> {
        let frame = Frame::parse(bytes)?.ok_or(DecodeError::Truncated("fixed header"))?;
        assert_eq!(frame.total_len(), bytes.len(), "test bytes hold one packet");
        decode(frame.first, &bytes[frame.header_len..])
    }

    #[test]
    fn connack_return_codes_are_named_as_the_spec_names_them() {
        let named = [
            (0, ConnectReturnCode::Accepted, "connection accepted"),
            (
                1,
                ConnectReturnCode::UnacceptableProtocolVersion,
                "unacceptable protocol version",
            ),
            (
                2,
                ConnectReturnCode::IdentifierRejected,
                "identifier rejected",
            ),
            (
                3,
                ConnectReturnCode::ServerUnavailable,
                "server unavailable",
            ),
            (
                4,
                ConnectReturnCode::BadUserNameOrPassword,
                "bad user name or password",
            ),
            (5, ConnectReturnCode::NotAuthorized, "not authorized"),
        ];
        for (byte, code, text) in named {
            assert_eq!(
                decode_all(&[0x20, 2, 0, byte]),
                Ok(Incoming::ConnAck {
                    session_present: false,
                    code
                })
            );
            assert_eq!(code.to_string(), text);
        }
        assert_eq!(
            decode_all(&[0x20, 2, 1, 0]),
            Ok(Incoming::ConnAck {
                session_present: true,
                code: ConnectReturnCode::Accepted
            })
        );
    }

    #[test]
    fn connack_outside_the_spec_is_refused() {
        let bad: [&[u8]; 6] = [
            &[0x20, 2, 0, 6],    // no such return code
            &[0x20, 2, 2, 0],    // reserved flag bit
            &[0x20, 2, 1, 5],    // a session with a refusal
            &[0x20, 1, 0],       // too short
            &[0x20, 3, 0, 0, 0], // too long
            &[0x21, 2, 0, 0],    // reserved header flags
        ];
        for b in bad {
            assert!(decode_all(b).is_err(), "{b:02x?}");
        }
    }

    #[test]
    fn publish_qos_and_flags() {
        let m = decode_all(&[0x3b, 9, 0, 3, b'a', b'/', b'b', 0x12, 0x34, b'h', b'i']).unwrap();
        assert_eq!(
            m,
            Incoming::Publish(Message {
                topic: "a/b".into(),
                payload: b"hi".to_vec(),
                qos: QoS::AtLeastOnce,
                retain: true,
                dup: true,
                packet_id: Some(0x1234),
            })
        );
        let empty = decode_all(&[0x30, 3, 0, 1, b't']).unwrap();
        assert!(
            matches!(empty, Incoming::Publish(Message { ref payload, packet_id: None, .. }) if payload.is_empty())
        );
        let refused: [(&[u8], &str); 7] = [
            (&[0x34, 5, 0, 1, b't', 0, 1], "QoS 2 is never asked for"),
            (&[0x36, 5, 0, 1, b't', 0, 1], "QoS 3 does not exist"),
            (&[0x38, 3, 0, 1, b't'], "DUP with QoS 0"),
            (&[0x32, 5, 0, 1, b't', 0, 0], "packet id 0"),
            (&[0x30, 3, 0, 1, b'#'], "wildcard in a topic name"),
            (&[0x30, 2, 0, 0], "empty topic name"),
            (&[0x30, 3, 0, 2, b't'], "topic runs past the end"),
        ];
        for (bytes, why) in refused {
            assert!(decode_all(bytes).is_err(), "{why}");
        }
    }

    #[test]
    fn acks_pings_and_strangers() {
        assert_eq!(
            decode_all(&[0x40, 2, 0, 7]),
            Ok(Incoming::PubAck { packet_id: 7 })
        );
        assert_eq!(
            decode_all(&[0x90, 6, 0, 9, 0, 1, 2, 0x80]),
            Ok(Incoming::SubAck {
                packet_id: 9,
                codes: vec![
                    SubAckCode::MaximumQoS0,
                    SubAckCode::MaximumQoS1,
                    SubAckCode::MaximumQoS2,
                    SubAckCode::Failure
                ],
            })
        );
        assert_eq!(decode_all(&[0xd0, 0]), Ok(Incoming::PingResp));
        assert!(decode_all(&[0x90, 3, 0, 9, 3]).is_err(), "SUBACK code 3");
        assert!(
            decode_all(&[0x90, 2, 0, 9]).is_err(),
            "SUBACK without codes"
        );
        assert!(decode_all(&[0x40, 3, 0, 7, 0]).is_err(), "PUBACK too long");
        assert!(decode_all(&[0xd0, 1, 0]).is_err(), "PINGRESP with a body");
        assert!(decode_all(&[0xd1, 0]).is_err(), "PINGRESP with flags");
        for client_only in [
            0x10u8, 0x82, 0xa2, 0xc0, 0xe0, 0x50, 0x62, 0x70, 0xb0, 0x00, 0xf0,
        ] {
            assert!(
                matches!(
                    decode_all(&[client_only, 0]),
                    Err(DecodeError::UnexpectedType(_))
                ),
                "{client_only:02x}"
            );
        }
    }

    proptest! {
        /// Any bytes at all: framing and decoding return, never panic, and
        /// a frame never claims more bytes than a four-byte length allows.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut rest = &bytes[..];
            while let Ok(Some(frame)) = Frame::parse(rest) {
                prop_assert!(frame.body_len <= super::super::wire::MAX_REMAINING_LENGTH);
                if frame.total_len() > rest.len() {
                    break;
                }
                let _ = decode(frame.first, &rest[frame.header_len..frame.total_len()]);
                rest = &rest[frame.total_len()..];
            }
        }

        /// Any first byte with any body: an answer, never a panic.
        #[test]
        fn arbitrary_bodies_after_a_valid_header(first in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(first, &body);
        }
    }
}
