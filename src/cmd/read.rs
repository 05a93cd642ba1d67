//! `mcce read`: one reading now.

use std::io;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::args::config_only_args;
use super::setup::init_logger;
use crate::adapters::meter::{Meter, PollError};
use crate::cmd::exit::{self, Failure, Outcome};
use crate::core::config::Config;

const HELP: &str = "\
Usage: mcce read [-c FILE]

Triggers the meter once and prints the power in watts. Fails (exit 69) when
the port is missing or held by the running daemon (use `mcce status`).

  -c, --config FILE   configuration file (default /etc/mcce.conf)
";

config_only_args!(HELP);

pub fn run(a: Args) -> Outcome {
    let cfg = Config::read(a.config.as_deref())?;
    init_logger(log::Level::Warn);
    let port = crate::adapters::serial::open_port(&cfg.port, cfg.baud).map_err(|e| {
        let hint = match e.kind() {
            io::ErrorKind::NotFound => " (is the meter plugged in?)",
            io::ErrorKind::PermissionDenied => " (is this user in group dialout?)",
            io::ErrorKind::ResourceBusy => {
                " (the running daemon holds it: `mcce status` shows its readings)"
            }
            _ => "",
        };
        Failure::new(
            exit::UNAVAILABLE,
            format!("{}: cannot open: {e}{hint}", cfg.port),
        )
    })?;
    let mut m = Meter::new(port, cfg.protocol.protocol());
    let timeout = Duration::from_millis(u64::from(cfg.reply_timeout_ms));
    let never = AtomicBool::new(false);
    let mut last = PollError::NoFrame;
    for _ in 0..3 {
        match m.poll(timeout, &never) {
            Ok(w) => {
                crate::cmd::output::outln!("{w} W");
                return Ok(());
            }
            Err(e @ PollError::Lost(_)) => {
                last = e;
                break;
            }
            Err(e) => last = e,
        }
    }
    Err(Failure::new(
        exit::FAILURE,
        format!("{}: no reading: {last}", cfg.port),
    ))
}
