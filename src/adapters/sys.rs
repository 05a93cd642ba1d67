//! The system calls std does not offer at our minimum Rust (1.88): `flock`
//! (std's `File::try_lock` is 1.89), `statvfs`, `poll`, `inotify`, a
//! terminal's read wait (`tcsetattr`) and glibc's `mallopt`, `dup` by a
//! borrowed descriptor, a socket's send buffer, reset on close and unsent
//! bytes, opening a file that may be a FIFO without waiting, and work done
//! in a forked child (`fork`, `waitpid`, `_exit`). The one module that
//! speaks to the `libc` crate, and the only `unsafe` in mcce; each call is
//! a thin wrapper with the error from errno.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::RawFd;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};
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

/// Opens `path` to read without updating its access time (`O_NOATIME`)
/// where the file is ours, else as usual. Readers of a day file the daemon
/// appends to would otherwise dirty its inode at every read (`relatime`
/// updates the access time of a file modified since), an ext4 journal
/// commit and, on the Pi, an SD card write each. The open never waits
/// ([`NO_WAIT`]): the caller checks what it opened before reading.
pub fn open_quietly(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |flags| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(NO_WAIT | flags)
            .open(path)
    };
    match open(libc::O_NOATIME) {
        // Not the file's owner (nor root): the flag is refused.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => open(0),
        r => r,
    }
}

/// Opens `path` to append (and read), created if missing, without waiting
/// ([`NO_WAIT`]): the caller checks what it opened before writing.
pub fn open_to_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .custom_flags(NO_WAIT)
        .open(path)
}

/// Flags for opening a file that may turn out not to be one. A FIFO opened
/// to read blocks until a writer comes (`O_NONBLOCK` returns at once); a
/// terminal would become the process's controlling one (`O_NOCTTY`). On a
/// regular file, the only kind a day file may be, `O_NONBLOCK` changes
/// nothing: reads and writes of regular files never return `EAGAIN`.
const NO_WAIT: libc::c_int = libc::O_NONBLOCK | libc::O_NOCTTY;

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

/// Bounds the kernel's send buffer of socket `fd` to about `bytes` (the
/// kernel doubles it for its bookkeeping), instead of letting it grow to
/// megabytes for a client that does not read.
pub fn set_send_buffer(fd: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set_socket_option(fd, libc::SO_SNDBUF, &v)
}

/// Makes closing socket `fd` reset the connection (`SO_LINGER` 0): what
/// is queued for the peer is dropped at once instead of staying in the
/// kernel, as an orphan, while a peer that reads nothing holds it.
pub fn reset_on_close(fd: &impl AsRawFd) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    set_socket_option(fd, libc::SO_LINGER, &l)
}

fn set_socket_option<T>(fd: &impl AsRawFd, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the size given, the
    // descriptor is open for the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bytes socket `fd` holds that its peer has not acknowledged yet
/// (`SIOCOUTQ`): sent and unacknowledged, or not sent.
pub fn unacknowledged(fd: &impl AsRawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ for a socket) writes one int to `n`.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// A watch on the entries of one directory (inotify): its descriptor
/// becomes readable when a file there is created, written, renamed in or
/// removed, so a reader of the daemon's status wakes when it changes, not
/// on a timer.
pub struct DirWatch {
    file: File,
}

impl DirWatch {
    pub fn new(dir: &Path) -> io::Result<DirWatch> {
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        // SAFETY: inotify_init1 takes only flags; the descriptor it returns
        // is new, and owned by the File made from it below.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        let file = File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
        let mask = libc::IN_MODIFY
            | libc::IN_CREATE
            | libc::IN_MOVED_TO
            | libc::IN_DELETE
            | libc::IN_DELETE_SELF
            | libc::IN_MOVE_SELF
            | libc::IN_ONLYDIR;
        // SAFETY: `c` is a NUL-terminated path; the descriptor is `file`'s.
        if unsafe { libc::inotify_add_watch(file.as_raw_fd(), c.as_ptr(), mask) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(DirWatch { file })
    }

    /// Reads the events that came away: whether entries were made, moved
    /// or removed (not only written), and whether the directory itself is
    /// still there (gone: watch it again once it is back).
    pub fn drain(&self) -> io::Result<Drained> {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        let mut got = Drained {
            entries: false,
            alive: true,
        };
        loop {
            let n = match (&self.file).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(got),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // Each event: wd, mask, cookie, len (native-endian 32-bit
            // words), then `len` bytes of name.
            let mut at = 0;
            while at + 16 <= n {
                let word = |i: usize| {
                    let b = &buf[at + i..at + i + 4];
                    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
                };
                let gone = libc::IN_IGNORED | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF;
                if word(4) & gone != 0 {
                    got.alive = false;
                }
                if word(4) & (libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_DELETE) != 0 {
                    got.entries = true;
                }
                at += 16 + word(12) as usize;
            }
            // Events are read whole: a buffer not filled took them all
            // (one more read would only say so).
            if n < buf.len() - 256 {
                return Ok(got);
            }
        }
    }
}

/// What [`DirWatch::drain`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// An entry was made, moved in or removed.
    pub entries: bool,
    /// The directory is still watched.
    pub alive: bool,
}

impl AsRawFd for DirWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
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

/// Blocks of `bytes` or more get a mapping of their own from glibc's
/// malloc, unmapped as soon as they are freed. By default glibc raises
/// this threshold to the size of every such block freed (up to 32 MiB), so
/// after the first few, large blocks come from the heap, whose freed middle
/// is never given back: its resident size stays at the most that was ever
/// in use at once. Setting it fixes it. (musl maps large blocks already.)
pub fn map_large_allocations(bytes: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter.
    unsafe {
        libc::mallopt(
            libc::M_MMAP_THRESHOLD,
            libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX),
        );
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = bytes;
}

/// Runs `work` in a child process and returns the bytes it produced. The
/// memory the work touches (code pages, heap, a library's caches) is the
/// child's, and is given back when it exits: a long-lived process keeps
/// only what it needs from one rare, large task (`mcce publish` sums the
/// yearly databases this way, and never holds SQLite itself).
///
/// Only a process with a single thread forks safely: another thread may
/// hold a lock (the allocator's, a cache's) that the child would then wait
/// on for ever. With more threads, or when the child cannot be made, the
/// work runs here, with the same result. The error says how a child ended
/// that did not finish (killed, aborted): its output is not used.
pub fn run_apart(work: impl FnOnce() -> Vec<u8>) -> io::Result<Vec<u8>> {
    if threads() != Some(1) {
        return Ok(work());
    }
    match fork_with_pipe() {
        Ok(Forked::Child(out)) => finish_child(out, work),
        Ok(Forked::Parent(pid, from_child)) => collect(pid, from_child),
        Err(_) => Ok(work()),
    }
}

/// The number of threads of this process (`/proc/self/status`).
fn threads() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

enum Forked {
    /// In the child: the pipe's end to write to.
    Child(File),
    /// In the parent: the child's pid and the pipe's end to read from.
    Parent(libc::pid_t, File),
}

/// `fork` with a pipe from the child to the parent. The caller keeps to
/// [`run_apart`]'s rule: one thread.
fn fork_with_pipe() -> io::Result<Forked> {
    let mut fds: [libc::c_int; 2] = [-1; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made and are owned here alone.
    let (read_end, write_end) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    // SAFETY: with one thread, the child starts with every lock free; it
    // leaves by `_exit` (finish_child), never returning into the caller.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child(write_end)),
        pid => Ok(Forked::Parent(pid, read_end)),
    }
}

/// The child's life: the work, its bytes into the pipe, and `_exit`, which
/// runs none of the parent's exit handlers and flushes none of its
/// buffers. A panic ends the child with status 2 (with `panic = "abort"`
/// it ends by SIGABRT, as it would anywhere).
fn finish_child(mut out: File, work: impl FnOnce() -> Vec<u8>) -> ! {
    use std::io::Write;
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(bytes) => i32::from(out.write_all(&bytes).is_err()),
        Err(_) => 2,
    };
    // SAFETY: ends this process (the child) at once.
    unsafe { libc::_exit(code) }
}

/// The parent's side: everything the child wrote, then its end.
fn collect(pid: libc::pid_t, mut from_child: File) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut got = Vec::new();
    let read = from_child.read_to_end(&mut got);
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: waits for our own child; `status` is ours to fill.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    read?;
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(got)
    } else if libc::WIFSIGNALED(status) {
        Err(io::Error::other(format!(
            "the child process was ended by signal {}",
            libc::WTERMSIG(status)
        )))
    } else {
        Err(io::Error::other(format!(
            "the child process failed (exit status {})",
            libc::WEXITSTATUS(status)
        )))
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
    fn a_dir_watch_wakes_for_a_write_and_says_when_the_directory_goes() {
        let dir = std::env::temp_dir().join(format!("mcce-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let w = DirWatch::new(&dir).unwrap();
        let ready = |ms| {
            let mut fds = [PollFd::new(&w, Wait::Read)];
            poll(&mut fds, Some(Duration::from_millis(ms))).unwrap() == 1
        };
        assert!(!ready(10), "nothing happened yet");
        std::fs::write(dir.join("status"), "x").unwrap();
        assert!(ready(1000));
        let (made, written) = (
            Drained {
                entries: true,
                alive: true,
            },
            Drained {
                entries: false,
                alive: true,
            },
        );
        assert_eq!(w.drain().unwrap(), made);
        assert!(!ready(10), "drained");
        // In place, as the daemon rewrites its status.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("status"))
            .unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, b"y", 0).unwrap();
        assert!(ready(1000));
        assert_eq!(w.drain().unwrap(), written);
        // (The kernel says the directory went once no open file in it
        // holds it any more.)
        drop(f);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(ready(1000));
        assert!(!w.drain().unwrap().alive, "the directory is gone");
        assert!(DirWatch::new(&dir).is_err());
    }

    #[test]
    fn work_apart_runs_in_a_child_and_its_end_is_known() {
        // The test harness has threads: the fork itself is driven here,
        // with work that takes no lock.
        let apart = |work: fn() -> Vec<u8>| match fork_with_pipe().unwrap() {
            Forked::Child(out) => finish_child(out, work),
            Forked::Parent(pid, from_child) => collect(pid, from_child),
        };
        let got = apart(|| std::process::id().to_string().into_bytes()).unwrap();
        let child: u32 = String::from_utf8(got).unwrap().parse().unwrap();
        assert_ne!(child, std::process::id(), "the work ran in another process");
        let err = apart(|| std::process::abort()).unwrap_err();
        assert!(err.to_string().contains("signal 6"), "{err}");
        // Here, with more than one thread, the work stays in this process.
        assert!(threads().unwrap() >= 1);
        let here = run_apart(|| std::process::id().to_string().into_bytes()).unwrap();
        if threads() != Some(1) {
            assert_eq!(here, std::process::id().to_string().into_bytes());
        }
    }

    #[test]
    fn space_of_the_temp_dir() {
        let s = space(&std::env::temp_dir()).unwrap();
        assert!(s.total > 0 && s.free <= s.total, "{s:?}");
        assert!(space(Path::new("/nonexistent/mcce")).is_err());
    }
}
