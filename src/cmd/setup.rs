//! What several commands set up the same way: the logger, the signal
//! handlers and the buzzer named by the configuration.

use std::io::Write;

use crate::adapters::gpio;
use crate::adapters::signals::Signals;
use crate::adapters::siren::{Buzzer, BuzzerUnavailable, Silent};
use crate::cmd::exit::{self, Failure};
use crate::core::config::{BuzzerKind, Config};

/// Plain `LEVEL: message` lines on stderr: the init script hands them to
/// syslog, which adds time and tag. `RUST_LOG` overrides `level`.
pub fn init_logger(level: log::Level) {
    let filter = level.as_str().to_ascii_lowercase();
    let env = env_logger::Env::default().default_filter_or(filter);
    let _ = env_logger::Builder::from_env(env)
        .format(|buf, record| writeln!(buf, "{}: {}", record.level(), record.args()))
        .try_init();
}

/// SIGTERM/SIGINT (stop) and SIGHUP (reload).
pub fn signal_flags() -> Result<Signals, Failure> {
    Signals::install().map_err(|e| {
        Failure::new(
            exit::FAILURE,
            format!("cannot install signal handlers: {e}"),
        )
    })
}

/// The buzzer the configuration names: the GPIO lines, or none.
pub fn open_buzzer(cfg: &Config) -> Result<Box<dyn Buzzer>, BuzzerUnavailable> {
    let b = &cfg.buzzer;
    match b.kind {
        BuzzerKind::None => Ok(Box::new(Silent)),
        BuzzerKind::Gpio => {
            let (en, tone) = gpio::resolve_lines(&b.gpio_chip, b.enable_gpio, b.tone_gpio)
                .map_err(BuzzerUnavailable)?;
            let buzzer = gpio::SysfsBuzzer::open(en, tone).map_err(BuzzerUnavailable)?;
            Ok(Box::new(buzzer))
        }
    }
}
