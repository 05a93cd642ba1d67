//! `mcce run`: the daemon on the real machine.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::args::config_only_args;
use super::setup::{init_logger, open_buzzer, signal_flags};
use crate::clock::RealClock;
use crate::config::{Config, ConfigError};
use crate::daemon::{Daemon, Hardware, build_epoch};
use crate::exit::{CANTCREAT, Failure, Outcome, UNAVAILABLE};
use crate::gpio;
use crate::meter::{self, Link};
use crate::siren::{Buzzer, BuzzerUnavailable};
use crate::status::Status;

const HELP: &str = "\
Usage: mcce run [-c FILE]

Polls the meter every POLL_SECONDS, appends `<unix seconds> <watts>` to
DATA_DIR/days/YYYY-MM-DD, sounds the siren at ALARM_WATTS and publishes
RUN_DIR/status. Logs to stderr. SIGTERM/SIGINT: stop (exit 0);
SIGHUP: reload the config, reopen the port and the day file.
One daemon per RUN_DIR and DATA_DIR: a second one exits 69 at once.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

config_only_args!(HELP);

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
        chirp_shape: None,
    }
    .run();
    Ok(())
}

/// Held for the daemon's life: `flock`s on RUN_DIR and DATA_DIR
/// themselves (no lock file to leave behind), so a second `mcce run` on
/// either finds them held and leaves at once, before it opens the port or
/// writes anything. The kernel drops the locks when the process ends, even
/// on `kill -9`.
struct InstanceLock {
    _held: Vec<std::fs::File>,
}

/// Takes the instance locks (creating RUN_DIR and DATA_DIR if missing).
fn lock_instance(cfg: &Config) -> Result<InstanceLock, Failure> {
    let mut held: Vec<(u64, u64, std::fs::File)> = Vec::new();
    for (key, dir) in [("RUN_DIR", &cfg.run_dir), ("DATA_DIR", &cfg.data_dir)] {
        let fail = |e: io::Error| Failure::new(CANTCREAT, format!("{key} {}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(fail)?;
        let f = std::fs::File::open(dir).map_err(fail)?;
        let m = f.metadata().map_err(fail)?;
        if held.iter().any(|(d, i, _)| (*d, *i) == (m.dev(), m.ino())) {
            continue; // RUN_DIR and DATA_DIR are the same directory
        }
        if !crate::sys::try_lock_exclusive(&f).map_err(fail)? {
            let pid = Status::read(&cfg.run_dir)
                .map(|s| format!(" (pid {})", s.pid))
                .unwrap_or_default();
            return Err(Failure::new(
                UNAVAILABLE,
                format!(
                    "{key} {}: another mcce daemon{pid} already uses it; this one exits and touches nothing",
                    dir.display()
                ),
            ));
        }
        held.push((m.dev(), m.ino(), f));
    }
    Ok(InstanceLock {
        _held: held.into_iter().map(|(_, _, f)| f).collect(),
    })
}
