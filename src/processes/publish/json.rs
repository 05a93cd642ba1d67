//! The JSON of the MQTT payloads: objects of strings, numbers, `null`,
//! arrays and nested objects, written in one pass. Strings are escaped
//! by `core::json`, mcce's one JSON writer; numbers come in as integers or as text the caller already
//! formatted (never a NaN or an infinity: the writer's callers hold whole
//! watt-hours and watts).

use std::fmt::Write;

/// A JSON object being written: `{` on creation, `}` on [`Object::end`].
pub(crate) struct Object {
    out: String,
    empty: bool,
}

impl Object {
    pub(crate) fn new() -> Object {
        Object {
            out: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) -> &mut Self {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_str(&mut self.out, key);
        self.out.push(':');
        self
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_str(&mut self.out, value);
        self
    }

    pub(crate) fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    /// A whole number, or `null`.
    pub(crate) fn opt_int(&mut self, key: &str, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.int(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// An array of strings.
    pub(crate) fn strs(&mut self, key: &str, values: &[&str]) -> &mut Self {
        self.key(key);
        self.out.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            push_str(&mut self.out, v);
        }
        self.out.push(']');
        self
    }

    /// An array of objects.
    pub(crate) fn objects(&mut self, key: &str, values: Vec<Object>) -> &mut Self {
        self.key(key);
        self.out.push('[');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(&v.end());
        }
        self.out.push(']');
        self
    }

    pub(crate) fn object(&mut self, key: &str, value: Object) -> &mut Self {
        let v = value.end();
        self.raw(key, &v)
    }

    /// `json` as it is: a number or literal the caller wrote.
    pub(crate) fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(json);
        self
    }

    pub(crate) fn end(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// `s` as a JSON string, escaped by mcce's one JSON writer.
fn push_str(out: &mut String, s: &str) {
    let mut v = Vec::with_capacity(s.len() + 2);
    crate::core::json::push_str(&mut v, s);
    // Valid UTF-8 in, ASCII escapes added: nothing is lost.
    out.push_str(&String::from_utf8_lossy(&v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_nest_and_strings_are_escaped() {
        let mut inner = Object::new();
        inner.str("topic", "a/\"b\"\\\n");
        let mut o = Object::new();
        o.int("w", -5)
            .opt_int("n", None)
            .strs("s", &["x", "y"])
            .objects("list", vec![inner, Object::new()])
            .object("o", Object::new())
            .str("z", "é");
        assert_eq!(
            o.end(),
            r#"{"w":-5,"n":null,"s":["x","y"],"list":[{"topic":"a/\"b\"\\\u000a"},{}],"o":{},"z":"é"}"#
        );
    }
}
