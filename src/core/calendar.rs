//! The civil calendar, with no time zone: dates to day numbers and back,
//! `YYYY-MM-DD` names, and the digits of a local time. Our own arithmetic
//! so that formatting millions of stamps for an export stays cheap.
//!
//! The one module that imports the `time` crate: others take its `Date`
//! (any date of years −9999 to 9999) and the types `localtime` asks the C
//! library's offsets with from here.

pub(crate) use time::{Date, Month, OffsetDateTime, UtcOffset};

/// Days since 1970-01-01 for a proleptic Gregorian date.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01, as (year, month, day).
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// The date `days` after 1970-01-01; days beyond the calendar give its
/// first or last date.
pub fn date_from_days(days: i64) -> Date {
    let (y, m, d) = civil_from_days(days.clamp(days_of(Date::MIN), days_of(Date::MAX)));
    Month::try_from(m as u8)
        .ok()
        .and_then(|m| Date::from_calendar_date(y, m, d as u8).ok())
        .unwrap_or(if days < 0 { Date::MIN } else { Date::MAX })
}

pub fn days_of(date: Date) -> i64 {
    days_from_civil(
        date.year(),
        u8::from(date.month()) as u32,
        u32::from(date.day()),
    )
}

/// `YYYY-MM-DD`, the name of day files and per-day tables.
pub fn date_name(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Parses `YYYY-MM-DD` strictly.
pub fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        s.get(r)?.bytes().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    Date::from_calendar_date(y as i32, Month::try_from(m as u8).ok()?, d as u8).ok()
}

/// Writes `YYYY-MM-DD?HH:MM:SS` for local seconds `local` (Unix seconds
/// shifted by the offset) into `out`, with `sep` between date and time.
pub fn push_local(out: &mut Vec<u8>, local: i64, sep: u8) {
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400) as u32;
    push_num(out, y as u32, 4);
    out.push(b'-');
    push_num(out, m, 2);
    out.push(b'-');
    push_num(out, d, 2);
    out.push(sep);
    push_num(out, secs / 3600, 2);
    out.push(b':');
    push_num(out, secs / 60 % 60, 2);
    out.push(b':');
    push_num(out, secs % 60, 2);
}

/// Writes an offset as `+HH:MM`.
pub fn push_offset(out: &mut Vec<u8>, offset: i32) {
    out.push(if offset < 0 { b'-' } else { b'+' });
    let a = offset.unsigned_abs();
    push_num(out, a / 3600, 2);
    out.push(b':');
    push_num(out, a / 60 % 60, 2);
}

fn push_num(out: &mut Vec<u8>, n: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = buf.len() - i;
    for _ in digits..width {
        out.push(b'0');
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 10_957, 19_000, 20_088, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_088), (2024, 12, 31));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(date_name(parse_date("2025-03-30").unwrap()), "2025-03-30");
        for bad in [
            "2025-3-30",
            "2025-02-30",
            "20250330xx",
            "2025-13-01",
            "abcd-ef-gh",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn formatting() {
        let mut v = Vec::new();
        push_local(&mut v, 0, b' ');
        assert_eq!(v, b"1970-01-01 00:00:00");
        let mut v = Vec::new();
        push_offset(&mut v, -(3 * 3600 + 30 * 60));
        assert_eq!(v, b"-03:30");
    }
}
