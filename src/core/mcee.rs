//! The MCEE meter's protocol (docs/protocol.md#frames): the trigger, the
//! decoding of its byte stream into watt readings and the frames the
//! simulator sends; [`Mcee`] is mcce's one [`Protocol`].
//!
//! The power field sits between the ASCII markers `S0222` and `1S03`. The
//! original Python decoder searched a hex *string*, so markers could match at
//! half-byte offsets; this decoder works on bytes only. It is pure (no I/O)
//! and incremental: bytes may arrive in any split across reads, surrounded by
//! other fields or noise, and the same readings come out whatever the split.

use super::protocol::{Decode, Protocol};

/// The MCEE protocol.
pub struct Mcee;

impl Protocol for Mcee {
    fn trigger(&self) -> &'static [u8] {
        &TRIGGER
    }

    fn decoder(&self) -> Box<dyn Decode> {
        Box::new(Decoder::new())
    }

    /// A frame with the neighbouring fields the real meter sends around
    /// the power's; above 65 535 W the two-byte field says 65 535.
    fn encode(&self, watts: u32, extra: u8) -> Vec<u8> {
        let w = watts.min(65_535) as u16;
        let mut v = Vec::with_capacity(24);
        v.extend_from_slice(b"S0111");
        v.extend_from_slice(&[extra, 0x00]);
        v.extend_from_slice(START);
        v.extend_from_slice(&encode_field(w));
        v.extend_from_slice(END);
        v.extend_from_slice(&[0x02, extra, b'\r', b'\n']);
        v
    }

    fn cut_frame(&self) -> &'static [u8] {
        b"S0222\x01"
    }
}

impl Decode for Decoder {
    fn feed(&mut self, bytes: &[u8], on_reading: &mut dyn FnMut(u32)) {
        Decoder::feed(self, bytes, on_reading);
    }

    fn reset(&mut self) {
        Decoder::reset(self);
    }
}

/// Marks the start of the power field.
const START: &[u8] = b"S0222";
/// Marks the end of the power field: the first one after a start marker.
const END: &[u8] = b"1S03";
/// What the meter needs to hear before it sends anything.
const TRIGGER: [u8; 4] = [0xAA, 0x02, 0x00, 0xAD];

/// Longest field accepted between the markers. A real field is two bytes;
/// anything much longer is noise, and reading a value out of it would
/// invent a reading.
const MAX_FIELD: usize = 4096;

/// The value carried by one frame's field bytes, or `None` for an empty field.
///
/// Two bytes are little-endian; a single byte is the value itself; bytes
/// beyond the second are ignored (docs/protocol.md).
pub fn field_watts(field: &[u8]) -> Option<u32> {
    match field {
        [] => None,
        [b0] => Some(u32::from(*b0)),
        [b0, b1, ..] => Some(u32::from(*b0) + 256 * u32::from(*b1)),
    }
}

/// Progress through one marker, one byte at a time.
///
/// Each marker's first byte occurs nowhere else in it, so a partial match
/// can only begin at that byte: on a mismatch the only match left is one
/// starting at this very byte. No byte is looked at twice, and decoding is
/// linear in the stream's length.
#[derive(Debug, Default, Clone, Copy)]
struct Matcher {
    matched: usize,
}

impl Matcher {
    /// Takes the next byte; true when it completes the marker.
    fn step(&mut self, marker: &[u8], b: u8) -> bool {
        if marker[self.matched] == b {
            self.matched += 1;
        } else {
            self.matched = usize::from(marker[0] == b);
        }
        if self.matched == marker.len() {
            self.matched = 0;
            true
        } else {
            false
        }
    }
}

/// Where the decoder is between reads.
#[derive(Debug, Clone, Copy, Default)]
enum State {
    /// Looking for a start marker.
    #[default]
    Hunting,
    /// After a start marker: `seen` bytes since it, of which the first two
    /// are kept (the field's value, unless they turn out to be the end
    /// marker itself).
    InField { seen: usize, first: [u8; 2] },
}

/// Incremental frame decoder.
///
/// A frame is a start marker followed by the first end marker after it. When
/// a second start marker appears before any end marker, the first frame was
/// cut short (a lost byte, a replug) and is abandoned: reading its field
/// across the next frame's start would invent a value. A field longer than
/// `MAX_FIELD` bytes is abandoned too.
///
/// The state is a few counters, not a buffer: bytes may arrive in any split
/// and the same readings come out, in one pass over the stream.
#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
    start: Matcher,
    end: Matcher,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and calls `on_reading` for every complete frame, in stream
    /// order. Frames with an empty field complete without a reading.
    pub fn feed(&mut self, bytes: &[u8], mut on_reading: impl FnMut(u32)) {
        for &b in bytes {
            let started = self.start.step(START, b);
            self.state = match self.state {
                State::Hunting => {
                    if started {
                        self.enter_field()
                    } else {
                        State::Hunting
                    }
                }
                // A new start before any end: the frame was cut short.
                State::InField { .. } if started => self.enter_field(),
                State::InField { seen, mut first } => {
                    if seen < 2 {
                        first[seen] = b;
                    }
                    let seen = seen + 1;
                    if self.end.step(END, b) {
                        let len = seen - END.len();
                        if let Some(w) = field_watts(&first[..len.min(2)]) {
                            on_reading(w);
                        }
                        // Markers do not overlap: look for a fresh start.
                        self.start = Matcher::default();
                        State::Hunting
                    } else if seen >= MAX_FIELD + END.len() {
                        State::Hunting
                    } else {
                        State::InField { seen, first }
                    }
                }
            };
        }
    }

    fn enter_field(&mut self) -> State {
        self.end = Matcher::default();
        State::InField {
            seen: 0,
            first: [0; 2],
        }
    }

    /// Forgets a partial frame, e.g. after the port was reopened.
    pub fn reset(&mut self) {
        *self = Decoder::default();
    }
}

/// Every reading in a complete captured stream, in order.
#[cfg(test)]
pub fn decode_all(bytes: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    Decoder::new().feed(bytes, |w| out.push(w));
    out
}

/// Encodes `watts` the way the meter does (the simulator's frames).
/// Values above 65 535 W cannot be represented by the two-byte field.
fn encode_field(watts: u16) -> [u8; 2] {
    watts.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(field: &[u8]) -> Vec<u8> {
        let mut v = b"S0111\x01\x02".to_vec();
        v.extend_from_slice(START);
        v.extend_from_slice(field);
        v.extend_from_slice(END);
        v.extend_from_slice(b"S03\x07");
        v
    }

    #[test]
    fn spec_example_is_3120_watts() {
        let bytes = [
            0x10, 0x53, 0x30, 0x32, 0x32, 0x32, 0x30, 0x0C, 0x31, 0x53, 0x30, 0x33, 0x99,
        ];
        assert_eq!(decode_all(&bytes), vec![3120]);
    }

    #[test]
    fn field_lengths() {
        assert_eq!(decode_all(&frame(&[])), Vec::<u32>::new());
        assert_eq!(decode_all(&frame(&[200])), vec![200]);
        assert_eq!(decode_all(&frame(&[0x30, 0x0C])), vec![3120]);
        assert_eq!(decode_all(&frame(&[0xFF, 0xFF, 0x12, 0x34])), vec![65535]);
    }

    #[test]
    fn missing_markers_give_nothing() {
        assert!(decode_all(b"S0222\x30\x0C").is_empty());
        assert!(decode_all(b"\x30\x0C1S03").is_empty());
        assert!(decode_all(b"").is_empty());
    }

    #[test]
    fn no_nibble_offset_matches() {
        // "S0222" hex is 5330323232: shifting by a nibble would match in the
        // hex text of 0x?5 0x33 0x03 0x23 0x23 0x2?; bytes must not.
        let shifted = [
            0x05, 0x33, 0x03, 0x23, 0x23, 0x23, 0x00, 0xC3, 0x15, 0x33, 0x03, 0x30,
        ];
        assert!(decode_all(&shifted).is_empty());
    }

    #[test]
    fn several_frames_in_order_and_the_end_marker_is_the_first_after_start() {
        let mut s = frame(&[1, 0]);
        s.extend(frame(&[2, 0]));
        s.extend(frame(b"1S"));
        assert_eq!(
            decode_all(&s),
            vec![1, 2, u32::from(b'1') + 256 * u32::from(b'S')]
        );
    }

    #[test]
    fn a_cut_frame_is_abandoned_at_the_next_start() {
        let mut s = b"S0222\x30".to_vec();
        s.extend(frame(&[0x10, 0x00]));
        assert_eq!(decode_all(&s), vec![16]);
    }

    #[test]
    fn split_at_every_position() {
        let mut s = frame(&[0x30, 0x0C]);
        s.extend(b"noise S02 S0222");
        s.extend(frame(&[7]));
        let whole = decode_all(&s);
        assert_eq!(whole, vec![3120, 7]);
        for cut in 0..=s.len() {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            d.feed(&s[..cut], |w| got.push(w));
            d.feed(&s[cut..], |w| got.push(w));
            assert_eq!(got, whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_long_run_of_start_markers_is_decoded_in_one_pass() {
        // 4 MiB of start markers with no end marker, then one real frame.
        // Rescanning the rest of the buffer at every marker (the decoder
        // used to) examines ~10^12 bytes here and does not finish for
        // hours; one pass examines each byte once.
        let mut s = START.repeat((4 << 20) / START.len());
        s.extend(frame(&[0x30, 0x0C]));
        assert_eq!(decode_all(&s), vec![3120]);
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for chunk in s.chunks(64 * 1024 + 3) {
            d.feed(chunk, |w| got.push(w));
        }
        assert_eq!(got, vec![3120]);
    }

    #[test]
    fn markers_suit_the_one_pass_matcher() {
        // What `Matcher` relies on; and the two markers cannot overlap
        // each other, so the first to complete is the first in the stream.
        for m in [START, END] {
            assert!(!m[1..].contains(&m[0]), "{m:?}");
        }
        let overlap = |a: &[u8], b: &[u8]| {
            (1..=a.len().min(b.len())).any(|k| a[a.len() - k..] == b[..k])
                || a.windows(b.len()).any(|w| w == b)
        };
        assert!(!overlap(START, END) && !overlap(END, START));
    }

    #[test]
    fn an_overlong_field_is_noise() {
        let mut s = START.to_vec();
        s.extend(vec![7u8; MAX_FIELD]);
        s.extend_from_slice(END);
        assert_eq!(decode_all(&s), vec![7 + 256 * 7]);
        let mut s = START.to_vec();
        s.extend(vec![7u8; MAX_FIELD + 1]);
        s.extend_from_slice(END);
        s.extend(frame(&[9]));
        assert_eq!(decode_all(&s), vec![9]);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn clean_noise() -> impl Strategy<Value = Vec<u8>> {
            // Noise that cannot contain a marker: no 'S' bytes.
            proptest::collection::vec(any::<u8>().prop_filter("no S", |b| *b != b'S'), 0..40)
        }

        /// The decoder as first written: rescans the rest of the buffer at
        /// every start marker (quadratic), kept as the oracle of what a
        /// stream means.
        fn rescanning(bytes: &[u8]) -> Vec<u32> {
            fn find(h: &[u8], n: &[u8]) -> Option<usize> {
                h.windows(n.len()).position(|w| w == n)
            }
            let mut out = Vec::new();
            let mut pos = 0;
            while let Some(start) = find(&bytes[pos..], START).map(|i| pos + i) {
                let from = start + START.len();
                let rest = &bytes[from..];
                match (find(rest, END), find(rest, START)) {
                    (Some(e), Some(r)) if r < e => pos = from + r,
                    (Some(e), _) => {
                        out.extend(field_watts(&rest[..e]));
                        pos = from + e + END.len();
                    }
                    (None, Some(r)) => pos = from + r,
                    (None, None) => break,
                }
            }
            out
        }

        /// Bytes drawn mostly from the markers' own letters, so that
        /// partial, repeated and interleaved markers are common.
        fn marker_soup() -> impl Strategy<Value = Vec<u8>> {
            let piece = prop_oneof![
                Just(START.to_vec()),
                Just(END.to_vec()),
                Just(START[..3].to_vec()),
                Just(END[..2].to_vec()),
                proptest::sample::select(b"S0123x".to_vec()).prop_map(|b| vec![b]),
                any::<u8>().prop_map(|b| vec![b]),
            ];
            proptest::collection::vec(piece, 0..80).prop_map(|v| v.concat())
        }

        proptest! {
            #[test]
            fn one_pass_means_what_the_rescanning_decoder_meant(bytes in marker_soup(), split in 1usize..9) {
                let want = rescanning(&bytes);
                prop_assert_eq!(decode_all(&bytes), want.clone());
                let mut d = Decoder::new();
                let mut got = Vec::new();
                for chunk in bytes.chunks(split) {
                    d.feed(chunk, |w| got.push(w));
                }
                prop_assert_eq!(got, want);
            }

            #[test]
            fn never_panics_and_split_never_matters(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut1 in 0usize..300, cut2 in 0usize..300) {
                let whole = decode_all(&bytes);
                let (a, b) = (cut1.min(bytes.len()), cut2.min(bytes.len()));
                let (a, b) = (a.min(b), a.max(b));
                let mut d = Decoder::new();
                let mut got = Vec::new();
                d.feed(&bytes[..a], |w| got.push(w));
                d.feed(&bytes[a..b], |w| got.push(w));
                d.feed(&bytes[b..], |w| got.push(w));
                prop_assert_eq!(got, whole);
            }

            #[test]
            fn encoded_frames_round_trip(values in proptest::collection::vec(any::<u16>(), 1..20), noise in clean_noise(), split in 1usize..7) {
                let mut s = Vec::new();
                for v in &values {
                    s.extend_from_slice(&noise);
                    s.extend_from_slice(START);
                    s.extend_from_slice(&encode_field(*v));
                    s.extend_from_slice(END);
                }
                s.extend_from_slice(&noise);
                let mut d = Decoder::new();
                let mut got = Vec::new();
                for chunk in s.chunks(split) {
                    d.feed(chunk, |w| got.push(w));
                }
                let want: Vec<u32> = values.iter().map(|v| u32::from(*v)).collect();
                prop_assert_eq!(got, want);
            }
        }
    }
}
