//! `mcce run`: the daemon on the real machine.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::args::config_only_args;
use super::setup::{init_logger, open_buzzer, signal_flags};
use crate::adapters::clock::RealClock;
use crate::adapters::gpio;
use crate::adapters::instance::{InstanceLock, LockError};
use crate::adapters::serial::Link;
use crate::adapters::siren::{Buzzer, BuzzerUnavailable};
use crate::cmd::exit::{CANTCREAT, Failure, Outcome, UNAVAILABLE};
use crate::core::config::{Config, ConfigError};
use crate::processes::daemon::{Daemon, Hardware, build_epoch};

const HELP: &str = "\
Usage: mcce run [-c FILE]

Polls the meter every POLL_SECONDS, appends `<unix seconds> <watts>` to
DATA_DIR/days/YYYY-MM-DD, sounds the siren at ALARM_WATTS and publishes
RUN_DIR/status. Logs to stderr. SIGTERM/SIGINT: stop (exit 0);
SIGHUP: reload the config, reopen the port and the day file.
One daemon per RUN_DIR and DATA_DIR: a second one exits 69 at once, and a
reload into directories another daemon uses is refused.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

config_only_args!(HELP);

/// The real machine for the daemon.
struct RealHardware {
    config_path: Option<PathBuf>,
}

impl Hardware for RealHardware {
    fn open_link(&mut self, cfg: &Config) -> io::Result<Box<dyn Link>> {
        Ok(Box::new(crate::adapters::serial::open_port(
            &cfg.port, cfg.baud,
        )?))
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
    let lock = lock_instance(&cfg)?;
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
        lock,
        min_wall: build_epoch(),
        observer: None,
        siren_shape: None,
        chirp_shape: None,
    }
    .run();
    Ok(())
}

/// Takes the instance locks (creating RUN_DIR and DATA_DIR if missing)
/// before anything else is opened or written.
pub(super) fn lock_instance(cfg: &Config) -> Result<InstanceLock, Failure> {
    InstanceLock::take(cfg).map_err(|e| match e {
        LockError::Busy { .. } => Failure::new(
            UNAVAILABLE,
            format!("{e}; this one exits and touches nothing"),
        ),
        LockError::Io { .. } => Failure::new(CANTCREAT, e.to_string()),
    })
}
