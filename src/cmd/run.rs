//! `mcce run`: the daemon on the real machine.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::args::{Arg, Options, Parser};
use super::setup::{init_logger, open_buzzer, signal_flags};
use crate::clock::RealClock;
use crate::config::{Config, ConfigError};
use crate::daemon::{Daemon, Hardware, build_epoch, lock_instance};
use crate::exit::{Failure, Outcome};
use crate::gpio;
use crate::meter::{self, Link};
use crate::siren::{Buzzer, BuzzerUnavailable};

const HELP: &str = "\
Usage: mcce run [-c FILE]

Polls the meter every POLL_SECONDS, appends `<unix seconds> <watts>` to
DATA_DIR/days/YYYY-MM-DD, sounds the siren at ALARM_WATTS and publishes
RUN_DIR/status. Logs to stderr. SIGTERM/SIGINT: stop (exit 0);
SIGHUP: reload the config, reopen the port and the day file.
One daemon per RUN_DIR and DATA_DIR: a second one exits 69 at once.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn config(&mut self) -> Option<&mut Option<PathBuf>> {
        Some(&mut self.config)
    }
    fn take(&mut self, _: &Arg, _: &mut Parser) -> Result<bool, Failure> {
        Ok(false)
    }
}

/// The real machine for the daemon.
struct RealHardware {
    config_path: Option<PathBuf>,
}

impl Hardware for RealHardware {
    fn open_link(&mut self, cfg: &Config) -> io::Result<Box<dyn Link>> {
        Ok(Box::new(meter::open_port(&cfg.port, cfg.baud)?))
    }
    fn buzzer(&mut self, cfg: &Config) -> Result<Box<dyn Buzzer>, BuzzerUnavailable> {
        open_buzzer(cfg)
    }
    fn reload(&mut self) -> Result<Config, ConfigError> {
        Config::read(self.config_path.as_deref())
    }
}

pub fn run(a: Args) -> Outcome {
    let cfg = Config::read(a.config.as_deref())?;
    let _lock = lock_instance(&cfg)?;
    init_logger(cfg.log_level);
    gpio::install_panic_guard();
    let signals = signal_flags()?;
    log::info!("mcce {} starting", env!("CARGO_PKG_VERSION"));
    Daemon {
        cfg,
        clock: Arc::new(RealClock::new()),
        hw: Box::new(RealHardware {
            config_path: a.config,
        }),
        signals,
        min_wall: build_epoch(),
        observer: None,
        siren_shape: None,
    }
    .run();
    Ok(())
}
