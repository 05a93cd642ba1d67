//! The yearly SQLite file `<DATABASE_URL>.<YYYY>` (docs/data.md#yearly-databases).
//!
//! Storage is normalized — `mcce_day` (one row per day, with the facts
//! beyond kWh) and `mcce_bucket` (one row per bucket) — and pwrApp's shape
//! is exposed as views: `avg` and one `"YYYY-MM-DD"` view per day, each with
//! exactly pwrApp's two columns (it sums every column of `avg`). A file
//! written by the original Python digest (real tables of those names), or
//! by an older mcce, is brought to this layout in the same transaction as
//! the first day we write into it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::adapters::localtime::{local_label, offset_at, unix_of_local};
use crate::core::calendar::days_from_civil;
use crate::core::config::Config;
use crate::core::energy::{BandSeconds, Bucket, DayStats};

/// `PRAGMA user_version` of the layout written here. 1: the first mcce
/// layout (`avg` carried extra columns); 2: `avg` has pwrApp's two columns
/// only, `mcce_day` has `outside` and `duplicates`, day keys are plain dates;
/// 3: `mcce_day` has the contract alarm's seconds per band and warnings
/// (NULL for a day digested without `CONTRACT_WATTS`).
pub const LAYOUT_VERSION: i64 = 3;

/// The years a yearly database may be written for: pwrApp lists the
/// databases' directory and expects a year from 2020 to 2099 in every
/// file name, so a day outside them (a clock far off) is never stored.
pub const DASHBOARD_YEARS: std::ops::RangeInclusive<i32> = 2020..=2099;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS mcce_day (
    day TEXT PRIMARY KEY,
    kwh REAL NOT NULL,
    energy_wh REAL,
    coverage REAL,
    samples INTEGER,
    peak_w INTEGER,
    peak_at TEXT,
    min_w INTEGER,
    over_cap_seconds INTEGER,
    gaps INTEGER,
    skipped_lines INTEGER,
    bucket_minutes INTEGER,
    source TEXT NOT NULL DEFAULT 'mcce',
    outside INTEGER,
    duplicates INTEGER,
    free_seconds INTEGER,
    tolerated_seconds INTEGER,
    over_seconds INTEGER,
    warnings INTEGER
);
CREATE TABLE IF NOT EXISTS mcce_bucket (
    day TEXT NOT NULL,
    seq INTEGER NOT NULL,
    start INTEGER,
    label TEXT NOT NULL,
    mean_w REAL NOT NULL,
    samples INTEGER,
    PRIMARY KEY (day, seq)
) WITHOUT ROWID;
"#;

/// pwrApp sums every column of `avg` but the index: two columns, no more.
const AVG_VIEW: &str = r#"DROP VIEW IF EXISTS avg;
CREATE VIEW avg AS SELECT day AS "index", kwh AS "kWh" FROM mcce_day ORDER BY day"#;

/// Columns added to `mcce_day` after layout 1, with their types.
const ADDED_DAY_COLUMNS: [(&str, &str); 6] = [
    ("outside", "INTEGER"),
    ("duplicates", "INTEGER"),
    ("free_seconds", "INTEGER"),
    ("tolerated_seconds", "INTEGER"),
    ("over_seconds", "INTEGER"),
    ("warnings", "INTEGER"),
];

/// SQL that reduces a day key to its date when it carries a time part, as
/// pandas writes dates (`YYYY-MM-DD 00:00:00`); other keys are kept.
fn date_key(col: &str) -> String {
    format!(
        "CASE WHEN {col} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][ T]*' \
         THEN substr({col}, 1, 10) ELSE {col} END"
    )
}

/// What each day's raw file was when the day was digested: the catch-up
/// digests a day again when its file has changed since (the clock was
/// ahead, or samples came late), and raw files that were mostly not
/// samples are never pruned. Created on first write, so older files of our
/// layout need no migration.
const RAW_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS mcce_raw (
    day TEXT PRIMARY KEY,
    bytes INTEGER,
    lines INTEGER NOT NULL,
    skipped INTEGER NOT NULL
) WITHOUT ROWID";

/// The raw day file a stored day was digested from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFile {
    /// Its size; `None` for a day digested before sizes were kept.
    pub bytes: Option<u64>,
    /// Non-blank lines, and those of them that were not samples.
    pub lines: u64,
    pub skipped: u64,
}

/// SQL identifier quoting for a day name (always `YYYY-MM-DD`).
fn ident(day: &str) -> String {
    format!("\"{}\"", day.replace('"', "\"\""))
}

fn day_view(day: &str) -> String {
    format!(
        "CREATE VIEW IF NOT EXISTS {} AS SELECT label AS \"index\", mean_w AS \"Wh\" \
         FROM mcce_bucket WHERE day = '{}' ORDER BY seq",
        ident(day),
        day.replace('\'', "''")
    )
}

fn is_day_name(s: &str) -> bool {
    crate::core::calendar::parse_date(s).is_some()
}

fn busy_timeout(cfg: &Config) -> Duration {
    Duration::from_secs(u64::from(cfg.db_busy_timeout_seconds))
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Why a yearly database could not be used, by what a user can do about
/// it; the command layer turns each into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// A reader (the dashboard) kept it locked past the busy timeout: try
    /// again later.
    Busy,
    /// Damaged or not an SQLite database (or an error SQLite does not
    /// name); it was left untouched.
    Damaged,
    /// It, or its directory, cannot be created or written (permissions, a
    /// read-only or full file system).
    CannotWrite,
    /// Writing what was read to the output failed.
    Output,
}

/// A yearly database's error: a line a user can act on, and its kind.
#[derive(Debug)]
pub struct StoreError {
    pub trouble: Trouble,
    pub message: String,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// SQLite's error on the file at `path`, with a hint where one helps.
    pub fn sql(path: &Path, e: rusqlite::Error) -> StoreError {
        let trouble = match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Trouble::Busy,
            Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
                Trouble::CannotWrite
            }
            Some(ErrorCode::DiskFull) => Trouble::CannotWrite,
            _ => Trouble::Damaged,
        };
        let hint = match trouble {
            Trouble::Busy => " (a reader such as the dashboard kept it locked; try again later)",
            Trouble::Damaged => {
                " (the file is damaged or not an SQLite database; it was left untouched)"
            }
            _ => "",
        };
        StoreError {
            trouble,
            message: format!("{}: {e}{hint}", path.display()),
        }
    }

    fn new(trouble: Trouble, message: String) -> StoreError {
        StoreError { trouble, message }
    }
}

/// The years that have a database file (`<DATABASE_URL>.<YYYY>`), oldest
/// first, from one listing of their directory: a caller looking for the
/// oldest data asks the files that exist instead of probing every year.
pub fn years(cfg: &Config) -> Vec<i32> {
    let url = &cfg.database_url;
    let (Some(dir), Some(prefix)) = (url.parent(), url.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let prefix = prefix.as_encoded_bytes();
    let mut years: Vec<i32> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            let year = name
                .as_encoded_bytes()
                .strip_prefix(prefix)?
                .strip_prefix(b".")?;
            if year.len() != 4 || !year.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(year).ok()?.parse().ok()
        })
        .collect();
    years.sort_unstable();
    years
}

impl Store {
    /// The yearly database `<DATABASE_URL>.<year>` for writing (created if
    /// missing), waiting DB_BUSY_TIMEOUT_SECONDS for a reader's lock.
    pub fn open_year(cfg: &Config, year: i32) -> Result<Store, StoreError> {
        Store::open(&cfg.database_for_year(year), busy_timeout(cfg))
    }

    /// The yearly database for reading only; `None` when there is no file
    /// (nothing is created: pwrApp would choke on an empty database).
    pub fn read_year(cfg: &Config, year: i32) -> Result<Option<Store>, StoreError> {
        Store::read_year_within(cfg, year, Duration::MAX)
    }

    /// [`Store::read_year`], waiting at most `limit` for a writer's lock
    /// (a web request cannot wait as long as a cron job).
    pub fn read_year_within(
        cfg: &Config,
        year: i32,
        limit: Duration,
    ) -> Result<Option<Store>, StoreError> {
        let path = cfg.database_for_year(year);
        if !path.exists() {
            return Ok(None);
        }
        Store::open_read(&path, busy_timeout(cfg).min(limit)).map(Some)
    }

    /// Opens (creating if needed) a yearly database for writing.
    pub fn open(path: &Path, busy: Duration) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::new(
                    Trouble::CannotWrite,
                    format!("{}: cannot create: {e}", dir.display()),
                )
            })?;
        }
        let conn = Connection::open(path).map_err(|e| StoreError::sql(path, e))?;
        Self::prepare(conn, path, busy)
    }

    /// Opens an existing database without ever writing to it.
    pub fn open_read(path: &Path, busy: Duration) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sql(path, e))?;
        Self::prepare(conn, path, busy)
    }

    fn prepare(conn: Connection, path: &Path, busy: Duration) -> Result<Store, StoreError> {
        conn.busy_timeout(busy)
            .map_err(|e| StoreError::sql(path, e))?;
        // Touch the schema now so a damaged file fails here, before any write.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| StoreError::sql(path, e))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn object_type(&self, name: &str) -> Result<Option<String>, rusqlite::Error> {
        self.conn
            .query_row(
                "SELECT type FROM sqlite_master WHERE name = ?1 AND type IN ('table','view')",
                [name],
                |r| r.get(0),
            )
            .optional()
    }

    /// True when the file uses our layout (tables `mcce_day`/`mcce_bucket`).
    pub fn is_ours(&self) -> Result<bool, StoreError> {
        Ok(self
            .object_type("mcce_day")
            .map_err(|e| StoreError::sql(&self.path, e))?
            .is_some())
    }

    /// True when pwrApp would show `day` from this file.
    pub fn has_day(&self, day: &str) -> Result<bool, StoreError> {
        let f = |e| StoreError::sql(&self.path, e);
        if self.is_ours()? {
            let n: i64 = self
                .conn
                .query_row("SELECT count(*) FROM mcce_day WHERE day = ?1", [day], |r| {
                    r.get(0)
                })
                .map_err(f)?;
            return Ok(n > 0);
        }
        Ok(self.object_type(day).map_err(f)?.is_some())
    }

    /// The raw file `day` was digested from, as far as this file knows: for
    /// a day digested before `mcce_raw` existed, its skipped lines only.
    pub fn raw_file(&self, day: &str) -> Result<Option<RawFile>, StoreError> {
        let f = |e| StoreError::sql(&self.path, e);
        if self.object_type("mcce_raw").map_err(f)?.is_some() {
            let row = self
                .conn
                .query_row(
                    "SELECT bytes, lines, skipped FROM mcce_raw WHERE day = ?1",
                    [day],
                    |r| {
                        Ok(RawFile {
                            bytes: r.get::<_, Option<i64>>(0)?.map(|b| b as u64),
                            lines: r.get::<_, i64>(1)? as u64,
                            skipped: r.get::<_, i64>(2)? as u64,
                        })
                    },
                )
                .optional()
                .map_err(f)?;
            if row.is_some() {
                return Ok(row);
            }
        }
        if !self.is_ours()? {
            return Ok(None);
        }
        self.conn
            .query_row(
                "SELECT samples, skipped_lines FROM mcce_day WHERE day = ?1 AND skipped_lines IS NOT NULL",
                [day],
                |r| {
                    let samples: i64 = r.get::<_, Option<i64>>(0)?.unwrap_or(0);
                    let skipped: i64 = r.get(1)?;
                    Ok(RawFile {
                        bytes: None,
                        lines: (samples + skipped) as u64,
                        skipped: skipped as u64,
                    })
                },
            )
            .optional()
            .map_err(f)
    }

    /// Replaces `day` in one transaction: either the whole day is in the
    /// file afterwards, or the file is as it was.
    pub fn write_day(
        &mut self,
        day: &str,
        stats: &DayStats,
        raw: &RawFile,
        bucket_minutes: u32,
        buckets: &[Bucket],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let f = |e| StoreError::sql(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(f)?;
        migrate(&tx).map_err(f)?;
        tx.execute("DELETE FROM mcce_bucket WHERE day = ?1", [day])
            .map_err(f)?;
        insert_day(&tx, day, stats, raw, bucket_minutes).map_err(f)?;
        tx.execute_batch(RAW_SCHEMA).map_err(f)?;
        tx.execute(
            "INSERT OR REPLACE INTO mcce_raw (day, bytes, lines, skipped) VALUES (?1, ?2, ?3, ?4)",
            params![
                day,
                raw.bytes.map(|b| b as i64),
                raw.lines as i64,
                raw.skipped as i64
            ],
        )
        .map_err(f)?;
        insert_buckets(&tx, day, buckets).map_err(f)?;
        tx.execute_batch(&day_view(day)).map_err(f)?;
        tx.commit().map_err(f)
    }

    /// The first day this file holds, as [`Store::days`] reads them.
    pub fn first_day(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .days("0000-01-01", "9999-12-31")?
            .into_iter()
            .next()
            .map(|d| d.day))
    }

    /// Every stored day's energy in watt-hours (unrounded where the file
    /// keeps it; a day stored by the Python digest or by a layout without
    /// the figure: its kWh), with the size of the day file it was digested
    /// from when known. For a running lifetime total (`mcce publish`): one
    /// query a file.
    pub fn energies(&self) -> Result<Vec<StoredEnergy>, StoreError> {
        let f = |e| StoreError::sql(&self.path, e);
        let sql = if self.is_ours()? {
            let raw = if self.object_type("mcce_raw").map_err(f)?.is_some() {
                "(SELECT bytes FROM mcce_raw r WHERE r.day = d.day)"
            } else {
                "NULL"
            };
            format!(
                "SELECT {key}, coalesce(energy_wh, kwh * 1000), {raw} FROM mcce_day d ORDER BY 1",
                key = date_key("day")
            )
        } else if self.object_type("avg").map_err(f)?.is_some() {
            format!(
                "SELECT {key}, \"kWh\" * 1000, NULL FROM avg ORDER BY 1",
                key = date_key("\"index\"")
            )
        } else {
            return Ok(Vec::new());
        };
        let mut st = self.conn.prepare(&sql).map_err(f)?;
        let rows = st
            .query_map([], |r| {
                Ok(StoredEnergy {
                    day: r.get(0)?,
                    wh: r.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
                    raw_bytes: r.get::<_, Option<i64>>(2)?.map(|b| b.max(0) as u64),
                })
            })
            .map_err(f)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(f)
    }

    /// Days in `[from, to]` with their facts (legacy rows carry only kWh).
    pub fn days(&self, from: &str, to: &str) -> Result<Vec<DayRow>, StoreError> {
        let f = |e| StoreError::sql(&self.path, e);
        // Read-only callers see a file as it is: an older layout has no
        // `outside`/`duplicates`, and a converted or original file may still
        // carry pandas keys with a time part (reduced to the date here).
        let sql = if self.is_ours()? {
            let version: i64 = self
                .conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(f)?;
            let added = match version {
                ..2 => "NULL, NULL, NULL, NULL, NULL, NULL",
                2 => "outside, duplicates, NULL, NULL, NULL, NULL",
                _ => "outside, duplicates, free_seconds, tolerated_seconds, over_seconds, warnings",
            };
            format!(
                "SELECT {key}, kwh, coverage, samples, peak_w, peak_at, min_w, over_cap_seconds,
                        gaps, {added}
                 FROM mcce_day WHERE {key} BETWEEN ?1 AND ?2 ORDER BY 1",
                key = date_key("day")
            )
        } else if self.object_type("avg").map_err(f)?.is_some() {
            format!(
                "SELECT {key}, \"kWh\", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                        NULL, NULL, NULL, NULL
                 FROM avg WHERE substr(\"index\", 1, 10) BETWEEN ?1 AND ?2 ORDER BY 1",
                key = date_key("\"index\"")
            )
        } else {
            return Ok(Vec::new());
        };
        let mut st = self.conn.prepare(&sql).map_err(f)?;
        let rows = st.query_map([from, to], day_row).map_err(f)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(f)
    }

    /// A row that could not be handed on: the reader's output failed.
    fn output_failed(e: std::io::Error) -> StoreError {
        StoreError::new(Trouble::Output, format!("output: {e}"))
    }

    /// Buckets of days in `[from, to]`, in order, handed to `each`.
    pub fn buckets(
        &self,
        from: &str,
        to: &str,
        each: &mut dyn FnMut(BucketRow) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let f = |e| StoreError::sql(&self.path, e);
        if self.is_ours()? {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT day, start, label, mean_w, samples FROM mcce_bucket
                     WHERE day BETWEEN ?1 AND ?2 ORDER BY day, seq",
                )
                .map_err(f)?;
            let mut rows = stmt.query([from, to]).map_err(f)?;
            while let Some(r) = rows.next().map_err(f)? {
                let label: String = r.get(2).map_err(f)?;
                let start: Option<i64> = r.get(1).map_err(f)?;
                each(BucketRow {
                    day: r.get(0).map_err(f)?,
                    start: start.or_else(|| label_to_unix(&label)),
                    label,
                    mean_w: r.get(3).map_err(f)?,
                    samples: r.get(4).map_err(f)?,
                })
                .map_err(Self::output_failed)?;
            }
            return Ok(());
        }
        self.legacy_buckets(from, to, each)
    }

    /// [`Store::buckets`] from a file of the original layout: the per-day
    /// tables, read as pwrApp does.
    fn legacy_buckets(
        &self,
        from: &str,
        to: &str,
        each: &mut dyn FnMut(BucketRow) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let f = |e| StoreError::sql(&self.path, e);
        let mut names = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name BETWEEN ?1 AND ?2 ORDER BY name")
            .map_err(f)?;
        let days: Vec<String> = names
            .query_map([from, to], |r| r.get(0))
            .map_err(f)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(f)?
            .into_iter()
            .filter(|n| is_day_name(n))
            .collect();
        for day in days {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT \"index\", \"Wh\" FROM {} ORDER BY rowid",
                    ident(&day)
                ))
                .map_err(f)?;
            let mut rows = stmt.query([]).map_err(f)?;
            while let Some(r) = rows.next().map_err(f)? {
                let label: String = r.get(0).map_err(f)?;
                each(BucketRow {
                    day: day.clone(),
                    start: label_to_unix(&label),
                    label,
                    mean_w: r.get(1).map_err(f)?,
                    samples: None,
                })
                .map_err(Self::output_failed)?;
            }
        }
        Ok(())
    }
}

/// One row of `days`' query.
fn day_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DayRow> {
    Ok(DayRow {
        day: r.get(0)?,
        kwh: r.get(1)?,
        coverage: r.get(2)?,
        samples: r.get(3)?,
        peak_w: r.get(4)?,
        peak_at: r.get(5)?,
        min_w: r.get(6)?,
        over_cap_seconds: r.get(7)?,
        gaps: r.get(8)?,
        outside: r.get(9)?,
        duplicates: r.get(10)?,
        bands: match (r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?) {
            (Some(free), Some(tolerated), Some(over), Some(warnings)) => Some(BandSeconds {
                free,
                tolerated,
                over,
                warnings,
            }),
            _ => None,
        },
    })
}

/// One stored day's energy ([`Store::energies`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEnergy {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub wh: f64,
    /// The size of the day file it was digested from, when known.
    pub raw_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DayRow {
    pub day: String,
    pub kwh: f64,
    pub coverage: Option<f64>,
    pub samples: Option<i64>,
    pub peak_w: Option<i64>,
    pub peak_at: Option<String>,
    pub min_w: Option<i64>,
    pub over_cap_seconds: Option<i64>,
    pub gaps: Option<i64>,
    /// Samples stamped outside the day, and repeated stamps, that the
    /// digest left out (unknown for days stored before layout 2).
    pub outside: Option<i64>,
    pub duplicates: Option<i64>,
    /// Seconds per band and warnings, for a day digested with a contract.
    pub bands: Option<BandSeconds>,
}

/// The day's facts into `mcce_day`.
fn insert_day(
    tx: &rusqlite::Transaction<'_>,
    day: &str,
    stats: &DayStats,
    raw: &RawFile,
    bucket_minutes: u32,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO mcce_day (day, kwh, energy_wh, coverage, samples, peak_w, peak_at,
             min_w, over_cap_seconds, gaps, skipped_lines, bucket_minutes, source, outside,
             duplicates, free_seconds, tolerated_seconds, over_seconds, warnings)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'mcce', ?13, ?14, ?15, ?16,
             ?17, ?18)",
        params![
            day,
            stats.kwh(),
            stats.energy_wh,
            (stats.coverage() * 10_000.0).round() / 10_000.0,
            stats.samples as i64,
            stats.peak.map(|p| i64::from(p.watts)),
            stats.peak.map(|p| local_label(p.ts)),
            stats.min_watts.map(i64::from),
            stats.over_cap_seconds,
            i64::from(stats.gaps),
            raw.skipped as i64,
            i64::from(bucket_minutes),
            stats.outside as i64,
            stats.duplicates as i64,
            stats.bands.map(|b| b.free),
            stats.bands.map(|b| b.tolerated),
            stats.bands.map(|b| b.over),
            stats.bands.map(|b| i64::from(b.warnings)),
        ],
    )?;
    Ok(())
}

/// The day's buckets into `mcce_bucket`.
fn insert_buckets(
    tx: &rusqlite::Transaction<'_>,
    day: &str,
    buckets: &[Bucket],
) -> rusqlite::Result<()> {
    let mut ins = tx.prepare(
        "INSERT INTO mcce_bucket (day, seq, start, label, mean_w, samples)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for b in buckets {
        ins.execute(params![
            day,
            i64::from(b.index),
            b.start,
            local_label(b.start),
            b.mean_watts,
            i64::from(b.samples)
        ])?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct BucketRow {
    pub day: String,
    pub start: Option<i64>,
    pub label: String,
    pub mean_w: f64,
    pub samples: Option<i64>,
}

/// A local `YYYY-MM-DD HH:MM:SS` label back to Unix time (the earlier
/// instant when the label is ambiguous); for files without stored starts.
pub fn label_to_unix(label: &str) -> Option<i64> {
    let date = crate::core::calendar::parse_date(label.get(0..10)?)?;
    let t = label.get(11..19)?;
    let mut parts = t.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    let naive = days_from_civil(
        date.year(),
        u8::from(date.month()) as u32,
        u32::from(date.day()),
    ) * 86_400
        + h * 3600
        + m * 60
        + s;
    Some(unix_of_local(naive).unwrap_or_else(|| naive - i64::from(offset_at(naive - 86_400))))
}

/// Brings the file to our layout inside the caller's transaction. Values of
/// older layouts are carried over unchanged, except that day keys become
/// plain `YYYY-MM-DD` dates.
fn migrate(tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= LAYOUT_VERSION {
        return Ok(());
    }
    if version == 0 {
        convert_python(tx)?;
    } else {
        let have: Vec<String> = {
            let mut st = tx.prepare("SELECT name FROM pragma_table_info('mcce_day')")?;
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?
        };
        for (name, ty) in ADDED_DAY_COLUMNS {
            if !have.iter().any(|h| h == name) {
                tx.execute_batch(&format!("ALTER TABLE mcce_day ADD COLUMN {name} {ty}"))?;
            }
        }
    }
    // A key with a time part gives way to the same day's plain key (a day
    // digested again after conversion); the others lose their time part.
    let key = date_key("day");
    tx.execute_batch(&format!(
        "DELETE FROM mcce_day WHERE day <> {key} AND {key} IN (SELECT day FROM mcce_day);
         UPDATE OR REPLACE mcce_day SET day = {key} WHERE day <> {key};"
    ))?;
    tx.execute_batch(AVG_VIEW)?;
    tx.execute_batch(&format!("PRAGMA user_version = {LAYOUT_VERSION}"))?;
    Ok(())
}

/// Converts a file of the original Python digest (real tables `avg` and
/// `"YYYY-MM-DD"`), or sets up an empty one.
fn convert_python(tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    let legacy_tables: Vec<String> = {
        let mut st = tx.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
        st.query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?
    };
    tx.execute_batch(SCHEMA)?;
    for name in legacy_tables.iter().filter(|n| is_day_name(n)) {
        tx.execute(
            &format!(
                "INSERT OR REPLACE INTO mcce_bucket (day, seq, start, label, mean_w, samples)
                 SELECT ?1, row_number() OVER (ORDER BY rowid) - 1, NULL, \"index\", \"Wh\", NULL FROM {}",
                ident(name)
            ),
            [name],
        )?;
        tx.execute_batch(&format!("DROP TABLE {}", ident(name)))?;
        tx.execute_batch(&day_view(name))?;
    }
    if legacy_tables.iter().any(|n| n == "avg") {
        tx.execute(
            "INSERT OR REPLACE INTO mcce_day (day, kwh, source) SELECT \"index\", \"kWh\", 'python' FROM avg",
            [],
        )?;
        tx.execute_batch("DROP TABLE avg")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only `<prefix>.<four digits>` names a yearly database; journals,
    /// backups and other prefixes in the same directory do not.
    #[test]
    fn years_lists_the_database_files_oldest_first() {
        let dir = std::env::temp_dir().join(format!("mcce-store-years-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = Config {
            database_url: dir.join("pwr"),
            ..Config::default()
        };
        assert_eq!(years(&cfg), Vec::<i32>::new());
        for name in [
            "pwr.2031",
            "pwr.1987",
            "pwr.2024",
            "pwr.2024-journal",
            "pwr.20245",
            "pwr.abcd",
            "pwr.2023.bak",
            "pwrx.2020",
            "other.2021",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        assert_eq!(years(&cfg), vec![1987, 2024, 2031]);
        let missing = Config {
            database_url: dir.join("nowhere/pwr"),
            ..Config::default()
        };
        assert_eq!(years(&missing), Vec::<i32>::new());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Ours: the unrounded figure and the raw file's size; the Python
    /// digest's: its kWh; both with pandas keys reduced to the date.
    #[test]
    fn energies_of_every_stored_day() {
        let dir = std::env::temp_dir().join(format!("mcce-store-energies-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let python = Connection::open(dir.join("pwr.2019")).unwrap();
        python
            .execute_batch(
                "CREATE TABLE avg (\"index\" TEXT, \"kWh\" REAL);
                 INSERT INTO avg VALUES ('2019-03-01 00:00:00', 7.25), ('2019-03-02', 0.5);",
            )
            .unwrap();
        let s = Store::open_read(&dir.join("pwr.2019"), Duration::ZERO).unwrap();
        let got: Vec<(String, f64, Option<u64>)> = s
            .energies()
            .unwrap()
            .into_iter()
            .map(|e| (e.day, e.wh, e.raw_bytes))
            .collect();
        assert_eq!(
            got,
            [
                ("2019-03-01".to_string(), 7250.0, None),
                ("2019-03-02".to_string(), 500.0, None)
            ]
        );
        let mut s = Store::open(&dir.join("pwr.2025"), Duration::ZERO).unwrap();
        let stats = DayStats {
            energy_wh: 12_345.678,
            ..DayStats::default()
        };
        let raw = RawFile {
            bytes: Some(270_000),
            lines: 17_280,
            skipped: 0,
        };
        s.write_day("2025-01-15", &stats, &raw, 15, &[]).unwrap();
        let e = s.energies().unwrap();
        assert_eq!(
            e,
            [StoredEnergy {
                day: "2025-01-15".into(),
                wh: 12_345.678,
                raw_bytes: Some(270_000)
            }]
        );
        let empty = Store::open(&dir.join("pwr.2026"), Duration::ZERO).unwrap();
        assert_eq!(empty.energies().unwrap(), []);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
