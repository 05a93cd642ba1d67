//! The meter on its serial line: trigger, wait for a complete frame, keep
//! the newest. Works whether the MCEE answers once per trigger or streams
//! frames after it (docs/protocol.md#reading-a-reply leaves that open).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::adapters::serial::Link;
use crate::core::protocol::{Decode, Protocol};

#[derive(Debug)]
pub enum PollError {
    /// No complete frame before the deadline: the meter is silent or talks
    /// garbage. The port is still fine.
    NoFrame,
    /// The port failed (unplugged, hung up): reopen it.
    Lost(io::Error),
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::NoFrame => write!(f, "no complete frame from the meter"),
            PollError::Lost(e) => write!(f, "serial port failed: {e}"),
        }
    }
}

/// A meter on `link`, spoken to in its protocol.
pub struct Meter<L> {
    link: L,
    trigger: &'static [u8],
    decoder: Box<dyn Decode>,
    buf: [u8; 256],
}

impl<L: Link> Meter<L> {
    pub fn new(link: L, protocol: &dyn Protocol) -> Self {
        Meter {
            link,
            trigger: protocol.trigger(),
            decoder: protocol.decoder(),
            buf: [0; 256],
        }
    }

    /// One reading: trigger, then read until a complete frame arrived (and
    /// any frames already queued behind it, the newest winning) or until
    /// `timeout` passes.
    ///
    /// Returns early, without a reading, once `cancel` is set (shutdown).
    pub fn poll(&mut self, timeout: Duration, cancel: &AtomicBool) -> Result<u32, PollError> {
        let deadline = Instant::now() + timeout;
        // Only flush when something is there: a flush is the dearer call.
        if self.link.pending().map_err(PollError::Lost)? > 0 {
            self.link.discard_input().map_err(PollError::Lost)?;
        }
        self.decoder.reset();
        // No flush: it would wait for the 4 bytes to leave the UART, and
        // the reply cannot come earlier anyway.
        self.link.write_all(self.trigger).map_err(PollError::Lost)?;
        let mut newest = None;
        loop {
            match self.link.read_before(&mut self.buf, deadline) {
                Ok(0) => {
                    return Err(PollError::Lost(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "end of file on the serial port",
                    )));
                }
                Ok(n) => self.decoder.feed(&self.buf[..n], &mut |w| newest = Some(w)),
                Err(e) if is_timeout(&e) => {}
                Err(e) => return Err(PollError::Lost(e)),
            }
            if newest.is_some() && self.link.pending().map_err(PollError::Lost)? == 0 {
                break;
            }
            if Instant::now() >= deadline || cancel.load(Ordering::Relaxed) {
                break;
            }
        }
        newest.ok_or(PollError::NoFrame)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mcee::Mcee;
    use std::collections::VecDeque;
    use std::io::{Read, Write};

    /// A scripted line: each trigger releases the next batch of reads.
    struct Script {
        replies: VecDeque<Vec<Vec<u8>>>,
        queued: VecDeque<Vec<u8>>,
        triggers: usize,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.queued.pop_front() {
                Some(chunk) => {
                    buf[..chunk.len()].copy_from_slice(&chunk);
                    Ok(chunk.len())
                }
                None => Err(io::ErrorKind::TimedOut.into()),
            }
        }
    }
    impl Write for Script {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            assert_eq!(b, Mcee.trigger());
            self.triggers += 1;
            if let Some(r) = self.replies.pop_front() {
                self.queued.extend(r);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Link for Script {
        fn discard_input(&mut self) -> io::Result<()> {
            self.queued.clear();
            Ok(())
        }
        fn pending(&mut self) -> io::Result<u32> {
            Ok(self.queued.iter().map(|c| c.len() as u32).sum())
        }
    }

    fn frame(w: u16) -> Vec<u8> {
        let mut v = b"xxS0222".to_vec();
        v.extend(w.to_le_bytes());
        v.extend(b"1S03yy");
        v
    }

    #[test]
    fn split_reply_newest_frame_wins_and_silence_is_no_frame() {
        let f = frame(3120);
        let mut replies = VecDeque::new();
        replies.push_back(vec![f[..4].to_vec(), f[4..9].to_vec(), f[9..].to_vec()]);
        replies.push_back(vec![frame(1), frame(2), frame(3)]);
        replies.push_back(vec![b"garbage".to_vec()]);
        let mut m = Meter::new(
            Script {
                replies,
                queued: VecDeque::new(),
                triggers: 0,
            },
            &Mcee,
        );
        let t = Duration::from_millis(200);
        let go = AtomicBool::new(false);
        assert_eq!(m.poll(t, &go).unwrap(), 3120);
        assert_eq!(m.poll(t, &go).unwrap(), 3);
        assert!(matches!(m.poll(t, &go), Err(PollError::NoFrame)));
        assert_eq!(m.link.triggers, 3);
    }
}
