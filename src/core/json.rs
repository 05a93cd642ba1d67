//! The one JSON writer: strings escaped one way, numbers written one way,
//! and a number that is not finite (a NaN or an infinity out of a damaged
//! database) written as `null`, since JSON has no other word for it.
//! Everything mcce answers or exports as JSON is built with these.

use std::io::Write as _;

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    push_bytes(out, s.as_bytes());
}

/// [`push_str`] for text already held as bytes (the export's fields).
pub fn push_bytes(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            c if c < 0x20 => {
                let _ = write!(out, "\\u{c:04x}");
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// A number as JSON writes it.
pub trait Number {
    fn push_to(self, out: &mut Vec<u8>);
}

impl Number for i64 {
    /// By hand: a raw day has 34 560 numbers to write, and `write!`
    /// spends most of the response's time on them.
    fn push_to(self, out: &mut Vec<u8>) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = self.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if self < 0 {
            out.push(b'-');
        }
        out.extend_from_slice(&digits[i..]);
    }
}

impl Number for u32 {
    fn push_to(self, out: &mut Vec<u8>) {
        i64::from(self).push_to(out);
    }
}

impl Number for u64 {
    fn push_to(self, out: &mut Vec<u8>) {
        let _ = write!(out, "{self}");
    }
}

impl Number for f64 {
    /// Finite: the shortest text that reads back as the same value;
    /// otherwise `null`.
    fn push_to(self, out: &mut Vec<u8>) {
        if self.is_finite() {
            let _ = write!(out, "{self}");
        } else {
            out.extend_from_slice(b"null");
        }
    }
}

/// Appends a number.
pub fn push_num(out: &mut Vec<u8>, n: impl Number) {
    n.push_to(out);
}

/// Appends a number, or `null` for none.
pub fn push_opt(out: &mut Vec<u8>, n: Option<impl Number>) {
    match n {
        Some(n) => n.push_to(out),
        None => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn integers() {
        for n in [0i64, 7, -7, 10, 1_795_651_200, i64::MIN, i64::MAX] {
            assert_eq!(text(|v| push_num(v, n)), n.to_string());
        }
        assert_eq!(text(|v| push_num(v, u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn reals_are_finite_or_null() {
        assert_eq!(text(|v| push_num(v, 1.5)), "1.5");
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(text(|v| push_num(v, x)), "null");
            assert_eq!(text(|v| push_opt(v, Some(x))), "null");
        }
        assert_eq!(text(|v| push_opt(v, None::<i64>)), "null");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            text(|v| push_str(v, "a\"b\\c\n\u{1}é")),
            r#""a\"b\\c\u000a\u0001é""#
        );
    }
}
