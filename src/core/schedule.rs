//! The poll schedule: absolute ticks on the monotonic clock, aligned to
//! wall-clock multiples of the period. Pure: the caller reads the clocks.

use std::time::Duration;

/// The next poll time on an absolute schedule: ticks at `origin + n·period`.
/// Missed ticks (a poll that overran) are skipped, never bunched up, so the
/// schedule neither drifts nor bursts.
pub fn next_tick(origin: Duration, period: Duration, now: Duration) -> Duration {
    if now < origin {
        return origin;
    }
    let n = (now - origin).as_nanos() / period.as_nanos() + 1;
    origin + period * n as u32
}

/// Monotonic offset at which the first tick should fall so that the polls
/// land on wall-clock multiples of `period` (tidy stamps :00, :05, …).
pub fn aligned_origin(mono_now: Duration, wall_now_ms: i64, period: Duration) -> Duration {
    let p = period.as_millis() as i64;
    let into = wall_now_ms.rem_euclid(p);
    let wait = if into == 0 { 0 } else { p - into };
    mono_now + Duration::from_millis(wait as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_do_not_drift_and_skip_missed_ones() {
        let p = Duration::from_secs(5);
        let o = Duration::from_millis(300);
        assert_eq!(next_tick(o, p, Duration::ZERO), o);
        assert_eq!(next_tick(o, p, o), o + p);
        assert_eq!(next_tick(o, p, o + Duration::from_millis(4999)), o + p);
        // A 12-second stall skips to the next tick on the grid.
        assert_eq!(next_tick(o, p, o + Duration::from_secs(12)), o + p * 3);
    }

    #[test]
    fn origin_aligns_on_wall_multiples() {
        let p = Duration::from_secs(5);
        assert_eq!(
            aligned_origin(Duration::from_secs(7), 1_000_002_000, p),
            Duration::from_secs(10)
        );
        assert_eq!(
            aligned_origin(Duration::from_secs(7), 1_000_000_000, p),
            Duration::from_secs(7)
        );
    }
}
