//! Local calendar days (docs/data.md#local-days-and-dst): a day file and a digest cover one local
//! date, which lasts 23, 24 or 25 hours. Offsets come from the C library's
//! view of `TZ` / `/etc/localtime`; the calendar arithmetic is
//! `crate::core::calendar`'s.
//!
//! Every function here is total: a date is any `Date` (years −9999 to
//! 9999, so `9999-12-31` is a date like another and its day still has an
//! end), and a Unix time beyond that calendar is dated at its nearest edge
//! rather than stopping the program.

use crate::core::calendar::{
    Date, OffsetDateTime, UtcOffset, date_from_days, days_of, push_local, push_offset,
};

/// The local UTC offset, in seconds, in force at Unix time `ts`.
pub fn offset_at(ts: i64) -> i32 {
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| UtcOffset::local_offset_at(t).ok())
        .map(|o| o.whole_seconds())
        .unwrap_or(0)
}

/// The local date of Unix time `ts`.
pub fn local_date(ts: i64) -> Date {
    date_from_days(
        ts.saturating_add(i64::from(offset_at(ts)))
            .div_euclid(86_400),
    )
}

/// The Unix time of the first second of local date `date`.
///
/// Where local midnight does not exist (a zone that springs forward at
/// 00:00), the day starts at the first instant that carries the date.
pub fn local_day_start(date: Date) -> i64 {
    day_start(days_of(date))
}

/// [`local_day_start`] of the day numbered `days` since 1970-01-01: by
/// number, so the day after the calendar's last one still has a start.
fn day_start(days: i64) -> i64 {
    let naive = days * 86_400;
    unix_of_local(naive).unwrap_or_else(|| naive - i64::from(offset_at(naive - 86_400)))
}

/// The earliest Unix time whose local wall time is `naive` (local seconds
/// counted as if the zone were UTC), or `None` where a clock change skips
/// it. The offsets a day before, at and a day after bracket any change, so
/// both instants of an ambiguous time are among the candidates.
pub fn unix_of_local(naive: i64) -> Option<i64> {
    [naive - 86_400, naive, naive + 86_400]
        .into_iter()
        .map(|probe| naive - i64::from(offset_at(probe)))
        .filter(|t| t + i64::from(offset_at(*t)) == naive)
        .min()
}

/// `[start, end)` of local date `date` in Unix seconds.
pub fn local_day_bounds(date: Date) -> (i64, i64) {
    let days = days_of(date);
    (day_start(days), day_start(days + 1))
}

/// `YYYY-MM-DD HH:MM:SS` in local time: the pwrApp bucket label.
pub fn local_label(ts: i64) -> String {
    let mut v = Vec::with_capacity(19);
    push_local(&mut v, ts.saturating_add(i64::from(offset_at(ts))), b' ');
    String::from_utf8_lossy(&v).into_owned()
}

/// ISO 8601 with offset, e.g. `2025-03-30T03:00:00+02:00`.
pub fn iso8601(ts: i64) -> String {
    let mut v = Vec::with_capacity(25);
    OffsetCache::default().push_iso(&mut v, ts);
    String::from_utf8_lossy(&v).into_owned()
}

/// Remembers the offset for the 15-minute block last asked about: time-zone
/// transitions fall on quarter hours, and asking the C library for every one
/// of millions of samples would dominate an export.
#[derive(Default)]
pub struct OffsetCache {
    block: Option<i64>,
    offset: i32,
}

impl OffsetCache {
    pub fn offset(&mut self, ts: i64) -> i32 {
        let block = ts.div_euclid(900);
        if self.block != Some(block) {
            self.block = Some(block);
            self.offset = offset_at(block * 900);
        }
        self.offset
    }

    /// `ts` as local ISO 8601 time with its offset. An offset with seconds
    /// (local mean time, before standard time zones: Rome's +00:49:56)
    /// has no ISO form; it is cut to its minutes for the time too, so the
    /// time and offset still name `ts` exactly.
    pub fn push_iso(&mut self, out: &mut Vec<u8>, ts: i64) {
        let off = self.offset(ts);
        let off = off - off % 60;
        push_local(out, ts + i64::from(off), b'T');
        push_offset(out, off);
    }
}

/// Today's local date by the wall clock.
pub fn today() -> Date {
    local_date(crate::adapters::clock::system_wall())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::calendar::{date_name, parse_date};

    #[test]
    fn the_calendar_edges_have_days() {
        for date in [Date::MIN, Date::MAX, parse_date("9999-12-31").unwrap()] {
            let (start, end) = local_day_bounds(date);
            assert!((82_800..=90_000).contains(&(end - start)), "{date}");
            assert_eq!(local_day_start(date), start);
        }
        assert_eq!(date_name(parse_date("0000-01-01").unwrap()), "0000-01-01");
        // Stamps beyond the calendar are dated at its edges.
        assert_eq!(local_date(i64::MAX), Date::MAX);
        assert_eq!(local_date(i64::MIN), Date::MIN);
        assert_eq!(date_from_days(i64::MAX), Date::MAX);
        assert_eq!(date_from_days(i64::MIN), Date::MIN);
        let _ = (local_label(i64::MAX), local_label(i64::MIN));
    }
}
