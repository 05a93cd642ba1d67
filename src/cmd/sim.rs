//! `mcce sim`: a simulated meter on a pseudo-terminal (the simulator
//! itself is `crate::processes::sim`).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::args::{Arg, Options, Parser, number, usage};
use super::setup::{init_logger, signal_flags};
use crate::adapters::clock::{Clock, RealClock, ScaledClock, system_wall};
use crate::adapters::localtime;
use crate::cmd::exit::{self, Failure, Outcome};
use crate::processes::sim::{Mode, Profile, Sim, SimOptions};

const HELP: &str = "\
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

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub link: Option<PathBuf>,
    pub seed: u64,
    pub mode: Mode,
    pub noise: bool,
    pub split: bool,
    pub silence: Option<(Duration, Duration)>,
    pub hangup: Option<(Duration, Duration)>,
    /// Seconds after local midnight.
    pub start: Option<u32>,
    pub speed: f64,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            link: None,
            seed: 1,
            mode: Mode::PerTrigger,
            noise: false,
            split: false,
            silence: None,
            hangup: None,
            start: None,
            speed: 1.0,
        }
    }
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn take(&mut self, arg: &Arg, p: &mut Parser) -> Result<bool, Failure> {
        let Arg::Long(name) = arg else {
            return Ok(false);
        };
        match name.as_str() {
            "link" => self.link = Some(p.path()?),
            "seed" => self.seed = p.number("--seed")?,
            "stream" => {
                let ms: u64 = p.number("--stream")?;
                if !(1..=60_000).contains(&ms) {
                    return Err(usage("--stream: milliseconds between 1 and 60000"));
                }
                self.mode = Mode::Stream(Duration::from_millis(ms));
            }
            "noise" => self.noise = true,
            "split" => self.split = true,
            "silence" => self.silence = Some(window(&p.text()?, "--silence")?),
            "hangup" => self.hangup = Some(window(&p.text()?, "--hangup")?),
            "start" => {
                let v = p.text()?;
                let at = parse_hhmm(&v);
                self.start =
                    Some(at.ok_or_else(|| usage(format!("--start: expected HH:MM, got '{v}'")))?);
            }
            "speed" => self.speed = p.speed()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The longest `--silence`/`--hangup` time: a day.
const MAX_WINDOW_SECONDS: f64 = 86_400.0;

/// `AT:FOR` in seconds.
fn window(s: &str, what: &str) -> Result<(Duration, Duration), Failure> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| usage(format!("{what}: expected AT:FOR in seconds, got '{s}'")))?;
    let a: f64 = number(a, what)?;
    let b: f64 = number(b, what)?;
    // Bounded so that no time computed from them can overflow.
    let ok = |x: f64| (0.0..=MAX_WINDOW_SECONDS).contains(&x);
    if !(ok(a) && ok(b)) {
        return Err(usage(format!(
            "{what}: AT and FOR are seconds between 0 and {MAX_WINDOW_SECONDS}, got '{s}'"
        )));
    }
    Ok((Duration::from_secs_f64(a), Duration::from_secs_f64(b)))
}

/// `HH:MM` as seconds after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 3600 + m * 60)
}

pub fn run(a: Args) -> Outcome {
    init_logger(log::Level::Info);
    let signals = signal_flags()?;
    let clock = sim_clock(a.start, a.speed);
    let opts = SimOptions {
        profile: Profile { seed: a.seed },
        mode: a.mode,
        noise: a.noise,
        split: a.split,
        silence: a.silence,
        hangup: a.hangup,
        link: a.link.clone(),
        ..SimOptions::default()
    };
    let sim = Sim::start(opts, clock).map_err(|e| {
        Failure::new(
            exit::CANTCREAT,
            format!("cannot create the simulated meter: {e}"),
        )
    })?;
    crate::cmd::output::outln!("{}", sim.path().display());
    let _ = io::stdout().flush();
    while !signals.stop_requested() {
        signals.nap(Duration::from_secs(3600));
    }
    Ok(())
}

/// The real clock, or one that starts at `start` today and runs `speed`
/// times faster.
fn sim_clock(start: Option<u32>, speed: f64) -> Arc<dyn Clock> {
    if start.is_none() && speed == 1.0 {
        return Arc::new(RealClock::new());
    }
    let now = system_wall();
    let at = match start {
        Some(sec) => localtime::local_day_start(localtime::local_date(now)) + i64::from(sec),
        None => now,
    };
    Arc::new(ScaledClock::new(at, speed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day() {
        assert_eq!(parse_hhmm("12:27"), Some(44_820));
        assert_eq!(parse_hhmm("00:00"), Some(0));
        assert_eq!(parse_hhmm("24:00"), None);
        assert_eq!(parse_hhmm("12:60"), None);
    }
}
