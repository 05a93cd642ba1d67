//! `mcce report`: a month (one line per day) or a year (one line per month)
//! in 80 columns, for a look over ssh.

use std::fmt::Write as _;

use crate::adapters::store::{DayRow, Store, StoreError};
use crate::core::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month(i32, u8),
    Year(i32),
}

const BAR_WIDTH: f64 = 28.0;

fn bar(value: f64, max: f64, width: f64) -> String {
    if max <= 0.0 {
        return String::new();
    }
    "#".repeat(((value / max) * width).round().clamp(0.0, width) as usize)
}

/// The "near trips" column (the contract alarm's warnings), shown when a
/// day of the period was digested with `CONTRACT_WATTS`; `?` for a day
/// that was not.
fn near_trips(shown: bool, warnings: Option<u32>) -> String {
    match (shown, warnings) {
        (false, _) => String::new(),
        (true, Some(w)) => format!(" {w:>10}"),
        (true, None) => format!(" {:>10}", "?"),
    }
}

fn near_trips_header(shown: bool) -> &'static str {
    if shown { " near trips" } else { "" }
}

fn minutes(secs: Option<i64>) -> String {
    match secs {
        Some(s) if s > 0 => format!("{}m", (s + 59) / 60),
        Some(_) => "-".into(),
        None => "?".into(),
    }
}

fn pct(c: Option<f64>) -> String {
    c.map_or("?".into(), |c| format!("{:.0}%", c * 100.0))
}

/// Reads the rows of a period from the database(s).
pub fn rows(cfg: &Config, period: Period) -> Result<Vec<DayRow>, StoreError> {
    let (year, from, to) = match period {
        Period::Month(y, m) => (y, format!("{y:04}-{m:02}-01"), format!("{y:04}-{m:02}-31")),
        Period::Year(y) => (y, format!("{y:04}-01-01"), format!("{y:04}-12-31")),
    };
    let Some(store) = Store::read_year(cfg, year)? else {
        return Ok(Vec::new());
    };
    store.days(&from, &to)
}

/// The report's text.
pub fn render(cfg: &Config, period: Period, rows: &[DayRow]) -> String {
    let mut s = String::new();
    let title = match period {
        Period::Month(y, m) => format!("{y:04}-{m:02}"),
        Period::Year(y) => format!("{y:04}"),
    };
    match cfg.trip.settings() {
        Some(t) => {
            let _ = writeln!(
                s,
                "mcce report {title}  (contract {} W; over: time at or above {} W)",
                t.contract_watts, cfg.alarm_watts
            );
        }
        None => {
            let _ = writeln!(s, "mcce report {title}  (cap {} W)", cfg.alarm_watts);
        }
    }
    if rows.is_empty() {
        let _ = writeln!(s, "no digested days in {title}");
        return s;
    }
    let total: f64 = rows.iter().map(|r| r.kwh).sum();
    match period {
        Period::Month(..) => render_days(&mut s, rows),
        Period::Year(_) => render_months(&mut s, rows),
    }
    let _ = write!(
        s,
        "total {:.2} kWh over {} day(s), {:.2} kWh/day",
        total,
        rows.len(),
        total / rows.len() as f64
    );
    if let Some(price) = cfg.price_per_kwh {
        let _ = write!(s, ", cost {:.2}", total * price);
    }
    s.push('\n');
    s
}

/// A month: one line per day.
fn render_days(s: &mut String, rows: &[DayRow]) {
    let trips = rows.iter().any(|r| r.bands.is_some());
    let _ = writeln!(
        s,
        "{:<10} {:>7} {:>5} {:>6} {:>5}{}  energy",
        "day",
        "kWh",
        "cover",
        "peak W",
        "over",
        near_trips_header(trips)
    );
    let max = rows.iter().map(|r| r.kwh).fold(0.0, f64::max);
    for r in rows {
        let _ = writeln!(
            s,
            "{:<10} {:>7.2} {:>5} {:>6} {:>5}{}  {}",
            r.day.get(..10).unwrap_or(&r.day),
            r.kwh,
            pct(r.coverage),
            r.peak_w.map_or("?".into(), |p| p.to_string()),
            minutes(r.over_cap_seconds),
            near_trips(trips, r.bands.map(|b| b.warnings)),
            bar(r.kwh, max, BAR_WIDTH)
        );
    }
}

/// A year: one line per month that has days.
fn render_months(s: &mut String, rows: &[DayRow]) {
    let trips = rows.iter().any(|r| r.bands.is_some());
    // 80 columns: the bar gives way to the near trips column.
    let width = if trips { BAR_WIDTH - 3.0 } else { BAR_WIDTH };
    let _ = writeln!(
        s,
        "{:<7} {:>4} {:>8} {:>6} {:>6} {:>5}{}  energy",
        "month",
        "days",
        "kWh",
        "kWh/d",
        "peak W",
        "over",
        near_trips_header(trips)
    );
    let mut months: Vec<(String, Vec<&DayRow>)> = Vec::new();
    for r in rows {
        let m = r.day.get(..7).unwrap_or(&r.day).to_string();
        match months.last_mut() {
            Some((k, v)) if *k == m => v.push(r),
            _ => months.push((m, vec![r])),
        }
    }
    let sums: Vec<f64> = months
        .iter()
        .map(|(_, v)| v.iter().map(|r| r.kwh).sum())
        .collect();
    let max = sums.iter().copied().fold(0.0, f64::max);
    for ((m, v), sum) in months.iter().zip(&sums) {
        let peak = v.iter().filter_map(|r| r.peak_w).max();
        let over: Option<i64> = v.iter().map(|r| r.over_cap_seconds).sum();
        let warnings: Option<u32> = v.iter().map(|r| r.bands.map(|b| b.warnings)).sum();
        let _ = writeln!(
            s,
            "{:<7} {:>4} {:>8.2} {:>6.2} {:>6} {:>5}{}  {}",
            m,
            v.len(),
            sum,
            sum / v.len() as f64,
            peak.map_or("?".into(), |p| p.to_string()),
            minutes(over),
            near_trips(trips, warnings),
            bar(*sum, max, width)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, kwh: f64) -> DayRow {
        DayRow {
            day: day.into(),
            kwh,
            coverage: Some(0.999),
            samples: Some(17_200),
            peak_w: Some(4350),
            peak_at: None,
            min_w: Some(120),
            over_cap_seconds: Some(300),
            gaps: Some(0),
            outside: Some(0),
            duplicates: Some(0),
            bands: None,
        }
    }

    #[test]
    fn month_fits_80_columns_and_totals_add_up() {
        let cfg = Config {
            price_per_kwh: Some(0.25),
            ..Config::default()
        };
        let rows = vec![row("2025-01-01", 10.0), row("2025-01-02", 5.0)];
        let text = render(&cfg, Period::Month(2025, 1), &rows);
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
        assert!(
            text.contains("total 15.00 kWh over 2 day(s), 7.50 kWh/day, cost 3.75"),
            "{text}"
        );
        assert!(
            text.contains("2025-01-01   10.00  100%   4350    5m  ############################"),
            "{text}"
        );
        let year = render(&cfg, Period::Year(2025), &rows);
        assert!(
            year.contains("2025-01    2    15.00   7.50   4350   10m  ###"),
            "{year}"
        );
        assert!(!text.contains("near trips") && !year.contains("near trips"));
    }

    /// Days digested with a contract add the "near trips" column (the
    /// warnings); a day digested without one shows `?`; still 80 columns.
    #[test]
    fn near_trips_column_with_a_contract() {
        let cfg = Config::default();
        let mut rows = vec![row("2025-01-01", 10.0), row("2025-01-02", 5.0)];
        rows[1].bands = Some(crate::core::energy::BandSeconds {
            free: 86_000,
            tolerated: 300,
            over: 100,
            warnings: 2,
        });
        let text = render(&cfg, Period::Month(2025, 1), &rows);
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
        assert!(
            text.contains("day            kWh cover peak W  over near trips  energy"),
            "{text}"
        );
        assert!(text.contains("4350    5m          ?  ####"), "{text}");
        assert!(text.contains("4350    5m          2  ####"), "{text}");
        let year = render(&cfg, Period::Year(2025), &rows);
        assert!(year.lines().all(|l| l.len() <= 80), "{year}");
        assert!(year.contains("4350   10m          ?  "), "{year}");
        rows[0].bands = rows[1].bands;
        let year = render(&cfg, Period::Year(2025), &rows);
        assert!(year.contains("4350   10m          4  "), "{year}");
    }
}
