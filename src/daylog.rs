//! Raw day files (docs/data.md#day-files): `DATA_DIR/days/YYYY-MM-DD`, one `<unix seconds>
//! <watts>` line per sample, append-only. These files are the record of
//! truth; the database is derived from them and can always be rebuilt.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use time::Date;

use crate::energy::Sample;
use crate::localtime::{date_name, local_date, local_day_bounds, parse_date};

/// Interval of the original Python poller, which legacy files assume.
pub const LEGACY_PERIOD_SECONDS: i64 = 5;

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
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        cut_torn_tail(&file, &path)?;
        Ok(file)
    }

    /// Flushes the current file to the card and closes it.
    pub fn close(&mut self) {
        if let Some(o) = self.open.take() {
            let _ = o.file.sync_data();
        }
    }
}

/// Cuts a final fragment without newline off the file. A power cut or a
/// full card can leave `1795698207 31` of `1795698207 3120`; our next line
/// would give it a newline and make it a real-looking sample, so it goes
/// before anything is appended. Scans back in blocks for the last newline.
fn cut_torn_tail(file: &File, path: &Path) -> io::Result<()> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut block = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let chunk = &mut block[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|c| *c == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        log::warn!(
            "{}: cut {} byte(s) of a torn last line",
            path.display(),
            len - end
        );
        file.set_len(end)?;
    }
    Ok(())
}

impl Drop for DayWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// The most a meter frame can carry: two bytes of watts. A larger value in
/// a day file is corruption, not a reading.
pub const MAX_WATTS: i64 = 65_535;

/// Counts of what reading a day file passed over.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines that were not a sample: garbage, watts beyond `MAX_WATTS`, a
    /// line of the other format, or a torn last line.
    pub skipped: u64,
    /// Every line that was not blank, including the skipped ones.
    pub lines: u64,
    pub legacy: bool,
}

impl ReadStats {
    /// More than half of the lines were not samples: the file is damaged or
    /// not what we think, so it is reported and never pruned.
    pub fn mostly_skipped(&self) -> bool {
        mostly_skipped(self.skipped, self.lines)
    }
}

/// The one rule for a file that was mostly not samples, for a file being
/// read and for one described by its stored counts (the prune asks).
pub fn mostly_skipped(skipped: u64, lines: u64) -> bool {
    skipped * 2 > lines
}

/// The shape of one complete line: what the format vote counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Blank,
    /// `<unix> <watts>`: ours.
    Pair,
    /// One number: the original Python format.
    Single,
    Other,
}

fn shape(line: &[u8]) -> Shape {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Shape::Blank;
    }
    match split_fields(line) {
        Fields::One(a) if parse_int(a).is_some() => Shape::Single,
        Fields::Two(a, b) if parse_int(a).is_some() && parse_int(b).is_some() => Shape::Pair,
        _ => Shape::Other,
    }
}

/// Strips the newline (and a `\r` before it) of a complete line; `None`
/// for a final fragment without newline, which may be cut short.
fn complete_line(buf: &[u8]) -> Option<&[u8]> {
    let line = buf.strip_suffix(b"\n")?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Streams the samples of one day file in file order.
///
/// The format is decided by a vote of all complete lines before the first
/// sample is returned: the file is legacy (the original Python format,
/// whose n-th line, from 0, was taken `5·n` seconds after `legacy_start`,
/// local midnight) only when one-number lines outnumber `<unix> <watts>`
/// lines. One cut or garbage line can therefore never switch a day to the
/// other format; lines of the losing shape are skipped.
pub struct DayReader<R> {
    input: R,
    buf: Vec<u8>,
    legacy_start: i64,
    legacy_index: i64,
    pub stats: ReadStats,
}

impl DayReader<io::BufReader<File>> {
    pub fn open(path: &Path, legacy_start: i64) -> io::Result<Self> {
        DayReader::from_file(File::open(path)?, legacy_start)
    }

    /// A reader on a file the caller has opened, so that what it learns of
    /// the file (its size) is of the file read, not of one found at the
    /// same path a moment earlier.
    pub fn from_file(f: File, legacy_start: i64) -> io::Result<Self> {
        DayReader::new(io::BufReader::with_capacity(64 * 1024, f), legacy_start)
    }
}

impl<R: BufRead + Seek> DayReader<R> {
    /// Reads the input once to decide its format, then rewinds.
    pub fn new(mut input: R, legacy_start: i64) -> io::Result<Self> {
        let (pairs, singles) = vote(&mut input)?;
        input.seek(SeekFrom::Start(0))?;
        Ok(DayReader {
            input,
            buf: Vec::with_capacity(64),
            legacy_start,
            legacy_index: 0,
            stats: ReadStats {
                legacy: singles > pairs,
                ..ReadStats::default()
            },
        })
    }

    /// The next sample, `Ok(None)` at the end.
    pub fn next_sample(&mut self) -> io::Result<Option<Sample>> {
        loop {
            self.buf.clear();
            let n = self.input.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            let Some(line) = complete_line(&self.buf) else {
                // Torn last line: whatever it says may be cut short.
                self.stats.lines += 1;
                self.stats.skipped += 1;
                continue;
            };
            if shape(line) == Shape::Blank {
                continue;
            }
            self.stats.lines += 1;
            let watts = |w: i64| (0..=MAX_WATTS).contains(&w).then_some(w as u32);
            if self.stats.legacy {
                // Every line, even a bad one, stood for one 5-second slot.
                let slot = self.legacy_index;
                self.legacy_index += 1;
                if let Fields::One(a) = split_fields(line)
                    && let Some(w) = parse_int(a).and_then(watts)
                {
                    return Ok(Some(Sample {
                        ts: self.legacy_start + slot * LEGACY_PERIOD_SECONDS,
                        watts: w,
                    }));
                }
            } else if let Fields::Two(a, b) = split_fields(line)
                && let (Some(ts), Some(w)) = (parse_int(a), parse_int(b).and_then(watts))
            {
                return Ok(Some(Sample { ts, watts: w }));
            }
            self.stats.skipped += 1;
        }
    }
}

/// Counts the complete lines of two numbers and of one number, in one pass
/// over the buffered bytes without copying lines: the reading that follows
/// is what checks each line exactly, this only decides the format.
fn vote<R: BufRead>(input: &mut R) -> io::Result<(u64, u64)> {
    let (mut pairs, mut singles) = (0u64, 0u64);
    let (mut fields, mut in_field, mut bad) = (0u32, false, false);
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok((pairs, singles));
        }
        for &c in buf {
            match c {
                b'\n' => {
                    if !bad {
                        match fields {
                            1 => singles += 1,
                            2 => pairs += 1,
                            _ => {}
                        }
                    }
                    (fields, in_field, bad) = (0, false, false);
                }
                b' ' | b'\t' | b'\r' => in_field = false,
                b'0'..=b'9' | b'-' => {
                    if !in_field {
                        fields += 1;
                        in_field = true;
                    }
                }
                _ => bad = true,
            }
        }
        let n = buf.len();
        input.consume(n);
    }
}

/// A line's fields (separated by spaces or tabs), as far as a day file
/// cares.
enum Fields<'a> {
    /// One field: the original format's watts.
    One(&'a [u8]),
    /// Two fields: `<unix seconds> <watts>`.
    Two(&'a [u8], &'a [u8]),
    /// None, or three and more.
    Other,
}

fn split_fields(line: &[u8]) -> Fields<'_> {
    let mut it = line
        .split(|c| *c == b' ' || *c == b'\t')
        .filter(|f| !f.is_empty());
    match (it.next(), it.next(), it.next()) {
        (Some(a), None, _) => Fields::One(a),
        (Some(a), Some(b), None) => Fields::Two(a, b),
        _ => Fields::Other,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<Sample>, ReadStats) {
        let mut r = DayReader::new(io::Cursor::new(text.as_bytes()), 1000).unwrap();
        let mut v = Vec::new();
        while let Some(s) = r.next_sample().unwrap() {
            v.push(s);
        }
        (v, r.stats)
    }

    fn read_path(path: &Path) -> (Vec<Sample>, ReadStats) {
        let mut r = DayReader::open(path, 0).unwrap();
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
        assert_eq!((st.skipped, st.lines), (3, 5));
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
    fn one_number_first_line_does_not_make_the_file_legacy() {
        for first in ["1704841", "31", "\0\0\0\0"] {
            let (v, st) = read(&format!("{first}\n100 5\n105 7\n"));
            assert!(!st.legacy, "{first:?}");
            assert_eq!(
                v,
                vec![Sample { ts: 100, watts: 5 }, Sample { ts: 105, watts: 7 }]
            );
            assert_eq!(st.skipped, 1);
        }
        // A legacy file with one line of ours in it stays legacy.
        let (v, st) = read("10\n1700000000 5\n30\n");
        assert!(st.legacy);
        assert_eq!(v.iter().map(|s| s.ts).collect::<Vec<_>>(), [1000, 1010]);
    }

    #[test]
    fn watts_beyond_two_bytes_are_skipped() {
        let (v, st) = read("100 65535\n105 65536\n110 4000000000\n115 -1\n");
        assert_eq!(
            v,
            vec![Sample {
                ts: 100,
                watts: 65_535
            }]
        );
        assert_eq!(st.skipped, 3);
        let (v, st) = read("10\n70000\n");
        assert_eq!((v.len(), st.skipped), (1, 1));
    }

    #[test]
    fn mostly_skipped() {
        assert!(read("1 1\nx\ny\n").1.mostly_skipped());
        assert!(!read("1 1\n2 2\ny\n").1.mostly_skipped());
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcce-daylog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_torn_last_line_never_becomes_a_sample() {
        let dir = scratch("torn");
        let mut w = DayWriter::new(dir.clone());
        let t0 = 1_795_698_200;
        w.append(Sample {
            ts: t0,
            watts: 3100,
        })
        .unwrap();
        w.close();
        let path = day_path(&dir, local_date(t0));
        // A power cut in the middle of `1795698207 3120`.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"1795698207 31")
            .unwrap();
        assert_eq!(read_path(&path).1.skipped, 1, "the reader skips it");
        w.append(Sample {
            ts: t0 + 10,
            watts: 3130,
        })
        .unwrap();
        w.close();
        let (v, st) = read_path(&path);
        assert_eq!(
            v,
            vec![
                Sample {
                    ts: t0,
                    watts: 3100
                },
                Sample {
                    ts: t0 + 10,
                    watts: 3130
                }
            ]
        );
        assert_eq!(st.skipped, 0);
        // A file that is one long fragment is emptied.
        std::fs::write(&path, vec![0u8; 10_000]).unwrap();
        w.append(Sample { ts: t0, watts: 5 }).unwrap();
        w.close();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            format!("{t0} 5\n").as_bytes()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn writer_switches_days() {
        let dir = scratch("switch");
        let mut w = DayWriter::new(dir.clone());
        let t0 = 1_700_000_000;
        w.append(Sample { ts: t0, watts: 1 }).unwrap();
        w.append(Sample {
            ts: t0 + 2 * 86_400,
            watts: 3,
        })
        .unwrap();
        w.close();
        let (v, _) = read_path(&day_path(&dir, local_date(t0)));
        assert_eq!(v, vec![Sample { ts: t0, watts: 1 }]);
        assert_eq!(list_days(&dir).unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
