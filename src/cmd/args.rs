//! Reading a command's arguments: the options every command shares
//! (`-h/--help`, `-c/--config`) and the value checks (numbers, dates)
//! written once, so a command file only lists its own options. Usage
//! errors exit 64 and point at `mcce help`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;

use crate::core::calendar::Date;

use crate::cmd::exit::{Failure, USAGE};
use crate::core::calendar::parse_date;

/// A usage error (exit 64).
pub fn usage(msg: impl std::fmt::Display) -> Failure {
    Failure::new(USAGE, format!("{msg} (see `mcce help`)"))
}

/// One command-line argument, owned so that a command can read the
/// option's value while looking at the option.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Short(char),
    Long(String),
    Value(OsString),
}

impl Arg {
    /// True for `--name`.
    pub fn is(&self, name: &str) -> bool {
        matches!(self, Arg::Long(l) if l == name)
    }

    /// The usage error for an argument no one takes.
    pub fn unexpected(self) -> Failure {
        usage(match self {
            Arg::Short(c) => lexopt::Error::UnexpectedOption(format!("-{c}")),
            Arg::Long(l) => lexopt::Error::UnexpectedOption(format!("--{l}")),
            Arg::Value(v) => lexopt::Error::UnexpectedArgument(v),
        })
    }
}

/// The command line after the program's name.
pub struct Parser(lexopt::Parser);

impl Parser {
    pub fn new(args: impl IntoIterator<Item = OsString>) -> Parser {
        Parser(lexopt::Parser::from_args(args))
    }

    pub fn next(&mut self) -> Result<Option<Arg>, Failure> {
        use lexopt::Arg as L;
        Ok(self.0.next().map_err(usage)?.map(|a| match a {
            L::Short(c) => Arg::Short(c),
            L::Long(l) => Arg::Long(l.to_string()),
            L::Value(v) => Arg::Value(v),
        }))
    }

    /// The value of the option just read.
    pub fn value(&mut self) -> Result<OsString, Failure> {
        self.0.value().map_err(usage)
    }

    /// The value as text (lossy: every accepted value is ASCII).
    pub fn text(&mut self) -> Result<String, Failure> {
        Ok(self.value()?.to_string_lossy().into_owned())
    }

    pub fn path(&mut self) -> Result<PathBuf, Failure> {
        Ok(self.value()?.into())
    }

    /// The value as a number; `what` names the option in the error.
    pub fn number<T: FromStr>(&mut self, what: &str) -> Result<T, Failure> {
        number(&self.text()?, what)
    }

    /// The value as a local date `YYYY-MM-DD`.
    pub fn date(&mut self, what: &str) -> Result<Date, Failure> {
        let s = self.text()?;
        parse_date(&s)
            .ok_or_else(|| usage(format!("{what}: expected a date YYYY-MM-DD, got '{s}'")))
    }
}

/// `s` as a number; `what` names the option in the error.
pub fn number<T: FromStr>(s: &str, what: &str) -> Result<T, Failure> {
    s.parse()
        .map_err(|_| usage(format!("{what}: '{s}' is not a valid number")))
}

/// A command's options. [`parse`] handles `--help`, `-c/--config` and
/// arguments no one takes; the command only takes its own.
pub trait Options: Default {
    /// The command's `--help` text.
    const HELP: &'static str;

    /// Where `-c/--config FILE` goes, for the commands that read the
    /// configuration.
    fn config(&mut self) -> Option<&mut Option<PathBuf>> {
        None
    }

    /// Takes `arg` (reading its value from `p`) if it is one of this
    /// command's options; `Ok(false)` if it is not.
    fn take(&mut self, arg: &Arg, p: &mut Parser) -> Result<bool, Failure>;

    /// Rules between options, checked once all are read.
    fn finish(self) -> Result<Self, Failure> {
        Ok(self)
    }
}

/// What a command line asked for: the command's help, or to run it.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed<O> {
    Help(&'static str),
    Run(O),
}

/// Reads the rest of the command line as `O`'s options.
pub fn parse<O: Options>(p: &mut Parser) -> Result<Parsed<O>, Failure> {
    let mut o = O::default();
    while let Some(arg) = p.next()? {
        match &arg {
            Arg::Short('h') => return Ok(Parsed::Help(O::HELP)),
            a if a.is("help") => return Ok(Parsed::Help(O::HELP)),
            Arg::Short('c') if o.config().is_some() => set_config(&mut o, p)?,
            a if a.is("config") && o.config().is_some() => set_config(&mut o, p)?,
            _ => {
                if !o.take(&arg, p)? {
                    return Err(arg.unexpected());
                }
            }
        }
    }
    Ok(Parsed::Run(o.finish()?))
}

fn set_config<O: Options>(o: &mut O, p: &mut Parser) -> Result<(), Failure> {
    let path = p.path()?;
    if let Some(slot) = o.config() {
        *slot = Some(path);
    }
    Ok(())
}

impl Parser {
    /// `--speed N` of the simulated clock (sim, demo).
    pub fn speed(&mut self) -> Result<f64, Failure> {
        let s: f64 = self.number("--speed")?;
        if !(s.is_finite() && (0.1..=100_000.0).contains(&s)) {
            return Err(usage("--speed: between 0.1 and 100000"));
        }
        Ok(s)
    }
}

/// Declares `Args` for a command whose only option is `-c/--config FILE`
/// (run, read, status), with `$help` as its `--help` text. A macro rather
/// than one shared struct because [`Options::HELP`] belongs to the type.
macro_rules! config_only_args {
    ($help:expr) => {
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Args {
            pub config: Option<std::path::PathBuf>,
        }

        impl $crate::cmd::args::Options for Args {
            const HELP: &'static str = $help;
            fn config(&mut self) -> Option<&mut Option<std::path::PathBuf>> {
                Some(&mut self.config)
            }
            fn take(
                &mut self,
                _: &$crate::cmd::args::Arg,
                _: &mut $crate::cmd::args::Parser,
            ) -> Result<bool, $crate::cmd::exit::Failure> {
                Ok(false)
            }
        }
    };
}
pub(super) use config_only_args;
