//! The two system calls std does not offer at our minimum Rust (1.88):
//! `flock` (std's `File::try_lock` is 1.89) and `statvfs`. This is the only
//! `unsafe` in mcce; each call is a thin wrapper with the error from errno.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
