//! Everything mcce prints for a reader goes to stdout through here, so a
//! reader that goes away (`mcce help | head -0`, a script that stops
//! reading an export) is handled once for every command: no panic, no
//! "Broken pipe" message, exit 0.
//!
//! Two ways out, by what the output is for:
//! - [`outln!`]/[`out!`] for lines that report on
//!   work (the digest's lines, the report, help): once the reader is gone
//!   they are dropped and the work goes on (a digest still stores its days);
//! - [`Stdout`] for output that *is* the work (export, decode): its write
//!   errors reach the caller, which stops; `main` then sees [`reader_gone`]
//!   and exits 0 quietly.
//!
//! Any other write error (a full disk under `> file`) is kept and makes the
//! command fail with exit 74 at the end ([`finish`]).

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cmd::exit::{self, Failure};

/// The reader of stdout went away.
static GONE: AtomicBool = AtomicBool::new(false);
/// A [`Stdout`] handed a broken pipe to its caller (which then stopped).
static GONE_RETURNED: AtomicBool = AtomicBool::new(false);
/// The first other write error, reported at the end.
static OTHER: Mutex<Option<String>> = Mutex::new(None);

fn note(e: &io::Error) {
    if e.kind() == io::ErrorKind::BrokenPipe {
        GONE.store(true, Ordering::SeqCst);
    } else {
        let mut o = OTHER.lock().unwrap_or_else(|p| p.into_inner());
        o.get_or_insert_with(|| e.to_string());
    }
}

/// Writes to stdout, keeping (not panicking on) an error; nothing once the
/// reader is gone. Use through [`out!`] and [`outln!`].
pub fn print(args: fmt::Arguments) {
    if GONE.load(Ordering::SeqCst) {
        return;
    }
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        note(&e);
    }
}

/// `print!` that survives a closed or failing stdout.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cmd::output::print(format_args!($($arg)*)) };
}

/// `println!` that survives a closed or failing stdout.
macro_rules! outln {
    () => { $crate::cmd::output::print(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cmd::output::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use {out, outln};

/// Stdout as a writer whose errors the caller sees (and stops on).
pub struct Stdout(io::StdoutLock<'static>);

impl Stdout {
    pub fn lock() -> Stdout {
        Stdout(io::stdout().lock())
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).inspect_err(returned)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).inspect_err(returned)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().inspect_err(returned)
    }
}

fn returned(e: &io::Error) {
    note(e);
    if e.kind() == io::ErrorKind::BrokenPipe {
        GONE_RETURNED.store(true, Ordering::SeqCst);
    }
}

/// The failure for a write error on stdout (the caller stops there).
pub fn failure(e: impl fmt::Display) -> Failure {
    Failure::new(exit::IOERR, format!("stdout: {e}"))
}

/// True when the command stopped because stdout's reader went away: that
/// is how `| head` ends a command, not an error.
pub fn reader_gone() -> bool {
    GONE_RETURNED.load(Ordering::SeqCst)
}

/// Flushes stdout; the first write error other than a gone reader, if any.
pub fn finish() -> Option<Failure> {
    if !GONE.load(Ordering::SeqCst)
        && let Err(e) = io::stdout().lock().flush()
    {
        note(&e);
    }
    let other = OTHER.lock().unwrap_or_else(|p| p.into_inner()).take();
    other.map(failure)
}
