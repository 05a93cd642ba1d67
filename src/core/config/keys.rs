//! Every key of `/etc/mcce.conf`, one row each: its name and how its
//! value is read into [`Config`]. The parser, the environment's overrides
//! and the typo suggestions all walk this one table; the defaults stay
//! with their types (`Config::default`), which code without a file uses.

use std::path::Path;

use super::ProtocolName;
use super::number::number;
use super::{BuzzerKind, Config, database_prefix, mqtt, non_empty, normalise};
use crate::core::allow;

/// One key and how its value is read.
pub(crate) struct Key {
    pub name: &'static str,
    /// Reads `value` into the configuration; the message says what is wrong.
    pub set: fn(&mut Config, &str) -> Result<(), String>,
}

const fn key(name: &'static str, set: fn(&mut Config, &str) -> Result<(), String>) -> Key {
    Key { name, set }
}

/// A whole number within `min..=max` into a field.
macro_rules! whole {
    ($($field:ident).+, $min:expr, $max:expr) => {
        |c: &mut Config, v: &str| {
            c.$($field).+ = number(v, $min, $max)?;
            Ok(())
        }
    };
}

/// A value that must not be empty into a field, through `into`.
macro_rules! text {
    ($($field:ident).+) => {
        |c: &mut Config, v: &str| {
            c.$($field).+ = non_empty(v)?.into();
            Ok(())
        }
    };
}

/// Every key, in the order the environment's overrides are applied (a
/// typo is matched against them in this order too).
#[rustfmt::skip]
pub(crate) const KEYS: &[Key] = &[
    key("PORT",                    text!(port)),
    key("BAUD",                    whole!(baud, 50, 4_000_000)),
    key("PROTOCOL",                protocol),
    key("POLL_SECONDS",            whole!(poll_seconds, 1, 3600)),
    key("REPLY_TIMEOUT_MS",        whole!(reply_timeout_ms, 10, 60_000)),
    key("DATA_DIR",                |c, v| { c.data_dir = normalise(Path::new(&non_empty(v)?)); Ok(()) }),
    key("RUN_DIR",                 text!(run_dir)),
    key("DATABASE_URL",            |c, v| { c.database_url = database_prefix(&non_empty(v)?)?; Ok(()) }),
    key("MIN_TIME_RES",            whole!(min_time_res, 1, 1440)),
    key("MAX_GAP_SECONDS",         whole!(max_gap_seconds, 1, 86_400)),
    key("ALARM_WATTS",             whole!(alarm_watts, 1, 65_535)),
    key("ALARM_HYSTERESIS_WATTS",  whole!(alarm_hysteresis_watts, 0, 65_535)),
    key("ALARM_DELAY_SECONDS",     whole!(alarm_delay_seconds, 0, 86_400)),
    key("ALARM_REPEAT_SECONDS",    whole!(alarm_repeat_seconds, 1, 86_400)),
    key("ALARM_SIREN_SECONDS",     whole!(buzzer.siren_seconds, 1, 60)),
    key("CONTRACT_WATTS",          contract),
    key("TOLERANCE_PERCENT",       whole!(trip.rules.tolerance_percent, 1, 100)),
    key("SHORT_LIMIT_PERCENT",     whole!(trip.rules.short_limit_percent, 2, 200)),
    key("LONG_TRIP_MINUTES",       whole!(trip.rules.long_trip_minutes, 1, 1440)),
    key("SHORT_TRIP_SECONDS",      whole!(trip.rules.short_trip_seconds, 1, 3600)),
    key("RESET_AFTER_SECONDS",     whole!(trip.rules.reset_after_seconds, 0, 86_400)),
    key("WARN_BEFORE_SECONDS",     whole!(trip.rules.warn_before_seconds, 0, 86_400)),
    key("BUZZER",                  buzzer),
    key("BUZZER_ENABLE_GPIO",      whole!(buzzer.enable_gpio, 0, 53)),
    key("BUZZER_TONE_GPIO",        whole!(buzzer.tone_gpio, 0, 53)),
    key("BUZZER_GPIO_CHIP",        text!(buzzer.gpio_chip)),
    key("KEEP_RAW_DAYS",           whole!(keep_raw_days, 0, 100_000)),
    key("PRICE_PER_KWH",           price),
    key("DB_BUSY_TIMEOUT_SECONDS", whole!(db_busy_timeout_seconds, 0, 3600)),
    key("LOG_LEVEL",               log_level),
    key("LOW_SPACE_PERCENT",       whole!(low_space_percent, 0, 100)),
    key("SERVE_LISTEN",            listen),
    key("SERVE_ALLOW",             |c, v| { c.serve_allow = allow::parse_list(v)?; Ok(()) }),
    key("MQTT_URL",                |c, v| { c.mqtt.url = mqtt::url(v)?; Ok(()) }),
    key("MQTT_USERNAME",           |c, v| { c.mqtt.username = optional(v); Ok(()) }),
    key("MQTT_PASSWORD",           |c, v| { c.mqtt.password = optional(v); Ok(()) }),
    key("MQTT_TOPIC",              |c, v| { c.mqtt.topic = optional(v).map(|t| mqtt::topic(&t)).transpose()?; Ok(()) }),
    key("MQTT_CLIENT_ID",          |c, v| { c.mqtt.client_id = optional(v).map(|t| mqtt::client_id(&t)).transpose()?; Ok(()) }),
    key("HA_DISCOVERY",            |c, v| { c.mqtt.discovery = mqtt::yes_no(v)?; Ok(()) }),
    key("HA_DISCOVERY_PREFIX",     |c, v| { c.mqtt.discovery_prefix = mqtt::topic(v)?; Ok(()) }),
];

/// Empty: not set.
fn optional(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

/// The key named `name`.
pub(crate) fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

fn protocol(c: &mut Config, v: &str) -> Result<(), String> {
    c.protocol = ProtocolName::parse(v)
        .ok_or_else(|| format!("unknown protocol (known: {})", ProtocolName::KNOWN))?;
    Ok(())
}

/// Empty: the single-threshold alarm (`ALARM_WATTS`).
fn contract(c: &mut Config, v: &str) -> Result<(), String> {
    c.trip.contract_watts = if v.is_empty() {
        None
    } else {
        Some(number(v, 100, 60_000).map_err(|e| {
            format!("{e} (the contract's power in watts, e.g. 3000 for 3 kW, or empty)")
        })?)
    };
    Ok(())
}

fn buzzer(c: &mut Config, v: &str) -> Result<(), String> {
    c.buzzer.kind = match v {
        "gpio" => BuzzerKind::Gpio,
        "none" => BuzzerKind::None,
        _ => return Err(format!("'{v}' is not one of: gpio, none")),
    };
    Ok(())
}

fn price(c: &mut Config, v: &str) -> Result<(), String> {
    c.price_per_kwh = if v.is_empty() {
        None
    } else {
        match v.parse::<f64>() {
            Ok(p) if p.is_finite() && p >= 0.0 => Some(p),
            _ => return Err(format!("'{v}' is not a price (e.g. 0.25)")),
        }
    };
    Ok(())
}

fn log_level(c: &mut Config, v: &str) -> Result<(), String> {
    c.log_level = match v {
        "error" => log::Level::Error,
        "warn" => log::Level::Warn,
        "info" => log::Level::Info,
        "debug" => log::Level::Debug,
        "trace" => log::Level::Trace,
        _ => {
            return Err(format!(
                "'{v}' is not one of: error, warn, info, debug, trace"
            ));
        }
    };
    Ok(())
}

fn listen(c: &mut Config, v: &str) -> Result<(), String> {
    c.serve_listen = v
        .parse()
        .map_err(|_| format!("'{v}' is not ADDRESS:PORT (e.g. 0.0.0.0:8080)"))?;
    Ok(())
}
