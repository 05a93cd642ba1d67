//! `mcce gpio setup|low`: run as root by the init script.

use std::path::PathBuf;

use super::args::{Arg, Options, Parser, usage};
use crate::adapters::gpio;
use crate::cmd::exit::{self, Failure, Outcome};
use crate::core::config::{BuzzerKind, Config};

const HELP: &str = "\
Usage: mcce gpio setup|low [-c FILE]

Run as root by the init script. `setup` exports the buzzer lines (BCM
numbers offset by the chip's sysfs base) and lets group gpio drive them, so
the daemon needs no root; `low` drives both lines low. Nothing to do when
BUZZER=none.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Setup,
    Low,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
    /// Always set once parsed.
    pub action: Option<Action>,
}

fn no_action() -> Failure {
    usage("gpio: say setup or low")
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn config(&mut self) -> Option<&mut Option<PathBuf>> {
        Some(&mut self.config)
    }
    fn take(&mut self, arg: &Arg, _: &mut Parser) -> Result<bool, Failure> {
        let Arg::Value(v) = arg else { return Ok(false) };
        if self.action.is_some() {
            return Ok(false);
        }
        self.action = Some(match v.to_string_lossy().as_ref() {
            "setup" => Action::Setup,
            "low" => Action::Low,
            other => return Err(usage(format!("gpio: '{other}' is not setup or low"))),
        });
        Ok(true)
    }
    fn finish(self) -> Result<Self, Failure> {
        self.action.ok_or_else(no_action)?;
        Ok(self)
    }
}

pub fn run(a: Args) -> Outcome {
    let action = a.action.ok_or_else(no_action)?;
    let cfg = Config::read(a.config.as_deref())?;
    if cfg.buzzer.kind == BuzzerKind::None {
        return Ok(());
    }
    let unavailable = |e: String| Failure::new(exit::UNAVAILABLE, e);
    let (en, tone) = gpio::resolve_lines(
        &cfg.buzzer.gpio_chip,
        cfg.buzzer.enable_gpio,
        cfg.buzzer.tone_gpio,
    )
    .map_err(unavailable)?;
    match action {
        Action::Setup => {
            let groups = std::fs::read_to_string("/etc/group")
                .map_err(|e| Failure::new(exit::CONFIG, format!("/etc/group: {e}")))?;
            let gid = gpio::group_id(&groups, "gpio")
                .ok_or_else(|| Failure::new(exit::CONFIG, "/etc/group: no group gpio"))?;
            for n in [en, tone] {
                gpio::export_for_group(n, gid).map_err(unavailable)?;
                gpio::force_low(n).map_err(unavailable)?;
            }
        }
        Action::Low => {
            for n in [tone, en] {
                gpio::force_low(n).map_err(unavailable)?;
            }
        }
    }
    Ok(())
}
