//! The readers' view: what `mcce run` says now, for the processes that
//! show it (`mcce serve` today, `mcce publish` next). The status file is
//! the bus between the daemon and its readers: this module is the one
//! place that reads it, with today's running totals from the day file and
//! the free space of DATA_DIR. Readers run in processes of their own, so a
//! slow browser or a dead broker never delays a poll or a siren.

use std::io;
use std::path::PathBuf;

use crate::adapters::clock::system_wall;
use crate::adapters::daylog::day_path;
use crate::adapters::daytotal::{Ask, DayTotals};
use crate::adapters::localtime::local_day_bounds;
use crate::adapters::status::{Recording, Status, StatusFile};
use crate::core::calendar::Date;
use crate::core::config::Config;
use crate::core::energy::{DayParams, DayStats};

/// What the daemon last published, and whether it is current.
pub(crate) struct Live {
    pub status: Option<Status>,
    pub now: i64,
    /// The daemon updated its status within three polls.
    pub running: bool,
    /// Running, the last sample is recent and was written to its day file.
    pub recording: bool,
}

/// The daemon's status now.
pub(crate) fn live(cfg: &Config) -> Live {
    let now = system_wall();
    let status = Status::read(&cfg.run_dir).ok();
    let stale = i64::from(cfg.poll_seconds).max(10) * 3;
    let running = status
        .as_ref()
        .is_some_and(|s| now.saturating_sub(s.updated) <= stale);
    let recording = running
        && status.as_ref().is_some_and(|s| {
            s.recording == Recording::Ok
                && s.last_reading
                    .is_some_and(|r| now.saturating_sub(r.ts) <= stale)
        });
    Live {
        status,
        now,
        running,
        recording,
    }
}

/// The daemon's status for a reader that asks at every poll (`mcce
/// publish`): the file kept open, read with one `pread`.
pub(crate) struct StatusReader {
    file: StatusFile,
}

impl StatusReader {
    pub(crate) fn new(cfg: &Config) -> StatusReader {
        StatusReader {
            file: StatusFile::new(&cfg.run_dir),
        }
    }

    /// The latest status; `None` without a daemon.
    pub(crate) fn status(&mut self) -> Option<Status> {
        self.file.read().ok()
    }

    /// RUN_DIR's entries changed: the status may be a new file.
    pub(crate) fn reopen(&mut self) {
        self.file.reopen();
    }
}

/// How far a day file's facts run: to now while the day runs, else to the
/// day's end.
pub(crate) fn measured_until(date: Date, now: i64) -> i64 {
    let (start, end) = local_day_bounds(date);
    if (start..end).contains(&now) {
        now.max(start + 1)
    } else {
        end
    }
}

/// A day file that exists but cannot be read: its path, so whoever runs
/// the reader can look at its permissions or the disk.
#[derive(Debug)]
pub(crate) struct DayFileError {
    pub path: PathBuf,
    pub error: io::Error,
}

impl std::fmt::Display for DayFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "day file {}: {}", self.path.display(), self.error)
    }
}

/// How the readers measure `date` up to `until`: by the digest's rule,
/// without the time per band (the digest stores that; the readers show
/// none).
pub(crate) fn day_params(cfg: &Config, date: Date, until: i64) -> DayParams {
    DayParams {
        trip: None,
        ..cfg.day_params(local_day_bounds(date), until)
    }
}

/// Running totals of the day files not digested yet (today's above all),
/// so a scrape or a month's page reads only what was appended since.
static TOTALS: DayTotals = DayTotals::new();

/// The facts of `date`'s day file up to `until`, from its running total;
/// `None` when there is no file.
pub(crate) fn running_facts(
    cfg: &Config,
    date: Date,
    until: i64,
) -> Result<Option<DayStats>, DayFileError> {
    let path = day_path(&cfg.days_dir(), date);
    let ask = Ask {
        path: &path,
        day: day_params(cfg, date, until),
    };
    match TOTALS.facts(&ask) {
        Ok(f) => Ok(f.map(|(st, _)| st)),
        Err(error) => Err(DayFileError { path, error }),
    }
}

/// Joules drawn from local midnight of `today` to `now`, by the digest's
/// rule; `None` without a day file (nothing measured).
pub(crate) fn energy_so_far(cfg: &Config, today: Date, now: i64) -> Option<f64> {
    let st = running_facts(cfg, today, measured_until(today, now)).ok()??;
    Some(st.energy_wh * 3600.0)
}

/// Free bytes for the daemon's user on DATA_DIR's file system.
pub(crate) fn free_bytes(cfg: &Config) -> Option<u64> {
    crate::adapters::sys::space(&cfg.data_dir)
        .ok()
        .map(|s| s.free)
}
