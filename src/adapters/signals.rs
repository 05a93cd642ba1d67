//! Stop and reload requests (SIGTERM/SIGINT, SIGHUP), and a way to sleep
//! until the next poll that a signal cuts short. Waking only for polls and
//! signals, not every few milliseconds to look at flags, is what keeps the
//! idle daemon's CPU near zero on a Pi.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest nap when nothing can wake us early (tests, the demo).
const POLL_FLAGS_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone, Default)]
pub struct Signals {
    pub stop: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
    /// Read end of a socket the signal handlers write a byte to.
    wake: Option<Arc<UnixStream>>,
}

impl Signals {
    /// Routes SIGTERM and SIGINT to `stop`, SIGHUP to `reload`, and all
    /// three to the wake socket.
    pub fn install() -> io::Result<Signals> {
        let (rx, tx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        let s = Signals {
            wake: Some(Arc::new(rx)),
            ..Signals::default()
        };
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for (sig, flag) in [(SIGTERM, &s.stop), (SIGINT, &s.stop), (SIGHUP, &s.reload)] {
            signal_hook::flag::register(sig, flag.clone())?;
            signal_hook::low_level::pipe::register(sig, tx.try_clone()?)?;
        }
        Ok(s)
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// True once per SIGHUP.
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::SeqCst)
    }

    /// What becomes readable when a signal arrives, for a caller that
    /// waits on several descriptors; [`Signals::take_wake`] after it did.
    pub fn waker(&self) -> Option<&UnixStream> {
        self.wake.as_deref()
    }

    /// Reads away the bytes the signal handlers wrote (the caller saw the
    /// waker readable, so this does not wait).
    pub fn take_wake(&self) {
        if let Some(rx) = &self.wake
            && rx.set_read_timeout(Some(Duration::from_millis(1))).is_ok()
        {
            let mut buf = [0u8; 64];
            let _ = (&**rx).read(&mut buf);
        }
    }

    /// Blocks for up to `d` of real time, less if a signal arrives.
    pub fn nap(&self, d: Duration) {
        match &self.wake {
            Some(rx) => {
                let d = d.max(Duration::from_millis(1));
                let mut buf = [0u8; 16];
                if rx.set_read_timeout(Some(d)).is_ok() {
                    // A byte means a signal: the caller looks at the flags.
                    let _ = (&**rx).read(&mut buf);
                } else {
                    std::thread::sleep(d.min(POLL_FLAGS_EVERY));
                }
            }
            None => std::thread::sleep(d.min(POLL_FLAGS_EVERY)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn without_a_wake_socket_naps_are_short() {
        let s = Signals::default();
        let t = Instant::now();
        s.nap(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(!s.stop_requested());
        s.reload.store(true, Ordering::SeqCst);
        assert!(s.take_reload());
        assert!(!s.take_reload());
    }
}
