//! The state message: what the daemon says now and the energy figures, as
//! the JSON every entity reads (keys in [`super::discovery`]), and whether
//! its reading is recent enough to show. Pure: facts and the time in.
//!
//! A reading older than two poll periods (plus the time one poll may take)
//! is not shown: the daemon stopped, or its polls fail. Home Assistant
//! then shows the power and the contract's entities as unavailable rather
//! than a frozen value.

use super::discovery::{
    BAND, ENERGY_TODAY, ENERGY_TOTAL, METER, OFF, ON, POWER, RECORDING, TRIP_IN, WARNING,
};
use crate::core::json::Object;

/// What the daemon's status file says, as far as the publisher needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Daemon {
    /// When the daemon last wrote its status (after every poll).
    pub updated: i64,
    /// The latest good reading: its time and watts.
    pub reading: Option<(i64, u32)>,
    /// The meter answered at the latest poll.
    pub meter_ok: bool,
    /// The latest sample reached its day file.
    pub recording_ok: bool,
    /// With `CONTRACT_WATTS`, once the daemon has a band.
    pub contract: Option<Contract>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Contract {
    /// One of [`super::discovery::BANDS`].
    pub band: &'static str,
    /// The contract alarm warns (a notice or an urgent warning).
    pub warning: bool,
    /// Seconds to the predicted trip; `None` when none is predicted.
    pub trip_in: Option<u64>,
}

/// How long a reading and a status stay current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Freshness {
    /// `POLL_SECONDS`.
    pub poll_seconds: u32,
    /// `REPLY_TIMEOUT_MS`: how long a poll may wait for the meter.
    pub reply_timeout_ms: u32,
}

impl Freshness {
    /// The longest age of a current reading or status: two poll periods,
    /// the longest a poll waits for the meter, and a second for the write.
    pub(crate) fn max_age(self) -> i64 {
        2 * i64::from(self.poll_seconds) + i64::from(self.reply_timeout_ms.div_ceil(1000)) + 1
    }
}

/// Everything one state message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    /// `None` when there is no status file (no daemon).
    pub daemon: Option<Daemon>,
    /// The lifetime total (`None` until the history could be read whole).
    pub energy_total_wh: Option<u64>,
    /// Today's energy so far.
    pub energy_today_wh: Option<u64>,
}

/// A state message and what goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct State {
    pub json: String,
    /// The reading is recent: the `live` availability topic says `online`.
    pub live: bool,
    /// When the message would change with no new status (a reading or the
    /// status growing too old): look again then.
    pub recheck_at: Option<i64>,
}

/// The state message for `facts` at Unix time `now`.
pub(crate) fn state(facts: &Facts, fresh: Freshness, now: i64) -> State {
    let max_age = fresh.max_age();
    let d = facts.daemon.as_ref();
    // Within `max_age` either way: a time far ahead of now is from before
    // the clock was set back, and the daemon's next status replaces it.
    let current = |t: i64| now.saturating_sub(t).saturating_abs() <= max_age;
    let running = d.filter(|d| current(d.updated));
    let reading = running
        .and_then(|d| d.reading)
        .filter(|(ts, _)| current(*ts));
    let mut o = Object::new();
    o.num(POWER, reading.map(|(_, w)| w));
    o.num(ENERGY_TOTAL, facts.energy_total_wh.map(kwh));
    o.num(ENERGY_TODAY, facts.energy_today_wh.map(kwh));
    let on_off = |b: bool| if b { ON } else { OFF };
    o.str(METER, on_off(running.is_some_and(|d| d.meter_ok)));
    o.str(RECORDING, on_off(running.is_some_and(|d| d.recording_ok)));
    // The contract's last word stays in the message while it is not live
    // (an enum sensor takes only its options), hidden by `live`.
    if let Some(c) = d.and_then(|d| d.contract) {
        o.str(BAND, c.band)
            .str(WARNING, on_off(c.warning))
            .num(TRIP_IN, c.trip_in);
    }
    let recheck_at = [running.map(|d| d.updated), reading.map(|(ts, _)| ts)]
        .into_iter()
        .flatten()
        .map(|t| t.saturating_add(max_age).saturating_add(1))
        .min();
    State {
        json: o.end(),
        live: reading.is_some(),
        recheck_at,
    }
}

/// Whole watt-hours as kWh: three decimals at most (the shortest text
/// that reads back as the value).
fn kwh(wh: u64) -> f64 {
    wh as f64 / 1000.0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Polls of 5 s, a 2-s reply timeout; and a time, for the loop's tests
    /// too.
    pub(crate) const FRESH: Freshness = Freshness {
        poll_seconds: 5,
        reply_timeout_ms: 2000,
    };
    pub(crate) const T: i64 = 1_750_000_000;

    fn daemon(contract: Option<Contract>) -> Daemon {
        Daemon {
            updated: T,
            reading: Some((T, 812)),
            meter_ok: true,
            recording_ok: true,
            contract,
        }
    }

    #[test]
    fn a_current_reading_is_live_with_every_figure() {
        let facts = Facts {
            daemon: Some(daemon(Some(Contract {
                band: "tolerated",
                warning: true,
                trip_in: Some(95),
            }))),
            energy_total_wh: Some(1_234_567),
            energy_today_wh: Some(3_050),
        };
        let s = state(&facts, FRESH, T + 1);
        assert_eq!(
            s.json,
            r#"{"power":812,"energy_total":1234.567,"energy_today":3.05,"meter":"ON","recording":"ON","band":"tolerated","warning":"ON","trip_in":95}"#
        );
        assert!(s.live);
        // 2 polls of 5 s, 2 s for the meter, 1 s: current up to T + 13.
        assert_eq!(FRESH.max_age(), 13);
        assert_eq!(s.recheck_at, Some(T + 14));
        assert!(state(&facts, FRESH, T + 13).live);
    }

    #[test]
    fn failing_polls_then_a_stopped_daemon_hide_the_power() {
        let mut d = daemon(Some(Contract {
            band: "over",
            warning: true,
            trip_in: None,
        }));
        // The meter went silent: the status goes on, the reading ages.
        d.updated = T + 12;
        d.meter_ok = false;
        let facts = Facts {
            daemon: Some(d.clone()),
            energy_total_wh: Some(5),
            energy_today_wh: None,
        };
        let s = state(&facts, FRESH, T + 14);
        assert!(!s.live);
        assert_eq!(
            s.json,
            r#"{"power":null,"energy_total":0.005,"energy_today":null,"meter":"OFF","recording":"ON","band":"over","warning":"ON","trip_in":null}"#
        );
        assert_eq!(s.recheck_at, Some(T + 12 + 14));
        // The status itself too old: no daemon, nothing current.
        let s = state(&facts, FRESH, T + 12 + 14);
        assert_eq!(s.recheck_at, None);
        assert!(s.json.contains(r#""meter":"OFF","recording":"OFF""#));
        // No status file at all, no contract: the totals alone.
        let none = Facts {
            daemon: None,
            ..facts
        };
        assert_eq!(
            state(&none, FRESH, T).json,
            r#"{"power":null,"energy_total":0.005,"energy_today":null,"meter":"OFF","recording":"OFF"}"#
        );
    }

    #[test]
    fn a_clock_far_off_neither_overflows_nor_shows_an_old_reading() {
        let facts = Facts {
            daemon: Some(daemon(None)),
            energy_total_wh: Some(u64::MAX),
            energy_today_wh: Some(0),
        };
        let s = state(&facts, FRESH, i64::MAX);
        assert!(!s.live);
        assert!(s.json.contains(r#""energy_total":18446744073709550,"#));
        // The clock set back by an hour under a stopped daemon: its last
        // reading, an hour ahead, is not shown as current.
        let s = state(&facts, FRESH, T - 3600);
        assert!(!s.live && s.json.contains(r#""meter":"OFF""#));
        let s = state(&facts, FRESH, T - 13);
        assert!(s.live);
        let s = state(&facts, FRESH, i64::MIN);
        assert!(!s.live && s.recheck_at.is_none());
    }
}
