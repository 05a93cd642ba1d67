//! `mcce digest`: complete days into the yearly databases (the work is
//! `crate::processes::digest`).

use std::path::PathBuf;

use crate::core::calendar::Date;

use super::args::{Arg, Options, Parser};
use crate::adapters::clock::system_wall;
use crate::core::config::Config;
use crate::exit::{Failure, Outcome};

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
    crate::processes::digest::digest(&cfg, a.date, system_wall())
}
