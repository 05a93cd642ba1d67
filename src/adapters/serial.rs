//! The serial line: the meter's port and the simulator's pseudo-terminal.
//! The one module that speaks to the `serialport` crate.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, SerialPort, TTYPort};

use crate::adapters::sys::{duplicate, set_read_wait};

/// What the poller needs from a serial line. Reads return `TimedOut` or
/// `WouldBlock` after a short wait with no data.
pub trait Link: Read + Write + Send {
    /// Drops whatever the line already holds: an answer to an earlier
    /// trigger is not the power now.
    fn discard_input(&mut self) -> io::Result<()>;
    /// Bytes already received and not yet read.
    fn pending(&mut self) -> io::Result<u32>;
    /// Reads what arrives before `deadline` (or a little after: at most
    /// one `READ_SLICE`); `TimedOut` when nothing did.
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        let _ = deadline;
        self.read(buf)
    }
}

/// The meter's serial port. Reads use serialport's timeouts; the trigger
/// goes straight to a duplicate of the descriptor, because serialport polls
/// before every write: a system call 17 280 times a day for 4 bytes that
/// always fit.
pub struct SerialLink {
    port: TTYPort,
    out: File,
    /// The terminal's `VTIME` as last set (tenths of a second).
    wait: Option<u8>,
}

impl Read for SerialLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.port.read(buf)
    }
}

impl Write for SerialLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Link for SerialLink {
    fn discard_input(&mut self) -> io::Result<()> {
        self.port.clear(ClearBuffer::Input).map_err(io::Error::from)
    }
    fn pending(&mut self) -> io::Result<u32> {
        self.port.bytes_to_read().map_err(io::Error::from)
    }
    /// One blocking `read` that the terminal itself times out (`VTIME`),
    /// where serialport's read is a `poll` with a high-resolution timer and
    /// then a `read`: a system call and a timer fewer at every poll. The
    /// wait is whole tenths of a second not past `deadline`; under a tenth
    /// left, serialport's short read does the rest.
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        let tenths = u8::try_from(left.as_millis() / 100).unwrap_or(u8::MAX);
        if tenths == 0 {
            return self.port.read(buf);
        }
        if self.wait != Some(tenths) {
            set_read_wait(&self.out, tenths)?;
            self.wait = Some(tenths);
        }
        match (&self.out).read(buf)? {
            // Nothing came in time, or the line hung up: a hung-up
            // terminal refuses the question.
            0 => {
                self.pending()?;
                Err(io::ErrorKind::TimedOut.into())
            }
            n => Ok(n),
        }
    }
}

impl<T: Link + ?Sized> Link for Box<T> {
    fn discard_input(&mut self) -> io::Result<()> {
        (**self).discard_input()
    }
    fn pending(&mut self) -> io::Result<u32> {
        (**self).pending()
    }
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        (**self).read_before(buf, deadline)
    }
}

/// How long one read may block: short, so a poll's deadline is honoured.
pub const READ_SLICE: Duration = Duration::from_millis(50);

/// Opens the meter's port as docs/protocol.md#serial-line describes it: 8N1, no flow control.
pub fn open_port(path: &str, baud: u32) -> io::Result<SerialLink> {
    let port = serialport::new(path, baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(READ_SLICE)
        .open_native()
        .map_err(|e| {
            // serialport reports a held lock as "no device", like a missing
            // one; tell them apart here so callers can say what to do.
            if e.description.contains("exclusive lock") {
                io::Error::new(io::ErrorKind::ResourceBusy, "held by another process")
            } else {
                io::Error::from(e)
            }
        })?;
    SerialLink::new(port)
}

impl SerialLink {
    /// The link over a terminal already open and set up.
    fn new(port: TTYPort) -> io::Result<SerialLink> {
        let out = duplicate(&port)?;
        Ok(SerialLink {
            port,
            out,
            wait: None,
        })
    }
}

/// A pseudo-terminal for the simulator: it answers on `master`, a
/// daemon opens `name`.
pub struct Pty {
    pub master: TTYPort,
    _slave: TTYPort,
    pub name: PathBuf,
}

/// Opens a pseudo-terminal, and points `link` (a symlink) at it.
pub fn open_pty(link: Option<&Path>) -> io::Result<Pty> {
    let (mut master, slave) = TTYPort::pair().map_err(io::Error::from)?;
    master
        .set_timeout(Duration::from_millis(20))
        .map_err(io::Error::from)?;
    let name = PathBuf::from(
        slave
            .name()
            .ok_or_else(|| io::Error::other("pty has no name"))?,
    );
    if let Some(link) = link {
        let tmp = link.with_extension("mcce-sim-tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&name, &tmp)?;
        std::fs::rename(&tmp, link)?;
    }
    // The slave stays open here so the master never sees a hang-up while
    // the daemon is between opens.
    Ok(Pty {
        master,
        _slave: slave,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::meter::{Meter, PollError};
    use crate::core::mcee::Mcee;
    use crate::core::protocol::Protocol;
    use std::sync::atomic::AtomicBool;

    /// The meter's port as the daemon reads it (the terminal timing its
    /// waits): a reply is read, silence ends at the reply timeout, a
    /// hung-up line is lost, not silent. The link is made on the
    /// pseudo-terminal's own slave: opening a port by its path (locks,
    /// line settings) is the daemon's, tested where it runs (daemon_e2e).
    #[test]
    fn the_port_reads_a_reply_waits_out_silence_and_sees_a_hang_up() {
        let Pty {
            mut master,
            _slave: mut slave,
            ..
        } = open_pty(None).unwrap();
        slave.set_timeout(READ_SLICE).unwrap();
        let mut meter = Meter::new(SerialLink::new(slave).unwrap(), &Mcee);
        let go = AtomicBool::new(false);
        let answer = std::thread::spawn({
            let mut master = master.try_clone_native().unwrap();
            move || {
                let mut trigger = [0u8; 4];
                master.read_exact(&mut trigger).unwrap();
                master.write_all(&Mcee.encode(3120, 0)).unwrap();
            }
        });
        let timeout = Duration::from_millis(1500);
        assert_eq!(meter.poll(timeout, &go).unwrap(), 3120);
        answer.join().unwrap();

        for timeout in [Duration::from_millis(350), Duration::from_millis(40)] {
            let t = Instant::now();
            assert!(matches!(meter.poll(timeout, &go), Err(PollError::NoFrame)));
            let took = t.elapsed();
            assert!(
                took >= timeout && took < timeout + Duration::from_secs(1),
                "{took:?}"
            );
        }

        let mut trigger = [0u8; 64];
        let _ = master.read(&mut trigger);
        drop(master);
        assert!(matches!(meter.poll(timeout, &go), Err(PollError::Lost(_))));
    }
}
