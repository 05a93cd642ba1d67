//! How the meter trips (docs/protocol.md, "meter trip rules"; docs/trip.md):
//! a pure model of an Italian domestic meter's overload protection, fed
//! with readings and failed polls, that says which band the power is in,
//! how long it has been there and when the meter would cut the supply if
//! nothing is switched off. No I/O and no clock: the caller passes the
//! monotonic time of every event, so every rule is testable on paper.
//!
//! The published rules (approximations; meters differ, so every number is a
//! setting):
//! - the contract fixes a power P; up to P + 10 % the meter supplies without
//!   time limit (the *free* band);
//! - above that, up to about P + 33 %, the excess is tolerated for a while:
//!   180 minutes on first-generation meters, "between 2 minutes and 3 hours,
//!   the higher the sooner" on second-generation ones (the *tolerated* band);
//! - above P + 33 % the meter trips after about 2 minutes (the *over* band).
//!
//! Only the two end points of the tolerated band's curve are published. The
//! shape between them is ours; see [`TripSettings::trip_seconds`].

use std::time::Duration;

/// Where the power sits with respect to the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Band {
    /// At or below P + tolerance: no time limit.
    Free,
    /// Above the free limit, at or below P + short limit: trips after
    /// minutes to hours, the higher the sooner.
    Tolerated,
    /// Above P + short limit: trips after `SHORT_TRIP_SECONDS`.
    Over,
}

impl Band {
    /// The band's name in the status file and logs.
    pub fn name(self) -> &'static str {
        match self {
            Band::Free => "free",
            Band::Tolerated => "tolerated",
            Band::Over => "over",
        }
    }
}

/// The meter's trip rules for one contract: the contract's power and the
/// rules that apply to it. Compared as a whole: when a reload changes any
/// field, the daemon hands the new value to [`TripModel::reconfigure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TripSettings {
    /// The contract's power P (`CONTRACT_WATTS`).
    pub contract_watts: u32,
    /// Everything else, as read from the configuration.
    pub rules: TripRules,
}

/// How a meter trips, whatever the contract: the settings other than
/// `CONTRACT_WATTS`. Kept apart from the contract because they are read
/// and checked even when no contract is set (single-threshold mode), so a
/// typo shows before the contract alarm is turned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TripRules {
    /// The free band reaches P + this % (`TOLERANCE_PERCENT`, 10).
    pub tolerance_percent: u32,
    /// The tolerated band reaches P + this % (`SHORT_LIMIT_PERCENT`, 33).
    pub short_limit_percent: u32,
    /// Trip time just above the free limit (`LONG_TRIP_MINUTES`, 180).
    pub long_trip_minutes: u32,
    /// Trip time at and above the short limit (`SHORT_TRIP_SECONDS`, 120).
    pub short_trip_seconds: u32,
    /// Seconds the power must stay in the free band, with readings, before
    /// the meter's overload clock is taken to start again from zero
    /// (`RESET_AFTER_SECONDS`, 300). Not published: our choice, on the
    /// long side so that a second overload soon after a first one is
    /// warned about early rather than late.
    pub reset_after_seconds: u32,
    /// Sound the siren when the predicted trip is this close
    /// (`WARN_BEFORE_SECONDS`, 60).
    pub warn_before_seconds: u32,
}

pub const DEFAULT_TOLERANCE_PERCENT: u32 = 10;
pub const DEFAULT_SHORT_LIMIT_PERCENT: u32 = 33;
pub const DEFAULT_LONG_TRIP_MINUTES: u32 = 180;
pub const DEFAULT_SHORT_TRIP_SECONDS: u32 = 120;
pub const DEFAULT_RESET_AFTER_SECONDS: u32 = 300;
pub const DEFAULT_WARN_BEFORE_SECONDS: u32 = 60;

impl TripSettings {
    /// The published rules for a contract of `contract_watts`.
    pub fn published(contract_watts: u32) -> TripSettings {
        TripSettings {
            contract_watts,
            rules: TripRules::default(),
        }
    }

    /// The highest power of the free band, rounded down (P + tolerance).
    /// For whole watts `w`, `w > free_limit_watts()` exactly when `w`
    /// exceeds P + tolerance, so the rounding never moves a reading.
    pub fn free_limit_watts(&self) -> u32 {
        limit(self.contract_watts, self.rules.tolerance_percent)
    }

    /// The highest power of the tolerated band, rounded down (P + short limit).
    pub fn short_limit_watts(&self) -> u32 {
        limit(self.contract_watts, self.rules.short_limit_percent)
    }

    pub fn band(&self, watts: u32) -> Band {
        if watts > self.short_limit_watts() {
            Band::Over
        } else if watts > self.free_limit_watts() {
            Band::Tolerated
        } else {
            Band::Free
        }
    }

    pub fn warn_before(&self) -> Duration {
        Duration::from_secs(u64::from(self.rules.warn_before_seconds))
    }

    pub fn reset_after(&self) -> Duration {
        Duration::from_secs(u64::from(self.rules.reset_after_seconds))
    }

    /// The exponent of the tolerated band's curve, chosen so that it passes
    /// through both published points: about 3.77 with the defaults.
    pub fn exponent(&self) -> f64 {
        let long = f64::from(self.rules.long_trip_minutes) * 60.0;
        let short = f64::from(self.rules.short_trip_seconds);
        (long / short).ln()
            / (f64::from(self.rules.short_limit_percent) / f64::from(self.rules.tolerance_percent))
                .ln()
    }

    /// Seconds until the meter trips if the power stays at `watts` from a
    /// fresh start; `None` in the free band (no trip).
    ///
    /// In the tolerated band the time falls with the excess over the
    /// contract, `e = watts / P − 1`, as an inverse power law:
    ///
    /// `t(e) = LONG · (e / tolerance)^(−k)`, with `k` set so that
    /// `t(short limit) = SHORT` (k = ln(LONG/SHORT) / ln(short/tolerance)).
    ///
    /// Why this shape: it is the form of the inverse-time curves of
    /// protective relays (`t = K / excessᵏ`, drawn as straight lines on the
    /// log-log charts relays are set on), with the contract as the pick-up;
    /// it passes exactly through the two published points (180 min at
    /// P + 10 %, 2 min at P + 33 %) and falls steadily between them, "the
    /// higher, the sooner". Of the smooth curves through those points it is
    /// on the early side: it always predicts a trip no later than the
    /// straight line in log-time (because ln e is concave), which is the
    /// safe side for a warning. With the defaults: +15 % → 39 min,
    /// +20 % → 13 min, +25 % → 5.7 min, +30 % → 2.9 min. First-generation
    /// meters that tolerate the whole band for 180 minutes trip later than
    /// this predicts, never earlier.
    ///
    /// Above the short limit the time is `SHORT` whatever the power.
    pub fn trip_seconds(&self, watts: u32) -> Option<f64> {
        match self.band(watts) {
            Band::Free => None,
            Band::Over => Some(f64::from(self.rules.short_trip_seconds)),
            Band::Tolerated => {
                let p = f64::from(self.contract_watts);
                let e = (f64::from(watts) - p) / p;
                let tol = f64::from(self.rules.tolerance_percent) / 100.0;
                let long = f64::from(self.rules.long_trip_minutes) * 60.0;
                let t = long * (e / tol).powf(-self.exponent());
                // Rounding may not step outside the two published points.
                Some(t.clamp(f64::from(self.rules.short_trip_seconds), long))
            }
        }
    }
}

fn limit(contract: u32, percent: u32) -> u32 {
    let w = u64::from(contract) * (100 + u64::from(percent)) / 100;
    u32::try_from(w).unwrap_or(u32::MAX)
}

/// One reading: monotonic time and watts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub at: Duration,
    pub watts: u32,
}

/// What the model knows after the latest event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TripState {
    /// The latest reading; `None` before the first one.
    pub last: Option<Reading>,
    /// The band of the latest reading (`Free` before the first one). A gap
    /// keeps it: missing readings are not "below the limit".
    pub band: Band,
    /// When the power entered `band` (or readings resumed in it after a gap).
    pub band_since: Duration,
    /// How much of the meter's overload allowance is used, 0..=1: the sum of
    /// `dt / t_trip(power)` over the time spent above the free limit, as a
    /// protective relay's integrating element does, so a power that varies
    /// inside the band is accounted for correctly. 1 means the trip is due.
    pub used: f64,
    /// Predicted time until the meter trips if the power stays as it is,
    /// counted from the latest event: `(1 − used) · t_trip(power)`.
    /// `None` in the free band, where nothing trips.
    pub trip_in: Option<Duration>,
    /// Since when the power has been seen in the free band with some
    /// allowance used; the allowance resets after `RESET_AFTER_SECONDS` of it.
    pub below_since: Option<Duration>,
    /// Set by a failed poll: since when there has been no reading. Everything
    /// above is as of the latest reading.
    pub stale_since: Option<Duration>,
}

impl TripState {
    fn initial() -> TripState {
        TripState {
            last: None,
            band: Band::Free,
            band_since: Duration::ZERO,
            used: 0.0,
            trip_in: None,
            below_since: None,
            stale_since: None,
        }
    }
}

/// The meter's overload clock, fed with readings and failed polls.
#[derive(Debug, Clone)]
pub struct TripModel {
    settings: TripSettings,
    max_hold: Duration,
    state: TripState,
    /// The reading whose power is being integrated; cleared by a gap.
    held: Option<Reading>,
}

impl TripModel {
    /// `max_hold` is the longest a reading stands for the power after it
    /// (the daemon's `MAX_GAP_SECONDS`): readings further apart than that
    /// are treated as a gap in between.
    pub fn new(settings: TripSettings, max_hold: Duration) -> TripModel {
        TripModel {
            settings,
            max_hold,
            state: TripState::initial(),
            held: None,
        }
    }

    pub fn settings(&self) -> &TripSettings {
        &self.settings
    }

    pub fn state(&self) -> &TripState {
        &self.state
    }

    /// Feeds a reading taken at `now`.
    pub fn observe(&mut self, now: Duration, watts: u32) {
        let broken = self.integrate_to(now);
        let s = &mut self.state;
        let resumed = s.last.is_none() || s.stale_since.is_some() || broken;
        let band = self.settings.band(watts);
        if band != s.band || resumed {
            s.band_since = now;
        }
        s.band = band;
        if band == Band::Free && s.used > 0.0 {
            let since = match s.below_since {
                Some(t) if !resumed => t,
                _ => now,
            };
            if now.saturating_sub(since) >= self.settings.reset_after() {
                s.used = 0.0;
                s.below_since = None;
            } else {
                s.below_since = Some(since);
            }
        } else {
            s.below_since = None;
        }
        s.stale_since = None;
        let reading = Reading { at: now, watts };
        s.last = Some(reading);
        self.held = Some(reading);
        self.predict();
    }

    /// Records that the poll at `now` gave no reading. The latest reading
    /// stood for the power up to now; from now on nothing is known, so
    /// nothing is accumulated and nothing resets: the state stays as it was
    /// and says since when it is stale. (The meter's own clock may run on
    /// during a gap; the prediction then is as of `stale_since`.)
    pub fn no_reading(&mut self, now: Duration) {
        self.integrate_to(now);
        self.held = None;
        self.state.below_since = None;
        if self.state.stale_since.is_none() {
            self.state.stale_since = Some(now);
        }
        self.predict();
    }

    /// Takes new settings (after a reload), keeping the allowance used so
    /// far: it is a fraction of the meter's tolerance, whatever the curve.
    pub fn reconfigure(&mut self, settings: TripSettings, max_hold: Duration) {
        self.settings = settings;
        self.max_hold = max_hold;
        if let Some(r) = self.state.last {
            let band = settings.band(r.watts);
            if band != self.state.band {
                self.state.band = band;
                self.state.band_since = r.at;
            }
            if band != Band::Free || self.state.used == 0.0 {
                self.state.below_since = None;
            } else if self.state.below_since.is_none() && self.state.stale_since.is_none() {
                self.state.below_since = Some(r.at);
            }
        }
        self.predict();
    }

    /// Accumulates the held reading's power up to `now`, at most `max_hold`
    /// of it; true when the readings were further apart than that.
    fn integrate_to(&mut self, now: Duration) -> bool {
        let Some(r) = self.held else {
            return false;
        };
        let dt = now.saturating_sub(r.at);
        if let Some(t) = self.settings.trip_seconds(r.watts) {
            let used = self.state.used + dt.min(self.max_hold).as_secs_f64() / t;
            self.state.used = used.min(1.0);
        }
        self.held = Some(Reading { at: now, ..r });
        dt > self.max_hold
    }

    fn predict(&mut self) {
        let s = &mut self.state;
        s.trip_in = s
            .last
            .and_then(|r| self.settings.trip_seconds(r.watts))
            .map(|t| Duration::from_secs_f64(((1.0 - s.used) * t).max(0.0)));
    }
}

/// The keys as read from the configuration. `contract_watts` empty (`None`)
/// means today's single-threshold alarm (`ALARM_WATTS`); the rules are
/// still read and checked then, so a typo shows before the contract is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TripConfig {
    pub contract_watts: Option<u32>,
    /// The other keys; with a contract they become [`TripSettings::rules`].
    pub rules: TripRules,
}

/// The published rules.
impl Default for TripRules {
    fn default() -> Self {
        TripRules {
            tolerance_percent: DEFAULT_TOLERANCE_PERCENT,
            short_limit_percent: DEFAULT_SHORT_LIMIT_PERCENT,
            long_trip_minutes: DEFAULT_LONG_TRIP_MINUTES,
            short_trip_seconds: DEFAULT_SHORT_TRIP_SECONDS,
            reset_after_seconds: DEFAULT_RESET_AFTER_SECONDS,
            warn_before_seconds: DEFAULT_WARN_BEFORE_SECONDS,
        }
    }
}

impl TripConfig {
    /// The trip rules, or `None` in single-threshold mode.
    pub fn settings(&self) -> Option<TripSettings> {
        self.contract_watts.map(|contract_watts| TripSettings {
            contract_watts,
            rules: self.rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    const HOLD: Duration = Duration::from_secs(15);

    /// When the allowance resets if the power stays in the free band with
    /// readings; `None` when nothing is used or the power is above.
    fn resets_at(m: &TripModel) -> Option<Duration> {
        m.state()
            .below_since
            .map(|t| t + m.settings().reset_after())
    }

    #[test]
    fn bands_for_common_contracts() {
        for (p, free, short) in [(3000, 3300, 3990), (4500, 4950, 5985), (6000, 6600, 7980)] {
            let s = TripSettings::published(p);
            assert_eq!((s.free_limit_watts(), s.short_limit_watts()), (free, short));
            assert_eq!(s.band(free), Band::Free);
            assert_eq!(s.band(free + 1), Band::Tolerated);
            assert_eq!(s.band(short), Band::Tolerated);
            assert_eq!(s.band(short + 1), Band::Over);
        }
        // Rounding down never moves a reading: 3333 W + 10 % = 3666.3 W.
        let s = TripSettings::published(3333);
        assert_eq!(s.free_limit_watts(), 3666);
        assert_eq!(s.band(3666), Band::Free);
        assert_eq!(s.band(3667), Band::Tolerated);
    }

    #[test]
    fn curve_passes_through_the_published_points() {
        let s = TripSettings::published(3000);
        assert!((s.exponent() - 3.7689).abs() < 1e-3, "{}", s.exponent());
        assert_eq!(s.trip_seconds(3300), None);
        let just_above = s.trip_seconds(3301).unwrap();
        // 1 W above the free limit: 10 665 s.
        assert!((10_600.0..10_800.0).contains(&just_above), "{just_above}");
        assert!((s.trip_seconds(3990).unwrap() - 120.0).abs() < 1e-6);
        assert_eq!(s.trip_seconds(3991), Some(120.0));
        assert_eq!(s.trip_seconds(65_535), Some(120.0));
        // Values worked out by hand from t = 10800 · (e / 0.1)^-3.769.
        for (w, t) in [(3450, 2343.0), (3600, 792.3), (3750, 342.0), (3900, 171.9)] {
            let got = s.trip_seconds(w).unwrap();
            assert!((got - t).abs() < 1.0, "{w} W: {got} s, expected {t}");
        }
        // Monotone: the higher, the sooner.
        let mut prev = f64::INFINITY;
        for w in 3301..=3990 {
            let t = s.trip_seconds(w).unwrap();
            assert!(t <= prev, "{w} W");
            prev = t;
        }
        // The same relative excess trips at the same time on every contract.
        let big = TripSettings::published(6000);
        assert!((big.trip_seconds(7200).unwrap() - 792.3).abs() < 1.0);
    }

    #[test]
    fn varying_power_integrates_the_allowance() {
        let s = TripSettings::published(3000);
        let mut m = TripModel::new(s, HOLD);
        // Half the time at 3600 W uses half its allowance; then 3900 W
        // has half of its own left.
        let half = s.trip_seconds(3600).unwrap() / 2.0;
        let mut t = 0.0;
        while t < half {
            m.observe(Duration::from_secs_f64(t), 3600);
            t += 5.0;
        }
        m.observe(Duration::from_secs_f64(half), 3900);
        let st = m.state();
        assert!((st.used - 0.5).abs() < 1e-9, "{}", st.used);
        let left = st.trip_in.unwrap().as_secs_f64();
        assert!((left - s.trip_seconds(3900).unwrap() / 2.0).abs() < 1e-6);
        assert_eq!(st.band, Band::Tolerated);
    }

    #[test]
    fn allowance_resets_only_after_staying_free_with_readings() {
        let s = TripSettings::published(3000); // reset after 300 s
        let mut m = TripModel::new(s, HOLD);
        for t in (0..60).step_by(5) {
            m.observe(secs(t), 3600);
        }
        m.observe(secs(60), 3000);
        let used = m.state().used;
        assert!((used - 60.0 / 792.25).abs() < 1e-4, "{used}");
        assert_eq!(m.state().band, Band::Free);
        assert_eq!(m.state().trip_in, None);
        assert_eq!(resets_at(&m), Some(secs(360)));
        for t in (65..=355).step_by(5) {
            m.observe(secs(t), 3000);
            assert_eq!(m.state().used, used, "at {t}");
        }
        // A failed poll: the streak below starts again with the next reading.
        m.no_reading(secs(360));
        assert_eq!(m.state().stale_since, Some(secs(360)));
        assert_eq!(m.state().used, used);
        m.observe(secs(365), 3000);
        assert_eq!(resets_at(&m), Some(secs(665)));
        m.observe(secs(660), 3000); // 295 s apart: more than the hold, a gap
        assert_eq!(resets_at(&m), Some(secs(960)));
        for t in (665..960).step_by(5) {
            m.observe(secs(t), 3000);
        }
        assert_eq!(m.state().used, used);
        m.observe(secs(960), 3000);
        assert_eq!(m.state().used, 0.0);
        assert_eq!(resets_at(&m), None);
    }

    #[test]
    fn a_gap_keeps_the_state_and_says_so() {
        let s = TripSettings::published(3000);
        let mut m = TripModel::new(s, HOLD);
        m.observe(secs(0), 3800);
        m.observe(secs(5), 3800);
        let before = *m.state();
        m.no_reading(secs(10)); // 3800 W stood until this poll
        let at_gap = *m.state();
        assert_eq!(at_gap.band, Band::Tolerated);
        assert_eq!(at_gap.band_since, secs(0));
        assert_eq!(at_gap.stale_since, Some(secs(10)));
        assert!(at_gap.used > before.used);
        for t in (15..600).step_by(5) {
            m.no_reading(secs(t));
            let st = m.state();
            assert_eq!(st.used, at_gap.used, "nothing invented at {t}");
            assert_eq!(st.trip_in, at_gap.trip_in);
            assert_eq!(st.stale_since, Some(secs(10)));
            assert_eq!(st.band, Band::Tolerated);
        }
        // Readings resume: the gap itself is not integrated.
        m.observe(secs(600), 3800);
        let st = m.state();
        assert_eq!(st.stale_since, None);
        assert_eq!(st.used, at_gap.used);
        assert_eq!(st.band_since, secs(600));
    }

    #[test]
    fn readings_further_apart_than_the_hold_count_only_the_hold() {
        let s = TripSettings::published(3000);
        let mut m = TripModel::new(s, HOLD);
        m.observe(secs(0), 4000);
        m.observe(secs(100), 4000);
        assert!((m.state().used - 15.0 / 120.0).abs() < 1e-9);
    }

    #[test]
    fn reconfigure_keeps_the_allowance() {
        let s = TripSettings::published(3000);
        let mut m = TripModel::new(s, HOLD);
        m.observe(secs(0), 4000);
        m.observe(secs(60), 4000);
        assert_eq!(m.state().band, Band::Over);
        let used = m.state().used;
        m.reconfigure(TripSettings::published(4500), HOLD);
        assert_eq!(m.state().used, used);
        assert_eq!(m.state().band, Band::Free);
        assert_eq!(m.state().band_since, secs(60));
        assert_eq!(m.state().trip_in, None);
        assert_eq!(resets_at(&m), Some(secs(360)));
    }
}
