//! What each command does, wired to the real machine: config file, logger,
//! signals, serial port and GPIO.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::alarm::{Buzzer, Silent, Siren, SirenShape};
use crate::cli::{Command, GpioAction, SimArgs};
use crate::clock::{Clock, RealClock, ScaledClock, system_wall};
use crate::config::{BuzzerKind, Config, ConfigError, DEFAULT_PATH};
use crate::daemon::{Daemon, Hardware, Signals, build_epoch};
use crate::exit::{self, Failure, Outcome};
use crate::frame;
use crate::gpio;
use crate::localtime;
use crate::meter::{self, Link, Meter, PollError};
use crate::sim::{Profile, Sim, SimOptions};
use crate::status::{Recording, Status};

pub fn execute(cmd: Command) -> Outcome {
    match cmd {
        Command::Help(text) => {
            crate::out!("{text}");
            Ok(())
        }
        Command::Version => {
            crate::outln!("mcce {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Decode { hex } => decode(hex),
        Command::Sim(args) => sim(args),
        Command::Run { config } => run(config),
        Command::Read { config } => read(config),
        Command::Status { config } => status(config),
        Command::Beep { config, seconds } => beep(config, seconds),
        Command::Gpio { config, action } => gpio_cmd(config, action),
        Command::Demo(args) => crate::demo::demo(args),
        Command::Digest { config, date } => {
            let cfg = load_config(config.as_deref())?;
            crate::digest::digest(&cfg, date, system_wall())
        }
        Command::Export(a) => {
            let cfg = load_config(a.config.as_deref())?;
            let today = crate::digest::today();
            let from = a.from.or_else(|| earliest(&cfg)).unwrap_or(today);
            let to = a.to.unwrap_or(today);
            crate::export::export(
                &cfg,
                from,
                to,
                a.resolution,
                a.format,
                &mut crate::output::Stdout::lock(),
            )
        }
        Command::Report { config, period } => {
            let cfg = load_config(config.as_deref())?;
            let today = crate::digest::today();
            let period = period.unwrap_or(crate::report::Period::Month(
                today.year(),
                u8::from(today.month()),
            ));
            crate::report::report(&cfg, period)
        }
    }
}

/// The first day with data: the oldest day file or yearly database.
fn earliest(cfg: &Config) -> Option<time::Date> {
    let first_file = crate::daylog::list_days(&cfg.days_dir())
        .ok()?
        .into_iter()
        .next();
    let first_db = (2000..=2099)
        .find(|y| cfg.database_for_year(*y).exists())
        .and_then(|y| time::Date::from_calendar_date(y, time::Month::January, 1).ok());
    match (first_file, first_db) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Loads the config: an explicit `-c FILE` must exist; the default path may
/// be absent (a dev box runs on defaults).
pub fn load_config(path: Option<&Path>) -> Result<Config, Failure> {
    Ok(match path {
        Some(p) => Config::load(p, true)?,
        None => Config::load(Path::new(DEFAULT_PATH), false)?,
    })
}

/// Plain `LEVEL: message` lines on stderr: the init script hands them to
/// syslog, which adds time and tag. `RUST_LOG` overrides `LOG_LEVEL`.
pub fn init_logger(level: &str) {
    let env = env_logger::Env::default().default_filter_or(level);
    let _ = env_logger::Builder::from_env(env)
        .format(|buf, record| writeln!(buf, "{}: {}", record.level(), record.args()))
        .try_init();
}

fn decode(hex: bool) -> Outcome {
    let mut input = Vec::new();
    io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Failure::new(exit::IOERR, format!("stdin: {e}")))?;
    let bytes = if hex {
        let text = String::from_utf8_lossy(&input);
        frame::parse_hex(&text).map_err(|e| Failure::new(exit::DATAERR, format!("stdin: {e}")))?
    } else {
        input
    };
    let readings = frame::decode_all(&bytes);
    let mut out = crate::output::Stdout::lock();
    for w in &readings {
        writeln!(out, "{w}").map_err(crate::output::failure)?;
    }
    if readings.is_empty() {
        return Err(Failure::new(
            exit::FAILURE,
            format!("no complete frame in {} bytes", bytes.len()),
        ));
    }
    Ok(())
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

fn sim(a: SimArgs) -> Outcome {
    init_logger("info");
    let signals = signal_flags()?;
    let clock: Arc<dyn Clock> = match a.start {
        None if a.speed == 1.0 => Arc::new(RealClock::new()),
        start => {
            let now = system_wall();
            let at = match start {
                Some(sec) => {
                    let today = localtime::local_day_start(localtime::local_date(now));
                    today + i64::from(sec)
                }
                None => now,
            };
            Arc::new(ScaledClock::new(at, a.speed))
        }
    };
    let opts = SimOptions {
        profile: Profile { seed: a.seed },
        mode: a.mode,
        noise: a.noise,
        split: a.split,
        silence: a.silence,
        hangup: a.hangup,
        link: a.link.clone(),
    };
    let sim = Sim::start(opts, clock).map_err(|e| {
        Failure::new(
            exit::CANTCREAT,
            format!("cannot create the simulated meter: {e}"),
        )
    })?;
    crate::outln!("{}", sim.path().display());
    let _ = io::stdout().flush();
    while !signals.stop_requested() {
        signals.nap(Duration::from_secs(3600));
    }
    Ok(())
}

/// The real machine for the daemon.
pub struct RealHardware {
    pub config_path: Option<PathBuf>,
}

pub fn open_buzzer(cfg: &Config) -> Result<Box<dyn Buzzer>, String> {
    match cfg.buzzer {
        BuzzerKind::None => Ok(Box::new(Silent)),
        BuzzerKind::Gpio => {
            let (en, tone) = gpio::resolve_lines(
                &cfg.buzzer_gpio_chip,
                cfg.buzzer_enable_gpio,
                cfg.buzzer_tone_gpio,
            )?;
            Ok(Box::new(gpio::SysfsBuzzer::open(en, tone)?))
        }
    }
}

impl Hardware for RealHardware {
    fn open_link(&mut self, cfg: &Config) -> io::Result<Box<dyn Link>> {
        Ok(Box::new(meter::open_port(&cfg.port, cfg.baud)?))
    }
    fn buzzer(&mut self, cfg: &Config) -> Result<Box<dyn Buzzer>, String> {
        open_buzzer(cfg)
    }
    fn reload(&mut self) -> Result<Config, ConfigError> {
        match &self.config_path {
            Some(p) => Config::load(p, true),
            None => Config::load(Path::new(DEFAULT_PATH), false),
        }
    }
}

fn run(config: Option<PathBuf>) -> Outcome {
    let cfg = load_config(config.as_deref())?;
    let _lock = crate::daemon::lock_instance(&cfg)?;
    init_logger(&cfg.log_level);
    gpio::install_panic_guard();
    let signals = signal_flags()?;
    log::info!("mcce {} starting", env!("CARGO_PKG_VERSION"));
    Daemon {
        cfg,
        clock: Arc::new(RealClock::new()),
        hw: Box::new(RealHardware {
            config_path: config,
        }),
        signals,
        min_wall: build_epoch(),
        observer: None,
        siren_shape: None,
    }
    .run();
    Ok(())
}

fn read(config: Option<PathBuf>) -> Outcome {
    let cfg = load_config(config.as_deref())?;
    init_logger("warn");
    let port = meter::open_port(&cfg.port, cfg.baud).map_err(|e| {
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
    let mut m = Meter::new(port);
    let timeout = Duration::from_millis(u64::from(cfg.reply_timeout_ms));
    let never = AtomicBool::new(false);
    let mut last = PollError::NoFrame;
    for _ in 0..3 {
        match m.poll(timeout, &never) {
            Ok(w) => {
                crate::outln!("{w} W");
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

fn status(config: Option<PathBuf>) -> Outcome {
    let cfg = load_config(config.as_deref())?;
    let p = crate::status::path(&cfg.run_dir);
    let st = Status::read(&cfg.run_dir).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Failure::new(
                exit::UNAVAILABLE,
                format!("{}: not found: the daemon is not running", p.display()),
            )
        } else {
            Failure::new(exit::UNAVAILABLE, format!("{}: {e}", p.display()))
        }
    })?;
    let now = system_wall();
    let ago = |t: i64| {
        let s = now - t;
        if s < 0 {
            "in the future".to_string()
        } else {
            format!("{} ago", human(s))
        }
    };
    match st.last_reading {
        Some((t, w)) => crate::outln!(
            "last reading: {w} W at {} ({})",
            localtime::iso8601(t),
            ago(t)
        ),
        None => crate::outln!("last reading: none yet"),
    }
    crate::outln!("meter:  {}", st.meter);
    let at = |t: i64| {
        let label = localtime::local_label(t);
        if localtime::local_date(t) == localtime::local_date(now) {
            label[11..16].to_string()
        } else {
            label[..16].to_string()
        }
    };
    let not_recording = match &st.recording {
        Recording::Starting => {
            crate::outln!("recording: no reading to write yet");
            None
        }
        Recording::Ok => {
            crate::outln!("recording: ok");
            None
        }
        Recording::Failing { since, error } => {
            crate::outln!("recording: failing since {} ({error})", at(*since));
            Some(format!(
                "writes to {} fail: {error}",
                cfg.days_dir().display()
            ))
        }
        Recording::Held { since } => {
            crate::outln!(
                "recording: held back since {} (the wall clock is not set)",
                at(*since)
            );
            Some("samples are held back until the wall clock is set (NTP)".to_string())
        }
    };
    crate::outln!("alarm:  {} (cap {} W)", st.alarm, cfg.alarm_watts);
    match st.space {
        Some(sp) => {
            let low = if crate::space::below(sp.free, sp.total, cfg.low_space_percent) {
                format!(", below LOW_SPACE_PERCENT={}", cfg.low_space_percent)
            } else {
                String::new()
            };
            crate::outln!(
                "data:   {} free of {} ({}) in {}{low}",
                crate::space::bytes_label(sp.free),
                crate::space::bytes_label(sp.total),
                crate::space::percent_label(sp.free, sp.total),
                cfg.data_dir.display()
            );
        }
        None => crate::outln!("data:   free space unknown ({})", cfg.data_dir.display()),
    }
    crate::outln!("daemon: pid {}, updated {}", st.pid, ago(st.updated));
    let stale = i64::from(cfg.poll_seconds).max(10) * 3;
    if now - st.updated > stale {
        return Err(Failure::new(
            exit::UNAVAILABLE,
            format!(
                "status is stale (no update for {}): is the daemon running?",
                human(now - st.updated)
            ),
        ));
    }
    if let Some(why) = not_recording {
        return Err(Failure::new(
            exit::IOERR,
            format!("readings are not reaching the disk: {why}"),
        ));
    }
    Ok(())
}

fn human(s: i64) -> String {
    match s {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn beep(config: Option<PathBuf>, seconds: Option<u32>) -> Outcome {
    let cfg = load_config(config.as_deref())?;
    init_logger("warn");
    if cfg.buzzer == BuzzerKind::None {
        return Err(Failure::new(
            exit::CONFIG,
            "BUZZER=none in the configuration: there is no buzzer to sound",
        ));
    }
    gpio::install_panic_guard();
    let signals = signal_flags()?;
    let buzzer = open_buzzer(&cfg).map_err(|e| Failure::new(exit::UNAVAILABLE, e))?;
    let secs = seconds.unwrap_or(cfg.alarm_siren_seconds);
    let siren = Siren::spawn(
        buzzer,
        SirenShape::new(Duration::from_secs(u64::from(secs))),
    );
    siren.trigger();
    while siren.is_sounding() && !signals.stop_requested() {
        signals.nap(Duration::from_millis(10));
    }
    drop(siren);
    crate::outln!(
        "sounded on BCM GPIO {} (enable) and {} (tone)",
        cfg.buzzer_enable_gpio,
        cfg.buzzer_tone_gpio
    );
    Ok(())
}

fn gpio_cmd(config: Option<PathBuf>, action: GpioAction) -> Outcome {
    let cfg = load_config(config.as_deref())?;
    if cfg.buzzer == BuzzerKind::None {
        return Ok(());
    }
    let unavailable = |e: String| Failure::new(exit::UNAVAILABLE, e);
    let (en, tone) = gpio::resolve_lines(
        &cfg.buzzer_gpio_chip,
        cfg.buzzer_enable_gpio,
        cfg.buzzer_tone_gpio,
    )
    .map_err(unavailable)?;
    match action {
        GpioAction::Setup => {
            let groups = std::fs::read_to_string("/etc/group")
                .map_err(|e| Failure::new(exit::CONFIG, format!("/etc/group: {e}")))?;
            let gid = gpio::group_id(&groups, "gpio")
                .ok_or_else(|| Failure::new(exit::CONFIG, "/etc/group: no group gpio"))?;
            for n in [en, tone] {
                gpio::export_for_group(n, gid).map_err(unavailable)?;
                gpio::force_low(n).map_err(unavailable)?;
            }
        }
        GpioAction::Low => {
            for n in [tone, en] {
                gpio::force_low(n).map_err(unavailable)?;
            }
        }
    }
    Ok(())
}
