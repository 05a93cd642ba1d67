//! Command-line parsing: what each command accepts, its `--help`, and the
//! usage errors (exit 64) for anything else.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;

use time::Date;

use crate::exit::{Failure, USAGE};
use crate::export::{Format, Resolution};
use crate::localtime::parse_date;
use crate::report::Period;
use crate::sim::Mode;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help(String),
    Version,
    Decode {
        hex: bool,
    },
    Sim(SimArgs),
    Run {
        config: Option<PathBuf>,
    },
    Read {
        config: Option<PathBuf>,
    },
    Status {
        config: Option<PathBuf>,
    },
    Beep {
        config: Option<PathBuf>,
        seconds: Option<u32>,
    },
    Gpio {
        config: Option<PathBuf>,
        action: GpioAction,
    },
    Demo(DemoArgs),
    Digest {
        config: Option<PathBuf>,
        date: Option<Date>,
    },
    Export(ExportArgs),
    Report {
        config: Option<PathBuf>,
        period: Option<Period>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportArgs {
    pub config: Option<PathBuf>,
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub resolution: Resolution,
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpioAction {
    Setup,
    Low,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimArgs {
    pub link: Option<PathBuf>,
    pub seed: u64,
    pub mode: Mode,
    pub noise: bool,
    pub split: bool,
    pub silence: Option<(Duration, Duration)>,
    pub hangup: Option<(Duration, Duration)>,
    pub start: Option<u32>,
    pub speed: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoArgs {
    pub speed: f64,
    pub hours: u32,
    pub seed: u64,
    pub dir: Option<PathBuf>,
}

pub const MAIN_HELP: &str = "\
mcce - power logger for the MCEE energy monitor

Usage: mcce <command> [options]

Commands:
  demo      simulated meter + daemon + digest + report, no hardware needed
  run       the daemon: poll the meter, log samples, sound the alarm
  read      take one reading now and print it
  status    what the running daemon saw last
  beep      sound the siren once to test the wiring
  gpio      (root, init script) export the buzzer lines / drive them low
  sim       a simulated meter on a pseudo-terminal
  decode    decode a captured byte stream from stdin
  digest    store complete days in the yearly SQLite databases
  export    history as CSV or JSON on stdout
  report    a month or a year in the terminal
  help      this text; `mcce <command> --help` for a command's options

Options: -h, --help   -V, --version
Configuration: /etc/mcce.conf (-c FILE), overridden by environment variables.
";

const RUN_HELP: &str = "\
Usage: mcce run [-c FILE]

Polls the meter every POLL_SECONDS, appends `<unix seconds> <watts>` to
DATA_DIR/days/YYYY-MM-DD, sounds the siren at ALARM_WATTS and publishes
RUN_DIR/status. Logs to stderr. SIGTERM/SIGINT: stop (exit 0);
SIGHUP: reload the config, reopen the port and the day file.
One daemon per RUN_DIR and DATA_DIR: a second one exits 69 at once.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

const READ_HELP: &str = "\
Usage: mcce read [-c FILE]

Triggers the meter once and prints the power in watts. Fails (exit 69) when
the port is missing or held by the running daemon (use `mcce status`).

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

const STATUS_HELP: &str = "\
Usage: mcce status [-c FILE]

Prints the daemon's latest reading, its age, the meter's state, whether
samples reach the disk, the alarm's state and the free space in DATA_DIR,
from RUN_DIR/status. Exit 69 when no daemon is publishing, 74 when
readings are not reaching the disk (writes fail, or the clock is unset).

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

const BEEP_HELP: &str = "\
Usage: mcce beep [-c FILE] [--seconds N]

Sounds the siren once on the configured buzzer lines, then leaves both low.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
  --seconds N         length of the siren (default ALARM_SIREN_SECONDS)
";

const GPIO_HELP: &str = "\
Usage: mcce gpio setup|low [-c FILE]

Run as root by the init script. `setup` exports the buzzer lines (BCM
numbers offset by the chip's sysfs base) and lets group gpio drive them, so
the daemon needs no root; `low` drives both lines low. Nothing to do when
BUZZER=none.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

const DECODE_HELP: &str = "\
Usage: mcce decode [--hex] < capture

Prints the watts of every complete meter frame in the stream, one per
line, in order. Exit 1 when none decodes.

  --hex   the input is hex text (`53 30 32 ...`) instead of raw bytes
";

const SIM_HELP: &str = "\
Usage: mcce sim [options]

Runs a simulated MCEE meter on a pseudo-terminal and prints its device path.
Silent until it receives AA 02 00 AD, then answers with frames.

  --link PATH          also make PATH a symlink to the device
  --seed N             load profile seed (default 1)
  --stream MS          after a trigger, send a frame every MS (1..60000) ms
  --noise              random bytes and cut-off frames between frames
  --split              write frames a few bytes at a time
  --silence AT:FOR     ignore triggers for FOR seconds, AT seconds after start
                       (each at most 86400)
  --hangup AT:FOR      close the pty at AT s, reappear (same --link) after FOR s
  --start HH:MM        simulated time of day at start (default: now)
  --speed N            run the simulated time of day N times faster
";

const DEMO_HELP: &str = "\
Usage: mcce demo [--speed N] [--hours H] [--seed N] [--dir DIR]

Starts the simulator and the daemon against it for a simulated day, shows
readings and the alarm (the buzzer is drawn on screen), then digests the day
and prints the report. Needs no meter, no GPIO and no config.

  --speed N   simulated seconds per real second (default 2880: a day in 30 s)
  --hours H   hours to simulate from midnight (default 24)
  --seed N    load profile seed (default 1)
  --dir DIR   keep the data here, a new or empty directory (default: a
              temporary one)
";

const DIGEST_HELP: &str = "\
Usage: mcce digest [-c FILE] [--date YYYY-MM-DD]

Without --date: digests every complete local day (before today) that has a
day file and is not yet stored, or whose file changed since, oldest first;
unreadable days are skipped and counted (exit 65). With --date: that day
(before today), replacing what is stored. Writes <DATABASE_URL>.<YYYY>; removes raw files
older than KEEP_RAW_DAYS once their day is stored.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
  --date YYYY-MM-DD   digest (again) just this day
";

const EXPORT_HELP: &str = "\
Usage: mcce export [-c FILE] [--from D] [--to D] [--resolution R] [--format F]

Writes history to stdout. Dates are local YYYY-MM-DD, both included.

  --from D           first day (default: the earliest)
  --to D             last day (default: today)
  --resolution R     raw (every sample, from the day files), bucket
                     (MIN_TIME_RES means) or day (daily facts); default day
  --format F         csv (with a header row) or json (an array); default csv
  -c, --config FILE  configuration file (default /etc/mcce.conf)
";

const REPORT_HELP: &str = "\
Usage: mcce report [-c FILE] [--month YYYY-MM | --year YYYY]

Per day (or per month) energy, coverage, peak and time over the cap, with a
bar chart and totals; PRICE_PER_KWH adds the cost. Default: this month.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

fn date_arg(v: OsString, what: &str) -> Result<Date, Failure> {
    let s = v.to_string_lossy().to_string();
    parse_date(&s).ok_or_else(|| usage(format!("{what}: expected a date YYYY-MM-DD, got '{s}'")))
}

fn usage(msg: impl std::fmt::Display) -> Failure {
    Failure::new(USAGE, format!("{msg} (see `mcce help`)"))
}

fn err(e: lexopt::Error) -> Failure {
    usage(e)
}

fn num<T: std::str::FromStr>(v: OsString, what: &str) -> Result<T, Failure> {
    let s = v.to_string_lossy().to_string();
    s.parse()
        .map_err(|_| usage(format!("{what}: '{s}' is not a valid number")))
}

/// The longest `--silence`/`--hangup` time: a day.
const MAX_WINDOW_SECONDS: f64 = 86_400.0;

fn window(v: OsString, what: &str) -> Result<(Duration, Duration), Failure> {
    let s = v.to_string_lossy().to_string();
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| usage(format!("{what}: expected AT:FOR in seconds, got '{s}'")))?;
    let a: f64 = num(a.into(), what)?;
    let b: f64 = num(b.into(), what)?;
    // Bounded so that no time computed from them can overflow.
    let ok = |x: f64| (0.0..=MAX_WINDOW_SECONDS).contains(&x);
    if !(ok(a) && ok(b)) {
        return Err(usage(format!(
            "{what}: AT and FOR are seconds between 0 and {MAX_WINDOW_SECONDS}, got '{s}'"
        )));
    }
    Ok((Duration::from_secs_f64(a), Duration::from_secs_f64(b)))
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Failure> {
    let mut p = lexopt::Parser::from_args(args);
    let sub = match p.next().map_err(err)? {
        None => return Ok(Command::Help(MAIN_HELP.into())),
        Some(Short('h') | Long("help")) => return Ok(Command::Help(MAIN_HELP.into())),
        Some(Short('V') | Long("version")) => return Ok(Command::Version),
        Some(Value(v)) => v.to_string_lossy().to_string(),
        Some(other) => return Err(usage(other.unexpected())),
    };
    let mut config: Option<PathBuf> = None;
    match sub.as_str() {
        "help" => Ok(Command::Help(MAIN_HELP.into())),
        "run" | "read" | "status" => {
            let help = match sub.as_str() {
                "run" => RUN_HELP,
                "read" => READ_HELP,
                _ => STATUS_HELP,
            };
            while let Some(a) = p.next().map_err(err)? {
                match a {
                    Short('c') | Long("config") => config = Some(p.value().map_err(err)?.into()),
                    Short('h') | Long("help") => return Ok(Command::Help(help.into())),
                    other => return Err(usage(other.unexpected())),
                }
            }
            Ok(match sub.as_str() {
                "run" => Command::Run { config },
                "read" => Command::Read { config },
                _ => Command::Status { config },
            })
        }
        "beep" => {
            let mut seconds = None;
            while let Some(a) = p.next().map_err(err)? {
                match a {
                    Short('c') | Long("config") => config = Some(p.value().map_err(err)?.into()),
                    Long("seconds") => {
                        let s: u32 = num(p.value().map_err(err)?, "--seconds")?;
                        if !(1..=60).contains(&s) {
                            return Err(usage("--seconds: between 1 and 60"));
                        }
                        seconds = Some(s);
                    }
                    Short('h') | Long("help") => return Ok(Command::Help(BEEP_HELP.into())),
                    other => return Err(usage(other.unexpected())),
                }
            }
            Ok(Command::Beep { config, seconds })
        }
        "gpio" => {
            let mut action = None;
            while let Some(a) = p.next().map_err(err)? {
                match a {
                    Short('c') | Long("config") => config = Some(p.value().map_err(err)?.into()),
                    Short('h') | Long("help") => return Ok(Command::Help(GPIO_HELP.into())),
                    Value(v) if action.is_none() => {
                        action = Some(match v.to_string_lossy().as_ref() {
                            "setup" => GpioAction::Setup,
                            "low" => GpioAction::Low,
                            other => {
                                return Err(usage(format!("gpio: '{other}' is not setup or low")));
                            }
                        })
                    }
                    other => return Err(usage(other.unexpected())),
                }
            }
            let action = action.ok_or_else(|| usage("gpio: say setup or low"))?;
            Ok(Command::Gpio { config, action })
        }
        "decode" => {
            let mut hex = false;
            while let Some(a) = p.next().map_err(err)? {
                match a {
                    Long("hex") => hex = true,
                    Short('h') | Long("help") => return Ok(Command::Help(DECODE_HELP.into())),
                    other => return Err(usage(other.unexpected())),
                }
            }
            Ok(Command::Decode { hex })
        }
        "sim" => {
            let mut s = SimArgs {
                link: None,
                seed: 1,
                mode: Mode::PerTrigger,
                noise: false,
                split: false,
                silence: None,
                hangup: None,
                start: None,
                speed: 1.0,
            };
            while let Some(a) = p.next().map_err(err)? {
                match a {
                    Long("link") => s.link = Some(p.value().map_err(err)?.into()),
                    Long("seed") => s.seed = num(p.value().map_err(err)?, "--seed")?,
                    Long("stream") => {
                        let ms: u64 = num(p.value().map_err(err)?, "--stream")?;
                        if !(1..=60_000).contains(&ms) {
                            return Err(usage("--stream: milliseconds between 1 and 60000"));
                        }
                        s.mode = Mode::Stream(Duration::from_millis(ms));
                    }
                    Long("noise") => s.noise = true,
                    Long("split") => s.split = true,
                    Long("silence") => {
                        s.silence = Some(window(p.value().map_err(err)?, "--silence")?)
                    }
                    Long("hangup") => s.hangup = Some(window(p.value().map_err(err)?, "--hangup")?),
                    Long("start") => {
                        let v = p.value().map_err(err)?.to_string_lossy().to_string();
                        s.start =
                            Some(parse_hhmm(&v).ok_or_else(|| {
                                usage(format!("--start: expected HH:MM, got '{v}'"))
                            })?);
                    }
                    Long("speed") => s.speed = speed(p.value().map_err(err)?)?,
                    Short('h') | Long("help") => return Ok(Command::Help(SIM_HELP.into())),
                    other => return Err(usage(other.unexpected())),
                }
            }
            Ok(Command::Sim(s))
        }
        "demo" => {
            let mut d = DemoArgs {
                speed: 2880.0,
                hours: 24,
                seed: 1,
                dir: None,
            };
            while let Some(a) = p.next().map_err(err)? {
                match a {
                    Long("speed") => d.speed = speed(p.value().map_err(err)?)?,
                    Long("hours") => {
                        d.hours = num(p.value().map_err(err)?, "--hours")?;
                        if !(1..=24).contains(&d.hours) {
                            return Err(usage("--hours: between 1 and 24"));
                        }
                    }
                    Long("seed") => d.seed = num(p.value().map_err(err)?, "--seed")?,
                    Long("dir") => d.dir = Some(p.value().map_err(err)?.into()),
                    Short('h') | Long("help") => return Ok(Command::Help(DEMO_HELP.into())),
                    other => return Err(usage(other.unexpected())),
                }
            }
            Ok(Command::Demo(d))
        }
        "digest" => {
            let mut date = None;
            while let Some(a) = p.next().map_err(err)? {
                match a {
                    Short('c') | Long("config") => config = Some(p.value().map_err(err)?.into()),
                    Long("date") => date = Some(date_arg(p.value().map_err(err)?, "--date")?),
                    Short('h') | Long("help") => return Ok(Command::Help(DIGEST_HELP.into())),
                    other => return Err(usage(other.unexpected())),
                }
            }
            Ok(Command::Digest { config, date })
        }
        "export" => {
            let mut e = ExportArgs {
                config: None,
                from: None,
                to: None,
                resolution: Resolution::Day,
                format: Format::Csv,
            };
            while let Some(a) = p.next().map_err(err)? {
                match a {
                    Short('c') | Long("config") => e.config = Some(p.value().map_err(err)?.into()),
                    Long("from") => e.from = Some(date_arg(p.value().map_err(err)?, "--from")?),
                    Long("to") => e.to = Some(date_arg(p.value().map_err(err)?, "--to")?),
                    Long("resolution") => {
                        e.resolution = match p.value().map_err(err)?.to_string_lossy().as_ref() {
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
                    Long("format") => {
                        e.format = match p.value().map_err(err)?.to_string_lossy().as_ref() {
                            "csv" => Format::Csv,
                            "json" => Format::Json,
                            v => return Err(usage(format!("--format: '{v}' is not csv or json"))),
                        }
                    }
                    Short('h') | Long("help") => return Ok(Command::Help(EXPORT_HELP.into())),
                    other => return Err(usage(other.unexpected())),
                }
            }
            if let (Some(f), Some(t)) = (e.from, e.to)
                && f > t
            {
                return Err(usage("--from is after --to"));
            }
            Ok(Command::Export(e))
        }
        "report" => {
            let mut period = None;
            while let Some(a) = p.next().map_err(err)? {
                match a {
                    Short('c') | Long("config") => config = Some(p.value().map_err(err)?.into()),
                    Long("month") => {
                        let v = p.value().map_err(err)?.to_string_lossy().to_string();
                        let d = parse_date(&format!("{v}-01")).ok_or_else(|| {
                            usage(format!("--month: expected YYYY-MM, got '{v}'"))
                        })?;
                        period = Some(Period::Month(d.year(), u8::from(d.month())));
                    }
                    Long("year") => {
                        let v = p.value().map_err(err)?.to_string_lossy().to_string();
                        let d = parse_date(&format!("{v}-01-01"))
                            .ok_or_else(|| usage(format!("--year: expected YYYY, got '{v}'")))?;
                        period = Some(Period::Year(d.year()));
                    }
                    Short('h') | Long("help") => return Ok(Command::Help(REPORT_HELP.into())),
                    other => return Err(usage(other.unexpected())),
                }
            }
            Ok(Command::Report { config, period })
        }
        other => Err(usage(format!("unknown command '{other}'"))),
    }
}

fn speed(v: OsString) -> Result<f64, Failure> {
    let s: f64 = num(v, "--speed")?;
    if !(s.is_finite() && (0.1..=100_000.0).contains(&s)) {
        return Err(usage("--speed: between 0.1 and 100000"));
    }
    Ok(s)
}

/// `HH:MM` as seconds after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Failure> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn commands_and_errors() {
        assert_eq!(
            p(&["run", "-c", "/x"]).unwrap(),
            Command::Run {
                config: Some("/x".into())
            }
        );
        assert_eq!(
            p(&["decode", "--hex"]).unwrap(),
            Command::Decode { hex: true }
        );
        assert!(
            matches!(p(&["sim", "--help"]).unwrap(), Command::Help(h) if h.contains("--hangup"))
        );
        let Command::Sim(s) = p(&["sim", "--stream", "200", "--hangup", "2:1.5"]).unwrap() else {
            panic!()
        };
        assert_eq!(s.mode, Mode::Stream(Duration::from_millis(200)));
        assert_eq!(
            s.hangup,
            Some((Duration::from_secs(2), Duration::from_millis(1500)))
        );
        assert_eq!(p(&["frobnicate"]).unwrap_err().code, USAGE);
        assert_eq!(p(&["run", "--bogus"]).unwrap_err().code, USAGE);
        assert_eq!(p(&["beep", "--seconds", "x"]).unwrap_err().code, USAGE);
        for bad in [
            &["sim", "--silence", "1e300:1"][..],
            &["sim", "--hangup", "1:1e300"],
            &["sim", "--silence", "inf:1"],
            &["sim", "--silence", "86401:1"],
            &["sim", "--stream", "18446744073709551615"],
            &["sim", "--stream", "60001"],
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!(e.code, USAGE, "{bad:?}");
            assert!(e.message.contains(bad[1]), "{bad:?}: {e}");
        }
        assert_eq!(p(&["-V"]).unwrap(), Command::Version);
        assert_eq!(parse_hhmm("12:27"), Some(44_820));
        assert_eq!(parse_hhmm("24:00"), None);
    }
}
