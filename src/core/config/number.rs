//! The one reader of a setting's whole number.

/// A whole number within `min..=max`. Digits that do not fit (too big for
/// any setting, or negative) are out of range, not "not a number".
pub(crate) fn number(value: &str, min: u32, max: u32) -> Result<u32, String> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{value}' is not a whole number"));
    }
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("{value} is out of range {min}..={max}")),
    }
}
