//! `mcce decode`: the watts in a captured byte stream.

use std::io::{self, Read, Write};

use super::args::{Arg, Options, Parser};
use crate::exit::{self, Failure, Outcome};
use crate::frame;

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

pub fn run(a: Args) -> Outcome {
    let mut input = Vec::new();
    io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Failure::new(exit::IOERR, format!("stdin: {e}")))?;
    let bytes = if a.hex {
        let text = String::from_utf8_lossy(&input);
        frame::parse_hex(&text).map_err(|e| Failure::new(exit::DATAERR, format!("stdin: {e}")))?
    } else {
        input
    };
    let readings = frame::decode_all(&bytes);
    let mut out = crate::output::Stdout::lock();
    for w in &readings {
        writeln!(out, "{w}").map_err(crate::output::failure)?;
    }
    if readings.is_empty() {
        return Err(Failure::new(
            exit::FAILURE,
            format!("no complete frame in {} bytes", bytes.len()),
        ));
    }
    Ok(())
}
