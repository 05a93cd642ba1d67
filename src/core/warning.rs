//! What to sound, given the meter's trip state (see `trip.rs` and
//! docs/trip.md). Pure: the caller passes the time and plays the sounds on
//! the one thread that owns the buzzer, so two sounds never overlap.
//!
//! - **Quiet**: the power is in the free band and no overload allowance is
//!   in use. Nothing sounds.
//! - **Notice**: the power is in the tolerated band with the trip still
//!   further away than `WARN_BEFORE_SECONDS`, or back in the free band
//!   before the meter's overload clock has reset. One short chirp when this
//!   starts from Quiet; none when the power comes back into the tolerated
//!   band before the reset, so a load hovering at the limit does not chirp
//!   on every poll.
//! - **Urgent**: the power is over the short limit, or the predicted trip is
//!   within `WARN_BEFORE_SECONDS`. The siren sounds at once and every
//!   `ALARM_REPEAT_SECONDS` until the power falls back (never sooner than
//!   that after the previous siren, even across a fall-back and a return).
//!   In the tolerated band a warning ends only once the predicted trip is
//!   more than twice `WARN_BEFORE_SECONDS` away (hysteresis).
//!
//! A failed poll never lowers the urgency: a warning stays (and the siren
//! keeps repeating) until a reading shows the power has fallen back.

use std::time::Duration;

use crate::core::trip::{Band, TripModel, TripSettings, TripState};

/// How urgent the situation is; ordered from calm to urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Urgency {
    Quiet,
    Notice,
    Urgent,
}

impl Urgency {
    /// The urgency's name in the status file and logs.
    pub fn name(self) -> &'static str {
        match self {
            Urgency::Quiet => "quiet",
            Urgency::Notice => "notice",
            Urgency::Urgent => "urgent",
        }
    }
}

/// A sound to start now: what the contract alarm decides and the siren
/// thread plays (the single-threshold alarm and `mcce beep` ask for them too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sound {
    /// A short chirp: the power entered the tolerated band.
    Chirp,
    /// The full siren: the trip is near, or the power is over the short limit.
    Siren,
}

/// The outcome of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to start now, if anything.
    pub sound: Option<Sound>,
    pub urgency: Urgency,
    /// The urgency differs from the previous event's: worth a log line; a
    /// change to `Urgent` is one warning in the day's count.
    pub changed: bool,
}

/// The urgency a trip state calls for, ignoring gaps.
pub fn urgency_of(state: &TripState, warn_before: Duration) -> Urgency {
    match state.band {
        Band::Over => Urgency::Urgent,
        Band::Tolerated if state.trip_in.is_some_and(|t| t <= warn_before) => Urgency::Urgent,
        Band::Tolerated => Urgency::Notice,
        Band::Free if state.used > 0.0 => Urgency::Notice,
        Band::Free => Urgency::Quiet,
    }
}

/// Turns trip states into sounds.
#[derive(Debug, Clone)]
pub struct Warner {
    repeat: Duration,
    urgency: Urgency,
    last_siren: Option<Duration>,
}

impl Warner {
    /// `repeat` is the time between sirens (`ALARM_REPEAT_SECONDS`).
    pub fn new(repeat: Duration) -> Warner {
        Warner {
            repeat,
            urgency: Urgency::Quiet,
            last_siren: None,
        }
    }

    pub fn urgency(&self) -> Urgency {
        self.urgency
    }

    pub fn set_repeat(&mut self, repeat: Duration) {
        self.repeat = repeat;
    }

    /// Decides what to sound at `now` from the state after the latest event.
    pub fn update(&mut self, now: Duration, state: &TripState, warn_before: Duration) -> Decision {
        let mut seen = urgency_of(state, warn_before);
        // Hysteresis: a warning in the tolerated band ends when the
        // predicted trip is more than twice WARN_BEFORE_SECONDS away, not
        // as soon as a dip of the load pushes it past the limit; otherwise
        // a noisy load near the limit would warn, stop and warn again.
        if self.urgency == Urgency::Urgent
            && seen == Urgency::Notice
            && state.band == Band::Tolerated
            && state.trip_in.is_some_and(|t| t <= warn_before * 2)
        {
            seen = Urgency::Urgent;
        }
        let urgency = if state.stale_since.is_some() {
            seen.max(self.urgency)
        } else {
            seen
        };
        let sound = match urgency {
            Urgency::Urgent => {
                let due = self
                    .last_siren
                    .is_none_or(|t| now < t || now - t >= self.repeat);
                if due {
                    self.last_siren = Some(now);
                    Some(Sound::Siren)
                } else {
                    None
                }
            }
            Urgency::Notice if self.urgency == Urgency::Quiet => Some(Sound::Chirp),
            _ => None,
        };
        let changed = urgency != self.urgency;
        self.urgency = urgency;
        Decision {
            sound,
            urgency,
            changed,
        }
    }
}

/// The contract-aware alarm as the daemon drives it: the trip model and the
/// warner together. One call per poll: [`ContractAlarm::observe`] with the
/// reading, or [`ContractAlarm::no_reading`] when the poll failed.
#[derive(Debug, Clone)]
pub struct ContractAlarm {
    model: TripModel,
    warner: Warner,
}

impl ContractAlarm {
    /// `max_hold` is `MAX_GAP_SECONDS`, `repeat` is `ALARM_REPEAT_SECONDS`.
    pub fn new(settings: TripSettings, max_hold: Duration, repeat: Duration) -> ContractAlarm {
        ContractAlarm {
            model: TripModel::new(settings, max_hold),
            warner: Warner::new(repeat),
        }
    }

    pub fn observe(&mut self, now: Duration, watts: u32) -> Decision {
        self.model.observe(now, watts);
        self.decide(now)
    }

    pub fn no_reading(&mut self, now: Duration) -> Decision {
        self.model.no_reading(now);
        self.decide(now)
    }

    /// New settings after a reload; the state so far is kept.
    pub fn reconfigure(&mut self, settings: TripSettings, max_hold: Duration, repeat: Duration) {
        self.model.reconfigure(settings, max_hold);
        self.warner.set_repeat(repeat);
    }

    pub fn state(&self) -> &TripState {
        self.model.state()
    }

    pub fn settings(&self) -> &TripSettings {
        self.model.settings()
    }

    pub fn urgency(&self) -> Urgency {
        self.warner.urgency()
    }

    fn decide(&mut self, now: Duration) -> Decision {
        let warn = self.model.settings().warn_before();
        self.warner.update(now, self.model.state(), warn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::energy::{Sample, count_warnings};
    use proptest::prelude::*;

    const POLL: u64 = 5;
    const HOLD: Duration = Duration::from_secs(15);
    const REPEAT: Duration = Duration::from_secs(30);

    fn alarm(contract: u32) -> ContractAlarm {
        ContractAlarm::new(TripSettings::published(contract), HOLD, REPEAT)
    }

    /// One poll's outcome: a reading, or a failed poll.
    #[derive(Debug, Clone, Copy)]
    enum Poll {
        W(u32),
        Gap,
    }

    /// Runs polls every 5 s from t = 0; returns (seconds, sound) for every
    /// sound started, and the alarm.
    fn run(a: &mut ContractAlarm, start: u64, polls: &[Poll]) -> Vec<(u64, Sound)> {
        let mut out = Vec::new();
        for (i, p) in polls.iter().enumerate() {
            let t = start + i as u64 * POLL;
            let now = Duration::from_secs(t);
            let d = match *p {
                Poll::W(w) => a.observe(now, w),
                Poll::Gap => a.no_reading(now),
            };
            if let Some(s) = d.sound {
                out.push((t, s));
            }
        }
        out
    }

    /// `seconds` of readings at `watts`.
    fn hold(watts: u32, seconds: u64) -> Vec<Poll> {
        vec![Poll::W(watts); (seconds / POLL) as usize]
    }

    fn sirens(sounds: &[(u64, Sound)]) -> Vec<u64> {
        sounds
            .iter()
            .filter(|s| s.1 == Sound::Siren)
            .map(|s| s.0)
            .collect()
    }

    #[test]
    fn three_kw_oven_and_washer_at_3600_warn_before_the_trip() {
        // 3.6 kW on 3 kW (+20 %): the curve gives a trip after 792 s
        // (13.2 min); the siren starts when 60 s are left, at 735 s.
        let mut a = alarm(3000);
        let mut polls = hold(2800, 60);
        polls.extend(hold(3600, 2 * 3600));
        let sounds = run(&mut a, 0, &polls);
        assert_eq!(sounds[0], (60, Sound::Chirp));
        let s = sirens(&sounds);
        assert_eq!(s[0], 60 + 735);
        assert_eq!(s[1] - s[0], 30, "repeats every ALARM_REPEAT_SECONDS");
        assert!(s.len() > 200, "keeps sounding while the power stays");
        assert_eq!(sounds.len(), s.len() + 1, "one chirp only");
    }

    #[test]
    fn three_kw_short_excursions() {
        // A 40 s kettle at 3.9 kW (+30 %, trip after 172 s): chirp only.
        let mut a = alarm(3000);
        let mut polls = hold(1500, 30);
        polls.extend(hold(3900, 40));
        polls.extend(hold(1500, 600));
        let sounds = run(&mut a, 0, &polls);
        assert_eq!(sounds, vec![(30, Sound::Chirp)]);
        assert_eq!(a.urgency(), Urgency::Quiet, "reset after 300 s below");
        assert_eq!(a.state().used, 0.0);

        // A 40 s spike to 4.3 kW is over P + 33 % (3990 W): the meter's
        // 2-minute clock runs, so the siren sounds at once (a kettle left
        // on for 2 minutes would trip the supply), then stops.
        let mut a = alarm(3000);
        let mut polls = hold(1500, 30);
        polls.extend(hold(4300, 40));
        polls.extend(hold(1500, 600));
        let sounds = run(&mut a, 0, &polls);
        assert_eq!(sounds, vec![(30, Sound::Siren), (60, Sound::Siren)]);
        assert_eq!(a.urgency(), Urgency::Quiet);
    }

    #[test]
    fn a_second_overload_before_the_reset_starts_where_the_first_left() {
        let mut a = alarm(3000);
        // 600 s at 3.6 kW uses 600/792 of the allowance; 2 min of pause
        // does not reset it; back at 3.6 kW, the siren comes 135 s later.
        let mut polls = hold(3600, 600);
        polls.extend(hold(2000, 120));
        polls.extend(hold(3600, 300));
        let sounds = run(&mut a, 0, &polls);
        assert_eq!(sounds[0], (0, Sound::Chirp));
        assert_eq!(sounds.iter().filter(|s| s.1 == Sound::Chirp).count(), 1);
        let left: f64 = (1.0 - 600.0 / 792.25) * 792.25 - 60.0;
        assert!((left - 132.0).abs() < 1.0, "{left}");
        assert_eq!(sirens(&sounds)[0], 720 + 135);
    }

    #[test]
    fn four_and_a_half_kw() {
        // A 4.3 kW kettle is in the free band of a 4.5 kW contract.
        let mut a = alarm(4500);
        assert!(run(&mut a, 0, &hold(4300, 600)).is_empty());
        // 5.2 kW (+15.6 %): the trip after 2043 s, the siren at 1985 s.
        let mut a = alarm(4500);
        let s = run(&mut a, 0, &hold(5200, 3600));
        assert_eq!(s[0], (0, Sound::Chirp));
        assert_eq!(sirens(&s)[0], 1985);
        assert!((a.settings().trip_seconds(5200).unwrap() - 2042.8).abs() < 0.5);
    }

    #[test]
    fn six_kw() {
        // 7.5 kW (+25 %): trip after 342 s, siren at 285 s.
        let mut a = alarm(6000);
        let s = run(&mut a, 0, &hold(7500, 600));
        assert_eq!(s[0], (0, Sound::Chirp));
        assert_eq!(sirens(&s)[0], 285);
        // 6.6 kW is the free limit: nothing, however long.
        let mut a = alarm(6000);
        assert!(run(&mut a, 0, &hold(6600, 4 * 3600)).is_empty());
        // 8 kW is over 7980 W: the siren at once.
        let mut a = alarm(6000);
        assert_eq!(sirens(&run(&mut a, 0, &hold(8000, 10)))[0], 0);
    }

    #[test]
    fn a_gap_keeps_the_siren_repeating() {
        let mut a = alarm(3000);
        let mut polls = hold(4100, 10);
        polls.extend(vec![Poll::Gap; 24]); // two minutes without readings
        polls.extend(hold(2000, 10));
        let sounds = run(&mut a, 0, &polls);
        assert_eq!(sirens(&sounds), vec![0, 30, 60, 90, 120]);
        assert_eq!(a.urgency(), Urgency::Notice, "falls back with a reading");
    }

    fn poll_strategy(max: u32) -> impl Strategy<Value = Poll> {
        prop_oneof![
            8 => (0..=max).prop_map(Poll::W),
            1 => Just(Poll::Gap),
        ]
    }

    fn contract() -> impl Strategy<Value = u32> {
        prop_oneof![Just(3000u32), Just(4500), Just(6000), 1000u32..=10_000]
    }

    proptest! {
        #[test]
        fn never_silent_over_the_short_limit(
            p in contract(),
            before in prop::collection::vec(poll_strategy(12_000), 0..200),
            excess in 1u32..3000,
        ) {
            let s = TripSettings::published(p);
            let mut a = ContractAlarm::new(s, HOLD, REPEAT);
            run(&mut a, 0, &before);
            let t0 = before.len() as u64 * POLL;
            let over = s.short_limit_watts() + excess;
            let window = u64::from(s.rules.short_trip_seconds - s.rules.warn_before_seconds);
            let mut last_siren = None;
            for i in 0..=(window + 120) / POLL {
                let t = t0 + i * POLL;
                let d = a.observe(Duration::from_secs(t), over);
                if d.sound == Some(Sound::Siren) {
                    last_siren = Some(t);
                }
                if t - t0 >= window {
                    prop_assert_eq!(d.urgency, Urgency::Urgent);
                    // Even without the over-the-limit rule, the prediction
                    // alone is within the warning by now.
                    let left = a.state().trip_in.unwrap();
                    prop_assert!(left <= s.warn_before(), "{:?} left at {}", left, t);
                    let ls = last_siren.expect("a siren has sounded");
                    prop_assert!(t - ls < REPEAT.as_secs(), "silent since {}", ls);
                }
            }
        }

        #[test]
        fn never_a_siren_at_or_below_the_free_limit(
            p in contract(),
            frac in prop::collection::vec((0u32..=1000, any::<bool>()), 1..400),
        ) {
            let s = TripSettings::published(p);
            let free = s.free_limit_watts();
            let polls: Vec<Poll> = frac
                .iter()
                .map(|&(f, gap)| if gap { Poll::Gap } else { Poll::W(free * f / 1000) })
                .collect();
            let mut a = ContractAlarm::new(s, HOLD, REPEAT);
            let sounds = run(&mut a, 0, &polls);
            prop_assert!(sounds.is_empty(), "{:?}", sounds);
            prop_assert_eq!(a.urgency(), Urgency::Quiet);
            prop_assert_eq!(a.state().trip_in, None);
        }

        #[test]
        fn prediction_never_rises_at_constant_power(
            p in contract(),
            before in prop::collection::vec(poll_strategy(12_000), 0..100),
            pct in 101u32..=200,
            steps in prop::collection::vec(1u64..=40, 1..100),
        ) {
            let s = TripSettings::published(p);
            let mut a = ContractAlarm::new(s, HOLD, REPEAT);
            run(&mut a, 0, &before);
            let w = (u64::from(p) * u64::from(pct) / 100) as u32;
            let mut t = before.len() as u64 * POLL;
            a.observe(Duration::from_secs(t), w);
            let band = a.state().band;
            let mut prev = a.state().trip_in;
            for dt in steps {
                t += dt;
                a.observe(Duration::from_secs(t), w);
                let st = a.state();
                prop_assert_eq!(st.band, band);
                prop_assert!(st.used >= 0.0 && st.used <= 1.0);
                match (prev, st.trip_in) {
                    (Some(a), Some(b)) => prop_assert!(b <= a, "{:?} then {:?}", a, b),
                    (None, None) => prop_assert_eq!(band, Band::Free),
                    other => prop_assert!(false, "{:?}", other),
                }
                prev = st.trip_in;
            }
        }

        #[test]
        fn a_gap_never_clears_a_warning(
            p in contract(),
            before in prop::collection::vec(poll_strategy(12_000), 1..300),
            gap in 1usize..200,
        ) {
            let s = TripSettings::published(p);
            let mut a = ContractAlarm::new(s, HOLD, REPEAT);
            run(&mut a, 0, &before);
            let level = a.urgency();
            let band = a.state().band;
            let t0 = before.len() as u64 * POLL;
            let mut last_siren = None;
            for i in 0..gap as u64 {
                let t = t0 + i * POLL;
                let d = a.no_reading(Duration::from_secs(t));
                prop_assert!(d.urgency >= level);
                prop_assert_eq!(a.state().band, band);
                prop_assert!(a.state().stale_since.is_some());
                if d.sound == Some(Sound::Siren) {
                    last_siren = Some(t);
                }
                if level == Urgency::Urgent && i * POLL >= REPEAT.as_secs() {
                    let ls = last_siren.expect("the siren repeats in a gap");
                    prop_assert!(t - ls < REPEAT.as_secs());
                }
            }
        }
    }

    /// The digest's count: a warning is a siren started afresh, not its
    /// repeats; the same day gives the same count.
    #[test]
    fn count_warnings_counts_fresh_sirens_only() {
        let day = |spans: &[(i64, i64, u32)]| -> Vec<Sample> {
            (0..4000)
                .step_by(5)
                .map(|ts| Sample {
                    ts,
                    watts: spans
                        .iter()
                        .find(|(a, b, _)| (*a..*b).contains(&ts))
                        .map_or(1000, |s| s.2),
                })
                .collect()
        };
        let s = TripSettings::published(3000);
        // Over for 2 minutes: one warning, however many repeats.
        assert_eq!(count_warnings(s, HOLD, &day(&[(100, 220, 4300)])), 1);
        // Two overloads: two warnings.
        let two = day(&[(100, 160, 4300), (1000, 1060, 4300)]);
        assert_eq!(count_warnings(s, HOLD, &two), 2);
        assert_eq!(count_warnings(s, HOLD, &two), 2);
        // A kettle in the tolerated band: none.
        assert_eq!(count_warnings(s, HOLD, &day(&[(100, 140, 3900)])), 0);
        assert_eq!(count_warnings(s, HOLD, &[]), 0);
    }

    /// A load wobbling around the warning point warns once: the warning
    /// holds in the tolerated band until the trip is twice
    /// WARN_BEFORE_SECONDS away.
    #[test]
    fn a_wobbling_load_near_the_warning_point_warns_once() {
        let mut a = alarm(3000);
        let mut warnings = 0;
        for i in 0..300u64 {
            // 3.6 kW with a fridge switching 110 W every 10 s.
            let w = if (i / 2) % 2 == 0 { 3600 } else { 3490 };
            let d = a.observe(Duration::from_secs(i * POLL), w);
            if d.changed && d.urgency == Urgency::Urgent {
                warnings += 1;
            }
        }
        assert_eq!(warnings, 1);
        // Falling back to the free band ends it.
        let d = a.observe(Duration::from_secs(1500), 1000);
        assert_eq!(d.urgency, Urgency::Notice);
    }
}
