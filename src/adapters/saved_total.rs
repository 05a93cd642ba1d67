//! The energy total `mcce publish` last published, kept in
//! `DATA_DIR/publish/total` so that a new run never publishes less than an
//! earlier one did (Home Assistant would read a decrease as a meter reset
//! and count the energy again).
//!
//! In DATA_DIR, not RUN_DIR: Home Assistant keeps the last figure across a
//! reboot of the box, so the figure must outlive RUN_DIR's tmpfs too. The
//! file is kept open and rewritten in place with one `pwrite` of a fixed
//! length whenever the figure rises, without fsync (as the day files: an SD
//! card wears out): the page cache keeps it across a restart or a `kill -9`
//! of the publisher, and writes it back within half a minute; a clean stop
//! syncs it. The file is also the publisher's lock: one `mcce publish` per
//! DATA_DIR (`flock`, dropped by the kernel when the process ends). Its
//! directory is the publisher's own: on the image DATA_DIR is the data
//! partition's mount point, root's, and the init script makes `publish/`
//! for user mcce as it makes `days/` and `db/`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::sys::try_lock_exclusive;

/// The publisher's directory in DATA_DIR, and the file's name in it.
pub const DIR_NAME: &str = "publish";
pub const FILE_NAME: &str = "total";

/// Its length: the figure in watt-hours right-aligned in 20 columns (any
/// `u64`) and a newline, so each write covers the one before.
const LEN: usize = 21;

pub struct SavedTotal {
    file: File,
    path: PathBuf,
    /// Whether the file is known to be `LEN` long (checked at the first
    /// save, not at every one).
    sized: bool,
}

/// What the file held when it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// No figure yet (a new file, or an empty one).
    Nothing,
    Wh(u64),
    /// Something that is not a figure: what it was, for the log.
    Unreadable(String),
}

#[derive(Debug)]
pub enum OpenError {
    /// Another `mcce publish` holds the file.
    Busy(PathBuf),
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Busy(p) => write!(
                f,
                "{}: another mcce publish already uses it (one per DATA_DIR)",
                p.display()
            ),
            OpenError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl SavedTotal {
    /// Opens (creating it, and its directory if DATA_DIR lets us) and locks
    /// `data_dir`'s file, and says what it held.
    pub fn open(data_dir: &Path) -> Result<(SavedTotal, Saved), OpenError> {
        let dir = data_dir.join(DIR_NAME);
        let path = dir.join(FILE_NAME);
        let io = |e| OpenError::Io(path.clone(), e);
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(OpenError::Io(dir, e));
            }
            _ => {}
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if !try_lock_exclusive(&file).map_err(io)? {
            return Err(OpenError::Busy(path));
        }
        let mut text = Vec::new();
        file.by_ref()
            .take(LEN as u64 * 4)
            .read_to_end(&mut text)
            .map_err(io)?;
        let saved = parse(&text);
        Ok((
            SavedTotal {
                file,
                path,
                sized: false,
            },
            saved,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps `wh` as the last figure published.
    pub fn save(&mut self, wh: u64) -> io::Result<()> {
        let text = format!("{wh:>20}\n");
        self.file.write_all_at(text.as_bytes(), 0)?;
        // A longer file (an older format, or written by hand) loses its
        // tail, once; the file is ours and locked, so it stays that long.
        if !self.sized {
            if self.file.metadata()?.len() != LEN as u64 {
                self.file.set_len(LEN as u64)?;
            }
            self.sized = true;
        }
        Ok(())
    }

    /// Puts the figure on the disk (a clean stop).
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

fn parse(text: &[u8]) -> Saved {
    let s = String::from_utf8_lossy(text);
    let t = s.trim();
    if t.is_empty() {
        return Saved::Nothing;
    }
    match t.parse::<u64>() {
        Ok(wh) => Saved::Wh(wh),
        Err(_) => Saved::Unreadable(t.chars().take(40).collect::<String>().trim_end().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcce-saved-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_figure_survives_the_process_and_one_publisher_holds_the_file() {
        let dir = scratch("round");
        let (mut s, saved) = SavedTotal::open(&dir).unwrap();
        assert_eq!(saved, Saved::Nothing);
        // A second publisher on the same DATA_DIR is turned away.
        assert!(matches!(SavedTotal::open(&dir), Err(OpenError::Busy(_))));
        s.save(123_456).unwrap();
        s.save(u64::MAX).unwrap();
        s.save(7).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join(DIR_NAME).join(FILE_NAME)).unwrap(),
            "                   7\n"
        );
        s.sync().unwrap();
        drop(s);
        let (_s, saved) = SavedTotal::open(&dir).unwrap();
        assert_eq!(saved, Saved::Wh(7));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn anything_else_in_the_file_is_said_and_written_over() {
        let dir = scratch("odd");
        let p = dir.join(DIR_NAME).join(FILE_NAME);
        std::fs::create_dir(dir.join(DIR_NAME)).unwrap();
        std::fs::write(&p, "12.5 kWh, hand-written, and a long tail after it\n").unwrap();
        let (mut s, saved) = SavedTotal::open(&dir).unwrap();
        assert_eq!(
            saved,
            Saved::Unreadable("12.5 kWh, hand-written, and a long tail".into())
        );
        s.save(99).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "                  99\n"
        );
        drop(s);
        std::fs::write(&p, "\0\0\0").unwrap();
        assert!(matches!(
            SavedTotal::open(&dir).unwrap().1,
            Saved::Unreadable(_)
        ));
        // A DATA_DIR that cannot hold it: the path and the reason.
        let e = SavedTotal::open(&dir.join("missing")).err().unwrap();
        assert!(e.to_string().contains("missing/publish: "), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
