//! `mcce digest`: complete days into the yearly databases (the work is
//! `crate::processes::digest`).

use std::path::PathBuf;

use crate::core::calendar::Date;

use super::args::{Arg, Options, Parser};
use crate::adapters::clock::system_wall;
use crate::cmd::exit::{Failure, Outcome};
use crate::core::config::Config;
use crate::processes::digest::Said;

const HELP: &str = "\
Usage: mcce digest [-c FILE] [--date YYYY-MM-DD]

Without --date: digests every complete local day (before today) that has a
day file and is not yet stored, or whose file changed since, oldest first;
unreadable days are skipped and counted (exit 65). With --date: that day
(before today), replacing what is stored. Writes <DATABASE_URL>.<YYYY>; removes raw files
older than KEEP_RAW_DAYS once their day is stored.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
  --date YYYY-MM-DD   digest (again) just this day
";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub date: Option<Date>,
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn config(&mut self) -> Option<&mut Option<PathBuf>> {
        Some(&mut self.config)
    }
    fn take(&mut self, arg: &Arg, p: &mut Parser) -> Result<bool, Failure> {
        if !arg.is("date") {
            return Ok(false);
        }
        self.date = Some(p.date("--date")?);
        Ok(true)
    }
}

pub fn run(a: Args) -> Outcome {
    let cfg = Config::read(a.config.as_deref())?;
    digest(&cfg, a.date, system_wall())
}

/// Runs the digest, its lines on stdout and its warnings on stderr as they
/// come (the demo digests its day the same way).
pub(super) fn digest(cfg: &Config, date: Option<Date>, now: i64) -> Outcome {
    let mut say = |said: Said| match said {
        Said::Line(l) => crate::cmd::output::outln!("{l}"),
        Said::Warning(w) => eprintln!("mcce: {w}"),
    };
    crate::processes::digest::digest(cfg, date, now, &mut say).map_err(Failure::from)
}
