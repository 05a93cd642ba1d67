//! `mcce digest`, `export` and `report` on generated day files, read back
//! with plain SQL exactly as the dashboard does. The binary runs with
//! `TZ` set at its start (Europe/Rome, America/New_York).

mod common;

use common::*;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ROME: &str = "Europe/Rome";

/// `(index, value)` rows as pwrApp reads them.
type Rows = Vec<(String, f64)>;

/// Unix time of `y-m-d` 00:00 UTC.
fn utc_midnight(y: i32, m: u32, d: u32) -> i64 {
    mcce::days_from_civil(y, m, d) * 86_400
}

fn write_day(dir: &Path, name: &str, lines: impl IntoIterator<Item = String>) -> PathBuf {
    let days = dir.join("data/days");
    std::fs::create_dir_all(&days).unwrap();
    let p = days.join(name);
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// A sample every 5 s in `[start, end)`.
fn constant(start: i64, end: i64, watts: u32) -> Vec<String> {
    (start..end)
        .step_by(5)
        .map(|t| format!("{t} {watts}"))
        .collect()
}

fn conf(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("mcce.conf");
    std::fs::write(
        &p,
        format!(
            "DATA_DIR={d}/data\nDATABASE_URL={d}/db/pwr\nMIN_TIME_RES=15\n{extra}",
            d = dir.display()
        ),
    )
    .unwrap();
    p
}

fn mcce(tz: &str, args: &[&str]) -> (i32, String, String) {
    run_tz(tz, args)
}

/// `mcce digest -c CFG --date DATE` under Rome time.
fn digest_date(cfg: &Path, date: &str) -> (i32, String, String) {
    mcce(
        ROME,
        &["digest", "-c", cfg.to_str().unwrap(), "--date", date],
    )
}

fn avg(db: &Path) -> Vec<(String, f64)> {
    let c = Connection::open(db).unwrap();
    let mut st = c.prepare("select * from avg").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn day_rows(db: &Path, day: &str) -> Vec<(String, f64)> {
    let c = Connection::open(db).unwrap();
    let mut st = c.prepare(&format!("select * from \"{day}\"")).unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn digest_constant_day(tz: &str, date: &str, start: i64, hours: i64) -> (Rows, Rows) {
    let d = Scratch::new(&format!("dst-{}-{date}", tz.replace('/', "_")));
    write_day(d.path(), date, constant(start, start + hours * 3600, 1000));
    let cfg = conf(d.path(), "");
    let (code, out, err) = mcce(tz, &["digest", "-c", cfg.to_str().unwrap(), "--date", date]);
    assert_eq!(code, 0, "{out}{err}");
    let db = d.path().join(format!("db/pwr.{}", &date[..4]));
    (avg(&db), day_rows(&db, date))
}

#[test]
fn normal_and_dst_days_in_two_zones() {
    let h = 3600;
    for (tz, date, start, hours, first, last) in [
        (
            ROME,
            "2025-01-15",
            utc_midnight(2025, 1, 15) - h,
            24,
            "2025-01-15 00:00:00",
            "2025-01-15 23:45:00",
        ),
        (
            ROME,
            "2025-03-30",
            utc_midnight(2025, 3, 30) - h,
            23,
            "2025-03-30 00:00:00",
            "2025-03-30 23:45:00",
        ),
        (
            ROME,
            "2025-10-26",
            utc_midnight(2025, 10, 26) - 2 * h,
            25,
            "2025-10-26 00:00:00",
            "2025-10-26 23:45:00",
        ),
        (
            "America/New_York",
            "2025-03-09",
            utc_midnight(2025, 3, 9) + 5 * h,
            23,
            "2025-03-09 00:00:00",
            "2025-03-09 23:45:00",
        ),
        (
            "America/New_York",
            "2025-11-02",
            utc_midnight(2025, 11, 2) + 4 * h,
            25,
            "2025-11-02 00:00:00",
            "2025-11-02 23:45:00",
        ),
    ] {
        let (a, rows) = digest_constant_day(tz, date, start, hours);
        assert_eq!(a, vec![(date.to_string(), hours as f64)], "{tz} {date}");
        assert_eq!(
            rows.len() as i64,
            hours * 4,
            "{tz} {date}: one row per 15 minutes"
        );
        assert_eq!(rows.first().unwrap().0, first);
        assert_eq!(rows.last().unwrap().0, last);
        assert!(rows.iter().all(|r| r.1 == 1000.0));
        // The repeated hour of a 25-hour day keeps both its buckets.
        let dup = rows
            .iter()
            .filter(|r| r.0.ends_with(" 01:00:00") || r.0.ends_with(" 02:00:00"))
            .count();
        assert_eq!(
            dup,
            if hours == 25 {
                3
            } else if hours == 23 {
                1
            } else {
                2
            },
            "{tz} {date}"
        );
    }
}

#[test]
fn legacy_day_file_is_read_from_midnight_every_5_s() {
    let d = Scratch::new("legacy-file");
    let mut lines: Vec<String> = (0..17_281).map(|_| "1000".to_string()).collect();
    lines[10] = "garbage".into();
    write_day(d.path(), "2025-01-15", lines);
    let cfg = conf(d.path(), "");
    let (code, out, err) = digest_date(&cfg, "2025-01-15");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("legacy file") && out.contains("1 line(s) skipped"),
        "{out}"
    );
    let db = d.path().join("db/pwr.2025");
    // The garbage line's slot is bridged by its neighbour (10 s is within
    // the gap limit) and the 24:00:00 line belongs to the next day.
    assert_eq!(avg(&db), vec![("2025-01-15".to_string(), 24.0)]);
    assert_eq!(day_rows(&db, "2025-01-15").len(), 96);
}

#[test]
fn a_database_from_the_python_digest_keeps_every_value() {
    let d = Scratch::new("legacy-db");
    let db = d.path().join("db/pwr.2025");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    {
        let c = Connection::open(&db).unwrap();
        c.execute_batch(
            r#"CREATE TABLE "avg" ("index" TEXT, "kWh" REAL);
               INSERT INTO avg VALUES ('2025-01-13', 11.11), ('2025-01-14', 12.34);
               CREATE TABLE "2025-01-13" ("index" TEXT, "Wh" REAL);
               CREATE INDEX "ix_2025-01-13_index" ON "2025-01-13" ("index");
               INSERT INTO "2025-01-13" VALUES ('2025-01-13 00:00:00', 250.5), ('2025-01-13 00:15:00', 260.25);
               CREATE TABLE "2025-01-14" ("index" TEXT, "Wh" REAL);
               INSERT INTO "2025-01-14" VALUES ('2025-01-14 00:00:00', 300.0);"#,
        )
        .unwrap();
    }
    write_day(
        d.path(),
        "2025-01-15",
        constant(
            utc_midnight(2025, 1, 15) - 3600,
            utc_midnight(2025, 1, 16) - 3600,
            500,
        ),
    );
    let cfg = conf(d.path(), "");
    let (code, _, err) = digest_date(&cfg, "2025-01-15");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        avg(&db),
        vec![
            ("2025-01-13".to_string(), 11.11),
            ("2025-01-14".to_string(), 12.34),
            ("2025-01-15".to_string(), 12.0)
        ]
    );
    assert_eq!(
        day_rows(&db, "2025-01-13"),
        vec![
            ("2025-01-13 00:00:00".to_string(), 250.5),
            ("2025-01-13 00:15:00".to_string(), 260.25)
        ]
    );
    assert_eq!(
        day_rows(&db, "2025-01-14"),
        vec![("2025-01-14 00:00:00".to_string(), 300.0)]
    );
    assert_eq!(day_rows(&db, "2025-01-15").len(), 96);
    // Every name in the database directory carries the year (pwrApp lists it).
    for e in std::fs::read_dir(db.parent().unwrap()).unwrap() {
        assert!(e.unwrap().file_name().to_string_lossy().contains("2025"));
    }
    // A second run converts nothing again and still reads the same.
    let (code, _, _) = digest_date(&cfg, "2025-01-15");
    assert_eq!(code, 0);
    assert_eq!(avg(&db).len(), 3);
}

/// Column names of a table or view, in order.
fn columns(db: &Path, name: &str) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let st = c.prepare(&format!("select * from \"{name}\"")).unwrap();
    st.column_names().into_iter().map(String::from).collect()
}

/// What pwrApp's year summary does: every column of every `avg` row but
/// the index is summed as a number.
fn pwrapp_year_total(db: &Path) -> f64 {
    let c = Connection::open(db).unwrap();
    let mut st = c.prepare("select * from avg").unwrap();
    let n = st.column_count();
    let mut rows = st.query([]).unwrap();
    let mut total = 0.0;
    while let Some(r) = rows.next().unwrap() {
        for i in 1..n {
            match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Real(x) => total += x,
                rusqlite::types::ValueRef::Integer(x) => total += x as f64,
                other => panic!("pwrApp cannot sum column {i}: {other:?}"),
            }
        }
    }
    total
}

#[test]
fn pwrapp_sees_exactly_its_two_columns() {
    let d = Scratch::new("pwrapp-columns");
    let t = utc_midnight(2025, 1, 15) - 3600;
    write_day(d.path(), "2025-01-15", constant(t, t + 86_400, 1000));
    let cfg = conf(d.path(), "");
    assert_eq!(digest_date(&cfg, "2025-01-15").0, 0);
    let db = d.path().join("db/pwr.2025");
    assert_eq!(columns(&db, "avg"), ["index", "kWh"]);
    assert_eq!(columns(&db, "2025-01-15"), ["index", "Wh"]);
    assert_eq!(pwrapp_year_total(&db), 24.0);
    // The richer facts are kept under our own name.
    let c = Connection::open(&db).unwrap();
    let (peak, outside): (i64, i64) = c
        .query_row(
            "select peak_w, outside from mcce_day where day = '2025-01-15'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((peak, outside), (1000, 0));
}

/// The layout the first mcce release wrote (user_version 1), by hand.
const LAYOUT_1: &str = r#"
CREATE TABLE mcce_day (day TEXT PRIMARY KEY, kwh REAL NOT NULL, energy_wh REAL, coverage REAL,
    samples INTEGER, peak_w INTEGER, peak_at TEXT, min_w INTEGER, over_cap_seconds INTEGER,
    gaps INTEGER, skipped_lines INTEGER, bucket_minutes INTEGER, source TEXT NOT NULL DEFAULT 'mcce');
CREATE TABLE mcce_bucket (day TEXT NOT NULL, seq INTEGER NOT NULL, start INTEGER, label TEXT NOT NULL,
    mean_w REAL NOT NULL, samples INTEGER, PRIMARY KEY (day, seq)) WITHOUT ROWID;
CREATE VIEW avg AS SELECT day AS "index", kwh AS "kWh", coverage, samples, peak_w, peak_at, min_w,
    over_cap_seconds, gaps FROM mcce_day ORDER BY day;
CREATE VIEW "2025-01-14" AS SELECT label AS "index", mean_w AS "Wh" FROM mcce_bucket
    WHERE day = '2025-01-14' ORDER BY seq;
INSERT INTO mcce_day VALUES ('2025-01-14', 7.5, 7500, 1, 17280, 900, '2025-01-14 08:00:00', 100, 0, 0, 0, 15, 'mcce');
INSERT INTO mcce_bucket VALUES ('2025-01-14', 0, 1736809200, '2025-01-14 00:00:00', 312.5, 180);
-- Converted from a Python database whose avg index carried a time part,
-- then the same day digested again under its plain key.
INSERT INTO mcce_day (day, kwh, source) VALUES ('2025-01-12 00:00:00', 9.99, 'python');
INSERT INTO mcce_day (day, kwh, source) VALUES ('2025-01-13 00:00:00', 11.11, 'python');
INSERT INTO mcce_day VALUES ('2025-01-13', 12.5, 12500, 1, 17280, 900, '2025-01-13 08:00:00', 100, 0, 0, 0, 15, 'mcce');
PRAGMA user_version = 1;
"#;

#[test]
fn a_database_of_the_first_layout_is_upgraded_in_place() {
    let d = Scratch::new("layout-1");
    let db = d.path().join("db/pwr.2025");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    Connection::open(&db)
        .unwrap()
        .execute_batch(LAYOUT_1)
        .unwrap();
    let t = utc_midnight(2025, 1, 15) - 3600;
    write_day(d.path(), "2025-01-15", constant(t, t + 86_400, 500));
    let cfg = conf(d.path(), "");
    // Readers take the file as it is, before any upgrade.
    let (code, out, err) = mcce(
        ROME,
        &[
            "export",
            "-c",
            cfg.to_str().unwrap(),
            "--resolution",
            "day",
            "--from",
            "2025-01-14",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.ends_with("\n2025-01-14,7.5,1,17280,900,2025-01-14 08:00:00,100,0,0,,,,,,\n"),
        "{out}"
    );
    let (code, out, err) = digest_date(&cfg, "2025-01-15");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(columns(&db, "avg"), ["index", "kWh"]);
    assert_eq!(columns(&db, "2025-01-14"), ["index", "Wh"]);
    assert_eq!(columns(&db, "2025-01-15"), ["index", "Wh"]);
    assert_eq!(
        avg(&db),
        vec![
            ("2025-01-12".to_string(), 9.99),
            ("2025-01-13".to_string(), 12.5),
            ("2025-01-14".to_string(), 7.5),
            ("2025-01-15".to_string(), 12.0)
        ]
    );
    assert_eq!(
        day_rows(&db, "2025-01-14"),
        vec![("2025-01-14 00:00:00".to_string(), 312.5)]
    );
    let c = Connection::open(&db).unwrap();
    let (v, outside): (i64, Option<i64>) = c
        .query_row(
            "select (select user_version from pragma_user_version), outside from mcce_day where day = '2025-01-14'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((v, outside), (3, None), "upgraded; unknown for old days");
    let (code, out, _) = mcce(
        ROME,
        &["report", "-c", cfg.to_str().unwrap(), "--month", "2025-01"],
    );
    assert_eq!(code, 0);
    assert_eq!(out.matches("2025-01-13").count(), 1, "{out}");
}

/// The layout before the contract alarm's columns (user_version 2), by hand.
const LAYOUT_2: &str = r#"
CREATE TABLE mcce_day (day TEXT PRIMARY KEY, kwh REAL NOT NULL, energy_wh REAL, coverage REAL,
    samples INTEGER, peak_w INTEGER, peak_at TEXT, min_w INTEGER, over_cap_seconds INTEGER,
    gaps INTEGER, skipped_lines INTEGER, bucket_minutes INTEGER, source TEXT NOT NULL DEFAULT 'mcce',
    outside INTEGER, duplicates INTEGER);
CREATE TABLE mcce_bucket (day TEXT NOT NULL, seq INTEGER NOT NULL, start INTEGER, label TEXT NOT NULL,
    mean_w REAL NOT NULL, samples INTEGER, PRIMARY KEY (day, seq)) WITHOUT ROWID;
CREATE VIEW avg AS SELECT day AS "index", kwh AS "kWh" FROM mcce_day ORDER BY day;
INSERT INTO mcce_day VALUES ('2025-01-14', 7.5, 7500, 1, 17280, 900, '2025-01-14 08:00:00', 100, 0, 0, 0, 15, 'mcce', 0, 0);
PRAGMA user_version = 2;
"#;

/// A day on a 3 kW contract (Rome, 5-s polls): 1 kW all day but an evening
/// hour when the oven and the washing machine draw 3.6 kW for 15 minutes
/// (one warning, 12 min 15 s in), and a kettle at 3.9 kW for 40 s (a chirp,
/// no warning); a gap of 10 minutes at noon is in no band.
fn contract_day(start: i64) -> Vec<String> {
    (start..start + 86_400)
        .step_by(5)
        .filter(|t| !(12 * 3600..12 * 3600 + 600).contains(&(t - start)))
        .map(|t| {
            let w = match t - start {
                s if (19 * 3600..19 * 3600 + 900).contains(&s) => 3600,
                s if (21 * 3600..21 * 3600 + 40).contains(&s) => 3900,
                _ => 1000,
            };
            format!("{t} {w}")
        })
        .collect()
}

/// The digest runs the contract alarm over the day's samples: seconds in
/// each band and the warnings go into mcce_day (a layout-2 file upgraded in
/// place, its old days unknown), `avg` keeps pwrApp's two columns, export
/// and report show them; a re-digest gives the same numbers.
#[test]
fn a_contract_day_stores_time_per_band_and_near_trips() {
    let d = Scratch::new("contract-day");
    let db = d.path().join("db/pwr.2025");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    Connection::open(&db)
        .unwrap()
        .execute_batch(LAYOUT_2)
        .unwrap();
    let t = utc_midnight(2025, 1, 15) - 3600;
    write_day(d.path(), "2025-01-15", contract_day(t));
    let cfg = conf(d.path(), "CONTRACT_WATTS=3000\n");
    for _ in 0..2 {
        let (code, out, err) = digest_date(&cfg, "2025-01-15");
        assert_eq!(code, 0, "{out}{err}");
        let c = Connection::open(&db).unwrap();
        let row: (i64, i64, i64, i64, i64) = c
            .query_row(
                "select (select user_version from pragma_user_version), free_seconds,
                        tolerated_seconds, over_seconds, warnings
                 from mcce_day where day = '2025-01-15'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(row, (3, 86_400 - 600 - 940, 940, 0, 1));
    }
    assert_eq!(columns(&db, "avg"), ["index", "kWh"]);
    let c = cfg.to_str().unwrap();
    let (code, out, err) = mcce(
        ROME,
        &[
            "export",
            "-c",
            c,
            "--resolution",
            "day",
            "--from",
            "2025-01-14",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with(",free_seconds,tolerated_seconds,over_seconds,near_trips"));
    assert!(lines[1].ends_with(",0,0,,,,"), "{out}");
    assert!(lines[2].ends_with(",84860,940,0,1"), "{out}");
    let (code, out, _) = mcce(ROME, &["report", "-c", c, "--month", "2025-01"]);
    assert_eq!(code, 0);
    assert!(out.contains(" near trips  energy"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("2025-01-14") && l.contains("          ?  ")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("2025-01-15") && l.contains("          1  ")),
        "{out}"
    );
}

#[test]
fn pandas_date_keys_are_normalised_and_a_redigest_replaces_the_day() {
    let d = Scratch::new("pandas-keys");
    let db = d.path().join("db/pwr.2025");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            r#"CREATE TABLE "avg" ("index" TIMESTAMP, "kWh" FLOAT);
               INSERT INTO avg VALUES ('2025-01-13 00:00:00', 11.11), ('2025-01-14 00:00:00', 12.34);
               CREATE TABLE "2025-01-13" ("index" TEXT, "Wh" REAL);
               INSERT INTO "2025-01-13" VALUES ('2025-01-13 00:00:00', 250.5);"#,
        )
        .unwrap();
    let cfg = conf(d.path(), "");
    let c = cfg.to_str().unwrap();
    // Read as it is, before any conversion.
    let (code, out, _) = mcce(
        ROME,
        &[
            "export",
            "-c",
            c,
            "--resolution",
            "day",
            "--from",
            "2025-01-01",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("\n2025-01-13,11.11,") && !out.contains("00:00:00"),
        "{out}"
    );
    // Digesting the day again converts the file and replaces the day.
    let t = utc_midnight(2025, 1, 13) - 3600;
    write_day(d.path(), "2025-01-13", constant(t, t + 86_400, 500));
    let (code, out, err) = digest_date(&cfg, "2025-01-13");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        avg(&db),
        vec![
            ("2025-01-13".to_string(), 12.0),
            ("2025-01-14".to_string(), 12.34)
        ]
    );
    let (code, out, _) = mcce(ROME, &["report", "-c", c, "--month", "2025-01"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("2025-01-13").count(), 1, "{out}");
    assert!(out.contains("total 24.34 kWh over 2 day(s)"), "{out}");
}

#[test]
fn samples_outside_the_day_and_repeated_stamps_are_counted_and_stored() {
    let d = Scratch::new("outside-dups");
    let t = utc_midnight(2025, 1, 15) - 3600;
    let mut lines = constant(t, t + 86_400, 1000);
    lines.insert(0, format!("{} 700", t - 5));
    lines.insert(1, format!("{} 700", t - 10));
    lines.push(format!("{} 700", t + 86_400));
    for i in [100, 200, 300] {
        let again = lines[i].clone();
        lines.insert(i, again);
    }
    write_day(d.path(), "2025-01-15", lines);
    let cfg = conf(d.path(), "");
    let (code, out, err) = digest_date(&cfg, "2025-01-15");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("3 outside the day, 3 repeated stamp(s)"),
        "{out}"
    );
    let db = d.path().join("db/pwr.2025");
    let (outside, dups): (i64, i64) = Connection::open(&db)
        .unwrap()
        .query_row(
            "select outside, duplicates from mcce_day where day = '2025-01-15'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((outside, dups), (3, 3));
    let (code, out, _) = mcce(
        ROME,
        &[
            "export",
            "-c",
            cfg.to_str().unwrap(),
            "--resolution",
            "day",
            "--from",
            "2025-01-15",
        ],
    );
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert!(
        lines.next().unwrap().ends_with(
            ",gaps,outside,duplicates,free_seconds,tolerated_seconds,over_seconds,near_trips"
        ),
        "{out}"
    );
    assert!(lines.next().unwrap().ends_with(",0,3,3,,,,"), "{out}");
}

/// The Rome date `n` days ago, as the digest's own clock will see it.
fn date_days_ago(n: i64) -> String {
    date(Some(ROME), &["+%F", "-d", &format!("{n} days ago")])
}

fn noon_utc(date: &str) -> i64 {
    let d = mcce::parse_date(date).unwrap();
    mcce::days_of(d) * 86_400 + 12 * 3600
}

#[test]
fn catch_up_rerun_and_replace() {
    let d = Scratch::new("catchup");
    let days: Vec<String> = (0..4).map(date_days_ago).collect();
    for day in &days {
        let t = noon_utc(day);
        write_day(d.path(), day, constant(t, t + 3600, 2000));
    }
    let cfg = conf(d.path(), "");
    let c = cfg.to_str().unwrap();
    let (code, out, err) = mcce(ROME, &["digest", "-c", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines().count(),
        3,
        "three complete days, not today: {out}"
    );
    assert!(!out.contains(&days[0]), "today is not complete: {out}");
    let (code, out, _) = mcce(ROME, &["digest", "-c", c]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to digest"), "{out}");
    // Replace one day with more data.
    let t = noon_utc(&days[2]);
    write_day(d.path(), &days[2], constant(t, t + 7200, 2000));
    let (code, _, _) = digest_date(&cfg, &days[2]);
    assert_eq!(code, 0);
    let mut all = Vec::new();
    for y in [&days[1][..4], &days[3][..4]] {
        all.extend(avg(&d.path().join(format!("db/pwr.{y}"))));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup();
    let kwh: Vec<f64> = all.iter().map(|r| r.1).collect();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(
        kwh.contains(&4.0) && kwh.iter().filter(|k| **k == 2.0).count() == 2,
        "{all:?}"
    );
}

#[test]
fn bad_days_and_bad_databases() {
    let d = Scratch::new("bad");
    let cfg = conf(d.path(), "DB_BUSY_TIMEOUT_SECONDS=1\n");
    // Empty day: zero energy, not written, non-zero exit, no file created.
    write_day(d.path(), "2025-01-10", ["garbage".to_string()]);
    let (code, _, err) = digest_date(&cfg, "2025-01-10");
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("2025-01-10: zero energy")
            && err.contains("not written")
            && err.contains("until the file is moved out of"),
        "{err}"
    );
    assert!(!d.path().join("db/pwr.2025").exists());
    // Missing day file.
    let (code, _, err) = digest_date(&cfg, "2025-01-11");
    assert_eq!(code, 66, "{err}");
    assert!(
        err.contains("days/2025-01-11: cannot read the day file"),
        "{err}"
    );
    // Torn last line and garbage are skipped, not fatal.
    let t = utc_midnight(2025, 1, 12);
    let mut lines = constant(t, t + 600, 1200);
    lines.insert(3, "1736640015 ".into());
    lines.insert(5, "what is this".into());
    let p = write_day(d.path(), "2025-01-12", lines);
    std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"17366406")
            .unwrap();
    }
    let (code, out, err) = digest_date(&cfg, "2025-01-12");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 line(s) skipped"), "{out}");

    // A reader holding the database: busy timeout, then a clear error.
    let db = d.path().join("db/pwr.2025");
    let reader = Connection::open(&db).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM avg;")
        .unwrap();
    let t0 = std::time::Instant::now();
    let (code, _, err) = digest_date(&cfg, "2025-01-12");
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("locked") || err.contains("busy"), "{err}");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "waited for the busy timeout"
    );
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let (code, _, err) = digest_date(&cfg, "2025-01-12");
    assert_eq!(code, 0, "{err}");

    // A corrupt database: clear error, file untouched.
    let junk = vec![0x42u8; 4096];
    std::fs::write(&db, &junk).unwrap();
    let (code, _, err) = digest_date(&cfg, "2025-01-12");
    assert_eq!(code, 74, "{err}");
    assert!(
        err.contains("pwr.2025") && err.contains("not an SQLite database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), junk);

    // An unwritable place for the database.
    std::fs::write(d.path().join("blocker"), "").unwrap();
    let cfg2 = d.path().join("other.conf");
    std::fs::write(
        &cfg2,
        format!(
            "DATA_DIR={0}/data\nDATABASE_URL={0}/blocker/db/pwr\n",
            d.path().display()
        ),
    )
    .unwrap();
    let (code, _, err) = mcce(
        ROME,
        &[
            "digest",
            "-c",
            cfg2.to_str().unwrap(),
            "--date",
            "2025-01-12",
        ],
    );
    assert_eq!(code, 73, "{err}");
    assert!(err.contains("blocker/db: cannot create"), "{err}");
}

#[test]
fn killed_mid_digest_leaves_the_previous_state_and_a_rerun_completes() {
    // No hook in the binary: a reader holding the database (as the
    // dashboard does) keeps the digest's commit waiting, with its write
    // transaction open and its rollback journal on disk; it is killed there.
    let d = Scratch::new("crash");
    for day in 10..=13 {
        let t = utc_midnight(2025, 2, day) - 3600;
        write_day(
            d.path(),
            &format!("2025-02-{day}"),
            constant(t, t + 86_400, 800 + day),
        );
    }
    let cfg = conf(d.path(), "DB_BUSY_TIMEOUT_SECONDS=120\n");
    let c = cfg.to_str().unwrap();
    let db = d.path().join("db/pwr.2025");
    let journal = d.path().join("db/pwr.2025-journal");
    assert_eq!(digest_date(&cfg, "2025-02-10").0, 0);
    let reader = Connection::open(&db).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM mcce_day;")
        .unwrap();
    let mut child = Command::new(bin())
        .args(["digest", "-c", c])
        .env("TZ", ROME)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        Duration::from_secs(60),
        || journal.exists(),
        "the digest's write transaction",
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the digest waits to commit"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    assert!(journal.exists(), "killed with its transaction open");
    let c1 = Connection::open(&db).unwrap();
    let ok: String = c1
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(c1);
    assert_eq!(avg(&db), vec![("2025-02-10".to_string(), 19.44)]);
    let buckets: i64 = Connection::open(&db)
        .unwrap()
        .query_row("select count(*) from mcce_bucket", [], |r| r.get(0))
        .unwrap();
    assert_eq!(buckets, 96, "no half-written day");
    let (code, out, err) = mcce(ROME, &["digest", "-c", c]);
    assert_eq!(code, 0, "{out}{err}");
    let days: Vec<String> = avg(&db).into_iter().map(|r| r.0).collect();
    assert_eq!(
        days,
        ["2025-02-10", "2025-02-11", "2025-02-12", "2025-02-13"]
    );
}

#[test]
fn the_binary_carries_no_test_hooks() {
    // Tests drive the shipped binary from outside; nothing in it reads a
    // test-only environment variable.
    let bytes = std::fs::read(bin()).unwrap();
    assert!(
        !bytes.windows(10).any(|w| w == b"MCCE_TEST_"),
        "a MCCE_TEST_ variable is named in {}",
        bin()
    );
}

#[test]
fn export_and_report_across_years() {
    let d = Scratch::new("export");
    let cfg = conf(d.path(), "PRICE_PER_KWH=0.25\n");
    let c = cfg.to_str().unwrap();
    let t1 = utc_midnight(2024, 12, 31) - 3600;
    let t2 = utc_midnight(2025, 1, 1) - 3600;
    write_day(d.path(), "2024-12-31", constant(t1, t1 + 86_400, 1000));
    write_day(d.path(), "2025-01-01", constant(t2, t2 + 86_400, 500));
    for day in ["2024-12-31", "2025-01-01"] {
        assert_eq!(digest_date(&cfg, day).0, 0);
    }
    let (code, out, err) = mcce(ROME, &["export", "-c", c, "--resolution", "day"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "date,kwh,coverage,samples,peak_w,peak_at,min_w,over_cap_seconds,gaps,outside,duplicates,\
         free_seconds,tolerated_seconds,over_seconds,near_trips"
    );
    assert!(
        lines[1].starts_with("2024-12-31,24,1,17280,1000,2024-12-31 00:00:00,1000,0,0"),
        "{out}"
    );
    assert!(lines[2].starts_with("2025-01-01,12,1,17280,500,"), "{out}");

    let (code, out, _) = mcce(
        ROME,
        &[
            "export",
            "-c",
            c,
            "--resolution",
            "raw",
            "--from",
            "2024-12-31",
            "--to",
            "2025-01-01",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1 + 2 * 17_280);
    assert_eq!(
        out.lines().nth(1).unwrap(),
        format!("2024-12-31T00:00:00+01:00,{t1},1000")
    );

    let (code, out, _) = mcce(
        ROME,
        &[
            "export",
            "-c",
            c,
            "--resolution",
            "bucket",
            "--format",
            "json",
            "--from",
            "2025-01-01",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        out.starts_with("[\n{\"time\":\"2025-01-01T00:00:00+01:00\",\"unix\":"),
        "{}",
        &out[..200]
    );
    assert_eq!(out.matches("\"mean_w\":500").count(), 96);
    assert!(out.ends_with("}\n]\n"));

    let (code, out, _) = mcce(ROME, &["report", "-c", c, "--month", "2024-12"]);
    assert_eq!(code, 0);
    assert!(out.contains("2024-12-31   24.00  100%   1000"), "{out}");
    assert!(out.contains("cost 6.00"), "{out}");
    assert!(out.lines().all(|l| l.len() <= 80));
    let (code, out, _) = mcce(ROME, &["report", "-c", c, "--year", "2025"]);
    assert_eq!(code, 0);
    assert!(out.contains("2025-01    1    12.00"), "{out}");
}

#[test]
fn retention_removes_only_digested_days() {
    let d = Scratch::new("retention");
    let cfg = conf(d.path(), "KEEP_RAW_DAYS=2\n");
    let c = cfg.to_str().unwrap();
    let t = utc_midnight(2025, 1, 5) + 3600;
    write_day(d.path(), "2025-01-05", constant(t, t + 600, 100));
    write_day(d.path(), "2025-01-06", ["junk".to_string()]); // zero energy: never digested
    let (code, out, err) = mcce(ROME, &["digest", "-c", c]);
    assert_eq!(code, 65, "{out}{err}");
    assert!(
        out.contains("removed") && out.contains("2025-01-05"),
        "{out}"
    );
    assert!(!d.path().join("data/days/2025-01-05").exists());
    assert!(
        d.path().join("data/days/2025-01-06").exists(),
        "undigested raw data is kept"
    );
}

/// Unix time now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_garbage_first_line_does_not_turn_the_day_into_a_legacy_file() {
    let d = Scratch::new("garbage-first");
    let t = utc_midnight(2025, 1, 15) - 3600;
    let mut lines = vec!["1704841".to_string()];
    lines.extend(constant(t, t + 86_400, 1000));
    write_day(d.path(), "2025-01-15", lines);
    let cfg = conf(d.path(), "");
    let (code, out, err) = digest_date(&cfg, "2025-01-15");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 line(s) skipped") && !out.contains("legacy"),
        "{out}"
    );
    assert_eq!(
        avg(&d.path().join("db/pwr.2025")),
        vec![("2025-01-15".to_string(), 24.0)]
    );
    // Export shows the real samples after the garbage line.
    let (code, out, err) = mcce(
        ROME,
        &[
            "export",
            "-c",
            cfg.to_str().unwrap(),
            "--resolution",
            "raw",
            "--from",
            "2025-01-15",
            "--to",
            "2025-01-15",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1 + 17_280);
}

#[test]
fn a_day_of_mostly_garbage_is_reported_and_its_raw_file_kept() {
    let d = Scratch::new("mostly-garbage");
    let cfg = conf(d.path(), "KEEP_RAW_DAYS=1\n");
    let t = utc_midnight(2025, 1, 5) + 3600;
    let mut lines = constant(t, t + 50, 700);
    lines.extend((0..100).map(|i| format!("noise {i}")));
    write_day(d.path(), "2025-01-05", lines);
    let (code, out, err) = mcce(ROME, &["digest", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 65, "{out}{err}");
    assert!(
        err.contains("2025-01-05") && err.contains("100 of 110 lines"),
        "{err}"
    );
    assert!(
        d.path().join("data/days/2025-01-05").exists(),
        "a mostly skipped day is never pruned: {out}"
    );
    // Stored all the same (its real samples count), and still kept next run.
    let (_, out, _) = mcce(ROME, &["digest", "-c", cfg.to_str().unwrap()]);
    assert!(out.contains("nothing to digest"), "{out}");
    assert!(d.path().join("data/days/2025-01-05").exists());
}

#[test]
fn today_and_future_dates_are_refused() {
    let d = Scratch::new("today");
    let cfg = conf(d.path(), "");
    let today = date_days_ago(0);
    let t = now();
    write_day(d.path(), &today, constant(t - 600, t, 900));
    for date in [today.clone(), date_days_ago(-1), "9999-12-31".to_string()] {
        let (code, out, err) = digest_date(&cfg, &date);
        assert_eq!(code, 64, "{date}: {out}{err}");
        assert!(err.contains("not over"), "{date}: {err}");
    }
    assert!(!d.path().join("db").exists(), "nothing stored");
}

#[test]
fn a_day_file_that_grew_after_its_digest_is_digested_again() {
    let d = Scratch::new("grown");
    let cfg = conf(d.path(), "");
    let c = cfg.to_str().unwrap();
    let day = date_days_ago(2);
    let t = noon_utc(&day);
    let p = write_day(d.path(), &day, constant(t, t + 3600, 2000));
    let (code, out, err) = mcce(ROME, &["digest", "-c", c]);
    assert_eq!(code, 0, "{out}{err}");
    // The clock was ahead at the first run: more of the day came later.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        for l in constant(t + 3600, t + 7200, 2000) {
            writeln!(f, "{l}").unwrap();
        }
    }
    let (code, out, err) = mcce(ROME, &["digest", "-c", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("changed since"), "{out}");
    let db = d.path().join(format!("db/pwr.{}", &day[..4]));
    assert_eq!(avg(&db), vec![(day.clone(), 4.0)]);
    let (_, out, _) = mcce(ROME, &["digest", "-c", c]);
    assert!(out.contains("nothing to digest"), "{out}");
}

/// A stamp that cannot be the file's day (a corrupt line, far in the
/// future or the past) is a sample outside the day: counted, ignored, and
/// never a reason to call the day "not over" (which held it back at every
/// catch-up, forever). Export never prints it as a date.
#[test]
fn a_corrupt_stamp_is_only_a_line_outside_the_day() {
    let d = Scratch::new("corrupt-stamp");
    let cfg = conf(d.path(), "");
    let c = cfg.to_str().unwrap();
    let day = date_days_ago(1);
    let t = noon_utc(&day);
    let mut lines = constant(t, t + 3600, 2000);
    lines.insert(10, "999999999999999999 200".to_string());
    lines.push(format!("{} 200", now() + 3 * 86_400));
    lines.push("-999999999999999999 200".to_string());
    write_day(d.path(), &day, lines);
    let (code, out, err) = mcce(ROME, &["digest", "-c", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("2.00 kWh") && out.contains("3 outside the day"),
        "{out}"
    );
    let (_, out, _) = mcce(ROME, &["digest", "-c", c]);
    assert!(out.contains("nothing to digest"), "{out}");
    let (from, to) = (format!("--from={day}"), format!("--to={day}"));
    let out = export(&cfg, &["--resolution=raw", &from, &to]);
    assert_eq!(out.lines().count(), 1 + 720, "{out}");
    assert!(
        out.lines()
            .skip(1)
            .all(|l| l.starts_with(&day) && !l.contains(",-")),
        "only the day's samples, dated on the day: {out}"
    );
}

#[test]
fn an_unreadable_day_is_skipped_and_later_days_are_stored() {
    let d = Scratch::new("unreadable");
    let cfg = conf(d.path(), "");
    for day in [5, 7] {
        let t = utc_midnight(2025, 1, day) + 3600;
        write_day(
            d.path(),
            &format!("2025-01-0{day}"),
            constant(t, t + 600, 100),
        );
    }
    std::fs::create_dir_all(d.path().join("data/days/2025-01-06")).unwrap();
    // A device in days/ is not read without end.
    std::os::unix::fs::symlink("/dev/zero", d.path().join("data/days/2025-01-08")).unwrap();
    let (code, out, err) = mcce(ROME, &["digest", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 65, "{out}{err}");
    assert!(
        err.contains("2025-01-06")
            && err.contains("2025-01-08: cannot read the day file: a device, not a regular file")
            && err.contains("2 day(s) skipped"),
        "{err}"
    );
    let days: Vec<String> = avg(&d.path().join("db/pwr.2025"))
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(days, ["2025-01-05", "2025-01-07"]);
}

/// A FIFO named like a day (what a damaged card or a prank can leave in
/// days/) never makes a reader wait for a writer: the digest skips it and
/// stores the other days, the export names it, each at once.
#[test]
fn a_fifo_named_like_a_day_makes_no_reader_wait() {
    let d = Scratch::new("fifo");
    let cfg = conf(d.path(), "");
    for day in [5, 7] {
        let t = utc_midnight(2025, 1, day) + 3600;
        write_day(
            d.path(),
            &format!("2025-01-0{day}"),
            constant(t, t + 600, 100),
        );
    }
    let fifo = d.path().join("data/days/2025-01-06");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let c = cfg.to_str().unwrap();
    let limit = Duration::from_secs(5);
    let (code, out, err) = run_tz_within(ROME, &["digest", "-c", c], limit);
    assert_eq!(code, 65, "{out}{err}");
    assert!(err.contains("2025-01-06") && err.contains("FIFO"), "{err}");
    let days: Vec<String> = avg(&d.path().join("db/pwr.2025"))
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(days, ["2025-01-05", "2025-01-07"]);
    let range = ["--from", "2025-01-05", "--to", "2025-01-07"];
    let args = [&["export", "-c", c, "--resolution", "raw"][..], &range].concat();
    let (code, out, err) = run_tz_within(ROME, &args, limit);
    assert_eq!(code, 74, "{out}{err}");
    assert!(err.contains(&fifo.display().to_string()), "{err}");
}

#[test]
fn watts_beyond_what_the_meter_can_send_are_skipped() {
    let d = Scratch::new("absurd");
    let cfg = conf(d.path(), "");
    let t = utc_midnight(2025, 1, 15) - 3600;
    let mut lines = constant(t, t + 86_400, 1000);
    lines[100] = format!("{} 4000000000", t + 500);
    lines[200] = format!("{} 65536", t + 1000);
    write_day(d.path(), "2025-01-15", lines);
    let (code, out, err) = digest_date(&cfg, "2025-01-15");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("peak 1000 W") && out.contains("2 line(s) skipped"),
        "{out}"
    );
}

#[test]
fn a_data_dir_without_days_is_an_error() {
    let d = Scratch::new("no-days");
    std::fs::create_dir_all(d.path().join("data")).unwrap();
    let cfg = conf(d.path(), "");
    let (code, out, err) = mcce(ROME, &["digest", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 66, "{out}{err}");
    assert!(
        err.contains("data/days") && err.contains("missing"),
        "{err}"
    );
}

/// A raw file that changed after its digest, and whose new content cannot
/// be digested (here no energy), is the only copy of what changed: the
/// prune keeps it however old the day is.
#[test]
fn a_day_file_changed_since_its_digest_is_not_pruned() {
    let d = Scratch::new("changed-kept");
    let day = date_days_ago(3);
    let t = noon_utc(&day);
    let p = write_day(d.path(), &day, constant(t, t + 3600, 2000));
    // Stored first without retention, so the file is still there to change.
    let cfg = conf(d.path(), "");
    let (code, out, err) = mcce(ROME, &["digest", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    // Rewritten with a day of zeros: the digest cannot store it.
    write_day(d.path(), &day, constant(t, t + 7200, 0));
    let cfg = conf(d.path(), "KEEP_RAW_DAYS=1\n");
    let (code, out, err) = mcce(ROME, &["digest", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 65, "{out}{err}");
    assert!(err.contains("zero energy"), "{err}");
    assert!(p.exists(), "the changed raw file was removed: {out}");
}

/// The day of the migration: the Python version wrote the morning (one
/// value per 5-s slot), the daemon appended `<unix> <watts>` lines from
/// 11:00. Both parts are read, each by its own rule, and stored.
#[test]
fn the_migration_day_keeps_its_python_morning_and_its_afternoon() {
    let d = Scratch::new("migration");
    let cfg = conf(d.path(), "KEEP_RAW_DAYS=1\n");
    let midnight = utc_midnight(2025, 1, 15) - 3600;
    let mut lines: Vec<String> = (0..11 * 720).map(|_| "1000".to_string()).collect();
    lines.extend(constant(midnight + 11 * 3600, midnight + 86_400, 2000));
    write_day(d.path(), "2025-01-15", lines);
    let (code, out, err) = digest_date(&cfg, "2025-01-15");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("37.00 kWh")
            && out.contains("100.0 % covered")
            && out.contains("0 line(s) skipped")
            && out.contains("7920 sample(s) in the legacy format"),
        "{out}"
    );
    assert_eq!(
        avg(&d.path().join("db/pwr.2025")),
        vec![("2025-01-15".to_string(), 37.0)]
    );
    let rows = day_rows(&d.path().join("db/pwr.2025"), "2025-01-15");
    assert_eq!((rows[0].1, rows[95].1), (1000.0, 2000.0), "{rows:?}");
}

/// The energy of the samples' gaps judged by their own cadence: the same
/// file gives the same figures whatever `POLL_SECONDS` says today.
#[test]
fn the_same_day_has_the_same_energy_under_any_poll_seconds() {
    let midnight = utc_midnight(2025, 1, 15) - 3600;
    // 5-s samples, an outage of two hours, of 40 s and of 100 s.
    let lines: Vec<String> = (0..17_280)
        .map(|i| midnight + 5 * i)
        .filter(|t| {
            let s = t - midnight;
            !((7200..14_400).contains(&s)
                || (30_000..30_040).contains(&s)
                || (50_000..50_100).contains(&s))
        })
        .map(|t| format!("{t} {}", 500 + (t / 5) % 1000))
        .collect();
    let mut facts = Vec::new();
    for poll in [1, 5, 60] {
        let d = Scratch::new(&format!("poll-{poll}"));
        write_day(d.path(), "2025-01-15", lines.clone());
        let cfg = conf(d.path(), &format!("POLL_SECONDS={poll}\n"));
        let (code, out, err) = digest_date(&cfg, "2025-01-15");
        assert_eq!(code, 0, "{out}{err}");
        facts.push(export(&cfg, &["--resolution=day", "--from=2025-01-15"]));
    }
    let row = facts[0].lines().nth(1).unwrap().to_string();
    let col = |name: &str| {
        let header = facts[0].lines().next().unwrap();
        let i = header.split(',').position(|h| h == name).unwrap();
        row.split(',').nth(i).unwrap().to_string()
    };
    assert_eq!(
        (col("gaps"), col("samples")),
        ("3".into(), "15812".into()),
        "{row}"
    );
    assert_eq!(facts[0], facts[1]);
    assert_eq!(facts[1], facts[2]);
}

/// A day polled every 5 s until noon and every 60 s after (a reload with
/// a new `POLL_SECONDS`) keeps both halves, under the old setting and the
/// new one.
#[test]
fn a_day_whose_cadence_changed_keeps_both_parts() {
    let midnight = utc_midnight(2025, 1, 15) - 3600;
    let mut lines = constant(midnight, midnight + 43_200, 1000);
    lines.extend(
        (midnight + 43_200..midnight + 86_400)
            .step_by(60)
            .map(|t| format!("{t} 1000")),
    );
    for poll in [5, 60] {
        let d = Scratch::new(&format!("cadence-{poll}"));
        write_day(d.path(), "2025-01-15", lines.clone());
        let cfg = conf(d.path(), &format!("POLL_SECONDS={poll}\n"));
        let (code, out, err) = digest_date(&cfg, "2025-01-15");
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("24.00 kWh")
                && out.contains("100.0 % covered")
                && out.contains("0 gap(s)"),
            "POLL_SECONDS={poll}: {out}"
        );
    }
}

/// What a power cut can leave on a card: 100 MB of NUL bytes and no
/// newline. It is one line too long to be a sample, skipped and counted,
/// and the digest's memory stays small (peak RSS of the real binary).
#[test]
fn a_hundred_megabytes_without_a_newline_keep_the_digest_small() {
    use std::io::{Read, Write};
    let d = Scratch::new("nul-tail");
    let t = utc_midnight(2025, 1, 15) + 3600;
    let p = write_day(d.path(), "2025-01-15", constant(t, t + 3600, 1000));
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    let block = vec![0u8; 1 << 20];
    for _ in 0..100 {
        f.write_all(&block).unwrap();
    }
    drop(f);
    let cfg = conf(d.path(), "");
    #[allow(clippy::zombie_processes)] // reaped by wait4, for its peak RSS
    let mut child = Command::new(bin())
        .args([
            "digest",
            "-c",
            cfg.to_str().unwrap(),
            "--date",
            "2025-01-15",
        ])
        .env("TZ", ROME)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (code, peak) = wait_with_peak_rss(child.id());
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1.00 kWh") && out.contains("1 line(s) skipped (1 too long to be a sample)"),
        "{out}"
    );
    assert!(peak < 16 << 20, "peak RSS {peak} bytes");
}

/// `mcce export -c CFG ARGS` under Rome time: what it printed (exit 0).
fn export(cfg: &Path, args: &[&str]) -> String {
    let mut all = vec!["export", "-c", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = mcce(ROME, &all);
    assert_eq!(code, 0, "{err}");
    out
}

/// Waits for child `pid` (its few lines of output wait in the pipe) and
/// returns its exit code and peak resident size in bytes, as the kernel
/// counted it. The child is reaped here: read its pipes, never `wait` it.
fn wait_with_peak_rss(pid: u32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(r, pid as libc::pid_t, "wait4");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64 * 1024)
}

/// A day outside the years the dashboard reads (2020-2099: pwrApp expects
/// such a year in every file name of the databases' directory) is never
/// stored: no `pwr.0` or `pwr.2019` next to the yearly files; it is
/// named, the other days are stored, and the exit says days were skipped.
#[test]
fn a_day_outside_the_dashboards_years_is_not_stored() {
    let d = Scratch::new("years");
    let cfg = conf(d.path(), "");
    let y2025 = utc_midnight(2025, 1, 10) - 3600;
    write_day(d.path(), "2025-01-10", constant(y2025, y2025 + 86_400, 500));
    let y0 = utc_midnight(0, 1, 1);
    write_day(d.path(), "0000-01-01", constant(y0, y0 + 86_400, 500));
    let y2019 = utc_midnight(2019, 12, 31) - 3600;
    write_day(d.path(), "2019-12-31", constant(y2019, y2019 + 86_400, 500));
    let (code, _, err) = mcce(ROME, &["digest", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 65, "{err}");
    for name in ["0000-01-01", "2019-12-31"] {
        assert!(
            err.contains(&format!("{name}: a year outside 2020-2099")),
            "{err}"
        );
    }
    let mut dbs: Vec<String> = std::fs::read_dir(d.path().join("db"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dbs.sort();
    assert_eq!(dbs, ["pwr.2025"]);
    assert_eq!(avg(&d.path().join("db/pwr.2025")).len(), 1);
}
