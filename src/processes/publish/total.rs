//! The lifetime energy total that `mcce publish` offers Home Assistant as
//! grid consumption (`device_class: energy`, `state_class:
//! total_increasing`). Pure: figures in, the figure to publish out.
//!
//! Home Assistant reads any decrease of such a sensor as a meter reset and
//! counts the energy after it again, so the published figure must never go
//! down. It is made of two rules:
//!
//! - [`lifetime_wh`]: the sum over every local day of that day's energy by
//!   the digest's rule (docs/data.md#energy-rule), each day counted once,
//!   whether the yearly database holds it (stored), its day file does (not
//!   digested yet, or kept after the digest), or both. A day's file figure
//!   is measured to the day's end once the day is over, and today's to its
//!   latest sample: a sample's energy is known once the next sample closes
//!   its step, so today's figure does not sink when time passes without a
//!   sample (measured "up to now", the last sample would count up to the gap
//!   limit and then fall back to one poll period).
//! - [`Published`]: never below a figure published before, in this process
//!   or an earlier one (the caller keeps the last figure in a file and hands
//!   it back on start), so what the sum can still do in rare cases — sink
//!   when a day's cadence changes and its gap rule with it, when a day is
//!   digested again from a shorter file, when a yearly database goes away —
//!   makes the total wait until the history has caught up, never fall.
//!
//! Nothing is ever added to a running figure: each figure is the whole sum
//! again, so no transition can count a day twice.

use std::collections::BTreeMap;

/// A local calendar day, as a number of days since 1970-01-01.
pub(crate) type Day = i64;

/// The sum of every day's energy, in watt-hours: `stored` holds the yearly
/// databases' figures, `files` the day files' (today's included). A day in
/// both counts once, at the larger figure: the two differ only when the
/// file changed after the digest stored it (samples that came late, which
/// the next catch-up stores too) or the stored figure is the Python
/// digest's, and so the digest storing a day and pruning its file leave the
/// sum as it was, whichever order the caller read them in, as long as it
/// reads the files before the databases (a file is pruned only after its
/// day is stored).
pub(crate) fn lifetime_wh(stored: &BTreeMap<Day, f64>, files: &BTreeMap<Day, f64>) -> f64 {
    let only_stored = stored
        .iter()
        .filter(|(d, _)| !files.contains_key(d))
        .map(|(_, &s)| day_wh(Some(s), None));
    let with_files = files
        .iter()
        .map(|(d, &f)| day_wh(stored.get(d).copied(), Some(f)));
    only_stored.chain(with_files).sum()
}

/// One day's part of [`lifetime_wh`]: the larger of its stored and file
/// figures; a NaN, a negative figure or none is no energy.
pub(crate) fn day_wh(stored: Option<f64>, file: Option<f64>) -> f64 {
    let wh = |x: Option<f64>| x.filter(|x| x.is_finite() && *x > 0.0).unwrap_or(0.0);
    wh(stored).max(wh(file))
}

/// The figure published, in whole watt-hours (Home Assistant gets kWh with
/// three decimals), never below one published before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Published {
    last: Option<u64>,
}

/// One figure to publish, and the facts the caller logs and keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Next {
    /// What to publish, in watt-hours.
    pub wh: u64,
    /// By how much the history's sum is below it (0 when they agree).
    pub held_wh: u64,
    /// Above the last figure: the caller keeps it (the next start resumes
    /// from it).
    pub rose: bool,
}

impl Published {
    /// Resumes from the figure an earlier run published, if any.
    pub(crate) fn resume(saved_wh: Option<u64>) -> Self {
        Published { last: saved_wh }
    }

    /// The last figure published (or resumed from).
    pub(crate) fn last(&self) -> Option<u64> {
        self.last
    }

    /// The figure for a history that now sums to `sum_wh`.
    pub(crate) fn next(&mut self, sum_wh: f64) -> Next {
        // Whole watt-hours, rounded down: never a figure the history does
        // not hold yet. A NaN or a negative sum is no energy.
        let sum = if sum_wh.is_finite() && sum_wh > 0.0 {
            sum_wh.floor().min(u64::MAX as f64) as u64
        } else {
            0
        };
        let wh = self.last.map_or(sum, |l| l.max(sum));
        let rose = self.last.is_none_or(|l| wh > l);
        self.last = Some(wh);
        Next {
            wh,
            held_wh: wh - sum,
            rose,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::energy::{GapRule, Integrator, Sample};
    use proptest::prelude::*;

    fn map(pairs: &[(Day, f64)]) -> BTreeMap<Day, f64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn a_day_counts_once_at_its_larger_figure() {
        let stored = map(&[(1, 1000.0), (2, 2000.0), (3, 3000.0)]);
        let files = map(&[(2, 2000.0), (3, 3500.0), (4, 400.0)]);
        assert_eq!(
            lifetime_wh(&stored, &files),
            1000.0 + 2000.0 + 3500.0 + 400.0
        );
        // A stored figure above its file's (the file cut short after the
        // digest) keeps the stored one.
        let files = map(&[(1, 10.0)]);
        assert_eq!(lifetime_wh(&stored, &files), 6000.0);
        // Nothing readable is no energy, never a negative or NaN sum.
        let files = map(&[(9, f64::NAN), (10, -5.0), (11, f64::INFINITY)]);
        assert_eq!(lifetime_wh(&BTreeMap::new(), &files), 0.0);
    }

    #[test]
    fn a_lower_sum_is_held_and_a_restart_resumes_from_the_saved_figure() {
        let mut p = Published::resume(None);
        assert_eq!(
            p.next(1234.9),
            Next {
                wh: 1234,
                held_wh: 0,
                rose: true
            }
        );
        assert_eq!(
            p.next(1230.0),
            Next {
                wh: 1234,
                held_wh: 4,
                rose: false
            }
        );
        assert_eq!(p.next(1240.2).wh, 1240);
        // A new process resumes from what the last one kept.
        let mut p = Published::resume(p.last());
        assert_eq!(
            p.next(1000.0),
            Next {
                wh: 1240,
                held_wh: 240,
                rose: false
            }
        );
        assert!(p.next(f64::NAN).wh == 1240 && p.next(1241.0).rose);
    }

    // The transitions, driven: a household recorded by a daemon that
    // stops and changes cadence now and then, midnights, the digest (which
    // stores finished days from their files and prunes stored files),
    // samples arriving late in a digested day's file, and publisher
    // restarts that keep only the saved figure. Days are measured by the
    // real energy rule (`Integrator`).

    const DAY: i64 = 86_400;
    const GAP: GapRule = GapRule {
        max_gap_seconds: None,
        poll_seconds: 5,
    };

    #[derive(Debug, Clone)]
    enum Event {
        /// The daemon writes `n` samples at `step` seconds.
        Poll { n: u16, step: i64, watts: u32 },
        /// Time passes with no sample (the daemon stopped, the meter silent).
        Silence(i64),
        /// Local midnight.
        Midnight,
        /// The digest: every finished day with a file is stored from it,
        /// then the files of stored days older than `keep` days go.
        Digest { keep: i64 },
        /// A sample lands late in yesterday's file (the clock was ahead).
        Late(u32),
        /// The publisher stops and starts again.
        Restart,
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            8 => (1u16..400, prop::sample::select(vec![5i64, 5, 5, 1, 60, 7]), 0u32..6000)
                .prop_map(|(n, step, watts)| Event::Poll { n, step, watts }),
            2 => (1i64..7200).prop_map(Event::Silence),
            2 => Just(Event::Midnight),
            2 => (0i64..3).prop_map(|keep| Event::Digest { keep }),
            1 => (0u32..5000).prop_map(Event::Late),
            2 => Just(Event::Restart),
        ]
    }

    /// The recorded world: day files (samples by day), the stored figures,
    /// and now.
    struct World {
        now: i64,
        files: BTreeMap<Day, Vec<Sample>>,
        stored: BTreeMap<Day, f64>,
        /// The sample count each stored day was digested from (a file that
        /// grew since is not pruned, as the digest does).
        digested_from: BTreeMap<Day, usize>,
        /// The last digest stored a day again from a file that changed.
        redigested: bool,
    }

    impl World {
        fn today(&self) -> Day {
            self.now.div_euclid(DAY)
        }

        /// A day file's figure by the digest's rule: to the day's end once
        /// over, to its latest sample while it runs.
        fn file_wh(&self, day: Day, samples: &[Sample]) -> f64 {
            let mut integ = Integrator::new(u32::MAX, None);
            for s in samples {
                integ.push(*s);
            }
            let start = day * DAY;
            let until = if day < self.today() {
                start + DAY
            } else {
                start
            };
            integ.finish(start, until, GAP).energy_wh
        }

        fn sum(&self) -> f64 {
            let files = self
                .files
                .iter()
                .map(|(&d, s)| (d, self.file_wh(d, s)))
                .collect();
            lifetime_wh(&self.stored, &files)
        }

        fn apply(&mut self, e: &Event) {
            match *e {
                Event::Poll { n, step, watts } => {
                    for i in 0..n {
                        self.now += step;
                        let w = watts.wrapping_add(u32::from(i) * 37) % 6000;
                        let day = self.today();
                        self.files.entry(day).or_default().push(Sample {
                            ts: self.now,
                            watts: w,
                        });
                    }
                }
                Event::Silence(s) => self.now += s,
                Event::Midnight => self.now = (self.today() + 1) * DAY,
                Event::Digest { keep } => self.digest(keep),
                Event::Late(watts) => {
                    let day = self.today() - 1;
                    if let Some(f) = self.files.get_mut(&day) {
                        let ts = f.last().map_or(day * DAY, |s| s.ts) + 1;
                        if ts < (day + 1) * DAY {
                            f.push(Sample { ts, watts });
                        }
                    }
                }
                Event::Restart => {}
            }
        }

        fn digest(&mut self, keep: i64) {
            let today = self.today();
            let finished: Vec<Day> = self.files.keys().copied().filter(|&d| d < today).collect();
            self.redigested = false;
            for d in &finished {
                let len = self.files[d].len();
                match self.digested_from.get(d) {
                    Some(&n) if n == len => continue, // stored from this file
                    Some(_) => self.redigested = true,
                    None => {}
                }
                let wh = self.file_wh(*d, &self.files[d]);
                self.stored.insert(*d, wh);
                self.digested_from.insert(*d, self.files[d].len());
            }
            for d in finished.into_iter().filter(|&d| d < today - keep) {
                if self.digested_from.get(&d) == Some(&self.files[&d].len()) {
                    self.files.remove(&d);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn the_published_total_never_decreases_and_never_runs_ahead_of_the_history(
            events in prop::collection::vec(event(), 1..60),
        ) {
            let mut w = World {
                now: 20_000 * DAY + 3600,
                files: BTreeMap::new(),
                stored: BTreeMap::new(),
                digested_from: BTreeMap::new(),
                redigested: false,
            };
            let mut saved: Option<u64> = None;
            let mut publisher = Published::resume(saved);
            let mut sum = w.sum();
            let mut highest_sum = sum;
            let mut last = publisher.next(sum).wh;
            saved = Some(last);
            for e in &events {
                w.apply(e);
                if matches!(e, Event::Restart) {
                    publisher = Published::resume(saved);
                }
                let before = sum;
                sum = w.sum();
                // Time passing, midnight, the digest storing days and
                // pruning files, a restart: none of them moves the sum
                // down. Only new samples can (a cadence that changes the
                // gap rule, a late sample), and a digest that stores a
                // changed file again: that is what the held figure is for.
                let redigest = matches!(e, Event::Digest { .. }) && w.redigested;
                if !matches!(e, Event::Poll { .. } | Event::Late(_)) && !redigest {
                    prop_assert!(sum >= before - 1e-6, "{e:?}: the sum sank {before} -> {sum}");
                }
                highest_sum = highest_sum.max(sum);
                let next = publisher.next(sum);
                if next.rose {
                    saved = Some(next.wh);
                }
                prop_assert!(next.wh >= last, "{e:?}: {} after {last}", next.wh);
                prop_assert!(next.wh as f64 >= sum.floor(), "{e:?}: below the history");
                // Never more than the history ever summed to: nothing
                // counted twice, nothing invented.
                prop_assert_eq!(next.wh, highest_sum.floor() as u64, "{:?}", e);
                last = next.wh;
            }
            // Every finished day digested and its file pruned: what is
            // left is the stored days and today's file.
            w.apply(&Event::Digest { keep: 0 });
            prop_assert!(w.files.keys().all(|&d| d >= w.today()));
            let next = publisher.next(w.sum());
            prop_assert!(next.wh >= last && next.wh as f64 >= w.sum().floor());
        }
    }

    #[test]
    fn the_sum_itself_can_sink_which_is_why_the_figure_is_held() {
        // A morning polled every 60 s, then every 5 s: the day's shortest
        // cadence becomes 5 s, so a gap in the morning counts for 5 s
        // instead of 60 (docs/data.md#energy-rule), and the day's sum sinks.
        let mut w = World {
            now: 20_000 * DAY,
            files: BTreeMap::new(),
            stored: BTreeMap::new(),
            digested_from: BTreeMap::new(),
            redigested: false,
        };
        let mut p = Published::resume(None);
        for e in [
            Event::Poll {
                n: 10,
                step: 60,
                watts: 3000,
            },
            Event::Silence(3600),
            Event::Poll {
                n: 10,
                step: 60,
                watts: 3000,
            },
        ] {
            w.apply(&e);
        }
        let before = w.sum();
        let first = p.next(before);
        w.apply(&Event::Poll {
            n: 4,
            step: 5,
            watts: 0,
        });
        let after = w.sum();
        assert!(after < before, "{after} < {before}");
        let second = p.next(after);
        assert_eq!(second.wh, first.wh);
        assert_eq!(second.held_wh, first.wh - after.floor() as u64);
    }
}
