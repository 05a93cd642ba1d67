//! The daemon's latest state in a small file under `RUN_DIR` (a tmpfs), so
//! `mcce status` can answer while the daemon holds the serial port.

use std::io;
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

    /// Replaces the file atomically: a reader never sees half of it.
    pub fn write(&self, run_dir: &Path) -> io::Result<()> {
        let tmp = run_dir.join(".status.tmp");
        std::fs::write(&tmp, self.render())?;
        std::fs::rename(&tmp, path(run_dir))
    }

    pub fn read(run_dir: &Path) -> io::Result<Status> {
        let p = path(run_dir);
        let text = std::fs::read_to_string(&p)?;
        Status::parse(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: unreadable status", p.display()),
            )
        })
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
}
