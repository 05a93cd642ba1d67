//! `mcce publish`: the readings and the energy totals to an MQTT broker,
//! with Home Assistant's discovery (the work is
//! `crate::processes::publish`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::args::{Arg, Options, Parser};
use super::exit::{self, Failure, Outcome};
use super::setup;
use crate::core::config::{Config, DEFAULT_PATH};
use crate::processes::publish::{self, PublishError};

const HELP: &str = "\
Usage: mcce publish [-c FILE]

Publishes the daemon's readings and the energy totals to the MQTT broker
of MQTT_URL, with Home Assistant's discovery (README \"Home Assistant\"):
a state message on each new reading, the lifetime energy total for the
Energy dashboard (it never decreases), and availability with a Last Will.
Runs until SIGTERM or SIGINT; reads the daemon's status and the data,
never the meter.

  -c, --config FILE     configuration file (default /etc/mcce.conf)
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
    fn take(&mut self, _arg: &Arg, _p: &mut Parser) -> Result<bool, Failure> {
        Ok(false)
    }
}

pub fn run(a: Args) -> Outcome {
    let cfg = Config::read(a.config.as_deref())?;
    setup::init_logger(cfg.log_level);
    let path = a.config.as_deref().unwrap_or(Path::new(DEFAULT_PATH));
    warn_if_others_read_the_password(&cfg, path);
    let signals = setup::signal_flags()?;
    publish::run(&cfg, &signals).map_err(|e| {
        let code = match &e {
            PublishError::NoBroker => exit::CONFIG,
            PublishError::Saved(crate::adapters::saved_total::OpenError::Busy(_)) => {
                exit::UNAVAILABLE
            }
            PublishError::DataDir(..) | PublishError::Saved(_) => exit::CANTCREAT,
        };
        let what = match &e {
            PublishError::NoBroker => format!("{}: {e}", path.display()),
            _ => e.to_string(),
        };
        Failure::new(code, what)
    })
}

/// A password in a configuration file that every user can read is said
/// at start (one from the environment is not in the file).
fn warn_if_others_read_the_password(cfg: &Config, path: &Path) {
    if cfg.mqtt.password.is_none() || std::env::var_os("MQTT_PASSWORD").is_some() {
        return;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode();
    if mode & 0o004 != 0 {
        log::warn!(
            "{}: MQTT_PASSWORD is readable by every user (mode {:o}): \
             chgrp mcce {p} && chmod 640 {p}",
            path.display(),
            mode & 0o777,
            p = path.display()
        );
    }
}
