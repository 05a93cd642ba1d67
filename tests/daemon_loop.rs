//! The daemon's loop on a manual clock: a day of polls in milliseconds,
//! clock steps, a clock still in 1970, a full card, alarm timing.

mod common;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcce::Link;
use mcce::Mcee;
use mcce::Protocol;
use mcce::Signals;
use mcce::local_day_start;
use mcce::parse_date;
use mcce::{BuzzerKind, BuzzerSettings, Config, ConfigError};
use mcce::{Clock, ManualClock};
use mcce::{Daemon, Event, Hardware};

use common::Scratch;
use mcce::InstanceLock;
use mcce::{Buzzer, BuzzerUnavailable, SirenShape, Spawn, start_thread};

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
            self.queued.extend(Mcee.encode(w, 1));
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
    /// How many starts of the siren's thread to refuse, as a system out of
    /// processes would.
    refuse_threads: AtomicUsize,
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
    fn start_thread(&self) -> Spawn {
        let refuse = self
            .refuse_threads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse {
            |_, _| Err(io::ErrorKind::WouldBlock.into())
        } else {
            start_thread
        }
    }
}

struct Run {
    events: Vec<Event>,
    edges: Vec<(Instant, bool)>,
    buzzers_opened: usize,
    scratch: Scratch,
}

thread_local! {
    /// How many starts of the siren's thread the next [`run`] on this test's
    /// thread refuses (the daemon runs on the test's own thread).
    static REFUSE_THREADS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
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
        refuse_threads: AtomicUsize::new(REFUSE_THREADS.take()),
    };
    let lock = InstanceLock::take(&cfg).unwrap();
    Daemon {
        cfg,
        lock,
        clock: clock as Arc<dyn Clock>,
        hw: Box::new(hw),
        signals,
        min_wall,
        observer: Some(Box::new(move |e: &Event| {
            ev.lock().unwrap().push(e.clone())
        })),
        siren_shape: Some(SirenShape::new(Duration::from_millis(5))),
        chirp_shape: None,
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

/// Today's file is a FIFO that nobody reads: no sample goes into it, and
/// the daemon polls, alarms and says in its status that recording fails,
/// for six hours of polls (more lines than a pipe holds: an append to it
/// would wait for ever).
#[test]
fn a_fifo_for_todays_file_stops_no_poll_and_no_alarm() {
    let t0 = midnight("2025-01-15");
    let card = Scratch::new("loop-fifo-card");
    let dir = card.path().to_path_buf();
    std::fs::create_dir_all(dir.join("days")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("days/2025-01-15"))
        .status();
    assert!(made.unwrap().success());
    // The status as the daemon wrote it an hour in.
    let seen = Arc::new(Mutex::new(String::new()));
    let (d, s) = (dir.clone(), seen.clone());
    let script: Script = Box::new(move |now, _| {
        if now == Duration::from_secs(3600) {
            *s.lock().unwrap() = std::fs::read_to_string(d.join("status")).unwrap();
        }
        Some(4300)
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let d = dir.clone();
    std::thread::spawn(move || {
        let r = run(
            "fifo",
            t0,
            0,
            Duration::from_secs(6 * 3600),
            Duration::ZERO,
            |c| {
                c.data_dir = d.clone();
                c.run_dir = d;
                c.alarm_delay_seconds = 10;
                c.alarm_repeat_seconds = 3600;
            },
            None,
            script,
        );
        let _ = tx.send(r.events);
    });
    let events = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the daemon stopped in a write to the FIFO");
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, Event::Reading { .. })), 6 * 720);
    assert_eq!(count(|e| matches!(e, Event::Siren { .. })), 6);
    let status = seen.lock().unwrap().clone();
    assert!(status.contains("\nrecording=failing\n"), "{status}");
    // Left as it is: the daemon's to refuse, not to remove.
    use std::os::unix::fs::FileTypeExt;
    let t = std::fs::metadata(dir.join("days/2025-01-15"))
        .unwrap()
        .file_type();
    assert!(t.is_fifo());
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

/// The system refuses the siren's thread (out of processes or memory): the
/// daemon runs without a buzzer, records every poll and still decides
/// (and logs) its alarms; nothing raises the buzzer's lines. A reload tries
/// the thread again, and once it starts the siren sounds.
#[test]
fn a_siren_thread_that_cannot_start_leaves_the_daemon_recording() {
    let t0 = midnight("2025-01-15");
    let script: Script = Box::new(|now, _| {
        if now.as_secs() >= 60 {
            // Real time for the (5 ms) siren once its thread runs.
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(5000)
    });
    REFUSE_THREADS.set(usize::MAX);
    let never = run(
        "nothread",
        t0,
        0,
        Duration::from_secs(100),
        Duration::ZERO,
        |_| {},
        None,
        Box::new(|_, _| Some(5000)),
    );
    assert_eq!(samples(&never).len(), 20, "every poll recorded");
    assert_eq!(sirens(&never, t0), vec![0, 30, 60, 90], "alarms decided");
    assert!(
        never.edges.iter().all(|e| !e.1),
        "no line raised: {:?}",
        never.edges
    );
    REFUSE_THREADS.set(1);
    let retried = run(
        "nothread-reload",
        t0,
        0,
        Duration::from_secs(100),
        Duration::ZERO,
        |_| {},
        Some((Duration::from_secs(50), |_| {})),
        script,
    );
    assert_eq!(samples(&retried).len(), 20);
    assert_eq!(retried.buzzers_opened, 2, "the reload tried again");
    assert!(
        retried.edges.iter().any(|e| e.1),
        "the siren sounded once its thread ran"
    );
}

// ---- The contract-aware alarm (docs/trip.md), polled every 5 s ----

fn contract(watts: u32) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| c.trip.contract_watts = Some(watts)
}

/// Seconds from `t0` of every event `pick` selects.
fn times(r: &Run, t0: i64, pick: fn(&Event) -> Option<i64>) -> Vec<i64> {
    r.events.iter().filter_map(pick).map(|t| t - t0).collect()
}

fn sirens(r: &Run, t0: i64) -> Vec<i64> {
    times(r, t0, |e| match e {
        Event::Siren { ts, .. } => Some(*ts),
        _ => None,
    })
}

fn chirps(r: &Run, t0: i64) -> Vec<i64> {
    times(r, t0, |e| match e {
        Event::Chirp { ts, .. } => Some(*ts),
        _ => None,
    })
}

/// The trip model's state at each poll: (seconds from t0, band, trip in,
/// urgency, stale).
fn states(r: &Run, t0: i64) -> Vec<(i64, &'static str, Option<u64>, &'static str, bool)> {
    r.events
        .iter()
        .filter_map(|e| match e {
            Event::Contract {
                ts,
                band,
                trip_in,
                urgency,
                stale,
            } => Some((ts - t0, band.name(), *trip_in, urgency.name(), *stale)),
            _ => None,
        })
        .collect()
}

fn state_at(r: &Run, t0: i64, at: i64) -> (i64, &'static str, Option<u64>, &'static str, bool) {
    *states(r, t0)
        .iter()
        .find(|s| s.0 == at)
        .unwrap_or_else(|| panic!("no state at {at}"))
}

/// Every `step` seconds from `from` while below `to`.
fn every(from: i64, to: i64, step: usize) -> Vec<i64> {
    (from..to).step_by(step).collect()
}

/// The status file; read by the script at a poll, it holds the previous
/// poll's state.
fn status_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!("mcce-it-loop-{name}-{}", std::process::id()))
        .join("status")
}

/// 3 kW: the oven and the washing machine at 3.6 kW chirp at once and
/// warn 12 min 15 s later, a minute before the predicted trip, repeating
/// until one is switched off; the free band then resets the allowance
/// after 5 minutes; later a kettle taking the house to 3.9 kW for 40 s
/// only chirps.
#[test]
fn contract_3kw_oven_and_washer_warn_before_the_trip_a_kettle_only_chirps() {
    let t0 = midnight("2025-01-15") + 18 * 3600;
    let seen = Arc::new(Mutex::new(String::new()));
    let s2 = seen.clone();
    let script: Script = Box::new(move |now, _| {
        if now.as_secs() == 405 {
            *s2.lock().unwrap() = std::fs::read_to_string(status_file("c3")).unwrap();
        }
        Some(match now.as_secs() {
            0..60 => 1000,
            60..960 => 3600,
            3000..3040 => 3900,
            _ => 1000,
        })
    });
    let r = run(
        "c3",
        t0,
        0,
        Duration::from_secs(3100),
        Duration::ZERO,
        contract(3000),
        None,
        script,
    );
    assert_eq!(chirps(&r, t0), vec![60, 3000]);
    assert_eq!(sirens(&r, t0), every(795, 960, 30));
    // The countdown: 792 s (13.2 min) at entry, 5 s less at every poll.
    let (_, band, trip, urgency, _) = state_at(&r, t0, 60);
    assert_eq!((band, urgency), ("tolerated", "notice"));
    let trip = trip.unwrap();
    assert!((790..=792).contains(&trip), "{trip}");
    assert_eq!(state_at(&r, t0, 400).2, Some(trip - 340));
    assert_eq!(state_at(&r, t0, 795).3, "urgent");
    assert_eq!(state_at(&r, t0, 790).3, "notice");
    assert_eq!(state_at(&r, t0, 960), (960, "free", None, "notice", false));
    assert_eq!(state_at(&r, t0, 1255).3, "notice");
    assert_eq!(state_at(&r, t0, 1260).3, "quiet", "reset after 300 s free");
    // The kettle: 2 min 52 s to the trip at 3.9 kW, more than it lasts.
    let (_, band, trip, urgency, _) = state_at(&r, t0, 3000);
    assert_eq!((band, urgency), ("tolerated", "notice"));
    assert!((170..=173).contains(&trip.unwrap()), "{trip:?}");
    // The status file carries the same, with wall times.
    let status = seen.lock().unwrap().clone();
    for line in [
        "band=tolerated\n".to_string(),
        format!("band_since={}\n", t0 + 60),
        format!("trip_in_seconds={}\n", state_at(&r, t0, 400).2.unwrap()),
        "warning=notice\n".to_string(),
        "band_stale_since=\n".to_string(),
        "alarm=off\n".to_string(),
    ] {
        assert!(status.contains(&line), "{line:?} not in {status}");
    }
    // The buzzer: never two sounds at once, low at the end.
    for w in r.edges.windows(2) {
        assert!(!(w[0].1 && w[1].1), "two sounds at once");
    }
    assert_eq!(r.edges.last().map(|e| e.1), Some(false));
}

/// 4.5 kW: the 4.3 kW kettle that sirens on 3 kW is in the free band here;
/// 5.4 kW (P + 20 %) warns after the same 12 min 15 s as 3.6 kW on 3 kW.
#[test]
fn contract_4500w_same_rules_scaled() {
    let t0 = midnight("2025-01-15") + 18 * 3600;
    let script: Script = Box::new(|now, _| {
        Some(match now.as_secs() {
            60..100 => 4300,
            200..1000 => 5400,
            _ => 1000,
        })
    });
    let r = run(
        "c45",
        t0,
        0,
        Duration::from_secs(1100),
        Duration::ZERO,
        contract(4500),
        None,
        script,
    );
    assert_eq!(state_at(&r, t0, 60), (60, "free", None, "quiet", false));
    assert_eq!(chirps(&r, t0), vec![200]);
    assert_eq!(sirens(&r, t0), every(935, 1000, 30));
}

/// 6 kW: over the short limit (7980 W) the siren sounds at once, with no
/// chirp first, and every ALARM_REPEAT_SECONDS until the power falls back.
#[test]
fn contract_6kw_over_the_short_limit_sirens_at_once() {
    let t0 = midnight("2025-01-15") + 18 * 3600;
    let script: Script = Box::new(|now, _| {
        Some(match now.as_secs() {
            100..170 => 8000,
            300..340 => 7000,
            _ => 2000,
        })
    });
    let r = run(
        "c6",
        t0,
        0,
        Duration::from_secs(400),
        Duration::ZERO,
        contract(6000),
        None,
        script,
    );
    assert_eq!(sirens(&r, t0), vec![100, 130, 160]);
    assert_eq!(
        state_at(&r, t0, 100),
        (100, "over", Some(120), "urgent", false)
    );
    // 7000 W is in the tolerated band, but the allowance used at 8 kW has
    // not reset yet (5 minutes free from 170 s): no chirp.
    assert_eq!(state_at(&r, t0, 300).1, "tolerated");
    assert!(chirps(&r, t0).is_empty(), "{:?}", chirps(&r, t0));
}

/// A failed poll is not "below the limit": the warning stays, its siren
/// keeps repeating, the status says stale since the first failed poll.
#[test]
fn contract_a_gap_never_clears_a_warning() {
    let t0 = midnight("2025-01-15") + 18 * 3600;
    let seen = Arc::new(Mutex::new(String::new()));
    let s2 = seen.clone();
    let script: Script = Box::new(move |now, _| {
        if now.as_secs() == 150 {
            *s2.lock().unwrap() = std::fs::read_to_string(status_file("gap")).unwrap();
        }
        match now.as_secs() {
            60..100 => Some(4300),
            100..200 => None,
            _ => Some(1000),
        }
    });
    let r = run(
        "gap",
        t0,
        0,
        Duration::from_secs(300),
        Duration::ZERO,
        contract(3000),
        None,
        script,
    );
    assert_eq!(sirens(&r, t0), vec![60, 90, 120, 150, 180]);
    for s in states(&r, t0).iter().filter(|s| (100..200).contains(&s.0)) {
        assert_eq!((s.1, s.3, s.4), ("over", "urgent", true), "{s:?}");
    }
    assert_eq!(state_at(&r, t0, 200).3, "notice", "readings clear it");
    let status = seen.lock().unwrap().clone();
    for line in [
        "band=over\n".to_string(),
        "warning=urgent\n".to_string(),
        format!("band_stale_since={}\n", t0 + 100),
        "trip_in_seconds=80\n".to_string(),
    ] {
        assert!(status.contains(&line), "{line:?} not in {status}");
    }
}

/// A reload that changes a trip setting reconfigures the running alarm and
/// keeps the overload so far: a longer WARN_BEFORE_SECONDS warns sooner;
/// one that changes nothing of the alarm does not chirp again.
#[test]
fn contract_reload_reconfigures_and_keeps_the_overload() {
    let t0 = midnight("2025-01-15") + 18 * 3600;
    let script: Script = Box::new(|now, _| Some(if now.as_secs() >= 60 { 3600 } else { 1000 }));
    let r = run(
        "creload",
        t0,
        0,
        Duration::from_secs(600),
        Duration::ZERO,
        contract(3000),
        Some((Duration::from_secs(200), |c| {
            c.trip.rules.warn_before_seconds = 300
        })),
        script,
    );
    assert_eq!(chirps(&r, t0), vec![60]);
    assert_eq!(sirens(&r, t0), every(555, 600, 30));
    let same = run(
        "creload-same",
        t0,
        0,
        Duration::from_secs(600),
        Duration::ZERO,
        contract(3000),
        Some((Duration::from_secs(200), |c| c.alarm_watts = 3000)),
        Box::new(|now, _| Some(if now.as_secs() >= 60 { 3600 } else { 1000 })),
    );
    assert_eq!(chirps(&same, t0), vec![60]);
    assert!(sirens(&same, t0).is_empty());
    assert_eq!(state_at(&same, t0, 200).2, state_at(&r, t0, 200).2);
}

/// Without CONTRACT_WATTS the alarm is the single threshold, as before:
/// 3.6 kW for 15 minutes is silent, 4.3 kW sirens at once and every 30 s;
/// no chirp, no trip state, and the status file's band fields are empty.
#[test]
fn no_contract_keeps_the_single_threshold_alarm() {
    let t0 = midnight("2025-01-15") + 18 * 3600;
    let seen = Arc::new(Mutex::new(String::new()));
    let s2 = seen.clone();
    let script: Script = Box::new(move |now, _| {
        if now.as_secs() == 1010 {
            *s2.lock().unwrap() = std::fs::read_to_string(status_file("single")).unwrap();
        }
        Some(match now.as_secs() {
            60..960 => 3600,
            1000..1040 => 4300,
            _ => 1000,
        })
    });
    let r = run(
        "single",
        t0,
        0,
        Duration::from_secs(1100),
        Duration::ZERO,
        |_| {},
        None,
        script,
    );
    assert_eq!(sirens(&r, t0), vec![1000, 1030]);
    assert!(chirps(&r, t0).is_empty());
    assert!(states(&r, t0).is_empty());
    let status = seen.lock().unwrap().clone();
    assert!(
        status.contains("alarm=on\n") || status.contains("alarm=sounding\n"),
        "{status}"
    );
    for line in ["band=\n", "trip_in_seconds=\n", "warning=\n"] {
        assert!(status.contains(line), "{line:?} not in {status}");
    }
}
