//! `mcce report`: a month or a year in the terminal (the work is
//! `crate::processes::report`).

use std::path::PathBuf;

use super::args::{Arg, Options, Parser, usage};
use crate::adapters::localtime::{self};
use crate::cmd::exit::{Failure, Outcome};
use crate::core::calendar::parse_date;
use crate::core::config::Config;
use crate::processes::report::Period;

const HELP: &str = "\
Usage: mcce report [-c FILE] [--month YYYY-MM | --year YYYY]

Per day (or per month) energy, coverage, peak and time over the cap, with a
bar chart and totals; PRICE_PER_KWH adds the cost. Default: this month.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
    /// Default: this month.
    pub period: Option<Period>,
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn config(&mut self) -> Option<&mut Option<PathBuf>> {
        Some(&mut self.config)
    }
    fn take(&mut self, arg: &Arg, p: &mut Parser) -> Result<bool, Failure> {
        if arg.is("month") {
            let v = p.text()?;
            let d = parse_date(&format!("{v}-01"))
                .ok_or_else(|| usage(format!("--month: expected YYYY-MM, got '{v}'")))?;
            self.period = Some(Period::Month(d.year(), u8::from(d.month())));
        } else if arg.is("year") {
            let v = p.text()?;
            let d = parse_date(&format!("{v}-01-01"))
                .ok_or_else(|| usage(format!("--year: expected YYYY, got '{v}'")))?;
            self.period = Some(Period::Year(d.year()));
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

pub fn run(a: Args) -> Outcome {
    let cfg = Config::read(a.config.as_deref())?;
    let today = localtime::today();
    let period = a
        .period
        .unwrap_or(Period::Month(today.year(), u8::from(today.month())));
    report(&cfg, period)
}

/// Prints the report of `period` (the demo prints its month the same way).
pub(super) fn report(cfg: &Config, period: Period) -> Outcome {
    let rows = crate::processes::report::rows(cfg, period)?;
    crate::cmd::output::out!("{}", crate::processes::report::render(cfg, period, &rows));
    Ok(())
}
