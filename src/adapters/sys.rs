//! The system calls std does not offer at our minimum Rust (1.88): `flock`
//! (std's `File::try_lock` is 1.89), `statvfs`, `poll`, a terminal's read
//! wait (`tcsetattr`) and glibc's `mallopt`, and `dup` by a borrowed
//! descriptor. The one module that
//! speaks to the `libc` crate, and the only `unsafe` in mcce; each call is
//! a thin wrapper with the error from errno.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::RawFd;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use crate::core::space::Space;

/// Takes an exclusive `flock` on `f` without waiting: `Ok(false)` when
/// another open file holds it. The lock lives as long as the file is open.
pub fn try_lock_exclusive(f: &File) -> io::Result<bool> {
    // SAFETY: flock only reads the descriptor, which `f` keeps open.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Space on the file system holding `path` (statvfs).
pub fn space(path: &Path) -> io::Result<Space> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: an all-zero statvfs is a valid value for the kernel to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path, `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The field types differ between targets (32-bit ARM, musl, glibc).
    #[allow(clippy::useless_conversion)]
    let (frsize, bavail, blocks) = (
        u64::from(st.f_frsize),
        u64::from(st.f_bavail),
        u64::from(st.f_blocks),
    );
    Ok(Space {
        free: bavail.saturating_mul(frsize),
        total: blocks.saturating_mul(frsize),
    })
}

/// A second descriptor for the open file behind `f` (`dup`), owned by the
/// returned file.
pub fn duplicate(f: &impl AsRawFd) -> io::Result<File> {
    // SAFETY: the descriptor belongs to `f`, which is alive for this call;
    // the duplicate made from it is owned by the returned file.
    let fd = unsafe { BorrowedFd::borrow_raw(f.as_raw_fd()) }.try_clone_to_owned()?;
    Ok(File::from(fd))
}

/// Makes a read of the terminal `fd` wait up to `tenths` of a second for
/// its first byte (`VMIN` 0, `VTIME` `tenths`; 0 returns at once) and then
/// return what is there: the kernel times that wait on its coarse timer
/// wheel, where a `poll` with a timeout arms a high-resolution timer.
pub fn set_read_wait(fd: &impl AsRawFd, tenths: u8) -> io::Result<()> {
    // SAFETY: a termios is plain data; tcgetattr fills it before it is used.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid termios to write to.
    if unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    t.c_cc[libc::VMIN] = 0;
    t.c_cc[libc::VTIME] = tenths;
    // SAFETY: `t` is the terminal's own settings with two fields changed.
    if unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What `poll` waits for on a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Read,
    Write,
    /// Nothing: the descriptor is skipped this time.
    Nothing,
}

/// One descriptor for [`poll`]; after the call, [`PollFd::ready`] says
/// whether it has an event.
#[repr(transparent)]
pub struct PollFd(libc::pollfd);

impl PollFd {
    pub fn new(fd: &impl AsRawFd, wait: Wait) -> PollFd {
        PollFd::raw(fd.as_raw_fd(), wait)
    }

    fn raw(fd: RawFd, wait: Wait) -> PollFd {
        let events = match wait {
            Wait::Read => libc::POLLIN,
            Wait::Write => libc::POLLOUT,
            Wait::Nothing => 0,
        };
        PollFd(libc::pollfd {
            fd,
            events,
            revents: 0,
        })
    }

    pub fn ready(&self) -> bool {
        self.0.revents != 0
    }
}

/// `poll(2)` on `fds` for at most `timeout` (none: no limit); the number of
/// descriptors with events (0 also when a signal interrupted it).
pub fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    let ms = match timeout {
        None => -1,
        // Rounded up, so a deadline is never woken for just before it.
        Some(t) => i32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX),
    };
    // SAFETY: `PollFd` is a transparent `pollfd`, so `fds` is a valid,
    // writable array of pollfd for its length.
    let n = unsafe { libc::poll(fds.as_mut_ptr().cast(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(e)
        };
    }
    Ok(n as usize)
}

/// glibc gives each thread that allocates its own malloc arena and keeps
/// what it freed there: eight workers rendering days would hold eight
/// arenas of half a megabyte each. One arena keeps the resident size to
/// what is in use. (The Pi's static musl build has no arenas.) Called
/// before the threads start.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused() {
        let dir = std::env::temp_dir();
        let a = File::open(&dir).unwrap();
        let b = File::open(&dir).unwrap();
        assert!(try_lock_exclusive(&a).unwrap());
        assert!(!try_lock_exclusive(&b).unwrap());
        drop(a);
        assert!(try_lock_exclusive(&b).unwrap());
    }

    #[test]
    fn space_of_the_temp_dir() {
        let s = space(&std::env::temp_dir()).unwrap();
        assert!(s.total > 0 && s.free <= s.total, "{s:?}");
        assert!(space(Path::new("/nonexistent/mcce")).is_err());
    }
}
