//! The serial line: the meter's port and the simulator's pseudo-terminal.
//! The one module that speaks to the `serialport` crate.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialport::{ClearBuffer, SerialPort, TTYPort};

use crate::adapters::sys::duplicate;

/// What the poller needs from a serial line. Reads return `TimedOut` or
/// `WouldBlock` after a short wait with no data.
pub trait Link: Read + Write + Send {
    /// Drops whatever the line already holds: an answer to an earlier
    /// trigger is not the power now.
    fn discard_input(&mut self) -> io::Result<()>;
    /// Bytes already received and not yet read.
    fn pending(&mut self) -> io::Result<u32>;
}

/// The meter's serial port. Reads use serialport's timeouts; the trigger
/// goes straight to a duplicate of the descriptor, because serialport polls
/// before every write: a system call 17 280 times a day for 4 bytes that
/// always fit.
pub struct SerialLink {
    port: TTYPort,
    out: File,
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
}

impl<T: Link + ?Sized> Link for Box<T> {
    fn discard_input(&mut self) -> io::Result<()> {
        (**self).discard_input()
    }
    fn pending(&mut self) -> io::Result<u32> {
        (**self).pending()
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
    let out = duplicate(&port)?;
    Ok(SerialLink { port, out })
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
