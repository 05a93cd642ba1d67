//! `mcce run`: poll the meter on an absolute schedule, append samples to
//! the day file, drive the alarm, publish the status — and keep going
//! through whatever a box in a cupboard meets: a silent meter, garbage,
//! USB unplugs, a full card, clock steps and a clock that starts in 1970.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::adapters::clock::Clock;
use crate::adapters::daylog::DayWriter;
use crate::adapters::instance::InstanceLock;
use crate::adapters::meter::{Meter, PollError};
use crate::adapters::serial::Link;
use crate::adapters::signals::Signals;
use crate::adapters::siren::{Buzzer, BuzzerUnavailable, ChirpShape, Silent, Siren, SirenShape};
use crate::adapters::status::{
    AlarmStatus, ContractStatus, MeterState, Publisher, Recording, Status,
};
use crate::core::alarm::{AlarmState, Policy, PolicyConfig};
use crate::core::config::{Config, ConfigError};
use crate::core::energy::Sample;
use crate::core::schedule::{aligned_origin, next_tick};
use crate::core::space::Space;
use crate::core::space::{Change, SpaceWatch};
use crate::core::trip::{Band, TripSettings, TripState};
use crate::core::warning::{ContractAlarm, Decision, Sound, Urgency};

/// How often the daemon looks at the data partition's free space.
const SPACE_CHECK_EVERY: Duration = Duration::from_secs(60);

/// How the daemon reaches the outside world; tests and the demo swap these.
pub trait Hardware: Send {
    fn open_link(&mut self, cfg: &Config) -> io::Result<Box<dyn Link>>;
    fn buzzer(&mut self, cfg: &Config) -> Result<Box<dyn Buzzer>, BuzzerUnavailable>;
    /// Reads the configuration again (SIGHUP).
    fn reload(&mut self) -> Result<Config, ConfigError>;
    /// Starts the siren's thread; a test refuses it, as a system out of
    /// processes or memory would.
    fn start_thread(&self) -> crate::adapters::siren::Spawn {
        crate::adapters::siren::start_thread
    }
}

/// What happened at a poll, for the demo's screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Reading {
        ts: i64,
        watts: u32,
    },
    NoReading {
        ts: i64,
        why: MeterState,
    },
    Siren {
        ts: i64,
        watts: u32,
    },
    /// Contract mode: a chirp started (the power entered the tolerated band).
    Chirp {
        ts: i64,
        watts: u32,
    },
    /// Contract mode, after every poll: where the meter's trip model stands.
    Contract {
        ts: i64,
        band: Band,
        /// Seconds to the predicted trip if the power stays as it is.
        trip_in: Option<u64>,
        urgency: Urgency,
        /// No reading at this poll: the state is as of the last one.
        stale: bool,
    },
}

/// Sees every poll's outcome (the demo draws them).
pub type Observer = Box<dyn FnMut(&Event) + Send>;

pub struct Daemon {
    pub cfg: Config,
    pub clock: Arc<dyn Clock>,
    pub hw: Box<dyn Hardware>,
    pub signals: Signals,
    /// The locks on RUN_DIR and DATA_DIR, taken before the daemon starts;
    /// a reload moves them with the directories.
    pub lock: InstanceLock,
    /// Samples stamped before this wall time are held back: the clock has
    /// not been set since boot (no RTC on a Pi).
    pub min_wall: i64,
    pub observer: Option<Observer>,
    /// Overrides the siren's sound (tests use a short one).
    pub siren_shape: Option<SirenShape>,
    /// Overrides the chirp's sound.
    pub chirp_shape: Option<ChirpShape>,
}

/// Which alarm decides: the single `ALARM_WATTS` threshold, or with
/// `CONTRACT_WATTS` the meter's trip model (docs/trip.md).
enum Alarm {
    Threshold(Policy),
    Contract(ContractAlarm),
}

impl Alarm {
    fn new(cfg: &Config) -> Alarm {
        match contract_settings(cfg) {
            Some((settings, hold, repeat)) => {
                Alarm::Contract(ContractAlarm::new(settings, hold, repeat))
            }
            None => Alarm::Threshold(Policy::new(policy_config(cfg))),
        }
    }
}

/// One-line-per-episode bookkeeping: say when trouble starts and when it
/// ends, not at every poll.
#[derive(Default)]
struct Episodes {
    silent_since: Option<i64>,
    port_down: bool,
    clock_unset: bool,
    write_failing: bool,
    status_failing: bool,
    /// Whether samples reach the day file, for the status.
    recording: Recording,
}

/// What the loop carries from one poll to the next.
struct Running {
    /// `None` when its thread could not be started: alarms are only logged.
    siren: Option<Siren>,
    alarm: Alarm,
    writer: DayWriter,
    publisher: Publisher,
    meter: Option<Meter<Box<dyn Link>>>,
    episodes: Episodes,
    /// Wait before the next attempt to open a missing port, and when.
    backoff: Duration,
    next_open: Duration,
    last_reading: Option<Sample>,
    /// The wall time and meter state of the latest poll, to publish the
    /// status again at once in a new RUN_DIR.
    last_poll: Option<(i64, MeterState)>,
    /// Polls by outcome since start (`MeterState::ALL` order).
    polls: [u64; 4],
    pid: u32,
    period: Duration,
    origin: Duration,
    tick: Duration,
    space: Option<Space>,
    space_watch: SpaceWatch,
    next_space_check: Duration,
}

impl Daemon {
    pub fn run(mut self) {
        let period = Duration::from_secs(u64::from(self.cfg.poll_seconds));
        let origin = self.origin(period);
        let mut run = Running {
            siren: self.make_siren(),
            alarm: Alarm::new(&self.cfg),
            writer: DayWriter::new(self.cfg.days_dir()),
            publisher: Publisher::new(&self.cfg.run_dir),
            meter: None,
            episodes: Episodes::default(),
            backoff: Duration::from_secs(1),
            next_open: Duration::ZERO,
            last_reading: None,
            last_poll: None,
            polls: [0; 4],
            pid: std::process::id(),
            period,
            origin,
            tick: origin,
            space: None,
            space_watch: SpaceWatch::new(self.cfg.low_space_percent),
            next_space_check: Duration::ZERO,
        };
        log::info!(
            "polling {} every {} s, writing {}",
            self.cfg.port,
            self.cfg.poll_seconds,
            self.cfg.days_dir().display()
        );
        if let Some((settings, _, _)) = contract_settings(&self.cfg) {
            log::info!("contract alarm: {}", describe(&settings));
        }
        while self.wait_for_tick(&mut run) {
            let wall = self.clock.wall();
            let meter_state = self.poll(&mut run, wall);
            self.check_space(&mut run);
            self.publish(&mut run, wall, meter_state);
            run.tick = next_tick(run.origin, run.period, self.clock.mono());
        }
        log::info!("stopping");
        run.writer.close();
        run.publisher.remove();
        // Dropping the siren joins its thread with both lines low.
    }

    /// Sleeps until the next tick, handling SIGHUP on the way; false when
    /// a stop was requested.
    fn wait_for_tick(&mut self, run: &mut Running) -> bool {
        loop {
            if self.signals.stop_requested() {
                return false;
            }
            if self.signals.take_reload() {
                self.reload(run);
            }
            if self.clock.mono() >= run.tick {
                return true;
            }
            let signals = &self.signals;
            self.clock.sleep_until(run.tick, &|d| signals.nap(d));
        }
    }

    /// SIGHUP: reread the configuration (refused when broken, or when its
    /// directories are another daemon's), then reopen the port and the day
    /// file either way. The status file stays where it is, or moves with
    /// RUN_DIR at once: `mcce status` never finds the daemon gone.
    fn reload(&mut self, run: &mut Running) {
        let reloaded = self.hw.reload().map_err(|e| e.to_string()).and_then(|new| {
            // The new directories are locked before anything moves to them.
            let old_locks = self.lock.switch(&new).map_err(|e| e.to_string())?;
            Ok((new, old_locks))
        });
        match reloaded {
            Ok((new, old_locks)) => {
                log::info!("configuration reloaded; reopening port and day file");
                let old = std::mem::replace(&mut self.cfg, new);
                self.reload_alarm(&old, run);
                if old.buzzer != self.cfg.buzzer || run.siren.is_none() {
                    // The old siren lowers its lines as it is dropped.
                    run.siren = None;
                    run.siren = self.make_siren();
                }
                if old.poll_seconds != self.cfg.poll_seconds {
                    run.period = Duration::from_secs(u64::from(self.cfg.poll_seconds));
                    run.origin = self.origin(run.period);
                    run.tick = run.origin;
                }
                if old.run_dir != self.cfg.run_dir {
                    self.move_status(run, &old.run_dir);
                }
                // Only now may another daemon take the directories left.
                drop(old_locks);
            }
            Err(e) => log::error!("reload refused, keeping the running configuration: {e}"),
        }
        run.space_watch.set_percent(self.cfg.low_space_percent);
        run.next_space_check = Duration::ZERO;
        run.writer.close();
        run.writer = DayWriter::new(self.cfg.days_dir());
        run.meter = None;
        run.next_open = Duration::ZERO;
        run.backoff = Duration::from_secs(1);
    }

    /// RUN_DIR changed: the latest status is written in the new one before
    /// the old file goes (unless both name the same directory).
    fn move_status(&self, run: &mut Running, old_dir: &std::path::Path) {
        let old = std::mem::replace(&mut run.publisher, Publisher::new(&self.cfg.run_dir));
        if let Some((wall, meter)) = run.last_poll {
            let status = self.status(run, wall, meter);
            self.write_status(run, &status);
        }
        if !same_dir(old_dir, &self.cfg.run_dir) {
            let mut old = old;
            old.remove();
        }
    }

    /// Keeps the alarm's state through a reload that leaves its settings
    /// alone; a changed setting (the settings compared as a whole)
    /// reconfigures it, a change of mode starts the new one afresh.
    fn reload_alarm(&self, old: &Config, run: &mut Running) {
        let new = &self.cfg;
        match (&mut run.alarm, contract_settings(new)) {
            (Alarm::Contract(a), Some((settings, hold, repeat))) => {
                if contract_settings(old) != contract_settings(new) {
                    log::info!(
                        "contract alarm reconfigured: {}; the overload so far is kept",
                        describe(&settings)
                    );
                    a.reconfigure(settings, hold, repeat);
                }
            }
            (Alarm::Threshold(_), None) => {
                if policy_config(old) != policy_config(new) {
                    run.alarm = Alarm::new(new);
                }
            }
            (_, Some((settings, _, _))) => {
                log::info!("contract alarm on: {}", describe(&settings));
                run.alarm = Alarm::new(new);
            }
            (_, None) => {
                log::info!(
                    "contract alarm off: single threshold at {} W",
                    new.alarm_watts
                );
                run.alarm = Alarm::new(new);
            }
        }
    }

    /// Opens the port if it is closed and its backoff has passed.
    fn open_port(&mut self, run: &mut Running, now: Duration) {
        if run.meter.is_some() || now < run.next_open {
            return;
        }
        match self.hw.open_link(&self.cfg) {
            Ok(link) => {
                if run.episodes.port_down {
                    log::info!("{}: meter port is back", self.cfg.port);
                } else {
                    log::info!("{}: port open", self.cfg.port);
                }
                run.episodes.port_down = false;
                run.backoff = Duration::from_secs(1);
                run.meter = Some(Meter::new(link, self.cfg.protocol.protocol()));
            }
            Err(e) => {
                if !run.episodes.port_down {
                    log::error!(
                        "{}: cannot open the meter's port: {e}; retrying with backoff up to 60 s",
                        self.cfg.port
                    );
                }
                run.episodes.port_down = true;
                run.next_open = now + run.backoff;
                run.backoff = (run.backoff * 2).min(Duration::from_secs(60));
            }
        }
    }

    /// One poll: read, record, alarm. Returns the meter's state for status.
    fn poll(&mut self, run: &mut Running, wall: i64) -> MeterState {
        let now = self.clock.mono();
        self.open_port(run, now);
        let Some(m) = run.meter.as_mut() else {
            self.emit(Event::NoReading {
                ts: wall,
                why: MeterState::Unplugged,
            });
            self.contract_no_reading(run, now, wall);
            return MeterState::Unplugged;
        };
        let timeout = Duration::from_millis(u64::from(self.cfg.reply_timeout_ms));
        match m.poll(timeout, &self.signals.stop) {
            Ok(w) => self.on_reading(run, now, wall, w),
            Err(PollError::NoFrame) => {
                if run.episodes.silent_since.is_none() {
                    log::warn!(
                        "{}: meter silent (no complete frame within {} ms); nothing is recorded until it answers",
                        self.cfg.port,
                        self.cfg.reply_timeout_ms
                    );
                    run.episodes.silent_since = Some(wall);
                }
                self.emit(Event::NoReading {
                    ts: wall,
                    why: MeterState::Silent,
                });
                self.contract_no_reading(run, now, wall);
                MeterState::Silent
            }
            Err(PollError::Lost(e)) => {
                log::error!(
                    "{}: meter port lost ({e}): unplugged? reopening",
                    self.cfg.port
                );
                run.meter = None;
                run.episodes.port_down = true;
                run.next_open = now;
                self.emit(Event::NoReading {
                    ts: wall,
                    why: MeterState::Unplugged,
                });
                self.contract_no_reading(run, now, wall);
                MeterState::Unplugged
            }
        }
    }

    /// A good reading: record it, feed the alarm.
    fn on_reading(&mut self, run: &mut Running, now: Duration, wall: i64, w: u32) -> MeterState {
        if let Some(since) = run.episodes.silent_since.take() {
            log::info!("meter answers again after {} s", wall - since);
        }
        let held = self.record(&mut run.writer, &mut run.episodes, wall, w);
        run.last_reading = Some(Sample { ts: wall, watts: w });
        self.emit(Event::Reading { ts: wall, watts: w });
        match &mut run.alarm {
            Alarm::Threshold(policy) => {
                if policy.observe(now, w) {
                    if run.siren.as_ref().is_none_or(Siren::trigger) {
                        log::warn!(
                            "power {w} W is at or above the cap of {} W: sounding the alarm",
                            self.cfg.alarm_watts
                        );
                    }
                    self.emit(Event::Siren { ts: wall, watts: w });
                }
            }
            Alarm::Contract(a) => {
                let (before, prev) = (*a.state(), a.urgency());
                let decision = a.observe(now, w);
                let after = *a.state();
                let settings = *a.settings();
                log_contract_step(&settings, (&before, prev), &after, &decision, Some(w));
                self.sound(run, &decision, wall, w);
                self.emit_contract(run, wall);
            }
        }
        if held {
            MeterState::ClockUnset
        } else {
            MeterState::Ok
        }
    }

    /// Contract mode, a failed poll: the model keeps its state, marked
    /// stale; a warning stays and its siren keeps repeating.
    fn contract_no_reading(&mut self, run: &mut Running, now: Duration, wall: i64) {
        let Alarm::Contract(a) = &mut run.alarm else {
            return;
        };
        let (before, prev) = (*a.state(), a.urgency());
        let decision = a.no_reading(now);
        let after = *a.state();
        let settings = *a.settings();
        log_contract_step(&settings, (&before, prev), &after, &decision, None);
        let watts = after.last.map_or(0, |r| r.watts);
        self.sound(run, &decision, wall, watts);
        self.emit_contract(run, wall);
    }

    /// Plays what the contract alarm decided on the buzzer's one thread.
    fn sound(&mut self, run: &mut Running, decision: &Decision, wall: i64, watts: u32) {
        match decision.sound {
            Some(Sound::Siren) => {
                if run.siren.as_ref().is_none_or(Siren::trigger) {
                    log::warn!("sounding the siren ({watts} W)");
                }
                self.emit(Event::Siren { ts: wall, watts });
            }
            Some(Sound::Chirp) => {
                if run.siren.as_ref().is_none_or(Siren::chirp) {
                    log::info!("chirp: {watts} W is over the free band");
                }
                self.emit(Event::Chirp { ts: wall, watts });
            }
            None => {}
        }
    }

    fn emit_contract(&mut self, run: &Running, wall: i64) {
        let Alarm::Contract(a) = &run.alarm else {
            return;
        };
        let s = a.state();
        let e = Event::Contract {
            ts: wall,
            band: s.band,
            trip_in: s.trip_in.map(|d| d.as_secs()),
            urgency: a.urgency(),
            stale: s.stale_since.is_some(),
        };
        self.emit(e);
    }

    /// Looks at DATA_DIR's free space now and then; one line when it falls
    /// below LOW_SPACE_PERCENT, one when it is back.
    fn check_space(&self, run: &mut Running) {
        let now = self.clock.mono();
        if now < run.next_space_check {
            return;
        }
        run.next_space_check = now + SPACE_CHECK_EVERY;
        run.space = crate::adapters::sys::space(&self.cfg.data_dir).ok();
        let Some(sp) = run.space else { return };
        // The text is built only for the rare minute that logs a change.
        let Some(change) = run.space_watch.observe(sp.free, sp.total) else {
            return;
        };
        let dir = self.cfg.data_dir.display();
        let amount = format!(
            "{} free ({} of {})",
            crate::core::space::percent_label(sp.free, sp.total),
            crate::core::space::bytes_label(sp.free),
            crate::core::space::bytes_label(sp.total)
        );
        match change {
            Change::Low => log::warn!(
                "{dir}: free space is low: {amount}, below LOW_SPACE_PERCENT={}; samples stop when it is full",
                self.cfg.low_space_percent
            ),
            Change::Recovered => log::info!("{dir}: free space is back: {amount}"),
        }
    }

    /// Rewrites RUN_DIR/status for `mcce status` after a poll.
    fn publish(&self, run: &mut Running, wall: i64, meter: MeterState) {
        if let Some(i) = MeterState::ALL.iter().position(|m| *m == meter) {
            run.polls[i] += 1;
        }
        run.last_poll = Some((wall, meter));
        let status = self.status(run, wall, meter);
        self.write_status(run, &status);
    }

    /// The status as of the poll at `wall`.
    fn status(&self, run: &Running, wall: i64, meter: MeterState) -> Status {
        let sounding = run.siren.as_ref().is_some_and(Siren::is_sounding);
        Status {
            pid: run.pid,
            updated: wall,
            last_reading: run.last_reading,
            meter,
            alarm: match &run.alarm {
                Alarm::Threshold(p) => alarm_status(p.state(), sounding),
                Alarm::Contract(a) => match a.urgency() {
                    Urgency::Urgent if sounding => AlarmStatus::Sounding,
                    Urgency::Urgent => AlarmStatus::On,
                    _ => AlarmStatus::Off,
                },
            },
            contract: match &run.alarm {
                Alarm::Threshold(_) => None,
                Alarm::Contract(a) => Some(contract_status(
                    a.state(),
                    a.urgency(),
                    self.clock.mono(),
                    wall,
                )),
            },
            recording: run.episodes.recording.clone(),
            space: run.space,
            polls: Some(run.polls),
        }
    }

    fn write_status(&self, run: &mut Running, status: &Status) {
        match run.publisher.publish(status) {
            Ok(()) => run.episodes.status_failing = false,
            Err(e) => {
                if !run.episodes.status_failing {
                    log::warn!(
                        "{}: cannot publish status ({e}); `mcce status` will not see this daemon",
                        self.cfg.run_dir.display()
                    );
                }
                run.episodes.status_failing = true;
            }
        }
    }

    fn origin(&self, period: Duration) -> Duration {
        aligned_origin(self.clock.mono(), self.clock.wall_ms(), period)
    }

    /// The buzzer's thread; `None`, logged, when the system cannot start
    /// one: the daemon records and logs its alarms all the same, and a
    /// reload tries again.
    fn make_siren(&mut self) -> Option<Siren> {
        let buzzer: Box<dyn Buzzer> = match self.hw.buzzer(&self.cfg) {
            Ok(b) => b,
            Err(e) => {
                log::error!("buzzer unavailable, alarms will only be logged: {e}");
                Box::new(Silent)
            }
        };
        let shape = self.siren_shape.unwrap_or_else(|| {
            SirenShape::new(Duration::from_secs(u64::from(
                self.cfg.buzzer.siren_seconds,
            )))
        });
        let chirp = self.chirp_shape.unwrap_or_default();
        match Siren::spawn_with(buzzer, shape, chirp, self.hw.start_thread()) {
            Ok(siren) => Some(siren),
            Err(e) => {
                log::error!(
                    "cannot start the buzzer's thread ({e}): alarms will only be logged; a reload (SIGHUP) tries again"
                );
                None
            }
        }
    }

    /// Writes a sample unless the wall clock is not yet believable; true
    /// when the sample was held back for that reason.
    fn record(
        &mut self,
        writer: &mut DayWriter,
        episodes: &mut Episodes,
        wall: i64,
        watts: u32,
    ) -> bool {
        if wall < self.min_wall {
            if !episodes.clock_unset {
                log::warn!(
                    "wall clock reads {} (before this build): samples are not recorded until the clock is set (NTP)",
                    crate::adapters::localtime::iso8601(wall)
                );
                episodes.clock_unset = true;
            }
            if !matches!(episodes.recording, Recording::Held { .. }) {
                episodes.recording = Recording::Held { since: wall };
            }
            return true;
        }
        if episodes.clock_unset {
            log::info!(
                "wall clock is set ({}): recording",
                crate::adapters::localtime::iso8601(wall)
            );
            episodes.clock_unset = false;
        }
        match writer.append(Sample { ts: wall, watts }) {
            Ok(()) => {
                if episodes.write_failing {
                    log::info!("{}: writing samples again", self.cfg.days_dir().display());
                    episodes.write_failing = false;
                }
                episodes.recording = Recording::Ok;
            }
            Err(e) => {
                if !episodes.write_failing {
                    log::error!(
                        "{}: cannot write a sample: {e}; samples are lost until writing works again",
                        self.cfg.days_dir().display()
                    );
                    episodes.write_failing = true;
                }
                if !matches!(episodes.recording, Recording::Failing { .. }) {
                    episodes.recording = Recording::Failing {
                        since: wall,
                        error: crate::adapters::status::error_text(&e),
                    };
                }
            }
        }
        false
    }

    fn emit(&mut self, e: Event) {
        if let Some(o) = self.observer.as_mut() {
            o(&e);
        }
    }
}

fn alarm_status(state: AlarmState, sounding: bool) -> AlarmStatus {
    match state {
        AlarmState::Idle => AlarmStatus::Off,
        AlarmState::Pending { .. } => AlarmStatus::Pending,
        AlarmState::Active { .. } if sounding => AlarmStatus::Sounding,
        AlarmState::Active { .. } => AlarmStatus::On,
    }
}

/// The contract alarm's settings, `MAX_GAP_SECONDS` and
/// `ALARM_REPEAT_SECONDS`; `None` in single-threshold mode.
fn contract_settings(cfg: &Config) -> Option<(TripSettings, Duration, Duration)> {
    cfg.trip.settings().map(|s| {
        (
            s,
            Duration::from_secs(u64::from(cfg.max_gap_seconds)),
            Duration::from_secs(u64::from(cfg.alarm_repeat_seconds)),
        )
    })
}

/// True when both paths name one directory (or neither exists).
fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    id(a) == id(b)
}

/// The bands in one phrase, for the log.
fn describe(s: &TripSettings) -> String {
    format!(
        "{} W contract, free up to {} W, tolerated up to {} W, warning {} s before the predicted trip",
        s.contract_watts,
        s.free_limit_watts(),
        s.short_limit_watts(),
        s.rules.warn_before_seconds
    )
}

/// `~95 s`, `~13 min`: how far a predicted trip is.
pub fn trip_label(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("~{s} s")
    } else {
        format!("~{} min", (s + 30) / 60)
    }
}

/// One log line per step of the contract alarm: a band entered or left,
/// a warning started or ended, the allowance reset, readings lost and back.
fn log_contract_step(
    settings: &TripSettings,
    (before, prev): (&TripState, Urgency),
    after: &TripState,
    decision: &Decision,
    watts: Option<u32>,
) {
    let trip = after
        .trip_in
        .map(|d| format!("; trip in {} if nothing is switched off", trip_label(d)))
        .unwrap_or_default();
    match watts {
        None => {
            if before.stale_since.is_none() && after.stale_since.is_some() {
                log::warn!(
                    "no reading: the contract alarm keeps the {} band and its {} state until readings come back",
                    after.band.name(),
                    decision.urgency.name()
                );
            }
        }
        Some(w) => {
            if before.stale_since.is_some() {
                log::info!("readings are back: {w} W, {} band", after.band.name());
            }
            if before.band != after.band {
                match after.band {
                    Band::Free => log::info!(
                        "{w} W: back in the free band (up to {} W); the overload allowance resets after {} s there",
                        settings.free_limit_watts(),
                        settings.rules.reset_after_seconds
                    ),
                    Band::Tolerated => log::info!(
                        "{w} W: tolerated band ({}-{} W){trip}",
                        settings.free_limit_watts() + 1,
                        settings.short_limit_watts()
                    ),
                    Band::Over => log::warn!(
                        "{w} W: over the short limit of {} W{trip}",
                        settings.short_limit_watts()
                    ),
                }
            }
        }
    }
    if decision.changed {
        match decision.urgency {
            Urgency::Urgent => log::warn!("warning: the meter is about to trip{trip}"),
            Urgency::Notice if prev == Urgency::Urgent => {
                log::info!("warning over: {} band{trip}", after.band.name())
            }
            Urgency::Notice => {}
            Urgency::Quiet => log::info!("back to free: the overload allowance has reset"),
        }
    }
}

/// The contract alarm's state for the status file, in wall time.
fn contract_status(
    state: &TripState,
    urgency: Urgency,
    now: Duration,
    wall: i64,
) -> ContractStatus {
    let to_wall = |t: Duration| wall - now.saturating_sub(t).as_secs() as i64;
    ContractStatus {
        band: state.band,
        band_since: to_wall(state.band_since),
        trip_in_seconds: state.trip_in.map(|d| d.as_secs()),
        warning: urgency,
        stale_since: state.stale_since.map(to_wall),
    }
}

fn policy_config(cfg: &Config) -> PolicyConfig {
    PolicyConfig {
        cap_watts: cfg.alarm_watts,
        hysteresis_watts: cfg.alarm_hysteresis_watts,
        delay: Duration::from_secs(u64::from(cfg.alarm_delay_seconds)),
        repeat: Duration::from_secs(u64::from(cfg.alarm_repeat_seconds)),
    }
}

/// The earliest wall time the daemon believes: when this binary was built.
pub fn build_epoch() -> i64 {
    env!("MCCE_BUILD_EPOCH").parse().unwrap_or(0)
}
