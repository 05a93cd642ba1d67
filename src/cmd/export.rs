//! `mcce export`: history as CSV or JSON on stdout (the work is
//! `crate::processes::export`).

use std::path::PathBuf;

use crate::core::calendar::Date;

use super::args::{Arg, Options, Parser, usage};
use crate::adapters::localtime;
use crate::cmd::exit::{Failure, Outcome};
use crate::core::config::Config;
use crate::processes::export::{Format, Resolution};

const HELP: &str = "\
Usage: mcce export [-c FILE] [--from D] [--to D] [--resolution R] [--format F]

Writes history to stdout. Dates are local YYYY-MM-DD, both included.

  --from D           first day (default: the first day with data)
  --to D             last day (default: today)
  --resolution R     raw (every sample, from the day files), bucket
                     (MIN_TIME_RES means) or day (daily facts); default day
  --format F         csv (with a header row) or json (an array); default csv
  -c, --config FILE  configuration file (default /etc/mcce.conf)
";

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub resolution: Resolution,
    pub format: Format,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            config: None,
            from: None,
            to: None,
            resolution: Resolution::Day,
            format: Format::Csv,
        }
    }
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn config(&mut self) -> Option<&mut Option<PathBuf>> {
        Some(&mut self.config)
    }
    fn take(&mut self, arg: &Arg, p: &mut Parser) -> Result<bool, Failure> {
        let Arg::Long(name) = arg else {
            return Ok(false);
        };
        match name.as_str() {
            "from" => self.from = Some(p.date("--from")?),
            "to" => self.to = Some(p.date("--to")?),
            "resolution" => {
                self.resolution = match p.text()?.as_str() {
                    "raw" => Resolution::Raw,
                    "bucket" => Resolution::Bucket,
                    "day" => Resolution::Day,
                    v => {
                        return Err(usage(format!(
                            "--resolution: '{v}' is not raw, bucket or day"
                        )));
                    }
                }
            }
            "format" => {
                self.format = match p.text()?.as_str() {
                    "csv" => Format::Csv,
                    "json" => Format::Json,
                    v => return Err(usage(format!("--format: '{v}' is not csv or json"))),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn finish(self) -> Result<Self, Failure> {
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f > t
        {
            return Err(usage("--from is after --to"));
        }
        Ok(self)
    }
}

pub fn run(a: Args) -> Outcome {
    let cfg = Config::read(a.config.as_deref())?;
    let today = localtime::today();
    let from = a
        .from
        .or_else(|| crate::processes::export::earliest(&cfg))
        .unwrap_or(today);
    let to = a.to.unwrap_or(today);
    crate::processes::export::export(
        &cfg,
        from,
        to,
        a.resolution,
        a.format,
        &mut crate::cmd::output::Stdout::lock(),
    )
    .map_err(Failure::from)
}
