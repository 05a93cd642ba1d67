//! `mcce beep`: sound the siren once to test the wiring.

use std::path::PathBuf;
use std::time::Duration;

use super::args::{Arg, Options, Parser, usage};
use super::setup::{init_logger, open_buzzer, signal_flags};
use crate::config::{BuzzerKind, Config};
use crate::exit::{self, Failure, Outcome};
use crate::gpio;
use crate::siren::{ChirpShape, Siren, SirenShape};

const HELP: &str = "\
Usage: mcce beep [-c FILE] [--seconds N]

Sounds the siren once on the configured buzzer lines, then leaves both low.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
  --seconds N         length of the siren (default ALARM_SIREN_SECONDS)
";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub seconds: Option<u32>,
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn config(&mut self) -> Option<&mut Option<PathBuf>> {
        Some(&mut self.config)
    }
    fn take(&mut self, arg: &Arg, p: &mut Parser) -> Result<bool, Failure> {
        if !arg.is("seconds") {
            return Ok(false);
        }
        let s: u32 = p.number("--seconds")?;
        if !(1..=60).contains(&s) {
            return Err(usage("--seconds: between 1 and 60"));
        }
        self.seconds = Some(s);
        Ok(true)
    }
}

pub fn run(a: Args) -> Outcome {
    let cfg = Config::read(a.config.as_deref())?;
    init_logger(log::Level::Warn);
    if cfg.buzzer.kind == BuzzerKind::None {
        return Err(Failure::new(
            exit::CONFIG,
            "BUZZER=none in the configuration: there is no buzzer to sound",
        ));
    }
    gpio::install_panic_guard();
    let signals = signal_flags()?;
    let buzzer = open_buzzer(&cfg).map_err(|e| Failure::new(exit::UNAVAILABLE, e.0))?;
    let secs = a.seconds.unwrap_or(cfg.buzzer.siren_seconds);
    let siren = Siren::spawn(
        buzzer,
        SirenShape::new(Duration::from_secs(u64::from(secs))),
        ChirpShape::default(),
    );
    siren.trigger();
    while siren.is_sounding() && !signals.stop_requested() {
        signals.nap(Duration::from_millis(10));
    }
    drop(siren);
    crate::outln!(
        "sounded on BCM GPIO {} (enable) and {} (tone)",
        cfg.buzzer.enable_gpio,
        cfg.buzzer.tone_gpio
    );
    Ok(())
}
