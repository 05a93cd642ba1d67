//! Energy and bucket math for one local day (docs/data.md#energy-rule). Pure: samples and
//! day bounds in, facts out.
//!
//! Each sample stands for the power from its stamp to the next sample. When
//! the next sample is further away than the gap rule allows (`GapRule`),
//! the sample counts for one poll period only and the rest is a gap: no
//! energy is invented for time nobody measured, and the coverage says how
//! much was measured.

use std::time::Duration;

use crate::core::trip::{Band, TripSettings};
use crate::core::warning::{ContractAlarm, Urgency};

/// One reading and when it was taken: the unit of everything mcce records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sample {
    /// Wall time, Unix seconds.
    pub ts: i64,
    pub watts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayParams {
    /// `[start, end)` of the local day in Unix seconds (23, 24 or 25 h):
    /// samples stamped outside it are not the day's.
    pub start: i64,
    pub end: i64,
    /// Measured up to here: `end` for a day that is over, now for a day
    /// still running (its coverage is of the time so far).
    pub until: i64,
    pub gap: GapRule,
    pub cap_watts: u32,
    pub bucket_seconds: u32,
    /// With `CONTRACT_WATTS`: the meter's bands (docs/trip.md), to count
    /// the time in each and the warnings the contract alarm gave.
    pub trip: Option<crate::core::trip::TripSettings>,
}

/// The gap rule (docs/data.md#energy-rule), the one place it is decided
/// how long a step from one sample to the next may be and still count as
/// measured.
///
/// The limit comes from the samples' own cadence, not from today's
/// `POLL_SECONDS`: a day recorded at 5-s polls keeps its energy when the
/// setting later becomes 1 s or 60 s, and a day whose cadence changed
/// part-way (a reload with a new `POLL_SECONDS`, a Python morning) keeps
/// both parts. A cadence is a step length that occurs `CADENCE_RUN` times
/// in a row (a poll period does; an outage does not repeat to the
/// second), at most `MAX_CADENCE_SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapRule {
    /// `MAX_GAP_SECONDS` when the configuration sets it: a step up to it
    /// always counts.
    pub max_gap_seconds: Option<u32>,
    /// `POLL_SECONDS`: the cadence assumed for a day whose samples show
    /// none (a handful of samples).
    pub poll_seconds: u32,
}

/// Equal steps in a row that make a step length a cadence of the day.
pub const CADENCE_RUN: u32 = 3;

/// The longest cadence: the longest `POLL_SECONDS`.
pub const MAX_CADENCE_SECONDS: i64 = 3600;

/// What the gap rule decided for one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    /// The longest step that still counts as measured.
    pub limit: i64,
    /// What a sample before a longer step (a gap) counts for: the day's
    /// shortest cadence, so a gap never gets more than one poll's worth.
    pub own: i64,
}

impl GapRule {
    /// The limit for a day whose samples show the cadences `cadence`
    /// (shortest, longest): three times the longest cadence, or
    /// `MAX_GAP_SECONDS` when set and longer; with no cadence, the
    /// configuration's (`MAX_GAP_SECONDS`, by default 3 × `POLL_SECONDS`).
    pub fn judge(&self, cadence: Option<(i64, i64)>) -> Judged {
        let set = self.max_gap_seconds.map(i64::from);
        match cadence {
            Some((shortest, longest)) => Judged {
                limit: (3 * longest).max(set.unwrap_or(0)),
                own: shortest,
            },
            None => {
                let poll = i64::from(self.poll_seconds.max(1));
                Judged {
                    limit: set.unwrap_or(3 * poll),
                    own: poll,
                }
            }
        }
    }
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
    let mut day: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| (p.start..p.end).contains(&s.ts))
        .collect();
    let outside = (samples.len() - day.len()) as u64;
    day.sort_by_key(|s| s.ts); // stable: the first of repeated stamps wins
    let before = day.len();
    day.dedup_by_key(|s| s.ts);
    let mut stats = measure(&day, p);
    stats.outside = outside;
    stats.duplicates = (before - day.len()) as u64;
    (stats, buckets(&day, p))
}

/// The facts of a day's samples that are already in order: sorted by
/// stamp, one per stamp, all inside the day (no outside or repeated stamps
/// to count).
pub fn measure(day: &[Sample], p: &DayParams) -> DayStats {
    let mut integ = Integrator::new(p.cap_watts, p.trip);
    for s in day {
        integ.push(*s);
    }
    let mut stats = integ.finish(p.start, p.until, p.gap);
    if let (Some(b), Some(t)) = (stats.bands.as_mut(), p.trip) {
        let hold = integ.judged(p.gap).limit.max(0) as u64;
        b.warnings = count_warnings(t, Duration::from_secs(hold), day);
    }
    stats
}

/// The steps of one length between consecutive samples, and what the
/// samples that start them add up to: enough to apply the gap rule at the
/// end, whatever limit the day's cadence then gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Steps {
    len: i64,
    count: u64,
    /// Sum of the watts of the samples that start these steps.
    watts: u64,
    /// How many of those samples were at or above the cap, and in each
    /// contract band (free, tolerated, over).
    over_cap: u64,
    bands: [u64; 3],
    /// Most steps of this length in a row.
    longest_run: u32,
}

/// The energy rule applied sample by sample, in bounded memory: samples go
/// in in time order, one per stamp; the facts come out at any point. The
/// digest feeds it a day's sorted samples; running totals (`daytotal`) feed
/// it a growing file's, so both give the same figures by one rule.
///
/// Steps are kept per length, so the gap rule can be applied at the end
/// with the cadence of the whole day. Sorted steps add up to at most the
/// day, so there are at most a few hundred lengths.
#[derive(Debug, Clone, PartialEq)]
pub struct Integrator {
    cap_watts: u32,
    trip: Option<TripSettings>,
    first: Option<Sample>,
    last: Option<Sample>,
    samples: u64,
    peak: Option<Sample>,
    min_watts: Option<u32>,
    /// By length, shortest first.
    steps: Vec<Steps>,
    /// The length of the latest step and how many in a row.
    run: (i64, u32),
}

impl Integrator {
    pub fn new(cap_watts: u32, trip: Option<TripSettings>) -> Self {
        Integrator {
            cap_watts,
            trip,
            first: None,
            last: None,
            samples: 0,
            peak: None,
            min_watts: None,
            steps: Vec::new(),
            run: (0, 0),
        }
    }

    /// The latest sample pushed.
    pub fn last(&self) -> Option<Sample> {
        self.last
    }

    /// Adds a sample stamped later than every one before it (the caller
    /// sorts, and drops repeated stamps and samples outside the day).
    pub fn push(&mut self, s: Sample) {
        debug_assert!(self.last.is_none_or(|l| s.ts > l.ts));
        match self.last {
            None => self.first = Some(s),
            Some(prev) => {
                let len = s.ts - prev.ts;
                self.run = if self.run.0 == len {
                    (len, self.run.1.saturating_add(1))
                } else {
                    (len, 1)
                };
                let i = match self.steps.binary_search_by_key(&len, |x| x.len) {
                    Ok(i) => i,
                    Err(i) => {
                        self.steps.insert(
                            i,
                            Steps {
                                len,
                                ..Steps::default()
                            },
                        );
                        i
                    }
                };
                let st = &mut self.steps[i];
                st.count += 1;
                st.watts += u64::from(prev.watts);
                st.over_cap += u64::from(prev.watts >= self.cap_watts);
                if let Some(t) = self.trip {
                    st.bands[band_index(t.band(prev.watts))] += 1;
                }
                st.longest_run = st.longest_run.max(self.run.1);
            }
        }
        self.last = Some(s);
        self.samples += 1;
        if self.peak.is_none_or(|pk| s.watts > pk.watts) {
            self.peak = Some(s);
        }
        self.min_watts = Some(self.min_watts.map_or(s.watts, |m| m.min(s.watts)));
    }

    /// The day's shortest and longest cadence so far (see `GapRule`).
    fn cadence(&self) -> Option<(i64, i64)> {
        let mut c = self
            .steps
            .iter()
            .filter(|s| s.longest_run >= CADENCE_RUN && s.len <= MAX_CADENCE_SECONDS)
            .map(|s| s.len);
        let shortest = c.next()?;
        Some((shortest, c.next_back().unwrap_or(shortest)))
    }

    /// The gap rule's decision for the samples so far.
    pub fn judged(&self, rule: GapRule) -> Judged {
        rule.judge(self.cadence())
    }

    /// Energy, coverage, gaps, peak, minimum, time over the cap and in
    /// each band of the samples so far, measured over `[start, until)`.
    /// Time before the first sample adds nothing; the last sample counts
    /// up to `until` by the same rule as the others.
    pub fn finish(&self, start: i64, until: i64, rule: GapRule) -> DayStats {
        let mut stats = DayStats {
            day_seconds: until - start,
            ..DayStats::default()
        };
        let (Some(first), Some(last)) = (self.first, self.last) else {
            stats.gaps = 1;
            return stats;
        };
        let j = self.judged(rule);
        let covered = |len: i64, gaps: &mut u32| {
            if len <= j.limit {
                len
            } else {
                *gaps += 1;
                j.own.min(len)
            }
        };
        if first.ts - start > j.limit {
            stats.gaps += 1;
        }
        let mut energy_ws: u128 = 0;
        let mut bands = [0i64; 3];
        for st in &self.steps {
            let mut gaps = 0;
            let each = covered(st.len, &mut gaps);
            stats.gaps += gaps * st.count as u32;
            stats.covered_seconds += each * st.count as i64;
            energy_ws += u128::from(st.watts) * each as u128;
            stats.over_cap_seconds += each * st.over_cap as i64;
            for (b, n) in bands.iter_mut().zip(st.bands) {
                *b += each * n as i64;
            }
        }
        // The last sample, up to `until` (never negative: a sample may be
        // stamped a moment after a running day's now).
        let each = covered((until - last.ts).max(0), &mut stats.gaps);
        stats.covered_seconds += each;
        energy_ws += u128::from(last.watts) * each as u128;
        if last.watts >= self.cap_watts {
            stats.over_cap_seconds += each;
        }
        if let Some(t) = self.trip {
            bands[band_index(t.band(last.watts))] += each;
        }
        stats.energy_wh = energy_ws as f64 / 3600.0;
        stats.samples = self.samples;
        stats.peak = self.peak;
        stats.min_watts = self.min_watts;
        stats.bands = self.trip.map(|_| BandSeconds {
            free: bands[0],
            tolerated: bands[1],
            over: bands[2],
            warnings: 0,
        });
        stats
    }
}

fn band_index(b: Band) -> usize {
    match b {
        Band::Free => 0,
        Band::Tolerated => 1,
        Band::Over => 2,
    }
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
#[derive(Debug, Clone)]
pub struct DayCollector {
    start: i64,
    end: i64,
    /// One bit per second of the day: a sample with this stamp was kept.
    seen: Vec<u64>,
    samples: Vec<Sample>,
    outside: u64,
    duplicates: u64,
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
        }
    }

    pub fn push(&mut self, s: Sample) {
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

    /// Makes room for `n` more samples, at most one per second of the day.
    pub fn reserve(&mut self, n: usize) {
        let room = self.seen.len() * 64 - self.samples.len();
        self.samples.reserve(n.min(room));
    }

    /// The samples kept, in the order pushed (for `mcce serve`'s curves).
    pub fn into_samples(self) -> Vec<Sample> {
        self.samples
    }

    /// The day's facts so far, without its buckets.
    pub fn facts(&self, p: &DayParams) -> DayStats {
        let (mut st, _) = digest_day(&self.samples, p);
        st.outside += self.outside;
        st.duplicates += self.duplicates;
        st
    }

    /// Digests what was gathered; `p` must describe the same day. What
    /// was kept is inside the day with one sample per stamp, so samples
    /// already in order (a day file's nearly always are) are measured as
    /// they are, without `digest_day`'s copy, sort and dedup.
    pub fn finish(self, p: &DayParams) -> (DayStats, Vec<Bucket>) {
        debug_assert_eq!((p.start, p.end), (self.start, self.end));
        let (mut st, buckets) = if self.samples.is_sorted_by_key(|s| s.ts) {
            (measure(&self.samples, p), buckets(&self.samples, p))
        } else {
            digest_day(&self.samples, p)
        };
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
            until: T0 + hours * 3600,
            gap: GapRule {
                max_gap_seconds: None,
                poll_seconds: 5,
            },
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

    /// Room is made from a file's size, which a damaged file makes huge:
    /// it must never go past one sample a second of the day.
    #[test]
    fn room_made_never_exceeds_one_sample_a_second() {
        let mut c = DayCollector::new(T0, T0 + 86_400);
        c.reserve(10_000_000);
        assert!(c.samples.capacity() >= 86_400);
        assert!(
            c.samples.capacity() < 2 * 86_400,
            "{}",
            c.samples.capacity()
        );
        c.push(Sample { ts: T0, watts: 1 });
        c.reserve(10_000_000);
        assert!(
            c.samples.capacity() < 2 * 86_400,
            "{}",
            c.samples.capacity()
        );
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
        let got = c.finish(&p);
        assert_eq!(got, digest_day(&all, &p));
        assert_eq!((got.0.duplicates, got.0.outside), (2 * 17_280, 2));
        assert_eq!(got.0.kwh(), 24.0, "the first of a repeated stamp wins");
    }

    /// Samples in order are measured as they are, others sorted first:
    /// both give what `digest_day` gives.
    #[test]
    fn collector_in_order_or_not_digests_as_digest_day() {
        let p = params(24);
        let day: Vec<Sample> = (0..17_280i64)
            .filter(|i| i % 97 != 0) // gaps
            .map(|i| Sample {
                ts: T0 + i * 5,
                watts: (i * 7919 % 4000) as u32,
            })
            .collect();
        let mut shuffled = day.clone();
        for i in 0..shuffled.len() {
            shuffled.swap(i, i * 7 % day.len());
        }
        assert!(!shuffled.is_sorted_by_key(|s| s.ts));
        for order in [day, shuffled] {
            let mut c = DayCollector::new(p.start, p.end);
            for s in &order {
                c.push(*s);
            }
            assert_eq!(c.finish(&p), digest_day(&order, &p));
        }
    }
}
