//! Home Assistant's MQTT discovery: the retained config messages that make
//! one device, its entities, and the topics they read. Pure: settings in,
//! messages out.
//!
//! Every entity reads one retained JSON state message (`<base>/state`,
//! keys below). Two availability topics decide whether an entity shows a
//! value: `<base>/availability`, `online` while `mcce publish` is connected
//! and `offline` from its Last Will (every entity); and `<base>/live`,
//! `online` while the daemon's latest reading is recent (the power and the
//! contract's entities, which would otherwise show a frozen value). The
//! publisher sends a state before the `online` that makes it visible, so
//! Home Assistant never shows a value from before.

use crate::core::json::Object;

/// The keys of the state message, each entity's `value_json.<key>`.
pub(crate) const POWER: &str = "power";
pub(crate) const ENERGY_TOTAL: &str = "energy_total";
pub(crate) const ENERGY_TODAY: &str = "energy_today";
pub(crate) const BAND: &str = "band";
pub(crate) const WARNING: &str = "warning";
pub(crate) const TRIP_IN: &str = "trip_in";
pub(crate) const METER: &str = "meter";
pub(crate) const RECORDING: &str = "recording";

/// The contract's bands, as the band entity offers them.
pub(crate) const BANDS: [&str; 3] = ["free", "tolerated", "over"];

/// Payloads of the availability topics and of the binary sensors (Home
/// Assistant's defaults, so the configs need not name them).
pub(crate) const ONLINE: &str = "online";
pub(crate) const OFFLINE: &str = "offline";
pub(crate) const ON: &str = "ON";
pub(crate) const OFF: &str = "OFF";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    Sensor,
    BinarySensor,
}

/// One entity of the device.
struct Entity {
    key: &'static str,
    component: Component,
    name: &'static str,
    device_class: Option<&'static str>,
    unit: Option<&'static str>,
    state_class: Option<&'static str>,
    /// Shown only while the daemon's latest reading is recent.
    live: bool,
    /// Offered only with `CONTRACT_WATTS`.
    contract: bool,
    /// A diagnostic entity (Home Assistant lists it apart).
    diagnostic: bool,
}

const fn entity(key: &'static str, component: Component, name: &'static str) -> Entity {
    Entity {
        key,
        component,
        name,
        device_class: None,
        unit: None,
        state_class: None,
        live: false,
        contract: false,
        diagnostic: false,
    }
}

use Component::{BinarySensor, Sensor};

/// The device's entities. Energy today has no `state_class`: it falls back
/// at midnight, and Home Assistant wants one statistics source per
/// quantity (energy total is it).
const ENTITIES: [Entity; 8] = [
    Entity {
        device_class: Some("power"),
        unit: Some("W"),
        state_class: Some("measurement"),
        live: true,
        ..entity(POWER, Sensor, "Power")
    },
    Entity {
        device_class: Some("energy"),
        unit: Some("kWh"),
        state_class: Some("total_increasing"),
        ..entity(ENERGY_TOTAL, Sensor, "Energy total")
    },
    Entity {
        device_class: Some("energy"),
        unit: Some("kWh"),
        ..entity(ENERGY_TODAY, Sensor, "Energy today")
    },
    Entity {
        device_class: Some("enum"),
        live: true,
        contract: true,
        ..entity(BAND, Sensor, "Contract band")
    },
    Entity {
        device_class: Some("problem"),
        live: true,
        contract: true,
        ..entity(WARNING, BinarySensor, "Trip warning")
    },
    Entity {
        device_class: Some("duration"),
        unit: Some("s"),
        live: true,
        contract: true,
        ..entity(TRIP_IN, Sensor, "Predicted trip")
    },
    Entity {
        device_class: Some("connectivity"),
        diagnostic: true,
        ..entity(METER, BinarySensor, "Meter connected")
    },
    Entity {
        device_class: Some("running"),
        diagnostic: true,
        ..entity(RECORDING, BinarySensor, "Recording")
    },
];

/// The topics under the base topic (`MQTT_TOPIC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Topics {
    /// `online` while connected; the Last Will sets `offline`.
    pub availability: String,
    /// `online` while the daemon's latest reading is recent.
    pub live: String,
    /// The JSON state.
    pub state: String,
}

impl Topics {
    pub(crate) fn new(base: &str) -> Topics {
        Topics {
            availability: format!("{base}/availability"),
            live: format!("{base}/live"),
            state: format!("{base}/state"),
        }
    }
}

/// What Home Assistant is told about this publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setup {
    /// `HA_DISCOVERY_PREFIX`.
    pub prefix: String,
    /// `MQTT_TOPIC`.
    pub base: String,
    /// The box's host name, for the device's name.
    pub hostname: String,
    /// mcce's version.
    pub sw_version: String,
    /// The `mcce serve` page, when it is known.
    pub configuration_url: Option<String>,
    /// `CONTRACT_WATTS` is set: the band, warning and trip entities.
    pub contract: bool,
}

/// The topic Home Assistant announces itself on (`online` when it starts).
pub(crate) fn ha_status_topic(prefix: &str) -> String {
    format!("{prefix}/status")
}

/// `s` with every character Home Assistant does not take in a discovery
/// topic's node or object id (letters, digits, `_`, `-`) made `_`.
fn id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The retained config message of every entity, in the table's order: the
/// payload is empty for an entity not offered (no `CONTRACT_WATTS`), which
/// makes Home Assistant remove one an earlier configuration created.
pub(crate) fn configs(setup: &Setup) -> Vec<(String, String)> {
    let node = id(&setup.base);
    let topics = Topics::new(&setup.base);
    ENTITIES
        .iter()
        .map(|e| {
            let component = match e.component {
                Sensor => "sensor",
                BinarySensor => "binary_sensor",
            };
            let topic = format!("{}/{component}/{node}/{}/config", setup.prefix, e.key);
            let payload = if e.contract && !setup.contract {
                String::new()
            } else {
                config(e, &node, &topics, setup)
            };
            (topic, payload)
        })
        .collect()
}

fn config(e: &Entity, node: &str, topics: &Topics, setup: &Setup) -> String {
    let uid = format!("{node}_{}", e.key);
    let mut o = Object::new();
    o.str("name", e.name)
        .str("object_id", &uid)
        .str("unique_id", &uid)
        .str("state_topic", &topics.state)
        .str("value_template", &format!("{{{{ value_json.{} }}}}", e.key));
    if let Some(c) = e.device_class {
        o.str("device_class", c);
    }
    if let Some(u) = e.unit {
        o.str("unit_of_measurement", u);
    }
    if let Some(c) = e.state_class {
        o.str("state_class", c);
    }
    if e.key == BAND {
        // Home Assistant's MQTT sensor takes them from 2024.9 (2024.3
        // ignores them) and then refuses a state not among them: the state
        // message always carries one.
        o.strs("options", &BANDS);
    }
    if e.diagnostic {
        o.str("entity_category", "diagnostic");
    }
    let mut availability = vec![topic(&topics.availability)];
    if e.live {
        availability.push(topic(&topics.live));
    }
    o.objects("availability", availability)
        .str("availability_mode", "all")
        .object("device", device(node, setup));
    o.end()
}

fn topic(t: &str) -> Object {
    let mut o = Object::new();
    o.str("topic", t);
    o
}

fn device(node: &str, setup: &Setup) -> Object {
    let name = if setup.hostname == "mcce" || setup.hostname.is_empty() {
        "mcce".to_string()
    } else {
        format!("mcce {}", setup.hostname)
    };
    let mut d = Object::new();
    d.strs("identifiers", &[node])
        .str("name", &name)
        .str("manufacturer", "ecodhome")
        .str("model", "MCEE")
        .str("sw_version", &setup.sw_version);
    if let Some(url) = &setup.configuration_url {
        d.str("configuration_url", url);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(contract: bool) -> Setup {
        Setup {
            prefix: "homeassistant".into(),
            base: "mcce/pi".into(),
            hostname: "pi".into(),
            sw_version: "0.1.0".into(),
            configuration_url: Some("http://192.168.1.20:8080/".into()),
            contract,
        }
    }

    #[test]
    fn the_energy_total_is_what_the_energy_dashboard_takes() {
        let c = configs(&setup(false));
        let (topic, payload) = &c[1];
        assert_eq!(topic, "homeassistant/sensor/mcce_pi/energy_total/config");
        assert_eq!(
            payload,
            concat!(
                r#"{"name":"Energy total","object_id":"mcce_pi_energy_total","#,
                r#""unique_id":"mcce_pi_energy_total","state_topic":"mcce/pi/state","#,
                r#""value_template":"{{ value_json.energy_total }}","device_class":"energy","#,
                r#""unit_of_measurement":"kWh","state_class":"total_increasing","#,
                r#""availability":[{"topic":"mcce/pi/availability"}],"availability_mode":"all","#,
                r#""device":{"identifiers":["mcce_pi"],"name":"mcce pi","manufacturer":"ecodhome","#,
                r#""model":"MCEE","sw_version":"0.1.0","configuration_url":"http://192.168.1.20:8080/"}}"#
            )
        );
    }

    /// A config's value of `"key":`, as written (a string's quotes kept).
    fn field<'a>(payload: &'a str, key: &str) -> Option<&'a str> {
        let start = payload.find(&format!("\"{key}\":"))? + key.len() + 3;
        let rest = &payload[start..];
        let end = if rest.starts_with('[') {
            rest.find(']')? + 1
        } else {
            rest.find([',', '}'])?
        };
        Some(&rest[..end])
    }

    #[test]
    fn each_entity_has_its_class_unit_and_availability() {
        let c = configs(&setup(true));
        // Per entity: topic, device class, unit, state class, and whether
        // `live` gates it; `-` for a field it does not have.
        let got: Vec<String> = c
            .iter()
            .map(|(t, p)| {
                let f = |k| field(p, k).unwrap_or("-").trim_matches('"').to_string();
                let live = f("availability").contains("mcce/pi/live");
                let always = f("availability").starts_with(r#"[{"topic":"mcce/pi/availability"}"#);
                assert!(always, "{t}: {}", f("availability"));
                let t = t
                    .trim_start_matches("homeassistant/")
                    .trim_end_matches("/config");
                let (class, unit, state) = (
                    f("device_class"),
                    f("unit_of_measurement"),
                    f("state_class"),
                );
                format!(
                    "{t} {class} {unit} {state} {}",
                    if live { "live" } else { "-" }
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "sensor/mcce_pi/power power W measurement live",
                "sensor/mcce_pi/energy_total energy kWh total_increasing -",
                "sensor/mcce_pi/energy_today energy kWh - -",
                "sensor/mcce_pi/band enum - - live",
                "binary_sensor/mcce_pi/warning problem - - live",
                "sensor/mcce_pi/trip_in duration s - live",
                "binary_sensor/mcce_pi/meter connectivity - - -",
                "binary_sensor/mcce_pi/recording running - - -",
            ]
        );
        assert_eq!(
            field(&c[3].1, "options"),
            Some(r#"["free","tolerated","over"]"#)
        );
        assert!(
            c.iter()
                .all(|(_, p)| p.contains(r#""manufacturer":"ecodhome""#))
        );
    }

    #[test]
    fn without_a_contract_its_entities_are_removed() {
        let c = configs(&setup(false));
        let empty: Vec<&str> = c
            .iter()
            .filter(|(_, p)| p.is_empty())
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(
            empty,
            [
                "homeassistant/sensor/mcce_pi/band/config",
                "homeassistant/binary_sensor/mcce_pi/warning/config",
                "homeassistant/sensor/mcce_pi/trip_in/config",
            ]
        );
    }

    #[test]
    fn odd_topics_prefixes_and_names_stay_valid() {
        let s = Setup {
            prefix: "ha".into(),
            base: "home/méter \"1\"".into(),
            hostname: "mcce".into(),
            configuration_url: None,
            ..setup(false)
        };
        let c = configs(&s);
        // Node ids take letters, digits, _ and - only; the state topic is
        // the base topic as given, escaped in JSON.
        assert_eq!(c[0].0, "ha/sensor/home_m_ter__1_/power/config");
        assert!(c[0].1.contains(r#""state_topic":"home/méter \"1\"/state""#));
        assert!(c[0].1.contains(r#""name":"mcce","manufacturer""#));
        assert!(!c[0].1.contains("configuration_url"));
        assert_eq!(ha_status_topic("ha"), "ha/status");
    }
}
