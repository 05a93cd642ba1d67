//! `mcce demo`: the whole pipeline on a machine with no meter. A simulated
//! meter and the real daemon run a day on a sped-up clock, the buzzer is
//! drawn on screen, then the day is digested and reported.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::args::{Arg, Options, Parser, usage};
use super::setup::init_logger;
use crate::adapters::clock::{Clock, SteppedClock, system_wall};
use crate::adapters::instance::InstanceLock;
use crate::adapters::localtime;
use crate::adapters::serial::Link;
use crate::adapters::signals::Signals;
use crate::adapters::siren::{Buzzer, BuzzerUnavailable, Silent, SirenShape};
use crate::cmd::exit::{self, Failure, Outcome};
use crate::core::config::{BuzzerKind, BuzzerSettings, Config, ConfigError};
use crate::core::trip::{Band, TripSettings};
use crate::core::warning::Urgency;
use crate::processes::daemon::{Daemon, Event, Hardware, Observer};
use crate::processes::sim::{Profile, Sim, SimOptions};
use log::Level;

const HELP: &str = "\
Usage: mcce demo [--speed N] [--hours H] [--seed N] [--dir DIR]

Starts the simulator and the daemon against it for a simulated day of a
household on a 3 kW contract, shows readings, the meter's band, the
countdown to its trip and the alarm's sounds (drawn on screen), then
digests the day and prints the report. Needs no meter, no GPIO and no
config.

  --speed N   simulated seconds per real second (default 2880: a day in 30 s)
  --hours H   hours to simulate from midnight (default 24)
  --seed N    load profile seed (default 1)
  --dir DIR   keep the data here, a new or empty directory (default: a
              temporary one)
";

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub speed: f64,
    pub hours: u32,
    pub seed: u64,
    pub dir: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            speed: 2880.0,
            hours: 24,
            seed: 1,
            dir: None,
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
            "speed" => self.speed = p.speed()?,
            "hours" => {
                self.hours = p.number("--hours")?;
                if !(1..=24).contains(&self.hours) {
                    return Err(usage("--hours: between 1 and 24"));
                }
            }
            "seed" => self.seed = p.number("--seed")?,
            "dir" => self.dir = Some(p.path()?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The daemon's hardware in the demo: `cfg.port` is the simulator's
/// terminal (see `demo_config`), the buzzer is drawn on screen.
struct DemoHardware {
    cfg: Config,
}

impl Hardware for DemoHardware {
    fn open_link(&mut self, cfg: &Config) -> io::Result<Box<dyn Link>> {
        Ok(Box::new(crate::adapters::serial::open_port(
            &cfg.port, cfg.baud,
        )?))
    }
    fn buzzer(&mut self, _: &Config) -> Result<Box<dyn Buzzer>, BuzzerUnavailable> {
        // The screen draws the sounds from the daemon's events.
        Ok(Box::new(Silent))
    }
    fn reload(&mut self) -> Result<Config, ConfigError> {
        Ok(self.cfg.clone())
    }
}

fn bar(watts: u32, scale: u32) -> String {
    let n = (watts as usize * 20 / scale.max(1) as usize).min(22);
    "#".repeat(n)
}

pub fn run(a: Args) -> Outcome {
    init_logger(Level::Warn);
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("mcce-demo-{}", std::process::id())));
    refuse_used_dir(&dir)?;
    let mk = |e: io::Error| Failure::new(exit::CANTCREAT, format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir.join("run")).map_err(mk)?;

    // Yesterday from local midnight: a complete day the digest will take.
    let today = localtime::local_date(system_wall());
    let day = today.previous_day().expect("date in range");
    let start = localtime::local_day_start(day);
    let end = (start + i64::from(a.hours) * 3600).min(localtime::local_day_bounds(day).1) - 1;
    let clock = Arc::new(SteppedClock::new(start, a.speed));

    let sim = Sim::start(
        SimOptions {
            profile: Profile { seed: a.seed },
            ..SimOptions::default()
        },
        clock.clone(),
    )
    .map_err(|e| {
        Failure::new(
            exit::CANTCREAT,
            format!("cannot create the simulated meter: {e}"),
        )
    })?;
    let cfg = demo_config(&dir, &sim.path());
    crate::cmd::output::outln!(
        "mcce demo: simulated meter on {}, day {} at {}x speed, data in {}",
        sim.path().display(),
        crate::core::calendar::date_name(day),
        a.speed,
        dir.display()
    );
    let trip = cfg.trip.settings().expect("the demo has a contract");
    crate::cmd::output::outln!(
        "a {} W contract: free up to {} W, tolerated up to {} W (docs/trip.md).\n\
         07:11 the kettle and the microwave together; from 18:45 the oven while the\n\
         washing machine heats its water, and at 19:00 a hob ring as well.\n",
        trip.contract_watts,
        trip.free_limit_watts(),
        trip.short_limit_watts()
    );
    let lock = super::run::lock_instance(&cfg)?;
    let counts = run_day(&cfg, lock, clock, a.speed, end);
    drop(sim);
    crate::cmd::output::outln!(
        "\n{} readings recorded, {} polls without a reading",
        counts.readings,
        counts.no_readings
    );
    digest_and_report(&cfg, day)
}

/// A config writing under `dir`, reading the simulator at `port`.
fn demo_config(dir: &Path, port: &Path) -> Config {
    Config {
        port: port.to_string_lossy().into(),
        data_dir: dir.to_path_buf(),
        run_dir: dir.join("run"),
        database_url: dir.join("db").join("pwr"),
        buzzer: BuzzerSettings {
            kind: BuzzerKind::None,
            ..BuzzerSettings::default()
        },
        reply_timeout_ms: 100,
        trip: crate::core::trip::TripConfig {
            contract_watts: Some(DEMO_CONTRACT_WATTS),
            ..crate::core::trip::TripConfig::default()
        },
        ..Config::default()
    }
}

/// The simulated household's contract (see `crate::processes::sim::Profile`).
const DEMO_CONTRACT_WATTS: u32 = 3000;

/// How the polls went.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    readings: u64,
    no_readings: u64,
}

/// Runs the daemon against the simulator until the clock passes `end`.
fn run_day(
    cfg: &Config,
    lock: InstanceLock,
    clock: Arc<SteppedClock>,
    speed: f64,
    end: i64,
) -> Counts {
    let signals = Signals::default();
    let stop = signals.stop.clone();
    let watch_clock = clock.clone();
    let watcher = std::thread::spawn(move || {
        while watch_clock.wall() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Ordering::SeqCst);
    });
    let counts = Arc::new(Mutex::new(Counts::default()));
    Daemon {
        cfg: cfg.clone(),
        clock: clock as Arc<dyn Clock>,
        hw: Box::new(DemoHardware { cfg: cfg.clone() }),
        signals,
        lock,
        min_wall: 0,
        observer: Some(screen(
            cfg.trip.settings().expect("the demo has a contract"),
            speed,
            counts.clone(),
        )),
        siren_shape: Some(SirenShape::new(Duration::from_millis(200))),
        chirp_shape: None,
    }
    .run();
    let _ = watcher.join();
    *counts.lock().unwrap()
}

/// What the screen says of the contract's band: its name, the time left
/// before the meter trips, whether it is stale, and a warning.
fn band_label(band: Band, trip_in: Option<u64>, stale: bool, urgency: Urgency) -> String {
    let trip = trip_in
        .map(|t| {
            format!(
                ", trip in {} if nothing is switched off",
                crate::processes::daemon::trip_label(Duration::from_secs(t))
            )
        })
        .unwrap_or_default();
    let stale = if stale { " (no reading)" } else { "" };
    let warning = if urgency == Urgency::Urgent {
        "  WARNING"
    } else {
        ""
    };
    format!("{} band{trip}{stale}{warning}", band.name())
}

/// Draws the polls: every reading at human speeds, one line per 15
/// simulated minutes when the day flies by; outside the free band a line
/// per simulated minute with the countdown to the meter's trip, and one
/// whenever the band or the urgency changes (a warning may last only a few
/// polls); the chirp and the siren; counts them in `counts`.
fn screen(trip: TripSettings, speed: f64, counts: Arc<Mutex<Counts>>) -> Observer {
    let every = if speed <= 20.0 { 0 } else { 900 };
    let scale = trip.short_limit_watts();
    let mut last_line = i64::MIN;
    let mut watts = 0;
    let mut band = Band::Free;
    let mut last_urgency = Urgency::Quiet;
    let mut last_countdown: Option<i64> = None;
    let time = |ts: i64| localtime::local_label(ts)[11..].to_string();
    Box::new(move |e: &Event| match e {
        Event::Reading { ts, watts: w } => {
            counts.lock().unwrap().readings += 1;
            watts = *w;
            if band == Band::Free
                && (every == 0 || ts.div_euclid(every) != last_line.div_euclid(every))
            {
                last_line = *ts;
                crate::cmd::output::outln!("{}  {w:>5} W  {}", time(*ts), bar(*w, scale));
            }
        }
        Event::NoReading { .. } => counts.lock().unwrap().no_readings += 1,
        Event::Chirp { ts, watts } => crate::cmd::output::outln!(
            "{}  {watts:>5} W  (( BUZZER: chirp, over the free band of {} W ))",
            time(*ts),
            trip.free_limit_watts()
        ),
        Event::Siren { ts, watts } => crate::cmd::output::outln!(
            "{}  {watts:>5} W  (((( BUZZER: siren sounding ))))",
            time(*ts)
        ),
        Event::Contract {
            ts,
            band: now,
            trip_in,
            urgency,
            stale,
        } => {
            let changed = *now != band || *urgency != last_urgency;
            band = *now;
            last_urgency = *urgency;
            let countdown = *now != Band::Free && last_countdown.is_none_or(|t| ts - t >= 60);
            if !(changed || countdown) {
                return;
            }
            last_countdown = Some(*ts);
            last_line = *ts;
            let label = band_label(*now, *trip_in, *stale, *urgency);
            crate::cmd::output::outln!(
                "{}  {watts:>5} W  {:<22} {label}",
                time(*ts),
                bar(watts, scale)
            );
        }
    })
}

/// The demo appends simulated samples and replaces digests: pointed at a
/// real DATA_DIR it would write into its history. Only a new or empty
/// directory is taken.
fn refuse_used_dir(dir: &Path) -> Outcome {
    let first = match std::fs::read_dir(dir) {
        Ok(mut rd) => rd.next(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Failure::new(
                exit::CANTCREAT,
                format!("{}: {e}", dir.display()),
            ));
        }
    };
    match first {
        None => Ok(()),
        Some(entry) => {
            let name = entry
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .unwrap_or_default();
            Err(Failure::new(
                exit::CANTCREAT,
                format!(
                    "{}: not empty (holds {name}): the demo writes simulated days and databases, give it a new or empty directory",
                    dir.display()
                ),
            ))
        }
    }
}

/// Act two: digest the simulated day and show the month's report.
fn digest_and_report(cfg: &Config, day: crate::core::calendar::Date) -> Outcome {
    crate::cmd::output::outln!(
        "\n$ mcce digest --date {}",
        crate::core::calendar::date_name(day)
    );
    super::digest::digest(cfg, Some(day), system_wall())?;
    crate::cmd::output::outln!(
        "\n$ mcce report --month {}",
        &crate::core::calendar::date_name(day)[..7]
    );
    super::report::report(
        cfg,
        crate::processes::report::Period::Month(day.year(), u8::from(day.month())),
    )?;
    crate::cmd::output::outln!("\ndata kept in {}", cfg.data_dir.display());
    Ok(())
}
