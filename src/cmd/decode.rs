//! `mcce decode`: the watts in a captured byte stream.

use std::io::{self, BufRead, Read, Write};

use super::args::{Arg, Options, Parser};
use crate::cmd::exit::{self, Failure, Outcome};
use crate::core::config::ProtocolName;

const HELP: &str = "\
Usage: mcce decode [--hex] < capture

Prints the watts of every complete meter frame in the stream, one per
line, in order. Exit 1 when none decodes.

  --hex   the input is hex text (`53 30 32 ...`) instead of raw bytes
";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub hex: bool,
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn take(&mut self, arg: &Arg, _: &mut Parser) -> Result<bool, Failure> {
        self.hex |= arg.is("hex");
        Ok(arg.is("hex"))
    }
}

/// Reads the input a piece at a time and prints each reading as its frame
/// completes, so a capture of any size decodes in constant memory.
pub fn run(a: Args) -> Outcome {
    // decode reads no configuration: the default protocol, MCEE.
    let mut decoder = ProtocolName::default().protocol().decoder();
    let mut out = crate::cmd::output::Stdout::lock();
    let mut readings = 0u64;
    let mut bytes = 0u64;
    let mut written = Ok(());
    // Feeds one piece; false once stdout has failed (a reader gone away).
    let mut feed = |chunk: &[u8]| {
        bytes += chunk.len() as u64;
        decoder.feed(chunk, &mut |w| {
            readings += 1;
            if written.is_ok() {
                written = writeln!(out, "{w}");
            }
        });
        written.is_ok()
    };
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let read_failed = |e: io::Error| Failure::new(exit::IOERR, format!("stdin: {e}"));
    if a.hex {
        let (mut raw, mut parsed) = (Vec::new(), Vec::new());
        for lineno in 1.. {
            raw.clear();
            parsed.clear();
            if input.read_until(b'\n', &mut raw).map_err(read_failed)? == 0 {
                break;
            }
            crate::core::hex::parse_hex_line(&String::from_utf8_lossy(&raw), &mut parsed)
                .map_err(|e| Failure::new(exit::DATAERR, format!("stdin: line {lineno}: {e}")))?;
            if !feed(&parsed) {
                break;
            }
        }
    } else {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match input.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_failed(e)),
            };
            if !feed(&chunk[..n]) {
                break;
            }
        }
    }
    written.map_err(crate::cmd::output::failure)?;
    if readings == 0 {
        return Err(Failure::new(
            exit::FAILURE,
            format!("no complete frame in {bytes} bytes"),
        ));
    }
    Ok(())
}
