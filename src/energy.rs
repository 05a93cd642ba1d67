//! Energy and bucket math for one local day (docs/data.md#energy-rule). Pure: samples and
//! day bounds in, facts out.
//!
//! Each sample stands for the power from its stamp to the next sample. When
//! the next sample is further than `max_gap` away, the sample counts for its
//! own poll period only and the rest is a gap: no energy is invented for
//! time nobody measured, and the coverage says how much was measured.

use std::time::Duration;

use crate::trip::{Band, TripSettings};
use crate::warning::{ContractAlarm, Urgency};

/// One reading and when it was taken: the unit of everything mcce records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sample {
    /// Wall time, Unix seconds.
    pub ts: i64,
    pub watts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayParams {
    /// `[start, end)` of the local day in Unix seconds (23, 24 or 25 h).
    pub start: i64,
    pub end: i64,
    pub poll_seconds: u32,
    pub max_gap_seconds: u32,
    pub cap_watts: u32,
    pub bucket_seconds: u32,
    /// With `CONTRACT_WATTS`: the meter's bands (docs/trip.md), to count
    /// the time in each and the warnings the contract alarm gave.
    pub trip: Option<crate::trip::TripSettings>,
}

/// A day under the contract alarm: seconds measured in each band (they add
/// up to the covered seconds) and the warnings (sirens started afresh).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BandSeconds {
    pub free: i64,
    pub tolerated: i64,
    pub over: i64,
    pub warnings: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayStats {
    pub energy_wh: f64,
    pub covered_seconds: i64,
    pub day_seconds: i64,
    pub samples: u64,
    pub peak: Option<Sample>,
    pub min_watts: Option<u32>,
    pub over_cap_seconds: i64,
    /// Stretches longer than the gap limit without a sample, including
    /// before the first and after the last sample of the day.
    pub gaps: u32,
    /// Samples stamped outside the day, and repeated stamps; both ignored.
    pub outside: u64,
    pub duplicates: u64,
    /// Only with a contract (`DayParams::trip`).
    pub bands: Option<BandSeconds>,
}

impl DayStats {
    pub fn kwh(&self) -> f64 {
        round2(self.energy_wh / 1000.0)
    }
    /// Fraction of the day covered by samples, 0..=1.
    pub fn coverage(&self) -> f64 {
        if self.day_seconds <= 0 {
            0.0
        } else {
            self.covered_seconds as f64 / self.day_seconds as f64
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Position of the bucket in the day, from 0 at local midnight.
    pub index: u32,
    /// Unix time of the bucket's start.
    pub start: i64,
    /// Mean of the samples' watts in the bucket, rounded to 2 decimals.
    pub mean_watts: f64,
    pub samples: u32,
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Digests one day. `samples` may be in any order and hold repeats.
pub fn digest_day(samples: &[Sample], p: &DayParams) -> (DayStats, Vec<Bucket>) {
    let mut stats = DayStats {
        day_seconds: p.end - p.start,
        ..DayStats::default()
    };
    let mut day: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| (p.start..p.end).contains(&s.ts))
        .collect();
    stats.outside = (samples.len() - day.len()) as u64;
    day.sort_by_key(|s| s.ts); // stable: the first of repeated stamps wins
    let before = day.len();
    day.dedup_by_key(|s| s.ts);
    stats.duplicates = (before - day.len()) as u64;
    stats.samples = day.len() as u64;
    if day.is_empty() {
        stats.gaps = 1;
        return (stats, Vec::new());
    }
    measure(&day, p, &mut stats);
    (stats, buckets(&day, p))
}

/// Energy, coverage, gaps, peak, minimum and time over the cap of a day's
/// samples (sorted, one per stamp, at least one).
fn measure(day: &[Sample], p: &DayParams, stats: &mut DayStats) {
    let max_gap = i64::from(p.max_gap_seconds);
    let poll = i64::from(p.poll_seconds);
    if day[0].ts - p.start > max_gap {
        stats.gaps += 1;
    }
    let mut energy_ws: f64 = 0.0;
    let mut bands = p.trip.map(|t| BandSeconds {
        warnings: count_warnings(t, Duration::from_secs(max_gap as u64), day),
        ..BandSeconds::default()
    });
    for (i, s) in day.iter().enumerate() {
        let next = day.get(i + 1).map_or(p.end, |n| n.ts);
        let dt = next - s.ts;
        let covered = if dt <= max_gap {
            dt
        } else {
            stats.gaps += 1;
            poll.min(dt)
        };
        stats.covered_seconds += covered;
        energy_ws += f64::from(s.watts) * covered as f64;
        if s.watts >= p.cap_watts {
            stats.over_cap_seconds += covered;
        }
        if let (Some(b), Some(t)) = (bands.as_mut(), p.trip) {
            match t.band(s.watts) {
                Band::Free => b.free += covered,
                Band::Tolerated => b.tolerated += covered,
                Band::Over => b.over += covered,
            }
        }
        if stats.peak.is_none_or(|pk| s.watts > pk.watts) {
            stats.peak = Some(*s);
        }
        stats.min_watts = Some(stats.min_watts.map_or(s.watts, |m| m.min(s.watts)));
    }
    stats.energy_wh = energy_ws / 3600.0;
    stats.bands = bands;
}

/// The means of a day's samples (sorted) per `bucket_seconds`; a bucket
/// without samples is left out.
fn buckets(day: &[Sample], p: &DayParams) -> Vec<Bucket> {
    let width = i64::from(p.bucket_seconds.max(1));
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut sum: u64 = 0;
    for s in day {
        let index = ((s.ts - p.start) / width) as u32;
        if buckets.last().is_none_or(|b| b.index != index) {
            close(&mut buckets, sum);
            sum = 0;
            buckets.push(Bucket {
                index,
                start: p.start + i64::from(index) * width,
                mean_watts: 0.0,
                samples: 0,
            });
        }
        let b = buckets.last_mut().expect("pushed above");
        b.samples += 1;
        sum += u64::from(s.watts);
    }
    close(&mut buckets, sum);
    buckets
}

/// Gathers one day's samples from a stream in bounded memory, for a day
/// file of any size (a damaged file can hold millions of lines). A meter
/// gives at most one sample per second, so at most one per second of the
/// day is kept: the first of a repeated stamp wins, as in `digest_day`,
/// and the rest are counted as duplicates. Samples stamped outside the day
/// are only counted. A 25-hour day thus holds at most 90 000 samples.
pub struct DayCollector {
    start: i64,
    end: i64,
    /// One bit per second of the day: a sample with this stamp was kept.
    seen: Vec<u64>,
    samples: Vec<Sample>,
    outside: u64,
    duplicates: u64,
    latest: Option<i64>,
}

impl DayCollector {
    /// For the day `[start, end)`.
    pub fn new(start: i64, end: i64) -> Self {
        let secs = (end - start).max(0) as usize;
        DayCollector {
            start,
            end,
            seen: vec![0; secs.div_ceil(64)],
            samples: Vec::new(),
            outside: 0,
            duplicates: 0,
            latest: None,
        }
    }

    pub fn push(&mut self, s: Sample) {
        self.latest = Some(self.latest.map_or(s.ts, |l| l.max(s.ts)));
        if !(self.start..self.end).contains(&s.ts) {
            self.outside += 1;
            return;
        }
        let i = (s.ts - self.start) as usize;
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= bit;
        self.samples.push(s);
    }

    /// The latest stamp of any sample pushed, inside the day or not.
    pub fn latest(&self) -> Option<i64> {
        self.latest
    }

    /// The samples kept, in the order pushed (for `mcce serve`'s curves).
    pub fn into_samples(self) -> Vec<Sample> {
        self.samples
    }

    /// Digests what was gathered; `p` must describe the same day.
    pub fn finish(self, p: &DayParams) -> (DayStats, Vec<Bucket>) {
        debug_assert_eq!((p.start, p.end), (self.start, self.end));
        let (mut st, buckets) = digest_day(&self.samples, p);
        st.outside += self.outside;
        st.duplicates += self.duplicates;
        (st, buckets)
    }
}

fn close(buckets: &mut [Bucket], sum: u64) {
    if let Some(b) = buckets.last_mut() {
        b.mean_watts = round2(sum as f64 / f64::from(b.samples.max(1)));
    }
}

/// How many warnings (sirens started afresh, not their repeats) the
/// contract alarm gives over a day's samples (sorted, one per stamp), as
/// the daemon would have polling them: the digest counts them this way, so
/// the count needs no file of its own and is the same at every run.
/// `max_hold` is `MAX_GAP_SECONDS`.
pub fn count_warnings(settings: TripSettings, max_hold: Duration, day: &[Sample]) -> u32 {
    let Some(first) = day.first() else {
        return 0;
    };
    let mut alarm = ContractAlarm::new(settings, max_hold, Duration::from_secs(30));
    let mut warnings = 0;
    for s in day {
        let at = Duration::from_secs(s.ts.saturating_sub(first.ts).max(0) as u64);
        let d = alarm.observe(at, s.watts);
        if d.changed && d.urgency == Urgency::Urgent {
            warnings += 1;
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_736_895_600; // some local midnight; the math does not care

    fn params(hours: i64) -> DayParams {
        DayParams {
            start: T0,
            end: T0 + hours * 3600,
            poll_seconds: 5,
            max_gap_seconds: 15,
            trip: None,
            cap_watts: 4200,
            bucket_seconds: 900,
        }
    }

    fn constant(watts: u32, hours: i64) -> Vec<Sample> {
        (0..hours * 720)
            .map(|i| Sample {
                ts: T0 + i * 5,
                watts,
            })
            .collect()
    }

    #[test]
    fn constant_1000_w_for_24_h_is_24_kwh() {
        let (st, b) = digest_day(&constant(1000, 24), &params(24));
        assert_eq!(st.kwh(), 24.0);
        assert_eq!(st.coverage(), 1.0);
        assert_eq!(st.samples, 17_280);
        assert_eq!(st.gaps, 0);
        assert_eq!(b.len(), 96);
        assert!(b.iter().all(|b| b.mean_watts == 1000.0 && b.samples == 180));
    }

    #[test]
    fn dst_days_have_23_and_25_hours_of_buckets() {
        let (st, b) = digest_day(&constant(1000, 23), &params(23));
        assert_eq!((st.kwh(), b.len(), st.coverage()), (23.0, 92, 1.0));
        let (st, b) = digest_day(&constant(1000, 25), &params(25));
        assert_eq!((st.kwh(), b.len(), st.coverage()), (25.0, 100, 1.0));
        assert_eq!(
            b[99].start,
            T0 + 99 * 900,
            "no bucket merged in the repeated hour"
        );
    }

    #[test]
    fn a_two_hour_gap_adds_nothing_and_is_reported() {
        let s: Vec<Sample> = constant(1000, 24)
            .into_iter()
            .filter(|s| !(T0 + 10 * 3600..T0 + 12 * 3600).contains(&s.ts))
            .collect();
        let (st, b) = digest_day(&s, &params(24));
        // The sample before the gap counts for its own 5 s, no more.
        assert_eq!(st.energy_wh, 22_000.0);
        assert_eq!(st.kwh(), 22.0);
        assert_eq!(st.gaps, 1);
        assert_eq!(st.covered_seconds, 22 * 3600);
        assert_eq!(b.len(), 96 - 8, "empty buckets are absent, not zero");
    }

    #[test]
    fn single_sample() {
        let (st, b) = digest_day(
            &[Sample {
                ts: T0 + 3600,
                watts: 3600,
            }],
            &params(24),
        );
        assert_eq!(st.energy_wh, 5.0);
        assert_eq!(st.samples, 1);
        assert_eq!(st.gaps, 2, "before and after");
        assert_eq!(
            b,
            vec![Bucket {
                index: 4,
                start: T0 + 3600,
                mean_watts: 3600.0,
                samples: 1
            }]
        );
    }

    #[test]
    fn out_of_order_duplicates_and_outsiders() {
        let mut s = constant(500, 24);
        s.reverse();
        s.push(Sample {
            ts: T0 + 5,
            watts: 9999,
        }); // repeated stamp, later in file
        s.push(Sample {
            ts: T0 - 5,
            watts: 9999,
        }); // yesterday
        s.push(Sample {
            ts: T0 + 86_400,
            watts: 9999,
        }); // legacy 24:00:00 line
        let (st, _) = digest_day(&s, &params(24));
        assert_eq!(st.kwh(), 12.0);
        assert_eq!((st.duplicates, st.outside), (1, 2));
        assert_eq!(st.peak.unwrap().watts, 500);
    }

    #[test]
    fn peak_min_over_cap_and_bucket_means() {
        let mut s = constant(1000, 24);
        for x in s.iter_mut().skip(100).take(60) {
            x.watts = 4300; // 5 minutes over the cap
        }
        s[1].watts = 100;
        s[2].watts = 1001;
        let (st, b) = digest_day(&s, &params(24));
        assert_eq!(st.over_cap_seconds, 300);
        assert_eq!(
            st.peak,
            Some(Sample {
                ts: T0 + 500,
                watts: 4300
            })
        );
        assert_eq!(st.min_watts, Some(100));
        // First bucket (15 min): 118 × 1000, 100, 1001 and 60 × 4300.
        assert_eq!(
            b[0].mean_watts,
            round2((118_000.0 + 1101.0 + 258_000.0) / 180.0)
        );
        assert_eq!(b[0].mean_watts, 2095.01);
    }

    #[test]
    fn empty_day() {
        let (st, b) = digest_day(&[], &params(24));
        assert_eq!((st.energy_wh, st.samples, b.len()), (0.0, 0, 0));
    }

    #[test]
    fn collector_keeps_one_sample_per_second_and_counts_the_rest() {
        let p = params(24);
        let mut c = DayCollector::new(p.start, p.end);
        let mut all = Vec::new();
        for round in 0..3u32 {
            for s in constant(1000 + round, 24) {
                c.push(s);
                all.push(s);
            }
        }
        for s in [
            Sample {
                ts: T0 - 1,
                watts: 7,
            },
            Sample {
                ts: T0 + 86_400,
                watts: 7,
            },
        ] {
            c.push(s);
            all.push(s);
        }
        assert_eq!(c.samples.len(), 17_280, "memory bounded by the day");
        assert_eq!(c.latest(), Some(T0 + 86_400));
        let got = c.finish(&p);
        assert_eq!(got, digest_day(&all, &p));
        assert_eq!((got.0.duplicates, got.0.outside), (2 * 17_280, 2));
        assert_eq!(got.0.kwh(), 24.0, "the first of a repeated stamp wins");
    }
}
