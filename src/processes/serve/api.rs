//! The JSON endpoints and the CSV download. Readers only: the status file,
//! the day files, the yearly databases opened read-only.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use crate::core::calendar::Date;

use crate::adapters::clock::system_wall;
use crate::adapters::daylog::{collect_day, day_path, list_days, open_day_file};
use crate::adapters::http::{Body, Request, Response};
use crate::adapters::localtime::{local_date, local_day_bounds, local_label};
use crate::adapters::status::ContractStatus;
use crate::adapters::store::{DayRow, Store, StoreError, Trouble};
use crate::core::calendar::{date_name, parse_date};
use crate::core::config::Config;
use crate::core::energy::{DayStats, Sample, digest_day, measure};
use crate::core::json;
use crate::processes::export::{ExportError, Format, Resolution};
use crate::processes::view::{DayFileError, day_params, live, measured_until, running_facts};

const JSON: &str = "application/json";

/// Longest wait for a database lock: short, the page can ask again.
const BUSY: Duration = Duration::from_secs(2);

fn json(body: Vec<u8>) -> Response {
    Response::new(200, JSON, Body::Bytes(body)).header("Cache-Control", "no-store")
}

/// `/api/now`: the live reading and states, from the status file alone (it
/// is asked every few seconds by every open page).
pub(super) fn now(cfg: &Config) -> Response {
    let l = live(cfg);
    let mut o = Vec::with_capacity(256);
    let daemon = match (&l.status, l.running) {
        (None, _) => "absent",
        (Some(_), true) => "running",
        (Some(_), false) => "stale",
    };
    let s = l.status.as_ref();
    let reading = s.and_then(|s| s.last_reading);
    let _ = write!(
        o,
        "{{\"now\":{},\"daemon\":\"{daemon}\",\"updated\":",
        l.now
    );
    json::push_opt(&mut o, s.map(|s| s.updated));
    o.extend_from_slice(b",\"watts\":");
    json::push_opt(&mut o, reading.map(|r| r.watts));
    o.extend_from_slice(b",\"reading_at\":");
    json::push_opt(&mut o, reading.map(|r| r.ts));
    o.extend_from_slice(b",\"meter\":");
    match s {
        Some(s) => json::push_str(&mut o, s.meter.word()),
        None => o.extend_from_slice(b"null"),
    }
    o.extend_from_slice(b",\"alarm\":");
    match s {
        Some(s) => json::push_str(&mut o, s.alarm.word()),
        None => o.extend_from_slice(b"null"),
    }
    push_contract(&mut o, cfg, s.and_then(|s| s.contract), l.now);
    let _ = writeln!(
        o,
        ",\"recording\":{},\"alarm_watts\":{},\"poll_seconds\":{},\"today\":\"{}\"}}",
        l.recording,
        cfg.alarm_watts,
        cfg.poll_seconds,
        date_name(local_date(l.now))
    );
    json(o)
}

/// The contract alarm's fields of `/api/now`, all `null` in single-threshold
/// mode (or before the daemon published a band): the band and since when,
/// seconds in it, the predicted trip, the warning, since when the state is
/// as of an older reading, and the contract's limits from the config.
fn push_contract(o: &mut Vec<u8>, cfg: &Config, c: Option<ContractStatus>, now: i64) {
    o.extend_from_slice(b",\"band\":");
    match c {
        Some(c) => json::push_str(o, c.band.name()),
        None => o.extend_from_slice(b"null"),
    }
    o.extend_from_slice(b",\"band_since\":");
    json::push_opt(o, c.map(|c| c.band_since));
    o.extend_from_slice(b",\"band_seconds\":");
    json::push_opt(o, c.map(|c| now.saturating_sub(c.band_since).max(0)));
    o.extend_from_slice(b",\"trip_in_seconds\":");
    json::push_opt(o, c.and_then(|c| c.trip_in_seconds));
    o.extend_from_slice(b",\"warning\":");
    match c {
        Some(c) => json::push_str(o, c.warning.name()),
        None => o.extend_from_slice(b"null"),
    }
    o.extend_from_slice(b",\"band_stale_since\":");
    json::push_opt(o, c.and_then(|c| c.stale_since));
    let limits = cfg.trip.settings().filter(|_| c.is_some());
    o.extend_from_slice(b",\"contract_watts\":");
    json::push_opt(o, limits.map(|s| s.contract_watts));
    o.extend_from_slice(b",\"free_limit_watts\":");
    json::push_opt(o, limits.map(|s| s.free_limit_watts()));
    o.extend_from_slice(b",\"short_limit_watts\":");
    json::push_opt(o, limits.map(|s| s.short_limit_watts()));
}

fn bad(msg: String) -> Response {
    Response::error(400, &msg)
}

fn date_param(req: &Request, name: &str) -> Result<Option<Date>, Response> {
    match req.param(name) {
        None | Some("") => Ok(None),
        Some(v) => parse_date(v)
            .map(Some)
            .ok_or_else(|| bad(format!("{name}: expected a date YYYY-MM-DD"))),
    }
}

/// 503 while the digest holds the year's database: the client may retry.
fn busy(message: &str) -> Response {
    Response::error(
        503,
        &format!("{message} (the digest is writing; try again)"),
    )
    .header("Retry-After", "1")
}

fn export_response(e: ExportError) -> Response {
    match e {
        ExportError::Store(e) => store_response(e),
        ExportError::Io(message) => Response::error(500, &message),
    }
}

fn store_response(e: crate::adapters::store::StoreError) -> Response {
    match e.trouble {
        crate::adapters::store::Trouble::Busy => busy(&e.message),
        _ => Response::error(500, &e.message),
    }
}

fn open_year(cfg: &Config, year: i32) -> Result<Option<Store>, StoreError> {
    Store::read_year_within(cfg, year, BUSY)
}

/// A file a view could not read and went on without (a damaged database,
/// a day file that is a directory or a device): the others still count,
/// and the answer names it.
struct Skipped {
    file: PathBuf,
    error: String,
}

/// Whether a view goes on without the year's database after `e`: not
/// while the digest holds it (503, the client may retry), otherwise yes,
/// and `e` is noted in `skipped`.
fn skip_database(
    cfg: &Config,
    year: i32,
    e: StoreError,
    skipped: &mut Vec<Skipped>,
) -> Result<(), Response> {
    if matches!(e.trouble, Trouble::Busy) {
        return Err(store_response(e));
    }
    skipped.push(Skipped {
        file: cfg.database_for_year(year),
        error: e.message,
    });
    Ok(())
}

/// `,"skipped":[{"file":...,"error":...},...]`.
fn push_skipped(o: &mut Vec<u8>, skipped: &[Skipped]) {
    o.extend_from_slice(b",\"skipped\":[");
    for (i, s) in skipped.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"file\":");
        json::push_str(o, &s.file.to_string_lossy());
        o.extend_from_slice(b",\"error\":");
        json::push_str(o, &s.error);
        o.push(b'}');
    }
    o.push(b']');
}

/// True while the digest has a write transaction open on `year`'s file
/// (its rollback journal exists): what we read may be replaced shortly.
fn digest_running(cfg: &Config, year: i32) -> bool {
    let mut p = cfg.database_for_year(year).into_os_string();
    p.push("-journal");
    PathBuf::from(p).exists()
}

/// A day file that exists but can't be read: the path, so whoever runs the
/// server can look at its permissions or the disk.
fn day_file_error(path: &std::path::Path, error: std::io::Error) -> Response {
    let e = DayFileError {
        path: path.to_path_buf(),
        error,
    };
    Response::error(500, &e.to_string())
}

/// The samples of `date`'s day file that belong to the day (one per
/// second at most, as the digest keeps them), `None` when there is no file.
fn day_file(cfg: &Config, date: Date) -> Result<Option<Vec<Sample>>, Response> {
    let path = day_path(&cfg.days_dir(), date);
    let (start, end) = local_day_bounds(date);
    let fail = |e: std::io::Error| day_file_error(&path, e);
    let (file, meta) = match open_day_file(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let (day, _) = collect_day(file, meta.len(), start, end).map_err(fail)?;
    Ok(Some(day.into_samples()))
}

/// Facts and buckets of a day from its samples, by the digest's rule; a
/// day still running ends now.
fn day_stats(
    cfg: &Config,
    date: Date,
    samples: &[Sample],
    now: i64,
) -> (DayStats, Vec<crate::core::energy::Bucket>) {
    digest_day(samples, &day_params(cfg, date, measured_until(date, now)))
}

fn push_stats(o: &mut Vec<u8>, st: &DayStats) {
    o.extend_from_slice(b"\"kwh\":");
    json::push_num(o, st.kwh());
    o.extend_from_slice(b",\"coverage\":");
    json::push_num(o, (st.coverage() * 10_000.0).round() / 10_000.0);
    let _ = write!(o, ",\"samples\":{},\"peak_w\":", st.samples);
    json::push_opt(o, st.peak.map(|p| p.watts));
    o.extend_from_slice(b",\"peak_at\":");
    match st.peak {
        Some(p) => json::push_str(o, &local_label(p.ts)),
        None => o.extend_from_slice(b"null"),
    }
    let _ = write!(
        o,
        ",\"over_cap_seconds\":{},\"gaps\":{}",
        st.over_cap_seconds, st.gaps
    );
}

/// `/api/day/YYYY-MM-DD?resolution=raw|bucket`: `t` (Unix seconds) and `w`
/// (watts) as two arrays, the shape a chart wants.
pub(super) fn day(cfg: &Config, name: &str, req: &Request) -> Result<Response, Response> {
    let date = parse_date(name).ok_or_else(|| Response::error(404, "no such page"))?;
    let now = system_wall();
    let raw = match req.param("resolution") {
        None | Some("") | Some("raw") => true,
        Some("bucket") => false,
        Some(_) => return Err(bad("resolution: expected raw or bucket".into())),
    };
    let (start, end) = local_day_bounds(date);
    let mut head = Vec::with_capacity(512);
    let _ = write!(
        head,
        "{{\"date\":\"{}\",\"resolution\":\"{}\",\"start\":{start},\"end\":{end},",
        date_name(date),
        if raw { "raw" } else { "bucket" }
    );
    if raw {
        raw_day(cfg, date, now, head)
    } else {
        bucket_day(cfg, date, now, head)
    }
}

/// A day's buckets: the digest's, or computed the same way from a day file
/// not digested yet (today); `head` first.
fn bucket_day(cfg: &Config, date: Date, now: i64, mut head: Vec<u8>) -> Result<Response, Response> {
    let running = digest_running(cfg, date.year());
    let mut t: Vec<i64> = Vec::new();
    let mut w: Vec<f64> = Vec::new();
    let mut skipped = Vec::new();
    let stored = match stored_buckets(cfg, date, &mut t, &mut w) {
        Ok(row) => row,
        Err(e) => {
            // A damaged database: the day file, if there is one, instead.
            let damaged = Response::error(500, &e.message);
            skip_database(cfg, date.year(), e, &mut skipped)?;
            if !day_path(&cfg.days_dir(), date).exists() {
                return Err(damaged);
            }
            t.clear();
            w.clear();
            None
        }
    };
    match stored {
        Some(row) => push_row(&mut head, &row),
        None => {
            let (st, buckets) = {
                // The day's samples, and the digest's copy of them, are
                // held by at most as many requests as raw renders.
                let _permit = RENDERS.take();
                let Some(samples) = day_file(cfg, date)? else {
                    return Err(Response::error(
                        404,
                        &format!("no data for {}", date_name(date)),
                    ));
                };
                day_stats(cfg, date, &samples, now)
            };
            head.extend_from_slice(b"\"source\":\"day file\",");
            push_stats(&mut head, &st);
            for b in buckets {
                t.push(b.start);
                w.push(b.mean_watts);
            }
        }
    }
    push_skipped(&mut head, &skipped);
    let _ = write!(
        head,
        ",\"bucket_minutes\":{},\"digest_running\":{running},\"t\":[",
        cfg.min_time_res
    );
    for (i, x) in t.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        let _ = write!(head, "{x}");
    }
    head.extend_from_slice(b"],\"w\":[");
    for (i, x) in w.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        json::push_num(&mut head, *x);
    }
    head.extend_from_slice(b"]}\n");
    Ok(json(head))
}

/// The digest's row and buckets of `date` (into `t` and `w`), if stored.
fn stored_buckets(
    cfg: &Config,
    date: Date,
    t: &mut Vec<i64>,
    w: &mut Vec<f64>,
) -> Result<Option<DayRow>, StoreError> {
    let Some(store) = open_year(cfg, date.year())? else {
        return Ok(None);
    };
    let n = date_name(date);
    let rows = store.days(&n, &n)?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    store.buckets(&n, &n, &mut |b| {
        if let Some(s) = b.start {
            t.push(s);
            w.push(b.mean_w);
        }
        Ok(())
    })?;
    Ok(Some(row))
}

/// A stored day's facts as JSON fields.
fn push_row(head: &mut Vec<u8>, row: &DayRow) {
    head.extend_from_slice(b"\"source\":\"database\",\"kwh\":");
    json::push_num(head, row.kwh);
    head.extend_from_slice(b",\"coverage\":");
    json::push_opt(head, row.coverage);
    head.extend_from_slice(b",\"samples\":");
    json::push_opt(head, row.samples);
    head.extend_from_slice(b",\"peak_w\":");
    json::push_opt(head, row.peak_w);
    head.extend_from_slice(b",\"peak_at\":");
    match &row.peak_at {
        Some(p) => json::push_str(head, p),
        None => head.extend_from_slice(b"null"),
    }
    head.extend_from_slice(b",\"over_cap_seconds\":");
    json::push_opt(head, row.over_cap_seconds);
    head.extend_from_slice(b",\"gaps\":");
    json::push_opt(head, row.gaps);
}

/// What a raw day is rendered from: the day file's path, length and
/// modification time, and for a day still running, the poll period (its
/// coverage runs to now).
type RawKey = (PathBuf, u64, SystemTime, i64);

/// A raw day's render, made once by whichever request comes first; the
/// others asking for the same one meanwhile wait for it. `None`: it failed.
type Render = Arc<OnceLock<Option<Arc<Vec<u8>>>>>;

/// Raw days kept rendered: today, which every open page asks for and
/// which changes once a poll, and one more being looked at.
const RAW_DAYS: usize = 2;

/// At most this many days are read whole at once, for a raw render (about
/// 600 KB each) or for the buckets of a day not digested yet, so eight
/// workers asked for eight days keep serve's memory bounded; two days
/// asked in turn still render side by side.
static RENDERS: Permits = Permits::new(2);

/// A counting semaphore: `take` waits until one of `n` permits is free.
struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Permits {
    const fn new(n: usize) -> Self {
        Permits {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    fn take(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

/// Gives its permit back when dropped.
struct Permit<'a>(&'a Permits);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// The raw days rendered last, newest last. Every open page asks for
/// today's curve: it is read and rendered once per change of its file, not
/// once per request. The lock is held only to look up or add an entry,
/// never while a day is read or rendered, so a large day being rendered
/// delays no request for another.
static RAW: Mutex<Vec<(RawKey, Render)>> = Mutex::new(Vec::new());

fn raw_day(cfg: &Config, date: Date, now: i64, head: Vec<u8>) -> Result<Response, Response> {
    let path = day_path(&cfg.days_dir(), date);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_raw_day(date)),
        Err(e) => return Err(day_file_error(&path, e)),
    };
    let (start, end) = local_day_bounds(date);
    let period = if (start..end).contains(&now) {
        now.div_euclid(i64::from(cfg.poll_seconds.max(1)))
    } else {
        0
    };
    let key = (
        path,
        meta.len(),
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        period,
    );
    let cell = {
        let mut cache = RAW.lock().unwrap_or_else(|p| p.into_inner());
        match cache.iter().find(|(k, _)| *k == key) {
            Some((_, cell)) => Arc::clone(cell),
            None => {
                let cell = Render::default();
                cache.push((key.clone(), Arc::clone(&cell)));
                let extra = cache.len().saturating_sub(RAW_DAYS);
                cache.drain(..extra);
                cell
            }
        }
    };
    let mut failed = None;
    let body = cell.get_or_init(|| match render_raw(cfg, date, now, head.clone()) {
        Ok(body) => Some(Arc::new(body)),
        Err(r) => {
            failed = Some(r);
            None
        }
    });
    let body = match (body, failed) {
        (Some(body), _) => Arc::clone(body),
        (None, failed) => {
            // A failure is not kept: the next request tries again. One
            // that waited for another's failed render renders for itself.
            let mut cache = RAW.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|(_, c)| !Arc::ptr_eq(c, &cell));
            drop(cache);
            match failed {
                Some(r) => return Err(r),
                None => Arc::new(render_raw(cfg, date, now, head)?),
            }
        }
    };
    Ok(Response::new(200, JSON, Body::Shared(body)).header("Cache-Control", "no-store"))
}

fn no_raw_day(date: Date) -> Response {
    Response::error(
        404,
        &format!("no raw samples for {} (no day file)", date_name(date)),
    )
}

/// A raw day's JSON: its facts and every sample, `head` first.
fn render_raw(cfg: &Config, date: Date, now: i64, mut head: Vec<u8>) -> Result<Vec<u8>, Response> {
    let _permit = RENDERS.take();
    let Some(mut samples) = day_file(cfg, date)? else {
        return Err(no_raw_day(date));
    };
    // One per second of the day already: sorted, they are measured as
    // they are, with no copy. Their stamps are unique, so an unstable
    // sort gives the same order without a stable sort's scratch copy of
    // the day.
    samples.sort_unstable_by_key(|s| s.ts);
    let st = measure(&samples, &day_params(cfg, date, measured_until(date, now)));
    head.extend_from_slice(b"\"source\":\"day file\",");
    push_stats(&mut head, &st);
    head.reserve(samples.len() * 18 + 32);
    head.extend_from_slice(b",\"t\":[");
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        json::push_num(&mut head, s.ts);
    }
    head.extend_from_slice(b"],\"w\":[");
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        json::push_num(&mut head, i64::from(s.watts));
    }
    head.extend_from_slice(b"]}\n");
    Ok(head)
}

/// One day's facts for `/api/days` and `/api/months`.
struct Fact {
    date: String,
    kwh: f64,
    coverage: Option<f64>,
    peak_w: Option<i64>,
    over_cap_seconds: Option<i64>,
    gaps: Option<i64>,
    /// From a day file not digested yet; `partial` while the day runs.
    from_file: bool,
    partial: bool,
}

/// The days of a view, whether the digest is writing, and the files it
/// went without.
struct Facts {
    days: Vec<Fact>,
    running: bool,
    skipped: Vec<Skipped>,
}

/// Stored days in `[from, to]`, plus days that only have a day file
/// (today, or a day the digest has not reached), computed the same way.
/// A year's database that cannot be read is skipped, its days taken from
/// their files where they are still there; a day file that cannot be read
/// is skipped: both are named in `skipped`, so one bad file never blanks
/// a month or a year.
fn facts(cfg: &Config, from: Date, to: Date) -> Result<Facts, Response> {
    let now = system_wall();
    let mut out = Vec::new();
    let mut running = false;
    let mut skipped = Vec::new();
    for year in from.year()..=to.year() {
        let rows = open_year(cfg, year).and_then(|store| match store {
            Some(store) => store.days(&date_name(from), &date_name(to)),
            None => Ok(Vec::new()),
        });
        running |= digest_running(cfg, year);
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                skip_database(cfg, year, e, &mut skipped)?;
                continue;
            }
        };
        for r in rows {
            out.push(Fact {
                date: r.day.get(..10).unwrap_or(&r.day).to_string(),
                kwh: r.kwh,
                coverage: r.coverage,
                peak_w: r.peak_w,
                over_cap_seconds: r.over_cap_seconds,
                gaps: r.gaps,
                from_file: false,
                partial: false,
            });
        }
    }
    let have: BTreeSet<String> = out.iter().map(|f| f.date.clone()).collect();
    let files = list_days(&cfg.days_dir()).map_err(|e| Response::error(500, &e.to_string()))?;
    for d in files.into_iter().filter(|d| (from..=to).contains(d)) {
        if have.contains(&date_name(d)) {
            continue;
        }
        let until = measured_until(d, now);
        let st = match running_facts(cfg, d, until) {
            Ok(Some(st)) => st,
            Ok(None) => continue,
            Err(e) => {
                skipped.push(Skipped {
                    error: e.error.to_string(),
                    file: e.path,
                });
                continue;
            }
        };
        out.push(Fact {
            date: date_name(d),
            kwh: st.kwh(),
            coverage: Some((st.coverage() * 10_000.0).round() / 10_000.0),
            peak_w: st.peak.map(|p| i64::from(p.watts)),
            over_cap_seconds: Some(st.over_cap_seconds),
            gaps: Some(i64::from(st.gaps)),
            from_file: true,
            partial: until < local_day_bounds(d).1,
        });
    }
    out.sort_by(|a, b| a.date.cmp(&b.date));
    Ok(Facts {
        days: out,
        running,
        skipped,
    })
}

/// `/api/days?from=&to=`: default this month.
pub(super) fn days(cfg: &Config, req: &Request) -> Result<Response, Response> {
    let today = local_date(system_wall());
    let to = date_param(req, "to")?.unwrap_or(today);
    let from = date_param(req, "from")?.unwrap_or_else(|| to.replace_day(1).unwrap_or(to));
    if from > to {
        return Err(bad("from is after to".into()));
    }
    let Facts {
        days,
        running,
        skipped,
    } = facts(cfg, from, to)?;
    let mut o = Vec::with_capacity(128 + days.len() * 160);
    let _ = write!(
        o,
        "{{\"from\":\"{}\",\"to\":\"{}\",\"digest_running\":{running}",
        date_name(from),
        date_name(to)
    );
    push_skipped(&mut o, &skipped);
    o.extend_from_slice(b",\"days\":[");
    for (i, f) in days.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"\n{\"date\":");
        json::push_str(&mut o, &f.date);
        o.extend_from_slice(b",\"kwh\":");
        json::push_num(&mut o, f.kwh);
        o.extend_from_slice(b",\"coverage\":");
        json::push_opt(&mut o, f.coverage);
        o.extend_from_slice(b",\"peak_w\":");
        json::push_opt(&mut o, f.peak_w);
        o.extend_from_slice(b",\"over_cap_seconds\":");
        json::push_opt(&mut o, f.over_cap_seconds);
        o.extend_from_slice(b",\"gaps\":");
        json::push_opt(&mut o, f.gaps);
        let _ = write!(
            o,
            ",\"source\":\"{}\",\"partial\":{}}}",
            if f.from_file { "day file" } else { "database" },
            f.partial
        );
    }
    o.extend_from_slice(b"]}\n");
    Ok(json(o))
}

/// `/api/months?year=YYYY`: twelve months, kWh summed over their days.
pub(super) fn months(cfg: &Config, req: &Request) -> Result<Response, Response> {
    let today = local_date(system_wall());
    let year = match req.param("year") {
        None | Some("") => today.year(),
        Some(v) => match v.parse::<i32>() {
            Ok(y) if (2000..=2099).contains(&y) && v.len() == 4 => y,
            _ => return Err(bad("year: expected YYYY between 2000 and 2099".into())),
        },
    };
    let (Ok(first), Ok(last)) = (
        Date::from_calendar_date(year, crate::core::calendar::Month::January, 1),
        Date::from_calendar_date(year, crate::core::calendar::Month::December, 31),
    ) else {
        return Err(bad(format!("year: {year} is not in the calendar")));
    };
    let Facts {
        days,
        running,
        skipped,
    } = facts(cfg, first, last)?;
    let mut sums = [(0.0f64, 0u32); 12];
    for f in &days {
        if let Some(m) = f.date.get(5..7).and_then(|m| m.parse::<usize>().ok())
            && (1..=12).contains(&m)
        {
            sums[m - 1].0 += f.kwh;
            sums[m - 1].1 += 1;
        }
    }
    let mut o = Vec::with_capacity(1024);
    let _ = write!(o, "{{\"year\":{year},\"digest_running\":{running}");
    push_skipped(&mut o, &skipped);
    o.extend_from_slice(b",\"months\":[");
    for (i, (kwh, n)) in sums.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        let _ = write!(
            o,
            "\n{{\"month\":\"{year:04}-{:02}\",\"days\":{n},\"kwh\":",
            i + 1
        );
        if *n == 0 {
            o.extend_from_slice(b"null");
        } else {
            json::push_num(&mut o, crate::core::energy::round2(*kwh));
        }
        o.push(b'}');
    }
    o.extend_from_slice(b"]}\n");
    Ok(json(o))
}

/// `/export?from=&to=&resolution=&format=`: what `mcce export` writes, by
/// the same code, as a download.
pub(super) fn export(cfg: &Config, req: &Request) -> Result<Response, Response> {
    let resolution = match req.param("resolution") {
        None | Some("") | Some("day") => Resolution::Day,
        Some("raw") => Resolution::Raw,
        Some("bucket") => Resolution::Bucket,
        Some(_) => return Err(bad("resolution: expected raw, bucket or day".into())),
    };
    let format = match req.param("format") {
        None | Some("") | Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(_) => return Err(bad("format: expected csv or json".into())),
    };
    let today = local_date(system_wall());
    let to = date_param(req, "to")?.unwrap_or(today);
    let from = match date_param(req, "from")? {
        Some(f) => f,
        None => crate::processes::export::earliest(cfg).unwrap_or(today),
    };
    if from > to {
        return Err(bad("from is after to".into()));
    }
    let (ctype, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => (JSON, "json"),
    };
    let res = match resolution {
        Resolution::Raw => "raw",
        Resolution::Bucket => "bucket",
        Resolution::Day => "day",
    };
    let name = format!("mcce-{res}-{}-{}.{ext}", date_name(from), date_name(to));
    let cfg = cfg.clone();
    let writer = move |w: &mut dyn Write| {
        crate::processes::export::export(&cfg, from, to, resolution, format, w)
            .map_err(export_response)
    };
    Ok(Response::new(200, ctype, Body::Stream(Box::new(writer)))
        .header(
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        )
        .header("Cache-Control", "no-store"))
}
