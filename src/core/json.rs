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

/// A JSON object written in one pass, for payloads made of nested
/// objects (`mcce publish`'s): `{` on creation, `}` on [`Object::end`];
/// strings and numbers by the functions above.
pub struct Object {
    out: Vec<u8>,
    empty: bool,
}

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

impl Object {
    pub fn new() -> Object {
        Object {
            out: vec![b'{'],
            empty: true,
        }
    }

    fn key(&mut self, key: &str) -> &mut Self {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        push_str(&mut self.out, key);
        self.out.push(b':');
        self
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_str(&mut self.out, value);
        self
    }

    /// A number, or `null` for none.
    pub fn num(&mut self, key: &str, value: Option<impl Number>) -> &mut Self {
        self.key(key);
        push_opt(&mut self.out, value);
        self
    }

    /// An array of strings.
    pub fn strs(&mut self, key: &str, values: &[&str]) -> &mut Self {
        self.key(key);
        self.out.push(b'[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            push_str(&mut self.out, v);
        }
        self.out.push(b']');
        self
    }

    /// An array of objects.
    pub fn objects(&mut self, key: &str, values: Vec<Object>) -> &mut Self {
        self.key(key);
        self.out.push(b'[');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(v.end().as_bytes());
        }
        self.out.push(b']');
        self
    }

    pub fn object(&mut self, key: &str, value: Object) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(value.end().as_bytes());
        self
    }

    pub fn end(mut self) -> String {
        self.out.push(b'}');
        // Only UTF-8 went in (`&str`s, escapes and digits).
        String::from_utf8(self.out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_nest() {
        let mut inner = Object::new();
        inner.str("topic", "a/\"b\"");
        let mut o = Object::new();
        o.num("w", Some(-5i64))
            .num("n", None::<i64>)
            .num("x", Some(f64::NAN))
            .strs("s", &["x", "y"])
            .objects("list", vec![inner, Object::new()])
            .object("o", Object::new())
            .str("z", "é");
        assert_eq!(
            o.end(),
            r#"{"w":-5,"n":null,"x":null,"s":["x","y"],"list":[{"topic":"a/\"b\""},{}],"o":{},"z":"é"}"#
        );
    }

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
