//! Running totals of day files: the facts of a day file ("today so far",
//! or a past day the digest has not reached) kept up to date by reading
//! only what was appended since the last look.
//!
//! A reader that asks often (a `/metrics` scrape every 15 s, the page's
//! month) must not read a whole day file each time: a damaged file can be
//! hundreds of megabytes. A `DayTotal` remembers where it stopped (offset,
//! an unfinished last line), which file that was (device, inode, size,
//! modification time, and the bytes just before the offset), and the
//! energy rule's state (`Integrator`). A file that is replaced, truncated
//! or rewritten is read again from the start; a rewrite in place that
//! grows the file and keeps its `MAX_LINE` bytes before the offset is not
//! seen (it is taken for an append: telling it apart would mean reading
//! the whole file again).
//!
//! The result for a file is the digest's for the same file (the same line
//! decoder, the same one-sample-per-stamp rule, the same `Integrator` and
//! gap rule): a property test below feeds files in random pieces and
//! compares.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::adapters::daylog::{Decoded, LineDecoder, MAX_LINE, ReadStats, open_day_file};
use crate::core::energy::{DayCollector, DayParams, DayStats, Integrator, Sample};

/// The facts of one day file, brought up to date by `refresh`.
#[derive(Debug, Clone)]
pub struct DayTotal {
    /// `[start, end)` of the file's local day.
    start: i64,
    end: i64,
    cap_watts: u32,
    /// The file as last read; `None` before the first read.
    seen: Option<Seen>,
    /// Bytes of the file consumed (complete lines and the unfinished one).
    offset: u64,
    decoder: LineDecoder,
    acc: Acc,
    /// Every byte read from files, checks included: the work done.
    bytes_read: u64,
}

/// What identifies the file read up to `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    /// The last bytes before `offset` (at most `MAX_LINE`): still there
    /// when the file only grew.
    last: Vec<u8>,
}

/// The samples so far, by the digest's rules: outside the day counted,
/// the first of a repeated stamp kept.
#[derive(Debug, Clone)]
enum Acc {
    /// Every sample so far came later than the one before (as the daemon
    /// writes): the energy rule's state is enough.
    InOrder {
        integ: Integrator,
        outside: u64,
        duplicates: u64,
    },
    /// A stamp went back (the clock was set back, a damaged file): the
    /// day's samples are kept, at most one per second of the day.
    Unordered(DayCollector),
}

/// Why reading stopped.
enum Flow {
    End,
    /// A sample earlier than the last: read again, keeping every sample.
    WentBack,
}

impl DayTotal {
    /// For the file of the local day `[start, end)`; `cap_watts` is
    /// `ALARM_WATTS` (the time over it is counted).
    pub fn new(start: i64, end: i64, cap_watts: u32) -> Self {
        DayTotal {
            start,
            end,
            cap_watts,
            seen: None,
            offset: 0,
            decoder: LineDecoder::new(start),
            acc: Acc::InOrder {
                integ: Integrator::new(cap_watts, None),
                outside: 0,
                duplicates: 0,
            },
            bytes_read: 0,
        }
    }

    /// Reads what was appended to `path` since the last call (all of it
    /// when the file is new, replaced, truncated or rewritten); `false`
    /// when there is no file.
    pub fn refresh(&mut self, path: &Path) -> io::Result<bool> {
        let (mut file, meta) = match open_day_file(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.restart(false);
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if !self.grew(&file, &meta)? {
            self.restart(false);
        }
        if self.seen.as_ref().is_some_and(|s| stat_matches(s, &meta)) {
            return Ok(true); // unchanged since the last read
        }
        loop {
            match self.read_on(&mut file, meta.len())? {
                Flow::End => break,
                Flow::WentBack => self.restart(true),
            }
        }
        // The state of the file as read to its end: a write that came in
        // while reading is in `offset`, and stat again shows it.
        let meta = file.metadata()?;
        let mut last = vec![0; self.offset.min(MAX_LINE as u64) as usize];
        let at = self.offset - last.len() as u64;
        file.read_exact_at(&mut last, at)?;
        self.bytes_read += last.len() as u64;
        self.seen = Some(Seen {
            dev: meta.dev(),
            ino: meta.ino(),
            size: self.offset,
            mtime: (meta.mtime(), meta.mtime_nsec()),
            last,
        });
        Ok(true)
    }

    /// Whether the open file is the one read before, with what was read
    /// still in place: same device and inode, not shorter, the same
    /// modification time if the same size, and the bytes before `offset`
    /// unchanged.
    fn grew(&mut self, file: &File, meta: &std::fs::Metadata) -> io::Result<bool> {
        let Some(seen) = &self.seen else {
            return Ok(true);
        };
        if (meta.dev(), meta.ino()) != (seen.dev, seen.ino) || meta.len() < seen.size {
            return Ok(false);
        }
        if meta.len() == seen.size {
            return Ok(stat_matches(seen, meta));
        }
        let mut now = vec![0; seen.last.len()];
        let at = seen.size - seen.last.len() as u64;
        file.read_exact_at(&mut now, at)?;
        self.bytes_read += now.len() as u64;
        Ok(now == seen.last)
    }

    /// Forgets what was read: the next read starts at the beginning;
    /// `unordered` keeps every sample from the start.
    fn restart(&mut self, unordered: bool) {
        self.seen = None;
        self.offset = 0;
        self.decoder = LineDecoder::new(self.start);
        self.acc = if unordered {
            Acc::Unordered(DayCollector::new(self.start, self.end))
        } else {
            Acc::InOrder {
                integ: Integrator::new(self.cap_watts, None),
                outside: 0,
                duplicates: 0,
            }
        };
    }

    /// Reads from `offset` to the end of the file, `len` long when it was
    /// opened. The buffer is as large as what is new, within 4 to 64 KiB:
    /// a minute's few lines do not zero (and keep resident) 64 KiB.
    fn read_on(&mut self, file: &mut File, len: u64) -> io::Result<Flow> {
        file.seek(SeekFrom::Start(self.offset))?;
        let new = len.saturating_sub(self.offset);
        let size = new.clamp(4 * 1024, 64 * 1024) as usize;
        let mut buf = vec![0u8; size];
        loop {
            let n = match file.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if n == 0 {
                return Ok(Flow::End);
            }
            self.bytes_read += n as u64;
            // A sample that goes back in time stops the reading at once:
            // what follows is read again from the start anyway.
            let mut pos = 0;
            while let Some(d) = self.decoder.next(&buf[..n], &mut pos) {
                if let Decoded::Sample(s) = d
                    && !self.push(s)
                {
                    return Ok(Flow::WentBack);
                }
            }
            self.offset += n as u64;
        }
    }

    /// Takes one sample as the digest's `DayCollector` would; false when
    /// it is earlier than the last one kept (in order only).
    fn push(&mut self, s: Sample) -> bool {
        match &mut self.acc {
            Acc::Unordered(c) => c.push(s),
            Acc::InOrder {
                integ,
                outside,
                duplicates,
            } => {
                if !(self.start..self.end).contains(&s.ts) {
                    *outside += 1;
                } else {
                    match integ.last() {
                        Some(l) if s.ts == l.ts => *duplicates += 1,
                        Some(l) if s.ts < l.ts => return false,
                        _ => integ.push(s),
                    }
                }
            }
        }
        true
    }

    /// The day's facts as read so far, measured as `p` says (up to the
    /// day's end once it is over, to now while it runs), with how the
    /// reading went. `p` describes this total's day.
    pub fn facts(&self, p: &DayParams) -> (DayStats, ReadStats) {
        let st = match &self.acc {
            Acc::InOrder {
                integ,
                outside,
                duplicates,
            } => {
                let mut st = integ.finish(p.start, p.until, p.gap);
                st.outside = *outside;
                st.duplicates = *duplicates;
                st
            }
            Acc::Unordered(c) => c.facts(p),
        };
        (st, self.decoder.stats())
    }

    /// Bytes read from files so far (content and checks), for the tests
    /// that no appended byte is read twice.
    #[cfg(test)]
    fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Keeps every sample of the day (its stamps went back): a few hundred
    /// kilobytes instead of a few hundred bytes.
    fn is_large(&self) -> bool {
        matches!(self.acc, Acc::Unordered(_))
    }
}

fn stat_matches(seen: &Seen, meta: &std::fs::Metadata) -> bool {
    (
        meta.dev(),
        meta.ino(),
        meta.len(),
        (meta.mtime(), meta.mtime_nsec()),
    ) == (seen.dev, seen.ino, seen.size, seen.mtime)
}

/// Running totals of many day files for a process that serves readers
/// (`mcce serve`), each brought up to date when asked. Each file has its
/// own lock: files are read in parallel, and two readers of one file wait
/// for one read. At most `MAX_DAYS` files are remembered, and at most
/// `MAX_LARGE` whose stamps went back; the least recently asked goes first
/// (and is read whole again if asked again and changed since: a large
/// total forgotten leaves its facts behind, a few hundred bytes, which
/// answer for the file as long as it stays as it was).
pub struct DayTotals {
    days: Mutex<Days>,
}

#[derive(Default)]
struct Days {
    map: BTreeMap<PathBuf, Entry>,
    /// The last facts of large totals forgotten for room.
    kept: BTreeMap<PathBuf, Kept>,
    clock: u64,
}

struct Entry {
    total: Arc<Mutex<DayTotal>>,
    used: u64,
    /// The last facts, while the total keeps its samples.
    large: Option<Kept>,
}

/// A file's facts as last measured, and what identifies the file then.
#[derive(Clone)]
struct Kept {
    file: (u64, u64, u64, (i64, i64)),
    day: DayParams,
    facts: (DayStats, ReadStats),
}

impl Kept {
    /// The facts, if `path` is still the file they were measured from
    /// and they were measured as `day` asks.
    fn answer(&self, path: &Path, day: &DayParams) -> Option<(DayStats, ReadStats)> {
        let m = std::fs::metadata(path).ok()?;
        let file = (m.dev(), m.ino(), m.len(), (m.mtime(), m.mtime_nsec()));
        (file == self.file && *day == self.day).then(|| self.facts.clone())
    }
}

/// A year and a few days of files not digested yet.
pub const MAX_DAYS: usize = 400;

/// Files whose samples are all kept (up to 1.4 MB each).
pub const MAX_LARGE: usize = 2;

/// One day file to look at: its path, its local day `[start, end)` and the
/// time to measure it up to.
pub struct Ask<'a> {
    pub path: &'a Path,
    /// The file's day and how it is measured.
    pub day: DayParams,
}

impl Default for DayTotals {
    fn default() -> Self {
        Self::new()
    }
}

impl DayTotals {
    pub const fn new() -> Self {
        DayTotals {
            days: Mutex::new(Days {
                map: BTreeMap::new(),
                kept: BTreeMap::new(),
                clock: 0,
            }),
        }
    }

    /// The facts of a day file, read on from where the last ask stopped;
    /// `None` when there is no file.
    pub fn facts(&self, ask: &Ask<'_>) -> io::Result<Option<(DayStats, ReadStats)>> {
        let kept = {
            let mut days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
            days.kept.remove(ask.path)
        };
        if let Some(kept) = kept
            && let Some(facts) = kept.answer(ask.path, &ask.day)
        {
            let mut days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
            days.kept.insert(ask.path.to_path_buf(), kept);
            return Ok(Some(facts));
        }
        let total = self.entry(ask);
        let mut t = total.lock().unwrap_or_else(PoisonError::into_inner);
        let found = t.refresh(ask.path);
        let mut large = None;
        let facts = match found {
            Ok(true) => {
                let facts = t.facts(&ask.day);
                if t.is_large() {
                    large = t.seen.as_ref().map(|s| Kept {
                        file: (s.dev, s.ino, s.size, s.mtime),
                        day: ask.day,
                        facts: facts.clone(),
                    });
                }
                Ok(Some(facts))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        drop(t);
        self.settle(ask.path, large);
        facts
    }

    /// The entry of `ask.path`, made anew when missing or for another day
    /// or cap.
    fn entry(&self, ask: &Ask<'_>) -> Arc<Mutex<DayTotal>> {
        let d = &ask.day;
        let mut days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
        days.clock += 1;
        let used = days.clock;
        let fits = |t: &DayTotal| (t.start, t.end, t.cap_watts) == (d.start, d.end, d.cap_watts);
        if let Some(e) = days.map.get_mut(ask.path) {
            let same = e.total.try_lock().map(|t| fits(&t)).unwrap_or(true);
            if same {
                e.used = used;
                return Arc::clone(&e.total);
            }
        }
        let total = Arc::new(Mutex::new(DayTotal::new(d.start, d.end, d.cap_watts)));
        days.map.insert(
            ask.path.to_path_buf(),
            Entry {
                total: Arc::clone(&total),
                used,
                large: None,
            },
        );
        total
    }

    /// Notes whether `path`'s total keeps its samples, and forgets the
    /// least recently asked files beyond the limits.
    fn settle(&self, path: &Path, large: Option<Kept>) {
        let mut days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = days.map.get_mut(path) {
            e.large = large;
        }
        while days.map.len() > MAX_DAYS {
            days.forget_oldest(|_| true);
        }
        while days.map.values().filter(|e| e.large.is_some()).count() > MAX_LARGE {
            days.forget_oldest(|e| e.large.is_some());
        }
        while days.kept.len() > MAX_DAYS {
            days.kept.pop_first();
        }
    }

    #[cfg(test)]
    fn bytes_read(&self, path: &Path) -> u64 {
        let days = self.days.lock().unwrap();
        let t = days.map[path].total.lock().unwrap();
        t.bytes_read()
    }
}

impl Days {
    fn forget_oldest(&mut self, which: impl Fn(&Entry) -> bool) {
        let oldest = self
            .map
            .iter()
            .filter(|(_, e)| which(e))
            .min_by_key(|(_, e)| e.used)
            .map(|(p, _)| p.clone());
        if let Some(p) = oldest
            && let Some(e) = self.map.remove(&p)
            && let Some(kept) = e.large
        {
            self.kept.insert(p, kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::daylog::DayReader;
    use crate::core::energy::GapRule;
    use proptest::prelude::*;
    use std::io::Write;

    const START: i64 = 1_736_895_600;
    const END: i64 = START + 86_400;
    const GAP: GapRule = GapRule {
        max_gap_seconds: None,
        poll_seconds: 5,
    };

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcce-daytotal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("2025-01-15")
    }

    /// The digest's facts for the file as it is: one read from the start.
    fn one_shot(path: &Path, until: i64) -> (DayStats, ReadStats) {
        let mut r = DayReader::open(path, START).unwrap();
        let mut c = DayCollector::new(START, END);
        while let Some(s) = r.next_sample().unwrap() {
            c.push(s);
        }
        (c.finish(&day(until)).0, r.stats())
    }

    /// The test day measured up to `until`.
    fn day(until: i64) -> DayParams {
        DayParams {
            start: START,
            end: END,
            until,
            gap: GAP,
            cap_watts: 3000,
            bucket_seconds: 900,
            trip: None,
        }
    }

    fn append(path: &Path, bytes: &[u8]) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    /// Lines a day file may hold: mostly samples in order at a cadence
    /// that may change, and now and then a repeated or earlier stamp, one
    /// outside the day, garbage, a Python-format line, a long line.
    fn line() -> impl Strategy<Value = (u8, i64, u32)> {
        (0u8..100, 1i64..120, 0u32..5000)
    }

    /// `back`: stamps may go back (otherwise the file is in time order).
    fn render(lines: &[(u8, i64, u32)], back: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut t = START + 100;
        for &(kind, step, w) in lines {
            let kind = if !back && (84..=85).contains(&kind) {
                0
            } else {
                kind
            };
            let text = match kind {
                0..=79 => {
                    t += if kind < 60 { 5 } else { step };
                    format!("{t} {w}\n")
                }
                80..=83 => format!("{t} {w}\n"),
                84..=85 => format!("{} {w}\n", t - step * 7),
                86 => format!("999999999999999999 {w}\n"),
                87 => format!("{} {w}\n", START - step),
                88..=90 => format!("{w}\n"),
                91..=93 => "garbage\n".to_string(),
                94 => format!("{}\n", "\0".repeat(200)),
                95 => "\n".to_string(),
                // About as long as a line may be, on either side of it.
                96..=97 => format!(
                    "{:<width$}\n",
                    format!("{t} {w}"),
                    width = 58 + step as usize % 12
                ),
                _ => format!("{t} 70000\n"),
            };
            out.extend_from_slice(text.as_bytes());
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn a_file_read_in_pieces_as_it_grows_gives_the_digest_s_facts(
            lines in prop::collection::vec(line(), 0..400),
            cuts in prop::collection::vec(0usize..2000, 0..12),
            torn in 0usize..30,
            back in any::<bool>(),
        ) {
            let path = scratch(&format!("prop-{}", lines.len()));
            let mut bytes = render(&lines, back);
            // A torn last line, completed by a later write.
            bytes.extend_from_slice(format!("{} {}\n", END - 3, 1234).as_bytes());
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c * bytes.len() / 2000).collect();
            cuts.push(bytes.len().saturating_sub(torn % 16 + 1));
            cuts.push(bytes.len());
            cuts.sort();
            std::fs::write(&path, b"").unwrap();
            let mut t = DayTotal::new(START, END, 3000);
            let mut done = 0;
            for cut in cuts {
                append(&path, &bytes[done..cut]);
                done = cut;
                prop_assert!(t.refresh(&path).unwrap());
                for until in [END, START + 40_000] {
                    prop_assert_eq!(t.facts(&day(until)), one_shot(&path, until));
                }
            }
            let _ = std::fs::remove_dir_all(path.parent().unwrap());
        }
    }

    fn day_text(from: i64, to: i64, watts: u32) -> String {
        (from..to)
            .step_by(5)
            .map(|t| format!("{t} {watts}\n"))
            .collect()
    }

    #[test]
    fn a_second_look_reads_only_what_was_appended() {
        let path = scratch("appended");
        std::fs::write(&path, day_text(START, START + 43_200, 1000)).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let totals = DayTotals::new();
        let ask = Ask {
            path: &path,
            day: day(END),
        };
        let (st, _) = totals.facts(&ask).unwrap().unwrap();
        assert_eq!(st.samples, 8640);
        let first = totals.bytes_read(&path);
        assert!(first >= size && first <= size + MAX_LINE as u64, "{first}");
        // Nothing new: nothing read.
        totals.facts(&ask).unwrap().unwrap();
        assert_eq!(totals.bytes_read(&path), first);
        let more = day_text(START + 43_200, START + 43_260, 1000);
        append(&path, more.as_bytes());
        let (st, _) = totals.facts(&ask).unwrap().unwrap();
        assert_eq!(st.samples, 8652);
        let second = totals.bytes_read(&path) - first;
        assert!(
            second >= more.len() as u64 && second <= (more.len() + 2 * MAX_LINE) as u64,
            "read {second} bytes for {} appended",
            more.len()
        );
        assert_eq!(totals.facts(&ask).unwrap().unwrap(), one_shot(&path, END));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_truncated_replaced_or_rewritten_file_is_read_again_from_the_start() {
        let path = scratch("replaced");
        let mut t = DayTotal::new(START, END, 3000);
        std::fs::write(&path, day_text(START, START + 3600, 1000)).unwrap();
        assert!(t.refresh(&path).unwrap());
        assert_eq!(t.facts(&day(END)).0.samples, 720);
        // Truncated, then a little written.
        std::fs::write(&path, day_text(START, START + 60, 2000)).unwrap();
        assert!(t.refresh(&path).unwrap());
        assert_eq!(t.facts(&day(END)), one_shot(&path, END));
        assert_eq!(t.facts(&day(END)).0.samples, 12);
        // Replaced by another file (rename over it), larger and the same
        // in its first bytes: read whole, not from the old offset.
        let other = path.with_extension("new");
        let mut text = day_text(START, START + 60, 2000);
        text.push_str(&day_text(START + 100_000, START + 100_060, 1));
        std::fs::write(&other, &text).unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(t.refresh(&path).unwrap());
        assert_eq!(t.facts(&day(END)), one_shot(&path, END));
        assert_eq!(t.facts(&day(END)).0.outside, 12);
        // Rewritten in place, longer, with other bytes before the old end.
        let text = day_text(START, START + 7200, 3000);
        std::fs::write(&path, &text).unwrap();
        assert!(t.refresh(&path).unwrap());
        assert_eq!(t.facts(&day(END)), one_shot(&path, END));
        assert_eq!(t.facts(&day(END)).0.samples, 1440);
        // Removed.
        std::fs::remove_file(&path).unwrap();
        assert!(!t.refresh(&path).unwrap());
        // A device is not a day file (and `/dev/zero` would never end).
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        let e = t.refresh(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn stamps_that_go_back_keep_the_digest_s_result_and_read_on_from_there() {
        let path = scratch("back");
        let mut t = DayTotal::new(START, END, 3000);
        let mut text = day_text(START, START + 3600, 1000);
        text.push_str(&day_text(START + 600, START + 1200, 5000)); // repeats
        text.push_str(&day_text(START + 7200, START + 7260, 1000));
        text.push_str(&format!("{} 9\n", START + 3602)); // earlier, new stamp
        std::fs::write(&path, &text).unwrap();
        assert!(t.refresh(&path).unwrap());
        assert!(t.is_large());
        assert_eq!(t.facts(&day(END)), one_shot(&path, END));
        let before = t.bytes_read();
        append(&path, day_text(START + 7260, START + 7300, 1000).as_bytes());
        assert!(t.refresh(&path).unwrap());
        assert_eq!(t.facts(&day(END)), one_shot(&path, END));
        assert!(t.bytes_read() - before < 200 + 2 * MAX_LINE as u64);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn the_cache_forgets_the_least_recently_asked_large_totals() {
        let dir = scratch("large").parent().unwrap().to_path_buf();
        let totals = DayTotals::new();
        let mut paths = Vec::new();
        for i in 0..4 {
            let p = dir.join(format!("day{i}"));
            std::fs::write(&p, format!("{} 1\n{} 1\n", START + 10, START + 5)).unwrap();
            paths.push(p);
        }
        for p in &paths {
            let ask = Ask {
                path: p,
                day: day(END),
            };
            assert_eq!(totals.facts(&ask).unwrap().unwrap().0.samples, 2);
        }
        let days = totals.days.lock().unwrap();
        let kept: Vec<&PathBuf> = days.map.keys().collect();
        assert_eq!(kept, [&paths[2], &paths[3]]);
        drop(days);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
