//! Raw day files (docs/data.md#day-files): `DATA_DIR/days/YYYY-MM-DD`, one `<unix seconds>
//! <watts>` line per sample, append-only. These files are the record of
//! truth; the database is derived from them and can always be rebuilt.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::core::calendar::Date;

use crate::adapters::localtime::{local_date, local_day_bounds};
use crate::core::calendar::{date_name, parse_date};
use crate::core::energy::{DayCollector, Sample};

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
    /// The day whose file was last looked at for Python-format lines.
    looked: Option<Date>,
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
            looked: None,
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
            let (start, end) = local_day_bounds(date);
            let file = self.open_day(date, start)?;
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

    fn open_day(&mut self, date: Date, start: i64) -> io::Result<File> {
        std::fs::create_dir_all(&self.days_dir)?;
        let path = day_path(&self.days_dir, date);
        // Never a FIFO, a device or a directory: a write to a FIFO nobody
        // reads would stop the daemon's polls and alarms.
        let file = crate::adapters::sys::open_to_append(&path)?;
        regular(&file)
            .map_err(|e| io::Error::new(e.kind(), format!("{} is {e}", date_name(date))))?;
        cut_torn_tail(&file, &path)?;
        if self.looked != Some(date) {
            self.looked = Some(date);
            say_if_legacy(&file, &path, start);
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

/// The day of the migration: today's file was begun by the Python version.
/// Its lines are kept as they are (they are the morning's record, and a
/// reader places them by their 5-s slot) and our `<unix> <watts>` lines
/// follow them; this says so once, with how many there are. Reading the
/// file is once a day, and a failure to read it here costs no sample.
fn say_if_legacy(file: &File, path: &Path, start: i64) {
    // Only a file's bytes as they are now (`/dev/full` never ends).
    let Some(len) = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
    else {
        return;
    };
    let mut r = DayReader::new(file.take(len), start);
    while let Ok(Some(_)) = r.next_sample() {}
    let n = r.stats().legacy;
    if n > 0 {
        log::info!(
            "{}: {n} line(s) in the Python format (one value every 5 s from midnight) are kept \
             and read by their 5-s slot; new samples follow as <unix> <watts> lines",
            path.display()
        );
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

/// The most bytes of one line a reader keeps. A sample line is at most 27
/// bytes (`-999999999999999999 65535\r`); a longer line is not a sample,
/// and keeping it whole would let one damaged stretch (a power cut can
/// leave 100 MB of NUL bytes without a newline) take the reader's memory.
pub const MAX_LINE: usize = 64;

/// Streams an opened day file into a collector for the day `[start, end)`:
/// memory is bounded by the day's length, not the file's (see
/// `DayCollector`). `bytes` is the file's length when opened: room for its
/// samples is made at once rather than by doubling, which copies them over
/// and over and leaves up to half the room unused. A stamped line is 13
/// bytes or more (ten digits, a space, one digit, a newline); the Python
/// format's shorter lines then grow the room as usual.
pub fn collect_day(
    file: File,
    bytes: u64,
    start: i64,
    end: i64,
) -> io::Result<(DayCollector, ReadStats)> {
    let mut reader = DayReader::new(file, start);
    let mut day = DayCollector::new(start, end);
    day.reserve(usize::try_from(bytes / 13).unwrap_or(usize::MAX));
    while let Some(s) = reader.next_sample()? {
        day.push(s);
    }
    Ok((day, reader.stats()))
}

/// Counts of what reading a day file passed over.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines that were not a sample: garbage, watts beyond `MAX_WATTS`,
    /// lines longer than `MAX_LINE`, or a torn last line.
    pub skipped: u64,
    /// Every line that was not blank, including the skipped ones.
    pub lines: u64,
    /// Samples read from `<unix> <watts>` lines, and from one-number lines
    /// of the Python format (placed by their 5-s slot).
    pub stamped: u64,
    pub legacy: u64,
    /// Lines longer than `MAX_LINE` (counted in `skipped` too).
    pub long: u64,
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

/// What one complete line held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    Blank,
    Sample(Sample),
    Skipped,
}

/// Cuts a day file's bytes into lines and decodes each, line by line, so a
/// file is read the same whether it comes whole or in pieces as it grows.
///
/// Both shapes are read in one file, each by its own rule: a `<unix>
/// <watts>` line is a sample at its stamp; a one-number line is the Python
/// format's, the n-th such slot (from 0) taken `5·n` seconds after
/// `legacy_start`, local midnight. Every complete line that is not a
/// `<unix> <watts>` line, garbage included, takes up a slot, as the Python
/// poller wrote one line per slot. So the morning of the migration day,
/// written by the Python version, and its afternoon, written by mcce, are
/// both read. At most `MAX_LINE` bytes of a line are kept.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    legacy_start: i64,
    slot: i64,
    /// The start of a line whose newline has not come yet; `tail_long`
    /// when it went past `MAX_LINE` (its bytes are then dropped).
    tail: [u8; MAX_LINE],
    tail_len: usize,
    tail_long: bool,
    /// Of the complete lines.
    stats: ReadStats,
}

impl LineDecoder {
    pub fn new(legacy_start: i64) -> Self {
        LineDecoder {
            legacy_start,
            slot: 0,
            tail: [0; MAX_LINE],
            tail_len: 0,
            tail_long: false,
            stats: ReadStats::default(),
        }
    }

    /// Decodes the next complete line of `buf[*pos..]` (joined to the
    /// unfinished line kept from earlier bytes) and moves `*pos` past it;
    /// `None` when `buf` ends first, its rest then kept as the unfinished
    /// line.
    pub fn next(&mut self, buf: &[u8], pos: &mut usize) -> Option<Decoded> {
        let rest = buf.get(*pos..).unwrap_or_default();
        if !self.has_tail()
            && let Some((ts, w, len)) = plain_sample(rest)
        {
            *pos += len;
            self.stats.lines += 1;
            return Some(self.stamped(ts, w));
        }
        let Some(i) = rest.iter().position(|c| *c == b'\n') else {
            *pos = buf.len();
            if self.tail_len + rest.len() > MAX_LINE {
                self.tail_long = true;
            } else if !self.tail_long {
                self.tail[self.tail_len..self.tail_len + rest.len()].copy_from_slice(rest);
                self.tail_len += rest.len();
            }
            return None;
        };
        *pos += i + 1;
        let part = &rest[..i];
        if !self.has_tail() {
            return Some(self.decode((part.len() <= MAX_LINE).then_some(part)));
        }
        let (long, n) = (self.tail_long, self.tail_len);
        self.tail_len = 0;
        self.tail_long = false;
        if long || n + part.len() > MAX_LINE {
            return Some(self.decode(None));
        }
        let mut line = self.tail;
        line[n..n + part.len()].copy_from_slice(part);
        Some(self.decode(Some(&line[..n + part.len()])))
    }

    /// Bytes of a line without its newline have been kept (or dropped).
    pub fn has_tail(&self) -> bool {
        self.tail_len > 0 || self.tail_long
    }

    /// The counts so far, a final line without newline included as a torn
    /// line: whatever it says may be cut short, so it is never a sample.
    pub fn stats(&self) -> ReadStats {
        let mut st = self.stats;
        if self.has_tail() {
            st.lines += 1;
            st.skipped += 1;
            st.long += u64::from(self.tail_long);
        }
        st
    }

    /// A line that is not `<unix> <watts>` takes up the next 5-second slot
    /// of the Python format; with `watts`, it is that slot's sample.
    fn slot(&mut self, watts: Option<u32>) -> Option<Sample> {
        let slot = self.slot;
        self.slot += 1;
        let s = watts.map(|watts| Sample {
            ts: self
                .legacy_start
                .saturating_add(slot.saturating_mul(LEGACY_PERIOD_SECONDS)),
            watts,
        });
        self.stats.legacy += u64::from(s.is_some());
        s
    }

    /// One complete line without its newline; `None` for one longer than
    /// `MAX_LINE`.
    fn decode(&mut self, line: Option<&[u8]>) -> Decoded {
        let line = line.map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        if line.is_some_and(|l| l.iter().all(u8::is_ascii_whitespace)) {
            return Decoded::Blank;
        }
        self.stats.lines += 1;
        self.stats.long += u64::from(line.is_none());
        let sample = match line.map_or(Fields::Other, split_fields) {
            Fields::Two(a, b) => match (parse_int(a), parse_int(b)) {
                (Some(ts), Some(w)) => return self.stamped(ts, w),
                _ => self.slot(None),
            },
            Fields::One(a) => self.slot(parse_int(a).and_then(watts)),
            Fields::Other => self.slot(None),
        };
        self.outcome(sample)
    }

    /// A counted `<unix> <watts>` line: a sample unless its watts are
    /// beyond what a frame carries.
    fn stamped(&mut self, ts: i64, w: i64) -> Decoded {
        let s = watts(w).map(|watts| Sample { ts, watts });
        self.stats.stamped += u64::from(s.is_some());
        self.outcome(s)
    }

    fn outcome(&mut self, sample: Option<Sample>) -> Decoded {
        match sample {
            Some(s) => Decoded::Sample(s),
            None => {
                self.stats.skipped += 1;
                Decoded::Skipped
            }
        }
    }
}

/// Streams the samples of one day file in file order, in constant memory.
pub struct DayReader<R> {
    input: R,
    buf: Vec<u8>,
    len: usize,
    pos: usize,
    decoder: LineDecoder,
    eof: bool,
}

impl DayReader<File> {
    pub fn open(path: &Path, legacy_start: i64) -> io::Result<Self> {
        Ok(DayReader::new(open_day_file(path)?.0, legacy_start))
    }
}

/// Opens a day file to read, with what it is now. Only a regular file: a
/// directory, a device (`/dev/full` never ends) or a FIFO (its open would
/// wait for a writer, its read for data) in `days/` is an error, at once,
/// not a read without end.
pub fn open_day_file(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    let file = crate::adapters::sys::open_quietly(path)?;
    let meta = regular(&file)?;
    Ok((file, meta))
}

/// What `file` is now, if it is a regular file; an error naming what it
/// is otherwise.
fn regular(file: &File) -> io::Result<std::fs::Metadata> {
    use std::os::unix::fs::FileTypeExt;
    let meta = file.metadata()?;
    let t = meta.file_type();
    let (kind, what) = if t.is_file() {
        return Ok(meta);
    } else if t.is_dir() {
        (io::ErrorKind::IsADirectory, "a directory")
    } else if t.is_fifo() {
        (io::ErrorKind::InvalidInput, "a FIFO")
    } else if t.is_socket() {
        (io::ErrorKind::InvalidInput, "a socket")
    } else {
        (io::ErrorKind::InvalidInput, "a device")
    };
    Err(io::Error::new(kind, format!("{what}, not a regular file")))
}

impl<R: Read> DayReader<R> {
    /// `legacy_start`: local midnight of the file's day, where the slots of
    /// Python-format lines count from.
    pub fn new(input: R, legacy_start: i64) -> Self {
        DayReader {
            input,
            buf: vec![0; 64 * 1024],
            len: 0,
            pos: 0,
            decoder: LineDecoder::new(legacy_start),
            eof: false,
        }
    }

    /// The next sample, `Ok(None)` at the end.
    pub fn next_sample(&mut self) -> io::Result<Option<Sample>> {
        loop {
            while let Some(d) = self.decoder.next(&self.buf[..self.len], &mut self.pos) {
                if let Decoded::Sample(s) = d {
                    return Ok(Some(s));
                }
            }
            if self.eof {
                return Ok(None);
            }
            (self.len, self.pos) = (0, 0);
            let n = loop {
                match self.input.read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            self.len = n;
            self.eof = n == 0;
        }
    }

    /// How the reading went; read to the end first, so that a last line
    /// without newline is counted as torn.
    pub fn stats(&self) -> ReadStats {
        self.decoder.stats()
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

/// Watts a frame can carry.
fn watts(w: i64) -> Option<u32> {
    (0..=MAX_WATTS).contains(&w).then_some(w as u32)
}

/// The line nearly every file is made of, `<digits> <digits>\n`, read in
/// one pass over its bytes: stamp, watts and its length with the newline.
/// `None` for any other shape (signs, tabs, `\r`, more spaces, a missing
/// newline, over 18 digits), which the general rule reads the same way it
/// always did; for this shape both give the same answer.
#[inline(always)]
fn plain_sample(rest: &[u8]) -> Option<(i64, i64, usize)> {
    let (ts, at) = plain_number(rest, 0)?;
    if rest.get(at) != Some(&b' ') {
        return None;
    }
    let (w, end) = plain_number(rest, at + 1)?;
    (rest.get(end) == Some(&b'\n')).then_some((ts, w, end + 1))
}

/// The 1 to 18 digits at `from`: their value and where they end.
#[inline(always)]
fn plain_number(bytes: &[u8], from: usize) -> Option<(i64, usize)> {
    let mut n: i64 = 0;
    let mut len = 0;
    for &c in bytes.get(from..)? {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if len == 18 {
            return None;
        }
        n = n * 10 + i64::from(d);
        len += 1;
    }
    (len > 0).then_some((n, from + len))
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
    use proptest::prelude::*;
    use std::time::Duration;

    proptest! {
        /// The one-pass reading of `<digits> <digits>` lines answers as the
        /// general rule does, for every line, plain or not.
        #[test]
        fn the_plain_line_reading_agrees_with_the_general_rule(
            line in prop_oneof!["[0-9 \t\r\x2dx]{0,45}", "[0-9]{0,20} [0-9]{0,20}"],
            before in 0usize..3,
        ) {
            let mut fast = LineDecoder::new(1000);
            let mut general = LineDecoder::new(1000);
            for _ in 0..before {
                // Earlier one-number lines move the Python slots.
                let mut pos = 0;
                fast.next(b"7\n", &mut pos);
                general.decode(Some(b"7"));
            }
            let mut bytes = line.clone().into_bytes();
            bytes.extend_from_slice(b"\n12");
            let mut pos = 0;
            let got = fast.next(&bytes, &mut pos);
            let want = general.decode((line.len() <= MAX_LINE).then_some(line.as_bytes()));
            prop_assert_eq!(got, Some(want));
            prop_assert_eq!(pos, line.len() + 1);
            prop_assert_eq!(fast.stats(), general.stats());
            prop_assert_eq!(fast.slot, general.slot);
        }
    }

    #[test]
    fn plain_lines_take_the_one_pass_reading() {
        assert_eq!(
            plain_sample(b"1749938400 3980\n"),
            Some((1_749_938_400, 3980, 16))
        );
        assert_eq!(
            plain_sample(b"123456789012345678 1\n"),
            Some((123_456_789_012_345_678, 1, 21))
        );
        for other in [
            &b"1749938400 3980"[..],
            b"1749938400  3980\n",
            b"-5 3\n",
            b"5 3\r\n",
            b"1234567890123456789 1\n",
            b"5\t3\n",
            b" 5 3\n",
            b"5 3 \n",
            b"5\n",
        ] {
            assert_eq!(
                plain_sample(other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    fn read_bytes(bytes: &[u8]) -> (Vec<Sample>, ReadStats) {
        let mut r = DayReader::new(bytes, 1000);
        let mut v = Vec::new();
        while let Some(s) = r.next_sample().unwrap() {
            v.push(s);
        }
        (v, r.stats())
    }

    fn read(text: &str) -> (Vec<Sample>, ReadStats) {
        read_bytes(text.as_bytes())
    }

    fn read_path(path: &Path) -> (Vec<Sample>, ReadStats) {
        let mut r = DayReader::open(path, 0).unwrap();
        let mut v = Vec::new();
        while let Some(s) = r.next_sample().unwrap() {
            v.push(s);
        }
        (v, r.stats())
    }

    #[test]
    fn ours_garbage_and_torn_line() {
        let (v, st) = read("100 5\n\nxx yy\n105 7\r\n110 8 9\n115 3");
        assert_eq!(
            v,
            vec![Sample { ts: 100, watts: 5 }, Sample { ts: 105, watts: 7 }]
        );
        assert_eq!((st.skipped, st.lines), (3, 5));
        assert_eq!((st.stamped, st.legacy), (2, 0));
    }

    #[test]
    fn legacy_lines_are_five_seconds_apart_from_midnight() {
        let (v, st) = read("10\n20\nbad\n40\n");
        assert_eq!((st.legacy, st.stamped), (3, 0));
        assert_eq!(st.skipped, 1);
        let ts: Vec<i64> = v.iter().map(|s| s.ts).collect();
        assert_eq!(ts, vec![1000, 1005, 1015]);
        assert_eq!(v[2].watts, 40);
    }

    #[test]
    fn both_shapes_are_read_in_one_file_each_by_its_rule() {
        // The migration day: the Python version's morning, then ours.
        let (v, st) = read("10\n20\nxx\n40\n2000 7\n2005 8\n");
        let got: Vec<(i64, u32)> = v.iter().map(|s| (s.ts, s.watts)).collect();
        assert_eq!(
            got,
            [(1000, 10), (1005, 20), (1015, 40), (2000, 7), (2005, 8)]
        );
        assert_eq!((st.legacy, st.stamped, st.skipped), (3, 2, 1));
        // A `<unix> <watts>` line takes no slot of the Python format.
        let (v, _) = read("10\n1700000000 5\n30\n");
        let ts: Vec<i64> = v.iter().map(|s| s.ts).collect();
        assert_eq!(ts, [1000, 1_700_000_000, 1005]);
        // One number that cannot be watts is garbage, and switches nothing.
        let (v, st) = read("1704841\n100 5\n105 7\n");
        assert_eq!(
            v,
            vec![Sample { ts: 100, watts: 5 }, Sample { ts: 105, watts: 7 }]
        );
        assert_eq!((st.skipped, st.legacy), (1, 0));
    }

    #[test]
    fn a_line_longer_than_a_sample_is_skipped_and_counted_in_bounded_memory() {
        let mut text = vec![0u8; 3 * 64 * 1024 + 17];
        text.extend_from_slice(b"\n100 5\n");
        text.extend_from_slice(&[b'7'; MAX_LINE + 1]);
        text.extend_from_slice(b"\n105 6\n");
        text.extend_from_slice(&vec![0u8; 1 << 20]);
        let (v, st) = read_bytes(&text);
        assert_eq!(
            v,
            vec![Sample { ts: 100, watts: 5 }, Sample { ts: 105, watts: 6 }]
        );
        // Two long lines, and a torn last one as long.
        assert_eq!((st.lines, st.skipped, st.long), (5, 3, 3));
        // What a line may hold at most is still read.
        let line = format!("{:<width$}\n", "100 5", width = MAX_LINE);
        assert_eq!(read(&line).0, vec![Sample { ts: 100, watts: 5 }]);
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
    fn the_python_lines_of_today_are_kept_and_ours_follow() {
        let dir = scratch("migration");
        let t0 = 1_795_698_200;
        let date = local_date(t0);
        let start = local_day_bounds(date).0;
        std::fs::create_dir_all(&dir).unwrap();
        let path = day_path(&dir, date);
        std::fs::write(&path, "3100\n3120\n").unwrap();
        let mut w = DayWriter::new(dir.clone());
        w.append(Sample { ts: t0, watts: 5 }).unwrap();
        w.close();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("3100\n3120\n{t0} 5\n")
        );
        let mut r = DayReader::open(&path, start).unwrap();
        let mut ts = Vec::new();
        while let Some(s) = r.next_sample().unwrap() {
            ts.push(s.ts);
        }
        assert_eq!(ts, [start, start + 5, t0]);
        let st = r.stats();
        assert_eq!((st.legacy, st.stamped, st.skipped), (2, 1, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Runs `f` on a thread of its own: its result, or `None` when it is
    /// still running after `limit` (a test of something that must not
    /// wait fails instead of hanging).
    fn within<T: Send + 'static>(
        limit: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(limit).ok()
    }

    /// A FIFO named like a day (a damaged card, or a prank on the box) is
    /// refused at once by the readers and by the writer: opening it to
    /// read would wait for a writer, and appending to it would wait, once
    /// its 64 KiB are full, for a reader that never comes.
    #[test]
    fn a_fifo_named_like_a_day_is_refused_at_once() {
        let dir = scratch("fifo");
        std::fs::create_dir_all(&dir).unwrap();
        let t0 = 1_795_698_200;
        let path = day_path(&dir, local_date(t0));
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        assert!(made.unwrap().success());
        let (d, p) = (dir.clone(), path.clone());
        // A wait on a FIFO never ends; the bound is only there to end the
        // test, and is wide for a loaded CI machine (0.2 s here, idle).
        let (read, wrote) = within(Duration::from_secs(120), move || {
            let read = DayReader::open(&p, 0)
                .map(|_| ())
                .map_err(|e| e.to_string());
            let mut w = DayWriter::new(d);
            // More lines than a pipe holds.
            let wrote: Vec<bool> = (0..10_000)
                .map(|i| {
                    w.append(Sample {
                        ts: t0 + i,
                        watts: 100,
                    })
                    .is_ok()
                })
                .collect();
            (read, wrote)
        })
        .expect("a day file that is a FIFO made a reader or the writer wait");
        assert!(read.unwrap_err().contains("FIFO"));
        assert!(wrote.iter().all(|ok| !ok), "a sample went into a FIFO");
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
