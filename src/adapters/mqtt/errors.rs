//! What can go wrong either way on the wire: bytes a broker sent that the
//! spec does not allow, and what the spec does not let us send. Apart from
//! the codecs, so the shared wire helpers and both directions use them
//! without importing each other.

use std::fmt;

/// The largest remaining length four varint bytes can carry.
pub(crate) const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// What the spec does not let us send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EncodeError {
    /// A string or binary field over 65 535 bytes.
    FieldTooLong { what: &'static str, len: usize },
    /// A packet whose remaining length is over 268 435 455 bytes.
    PacketTooLong(usize),
    /// U+0000 in a string field.
    NulInString(&'static str),
    /// An empty topic name, or one with a `+` or `#` wildcard (3.3.2.1).
    BadTopicName(String),
    /// An empty topic filter, or a wildcard in a place the spec forbids
    /// (4.7.1).
    BadTopicFilter(String),
    /// A SUBSCRIBE with no topic filter (3.8.3).
    NoFilters,
    /// Packet identifier 0, which the spec reserves (2.3.1).
    ZeroPacketId,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FieldTooLong { what, len } => {
                write!(f, "{what} is {len} bytes, over MQTT's limit of 65535")
            }
            EncodeError::PacketTooLong(len) => {
                write!(
                    f,
                    "packet is {len} bytes, over MQTT's limit of {MAX_REMAINING_LENGTH}"
                )
            }
            EncodeError::NulInString(what) => write!(f, "{what} contains a NUL character"),
            EncodeError::BadTopicName(t) => {
                write!(f, "topic {t:?} is empty or has a wildcard (+ or #)")
            }
            EncodeError::BadTopicFilter(t) => write!(f, "topic filter {t:?} is not valid"),
            EncodeError::NoFilters => write!(f, "SUBSCRIBE needs at least one topic filter"),
            EncodeError::ZeroPacketId => write!(f, "packet identifier 0 is reserved"),
        }
    }
}

/// Why a broker's bytes were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// A remaining length whose fourth byte still says "more follows".
    MalformedLength,
    /// A packet of a type a broker does not send to a client of ours
    /// (CONNECT, SUBSCRIBE, QoS 2 flow, reserved types...).
    UnexpectedType(u8),
    /// The fixed header's flags are not those the spec fixes for its type.
    BadFlags(u8),
    /// A field runs past the end of the packet.
    Truncated(&'static str),
    /// Bytes after the packet's last field.
    TrailingBytes(&'static str),
    /// A string that is not UTF-8, or holds U+0000.
    NotUtf8(&'static str),
    /// An empty topic name, or one with a wildcard (3.3.2.1).
    BadTopicName,
    /// A value the spec does not define (a return code, a QoS, reserved
    /// bits, packet identifier 0).
    Invalid { what: &'static str, value: u16 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::MalformedLength => write!(f, "malformed remaining length"),
            DecodeError::UnexpectedType(t) => write!(f, "unexpected packet type {t}"),
            DecodeError::BadFlags(b) => write!(f, "invalid fixed header 0x{b:02x}"),
            DecodeError::Truncated(what) => write!(f, "packet ends inside its {what}"),
            DecodeError::TrailingBytes(what) => write!(f, "bytes after the end of a {what}"),
            DecodeError::NotUtf8(what) => write!(f, "{what} is not valid UTF-8"),
            DecodeError::BadTopicName => write!(f, "empty or wildcard topic name in a PUBLISH"),
            DecodeError::Invalid { what, value } => write!(f, "invalid {what} {value}"),
        }
    }
}
