//! The history's energy for the lifetime total (rules in [`super::total`]):
//! the stored days from the yearly databases, the day files of days before
//! today (not digested yet, or changed since), and today's file, each read
//! only when it changed.
//!
//! A pass over the past days lists the day files, then reads the
//! databases, then each file whose day is not stored from the file as it
//! is (a stored day whose file has the size it was digested at has the
//! stored figure, and the file is not read: with `KEEP_RAW_DAYS=0` there
//! is a file per day since the box started). The digest stores a day
//! before it prunes the day's file, so a file listed and then gone was
//! stored meanwhile, and the pass is made again. A pass runs when the
//! date changes, when the days directory or a database changed, and every
//! ten minutes (a past file that grew: samples that came late); between
//! passes only today's file is read, from where the last read stopped.
//!
//! A pass that fails (a database locked by the digest past its busy
//! timeout, a file that cannot be read) leaves the last complete figures
//! in place and says why: a sum with a part missing would be lower, and
//! then higher again, which Home Assistant would count as consumption.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::total::{Day, day_wh, lifetime_wh};
use crate::adapters::daylog::{day_path, list_days};
use crate::adapters::localtime::local_day_bounds;
use crate::adapters::store::{self, Store};
use crate::adapters::sys::run_apart;
use crate::core::calendar::{Date, days_of, parse_date};
use crate::core::config::Config;
use crate::processes::view::running_facts;

/// The files of days not stored from them are read on this often
/// (seconds).
const FILES_EVERY: i64 = 600;

/// The days directory and the databases are looked at this often
/// (seconds), and when the date changes.
const LOOK_EVERY: i64 = 15;

/// How many times a pass is made again when a file it listed went away.
const PASS_TRIES: u32 = 3;

/// A file's identity and state: what says it changed.
type Stamp = (u64, u64, u64, i64, i64);

fn stamp(m: &std::fs::Metadata) -> Stamp {
    (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec())
}

#[derive(Default)]
pub(crate) struct History {
    /// Stored figures (Wh) of days other than today.
    stored: BTreeMap<Day, f64>,
    /// Today's stored figure (the clock was ahead when the digest ran).
    stored_today: Option<f64>,
    /// Past day files' figures (Wh, to the day's end), for days whose file
    /// is not the one stored.
    files: BTreeMap<Day, f64>,
    /// The sum of every day but today, by [`lifetime_wh`]'s rule: a reading
    /// adds today's figure to it.
    past_wh: f64,
    /// What the last complete pass saw: the date, the days directory, and
    /// each database file.
    seen: Option<Seen>,
    /// When the files were last read, and when the directories were last
    /// looked at (wall seconds).
    read_at: i64,
    looked_at: i64,
}

#[derive(PartialEq)]
struct Seen {
    today: Date,
    days_dir: Option<Stamp>,
    dbs: Vec<(PathBuf, Option<Stamp>)>,
}

impl History {
    /// Brings the past days up to date for `today` at wall time `now`
    /// (nothing is read when nothing changed); the error says what could
    /// not be read, the last complete figures staying in place.
    pub(crate) fn refresh(&mut self, cfg: &Config, today: Date, now: i64) -> Result<(), String> {
        let since = |t: i64| now.saturating_sub(t).unsigned_abs();
        let same_day = self.seen.as_ref().is_some_and(|s| s.today == today);
        if same_day && since(self.looked_at) < LOOK_EVERY as u64 {
            return Ok(());
        }
        self.looked_at = now;
        let seen = look(cfg, today);
        let due = since(self.read_at) >= FILES_EVERY as u64;
        if self.seen.as_ref() == Some(&seen) {
            if due {
                self.read_files(cfg)?;
                self.read_at = now;
            }
            return Ok(());
        }
        for _ in 0..PASS_TRIES {
            if let Some((mut stored, files)) = pass_apart(cfg, today)? {
                self.stored_today = stored.remove(&days_of(today));
                self.stored = stored;
                self.files = files;
                self.past_wh = lifetime_wh(&self.stored, &self.files);
                // What was seen before the pass: a change during it makes
                // the next refresh pass again.
                self.seen = Some(seen);
                self.read_at = now;
                return Ok(());
            }
        }
        Err(format!(
            "{}: day files kept going away while they were read",
            cfg.days_dir().display()
        ))
    }

    /// The files of days not stored from them, read on from where the
    /// last read stopped; a file gone is left to the next pass (the digest
    /// stored its day first, and changed the database).
    fn read_files(&mut self, cfg: &Config) -> Result<(), String> {
        for (day, wh) in self.files.iter_mut() {
            let date = crate::core::calendar::date_from_days(*day);
            let (_, end) = local_day_bounds(date);
            if let Some(st) = running_facts(cfg, date, end).map_err(|e| e.to_string())? {
                *wh = st.energy_wh;
            }
        }
        self.past_wh = lifetime_wh(&self.stored, &self.files);
        Ok(())
    }

    /// Whether a pass completed: the past days are known.
    pub(crate) fn is_known(&self) -> bool {
        self.seen.is_some()
    }

    /// The lifetime sum, today's file counting `today_wh`.
    pub(crate) fn sum_wh(&self, today_wh: Option<f64>) -> f64 {
        self.past_wh + day_wh(self.stored_today, today_wh)
    }
}

/// Today's figure: measured to its latest sample (see [`super::total`]);
/// `None` without a file.
pub(crate) fn today_wh(cfg: &Config, today: Date) -> Result<Option<f64>, String> {
    let (start, _) = local_day_bounds(today);
    running_facts(cfg, today, start)
        .map(|f| f.map(|st| st.energy_wh))
        .map_err(|e| e.to_string())
}

/// The date, the days directory and each database file as they are now.
fn look(cfg: &Config, today: Date) -> Seen {
    let meta = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| stamp(&m));
    Seen {
        today,
        days_dir: meta(&cfg.days_dir()),
        dbs: store::years(cfg)
            .into_iter()
            .map(|y| {
                let p = cfg.database_for_year(y);
                let s = meta(&p);
                (p, s)
            })
            .collect(),
    }
}

/// Stored figures (Wh) and past files' figures, by day.
type Figures = (BTreeMap<Day, f64>, BTreeMap<Day, f64>);

/// [`pass`] in a child process: the yearly databases are read by SQLite,
/// whose code and schema (a table a day: over half a megabyte for a year)
/// would otherwise stay resident in the publisher for good, for a pass
/// made once a day. The child's figures come back exactly (as the bits of
/// each `f64`).
fn pass_apart(cfg: &Config, today: Date) -> Result<Option<Figures>, String> {
    let answer = run_apart(|| encode(&pass(cfg, today)))
        .map_err(|e| format!("the pass over the past days: {e}"))?;
    decode(&answer)
        .unwrap_or_else(|| Err("the pass over the past days: its answer was cut short".into()))
}

/// A pass's answer as lines: `s DAY BITS` (stored) and `f DAY BITS`
/// (files), then `end`; `gone` (a listed file went away); or `err WHY`.
fn encode(answer: &Result<Option<Figures>, String>) -> Vec<u8> {
    use std::fmt::Write;
    let mut out = String::new();
    match answer {
        Err(why) => out = format!("err {why}"),
        Ok(None) => out.push_str("gone"),
        Ok(Some((stored, files))) => {
            for (kind, map) in [("s", stored), ("f", files)] {
                for (day, wh) in map {
                    let _ = writeln!(out, "{kind} {day} {:x}", wh.to_bits());
                }
            }
            out.push_str("end");
        }
    }
    out.into_bytes()
}

/// The answer [`encode`] wrote; `None` when it is not whole.
fn decode(bytes: &[u8]) -> Option<Result<Option<Figures>, String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if let Some(why) = text.strip_prefix("err ") {
        return Some(Err(why.to_string()));
    }
    if text == "gone" {
        return Some(Ok(None));
    }
    let (mut stored, mut files) = (BTreeMap::new(), BTreeMap::new());
    let mut lines = text.split('\n');
    for line in lines.by_ref() {
        if line == "end" {
            return lines.next().is_none().then_some(Ok(Some((stored, files))));
        }
        let mut f = line.split(' ');
        let (kind, day, bits) = (f.next()?, f.next()?, f.next()?);
        let day: Day = day.parse().ok()?;
        let wh = f64::from_bits(u64::from_str_radix(bits, 16).ok()?);
        match kind {
            "s" => stored.insert(day, wh),
            "f" => files.insert(day, wh),
            _ => return None,
        };
    }
    None
}

/// One pass over the past days; `None` when a listed file went away.
fn pass(cfg: &Config, today: Date) -> Result<Option<Figures>, String> {
    let days_dir = cfg.days_dir();
    let listed = match list_days(&days_dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", days_dir.display())),
    };
    let mut stored = BTreeMap::new();
    let mut raw = BTreeMap::new();
    for y in store::years(cfg) {
        let Some(db) = Store::read_year(cfg, y).map_err(|e| e.to_string())? else {
            continue;
        };
        for e in db.energies().map_err(|e| e.to_string())? {
            if let Some(d) = parse_date(&e.day) {
                stored.insert(days_of(d), e.wh);
                raw.insert(days_of(d), e.raw_bytes);
            }
        }
    }
    let mut files = BTreeMap::new();
    for date in listed.into_iter().filter(|d| *d != today) {
        let path = day_path(&days_dir, date);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let day = days_of(date);
        // Stored from this very file, or before sizes were kept (the digest
        // never stores such a day again): the stored figure stands.
        if raw.get(&day).is_some_and(|r| r.is_none_or(|r| r == size)) {
            continue;
        }
        let (_, end) = local_day_bounds(date);
        match running_facts(cfg, date, end).map_err(|e| e.to_string())? {
            Some(st) => {
                files.insert(day, st.energy_wh);
            }
            None => return Ok(None),
        }
    }
    Ok(Some((stored, files)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_s_answer_comes_back_whole_or_not_at_all() {
        let stored: BTreeMap<Day, f64> = [(20_000, 1234.5678), (20_001, 0.1 + 0.2)].into();
        let files: BTreeMap<Day, f64> = [(-3, f64::NAN), (20_002, 7.0)].into();
        let whole = encode(&Ok(Some((stored.clone(), files.clone()))));
        let Some(Ok(Some((s, f)))) = decode(&whole) else {
            panic!("{:?}", String::from_utf8_lossy(&whole));
        };
        assert_eq!(s, stored, "exactly, to the last bit");
        assert_eq!(f.len(), 2);
        assert!(f[&-3].is_nan() && f[&20_002] == 7.0);
        for cut in 0..whole.len() {
            assert!(decode(&whole[..cut]).is_none(), "cut at {cut}");
        }
        assert_eq!(decode(&encode(&Ok(None))), Some(Ok(None)));
        let why = "pwr.2026: database is locked".to_string();
        assert_eq!(decode(&encode(&Err(why.clone()))), Some(Err(why)));
        let empty = encode(&Ok(Some((BTreeMap::new(), BTreeMap::new()))));
        assert_eq!(
            decode(&empty),
            Some(Ok(Some((BTreeMap::new(), BTreeMap::new()))))
        );
    }
}
