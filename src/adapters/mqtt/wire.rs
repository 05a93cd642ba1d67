//! MQTT 3.1.1's field encodings, shared by what we send and what we read:
//! the fixed header's remaining length (a base-128 varint of one to four
//! bytes, spec 2.2.3), two-byte integers, and strings and binary fields
//! behind a two-byte length (1.5.3).

pub(crate) use super::errors::MAX_REMAINING_LENGTH;
use super::errors::{DecodeError, EncodeError};

/// Appends `len` as a remaining-length varint.
pub(crate) fn put_remaining_length(out: &mut Vec<u8>, len: usize) -> Result<(), EncodeError> {
    if len > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PacketTooLong(len));
    }
    let mut rest = len;
    loop {
        // Seven bits per byte, least significant first; the top bit says
        // another byte follows. `rest % 128` always fits a byte.
        let digit = (rest % 128) as u8;
        rest /= 128;
        if rest == 0 {
            out.push(digit);
            return Ok(());
        }
        out.push(digit | 0x80);
    }
}

/// The remaining length at the start of `buf` and how many bytes encode it;
/// `None` while `buf` ends before the varint does. A fourth byte that
/// still says "more follows" is malformed.
pub(crate) fn remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut len = 0usize;
    for (i, &b) in buf.iter().take(4).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((len, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err(DecodeError::MalformedLength)
    } else {
        Ok(None)
    }
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a binary field (two-byte length, then the bytes). `what` names
/// the field in the error.
pub(crate) fn put_binary(
    out: &mut Vec<u8>,
    what: &'static str,
    bytes: &[u8],
) -> Result<(), EncodeError> {
    let len = u16::try_from(bytes.len()).map_err(|_| EncodeError::FieldTooLong {
        what,
        len: bytes.len(),
    })?;
    put_u16(out, len);
    out.extend_from_slice(bytes);
    Ok(())
}

/// Appends a UTF-8 string field. The spec forbids U+0000 in one (1.5.3):
/// a broker drops the connection for it, so it is refused here.
pub(crate) fn put_str(out: &mut Vec<u8>, what: &'static str, s: &str) -> Result<(), EncodeError> {
    if s.contains('\0') {
        return Err(EncodeError::NulInString(what));
    }
    put_binary(out, what, s.as_bytes())
}

/// The bytes of a string or binary field: its two-byte length, then that
/// many bytes.
pub(crate) const fn field_len(bytes: usize) -> usize {
    2 + bytes
}

/// Reads the fields of one packet's body, front to back; every read is
/// bounds-checked and names the field that ran past the end.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Fields<'a> {
        Fields { rest: body }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A UTF-8 string field, held to the same rules [`put_str`] keeps.
    pub(crate) fn str(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u16(what)?);
        let bytes = self.take(len, what)?;
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8(what))?;
        if s.contains('\0') {
            return Err(DecodeError::NotUtf8(what));
        }
        Ok(s)
    }

    /// Whatever is left (a PUBLISH payload, SUBACK return codes).
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Fails when bytes are left over after the last field.
    pub(crate) fn end(&self, packet: &'static str) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(packet))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn remaining_length_boundaries_take_one_to_four_bytes() {
        // The spec's table 2.4: the first and last value of each size.
        let cases: [(usize, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for (len, bytes) in cases {
            let mut out = Vec::new();
            put_remaining_length(&mut out, len).unwrap();
            assert_eq!(out, bytes, "{len}");
            assert_eq!(remaining_length(bytes).unwrap(), Some((len, bytes.len())));
        }
        let mut out = Vec::new();
        assert_eq!(
            put_remaining_length(&mut out, MAX_REMAINING_LENGTH + 1),
            Err(EncodeError::PacketTooLong(MAX_REMAINING_LENGTH + 1))
        );
    }

    #[test]
    fn a_fifth_length_byte_is_malformed_and_a_short_one_incomplete() {
        assert_eq!(
            remaining_length(&[0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::MalformedLength)
        );
        assert_eq!(
            remaining_length(&[0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(DecodeError::MalformedLength)
        );
        assert_eq!(remaining_length(&[0x80, 0x80]), Ok(None));
        assert_eq!(remaining_length(&[]), Ok(None));
    }

    #[test]
    fn fields_refuse_overlong_values_and_nul() {
        let mut out = Vec::new();
        let long = vec![b'a'; 65_536];
        assert_eq!(
            put_binary(&mut out, "payload", &long),
            Err(EncodeError::FieldTooLong {
                what: "payload",
                len: 65_536
            })
        );
        assert_eq!(
            put_str(&mut out, "topic", "a\0b"),
            Err(EncodeError::NulInString("topic"))
        );
        assert!(out.is_empty(), "a refused field writes nothing");
        let mut f = Fields::new(&[0x00, 0x03, b'a', 0x00, b'b']);
        assert_eq!(f.str("topic"), Err(DecodeError::NotUtf8("topic")));
        let mut f = Fields::new(&[0x00, 0x02, 0xc3, 0x28]);
        assert_eq!(f.str("topic"), Err(DecodeError::NotUtf8("topic")));
        let mut f = Fields::new(&[0x00, 0x05, b'a']);
        assert_eq!(f.str("topic"), Err(DecodeError::Truncated("topic")));
    }

    proptest! {
        #[test]
        fn remaining_length_round_trips(len in 0..=MAX_REMAINING_LENGTH) {
            let mut out = Vec::new();
            put_remaining_length(&mut out, len).unwrap();
            prop_assert_eq!(remaining_length(&out).unwrap(), Some((len, out.len())));
            // Every shorter prefix is "incomplete", never an error or a value.
            for cut in 0..out.len() {
                prop_assert_eq!(remaining_length(&out[..cut]).unwrap(), None);
            }
        }

        #[test]
        fn strings_round_trip(s in "[^\u{0}]{0,300}") {
            let mut out = Vec::new();
            put_str(&mut out, "s", &s).unwrap();
            let mut f = Fields::new(&out);
            prop_assert_eq!(f.str("s").unwrap(), s.as_str());
            prop_assert!(f.end("s").is_ok());
        }
    }
}
