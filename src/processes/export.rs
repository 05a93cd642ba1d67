//! `mcce export`: history out as CSV or JSON on stdout — raw samples from
//! the day files, buckets and days from the databases. Rows stream out as
//! they are read, so a year of raw samples needs no more memory than a day.

use std::io::{self, Write};

use crate::core::calendar::Date;

use crate::adapters::daylog::{DayReader, day_path, list_days};
use crate::adapters::localtime::{OffsetCache, local_day_bounds};
use crate::adapters::store::{Store, StoreError};
use crate::core::calendar::date_name;
use crate::core::config::Config;
use crate::core::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Raw,
    Bucket,
    Day,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// Writes rows as CSV (header first) or as one JSON array of objects.
struct RowWriter<W: Write> {
    out: W,
    format: Format,
    columns: &'static [&'static str],
    rows: u64,
    line: Vec<u8>,
}

/// One field: numbers and `null` go out bare, text is quoted as needed.
enum Field<'a> {
    Int(i64),
    Real(f64),
    Text(&'a [u8]),
    Null,
}

impl<W: Write> RowWriter<W> {
    fn new(mut out: W, format: Format, columns: &'static [&'static str]) -> io::Result<Self> {
        match format {
            Format::Csv => writeln!(out, "{}", columns.join(","))?,
            Format::Json => out.write_all(b"[")?,
        }
        Ok(RowWriter {
            out,
            format,
            columns,
            rows: 0,
            line: Vec::with_capacity(128),
        })
    }

    fn row(&mut self, fields: &[Field<'_>]) -> io::Result<()> {
        self.line.clear();
        let l = &mut self.line;
        if self.format == Format::Json {
            l.extend_from_slice(if self.rows == 0 { b"\n{" } else { b",\n{" });
        }
        for (i, (f, name)) in fields.iter().zip(self.columns).enumerate() {
            if i > 0 {
                l.push(b',');
            }
            if self.format == Format::Json {
                l.push(b'"');
                l.extend_from_slice(name.as_bytes());
                l.extend_from_slice(b"\":");
            }
            match f {
                Field::Int(n) => {
                    let _ = write!(l, "{n}");
                }
                Field::Real(x) if self.format == Format::Json => json::push_num(l, *x),
                Field::Real(x) => {
                    let _ = write!(l, "{x}");
                }
                Field::Null if self.format == Format::Json => l.extend_from_slice(b"null"),
                Field::Null => {}
                Field::Text(t) => push_text(l, t, self.format),
            }
        }
        l.push(if self.format == Format::Json {
            b'}'
        } else {
            b'\n'
        });
        self.rows += 1;
        self.out.write_all(&self.line)
    }

    fn finish(mut self) -> io::Result<u64> {
        if self.format == Format::Json {
            self.out
                .write_all(if self.rows == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

/// A text field: as it is in CSV unless it holds a separator, a quote or a
/// line break (then quoted, RFC 4180: only the quote is escaped, by
/// doubling); always quoted and escaped in JSON.
fn push_text(l: &mut Vec<u8>, t: &[u8], format: Format) {
    if format == Format::Json {
        json::push_bytes(l, t);
        return;
    }
    if !t.iter().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        l.extend_from_slice(t);
        return;
    }
    l.push(b'"');
    for &c in t {
        if c == b'"' {
            l.push(b'"');
        }
        l.push(c);
    }
    l.push(b'"');
}

/// Why an export stopped: a file it could not read or an output it could
/// not write (the message names it), or the database.
#[derive(Debug)]
pub enum ExportError {
    Io(String),
    Store(StoreError),
}

impl From<StoreError> for ExportError {
    fn from(e: StoreError) -> Self {
        ExportError::Store(e)
    }
}

type Exported = Result<(), ExportError>;

fn out_err(e: io::Error) -> ExportError {
    ExportError::Io(format!("output: {e}"))
}

/// Exports `[from, to]` (local dates, inclusive) to `out`.
pub fn export(
    cfg: &Config,
    from: Date,
    to: Date,
    resolution: Resolution,
    format: Format,
    out: &mut dyn Write,
) -> Exported {
    let out = io::BufWriter::with_capacity(256 * 1024, out);
    match resolution {
        Resolution::Raw => raw(cfg, from, to, format, out),
        Resolution::Bucket => buckets(cfg, from, to, format, out),
        Resolution::Day => days(cfg, from, to, format, out),
    }
}

fn raw<W: Write>(cfg: &Config, from: Date, to: Date, format: Format, out: W) -> Exported {
    let mut w = RowWriter::new(out, format, &["time", "unix", "watts"]).map_err(out_err)?;
    let dir = cfg.days_dir();
    let days = list_days(&dir).map_err(|e| ExportError::Io(format!("{}: {e}", dir.display())))?;
    let mut offsets = OffsetCache::default();
    let mut iso = Vec::with_capacity(32);
    for d in days.into_iter().filter(|d| (from..=to).contains(d)) {
        let path = day_path(&dir, d);
        let (start, end) = local_day_bounds(d);
        let mut r = DayReader::open(&path, start)
            .map_err(|e| ExportError::Io(format!("{}: {e}", path.display())))?;
        while let Some(s) = r
            .next_sample()
            .map_err(|e| ExportError::Io(format!("{}: {e}", path.display())))?
        {
            // A stamp that cannot be the file's day (corrupt, or the
            // Python format's 24:00:00 line, which is the next day's) is
            // not the day's sample, as for the digest: never printed as a
            // date that no one recorded.
            if !(start..end).contains(&s.ts) {
                continue;
            }
            iso.clear();
            offsets.push_iso(&mut iso, s.ts);
            w.row(&[
                Field::Text(&iso),
                Field::Int(s.ts),
                Field::Int(i64::from(s.watts)),
            ])
            .map_err(out_err)?;
        }
    }
    w.finish().map_err(out_err)?;
    Ok(())
}

fn buckets<W: Write>(cfg: &Config, from: Date, to: Date, format: Format, out: W) -> Exported {
    let mut w = RowWriter::new(out, format, &["time", "unix", "label", "mean_w", "samples"])
        .map_err(out_err)?;
    let mut offsets = OffsetCache::default();
    let mut iso = Vec::with_capacity(32);
    for year in from.year()..=to.year() {
        let Some(store) = Store::read_year(cfg, year)? else {
            continue;
        };
        store.buckets(&date_name(from), &date_name(to), &mut |b| {
            iso.clear();
            let (time, unix) = match b.start {
                Some(t) => {
                    offsets.push_iso(&mut iso, t);
                    (Field::Text(&iso), Field::Int(t))
                }
                None => (Field::Null, Field::Null),
            };
            w.row(&[
                time,
                unix,
                Field::Text(b.label.as_bytes()),
                Field::Real(b.mean_w),
                b.samples.map_or(Field::Null, Field::Int),
            ])
        })?;
    }
    w.finish().map_err(out_err)?;
    Ok(())
}

fn days<W: Write>(cfg: &Config, from: Date, to: Date, format: Format, out: W) -> Exported {
    let mut w = RowWriter::new(
        out,
        format,
        &[
            "date",
            "kwh",
            "coverage",
            "samples",
            "peak_w",
            "peak_at",
            "min_w",
            "over_cap_seconds",
            "gaps",
            "outside",
            "duplicates",
            "free_seconds",
            "tolerated_seconds",
            "over_seconds",
            "near_trips",
        ],
    )
    .map_err(out_err)?;
    for year in from.year()..=to.year() {
        let Some(store) = Store::read_year(cfg, year)? else {
            continue;
        };
        for d in store.days(&date_name(from), &date_name(to))? {
            let opt = |v: Option<i64>| v.map_or(Field::Null, Field::Int);
            w.row(&[
                Field::Text(d.day.as_bytes()),
                Field::Real(d.kwh),
                d.coverage.map_or(Field::Null, Field::Real),
                opt(d.samples),
                opt(d.peak_w),
                d.peak_at
                    .as_deref()
                    .map_or(Field::Null, |s| Field::Text(s.as_bytes())),
                opt(d.min_w),
                opt(d.over_cap_seconds),
                opt(d.gaps),
                opt(d.outside),
                opt(d.duplicates),
                opt(d.bands.map(|b| b.free)),
                opt(d.bands.map(|b| b.tolerated)),
                opt(d.bands.map(|b| b.over)),
                opt(d.bands.map(|b| i64::from(b.warnings))),
            ])
            .map_err(out_err)?;
        }
    }
    w.finish().map_err(out_err)?;
    Ok(())
}

/// The first day with data, the default start of an export (and the first
/// date in a download's name): the oldest day file with bytes in it or the
/// first day stored in a yearly database, whichever is earlier. A database
/// that holds no day, or cannot be read, says nothing about where data
/// starts; the export itself reports a damaged one.
pub fn earliest(cfg: &Config) -> Option<Date> {
    let dir = cfg.days_dir();
    let first_file = list_days(&dir).ok().and_then(|days| {
        days.into_iter()
            .find(|d| std::fs::metadata(day_path(&dir, *d)).is_ok_and(|m| m.len() > 0))
    });
    let first_db = crate::adapters::store::years(cfg)
        .into_iter()
        .find_map(|year| {
            let store = Store::read_year(cfg, year).ok()??;
            let day = store.first_day().ok()??;
            crate::core::calendar::parse_date(&day)
        });
    match (first_file, first_db) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: Format, rows: &[Vec<Field<'_>>]) -> String {
        let mut buf = Vec::new();
        let mut w = RowWriter::new(&mut buf, format, &["a", "b", "c"]).unwrap();
        for r in rows {
            w.row(r).unwrap();
        }
        w.finish().unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn csv_and_json_quoting() {
        let rows = vec![
            vec![Field::Text(b"x,\"y\""), Field::Int(-3), Field::Null],
            vec![Field::Text(b"plain"), Field::Real(1.5), Field::Real(2.0)],
        ];
        assert_eq!(
            render(Format::Csv, &rows),
            "a,b,c\n\"x,\"\"y\"\"\",-3,\nplain,1.5,2\n"
        );
        assert_eq!(
            render(Format::Json, &rows),
            "[\n{\"a\":\"x,\\\"y\\\"\",\"b\":-3,\"c\":null},\n{\"a\":\"plain\",\"b\":1.5,\"c\":2}\n]\n"
        );
        assert_eq!(render(Format::Json, &[]), "[]\n");
    }

    /// JSON has no word for a NaN or an infinity (a damaged database can
    /// hold an infinite mean): such a number is `null`, the file stays
    /// JSON. CSV writes what it read.
    #[test]
    fn a_number_that_is_not_finite_is_null_in_json() {
        let rows = vec![vec![
            Field::Real(f64::INFINITY),
            Field::Real(f64::NAN),
            Field::Real(f64::NEG_INFINITY),
        ]];
        assert_eq!(
            render(Format::Json, &rows),
            "[\n{\"a\":null,\"b\":null,\"c\":null}\n]\n"
        );
        assert_eq!(render(Format::Csv, &rows), "a,b,c\ninf,NaN,-inf\n");
    }

    #[test]
    fn csv_leaves_backslashes_alone_and_json_escapes_them() {
        // RFC 4180 escapes only the quote; a backslash is an ordinary byte.
        let rows = vec![vec![
            Field::Text(b"C:\\dir, \"x\""),
            Field::Text(b"a\\b"),
            Field::Null,
        ]];
        assert_eq!(
            render(Format::Csv, &rows),
            "a,b,c\n\"C:\\dir, \"\"x\"\"\",a\\b,\n"
        );
        assert_eq!(
            render(Format::Json, &rows),
            "[\n{\"a\":\"C:\\\\dir, \\\"x\\\"\",\"b\":\"a\\\\b\",\"c\":null}\n]\n"
        );
    }
}
