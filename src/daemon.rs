//! `mcce run`: poll the meter on an absolute schedule, append samples to
//! the day file, drive the alarm, publish the status — and keep going
//! through whatever a box in a cupboard meets: a silent meter, garbage,
//! USB unplugs, a full card, clock steps and a clock that starts in 1970.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::alarm::{AlarmState, Buzzer, Policy, PolicyConfig, Silent, Siren, SirenShape};
use crate::clock::{Clock, aligned_origin, next_tick};
use crate::config::{Config, ConfigError};
use crate::daylog::{DayWriter, Sample};
use crate::meter::{Link, Meter, PollError};
pub use crate::signals::Signals;
use crate::status::{Publisher, Status};

/// How the daemon reaches the outside world; tests and the demo swap these.
pub trait Hardware: Send {
    fn open_link(&mut self, cfg: &Config) -> io::Result<Box<dyn Link>>;
    fn buzzer(&mut self, cfg: &Config) -> Result<Box<dyn Buzzer>, String>;
    /// Reads the configuration again (SIGHUP).
    fn reload(&mut self) -> Result<Config, ConfigError>;
}

/// What happened at a poll, for the demo's screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Reading { ts: i64, watts: u32 },
    NoReading { ts: i64, why: String },
    Siren { ts: i64, watts: u32 },
}

/// Sees every poll's outcome (the demo draws them).
pub type Observer = Box<dyn FnMut(&Event) + Send>;

pub struct Daemon {
    pub cfg: Config,
    pub clock: Arc<dyn Clock>,
    pub hw: Box<dyn Hardware>,
    pub signals: Signals,
    /// Samples stamped before this wall time are held back: the clock has
    /// not been set since boot (no RTC on a Pi).
    pub min_wall: i64,
    pub observer: Option<Observer>,
    /// Overrides the siren's sound (tests use a short one).
    pub siren_shape: Option<SirenShape>,
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
}

impl Daemon {
    pub fn run(mut self) {
        let mut siren = self.make_siren();
        let mut policy = Policy::new(policy_config(&self.cfg));
        let mut writer = DayWriter::new(self.cfg.days_dir());
        let mut publisher = Publisher::new(&self.cfg.run_dir);
        let pid = std::process::id();
        let mut meter: Option<Meter<Box<dyn Link>>> = None;
        let mut ep = Episodes::default();
        let mut backoff = Duration::from_secs(1);
        let mut next_open = Duration::ZERO;
        let mut last_reading: Option<(i64, u32)> = None;
        let mut period = Duration::from_secs(u64::from(self.cfg.poll_seconds));
        let mut origin = self.origin(period);
        let mut tick = origin;
        log::info!(
            "polling {} every {} s, writing {}",
            self.cfg.port,
            self.cfg.poll_seconds,
            self.cfg.days_dir().display()
        );

        loop {
            // Wait for the tick, waking often enough to honour signals.
            loop {
                if self.signals.stop_requested() {
                    log::info!("stopping");
                    writer.close();
                    drop(siren);
                    publisher.remove();
                    return;
                }
                if self.signals.take_reload() {
                    match self.hw.reload() {
                        Ok(new) => {
                            log::info!("configuration reloaded; reopening port and day file");
                            let buzzer_changed = new.buzzer != self.cfg.buzzer
                                || new.buzzer_enable_gpio != self.cfg.buzzer_enable_gpio
                                || new.buzzer_tone_gpio != self.cfg.buzzer_tone_gpio
                                || new.buzzer_gpio_chip != self.cfg.buzzer_gpio_chip
                                || new.alarm_siren_seconds != self.cfg.alarm_siren_seconds;
                            let poll_changed = new.poll_seconds != self.cfg.poll_seconds;
                            if policy_config(&new) != policy_config(&self.cfg) {
                                policy = Policy::new(policy_config(&new));
                            }
                            self.cfg = new;
                            if buzzer_changed {
                                drop(siren);
                                siren = self.make_siren();
                            }
                            if poll_changed {
                                period = Duration::from_secs(u64::from(self.cfg.poll_seconds));
                                origin = self.origin(period);
                                tick = origin;
                            }
                        }
                        Err(e) => {
                            log::error!("reload refused, keeping the running configuration: {e}")
                        }
                    }
                    writer.close();
                    writer = DayWriter::new(self.cfg.days_dir());
                    publisher.remove();
                    publisher = Publisher::new(&self.cfg.run_dir);
                    meter = None;
                    next_open = Duration::ZERO;
                    backoff = Duration::from_secs(1);
                }
                if self.clock.mono() >= tick {
                    break;
                }
                let signals = &self.signals;
                self.clock.sleep_until(tick, &|d| signals.nap(d));
            }

            let now = self.clock.mono();
            if meter.is_none() && now >= next_open {
                match self.hw.open_link(&self.cfg) {
                    Ok(link) => {
                        if ep.port_down {
                            log::info!("{}: meter port is back", self.cfg.port);
                        } else {
                            log::info!("{}: port open", self.cfg.port);
                        }
                        ep.port_down = false;
                        backoff = Duration::from_secs(1);
                        meter = Some(Meter::new(link));
                    }
                    Err(e) => {
                        if !ep.port_down {
                            log::error!(
                                "{}: cannot open the meter's port: {e}; retrying with backoff up to 60 s",
                                self.cfg.port
                            );
                        }
                        ep.port_down = true;
                        next_open = now + backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                }
            }

            let wall = self.clock.wall();
            let meter_state;
            if let Some(m) = meter.as_mut() {
                let timeout = Duration::from_millis(u64::from(self.cfg.reply_timeout_ms));
                match m.poll(timeout, &self.signals.stop) {
                    Ok(w) => {
                        if let Some(since) = ep.silent_since.take() {
                            log::info!("meter answers again after {} s", wall - since);
                        }
                        let held = self.record(&mut writer, &mut ep, wall, w);
                        meter_state = if held { "clock-unset" } else { "ok" };
                        last_reading = Some((wall, w));
                        self.emit(Event::Reading { ts: wall, watts: w });
                        if policy.observe(now, w) {
                            if siren.trigger() {
                                log::warn!(
                                    "power {w} W is at or above the cap of {} W: sounding the alarm",
                                    self.cfg.alarm_watts
                                );
                            }
                            self.emit(Event::Siren { ts: wall, watts: w });
                        }
                    }
                    Err(PollError::NoFrame) => {
                        if ep.silent_since.is_none() {
                            log::warn!(
                                "{}: meter silent (no complete frame within {} ms); nothing is recorded until it answers",
                                self.cfg.port,
                                self.cfg.reply_timeout_ms
                            );
                            ep.silent_since = Some(wall);
                        }
                        meter_state = "silent";
                        self.emit(Event::NoReading {
                            ts: wall,
                            why: "silent".into(),
                        });
                    }
                    Err(PollError::Lost(e)) => {
                        log::error!(
                            "{}: meter port lost ({e}): unplugged? reopening",
                            self.cfg.port
                        );
                        meter = None;
                        ep.port_down = true;
                        next_open = now;
                        meter_state = "unplugged";
                        self.emit(Event::NoReading {
                            ts: wall,
                            why: "unplugged".into(),
                        });
                    }
                }
            } else {
                meter_state = "unplugged";
                self.emit(Event::NoReading {
                    ts: wall,
                    why: "unplugged".into(),
                });
            }

            let status = Status {
                pid,
                updated: wall,
                last_reading,
                meter: meter_state.into(),
                alarm: alarm_label(policy.state(), &siren).into(),
            };
            if let Err(e) = publisher.publish(&status) {
                if !ep.status_failing {
                    log::warn!(
                        "{}: cannot publish status ({e}); `mcce status` will not see this daemon",
                        self.cfg.run_dir.display()
                    );
                }
                ep.status_failing = true;
            } else {
                ep.status_failing = false;
            }
            tick = next_tick(origin, period, self.clock.mono());
        }
    }

    fn origin(&self, period: Duration) -> Duration {
        aligned_origin(self.clock.mono(), self.clock.wall_ms(), period)
    }

    fn make_siren(&mut self) -> Siren {
        let buzzer: Box<dyn Buzzer> = match self.hw.buzzer(&self.cfg) {
            Ok(b) => b,
            Err(e) => {
                log::error!("buzzer unavailable, alarms will only be logged: {e}");
                Box::new(Silent)
            }
        };
        let shape = self.siren_shape.unwrap_or_else(|| {
            SirenShape::new(Duration::from_secs(u64::from(self.cfg.alarm_siren_seconds)))
        });
        Siren::spawn(buzzer, shape)
    }

    /// Writes a sample unless the wall clock is not yet believable; true
    /// when the sample was held back for that reason.
    fn record(&mut self, writer: &mut DayWriter, ep: &mut Episodes, wall: i64, watts: u32) -> bool {
        if wall < self.min_wall {
            if !ep.clock_unset {
                log::warn!(
                    "wall clock reads {} (before this build): samples are not recorded until the clock is set (NTP)",
                    crate::localtime::iso8601(wall)
                );
                ep.clock_unset = true;
            }
            return true;
        }
        if ep.clock_unset {
            log::info!(
                "wall clock is set ({}): recording",
                crate::localtime::iso8601(wall)
            );
            ep.clock_unset = false;
        }
        match writer.append(Sample { ts: wall, watts }) {
            Ok(()) => {
                if ep.write_failing {
                    log::info!("{}: writing samples again", self.cfg.days_dir().display());
                    ep.write_failing = false;
                }
            }
            Err(e) => {
                if !ep.write_failing {
                    log::error!(
                        "{}: cannot write a sample: {e}; samples are lost until writing works again",
                        self.cfg.days_dir().display()
                    );
                    ep.write_failing = true;
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

fn alarm_label(state: AlarmState, siren: &Siren) -> &'static str {
    match state {
        AlarmState::Idle => "off",
        AlarmState::Pending { .. } => "pending",
        AlarmState::Active { .. } if siren.is_sounding() => "sounding",
        AlarmState::Active { .. } => "on",
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
