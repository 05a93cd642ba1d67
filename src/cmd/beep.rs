//! `mcce beep`: sound the siren, or the contract alarm's chirp, once to
//! test the wiring.

use std::path::PathBuf;
use std::time::Duration;

use super::args::{Arg, Options, Parser, usage};
use super::setup::{init_logger, open_buzzer, signal_flags};
use crate::adapters::gpio;
use crate::adapters::siren::{Buzzer, ChirpShape, Siren, SirenShape};
use crate::cmd::exit::{self, Failure, Outcome};
use crate::core::config::{BuzzerKind, Config};
use crate::core::warning::Sound;

const HELP: &str = "\
Usage: mcce beep [-c FILE] [--seconds N | --chirp]

Sounds the siren once on the configured buzzer lines, then leaves both low.

  -c, --config FILE   configuration file (default /etc/mcce.conf)
  --seconds N         length of the siren (default ALARM_SIREN_SECONDS)
  --chirp             the contract alarm's chirp instead (two short beeps,
                      a quarter of a second), as the daemon sounds it when
                      the power enters the tolerated band
";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub seconds: Option<u32>,
    pub chirp: bool,
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn config(&mut self) -> Option<&mut Option<PathBuf>> {
        Some(&mut self.config)
    }
    fn take(&mut self, arg: &Arg, p: &mut Parser) -> Result<bool, Failure> {
        if arg.is("chirp") {
            self.chirp = true;
            return Ok(true);
        }
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
    fn finish(self) -> Result<Self, Failure> {
        if self.chirp && self.seconds.is_some() {
            return Err(usage(
                "--seconds is the siren's length; the chirp has a fixed length",
            ));
        }
        Ok(self)
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
    let (sound, what) = if a.chirp {
        (Sound::Chirp, "chirped")
    } else {
        (Sound::Siren, "sounded")
    };
    sound_once(
        buzzer,
        sound,
        SirenShape::new(Duration::from_secs(u64::from(secs))),
        ChirpShape::default(),
        &|| {
            if signals.stop_requested() {
                return false;
            }
            signals.nap(Duration::from_millis(10));
            true
        },
    )
    .map_err(|e| {
        Failure::new(
            exit::TEMPFAIL,
            format!("cannot start the buzzer's thread ({e}); nothing was sounded"),
        )
    })?;
    crate::cmd::output::outln!(
        "{what} on BCM GPIO {} (enable) and {} (tone)",
        cfg.buzzer.enable_gpio,
        cfg.buzzer.tone_gpio
    );
    Ok(())
}

/// Plays `sound` once on `buzzer` through the daemon's siren thread (the
/// same shapes and the same code that drives the lines), and returns when
/// it has ended or `wait` says to stop; both lines are low then. `wait`
/// pauses a moment while the sound plays and returns false once a signal
/// asked to stop. An error when the thread cannot be started.
fn sound_once(
    buzzer: Box<dyn Buzzer>,
    sound: Sound,
    siren: SirenShape,
    chirp: ChirpShape,
    wait: &dyn Fn() -> bool,
) -> std::io::Result<()> {
    let player = Siren::spawn(buzzer, siren, chirp)?;
    match sound {
        Sound::Siren => player.trigger(),
        Sound::Chirp => player.chirp(),
    };
    while player.is_sounding() && wait() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// Records every level change with its time.
    type Edges = Arc<Mutex<Vec<(Instant, &'static str, bool)>>>;
    struct Recorder(Edges);
    impl Buzzer for Recorder {
        fn set_enable(&mut self, on: bool) -> io::Result<()> {
            self.0.lock().unwrap().push((Instant::now(), "en", on));
            Ok(())
        }
        fn set_tone(&mut self, on: bool) -> io::Result<()> {
            self.0.lock().unwrap().push((Instant::now(), "tone", on));
            Ok(())
        }
    }

    fn sound(sound: Sound, siren: Duration) -> (Vec<(Instant, &'static str, bool)>, Duration) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        sound_once(
            Box::new(Recorder(log.clone())),
            sound,
            SirenShape::new(siren),
            ChirpShape::default(),
            &|| {
                std::thread::sleep(Duration::from_millis(2));
                true
            },
        )
        .unwrap();
        let took = start.elapsed();
        let log = log.lock().unwrap().clone();
        (log, took)
    }

    /// `--chirp` plays the daemon's chirp: the enable line high once, for
    /// the chirp's quarter of a second, not the siren's ten; the tone in
    /// two bursts at 2.4 kHz; both lines low when the command returns.
    /// (The bounds only tell a chirp from a siren, with room for a loaded
    /// machine.)
    #[test]
    fn the_chirp_is_two_short_beeps_and_ends_low() {
        let chirp = ChirpShape::default();
        let (log, took) = sound(Sound::Chirp, Duration::from_secs(10));
        let en: Vec<(Instant, bool)> = log
            .iter()
            .filter(|e| e.1 == "en")
            .map(|e| (e.0, e.2))
            .collect();
        let levels: Vec<bool> = en.iter().map(|e| e.1).collect();
        // low at start; on/off for the chirp; low again when the thread quits.
        assert_eq!(levels, [false, true, false, false], "{levels:?}");
        let length = en[2].0 - en[1].0;
        assert!(
            length >= chirp.duration() && length < Duration::from_secs(5),
            "the chirp lasted {length:?}"
        );
        assert!(took < Duration::from_secs(5), "returned after {took:?}");
        let rises: Vec<Instant> = log
            .iter()
            .filter(|e| e.1 == "tone" && e.2)
            .map(|e| e.0)
            .collect();
        assert!(
            rises.iter().all(|t| *t > en[1].0 && *t < en[2].0),
            "tone only while enabled"
        );
        let silences = rises
            .windows(2)
            .filter(|w| w[1] - w[0] >= chirp.pause * 3 / 4)
            .count();
        assert_eq!(silences, 1, "two bursts");
        // 80 ms at 2.4 kHz is up to 192 rising edges a burst; sleeps overrun.
        assert!((20..=384).contains(&rises.len()), "{} edges", rises.len());
        let last = log.last().unwrap();
        assert!(!last.2, "lines end low");
        assert!(!log.iter().rev().find(|e| e.1 == "tone").unwrap().2);
    }

    /// Without `--chirp` the siren plays for its whole length.
    #[test]
    fn the_siren_plays_its_length() {
        let (log, _) = sound(Sound::Siren, Duration::from_millis(300));
        let en: Vec<(Instant, bool)> = log
            .iter()
            .filter(|e| e.1 == "en")
            .map(|e| (e.0, e.2))
            .collect();
        assert_eq!(en.iter().filter(|e| e.1).count(), 1);
        assert!(en[2].0 - en[1].0 >= Duration::from_millis(300));
    }
}
