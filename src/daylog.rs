//! Raw day files (SPEC §3): `DATA_DIR/days/YYYY-MM-DD`, one `<unix seconds>
//! <watts>` line per sample, append-only. These files are the record of
//! truth; the database is derived from them and can always be rebuilt.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use time::Date;

use crate::localtime::{date_name, local_date, local_day_bounds, parse_date};

/// Interval of the original Python poller, which legacy files assume.
pub const LEGACY_PERIOD_SECONDS: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sample {
    pub ts: i64,
    pub watts: u32,
}

pub fn day_path(days_dir: &Path, date: Date) -> PathBuf {
    days_dir.join(date_name(date))
}

/// The dates that have a day file, oldest first. Other names are ignored.
pub fn list_days(days_dir: &Path) -> io::Result<Vec<Date>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(days_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(d) = entry.file_name().to_str().and_then(parse_date) {
            out.push(d);
        }
    }
    out.sort();
    Ok(out)
}

/// Appends samples to the file of their local date, switching files at
/// local midnight. One `write` per sample and no fsync: an SD card wears
/// out, and losing the last seconds in a power cut is the accepted cost.
pub struct DayWriter {
    days_dir: PathBuf,
    open: Option<OpenDay>,
    line: Vec<u8>,
}

/// The file being appended to, and the Unix-time span of its local day:
/// a sample inside the span needs no time-zone lookup.
struct OpenDay {
    span: std::ops::Range<i64>,
    file: File,
}

impl DayWriter {
    pub fn new(days_dir: PathBuf) -> Self {
        DayWriter {
            days_dir,
            open: None,
            line: Vec::with_capacity(32),
        }
    }

    /// Writes one sample. On error the file is closed so the next sample
    /// reopens it: a full disk or a remounted card heals by itself.
    pub fn append(&mut self, sample: Sample) -> io::Result<()> {
        if !self
            .open
            .as_ref()
            .is_some_and(|o| o.span.contains(&sample.ts))
        {
            self.close();
            let date = local_date(sample.ts);
            let file = self.open_day(date)?;
            let (start, end) = local_day_bounds(date);
            self.open = Some(OpenDay {
                span: start..end,
                file,
            });
        }
        self.line.clear();
        writeln!(self.line, "{} {}", sample.ts, sample.watts).expect("vec write");
        let open = self.open.as_mut().expect("opened above");
        if let Err(e) = open.file.write_all(&self.line) {
            self.open = None;
            return Err(e);
        }
        Ok(())
    }

    fn open_day(&self, date: Date) -> io::Result<File> {
        std::fs::create_dir_all(&self.days_dir)?;
        let path = day_path(&self.days_dir, date);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        // A power cut can leave a torn last line; start on a fresh line so
        // the fragment stays one skipped line instead of corrupting ours.
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8];
            let torn = match file.read_at(&mut last, len - 1) {
                Ok(1) => last[0] != b'\n',
                _ => false,
            };
            if torn {
                file.write_all(b"\n")?;
            }
        }
        Ok(file)
    }

    /// Flushes the current file to the card and closes it.
    pub fn close(&mut self) {
        if let Some(o) = self.open.take() {
            let _ = o.file.sync_data();
        }
    }
}

impl Drop for DayWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Counts of what reading a day file passed over.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines that were not a sample: garbage, or a torn last line.
    pub skipped: u64,
    pub legacy: bool,
}

/// Streams the samples of one day file in file order.
///
/// The format is recognized from the first sample line: two numbers is
/// ours, one number is the original Python format, whose n-th value (from
/// 0) was taken `5·n` seconds after `legacy_start` (local midnight).
pub struct DayReader<R> {
    input: R,
    buf: Vec<u8>,
    legacy_start: i64,
    format: Option<bool>,
    legacy_index: i64,
    pub stats: ReadStats,
}

impl DayReader<io::BufReader<File>> {
    pub fn open(path: &Path, legacy_start: i64) -> io::Result<Self> {
        let f = File::open(path)?;
        Ok(DayReader::new(
            io::BufReader::with_capacity(64 * 1024, f),
            legacy_start,
        ))
    }
}

impl<R: BufRead> DayReader<R> {
    pub fn new(input: R, legacy_start: i64) -> Self {
        DayReader {
            input,
            buf: Vec::with_capacity(64),
            legacy_start,
            format: None,
            legacy_index: 0,
            stats: ReadStats::default(),
        }
    }

    /// The next sample, `Ok(None)` at the end.
    pub fn next_sample(&mut self) -> io::Result<Option<Sample>> {
        loop {
            self.buf.clear();
            let n = self.input.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            if self.buf.last() != Some(&b'\n') {
                // Torn last line: whatever it says may be cut short.
                self.stats.skipped += 1;
                continue;
            }
            let line = &self.buf[..self.buf.len() - 1];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (a, b) = split_fields(line);
            let legacy = *self.format.get_or_insert(b.is_none());
            self.stats.legacy = legacy;
            if legacy {
                // Every line, even a bad one, stood for one 5-second slot.
                let slot = self.legacy_index;
                self.legacy_index += 1;
                match (parse_int(a), b) {
                    (Some(w), None) if (0..=i64::from(u32::MAX)).contains(&w) => {
                        return Ok(Some(Sample {
                            ts: self.legacy_start + slot * LEGACY_PERIOD_SECONDS,
                            watts: w as u32,
                        }));
                    }
                    _ => self.stats.skipped += 1,
                }
            } else {
                match (parse_int(a), b.and_then(parse_int)) {
                    (Some(ts), Some(w)) if (0..=i64::from(u32::MAX)).contains(&w) => {
                        return Ok(Some(Sample {
                            ts,
                            watts: w as u32,
                        }));
                    }
                    _ => self.stats.skipped += 1,
                }
            }
        }
    }
}

/// Splits a line into its first field and, if present, its second; a line
/// with three or more fields yields an impossible second field.
fn split_fields(line: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut it = line
        .split(|c| *c == b' ' || *c == b'\t')
        .filter(|f| !f.is_empty());
    let a = it.next().unwrap_or(&[]);
    let b = it.next();
    if it.next().is_some() {
        return (a, Some(b"x"));
    }
    (a, b)
}

fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(if neg { -n } else { n })
}

/// Reads a whole day file into memory (a day is ~17 000 samples).
pub fn read_day(path: &Path, legacy_start: i64) -> io::Result<(Vec<Sample>, ReadStats)> {
    let mut r = DayReader::open(path, legacy_start)?;
    let mut v = Vec::with_capacity(17_400);
    while let Some(s) = r.next_sample()? {
        v.push(s);
    }
    Ok((v, r.stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<Sample>, ReadStats) {
        let mut r = DayReader::new(text.as_bytes(), 1000);
        let mut v = Vec::new();
        while let Some(s) = r.next_sample().unwrap() {
            v.push(s);
        }
        (v, r.stats)
    }

    #[test]
    fn ours_garbage_and_torn_line() {
        let (v, st) = read("100 5\n\nxx yy\n105 7\r\n110 8 9\n115 3");
        assert_eq!(
            v,
            vec![Sample { ts: 100, watts: 5 }, Sample { ts: 105, watts: 7 }]
        );
        assert_eq!(st.skipped, 3);
        assert!(!st.legacy);
    }

    #[test]
    fn legacy_lines_are_five_seconds_apart_from_midnight() {
        let (v, st) = read("10\n20\nbad\n40\n");
        assert!(st.legacy);
        assert_eq!(st.skipped, 1);
        let ts: Vec<i64> = v.iter().map(|s| s.ts).collect();
        assert_eq!(ts, vec![1000, 1005, 1015]);
        assert_eq!(v[2].watts, 40);
    }

    #[test]
    fn writer_isolates_a_torn_line_and_switches_days() {
        let dir = std::env::temp_dir().join(format!("mcce-daylog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = DayWriter::new(dir.clone());
        let t0 = 1_700_000_000;
        w.append(Sample { ts: t0, watts: 1 }).unwrap();
        w.close();
        let path = day_path(&dir, local_date(t0));
        // Simulate a power cut mid-line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"17000000")
            .unwrap();
        w.append(Sample {
            ts: t0 + 5,
            watts: 2,
        })
        .unwrap();
        w.append(Sample {
            ts: t0 + 2 * 86_400,
            watts: 3,
        })
        .unwrap();
        w.close();
        let (v, st) = read_day(&path, 0).unwrap();
        assert_eq!(
            v,
            vec![
                Sample { ts: t0, watts: 1 },
                Sample {
                    ts: t0 + 5,
                    watts: 2
                }
            ]
        );
        assert_eq!(st.skipped, 1);
        let days = list_days(&dir).unwrap();
        assert_eq!(days.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
