//! `/metrics` in the Prometheus text format (version 0.0.4): base units
//! (watts, joules, seconds, bytes), `_total` for counters, no label whose
//! values grow without bound. A value nobody measured is left out rather
//! than reported as zero.

use std::fmt::Write as _;

use crate::adapters::http::{Body, Response};
use crate::adapters::localtime::local_date;
use crate::core::config::Config;
use crate::core::trip::Band;

use crate::processes::view::{energy_so_far, free_bytes, live};

/// Renders the metrics from the values gathered by `metrics`. Pure.
pub(super) struct Values {
    pub power_watts: Option<u32>,
    pub last_sample: Option<i64>,
    pub daemon_up: bool,
    pub meter_up: bool,
    pub recording: bool,
    pub alarm_active: bool,
    pub energy_today_joules: Option<f64>,
    pub polls: Vec<(String, u64)>,
    pub free_bytes: Option<u64>,
    /// The contract band now, when `CONTRACT_WATTS` is set and the daemon runs.
    pub band: Option<Band>,
    /// Unix time the power entered that band.
    pub band_since: Option<i64>,
    /// Seconds to the predicted trip if the power stays as it is.
    pub trip_in_seconds: Option<u64>,
    pub version: &'static str,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A gauge without labels: its HELP and TYPE lines, then its value.
fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

pub(super) fn render(v: &Values) -> String {
    let mut o = String::with_capacity(2048);
    family(
        &mut o,
        "mcce_build_info",
        "gauge",
        "Version of mcce serving.",
    );
    let _ = writeln!(o, "mcce_build_info{{version=\"{}\"}} 1", v.version);
    state(&mut o, v);
    contract(&mut o, v);
    if !v.polls.is_empty() {
        family(
            &mut o,
            "mcce_polls_total",
            "counter",
            "Polls since mcce run started, by outcome (ok, silent, unplugged, clock-unset).",
        );
        for (outcome, n) in &v.polls {
            let _ = writeln!(o, "mcce_polls_total{{outcome=\"{outcome}\"}} {n}");
        }
    }
    if let Some(f) = v.free_bytes {
        gauge(
            &mut o,
            "mcce_data_free_bytes",
            "Bytes available to mcce on the file system of DATA_DIR.",
            f,
        );
    }
    o
}

/// The daemon's and the meter's state, and the latest reading.
fn state(o: &mut String, v: &Values) {
    for (name, help, on) in [
        (
            "mcce_daemon_up",
            "1 when mcce run updated its status within three polls.",
            v.daemon_up,
        ),
        (
            "mcce_meter_up",
            "1 when the meter answered the last poll.",
            v.meter_up,
        ),
        (
            "mcce_recording_ok",
            "1 when samples are being recorded now.",
            v.recording,
        ),
        (
            "mcce_alarm_active",
            "1 while the power is at or above ALARM_WATTS (alarm on).",
            v.alarm_active,
        ),
    ] {
        gauge(o, name, help, u8::from(on));
    }
    for (name, help, value) in [
        (
            "mcce_power_watts",
            "Power drawn at the last good poll.",
            v.power_watts.map(|w| w.to_string()),
        ),
        (
            "mcce_last_sample_timestamp_seconds",
            "Unix time of the last good poll.",
            v.last_sample.map(|t| t.to_string()),
        ),
        (
            "mcce_energy_today_joules",
            "Energy drawn since local midnight, by the digest's rule (1 kWh = 3.6e6 J).",
            v.energy_today_joules.map(|j| j.round().to_string()),
        ),
    ] {
        if let Some(x) = value {
            gauge(o, name, help, x);
        }
    }
}

/// The contract alarm: one series per band (a fixed set of three, so the
/// label stays bounded), 1 for the current one; the prediction only while
/// one exists (nothing trips in the free band).
fn contract(o: &mut String, v: &Values) {
    let Some(now) = v.band else { return };
    family(
        o,
        "mcce_contract_band",
        "gauge",
        "1 for the contract band the power is in now (free: no time limit; tolerated: trips after minutes to hours; over: trips after SHORT_TRIP_SECONDS), 0 for the others.",
    );
    for b in [Band::Free, Band::Tolerated, Band::Over] {
        let _ = writeln!(
            o,
            "mcce_contract_band{{band=\"{}\"}} {}",
            b.name(),
            u8::from(b == now)
        );
    }
    if let Some(t) = v.band_since {
        gauge(
            o,
            "mcce_contract_band_since_timestamp_seconds",
            "Unix time the power entered its current contract band.",
            t,
        );
    }
    if let Some(t) = v.trip_in_seconds {
        gauge(
            o,
            "mcce_trip_predicted_seconds",
            "Seconds until the meter is predicted to trip if the power stays as it is (absent in the free band).",
            t,
        );
    }
}

pub(super) fn metrics(cfg: &Config) -> Response {
    let l = live(cfg);
    let s = l.status.as_ref();
    let reading = s.and_then(|s| s.last_reading);
    let today = local_date(l.now);
    let energy = energy_so_far(cfg, today, l.now);
    // A stopped daemon's band is history, not the state now.
    let contract = s.and_then(|s| s.contract).filter(|_| l.running);
    let v = Values {
        power_watts: reading.filter(|_| l.running).map(|r| r.watts),
        last_sample: reading.map(|r| r.ts),
        daemon_up: l.running,
        meter_up: l.running
            && s.is_some_and(|s| s.meter == crate::adapters::status::MeterState::Ok),
        recording: l.recording,
        alarm_active: l.running
            && s.is_some_and(|s| {
                matches!(
                    s.alarm,
                    crate::adapters::status::AlarmStatus::On
                        | crate::adapters::status::AlarmStatus::Sounding
                )
            }),
        energy_today_joules: energy,
        polls: s
            .and_then(|s| s.polls)
            .map(|n| {
                crate::adapters::status::MeterState::ALL
                    .iter()
                    .zip(n)
                    .map(|(m, n)| (m.word().to_string(), n))
                    .collect()
            })
            .unwrap_or_default(),
        free_bytes: free_bytes(cfg),
        band: contract.map(|c| c.band),
        band_since: contract.map(|c| c.band_since),
        trip_in_seconds: contract.and_then(|c| c.trip_in_seconds),
        version: env!("CARGO_PKG_VERSION"),
    };
    Response::new(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        Body::Bytes(render(&v).into_bytes()),
    )
    .header("Cache-Control", "no-store")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let mut v = Values {
            power_watts: Some(1234),
            last_sample: Some(1_700_000_000),
            daemon_up: true,
            meter_up: true,
            recording: true,
            alarm_active: false,
            energy_today_joules: Some(3_600_000.4),
            polls: vec![("ok".into(), 10), ("silent".into(), 2)],
            free_bytes: Some(1 << 30),
            band: None,
            band_since: None,
            trip_in_seconds: None,
            version: "0.1.0",
        };
        assert!(
            !render(&v).contains("mcce_contract_band"),
            "single-threshold mode: no band"
        );
        v.band = Some(Band::Tolerated);
        v.band_since = Some(1_699_999_000);
        v.trip_in_seconds = Some(600);
        let t = render(&v);
        assert!(t.contains("\n# TYPE mcce_power_watts gauge\nmcce_power_watts 1234\n"));
        assert!(t.contains("mcce_energy_today_joules 3600000\n"));
        assert!(
            t.contains("# TYPE mcce_polls_total counter\nmcce_polls_total{outcome=\"ok\"} 10\n")
        );
        assert!(t.contains("mcce_build_info{version=\"0.1.0\"} 1\n"));
        assert!(t.contains("mcce_alarm_active 0\n"));
        assert!(t.contains(
            "# TYPE mcce_contract_band gauge\nmcce_contract_band{band=\"free\"} 0\n\
             mcce_contract_band{band=\"tolerated\"} 1\nmcce_contract_band{band=\"over\"} 0\n"
        ));
        assert!(t.contains("\nmcce_contract_band_since_timestamp_seconds 1699999000\n"));
        assert!(t.contains(
            "\n# TYPE mcce_trip_predicted_seconds gauge\nmcce_trip_predicted_seconds 600\n"
        ));
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("mcce_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        v.power_watts = None;
        v.energy_today_joules = None;
        v.polls.clear();
        v.band = Some(Band::Free);
        v.trip_in_seconds = None;
        let t = render(&v);
        assert!(t.contains("mcce_contract_band{band=\"free\"} 1\n"));
        assert!(
            !t.contains("mcce_trip_predicted_seconds"),
            "no prediction, no series"
        );
        assert!(
            !t.contains("mcce_power_watts"),
            "nothing measured, nothing reported"
        );
        assert!(!t.contains("mcce_energy_today_joules"));
        assert!(!t.contains("mcce_polls_total"));
    }
}
