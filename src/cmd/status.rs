//! `mcce status`: what the running daemon last published in
//! RUN_DIR/status (the file format is in `crate::adapters::status`).

use std::io;

use super::args::config_only_args;
use crate::adapters::clock::system_wall;
use crate::adapters::localtime;
use crate::adapters::status::{AlarmStatus, ContractStatus, Recording, Status};
use crate::cmd::exit::{self, Failure, Outcome};
use crate::core::config::Config;
use crate::core::space;
use crate::processes::daemon::trip_label;
use std::time::Duration;

const HELP: &str = "\
Usage: mcce status [-c FILE]

Prints the daemon's latest reading, its age, the meter's state, whether
samples reach the disk, the alarm's state (with CONTRACT_WATTS: the band,
the time in it and the predicted trip) and the free space in DATA_DIR,
from RUN_DIR/status, and the image's note in RUN_DIR/data-partition when
its data partition has a problem (DATA_DIR not on it, settings that will
not outlive a flash). Exit 69 when no daemon is publishing, 74 when
readings are not reaching the disk (writes fail, or the clock is unset) or
the image noted a problem.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

config_only_args!(HELP);

pub fn run(a: Args) -> Outcome {
    let cfg = Config::read(a.config.as_deref())?;
    let status = read_status(&cfg)?;
    let now = system_wall();
    match status.last_reading {
        Some(r) => crate::cmd::output::outln!(
            "last reading: {} W at {} ({})",
            r.watts,
            localtime::iso8601(r.ts),
            ago(now, r.ts)
        ),
        None => crate::cmd::output::outln!("last reading: none yet"),
    }
    crate::cmd::output::outln!("meter:  {}", status.meter);
    let not_recording = show_recording(&cfg, &status.recording, now);
    match status.contract {
        Some(c) => show_contract(&cfg, &c, status.alarm, now),
        None => crate::cmd::output::outln!("alarm:  {} (cap {} W)", status.alarm, cfg.alarm_watts),
    }
    let partition_note = data_partition_note(&cfg);
    if let Some(note) = &partition_note {
        crate::cmd::output::outln!("data:   {note}");
    }
    show_space(&cfg, status.space);
    crate::cmd::output::outln!(
        "daemon: pid {}, updated {}",
        status.pid,
        ago(now, status.updated)
    );
    verdict(&cfg, &status, now, not_recording, partition_note)
}

/// `90 s ago`, or `in the future` for a time after `now`.
fn ago(now: i64, t: i64) -> String {
    let s = now - t;
    if s < 0 {
        "in the future".to_string()
    } else {
        format!("{} ago", span_label(s))
    }
}

/// The exit: 69 when the status is stale, 74 when readings are not
/// reaching the disk or the image noted a problem with its data partition.
fn verdict(
    cfg: &Config,
    status: &Status,
    now: i64,
    not_recording: Option<String>,
    partition_note: Option<String>,
) -> Outcome {
    let stale = i64::from(cfg.poll_seconds).max(10) * 3;
    if now - status.updated > stale {
        return Err(Failure::new(
            exit::UNAVAILABLE,
            format!(
                "status is stale (no update for {}): is the daemon running?",
                span_label(now - status.updated)
            ),
        ));
    }
    if let Some(why) = not_recording {
        return Err(Failure::new(
            exit::IOERR,
            format!("readings are not reaching the disk: {why}"),
        ));
    }
    if let Some(note) = partition_note {
        return Err(Failure::new(
            exit::IOERR,
            format!("the image's data partition: {note}"),
        ));
    }
    Ok(())
}

/// What the image's boot script (S05mcce-data) or S90mcce noted in
/// RUN_DIR/data-partition, in their words: DATA_DIR on the root file system
/// (a card too small for the data partition, a partition that would not
/// mount), settings that will not outlive a flash, a file system e2fsck
/// could not mend. No note, or an empty one: nothing to say.
fn data_partition_note(cfg: &Config) -> Option<String> {
    let text = std::fs::read_to_string(cfg.run_dir.join("data-partition")).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.replace('\n', "; "))
}

fn read_status(cfg: &Config) -> Result<Status, Failure> {
    let p = crate::adapters::status::path(&cfg.run_dir);
    Status::read(&cfg.run_dir).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Failure::new(
                exit::UNAVAILABLE,
                format!("{}: not found: the daemon is not running", p.display()),
            )
        } else {
            Failure::new(exit::UNAVAILABLE, format!("{}: {e}", p.display()))
        }
    })
}

/// Prints the recording line; why readings are not reaching the disk, if
/// they are not.
fn show_recording(cfg: &Config, recording: &Recording, now: i64) -> Option<String> {
    let at = |t: i64| {
        let label = localtime::local_label(t);
        if localtime::local_date(t) == localtime::local_date(now) {
            label[11..16].to_string()
        } else {
            label[..16].to_string()
        }
    };
    match recording {
        Recording::Starting => {
            crate::cmd::output::outln!("recording: no reading to write yet");
            None
        }
        Recording::Ok => {
            crate::cmd::output::outln!("recording: ok");
            None
        }
        Recording::Failing { since, error } => {
            crate::cmd::output::outln!("recording: failing since {} ({error})", at(*since));
            Some(format!(
                "writes to {} fail: {error}",
                cfg.days_dir().display()
            ))
        }
        Recording::Held { since } => {
            crate::cmd::output::outln!(
                "recording: held back since {} (the wall clock is not set)",
                at(*since)
            );
            Some("samples are held back until the wall clock is set (NTP)".to_string())
        }
    }
}

/// The contract alarm: the band, how long the power has been in it, the
/// predicted trip, and whether that is as of an older reading.
fn show_contract(cfg: &Config, c: &ContractStatus, alarm: AlarmStatus, now: i64) {
    let limits = cfg
        .trip
        .settings()
        .map(|s| {
            format!(
                " (contract {} W: free up to {} W, tolerated up to {} W)",
                s.contract_watts,
                s.free_limit_watts(),
                s.short_limit_watts()
            )
        })
        .unwrap_or_default();
    crate::cmd::output::outln!("alarm:  {alarm}, warning {}{limits}", c.warning.name());
    let trip = match c.trip_in_seconds {
        Some(t) => format!(
            "; trip in {} if nothing is switched off",
            trip_label(Duration::from_secs(t))
        ),
        None => String::new(),
    };
    crate::cmd::output::outln!(
        "band:   {} for {}{trip}",
        c.band.name(),
        span_label((now - c.band_since).max(0))
    );
    if let Some(t) = c.stale_since {
        crate::cmd::output::outln!(
            "        (stale: no readings for {}; the band and the prediction are as of the last one)",
            span_label((now - t).max(0))
        );
    }
}

fn show_space(cfg: &Config, known: Option<crate::core::space::Space>) {
    let Some(sp) = known else {
        crate::cmd::output::outln!("data:   free space unknown ({})", cfg.data_dir.display());
        return;
    };
    let low = if space::below(sp.free, sp.total, cfg.low_space_percent) {
        format!(", below LOW_SPACE_PERCENT={}", cfg.low_space_percent)
    } else {
        String::new()
    };
    crate::cmd::output::outln!(
        "data:   {} free of {} ({}) in {}{low}",
        space::bytes_label(sp.free),
        space::bytes_label(sp.total),
        space::percent_label(sp.free, sp.total),
        cfg.data_dir.display()
    );
}

/// A number of seconds the way a person says it: `90 s`, `5 min`, `3 h`.
fn span_label(s: i64) -> String {
    match s {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}
