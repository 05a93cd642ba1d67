//! `mcce digest`: turn raw day files into the yearly databases. Without a
//! date it catches up on every complete day not yet stored, so a box that
//! was off at midnight, or a cron run that never fired, loses nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use time::Date;

use crate::config::Config;
use crate::daylog::{LEGACY_PERIOD_SECONDS, day_path, list_days, read_day};
use crate::energy::{DayParams, digest_day};
use crate::exit::{self, Failure, Outcome};
use crate::localtime::{date_name, days_of, local_date, local_day_bounds, local_label};
use crate::store::Store;

/// Keeps one open database per year while a catch-up runs.
struct Stores<'a> {
    cfg: &'a Config,
    open: BTreeMap<i32, Store>,
}

impl Stores<'_> {
    fn get(&mut self, year: i32) -> Result<&mut Store, Failure> {
        if !self.open.contains_key(&year) {
            let busy = Duration::from_secs(u64::from(self.cfg.db_busy_timeout_seconds));
            let s = Store::open(&self.cfg.database_for_year(year), busy)?;
            self.open.insert(year, s);
        }
        Ok(self.open.get_mut(&year).expect("inserted above"))
    }

    /// Whether `date` is stored, without creating a file that is not there
    /// (pwrApp would choke on an empty database).
    fn has_day(&mut self, date: Date) -> Result<bool, Failure> {
        if !self.open.contains_key(&date.year())
            && !self.cfg.database_for_year(date.year()).exists()
        {
            return Ok(false);
        }
        self.get(date.year())?.has_day(&date_name(date))
    }
}

/// Digests one day into its year's database, replacing what was there.
/// Returns the line to print.
fn digest_one(cfg: &Config, stores: &mut Stores<'_>, date: Date) -> Result<String, Failure> {
    let name = date_name(date);
    let path = day_path(&cfg.days_dir(), date);
    let (start, end) = local_day_bounds(date);
    let (samples, read) = read_day(&path, start).map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            exit::NOINPUT
        } else {
            exit::IOERR
        };
        Failure::new(
            code,
            format!("{}: cannot read the day file: {e}", path.display()),
        )
    })?;
    let params = DayParams {
        start,
        end,
        poll_seconds: if read.legacy {
            LEGACY_PERIOD_SECONDS as u32
        } else {
            cfg.poll_seconds
        },
        max_gap_seconds: cfg.max_gap_seconds,
        cap_watts: cfg.alarm_watts,
        bucket_seconds: cfg.min_time_res * 60,
    };
    let (stats, buckets) = digest_day(&samples, &params);
    if stats.energy_wh <= 0.0 {
        return Err(Failure::new(
            exit::DATAERR,
            format!(
                "{name}: zero energy ({} samples in {}, {} lines skipped): not written",
                stats.samples,
                path.display(),
                read.skipped
            ),
        ));
    }
    let store = stores.get(date.year())?;
    store.write_day(&name, &stats, read.skipped, cfg.min_time_res, &buckets)?;
    let peak = stats
        .peak
        .map(|p| format!(", peak {} W at {}", p.watts, &local_label(p.ts)[11..]))
        .unwrap_or_default();
    Ok(format!(
        "{name}: {:.2} kWh, {:.1} % covered, {} samples{peak}, {} gap(s), {} line(s) skipped, \
         {} outside the day, {} repeated stamp(s){} -> {}",
        stats.kwh(),
        stats.coverage() * 100.0,
        stats.samples,
        stats.gaps,
        read.skipped,
        stats.outside,
        stats.duplicates,
        if read.legacy { ", legacy file" } else { "" },
        store.path().display()
    ))
}

/// `mcce digest [--date D]` with `today` the current local date.
pub fn digest(cfg: &Config, date: Option<Date>, today: Date) -> Outcome {
    let mut stores = Stores {
        cfg,
        open: BTreeMap::new(),
    };
    let days_dir = cfg.days_dir();
    let todo: Vec<Date> = match date {
        Some(d) => vec![d],
        None => {
            let all = list_days(&days_dir).map_err(|e| {
                Failure::new(
                    exit::IOERR,
                    format!("{}: cannot list day files: {e}", days_dir.display()),
                )
            })?;
            let mut todo = Vec::new();
            for d in all.into_iter().filter(|d| *d < today) {
                if !stores.has_day(d)? {
                    todo.push(d);
                }
            }
            if todo.is_empty() {
                crate::outln!(
                    "nothing to digest: every complete day in {} is stored",
                    days_dir.display()
                );
            }
            todo
        }
    };
    let mut first_failure: Option<Failure> = None;
    for d in todo {
        match digest_one(cfg, &mut stores, d) {
            Ok(line) => crate::outln!("{line}"),
            Err(f) => {
                // Busy or broken databases stop the run; a bad day does not
                // keep the other days from being stored.
                let fatal = matches!(f.code, exit::TEMPFAIL | exit::IOERR | exit::CANTCREAT);
                eprintln!("mcce: {f}");
                if fatal {
                    return Err(Failure::new(
                        f.code,
                        "digest stopped; days before it are stored",
                    ));
                }
                first_failure.get_or_insert(f);
            }
        }
    }
    prune(cfg, &mut stores, today)?;
    match first_failure {
        Some(f) => Err(Failure::new(
            f.code,
            "some days were not digested (see above)",
        )),
        None => Ok(()),
    }
}

/// Removes raw day files older than `KEEP_RAW_DAYS`, but only those whose
/// day is stored: a raw file is never the last copy of a day lost.
fn prune(cfg: &Config, stores: &mut Stores<'_>, today: Date) -> Outcome {
    if cfg.keep_raw_days == 0 {
        return Ok(());
    }
    let oldest_kept = days_of(today) - i64::from(cfg.keep_raw_days);
    let days = list_days(&cfg.days_dir()).unwrap_or_default();
    for d in days.into_iter().filter(|d| days_of(*d) < oldest_kept) {
        if stores.has_day(d)? {
            let p = day_path(&cfg.days_dir(), d);
            match std::fs::remove_file(&p) {
                Ok(()) => crate::outln!(
                    "removed {} (digested, older than {} days)",
                    p.display(),
                    cfg.keep_raw_days
                ),
                Err(e) => eprintln!("mcce: {}: cannot remove: {e}", p.display()),
            }
        }
    }
    Ok(())
}

/// Today's local date from the wall clock.
pub fn today() -> Date {
    local_date(crate::clock::system_wall())
}
