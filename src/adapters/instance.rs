//! One daemon per directory: `flock`s on RUN_DIR and DATA_DIR themselves
//! (no lock file to leave behind), held for the daemon's life. A second
//! `mcce run` on either finds them held and leaves before it opens the port
//! or writes anything; a reload that moves to directories another daemon
//! holds is refused, so two daemons never interleave their samples in one
//! day file. The kernel drops the locks when the process ends, even on
//! `kill -9`.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::adapters::status::Status;
use crate::core::config::Config;

/// The directories' locks; each is held as long as its open directory is.
#[derive(Default)]
pub struct InstanceLock {
    held: Vec<Held>,
}

/// One locked directory, known by device and inode so that two spellings
/// of one directory are one lock.
struct Held {
    id: (u64, u64),
    _dir: File,
}

/// Why a directory could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another daemon holds it; its pid when the directory is its RUN_DIR
    /// and the status there says.
    Busy {
        key: &'static str,
        dir: PathBuf,
        pid: Option<u32>,
    },
    /// It could not be created or opened.
    Io {
        key: &'static str,
        dir: PathBuf,
        error: io::Error,
    },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Busy { key, dir, pid } => {
                write!(f, "{key} {}: another mcce daemon", dir.display())?;
                if let Some(pid) = pid {
                    write!(f, " (pid {pid})")?;
                }
                f.write_str(" already uses it")
            }
            LockError::Io { key, dir, error } => write!(f, "{key} {}: {error}", dir.display()),
        }
    }
}

impl InstanceLock {
    /// Locks `cfg`'s RUN_DIR and DATA_DIR, creating them if missing.
    pub fn take(cfg: &Config) -> Result<InstanceLock, LockError> {
        let mut lock = InstanceLock::default();
        lock.switch(cfg)?;
        Ok(lock)
    }

    /// Moves to `cfg`'s directories: each one not held yet is locked first,
    /// the ones already held are kept. On success the locks no longer
    /// needed are returned, still held until the caller drops them (after
    /// it has left those directories); on failure nothing changes.
    pub fn switch(&mut self, cfg: &Config) -> Result<InstanceLock, LockError> {
        // Each new lock with whether it was already held.
        let mut next: Vec<(Held, bool)> = Vec::new();
        match self.gather(cfg, &mut next) {
            Ok(()) => {
                let old = std::mem::take(&mut self.held);
                self.held = next.into_iter().map(|(h, _)| h).collect();
                Ok(InstanceLock { held: old })
            }
            Err(e) => {
                // The locks just taken are dropped (released).
                self.held
                    .extend(next.into_iter().filter(|(_, kept)| *kept).map(|(h, _)| h));
                Err(e)
            }
        }
    }

    fn gather(&mut self, cfg: &Config, next: &mut Vec<(Held, bool)>) -> Result<(), LockError> {
        for (key, dir) in [("RUN_DIR", &cfg.run_dir), ("DATA_DIR", &cfg.data_dir)] {
            let fail = |error: io::Error| LockError::Io {
                key,
                dir: dir.clone(),
                error,
            };
            std::fs::create_dir_all(dir).map_err(fail)?;
            let f = File::open(dir).map_err(fail)?;
            let m = f.metadata().map_err(fail)?;
            let id = (m.dev(), m.ino());
            if next.iter().any(|(h, _)| h.id == id) {
                continue; // RUN_DIR and DATA_DIR are the same directory
            }
            if let Some(i) = self.held.iter().position(|h| h.id == id) {
                // Already ours: a second open file would find it locked.
                next.push((self.held.swap_remove(i), true));
                continue;
            }
            if !crate::adapters::sys::try_lock_exclusive(&f).map_err(fail)? {
                // A RUN_DIR's status names its daemon; a DATA_DIR says
                // nothing of whose it is.
                let pid = if key == "RUN_DIR" {
                    Status::read(dir).ok().map(|s| s.pid)
                } else {
                    None
                };
                return Err(LockError::Busy {
                    key,
                    dir: dir.clone(),
                    pid,
                });
            }
            next.push((Held { id, _dir: f }, false));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(run: &std::path::Path, data: &std::path::Path) -> Config {
        Config {
            run_dir: run.to_path_buf(),
            data_dir: data.to_path_buf(),
            ..Config::default()
        }
    }

    /// A switch keeps the directories it already holds, takes the new ones
    /// before letting go of the old, and when another holder refuses one,
    /// changes nothing: the old directories stay locked, the new free.
    #[test]
    fn a_switch_takes_the_new_locks_first_and_changes_nothing_when_refused() {
        let top = std::env::temp_dir().join(format!("mcce-instance-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&top);
        let (a, b, c) = (top.join("a"), top.join("b"), top.join("c"));
        let mut first = InstanceLock::take(&cfg(&a, &a.join("data"))).unwrap();
        let other = InstanceLock::take(&cfg(&c, &c.join("data"))).unwrap();

        // Into a directory held by another: refused, all as it was.
        let e = first.switch(&cfg(&a, &c.join("data"))).err().unwrap();
        assert!(
            e.to_string()
                .ends_with("c/data: another mcce daemon already uses it"),
            "{e}"
        );
        assert!(matches!(
            e,
            LockError::Busy {
                key: "DATA_DIR",
                ..
            }
        ));
        assert!(InstanceLock::take(&cfg(&a, &b)).is_err(), "RUN_DIR kept");
        assert!(
            InstanceLock::take(&cfg(&b, &a.join("data"))).is_err(),
            "DATA_DIR kept"
        );

        // RUN_DIR kept (same directory, another spelling), DATA_DIR moved:
        // the old one is free once what switch returned is dropped.
        let old = first.switch(&cfg(&a.join("."), &b.join("data"))).unwrap();
        assert!(
            InstanceLock::take(&cfg(&b, &a.join("data"))).is_err(),
            "held until dropped"
        );
        drop(old);
        let third = InstanceLock::take(&cfg(&b, &a.join("data"))).unwrap();
        assert!(InstanceLock::take(&cfg(&a, &top.join("d"))).is_err());
        assert!(
            InstanceLock::take(&cfg(&top.join("d"), &b.join("data"))).is_err(),
            "the new DATA_DIR is held"
        );
        drop((first, other, third));
        assert!(InstanceLock::take(&cfg(&a, &c.join("data"))).is_ok());
        let _ = std::fs::remove_dir_all(&top);
    }
}
