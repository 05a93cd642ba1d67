//! Hex text into bytes, for `mcce decode --hex`: a capture pasted from a
//! terminal or a logic analyser. Pure.

/// One line of hex text appended to `out` as bytes: a byte never spans two
/// lines, so `mcce decode --hex` can read its input a line at a time.
pub fn parse_hex_line(line: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let digits: Vec<u8> = line
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .map(|tok| {
            tok.strip_prefix("0x")
                .or(tok.strip_prefix("0X"))
                .unwrap_or(tok)
        })
        .flat_map(|tok| tok.bytes())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_string());
    }
    for pair in digits.chunks(2) {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(h), Some(l)) => out.push(h << 4 | l),
            _ => {
                return Err(format!(
                    "'{}{}' is not a hex byte",
                    pair[0] as char, pair[1] as char
                ));
            }
        }
    }
    Ok(())
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_input() {
        let mut out = Vec::new();
        parse_hex_line("53 30 0x32", &mut out).unwrap();
        parse_hex_line("32:32,30 0C", &mut out).unwrap();
        assert_eq!(out, b"S0222\x30\x0C");
        assert!(parse_hex_line("5", &mut out).unwrap_err().contains("odd"));
        assert!(
            parse_hex_line("zz", &mut out)
                .unwrap_err()
                .contains("not a hex byte")
        );
    }
}
