//! `mcce digest`: turn raw day files into the yearly databases. Without a
//! date it catches up on every complete day not yet stored, so a box that
//! was off at midnight, or a cron run that never fired, loses nothing.

use std::collections::BTreeMap;
use std::path::Path;

use crate::adapters::daylog::{
    ReadStats, collect_day, day_path, list_days, mostly_skipped, open_day_file,
};
use crate::adapters::localtime::{local_date, local_day_bounds, local_label};
use crate::adapters::store::{self, RawFile, Store, StoreError};
use crate::core::calendar::{Date, date_name, days_of};
use crate::core::config::Config;
use crate::core::energy::{DayCollector, DayStats};

/// Why a digest did not store everything, for the command to say and to
/// pick the exit code by.
#[derive(Debug)]
pub struct DigestError {
    pub trouble: Trouble,
    pub message: String,
}

/// What kind of trouble a digest met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// `--date` names a day that is not over.
    NotOver,
    /// The day file, or the folder of day files, is missing.
    Missing,
    /// A day file, or the folder, cannot be read.
    Unreadable,
    /// A day's data is unusable (no energy, mostly not samples), or the
    /// catch-up skipped days for that.
    Unusable,
    /// The yearly database failed: busy, damaged or not writable.
    Store(store::Trouble),
}

impl DigestError {
    fn new(trouble: Trouble, message: impl Into<String>) -> DigestError {
        DigestError {
            trouble,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for DigestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<StoreError> for DigestError {
    fn from(e: StoreError) -> Self {
        DigestError::new(Trouble::Store(e.trouble), e.message)
    }
}

/// What a digest says as it goes: a line for its reader (a day stored, a
/// file removed), or a warning about one day.
pub enum Said {
    Line(String),
    Warning(String),
}

/// Keeps one open database per year while a catch-up runs.
struct Stores<'a> {
    cfg: &'a Config,
    open: BTreeMap<i32, Store>,
}

impl Stores<'_> {
    fn get(&mut self, year: i32) -> Result<&mut Store, StoreError> {
        if !self.open.contains_key(&year) {
            let s = Store::open_year(self.cfg, year)?;
            self.open.insert(year, s);
        }
        Ok(self.open.get_mut(&year).expect("inserted above"))
    }

    /// Whether `date` is stored, without creating a file that is not there
    /// (pwrApp would choke on an empty database).
    fn has_day(&mut self, date: Date) -> Result<bool, StoreError> {
        if !self.open.contains_key(&date.year())
            && !self.cfg.database_for_year(date.year()).exists()
        {
            return Ok(false);
        }
        self.get(date.year())?.has_day(&date_name(date))
    }
}

/// What stopped one day from being digested.
enum Problem {
    /// The day cannot be digested now (its file is unreadable or holds no
    /// energy); other days can.
    Day(DigestError),
    /// The database failed: busy, damaged or not writable. Stops the run.
    Store(DigestError),
}

/// A day that was stored, with the line to print and, for a file that was
/// mostly not samples, the warning to give.
struct Digested {
    line: String,
    warning: Option<String>,
}

/// Whether a date's day file is already digested, and from what file.
enum Stored {
    No,
    Yes(Option<RawFile>),
}

impl Stores<'_> {
    fn stored(&mut self, date: Date) -> Result<Stored, StoreError> {
        if !self.has_day(date)? {
            return Ok(Stored::No);
        }
        let raw = self.get(date.year())?.raw_file(&date_name(date))?;
        Ok(Stored::Yes(raw))
    }
}

/// The size of a day file, `None` when it cannot be read.
fn file_size(path: &std::path::Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// Digests one day into its year's database, replacing what was there.
///
/// The file is streamed: memory is bounded by the day's length, not the
/// file's (see `DayCollector`). Only the date decides whether a day is
/// over: a stamp in the file is the file's word, and one that cannot be the
/// day's (corrupt, or the clock far off) is counted as outside the day.
fn digest_one(cfg: &Config, stores: &mut Stores<'_>, date: Date) -> Result<Digested, Problem> {
    let name = date_name(date);
    let path = day_path(&cfg.days_dir(), date);
    if !store::DASHBOARD_YEARS.contains(&date.year()) {
        return Err(Problem::Day(DigestError::new(
            Trouble::Unusable,
            format!(
                "{name}: a year outside {}-{}, the years the dashboard reads: not written \
                 (a clock far off when {} was recorded?); every catch-up tries it again until \
                 the file is moved out of {}",
                store::DASHBOARD_YEARS.start(),
                store::DASHBOARD_YEARS.end(),
                path.display(),
                cfg.days_dir().display()
            ),
        )));
    }
    let (start, end) = local_day_bounds(date);
    let (day, read, bytes) = read_day(&path, start, end)?;
    let (stats, buckets) = day.finish(&cfg.day_params((start, end), end));
    if stats.energy_wh <= 0.0 {
        return Err(Problem::Day(DigestError::new(
            Trouble::Unusable,
            format!(
                "{name}: zero energy ({} samples in {}, {} lines skipped): not written; \
                 every catch-up tries it again until the file is moved out of {}",
                stats.samples,
                path.display(),
                read.skipped,
                cfg.days_dir().display()
            ),
        )));
    }
    let raw = RawFile {
        bytes: Some(bytes),
        lines: read.lines,
        skipped: read.skipped,
    };
    let store = stores
        .get(date.year())
        .map_err(|e| Problem::Store(e.into()))?;
    store
        .write_day(&name, &stats, &raw, cfg.min_time_res, &buckets)
        .map_err(|e| Problem::Store(e.into()))?;
    Ok(describe(&name, &path, &stats, &read, store.path()))
}

/// Streams a day file into a collector for `[start, end)`; also how the
/// reading went and the file's size.
fn read_day(path: &Path, start: i64, end: i64) -> Result<(DayCollector, ReadStats, u64), Problem> {
    let unreadable = |e: std::io::Error| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            Trouble::Missing
        } else {
            Trouble::Unreadable
        };
        Problem::Day(DigestError::new(
            code,
            format!("{}: cannot read the day file: {e}", path.display()),
        ))
    };
    // The size is the opened file's: the one read, and taken before the
    // read, so a file that grows meanwhile is digested again, never pruned.
    let (file, meta) = open_day_file(path).map_err(unreadable)?;
    let (day, read) = collect_day(file, meta.len(), start, end).map_err(unreadable)?;
    Ok((day, read, meta.len()))
}

/// The digest's line for a stored day, and the warning for a file that
/// was mostly not samples.
fn describe(name: &str, path: &Path, stats: &DayStats, read: &ReadStats, db: &Path) -> Digested {
    let peak = stats
        .peak
        .map(|p| format!(", peak {} W at {}", p.watts, &local_label(p.ts)[11..]))
        .unwrap_or_default();
    let warning = read.mostly_skipped().then(|| {
        format!(
            "{name}: {} of {} lines of {} were not samples: stored from the rest; \
             the raw file is kept (KEEP_RAW_DAYS never removes it)",
            read.skipped,
            read.lines,
            path.display()
        )
    });
    Digested {
        line: format!(
            "{name}: {:.2} kWh, {:.1} % covered, {} samples{peak}, {} gap(s), {} line(s) skipped{}, \
             {} outside the day, {} repeated stamp(s){} -> {}",
            stats.kwh(),
            stats.coverage() * 100.0,
            stats.samples,
            stats.gaps,
            read.skipped,
            if read.long > 0 {
                format!(" ({} too long to be a sample)", read.long)
            } else {
                String::new()
            },
            stats.outside,
            stats.duplicates,
            match (read.legacy, read.stamped) {
                (0, _) => String::new(),
                (_, 0) => ", legacy file".to_string(),
                (n, _) => format!(", {n} sample(s) in the legacy format"),
            },
            db.display()
        ),
        warning,
    }
}

/// `mcce digest [--date D]` at Unix time `now`, saying what it does
/// through `say` as it goes. Only days before today's local date are over;
/// `--date` with today or later is refused.
pub fn digest(
    cfg: &Config,
    date: Option<Date>,
    now: i64,
    say: &mut dyn FnMut(Said),
) -> Result<(), DigestError> {
    let today = local_date(now);
    let mut stores = Stores {
        cfg,
        open: BTreeMap::new(),
    };
    if let Some(d) = date {
        return digest_date(cfg, &mut stores, d, now, say);
    }
    let todo = pending_days(cfg, &mut stores, today, say)?;
    if todo.is_empty() {
        say(Said::Line(format!(
            "nothing to digest: every complete day in {} is stored",
            cfg.days_dir().display()
        )));
    }
    let (mut skipped, mut suspect) = (0u32, 0u32);
    for d in todo {
        match digest_one(cfg, &mut stores, d) {
            Ok(done) => {
                say(Said::Line(done.line));
                if let Some(w) = done.warning {
                    say(Said::Warning(w));
                    suspect += 1;
                }
            }
            // A bad day does not keep the other days from being stored.
            Err(Problem::Day(e)) => {
                say(Said::Warning(e.message));
                skipped += 1;
            }
            Err(Problem::Store(e)) => {
                say(Said::Warning(e.message));
                return Err(DigestError::new(
                    e.trouble,
                    "digest stopped; days before it are stored",
                ));
            }
        }
    }
    prune(cfg, &mut stores, today, say)?;
    if skipped + suspect > 0 {
        return Err(DigestError::new(
            Trouble::Unusable,
            format!(
                "{skipped} day(s) skipped and {suspect} day(s) mostly not samples (see above); the other days are stored"
            ),
        ));
    }
    Ok(())
}

/// `--date D`: that day again, if it is over.
fn digest_date(
    cfg: &Config,
    stores: &mut Stores<'_>,
    d: Date,
    now: i64,
    say: &mut dyn FnMut(Said),
) -> Result<(), DigestError> {
    let today = local_date(now);
    if d >= today {
        return Err(DigestError::new(
            Trouble::NotOver,
            format!(
                "--date {}: the day is not over (today is {}); only days before today can be digested",
                date_name(d),
                date_name(today)
            ),
        ));
    }
    match digest_one(cfg, stores, d) {
        Ok(done) => {
            say(Said::Line(done.line));
            match done.warning {
                Some(w) => Err(DigestError::new(Trouble::Unusable, w)),
                None => Ok(()),
            }
        }
        Err(Problem::Day(f) | Problem::Store(f)) => Err(f),
    }
}

/// The catch-up's days, oldest first: every day file before `today` not
/// stored yet, or changed since it was stored.
fn pending_days(
    cfg: &Config,
    stores: &mut Stores<'_>,
    today: Date,
    say: &mut dyn FnMut(Said),
) -> Result<Vec<Date>, DigestError> {
    let days_dir = cfg.days_dir();
    if let Err(e) = std::fs::metadata(&days_dir) {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            "the folder of day files is missing (is DATA_DIR right?)".to_string()
        } else {
            format!("cannot read the folder of day files: {e}")
        };
        return Err(DigestError::new(
            Trouble::Missing,
            format!("{}: {what}", days_dir.display()),
        ));
    }
    let all = list_days(&days_dir).map_err(|e| {
        DigestError::new(
            Trouble::Unreadable,
            format!("{}: cannot list day files: {e}", days_dir.display()),
        )
    })?;
    let mut todo = Vec::new();
    for d in all.into_iter().filter(|d| *d < today) {
        match stores.stored(d)? {
            Stored::No => todo.push(d),
            Stored::Yes(raw) => {
                let was = raw.and_then(|r| r.bytes);
                let now_size = file_size(&day_path(&days_dir, d));
                if let (Some(was), Some(size)) = (was, now_size)
                    && was != size
                {
                    say(Said::Line(format!(
                        "{}: the day file changed since it was digested ({was} -> {size} bytes): digesting again",
                        date_name(d)
                    )));
                    todo.push(d);
                }
            }
        }
    }
    Ok(todo)
}

/// Removes raw day files older than `KEEP_RAW_DAYS`, but only those whose
/// day is stored from the file as it is now, and not from a file that was
/// mostly not samples: a raw file is never the last copy of a day lost.
fn prune(
    cfg: &Config,
    stores: &mut Stores<'_>,
    today: Date,
    say: &mut dyn FnMut(Said),
) -> Result<(), DigestError> {
    if cfg.keep_raw_days == 0 {
        return Ok(());
    }
    let oldest_kept = days_of(today) - i64::from(cfg.keep_raw_days);
    let days = list_days(&cfg.days_dir()).unwrap_or_default();
    for d in days.into_iter().filter(|d| days_of(*d) < oldest_kept) {
        let Stored::Yes(raw) = stores.stored(d)? else {
            continue;
        };
        let p = day_path(&cfg.days_dir(), d);
        let suspect = raw.is_some_and(|r| mostly_skipped(r.skipped, r.lines));
        let changed = raw
            .and_then(|r| r.bytes)
            .is_some_and(|b| file_size(&p) != Some(b));
        if suspect || changed {
            continue;
        }
        match std::fs::remove_file(&p) {
            Ok(()) => say(Said::Line(format!(
                "removed {} (digested, older than {} days)",
                p.display(),
                cfg.keep_raw_days
            ))),
            Err(e) => say(Said::Warning(format!(
                "{}: cannot remove: {e}",
                p.display()
            ))),
        }
    }
    Ok(())
}
