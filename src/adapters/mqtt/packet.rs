//! The packets a client sends, encoded as MQTT 3.1.1 (spec chapter 3):
//! CONNECT, PUBLISH, PUBACK, SUBSCRIBE, PINGREQ and DISCONNECT. Each comes
//! out whole as one `Vec`, so a session writes it with a single call.
//!
//! What the spec forbids is refused here rather than sent: a broker's only
//! answer to a malformed packet is to drop the connection, which would
//! look like a network fault.

use std::fmt;

pub(crate) use super::errors::EncodeError;
use super::wire::{field_len, put_binary, put_remaining_length, put_str, put_u16};

/// Delivery guarantee. QoS 2 is not offered: a publisher whose latest
/// value wins has no use for exactly-once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
}

/// The message the broker publishes for us when we vanish without a
/// DISCONNECT (spec 3.1.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
}

/// Credentials. MQTT 3.1.1 allows a user name alone but no password
/// without one (3.1.2.9), so the password hangs off the user name.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Login {
    pub username: String,
    pub password: Option<Vec<u8>>,
}

/// Never prints the password, so a `Login` can sit in any debug output.
impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Connect {
    pub client_id: String,
    /// Seconds; 0 turns keep-alive off.
    pub keep_alive: u16,
    /// Start without any state the broker kept from an earlier session.
    pub clean_session: bool,
    pub will: Option<Will>,
    pub login: Option<Login>,
}

/// The fixed header's first byte for each packet type we send (2.2.1,
/// with the flags 2.2.2 fixes).
const CONNECT: u8 = 0x10;
const PUBLISH: u8 = 0x30;
const PUBACK: u8 = 0x40;
const SUBSCRIBE: u8 = 0x82;
const PINGREQ: u8 = 0xc0;
const DISCONNECT: u8 = 0xe0;

/// Protocol name and level of MQTT 3.1.1 (3.1.2.1, 3.1.2.2).
const PROTOCOL_NAME: &str = "MQTT";
const PROTOCOL_LEVEL: u8 = 4;

/// One packet: its first byte, the remaining length, then `body`.
fn frame(first: u8, body: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first);
    put_remaining_length(&mut out, body.len())?;
    out.extend_from_slice(body);
    Ok(out)
}

impl Connect {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut flags = 0u8;
        if self.clean_session {
            flags |= 0x02;
        }
        let mut payload = Vec::new();
        put_str(&mut payload, "client id", &self.client_id)?;
        if let Some(will) = &self.will {
            check_topic_name(&will.topic)?;
            flags |= 0x04 | (will.qos as u8) << 3;
            if will.retain {
                flags |= 0x20;
            }
            put_str(&mut payload, "will topic", &will.topic)?;
            put_binary(&mut payload, "will message", &will.payload)?;
        }
        if let Some(login) = &self.login {
            flags |= 0x80;
            put_str(&mut payload, "user name", &login.username)?;
            if let Some(password) = &login.password {
                flags |= 0x40;
                put_binary(&mut payload, "password", password)?;
            }
        }
        let mut body = Vec::with_capacity(field_len(PROTOCOL_NAME.len()) + 4 + payload.len());
        put_str(&mut body, "protocol name", PROTOCOL_NAME)?;
        body.push(PROTOCOL_LEVEL);
        body.push(flags);
        put_u16(&mut body, self.keep_alive);
        body.extend_from_slice(&payload);
        frame(CONNECT, &body)
    }
}

/// A PUBLISH. `packet_id` is sent only with QoS 1, and must then not be 0.
pub(crate) fn publish(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    packet_id: u16,
) -> Result<Vec<u8>, EncodeError> {
    check_topic_name(topic)?;
    let mut body = Vec::with_capacity(field_len(topic.len()) + 2 + payload.len());
    put_str(&mut body, "topic", topic)?;
    if qos == QoS::AtLeastOnce {
        if packet_id == 0 {
            return Err(EncodeError::ZeroPacketId);
        }
        put_u16(&mut body, packet_id);
    }
    body.extend_from_slice(payload);
    frame(PUBLISH | (qos as u8) << 1 | u8::from(retain), &body)
}

/// The acknowledgement of a QoS 1 PUBLISH the broker sent us.
pub(crate) fn puback(packet_id: u16) -> Vec<u8> {
    let [hi, lo] = packet_id.to_be_bytes();
    vec![PUBACK, 2, hi, lo]
}

/// A SUBSCRIBE of each filter at its requested QoS.
pub(crate) fn subscribe(packet_id: u16, filters: &[(&str, QoS)]) -> Result<Vec<u8>, EncodeError> {
    if filters.is_empty() {
        return Err(EncodeError::NoFilters);
    }
    if packet_id == 0 {
        return Err(EncodeError::ZeroPacketId);
    }
    let mut body = Vec::new();
    put_u16(&mut body, packet_id);
    for (filter, qos) in filters {
        check_topic_filter(filter)?;
        put_str(&mut body, "topic filter", filter)?;
        body.push(*qos as u8);
    }
    frame(SUBSCRIBE, &body)
}

pub(crate) fn pingreq() -> [u8; 2] {
    [PINGREQ, 0]
}

pub(crate) fn disconnect() -> [u8; 2] {
    [DISCONNECT, 0]
}

/// A topic name we publish to: not empty, no wildcard (3.3.2.1, 4.7.3).
fn check_topic_name(topic: &str) -> Result<(), EncodeError> {
    if topic.is_empty() || topic.contains(['+', '#']) {
        return Err(EncodeError::BadTopicName(topic.to_string()));
    }
    Ok(())
}

/// A topic filter: not empty; `+` only as a whole level; `#` only as the
/// whole last level (4.7.1.2, 4.7.1.3).
fn check_topic_filter(filter: &str) -> Result<(), EncodeError> {
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    let ok = !filter.is_empty()
        && levels.iter().enumerate().all(|(i, level)| match *level {
            "+" => true,
            "#" => i == last,
            l => !l.contains(['+', '#']),
        });
    if ok {
        Ok(())
    } else {
        Err(EncodeError::BadTopicFilter(filter.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's own worked example of a CONNECT variable header (3.1.2.10,
    /// figure 3.6: keep-alive 10 s, user name, password, will QoS 1, will
    /// flag, clean session), with the payload after it.
    #[test]
    fn connect_matches_the_spec_example_header() {
        let c = Connect {
            client_id: "c".into(),
            keep_alive: 10,
            clean_session: true,
            will: Some(Will {
                topic: "w".into(),
                payload: b"x".to_vec(),
                qos: QoS::AtLeastOnce,
                retain: false,
            }),
            login: Some(Login {
                username: "u".into(),
                password: Some(b"p".to_vec()),
            }),
        };
        let bytes = c.encode().unwrap();
        let header = [0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xce, 0x00, 0x0a];
        assert_eq!(bytes[0], 0x10);
        assert_eq!(usize::from(bytes[1]), bytes.len() - 2);
        assert_eq!(&bytes[2..12], &header);
        let payload = [0, 1, b'c', 0, 1, b'w', 0, 1, b'x', 0, 1, b'u', 0, 1, b'p'];
        assert_eq!(&bytes[12..], &payload);
    }

    #[test]
    fn a_retained_will_and_a_user_without_password_set_their_flags() {
        let c = Connect {
            client_id: String::new(),
            keep_alive: 0,
            clean_session: false,
            will: Some(Will {
                topic: "a/b".into(),
                payload: Vec::new(),
                qos: QoS::AtMostOnce,
                retain: true,
            }),
            login: Some(Login {
                username: "u".into(),
                password: None,
            }),
        };
        let bytes = c.encode().unwrap();
        assert_eq!(bytes[9], 0x80 | 0x20 | 0x04);
    }

    #[test]
    fn topics_the_spec_forbids_are_refused() {
        for bad in ["", "a/+", "#", "a/#/b"] {
            assert!(
                matches!(
                    publish(bad, b"", QoS::AtMostOnce, false, 0),
                    Err(EncodeError::BadTopicName(_))
                ),
                "{bad:?}"
            );
        }
        for bad in ["", "a/#/b", "a+", "a/b#", "#/"] {
            assert!(
                matches!(
                    subscribe(1, &[(bad, QoS::AtMostOnce)]),
                    Err(EncodeError::BadTopicFilter(_))
                ),
                "{bad:?}"
            );
        }
        for good in ["#", "+", "a/+/b", "a/#", "+/+", "/"] {
            assert!(subscribe(1, &[(good, QoS::AtMostOnce)]).is_ok(), "{good:?}");
        }
        assert_eq!(
            publish("t", b"", QoS::AtLeastOnce, false, 0),
            Err(EncodeError::ZeroPacketId)
        );
        assert_eq!(subscribe(1, &[]), Err(EncodeError::NoFilters));
        let will = Will {
            topic: "t/#".into(),
            payload: Vec::new(),
            qos: QoS::AtMostOnce,
            retain: true,
        };
        let c = Connect {
            client_id: "c".into(),
            keep_alive: 5,
            clean_session: true,
            will: Some(will),
            login: None,
        };
        assert!(matches!(c.encode(), Err(EncodeError::BadTopicName(_))));
    }

    #[test]
    fn a_login_never_shows_its_password() {
        let l = Login {
            username: "u".into(),
            password: Some(b"secret".to_vec()),
        };
        assert!(!format!("{l:?}").contains("secret"));
    }

    #[test]
    fn fixed_packets_are_the_spec_bytes() {
        assert_eq!(pingreq(), [0xc0, 0x00]);
        assert_eq!(disconnect(), [0xe0, 0x00]);
        assert_eq!(puback(0x1234), [0x40, 0x02, 0x12, 0x34]);
    }
}
