//! Free space on the data partition: when to warn. Pure: the numbers come
//! from `sys::space` (statvfs) in the daemon.

/// Default of `LOW_SPACE_PERCENT`: a 16 GB card has about 800 MB left, a
/// few years of raw days at ~100 MB a year.
pub const DEFAULT_LOW_PERCENT: u32 = 5;

/// Space on a file system, in bytes (`adapters::sys::space` measures it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Free for an unprivileged user (the daemon runs as one).
    pub free: u64,
    pub total: u64,
}

/// What changed at an observation, for one log line each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Free space fell below the threshold.
    Low,
    /// It is back at or above the threshold plus one point.
    Recovered,
}

/// Remembers whether free space is low, so the daemon logs once when it
/// falls below the threshold and once when it recovers, not at every
/// check. Recovery needs one percentage point more than the threshold, so
/// a partition hovering at the threshold does not log at every check.
#[derive(Debug, Clone)]
pub struct SpaceWatch {
    percent: u32,
    low: bool,
}

impl SpaceWatch {
    /// `percent` 0 turns the warning off.
    pub fn new(percent: u32) -> Self {
        SpaceWatch {
            percent,
            low: false,
        }
    }

    pub fn set_percent(&mut self, percent: u32) {
        self.percent = percent;
    }

    pub fn observe(&mut self, free: u64, total: u64) -> Option<Change> {
        if total == 0 {
            return None; // nothing known
        }
        let below = |p: u32| u128::from(free) * 100 < u128::from(p) * u128::from(total);
        if !self.low && self.percent > 0 && below(self.percent) {
            self.low = true;
            return Some(Change::Low);
        }
        if self.low && (self.percent == 0 || !below(self.percent + 1)) {
            self.low = false;
            return Some(Change::Recovered);
        }
        None
    }
}

/// Whether `free` of `total` is below `percent` (0: never).
pub fn below(free: u64, total: u64, percent: u32) -> bool {
    total > 0 && u128::from(free) * 100 < u128::from(percent) * u128::from(total)
}

/// Free space as a percentage with one decimal, e.g. `4.2 %`.
pub fn percent_label(free: u64, total: u64) -> String {
    if total == 0 {
        return "? %".into();
    }
    let tenths = u128::from(free) * 1000 / u128::from(total);
    format!("{}.{} %", tenths / 10, tenths % 10)
}

/// Bytes for people: `812 MiB`, `7.3 GiB`.
pub fn bytes_label(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_below_and_once_on_recovery() {
        let mut w = SpaceWatch::new(5);
        let total = 1000;
        assert_eq!(w.observe(500, total), None);
        assert_eq!(w.observe(50, total), None, "exactly 5 % is not below");
        assert_eq!(w.observe(49, total), Some(Change::Low));
        for free in [49, 10, 0, 49, 50, 55, 59] {
            assert_eq!(
                w.observe(free, total),
                None,
                "{free}: still low, no new line"
            );
        }
        assert_eq!(w.observe(60, total), Some(Change::Recovered));
        assert_eq!(w.observe(60, total), None);
        assert_eq!(w.observe(55, total), None, "above the threshold");
        assert_eq!(w.observe(40, total), Some(Change::Low));
    }

    #[test]
    fn zero_turns_it_off_and_unknown_sizes_change_nothing() {
        let mut w = SpaceWatch::new(0);
        assert_eq!(w.observe(0, 1000), None);
        let mut w = SpaceWatch::new(5);
        assert_eq!(w.observe(0, 0), None);
        assert_eq!(w.observe(1, 1000), Some(Change::Low));
        w.set_percent(0);
        assert_eq!(w.observe(1, 1000), Some(Change::Recovered), "turned off");
        // Big partitions: no overflow.
        let mut w = SpaceWatch::new(5);
        assert_eq!(w.observe(u64::MAX / 100, u64::MAX), Some(Change::Low));
    }

    #[test]
    fn labels() {
        assert_eq!(percent_label(42, 1000), "4.2 %");
        assert_eq!(percent_label(1, 0), "? %");
        assert_eq!(bytes_label(512), "512 B");
        assert_eq!(bytes_label(812 * 1024 * 1024), "812 MiB");
        assert_eq!(bytes_label(7_838_315_315), "7.3 GiB");
        assert!(below(4, 100, 5) && !below(5, 100, 5) && !below(0, 100, 0));
    }
}
