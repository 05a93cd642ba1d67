//! `/etc/mcce.conf`: `KEY=VALUE` lines that the init script can also source
//! (docs/data.md#configuration-file). Environment variables of the same names override the file, as
//! the original scripts took `DATABASE_URL` and `MIN_TIME_RES` from the
//! environment. Parsing is pure: the caller supplies the text and the
//! environment, so every rule is testable without touching files.

use std::fmt;
use std::path::{Path, PathBuf};

mod keys;
pub mod mqtt;
mod number;
mod protocol_name;

pub use protocol_name::ProtocolName;

use crate::core::energy::{DayParams, GapRule};
use crate::core::trip::TripRules;

pub const DEFAULT_PATH: &str = "/etc/mcce.conf";

/// The meter's reply timeout when `REPLY_TIMEOUT_MS` is not set and the
/// poll period is long enough for it (otherwise half the period).
pub const DEFAULT_REPLY_TIMEOUT_MS: u32 = 2000;

/// What drives the buzzer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuzzerKind {
    /// The A4988 circuit on two sysfs GPIO lines (docs/protocol.md#buzzer-wiring).
    Gpio,
    /// No buzzer: alarms are only logged.
    None,
}

/// Everything the siren is built from. On SIGHUP the daemon compares it as
/// a whole and rebuilds the siren when any of it changed, so a new field
/// here is taken into account without touching the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuzzerSettings {
    /// BUZZER
    pub kind: BuzzerKind,
    /// BUZZER_ENABLE_GPIO (a BCM number)
    pub enable_gpio: u32,
    /// BUZZER_TONE_GPIO (a BCM number)
    pub tone_gpio: u32,
    /// BUZZER_GPIO_CHIP: the label prefix of the SoC's GPIO chip
    pub gpio_chip: String,
    /// ALARM_SIREN_SECONDS: how long one siren plays
    pub siren_seconds: u32,
}

impl Default for BuzzerSettings {
    fn default() -> Self {
        BuzzerSettings {
            kind: BuzzerKind::Gpio,
            enable_gpio: 17,
            tone_gpio: 18,
            gpio_chip: "pinctrl-bcm".into(),
            siren_seconds: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub port: String,
    pub baud: u32,
    /// The meter's protocol (`PROTOCOL`, only `mcee` today).
    pub protocol: ProtocolName,
    pub poll_seconds: u32,
    pub reply_timeout_ms: u32,
    pub data_dir: PathBuf,
    pub run_dir: PathBuf,
    pub database_url: PathBuf,
    pub min_time_res: u32,
    pub max_gap_seconds: u32,
    /// `MAX_GAP_SECONDS` was set, not derived from `POLL_SECONDS`: the gap
    /// rule then honours it for every day (`gap_rule`).
    pub max_gap_set: bool,
    pub alarm_watts: u32,
    pub alarm_hysteresis_watts: u32,
    pub alarm_delay_seconds: u32,
    pub alarm_repeat_seconds: u32,
    /// The contract-aware alarm's settings (docs/trip.md); with no
    /// `CONTRACT_WATTS` the single-threshold alarm above is used.
    pub trip: crate::core::trip::TripConfig,
    pub buzzer: BuzzerSettings,
    pub keep_raw_days: u32,
    pub price_per_kwh: Option<f64>,
    pub db_busy_timeout_seconds: u32,
    pub log_level: log::Level,
    /// Log once when free space on DATA_DIR's file system falls below this
    /// percentage (0: never).
    pub low_space_percent: u32,
    /// `mcce serve`: address and port to listen on.
    pub serve_listen: std::net::SocketAddr,
    /// `mcce serve`: client networks answered; others get 403.
    pub serve_allow: Vec<crate::core::allow::Net>,
    /// `mcce publish`: the broker and Home Assistant's discovery.
    pub mqtt: mqtt::MqttSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: "/dev/ttyUSB0".into(),
            baud: 9600,
            protocol: ProtocolName::Mcee,
            poll_seconds: 5,
            reply_timeout_ms: DEFAULT_REPLY_TIMEOUT_MS,
            data_dir: "/var/lib/mcce".into(),
            run_dir: "/run/mcce".into(),
            database_url: "/var/lib/mcce/db/pwr".into(),
            min_time_res: 15,
            max_gap_seconds: 15,
            max_gap_set: false,
            alarm_watts: 4200,
            alarm_hysteresis_watts: 200,
            alarm_delay_seconds: 0,
            alarm_repeat_seconds: 30,
            trip: crate::core::trip::TripConfig::default(),
            buzzer: BuzzerSettings::default(),
            keep_raw_days: 0,
            price_per_kwh: None,
            db_busy_timeout_seconds: 10,
            log_level: log::Level::Info,
            low_space_percent: crate::core::space::DEFAULT_LOW_PERCENT,
            serve_listen: std::net::SocketAddr::from(([0, 0, 0, 0], 8080)),
            serve_allow: crate::core::allow::parse_list(crate::core::allow::DEFAULT)
                .expect("the default list parses"),
            mqtt: mqtt::MqttSettings::default(),
        }
    }
}

/// Where a bad setting came from, so the message points at what to edit.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    File {
        path: String,
        line: usize,
    },
    Env,
    /// A rule between several keys, checked after everything was read.
    Combined {
        path: String,
    },
    /// The file itself could not be read.
    Unreadable {
        path: String,
    },
}

/// A rule between two keys that the values break, said from each key's
/// side ("must be above TOLERANCE_PERCENT (40)", "must be below
/// SHORT_LIMIT_PERCENT (35)"), so that the error can name a key the user
/// set rather than one left at its default.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    sides: [(&'static str, String); 2],
}

impl Conflict {
    /// The rule's main key first: it is named when both were set.
    pub fn new(main: (&'static str, String), other: (&'static str, String)) -> Conflict {
        Conflict {
            sides: [main, other],
        }
    }

    /// The key to name and what is wrong with it: the main key if `set`
    /// says the user set it, else the other one if the user set that, else
    /// the main key.
    pub fn side(self, set: &dyn Fn(&str) -> bool) -> (&'static str, String) {
        let [main, other] = self.sides;
        if !set(main.0) && set(other.0) {
            other
        } else {
            main
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub origin: Origin,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File { path, line } if self.key.is_empty() => {
                write!(f, "{path}:{line}: {}", self.message)
            }
            Origin::File { path, line } => {
                write!(f, "{path}:{line}: {}: {}", self.key, self.message)
            }
            Origin::Env => write!(f, "environment variable {}: {}", self.key, self.message),
            Origin::Combined { path } => write!(f, "{path}: {}: {}", self.key, self.message),
            Origin::Unreadable { path } => write!(f, "{path}: {}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the file given with `-c FILE`, which must exist, or else
    /// [`DEFAULT_PATH`], which may be absent (a dev box runs on defaults).
    pub fn read(given: Option<&Path>) -> Result<Config, ConfigError> {
        match given {
            Some(p) => Config::load(p, true),
            None => Config::load(Path::new(DEFAULT_PATH), false),
        }
    }

    /// Reads `path` (absent is fine only when `required` is false: a dev box
    /// without `/etc/mcce.conf` runs on defaults) and applies the environment.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Vec::new(),
            Err(e) => {
                return Err(ConfigError {
                    origin: Origin::Unreadable { path: shown },
                    key: String::new(),
                    message: format!("cannot read: {e}"),
                });
            }
        };
        Config::parse_bytes(&bytes, &shown, &|k| std::env::var(k).ok())
    }

    /// Parses a file's bytes: text that is not UTF-8 is refused naming its
    /// line and column (an editor saved it as Latin-1, say).
    pub fn parse_bytes(
        bytes: &[u8],
        path: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let at = e.valid_up_to();
            let line_start = bytes[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
            ConfigError {
                origin: Origin::File {
                    path: path.to_string(),
                    line,
                },
                key: String::new(),
                message: format!(
                    "not UTF-8 text (byte {:#04x} at column {}): save the file as UTF-8",
                    bytes[at],
                    at - line_start + 1
                ),
            }
        })?;
        Config::parse(text, path, env)
    }

    /// Parses the file's text, then the environment's overrides.
    pub fn parse(
        text: &str,
        path: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        // Where each key was last set, so a rule between keys can point at
        // the line to edit; a key left at its default may adapt to others.
        let mut set_at: Vec<(&'static str, Origin)> = Vec::new();
        let mut note = |key: &str, origin: Origin| {
            if let Some(k) = keys::find(key) {
                set_at.retain(|(s, _)| *s != k.name);
                set_at.push((k.name, origin));
            }
        };
        for (i, raw) in text.lines().enumerate() {
            let origin = Origin::File {
                path: path.to_string(),
                line: i + 1,
            };
            let Some((key, value)) = split_line(raw).map_err(|(key, message)| ConfigError {
                origin: origin.clone(),
                key,
                message,
            })?
            else {
                continue;
            };
            cfg.set(&key, &value).map_err(|message| ConfigError {
                origin: origin.clone(),
                key: key.clone(),
                message,
            })?;
            note(&key, origin);
        }
        for key in keys::KEYS {
            if let Some(value) = env(key.name) {
                (key.set)(&mut cfg, &value).map_err(|message| ConfigError {
                    origin: Origin::Env,
                    key: key.name.to_string(),
                    message,
                })?;
                note(key.name, Origin::Env);
            }
        }
        let is_set = |key: &str| set_at.iter().any(|(k, _)| *k == key);
        cfg.max_gap_set = is_set("MAX_GAP_SECONDS");
        if !cfg.max_gap_set {
            cfg.max_gap_seconds = cfg.poll_seconds.saturating_mul(3);
        }
        if !is_set("REPLY_TIMEOUT_MS") {
            // Half the poll period, at most the default: a 1-second poll
            // works without also having to set the timeout.
            cfg.reply_timeout_ms = DEFAULT_REPLY_TIMEOUT_MS.min(cfg.poll_seconds * 500);
        }
        cfg.check(path, &set_at)?;
        Ok(cfg)
    }

    /// Sets `key` from `value` by the key table; the message says what is wrong.
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match keys::find(key) {
            Some(k) => (k.set)(self, value),
            None => Err(unknown_key_message(key)),
        }
    }

    /// Rules that involve several keys; the error names a key of the rule
    /// that the user set, and where (a line, or the environment).
    fn check(&self, path: &str, set_at: &[(&str, Origin)]) -> Result<(), ConfigError> {
        let Some(conflict) = self.conflict() else {
            return Ok(());
        };
        let origin = |key: &str| {
            set_at
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, o)| o.clone())
        };
        let (key, message) = conflict.side(&|key| origin(key).is_some());
        Err(ConfigError {
            origin: origin(key).unwrap_or_else(|| Origin::Combined {
                path: path.to_string(),
            }),
            key: key.to_string(),
            message,
        })
    }

    /// The first rule between keys that the values break.
    fn conflict(&self) -> Option<Conflict> {
        self.buzzer_conflict()
            .or_else(|| self.alarm_conflict())
            .or_else(|| trip_conflict(&self.trip.rules))
            .or_else(|| self.reply_conflict())
            .or_else(|| self.database_conflict())
            .or_else(|| self.login_conflict())
    }

    /// MQTT 3.1.1 sends a password only with a user name (3.1.2.9).
    fn login_conflict(&self) -> Option<Conflict> {
        let m = &self.mqtt;
        (m.password.is_some() && m.username.is_none()).then(|| {
            Conflict::new(
                (
                    "MQTT_PASSWORD",
                    "needs MQTT_USERNAME (MQTT sends no password without a user name)".into(),
                ),
                (
                    "MQTT_USERNAME",
                    "must be set with MQTT_PASSWORD (MQTT sends no password without a user name)"
                        .into(),
                ),
            )
        })
    }

    fn buzzer_conflict(&self) -> Option<Conflict> {
        let b = &self.buzzer;
        (b.kind == BuzzerKind::Gpio && b.enable_gpio == b.tone_gpio).then(|| {
            Conflict::new(
                (
                    "BUZZER_TONE_GPIO",
                    format!("must differ from BUZZER_ENABLE_GPIO ({})", b.enable_gpio),
                ),
                (
                    "BUZZER_ENABLE_GPIO",
                    format!("must differ from BUZZER_TONE_GPIO ({})", b.tone_gpio),
                ),
            )
        })
    }

    fn alarm_conflict(&self) -> Option<Conflict> {
        (self.alarm_hysteresis_watts >= self.alarm_watts).then(|| {
            Conflict::new(
                (
                    "ALARM_HYSTERESIS_WATTS",
                    format!("must be below ALARM_WATTS ({})", self.alarm_watts),
                ),
                (
                    "ALARM_WATTS",
                    format!(
                        "must be above ALARM_HYSTERESIS_WATTS ({})",
                        self.alarm_hysteresis_watts
                    ),
                ),
            )
        })
    }

    fn reply_conflict(&self) -> Option<Conflict> {
        (u64::from(self.reply_timeout_ms) >= u64::from(self.poll_seconds) * 1000).then(|| {
            Conflict::new(
                (
                    "REPLY_TIMEOUT_MS",
                    format!(
                        "must be shorter than POLL_SECONDS ({} s)",
                        self.poll_seconds
                    ),
                ),
                (
                    "POLL_SECONDS",
                    format!(
                        "must be longer than REPLY_TIMEOUT_MS ({} ms)",
                        self.reply_timeout_ms
                    ),
                ),
            )
        })
    }

    /// pwrApp lists the database directory and expects a year in every
    /// name there; the raw `days/` folder must live elsewhere.
    fn database_conflict(&self) -> Option<Conflict> {
        let db_dir = self.database_url.parent().unwrap_or(Path::new(""));
        (db_dir == self.data_dir.as_path()).then(|| {
            Conflict::new(
                (
                    "DATABASE_URL",
                    format!(
                        "its directory {} is DATA_DIR; pwrApp expects only yearly database files there, put them in a subdirectory (e.g. {}/db/pwr)",
                        db_dir.display(),
                        self.data_dir.display()
                    ),
                ),
                (
                    "DATA_DIR",
                    format!(
                        "{} holds the yearly databases (DATABASE_URL {}), where pwrApp expects nothing else; choose another directory",
                        db_dir.display(),
                        self.database_url.display()
                    ),
                ),
            )
        })
    }

    /// The yearly database file for `year` (docs/data.md#yearly-databases).
    pub fn database_for_year(&self, year: i32) -> PathBuf {
        let mut s = self.database_url.clone().into_os_string();
        s.push(format!(".{year}"));
        s.into()
    }

    pub fn days_dir(&self) -> PathBuf {
        self.data_dir.join("days")
    }

    /// The gap rule every reader of day files applies (docs/data.md#energy-rule).
    pub fn gap_rule(&self) -> GapRule {
        GapRule {
            max_gap_seconds: self.max_gap_set.then_some(self.max_gap_seconds),
            poll_seconds: self.poll_seconds,
        }
    }

    /// How a day of `[start, end)` is measured (up to `until`) by the
    /// digest's rule with these settings: the one place a day's parameters
    /// are put together.
    pub fn day_params(&self, (start, end): (i64, i64), until: i64) -> DayParams {
        DayParams {
            start,
            end,
            until,
            gap: self.gap_rule(),
            cap_watts: self.alarm_watts,
            bucket_seconds: self.min_time_res * 60,
            trip: self.trip.settings(),
        }
    }
}

/// The trip rules between keys, each said from both keys' sides.
fn trip_conflict(r: &TripRules) -> Option<Conflict> {
    if r.short_limit_percent <= r.tolerance_percent {
        return Some(Conflict::new(
            (
                "SHORT_LIMIT_PERCENT",
                format!("must be above TOLERANCE_PERCENT ({})", r.tolerance_percent),
            ),
            (
                "TOLERANCE_PERCENT",
                format!(
                    "must be below SHORT_LIMIT_PERCENT ({})",
                    r.short_limit_percent
                ),
            ),
        ));
    }
    let long = u64::from(r.long_trip_minutes) * 60;
    [
        ("SHORT_TRIP_SECONDS", r.short_trip_seconds),
        ("WARN_BEFORE_SECONDS", r.warn_before_seconds),
    ]
    .into_iter()
    .find(|(_, seconds)| u64::from(*seconds) >= long)
    .map(|(key, seconds)| {
        Conflict::new(
            (
                key,
                format!(
                    "must be shorter than LONG_TRIP_MINUTES ({} min)",
                    r.long_trip_minutes
                ),
            ),
            (
                "LONG_TRIP_MINUTES",
                format!("must be longer than {key} ({seconds} s)"),
            ),
        )
    })
}

fn unknown_key_message(key: &str) -> String {
    let close = keys::KEYS.iter().find(|k| edit_distance(k.name, key) <= 2);
    match close {
        Some(k) => format!("unknown key (did you mean {}?)", k.name),
        None => "unknown key".into(),
    }
}

/// Small Levenshtein distance, for suggesting the key a typo meant.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The path with `.` and `a/..` removed and slashes collapsed, without
/// asking the file system: the rules about which directory holds what
/// must see the path that will be used.
fn normalise(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `DATABASE_URL` is a prefix: `<prefix>.<YYYY>` per year. A value that
/// names a directory (`db/`, `db/..`) would give hidden `.2024` files.
fn database_prefix(value: &str) -> Result<PathBuf, String> {
    let last = value.rsplit('/').next().unwrap_or("");
    if matches!(last, "" | "." | "..") {
        return Err(format!(
            "needs a file-name prefix after the directory (e.g. /var/lib/mcce/db/pwr), got '{value}'"
        ));
    }
    Ok(normalise(Path::new(value)))
}

fn non_empty(value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(value.to_string())
    }
}

/// Splits one line into key and value with the shell's quoting rules that a
/// config file needs: `KEY=value`, `KEY="a value"`, `KEY='a value'`, an
/// optional `export `, and `# comments`. Returns `Ok(None)` for blank and
/// comment lines; on error, the key (if known) and what is wrong.
#[allow(clippy::type_complexity)]
fn split_line(raw: &str) -> Result<Option<(String, String)>, (String, String)> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line
        .strip_prefix("export ")
        .map(str::trim_start)
        .unwrap_or(line);
    let Some((key, rest)) = line.split_once('=') else {
        return Err((
            line.split_whitespace().next().unwrap_or(line).to_string(),
            "expected KEY=VALUE".into(),
        ));
    };
    let key = key.to_string();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Err((
            key,
            "not a valid key (KEY=VALUE, upper case, no spaces around =)".into(),
        ));
    }
    let (value, after) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => match rest[1..].find(q) {
            Some(end) => (rest[1..1 + end].to_string(), &rest[2 + end..]),
            None => return Err((key, format!("missing closing {q}"))),
        },
        _ => match rest.find(char::is_whitespace) {
            Some(ws) => (rest[..ws].to_string(), &rest[ws..]),
            None => (rest.to_string(), ""),
        },
    };
    let after = after.trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return Err((
            key,
            "unexpected text after the value (quote values that contain spaces)".into(),
        ));
    }
    Ok(Some((key, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "/etc/mcce.conf", &no_env)
    }

    #[test]
    fn empty_file_gives_pi_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.max_gap_seconds, 15);
    }

    #[test]
    fn values_comments_quotes_and_export() {
        let c = parse(
            "# comment\n\nPORT=/dev/ttyACM0\nexport POLL_SECONDS=10 # inline\nDATA_DIR=\"/data/mcce\"\nBUZZER='none'\nPRICE_PER_KWH=0.31\n",
        )
        .unwrap();
        assert_eq!(c.port, "/dev/ttyACM0");
        assert_eq!(c.poll_seconds, 10);
        assert_eq!(c.max_gap_seconds, 30, "gap limit follows the poll period");
        assert_eq!(c.data_dir, PathBuf::from("/data/mcce"));
        assert_eq!(c.buzzer.kind, BuzzerKind::None);
        assert_eq!(c.price_per_kwh, Some(0.31));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("PORT=/dev/ttyUSB0\nPOL_SECONDS=5\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/mcce.conf:2: POL_SECONDS: unknown key (did you mean POLL_SECONDS?)"
        );
        let e = parse("\n\nALARM_WATTS=lots\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/mcce.conf:3: ALARM_WATTS: 'lots' is not a whole number"
        );
        let e = parse("PORT=\n").unwrap_err();
        assert_eq!(e.to_string(), "/etc/mcce.conf:1: PORT: must not be empty");
        let e = parse("DATA_DIR=/a b\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/mcce.conf:1: DATA_DIR: unexpected text")
        );
        let e = parse("just words\n").unwrap_err();
        assert!(e.to_string().contains(":1: just: expected KEY=VALUE"));
    }

    #[test]
    fn environment_overrides_file() {
        let env = |k: &str| match k {
            "MIN_TIME_RES" => Some("5".to_string()),
            "DATABASE_URL" => Some("/tmp/x/pwr".to_string()),
            _ => None,
        };
        let c = Config::parse("MIN_TIME_RES=30\n", "f", &env).unwrap();
        assert_eq!(c.min_time_res, 5);
        assert_eq!(c.database_for_year(2025), PathBuf::from("/tmp/x/pwr.2025"));
        let bad = |k: &str| (k == "BAUD").then(|| "fast".to_string());
        let e = Config::parse("", "f", &bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable BAUD: 'fast' is not a whole number"
        );
    }

    #[test]
    fn cross_key_rules() {
        assert!(parse("BUZZER_TONE_GPIO=17\n").is_err());
        assert!(parse("BUZZER=none\nBUZZER_TONE_GPIO=17\n").is_ok());
        assert!(parse("ALARM_HYSTERESIS_WATTS=4200\n").is_err());
        assert!(parse("POLL_SECONDS=1\nREPLY_TIMEOUT_MS=1000\n").is_err());
        let e = parse("DATA_DIR=/var/lib/mcce\nDATABASE_URL=/var/lib/mcce/pwr\n").unwrap_err();
        assert_eq!(e.key, "DATABASE_URL");
    }

    /// Each file text is refused with an error that starts with its want.
    fn errors_start_with(cases: &[(&str, &str)]) {
        for (text, want) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}:\n got {e}\nwant {want}");
        }
    }

    /// Each rule between keys, broken from either side: the error names
    /// the key the user set and its line (the main key when both are set),
    /// or the environment variable that set it.
    #[test]
    fn a_rule_between_keys_names_the_key_the_user_set() {
        errors_start_with(&[
            (
                "PORT=/dev/ttyUSB0\nBUZZER_TONE_GPIO=17\n",
                "/etc/mcce.conf:2: BUZZER_TONE_GPIO: must differ from BUZZER_ENABLE_GPIO (17)",
            ),
            (
                "BUZZER_ENABLE_GPIO=18\n",
                "/etc/mcce.conf:1: BUZZER_ENABLE_GPIO: must differ from BUZZER_TONE_GPIO (18)",
            ),
            (
                "BUZZER_TONE_GPIO=5\nBUZZER_ENABLE_GPIO=5\n",
                "/etc/mcce.conf:1: BUZZER_TONE_GPIO: must differ from BUZZER_ENABLE_GPIO (5)",
            ),
            (
                "\nALARM_HYSTERESIS_WATTS=4200\n",
                "/etc/mcce.conf:2: ALARM_HYSTERESIS_WATTS: must be below ALARM_WATTS (4200)",
            ),
            (
                "ALARM_WATTS=150\n",
                "/etc/mcce.conf:1: ALARM_WATTS: must be above ALARM_HYSTERESIS_WATTS (200)",
            ),
            (
                "CONTRACT_WATTS=3000\n\nTOLERANCE_PERCENT=40\n",
                "/etc/mcce.conf:3: TOLERANCE_PERCENT: must be below SHORT_LIMIT_PERCENT (33)",
            ),
            (
                "SHORT_LIMIT_PERCENT=10\n",
                "/etc/mcce.conf:1: SHORT_LIMIT_PERCENT: must be above TOLERANCE_PERCENT (10)",
            ),
            (
                "SHORT_LIMIT_PERCENT=20\nTOLERANCE_PERCENT=20\n",
                "/etc/mcce.conf:1: SHORT_LIMIT_PERCENT: must be above TOLERANCE_PERCENT (20)",
            ),
            (
                "LONG_TRIP_MINUTES=30\nSHORT_TRIP_SECONDS=3600\n",
                "/etc/mcce.conf:2: SHORT_TRIP_SECONDS: must be shorter than LONG_TRIP_MINUTES (30 min)",
            ),
            (
                "# short\nLONG_TRIP_MINUTES=2\n",
                "/etc/mcce.conf:2: LONG_TRIP_MINUTES: must be longer than SHORT_TRIP_SECONDS (120 s)",
            ),
            (
                "WARN_BEFORE_SECONDS=10800\n",
                "/etc/mcce.conf:1: WARN_BEFORE_SECONDS: must be shorter than LONG_TRIP_MINUTES (180 min)",
            ),
            (
                "SHORT_TRIP_SECONDS=30\nWARN_BEFORE_SECONDS=90\nLONG_TRIP_MINUTES=1\n",
                "/etc/mcce.conf:2: WARN_BEFORE_SECONDS: must be shorter than LONG_TRIP_MINUTES (1 min)",
            ),
            (
                "SHORT_TRIP_SECONDS=30\nLONG_TRIP_MINUTES=1\nWARN_BEFORE_SECONDS=60\n",
                "/etc/mcce.conf:3: WARN_BEFORE_SECONDS: must be shorter than LONG_TRIP_MINUTES (1 min)",
            ),
            (
                "REPLY_TIMEOUT_MS=5000\n",
                "/etc/mcce.conf:1: REPLY_TIMEOUT_MS: must be shorter than POLL_SECONDS (5 s)",
            ),
            (
                "REPLY_TIMEOUT_MS=2000\nPOLL_SECONDS=2\n",
                "/etc/mcce.conf:1: REPLY_TIMEOUT_MS: must be shorter than POLL_SECONDS (2 s)",
            ),
            (
                "DATABASE_URL=/var/lib/mcce/pwr\n",
                "/etc/mcce.conf:1: DATABASE_URL: its directory /var/lib/mcce is DATA_DIR",
            ),
            (
                "PORT=/dev/ttyUSB0\nDATA_DIR=/var/lib/mcce/db\n",
                "/etc/mcce.conf:2: DATA_DIR: /var/lib/mcce/db holds the yearly databases (DATABASE_URL /var/lib/mcce/db/pwr)",
            ),
        ]);
        // A value from the environment: the variable is named, not the file.
        for (var, value, text, want) in [
            (
                "TOLERANCE_PERCENT",
                "40",
                "CONTRACT_WATTS=3000\n",
                "environment variable TOLERANCE_PERCENT: must be below SHORT_LIMIT_PERCENT (33)",
            ),
            (
                "LONG_TRIP_MINUTES",
                "1",
                "",
                "environment variable LONG_TRIP_MINUTES: must be longer than SHORT_TRIP_SECONDS (120 s)",
            ),
            (
                "ALARM_WATTS",
                "100",
                "ALARM_DELAY_SECONDS=5\n",
                "environment variable ALARM_WATTS: must be above ALARM_HYSTERESIS_WATTS (200)",
            ),
            (
                "BUZZER_ENABLE_GPIO",
                "18",
                "",
                "environment variable BUZZER_ENABLE_GPIO: must differ from BUZZER_TONE_GPIO (18)",
            ),
            (
                "DATA_DIR",
                "/var/lib/mcce/db",
                "",
                "environment variable DATA_DIR: /var/lib/mcce/db holds the yearly databases",
            ),
            (
                "POLL_SECONDS",
                "1",
                "REPLY_TIMEOUT_MS=1000\n",
                "/etc/mcce.conf:1: REPLY_TIMEOUT_MS: must be shorter than POLL_SECONDS (1 s)",
            ),
        ] {
            let env = |k: &str| (k == var).then(|| value.to_string());
            let e = Config::parse(text, "/etc/mcce.conf", &env)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{var}={value}:\n got {e}\nwant {want}");
        }
    }

    #[test]
    fn a_number_too_big_or_negative_is_out_of_range() {
        errors_start_with(&[
            (
                "POLL_SECONDS=99999999999999999999\n",
                "/etc/mcce.conf:1: POLL_SECONDS: 99999999999999999999 is out of range 1..=3600",
            ),
            (
                "ALARM_WATTS=4294967296\n",
                "/etc/mcce.conf:1: ALARM_WATTS: 4294967296 is out of range 1..=65535",
            ),
            (
                "BAUD=-9600\n",
                "/etc/mcce.conf:1: BAUD: -9600 is out of range 50..=4000000",
            ),
            (
                "TOLERANCE_PERCENT=18446744073709551616\n",
                "/etc/mcce.conf:1: TOLERANCE_PERCENT: 18446744073709551616 is out of range 1..=100",
            ),
            (
                "CONTRACT_WATTS=99999999999\n",
                "/etc/mcce.conf:1: CONTRACT_WATTS: 99999999999 is out of range 100..=60000",
            ),
            (
                "TOLERANCE_PERCENT=0\n",
                "/etc/mcce.conf:1: TOLERANCE_PERCENT: 0 is out of range 1..=100",
            ),
            (
                "POLL_SECONDS=5s\n",
                "/etc/mcce.conf:1: POLL_SECONDS: '5s' is not a whole number",
            ),
            (
                "POLL_SECONDS=-\n",
                "/etc/mcce.conf:1: POLL_SECONDS: '-' is not a whole number",
            ),
        ]);
        assert_eq!(parse("POLL_SECONDS=+10\n").unwrap().poll_seconds, 10);
    }

    #[test]
    fn the_protocol_is_mcee_and_no_other() {
        assert_eq!(
            parse("PROTOCOL=mcee\n").unwrap().protocol,
            ProtocolName::Mcee
        );
        assert_eq!(
            parse("# meter\nPROTOCOL=modbus\n").unwrap_err().to_string(),
            "/etc/mcce.conf:2: PROTOCOL: unknown protocol (known: mcee)"
        );
    }

    #[test]
    fn an_unset_reply_timeout_adapts_to_a_short_poll() {
        assert_eq!(parse("POLL_SECONDS=1\n").unwrap().reply_timeout_ms, 500);
        assert_eq!(parse("POLL_SECONDS=3\n").unwrap().reply_timeout_ms, 1500);
        assert_eq!(parse("POLL_SECONDS=10\n").unwrap().reply_timeout_ms, 2000);
        let e = parse("POLL_SECONDS=1\nREPLY_TIMEOUT_MS=1000\n").unwrap_err();
        assert_eq!(e.key, "REPLY_TIMEOUT_MS");
        assert_eq!(
            e.to_string(),
            "/etc/mcce.conf:2: REPLY_TIMEOUT_MS: must be shorter than POLL_SECONDS (1 s)"
        );
        let env = |k: &str| (k == "POLL_SECONDS").then(|| "1".to_string());
        assert_eq!(
            Config::parse("", "f", &env).unwrap().reply_timeout_ms,
            500,
            "the environment's poll period counts too"
        );
    }

    #[test]
    fn database_url_is_normalised_and_needs_a_file_name() {
        for bad in [
            "/var/lib/mcce/db/",
            "/var/lib/mcce/db/..",
            "/var/lib/mcce/db/.",
            "/",
        ] {
            let e = parse(&format!("PORT=/dev/ttyUSB0\nDATABASE_URL={bad}\n")).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("/etc/mcce.conf:2: DATABASE_URL: needs a file-name prefix"),
                "{bad}: {e}"
            );
        }
        let c = parse("DATABASE_URL=/var/lib/mcce//db/./x/../pwr\n").unwrap();
        assert_eq!(c.database_url, PathBuf::from("/var/lib/mcce/db/pwr"));
        assert_eq!(
            c.database_for_year(2024),
            PathBuf::from("/var/lib/mcce/db/pwr.2024")
        );
        // `..` does not get round the rule that DATA_DIR holds no databases.
        let e = parse("DATABASE_URL=/var/lib/mcce/db/../pwr\n").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "/etc/mcce.conf:1: DATABASE_URL: its directory /var/lib/mcce is DATA_DIR"
            ),
            "{e}"
        );
        let e = parse("DATA_DIR=/srv/./m/\nDATABASE_URL=/srv/m/pwr\n").unwrap_err();
        assert_eq!(e.key, "DATABASE_URL");
        assert_eq!(
            parse("DATA_DIR=/srv/m/\n").unwrap().data_dir,
            PathBuf::from("/srv/m")
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_is_reported_with_its_line() {
        let e = Config::parse_bytes(
            b"PORT=/dev/ttyUSB0\n# Citt\xe0\n",
            "/etc/mcce.conf",
            &no_env,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/mcce.conf:2: not UTF-8 text (byte 0xe0 at column 7): save the file as UTF-8"
        );
        assert!(Config::parse_bytes(b"# Citt\xc3\xa0\n", "f", &no_env).is_ok());
    }

    #[test]
    fn mqtt_keys_are_read_and_bad_values_name_the_line() {
        let c = parse(concat!(
            "MQTT_URL=mqtt://192.168.1.10\n",
            "MQTT_USERNAME=mcce\nMQTT_PASSWORD='s3cret pass'\n",
            "MQTT_TOPIC=home/meter\nMQTT_CLIENT_ID=meter-1\n",
            "HA_DISCOVERY=no\nHA_DISCOVERY_PREFIX=ha\n",
        ))
        .unwrap();
        let m = &c.mqtt;
        assert_eq!(
            m.url.as_ref().unwrap().to_string(),
            "mqtt://192.168.1.10:1883"
        );
        assert_eq!(
            (m.username.as_deref(), m.password.as_deref()),
            (Some("mcce"), Some("s3cret pass"))
        );
        assert_eq!(
            (m.topic.as_deref(), m.client_id.as_deref()),
            (Some("home/meter"), Some("meter-1"))
        );
        assert_eq!((m.discovery, m.discovery_prefix.as_str()), (false, "ha"));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the password stays out of debug output"
        );
        // Empty: not set (the defaults come from the host name at start).
        let c = parse("MQTT_URL=\nMQTT_TOPIC=\nMQTT_CLIENT_ID=\n").unwrap();
        assert_eq!(c.mqtt, mqtt::MqttSettings::default());
        errors_start_with(&[
            (
                "\nMQTT_URL=mqtts://broker:8883\n",
                "/etc/mcce.conf:2: MQTT_URL: 'mqtts://broker:8883': TLS is not supported",
            ),
            (
                "MQTT_URL=broker\n",
                "/etc/mcce.conf:1: MQTT_URL: 'broker': expected mqtt://HOST[:PORT]",
            ),
            (
                "MQTT_TOPIC=mcce/#\n",
                "/etc/mcce.conf:1: MQTT_TOPIC: 'mcce/#': a topic to publish to cannot hold + or #",
            ),
            (
                "HA_DISCOVERY=true\n",
                "/etc/mcce.conf:1: HA_DISCOVERY: 'true' is not one of: yes, no",
            ),
            (
                "HA_DISCOVERY_PREFIX=\n",
                "/etc/mcce.conf:1: HA_DISCOVERY_PREFIX: must not be empty",
            ),
            (
                "MQTT_PASSWORD=x\n",
                "/etc/mcce.conf:1: MQTT_PASSWORD: needs MQTT_USERNAME",
            ),
        ]);
    }

    #[test]
    fn the_shipped_config_parses_and_documents_every_key() {
        let text = include_str!("../../../overlay/etc/mcce.conf");
        assert_eq!(parse(text).unwrap(), Config::default());
        for k in keys::KEYS {
            assert!(
                text.contains(&format!("{}=", k.name)),
                "{} not in overlay/etc/mcce.conf",
                k.name
            );
        }
    }

    #[test]
    fn trip_keys_set_the_contract_alarm_and_errors_name_the_line() {
        let c = parse("CONTRACT_WATTS=4500\nWARN_BEFORE_SECONDS=90\n").unwrap();
        let s = c.trip.settings().unwrap();
        assert_eq!((s.contract_watts, s.rules.warn_before_seconds), (4500, 90));
        assert_eq!(parse("CONTRACT_WATTS=\n").unwrap().trip.settings(), None);
        let e = parse("# x\nCONTRACT_WATTS=3kW\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/mcce.conf:2: CONTRACT_WATTS: '3kW' is not a whole number"),
            "{e}"
        );
        let e = parse("CONTRACT_WATTS=3000\nTOLERANCE_PERCENT=20\nSHORT_LIMIT_PERCENT=15\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/mcce.conf:3: SHORT_LIMIT_PERCENT: must be above TOLERANCE_PERCENT (20)"
        );
        let e = parse("LONG_TRIP_MINUTES=1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/mcce.conf:1: LONG_TRIP_MINUTES: must be longer than SHORT_TRIP_SECONDS (120 s)"
        );
        let e = parse("WARN_BEFORE_SECONDS=10800\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/mcce.conf:1: WARN_BEFORE_SECONDS: must be shorter than LONG_TRIP_MINUTES (180 min)"
        );
        let e = parse("TOLERANCE_PERCNT=5\n").unwrap_err();
        assert!(
            e.to_string().contains("did you mean TOLERANCE_PERCENT"),
            "{e}"
        );
    }

    #[test]
    fn load_names_a_missing_required_file() {
        let e = Config::load(Path::new("/nonexistent/mcce.conf"), true).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/mcce.conf: cannot read: "),
            "{e}"
        );
    }
}
