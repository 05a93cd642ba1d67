//! The daemon's latest state in a small file under `RUN_DIR` (a tmpfs), so
//! `mcce status` can answer while the daemon holds the serial port.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub pid: u32,
    /// Wall time of this update.
    pub updated: i64,
    /// The latest good reading and its wall time.
    pub last_reading: Option<(i64, u32)>,
    /// `ok`, `silent`, `unplugged`, `clock-unset`, `starting`.
    pub meter: String,
    /// `off`, `pending`, `on`.
    pub alarm: String,
}

pub fn path(run_dir: &Path) -> PathBuf {
    run_dir.join("status")
}

impl Status {
    pub fn render(&self) -> String {
        let (at, w) = match self.last_reading {
            Some((t, w)) => (t.to_string(), w.to_string()),
            None => (String::new(), String::new()),
        };
        format!(
            "pid={}\nupdated={}\nreading_at={at}\nwatts={w}\nmeter={}\nalarm={}\n",
            self.pid, self.updated, self.meter, self.alarm
        )
    }

    pub fn parse(text: &str) -> Option<Status> {
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
        };
        let at = get("reading_at")?;
        let w = get("watts")?;
        Some(Status {
            pid: get("pid")?.parse().ok()?,
            updated: get("updated")?.parse().ok()?,
            last_reading: if at.is_empty() {
                None
            } else {
                Some((at.parse().ok()?, w.parse().ok()?))
            },
            meter: get("meter")?.to_string(),
            alarm: get("alarm")?.to_string(),
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

/// The file's fixed size: every update overwrites all of it with one
/// `pwrite`, so there is nothing to truncate and no stale tail.
const FILE_LEN: usize = 192;

/// Keeps the status file open and rewrites it in place after every poll:
/// one system call, where write-and-rename cost several and an inode each
/// time (this runs 17 280 times a day).
pub struct Publisher {
    path: PathBuf,
    /// The open file and its (device, inode), to notice it was removed or
    /// replaced under us.
    file: Option<(File, (u64, u64))>,
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
        // daemon is gone while it runs. One stat per poll notices.
        let still_ours =
            |id: (u64, u64)| std::fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == id);
        if self.file.as_ref().is_some_and(|(_, id)| !still_ours(*id)) {
            self.file = None;
        }
        if self.file.is_none() {
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&self.path)?;
            let m = f.metadata()?;
            self.file = Some((f, (m.dev(), m.ino())));
        }
        self.buf.clear();
        self.buf.extend_from_slice(status.render().as_bytes());
        if self.buf.len() < FILE_LEN {
            self.buf.resize(FILE_LEN - 1, b' ');
            self.buf.push(b'\n');
        }
        let (f, _) = self.file.as_ref().expect("opened above");
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

    #[test]
    fn round_trip() {
        let s = Status {
            pid: 42,
            updated: 1_700_000_005,
            last_reading: Some((1_700_000_000, 4321)),
            meter: "ok".into(),
            alarm: "on".into(),
        };
        assert_eq!(Status::parse(&s.render()), Some(s.clone()));
        let none = Status {
            last_reading: None,
            ..s
        };
        assert_eq!(Status::parse(&none.render()), Some(none));
        assert_eq!(Status::parse("pid=1\n"), None);
    }

    #[test]
    fn publisher_rewrites_in_place() {
        let dir = std::env::temp_dir().join(format!("mcce-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = Publisher::new(&dir);
        let long = Status {
            pid: 4_294_967_295,
            updated: 1_700_000_005,
            last_reading: Some((1_700_000_000, 65_535)),
            meter: "clock-unset".into(),
            alarm: "sounding".into(),
        };
        let short = Status {
            last_reading: None,
            meter: "ok".into(),
            alarm: "off".into(),
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
        let _ = std::fs::remove_dir_all(&dir);
    }
}
