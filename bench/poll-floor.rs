//! The floor of a poll on this machine, for bench/run.sh: a loop of only
//! the system calls a poll cannot do without (sleep to the next second on
//! a socket's read timeout as the daemon does, write the trigger, read the
//! reply, append a line, rewrite a status block), no decoding, no
//! checks. Not part of mcce: built with rustc alone.
//!
//!   poll-floor TTY DAY_FILE STATUS_FILE   (TTY in raw mode, a meter behind it)

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: poll-floor TTY DAY_FILE STATUS_FILE");
        std::process::exit(64);
    }
    let mut tty = OpenOptions::new().read(true).write(true).open(&args[1])?;
    let mut day = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&args[2])?;
    let status = OpenOptions::new().write(true).create(true).open(&args[3])?;
    let (wake, _other) = UnixStream::pair()?;
    let mut buf = [0u8; 256];
    let block = [b' '; 1024];
    let start = Instant::now();
    let mut tick = Duration::from_secs(1);
    loop {
        let now = start.elapsed();
        if tick > now {
            wake.set_read_timeout(Some(tick - now))?;
            let _ = (&wake).read(&mut buf);
        }
        tty.write_all(&[0xAA, 0x02, 0x00, 0xAD])?;
        tty.read(&mut buf)?;
        day.write_all(b"1749938400 3980\n")?;
        status.write_all_at(&block, 0)?;
        tick += Duration::from_secs(1);
    }
}
