//! `mcce demo`: the whole pipeline on a machine with no meter. A simulated
//! meter and the real daemon run a day on a sped-up clock, the buzzer is
//! drawn on screen, then the day is digested and reported.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::alarm::{Buzzer, SirenShape};
use crate::cli::DemoArgs;
use crate::clock::{Clock, ScaledClock, system_wall};
use crate::config::{BuzzerKind, Config, ConfigError};
use crate::daemon::{Daemon, Event, Hardware, Signals};
use crate::exit::{self, Failure, Outcome};
use crate::localtime;
use crate::meter::{self, Link};
use crate::sim::{Profile, Sim, SimOptions};

/// The buzzer, drawn: one line each time the driver is powered.
struct ScreenBuzzer;

impl Buzzer for ScreenBuzzer {
    fn set_enable(&mut self, on: bool) -> io::Result<()> {
        if on {
            crate::outln!("          (((( BUZZER: siren sounding ))))");
        }
        Ok(())
    }
    fn set_tone(&mut self, _: bool) -> io::Result<()> {
        Ok(())
    }
}

struct DemoHardware {
    sim_path: PathBuf,
    cfg: Config,
}

impl Hardware for DemoHardware {
    fn open_link(&mut self, cfg: &Config) -> io::Result<Box<dyn Link>> {
        Ok(Box::new(meter::open_port(
            &self.sim_path.to_string_lossy(),
            cfg.baud,
        )?))
    }
    fn buzzer(&mut self, _: &Config) -> Result<Box<dyn Buzzer>, String> {
        Ok(Box::new(ScreenBuzzer))
    }
    fn reload(&mut self) -> Result<Config, ConfigError> {
        Ok(self.cfg.clone())
    }
}

fn bar(watts: u32, cap: u32) -> String {
    let n = (watts as usize * 30 / cap.max(1) as usize).min(40);
    "#".repeat(n)
}

pub fn demo(a: DemoArgs) -> Outcome {
    crate::commands::init_logger("warn");
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
    let clock = Arc::new(ScaledClock::new(start, a.speed));

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

    let cfg = Config {
        port: sim.path().to_string_lossy().into(),
        data_dir: dir.clone(),
        run_dir: dir.join("run"),
        database_url: dir.join("db").join("pwr"),
        buzzer: BuzzerKind::None,
        reply_timeout_ms: 100,
        ..Config::default()
    };
    let cap = cfg.alarm_watts;

    crate::outln!(
        "mcce demo: simulated meter on {}, day {} at {}x speed, data in {}",
        sim.path().display(),
        localtime::date_name(day),
        a.speed,
        dir.display()
    );
    crate::outln!("alarm cap {cap} W; the washing machine and the oven overlap around 12:27\n");

    let signals = Signals::default();
    let stop = signals.stop.clone();
    let watch_clock = clock.clone();
    let watcher = std::thread::spawn(move || {
        while watch_clock.wall() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Ordering::SeqCst);
    });

    // Every reading at human speeds; one line per 15 simulated minutes when
    // the day flies by.
    let every = if a.speed <= 20.0 { 0 } else { 900 };
    let last_line = Arc::new(Mutex::new(i64::MIN));
    let counts = Arc::new(Mutex::new((0u64, 0u64)));
    let (ll, ct) = (last_line.clone(), counts.clone());
    let observer = move |e: &Event| match e {
        Event::Reading { ts, watts } => {
            ct.lock().unwrap().0 += 1;
            let mut l = ll.lock().unwrap();
            if every == 0 || ts.div_euclid(every) != l.div_euclid(every) {
                *l = *ts;
                let label = localtime::local_label(*ts);
                crate::outln!("{}  {watts:>5} W  {}", &label[11..], bar(*watts, cap));
            }
        }
        Event::NoReading { .. } => ct.lock().unwrap().1 += 1,
        Event::Siren { ts, watts } => {
            let label = localtime::local_label(*ts);
            crate::outln!("{}  {watts:>5} W  ALARM: at or above {cap} W", &label[11..]);
        }
    };

    Daemon {
        cfg: cfg.clone(),
        clock: clock.clone() as Arc<dyn Clock>,
        hw: Box::new(DemoHardware {
            sim_path: sim.path(),
            cfg: cfg.clone(),
        }),
        signals,
        min_wall: 0,
        observer: Some(Box::new(observer)),
        siren_shape: Some(SirenShape::new(Duration::from_millis(200))),
    }
    .run();
    let _ = watcher.join();
    drop(sim);
    let (ok, failed) = *counts.lock().unwrap();
    crate::outln!("\n{ok} readings recorded, {failed} polls without a reading");
    second_act(&cfg, day)
}

/// The demo appends simulated samples and replaces digests: pointed at a
/// real DATA_DIR it would write into its history. Only a new or empty
/// directory is taken.
fn refuse_used_dir(dir: &std::path::Path) -> Outcome {
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
fn second_act(cfg: &Config, day: time::Date) -> Outcome {
    crate::outln!("\n$ mcce digest --date {}", localtime::date_name(day));
    crate::digest::digest(cfg, Some(day), system_wall())?;
    crate::outln!(
        "\n$ mcce report --month {}",
        &localtime::date_name(day)[..7]
    );
    crate::report::report(
        cfg,
        crate::report::Period::Month(day.year(), u8::from(day.month())),
    )?;
    crate::outln!("\ndata kept in {}", cfg.data_dir.display());
    Ok(())
}
