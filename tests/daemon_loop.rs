//! The daemon's loop on a manual clock: a day of polls in milliseconds,
//! clock steps, a clock still in 1970, a full card, alarm timing.

mod common;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcce::clock::{Clock, ManualClock};
use mcce::config::{BuzzerKind, BuzzerSettings, Config, ConfigError};
use mcce::daemon::{Daemon, Event, Hardware};
use mcce::localtime::{local_day_start, parse_date};
use mcce::meter::Link;
use mcce::signals::Signals;
use mcce::sim::frame_bytes;

use common::Scratch;
use mcce::siren::{Buzzer, BuzzerUnavailable, SirenShape};

/// A SIGHUP at a monotonic time, rereading the config changed by a function.
type Reload = Option<(Duration, fn(&mut Config))>;

type Script = Box<dyn FnMut(Duration, &ManualClock) -> Option<u32> + Send>;

/// A meter whose answer is a function of monotonic time; each poll costs
/// `cost` of clock time. Past `until` it stops the daemon.
struct FakeMeter {
    clock: Arc<ManualClock>,
    script: Arc<Mutex<Script>>,
    cost: Duration,
    until: Duration,
    signals: Signals,
    queued: Vec<u8>,
    /// When to send the daemon a SIGHUP.
    reload_at: Option<Duration>,
}

impl Read for FakeMeter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.queued.is_empty() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let n = self.queued.len().min(buf.len());
        buf[..n].copy_from_slice(&self.queued[..n]);
        self.queued.drain(..n);
        Ok(n)
    }
}

impl Write for FakeMeter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let now = self.clock.mono();
        if self.reload_at == Some(now) {
            self.signals.reload.store(true, Ordering::SeqCst);
        }
        if now >= self.until {
            self.signals.stop.store(true, Ordering::SeqCst);
        } else if let Some(w) = (self.script.lock().unwrap())(now, &self.clock) {
            self.queued.extend(frame_bytes(w, 1));
        }
        self.clock.advance(self.cost);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Link for FakeMeter {
    fn discard_input(&mut self) -> io::Result<()> {
        self.queued.clear();
        Ok(())
    }
    fn pending(&mut self) -> io::Result<u32> {
        Ok(self.queued.len() as u32)
    }
}

type Edges = Arc<Mutex<Vec<(Instant, bool)>>>;

struct RecordingBuzzer(Edges);

impl Buzzer for RecordingBuzzer {
    fn set_enable(&mut self, on: bool) -> io::Result<()> {
        self.0.lock().unwrap().push((Instant::now(), on));
        Ok(())
    }
    fn set_tone(&mut self, _: bool) -> io::Result<()> {
        Ok(())
    }
}

struct FakeHw {
    clock: Arc<ManualClock>,
    script: Arc<Mutex<Script>>,
    cost: Duration,
    until: Duration,
    signals: Signals,
    edges: Edges,
    cfg: Config,
    /// A SIGHUP at this time rereads the config changed by this.
    reload: Reload,
    buzzers_opened: Arc<AtomicUsize>,
}

impl Hardware for FakeHw {
    fn open_link(&mut self, _: &Config) -> io::Result<Box<dyn Link>> {
        Ok(Box::new(FakeMeter {
            clock: self.clock.clone(),
            script: self.script.clone(),
            cost: self.cost,
            until: self.until,
            signals: self.signals.clone(),
            queued: Vec::new(),
            reload_at: self.reload.map(|r| r.0),
        }))
    }
    fn buzzer(&mut self, _: &Config) -> Result<Box<dyn Buzzer>, BuzzerUnavailable> {
        self.buzzers_opened.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(RecordingBuzzer(self.edges.clone())))
    }
    fn reload(&mut self) -> Result<Config, ConfigError> {
        let mut cfg = self.cfg.clone();
        if let Some((_, change)) = self.reload {
            change(&mut cfg);
        }
        Ok(cfg)
    }
}

struct Run {
    events: Vec<Event>,
    edges: Vec<(Instant, bool)>,
    buzzers_opened: usize,
    scratch: Scratch,
}

// Every knob of a run is spelled out at the call, as the tests read best.
#[allow(clippy::too_many_arguments)]
fn run(
    name: &str,
    start_wall: i64,
    min_wall: i64,
    until: Duration,
    cost: Duration,
    tweak: impl FnOnce(&mut Config),
    reload: Reload,
    script: Script,
) -> Run {
    let scratch = Scratch::new(&format!("loop-{name}"));
    let dir = scratch.path().to_path_buf();
    let mut cfg = Config {
        data_dir: dir.clone(),
        run_dir: dir.clone(),
        database_url: dir.join("db/pwr"),
        buzzer: BuzzerSettings {
            kind: BuzzerKind::Gpio,
            ..BuzzerSettings::default()
        },
        reply_timeout_ms: 100,
        ..Config::default()
    };
    tweak(&mut cfg);
    std::fs::create_dir_all(cfg.days_dir()).unwrap();
    let clock = Arc::new(ManualClock::new(start_wall));
    let signals = Signals::default();
    let edges: Edges = Arc::default();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let buzzers_opened = Arc::new(AtomicUsize::new(0));
    let hw = FakeHw {
        clock: clock.clone(),
        script: Arc::new(Mutex::new(script)),
        cost,
        until,
        signals: signals.clone(),
        edges: edges.clone(),
        cfg: cfg.clone(),
        reload,
        buzzers_opened: buzzers_opened.clone(),
    };
    Daemon {
        cfg,
        clock: clock as Arc<dyn Clock>,
        hw: Box::new(hw),
        signals,
        min_wall,
        observer: Some(Box::new(move |e: &Event| {
            ev.lock().unwrap().push(e.clone())
        })),
        siren_shape: Some(SirenShape::new(Duration::from_millis(5))),
    }
    .run();
    let events = events.lock().unwrap().clone();
    let edges = edges.lock().unwrap().clone();
    Run {
        events,
        edges,
        buzzers_opened: buzzers_opened.load(Ordering::SeqCst),
        scratch,
    }
}

fn samples(r: &Run) -> Vec<(i64, u32)> {
    common::samples(&r.scratch.path().join("days"))
}

fn midnight(date: &str) -> i64 {
    local_day_start(parse_date(date).unwrap())
}

#[test]
fn a_day_is_exactly_17280_polls_whatever_each_poll_costs() {
    let t0 = midnight("2025-01-15");
    let r = run(
        "day",
        t0,
        0,
        Duration::from_secs(86_400),
        Duration::from_millis(1700),
        |_| {},
        None,
        Box::new(|_, _| Some(1000)),
    );
    let s = samples(&r);
    assert_eq!(s.len(), 17_280);
    for (i, (ts, w)) in s.iter().enumerate() {
        assert_eq!(*ts, t0 + 5 * i as i64);
        assert_eq!(*w, 1000);
    }
    let files: Vec<_> = std::fs::read_dir(r.scratch.path().join("days"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1, "one local day, one file");
}

#[test]
fn wall_clock_steps_do_not_disturb_the_schedule() {
    let t0 = midnight("2025-01-15") + 12 * 3600;
    let script: Script = Box::new(|now, clock| {
        match now.as_secs() {
            1000 => clock.step_wall(3600),
            2000 => clock.step_wall(-7200),
            _ => {}
        }
        Some(500)
    });
    let r = run(
        "steps",
        t0,
        0,
        Duration::from_secs(3000),
        Duration::from_millis(300),
        |_| {},
        None,
        script,
    );
    let s = samples(&r);
    assert_eq!(s.len(), 600, "one poll per 5 s of monotonic time");
    let jumps: Vec<i64> = s
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|d| *d != 5)
        .collect();
    assert_eq!(jumps, vec![3605, -7195]);
}

#[test]
fn nothing_is_recorded_while_the_clock_is_in_1970() {
    let sane = midnight("2025-01-15") + 3600;
    let script: Script = Box::new(move |now, clock| {
        if now == Duration::from_secs(50) {
            clock.step_wall(sane); // NTP sets the clock
        }
        Some(700)
    });
    let r = run(
        "rtc",
        0,
        sane - 86_400,
        Duration::from_secs(100),
        Duration::ZERO,
        |_| {},
        None,
        script,
    );
    let s = samples(&r);
    // The poll during which NTP stepped the clock was stamped before it.
    assert_eq!(s.len(), 9, "only the polls after the clock was set: {s:?}");
    assert!(s.iter().all(|(ts, _)| *ts >= sane));
    assert!(!r.scratch.path().join("days/1970-01-01").exists());
    let readings = r
        .events
        .iter()
        .filter(|e| matches!(e, Event::Reading { .. }))
        .count();
    assert_eq!(
        readings, 20,
        "the meter was still read (and the alarm still watched)"
    );
}

#[test]
fn a_full_card_loses_samples_but_not_the_daemon() {
    let t0 = midnight("2025-01-15");
    let card = Scratch::new("loop-card");
    let dir = card.path().to_path_buf();
    std::fs::create_dir_all(dir.join("days")).unwrap();
    let day = dir.join("days/2025-01-15");
    std::os::unix::fs::symlink("/dev/full", &day).unwrap();
    let d2 = day.clone();
    let script: Script = Box::new(move |now, _| {
        if now == Duration::from_secs(30) {
            std::fs::remove_file(&d2).unwrap(); // space is back
        }
        Some(900)
    });
    let _r = run(
        "full",
        t0,
        0,
        Duration::from_secs(60),
        Duration::ZERO,
        |c| c.data_dir = dir.clone(),
        None,
        script,
    );
    let s = common::samples(&dir.join("days"));
    let first = s.first().unwrap().0;
    assert_eq!(
        first,
        t0 + 30,
        "first sample once writing works again: {s:?}"
    );
    assert_eq!(s.len(), 6);
}

#[test]
fn alarm_enters_after_delay_repeats_clears_with_hysteresis_never_overlaps() {
    let t0 = midnight("2025-01-15");
    let script: Script = Box::new(|now, _| {
        if now.as_secs() == 115 {
            // The manual clock runs the day in milliseconds: give the siren
            // thread real time to play the first siren (a 5 ms one).
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(match now.as_secs() {
            0..100 => 1000,
            100..200 => 4300,
            200..250 => 4100,
            250..300 => 3900,
            300..305 => 4250,
            _ => 1000,
        })
    });
    let r = run(
        "alarm",
        t0,
        0,
        Duration::from_secs(400),
        Duration::from_millis(100),
        |c| {
            c.alarm_delay_seconds = 10;
            c.alarm_repeat_seconds = 30;
            c.alarm_hysteresis_watts = 200;
        },
        None,
        script,
    );
    let fired: Vec<i64> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Siren { ts, .. } => Some(ts - t0),
            _ => None,
        })
        .collect();
    // Pending at 100, first siren after 10 s, every 30 s while not below
    // 4000 W, cleared at 250; a new overload at 300 waits its 10 s again
    // but ends at 305 before it is due.
    assert_eq!(fired, vec![110, 140, 170, 200, 230]);
    // The buzzer's enable line: low first, never raised twice without
    // falling between, low at the end.
    assert_eq!(r.edges.first().map(|e| e.1), Some(false));
    assert_eq!(r.edges.last().map(|e| e.1), Some(false));
    for w in r.edges.windows(2) {
        assert!(!(w[0].1 && w[1].1), "two sirens at once");
    }
    assert!(r.edges.iter().any(|e| e.1), "the siren sounded");
}

/// SIGHUP rebuilds the siren when any buzzer setting changed (the settings
/// are compared as one), and only then.
#[test]
fn reload_rebuilds_the_siren_only_when_a_buzzer_setting_changed() {
    let t0 = midnight("2025-01-15");
    let same = run(
        "reload-same",
        t0,
        0,
        Duration::from_secs(60),
        Duration::ZERO,
        |_| {},
        Some((Duration::from_secs(30), |c| c.alarm_watts = 3000)),
        Box::new(|_, _| Some(1000)),
    );
    assert_eq!(same.buzzers_opened, 1, "no buzzer setting changed");
    let chip = run(
        "reload-chip",
        t0,
        0,
        Duration::from_secs(60),
        Duration::ZERO,
        |_| {},
        Some((Duration::from_secs(30), |c| {
            c.buzzer.gpio_chip = "pinctrl-rp1".into()
        })),
        Box::new(|_, _| Some(1000)),
    );
    assert_eq!(chip.buzzers_opened, 2, "the chip changed: a new siren");
    let siren = run(
        "reload-siren",
        t0,
        0,
        Duration::from_secs(60),
        Duration::ZERO,
        |_| {},
        Some((Duration::from_secs(30), |c| c.buzzer.siren_seconds = 7)),
        Box::new(|_, _| Some(1000)),
    );
    assert_eq!(siren.buzzers_opened, 2, "the siren's length changed");
}
