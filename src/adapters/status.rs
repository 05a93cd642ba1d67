//! The daemon's latest state in a small file under `RUN_DIR` (a tmpfs), so
//! `mcce status` can answer while the daemon holds the serial port.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::core::energy::Sample;
use crate::core::trip::Band;
use crate::core::warning::Urgency;

/// Whether readings reach the day file (`mcce status` exits 74 unless
/// they do, or no reading came yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Recording {
    /// No reading to write yet.
    #[default]
    Starting,
    /// The latest sample was written.
    Ok,
    /// Writing samples fails since `since` (a full card, a read-only
    /// partition); `error` says why.
    Failing { since: i64, error: String },
    /// Samples are held back since `since`: the wall clock is not set.
    Held { since: i64 },
}

/// An I/O error as a short single line for the status file:
/// `No space left on device`.
pub fn error_text(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    };
    let mut s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.len() > 120 {
        let mut end = 120;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// What the meter did at the latest poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterState {
    /// It answered and the sample was written (or tried).
    Ok,
    /// No complete frame within the reply timeout.
    Silent,
    /// The port is missing or was lost.
    Unplugged,
    /// It answered, but the sample was held back: the wall clock is unset.
    ClockUnset,
}

/// Where the alarm stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmStatus {
    Off,
    /// Over the cap, waiting for ALARM_DELAY_SECONDS.
    Pending,
    /// Active, between sirens.
    On,
    /// Active, a siren playing now.
    Sounding,
}

/// A state's word in the status file, and back.
macro_rules! words {
    ($t:ty: $($v:ident = $w:literal),+) => {
        impl $t {
            pub fn word(self) -> &'static str {
                match self { $(Self::$v => $w),+ }
            }
            pub fn from_word(w: &str) -> Option<Self> {
                match w { $($w => Some(Self::$v),)+ _ => None }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.word())
            }
        }
    };
}
words!(MeterState: Ok = "ok", Silent = "silent", Unplugged = "unplugged", ClockUnset = "clock-unset");

impl MeterState {
    /// Every state, in the order of `Status::polls`.
    pub const ALL: [MeterState; 4] = [
        MeterState::Ok,
        MeterState::Silent,
        MeterState::Unplugged,
        MeterState::ClockUnset,
    ];
}
words!(AlarmStatus: Off = "off", Pending = "pending", On = "on", Sounding = "sounding");

/// The contract alarm's state (docs/trip.md), when `CONTRACT_WATTS` is set.
/// In the file: `band=`, `band_since=` (Unix time), `trip_in_seconds=`
/// (empty in the free band), `warning=` (quiet, notice, urgent) and
/// `band_stale_since=` (Unix time of the first failed poll, empty while
/// readings come); all empty in single-threshold mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractStatus {
    pub band: Band,
    pub band_since: i64,
    /// Seconds to the predicted trip if the power stays as it is.
    pub trip_in_seconds: Option<u64>,
    pub warning: Urgency,
    /// Since when the state is as of the last reading (polls fail).
    pub stale_since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub pid: u32,
    /// Wall time of this update.
    pub updated: i64,
    /// The latest good reading.
    pub last_reading: Option<Sample>,
    pub meter: MeterState,
    pub alarm: AlarmStatus,
    pub recording: Recording,
    /// Free and total bytes on DATA_DIR's file system, when known.
    pub space: Option<crate::core::space::Space>,
    /// Polls since the daemon started by outcome, in `MeterState::ALL`
    /// order (for `mcce serve`'s metrics); `None` in a file without them.
    pub polls: Option<[u64; 4]>,
    /// The contract alarm, in contract mode.
    pub contract: Option<ContractStatus>,
}

pub fn path(run_dir: &Path) -> PathBuf {
    run_dir.join("status")
}

impl Status {
    /// The file's text as a string (tests read it back).
    #[cfg(test)]
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(FILE_LEN);
        self.write_into(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Appends the file's text to `out`, one `key=value` line per field
    /// (empty when unknown), without allocating: the daemon does this at
    /// every poll.
    pub fn write_into(&self, out: &mut Vec<u8>) {
        use std::fmt::Display;
        use std::io::Write;
        // Writing into a Vec cannot fail.
        fn line(out: &mut Vec<u8>, key: &str, value: Option<&dyn Display>) {
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            if let Some(v) = value {
                let _ = write!(out, "{v}");
            }
            out.push(b'\n');
        }
        let r = self.last_reading;
        line(out, "pid", Some(&self.pid));
        line(out, "updated", Some(&self.updated));
        line(out, "reading_at", r.as_ref().map(|r| &r.ts as &dyn Display));
        line(out, "watts", r.as_ref().map(|r| &r.watts as &dyn Display));
        line(out, "meter", Some(&self.meter.word()));
        line(out, "alarm", Some(&self.alarm.word()));
        let (rec, since, error) = match &self.recording {
            Recording::Starting => ("starting", None, ""),
            Recording::Ok => ("ok", None, ""),
            Recording::Failing { since, error } => ("failing", Some(since), error.as_str()),
            Recording::Held { since } => ("held", Some(since), ""),
        };
        line(out, "recording", Some(&rec));
        line(out, "recording_since", since.map(|t| t as &dyn Display));
        line(out, "recording_error", Some(&error));
        let sp = self.space.as_ref();
        line(out, "data_free", sp.map(|s| &s.free as &dyn Display));
        line(out, "data_total", sp.map(|s| &s.total as &dyn Display));
        out.extend_from_slice(b"polls=");
        if let Some(n) = self.polls {
            for (i, (m, n)) in MeterState::ALL.iter().zip(n).enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(out, "{sep}{}:{n}", m.word());
            }
        }
        out.push(b'\n');
        let c = self.contract.as_ref();
        let band = c.map(|c| c.band.name());
        line(out, "band", band.as_ref().map(|b| b as &dyn Display));
        line(out, "band_since", c.map(|c| &c.band_since as &dyn Display));
        let trip = c.and_then(|c| c.trip_in_seconds.as_ref());
        line(out, "trip_in_seconds", trip.map(|t| t as &dyn Display));
        let warning = c.map(|c| c.warning.name());
        line(out, "warning", warning.as_ref().map(|w| w as &dyn Display));
        let stale = c.and_then(|c| c.stale_since.as_ref());
        line(out, "band_stale_since", stale.map(|t| t as &dyn Display));
    }

    pub fn parse(text: &str) -> Option<Status> {
        // The lines split once (readers parse it at every poll); the first
        // line of a key counts.
        let fields: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let at = get("reading_at")?;
        let w = get("watts")?;
        Some(Status {
            pid: get("pid")?.parse().ok()?,
            updated: get("updated")?.parse().ok()?,
            last_reading: if at.is_empty() {
                None
            } else {
                Some(Sample {
                    ts: at.parse().ok()?,
                    watts: w.parse().ok()?,
                })
            },
            meter: MeterState::from_word(get("meter")?)?,
            alarm: AlarmStatus::from_word(get("alarm")?)?,
            recording: {
                let since = || get("recording_since").and_then(|t| t.parse().ok());
                match get("recording") {
                    Some("ok") => Recording::Ok,
                    Some("failing") => Recording::Failing {
                        since: since()?,
                        error: get("recording_error").unwrap_or("").to_string(),
                    },
                    Some("held") => Recording::Held { since: since()? },
                    _ => Recording::Starting,
                }
            },
            space: match (get("data_free"), get("data_total")) {
                (Some(f), Some(t)) if !f.is_empty() => Some(crate::core::space::Space {
                    free: f.parse().ok()?,
                    total: t.parse().ok()?,
                }),
                _ => None,
            },
            polls: parse_polls(get("polls"))?,
            contract: parse_contract(&get)?,
        })
    }

    /// Reads the daemon's status. The daemon rewrites the file in place, so
    /// a read that races a write is simply tried again.
    pub fn read(run_dir: &Path) -> io::Result<Status> {
        let p = path(run_dir);
        for _ in 0..5 {
            if let Some(s) = Status::parse(&std::fs::read_to_string(&p)?) {
                return Ok(s);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: unreadable status", p.display()),
        ))
    }
}

/// The status file kept open for a reader that looks at every poll (`mcce
/// publish`): one `pread` a look instead of an open, a read and a close.
/// The daemon rewrites the file in place; when it makes a new one (the
/// file was removed, or RUN_DIR made again) the owner says so with
/// [`StatusFile::reopen`] (a watch of RUN_DIR's entries does).
pub struct StatusFile {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
}

impl StatusFile {
    pub fn new(run_dir: &Path) -> StatusFile {
        StatusFile {
            path: path(run_dir),
            file: None,
            buf: vec![0; FILE_LEN],
        }
    }

    /// Opens the file again at the next read.
    pub fn reopen(&mut self) {
        self.file = None;
    }

    /// The daemon's status; a read that races a write is tried again, as
    /// [`Status::read`] does.
    pub fn read(&mut self) -> io::Result<Status> {
        for _ in 0..5 {
            if self.file.is_none() {
                self.file = Some(File::open(&self.path)?);
            }
            let f = self.file.as_ref().expect("opened above");
            let n = match f.read_at(&mut self.buf, 0) {
                Ok(n) => n,
                Err(e) => {
                    self.file = None;
                    return Err(e);
                }
            };
            if let Some(s) = std::str::from_utf8(&self.buf[..n])
                .ok()
                .and_then(Status::parse)
            {
                return Ok(s);
            }
            self.file = None;
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: unreadable status", self.path.display()),
        ))
    }
}

/// The `polls=` line: `None` when absent (an older daemon), and the whole
/// status unreadable (outer `None`) when it is malformed.
fn parse_polls(value: Option<&str>) -> Option<Option<[u64; 4]>> {
    Some(match value.map(str::trim_end) {
        None | Some("") => None,
        Some(p) => {
            let mut n = [0u64; 4];
            for kv in p.split(',') {
                let (k, v) = kv.split_once(':')?;
                let m = MeterState::from_word(k)?;
                let i = MeterState::ALL.iter().position(|x| *x == m)?;
                n[i] = v.parse().ok()?;
            }
            Some(n)
        }
    })
}

/// The contract alarm's lines: `None` without a contract, and the whole
/// status unreadable (outer `None`) when they are malformed.
fn parse_contract<'a>(get: &dyn Fn(&str) -> Option<&'a str>) -> Option<Option<ContractStatus>> {
    Some(match get("band").unwrap_or("") {
        "" => None,
        band => {
            let num = |k: &str| get(k).filter(|v| !v.is_empty());
            Some(ContractStatus {
                band: [Band::Free, Band::Tolerated, Band::Over]
                    .into_iter()
                    .find(|b| b.name() == band)?,
                band_since: get("band_since")?.parse().ok()?,
                trip_in_seconds: num("trip_in_seconds").map(str::parse).transpose().ok()?,
                warning: [Urgency::Quiet, Urgency::Notice, Urgency::Urgent]
                    .into_iter()
                    .find(|u| Some(u.name()) == get("warning"))?,
                stale_since: num("band_stale_since").map(str::parse).transpose().ok()?,
            })
        }
    })
}

/// The file's fixed size: every update overwrites all of it with one
/// `pwrite`, so there is nothing to truncate and no stale tail.
const FILE_LEN: usize = 1024;

/// Keeps the status file open and rewrites it in place after every poll:
/// one system call, where write-and-rename cost several and an inode each
/// time (this runs 17 280 times a day).
pub struct Publisher {
    path: PathBuf,
    /// The open file; reopened when it lost its name (removed, or another
    /// file renamed over it).
    file: Option<File>,
    buf: Vec<u8>,
}

impl Publisher {
    pub fn new(run_dir: &Path) -> Publisher {
        Publisher {
            path: path(run_dir),
            file: None,
            buf: Vec::with_capacity(FILE_LEN),
        }
    }

    pub fn publish(&mut self, status: &Status) -> io::Result<()> {
        // Someone removed or replaced the file: `mcce status` would say the
        // daemon is gone while it runs. An `fstat` of the open file (no path
        // walk) shows it: an unlinked file has no links left.
        if self
            .file
            .as_ref()
            .is_some_and(|f| f.metadata().is_ok_and(|m| m.nlink() == 0))
        {
            self.file = None;
        }
        if self.file.is_none() {
            self.file = Some(
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&self.path)?,
            );
        }
        self.buf.clear();
        status.write_into(&mut self.buf);
        if self.buf.len() < FILE_LEN {
            // Spaces to the fixed size, copied at once.
            const SPACES: [u8; FILE_LEN] = [b' '; FILE_LEN];
            let pad = FILE_LEN - 1 - self.buf.len();
            self.buf.extend_from_slice(&SPACES[..pad]);
            self.buf.push(b'\n');
        }
        let f = self.file.as_ref().expect("opened above");
        if let Err(e) = f.write_all_at(&self.buf, 0) {
            self.file = None; // reopen next time (RUN_DIR recreated, ...)
            return Err(e);
        }
        Ok(())
    }

    /// Removes the file: no daemon, no status.
    pub fn remove(&mut self) {
        self.file = None;
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status with every field set.
    fn full() -> Status {
        Status {
            pid: 42,
            updated: 1_700_000_005,
            last_reading: Some(Sample {
                ts: 1_700_000_000,
                watts: 4321,
            }),
            meter: MeterState::Ok,
            alarm: AlarmStatus::On,
            recording: Recording::Failing {
                since: 1_699_999_000,
                error: "No space left on device".into(),
            },
            space: Some(crate::core::space::Space {
                free: 1_000,
                total: 16_000_000_000,
            }),
            polls: Some([17_279, 1, 0, 0]),
            contract: Some(ContractStatus {
                band: Band::Tolerated,
                band_since: 1_699_999_900,
                trip_in_seconds: Some(95),
                warning: Urgency::Notice,
                stale_since: Some(1_700_000_005),
            }),
        }
    }

    /// The file's text byte for byte, every field set and none: readers
    /// (`mcce status`, serve, scripts) depend on it.
    #[test]
    fn the_text_of_the_file() {
        assert_eq!(
            full().render(),
            "pid=42\nupdated=1700000005\nreading_at=1700000000\nwatts=4321\nmeter=ok\nalarm=on\n\
             recording=failing\nrecording_since=1699999000\nrecording_error=No space left on device\n\
             data_free=1000\ndata_total=16000000000\npolls=ok:17279,silent:1,unplugged:0,clock-unset:0\n\
             band=tolerated\nband_since=1699999900\ntrip_in_seconds=95\nwarning=notice\n\
             band_stale_since=1700000005\n"
        );
        let empty = Status {
            last_reading: None,
            recording: Recording::Starting,
            space: None,
            polls: None,
            contract: None,
            ..full()
        };
        assert_eq!(
            empty.render(),
            "pid=42\nupdated=1700000005\nreading_at=\nwatts=\nmeter=ok\nalarm=on\n\
             recording=starting\nrecording_since=\nrecording_error=\ndata_free=\ndata_total=\n\
             polls=\nband=\nband_since=\ntrip_in_seconds=\nwarning=\nband_stale_since=\n"
        );
    }

    #[test]
    fn round_trip() {
        let s = full();
        assert_eq!(Status::parse(&s.render()), Some(s.clone()));
        for recording in [
            Recording::Ok,
            Recording::Starting,
            Recording::Held { since: 5 },
        ] {
            let r = Status {
                recording,
                space: None,
                ..s.clone()
            };
            assert_eq!(Status::parse(&r.render()), Some(r));
        }
        for contract in [
            None,
            Some(ContractStatus {
                band: Band::Free,
                band_since: 1,
                trip_in_seconds: None,
                warning: Urgency::Quiet,
                stale_since: None,
            }),
            Some(ContractStatus {
                band: Band::Over,
                band_since: 2,
                trip_in_seconds: Some(0),
                warning: Urgency::Urgent,
                stale_since: None,
            }),
        ] {
            let r = Status {
                contract,
                ..s.clone()
            };
            assert_eq!(Status::parse(&r.render()), Some(r));
        }
        let none = Status {
            last_reading: None,
            polls: None,
            ..s
        };
        assert_eq!(Status::parse(&none.render()), Some(none));
        assert_eq!(Status::parse("pid=1\n"), None);
        for m in [
            MeterState::Ok,
            MeterState::Silent,
            MeterState::Unplugged,
            MeterState::ClockUnset,
        ] {
            assert_eq!(MeterState::from_word(m.word()), Some(m));
        }
        for a in [
            AlarmStatus::Off,
            AlarmStatus::Pending,
            AlarmStatus::On,
            AlarmStatus::Sounding,
        ] {
            assert_eq!(AlarmStatus::from_word(a.word()), Some(a));
        }
    }

    #[test]
    fn publisher_rewrites_in_place() {
        let dir = std::env::temp_dir().join(format!("mcce-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = Publisher::new(&dir);
        let long = Status {
            pid: 4_294_967_295,
            updated: 1_700_000_005,
            last_reading: Some(Sample {
                ts: 1_700_000_000,
                watts: 65_535,
            }),
            meter: MeterState::ClockUnset,
            alarm: AlarmStatus::Sounding,
            recording: Recording::Failing {
                since: 1_700_000_000,
                error: error_text(&io::Error::other("x".repeat(300))),
            },
            space: Some(crate::core::space::Space {
                free: u64::MAX,
                total: u64::MAX,
            }),
            polls: Some([u64::MAX; 4]),
            contract: Some(ContractStatus {
                band: Band::Tolerated,
                band_since: i64::MIN,
                trip_in_seconds: Some(u64::MAX),
                warning: Urgency::Urgent,
                stale_since: Some(i64::MIN),
            }),
        };
        let short = Status {
            last_reading: None,
            meter: MeterState::Ok,
            alarm: AlarmStatus::Off,
            recording: Recording::Ok,
            space: None,
            contract: None,
            ..long.clone()
        };
        p.publish(&long).unwrap();
        p.publish(&short).unwrap();
        assert_eq!(
            Status::read(&dir).unwrap(),
            short,
            "no tail of the longer status left"
        );
        assert_eq!(
            std::fs::metadata(path(&dir)).unwrap().len(),
            FILE_LEN as u64
        );
        p.remove();
        assert!(Status::read(&dir).is_err());
        assert!(long.render().len() < FILE_LEN, "the longest status fits");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A status file removed, or replaced by renaming another file over it,
    /// is written again at the next publish, not into the unlinked inode.
    #[test]
    fn publisher_recreates_a_removed_or_replaced_file() {
        let dir = std::env::temp_dir().join(format!("mcce-status-rm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = Publisher::new(&dir);
        let s = Status {
            pid: 7,
            updated: 1_700_000_005,
            last_reading: None,
            meter: MeterState::Ok,
            alarm: AlarmStatus::Off,
            recording: Recording::Ok,
            space: None,
            polls: None,
            contract: None,
        };
        p.publish(&s).unwrap();
        std::fs::remove_file(path(&dir)).unwrap();
        p.publish(&s).unwrap();
        assert_eq!(Status::read(&dir).unwrap(), s, "back after removal");
        let other = dir.join("other");
        std::fs::write(&other, "junk\n").unwrap();
        std::fs::rename(&other, path(&dir)).unwrap();
        p.publish(&s).unwrap();
        assert_eq!(Status::read(&dir).unwrap(), s, "back after replacement");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn error_text_is_one_short_line() {
        let e = io::Error::from_raw_os_error(28);
        assert_eq!(error_text(&e), "No space left on device");
        assert_eq!(error_text(&io::Error::other("a\nb")), "a b");
        assert_eq!(error_text(&io::Error::other("é".repeat(100))).len(), 120);
    }
}
