//! The MQTT keys of `mcce publish` (`MQTT_*`, `HA_DISCOVERY*`): what each
//! value may be. Every command reads them (they share the file), only
//! `mcce publish` uses them.

use std::fmt;

/// Where the broker is: `MQTT_URL=mqtt://HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// A name or an address (an IPv6 one without its brackets).
    pub host: String,
    pub port: u16,
}

/// MQTT's registered port for plain TCP.
pub const DEFAULT_PORT: u16 = 1883;

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "mqtt://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "mqtt://{}:{}", self.host, self.port)
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct MqttSettings {
    /// `MQTT_URL`; `None`: `mcce publish` has nowhere to publish.
    pub url: Option<BrokerUrl>,
    /// `MQTT_USERNAME`, `MQTT_PASSWORD` (a password needs a user name).
    pub username: Option<String>,
    pub password: Option<String>,
    /// `MQTT_TOPIC`; `None`: `mcce/<hostname>`.
    pub topic: Option<String>,
    /// `MQTT_CLIENT_ID`; `None`: `mcce-<hostname>`.
    pub client_id: Option<String>,
    /// `HA_DISCOVERY=yes|no`.
    pub discovery: bool,
    /// `HA_DISCOVERY_PREFIX`.
    pub discovery_prefix: String,
}

impl Default for MqttSettings {
    fn default() -> Self {
        MqttSettings {
            url: None,
            username: None,
            password: None,
            topic: None,
            client_id: None,
            discovery: true,
            discovery_prefix: "homeassistant".into(),
        }
    }
}

/// Never prints the password, so a `Config` can sit in any debug output.
impl fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttSettings")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("topic", &self.topic)
            .field("client_id", &self.client_id)
            .field("discovery", &self.discovery)
            .field("discovery_prefix", &self.discovery_prefix)
            .finish()
    }
}

/// `MQTT_URL`: `mqtt://HOST[:PORT]`; empty: not set.
pub fn url(v: &str) -> Result<Option<BrokerUrl>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    let expected = "expected mqtt://HOST[:PORT] (e.g. mqtt://192.168.1.10:1883)";
    let Some((scheme, rest)) = v.split_once("://") else {
        return Err(format!("'{v}': {expected}"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "mqtt" | "tcp" => {}
        "mqtts" | "ssl" | "tls" => {
            return Err(format!(
                "'{v}': TLS is not supported; use mqtt:// to a broker on this network (README \"Home Assistant\")"
            ));
        }
        _ => return Err(format!("'{v}': {expected}")),
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('@') {
        return Err(format!(
            "'{v}': put the user name in MQTT_USERNAME and the password in MQTT_PASSWORD"
        ));
    }
    if rest.contains(['/', '?', '#']) {
        return Err(format!("'{v}': {expected}, without a path"));
    }
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or(format!("'{v}': {expected}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !host_ok || (host.contains(':') && !rest.starts_with('[')) {
        return Err(format!("'{v}': {expected}"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("'{v}': the port must be 1 to 65535")),
        },
    };
    Ok(Some(BrokerUrl {
        host: host.to_string(),
        port,
    }))
}

/// `MQTT_TOPIC`, `HA_DISCOVERY_PREFIX`: a topic that messages can be
/// published under.
pub fn topic(v: &str) -> Result<String, String> {
    if v.is_empty() {
        return Err("must not be empty".into());
    }
    if v.contains(['+', '#']) {
        return Err(format!(
            "'{v}': a topic to publish to cannot hold + or # (wildcards)"
        ));
    }
    if v.contains('\0') || v.starts_with('/') || v.ends_with('/') || v.contains("//") {
        return Err(format!(
            "'{v}': expected levels joined by single slashes (e.g. mcce/kitchen)"
        ));
    }
    if v.len() > 200 {
        return Err("longer than 200 bytes".into());
    }
    Ok(v.to_string())
}

/// `MQTT_CLIENT_ID`: what the broker knows this client by. MQTT 3.1.1
/// brokers must take 1 to 23 letters and digits; mosquitto takes more.
pub fn client_id(v: &str) -> Result<String, String> {
    if v.is_empty() || v.len() > 200 || v.contains('\0') {
        return Err(format!("'{v}': expected 1 to 200 characters"));
    }
    Ok(v.to_string())
}

/// `HA_DISCOVERY`.
pub fn yes_no(v: &str) -> Result<bool, String> {
    match v {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("'{v}' is not one of: yes, no")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str, port: u16) -> Result<Option<BrokerUrl>, String> {
        Ok(Some(BrokerUrl {
            host: host.into(),
            port,
        }))
    }

    #[test]
    fn broker_urls() {
        assert_eq!(url("mqtt://192.168.1.10"), at("192.168.1.10", 1883));
        assert_eq!(url("mqtt://broker.lan:8883/"), at("broker.lan", 8883));
        assert_eq!(url("MQTT://core-mosquitto"), at("core-mosquitto", 1883));
        assert_eq!(url("mqtt://[::1]:1884"), at("::1", 1884));
        assert_eq!(url("mqtt://[fe80::1]"), at("fe80::1", 1883));
        assert_eq!(url(""), Ok(None));
        assert_eq!(
            url("mqtt://[::1]:1884").unwrap().unwrap().to_string(),
            "mqtt://[::1]:1884"
        );
        for (bad, says) in [
            ("192.168.1.10", "expected mqtt://HOST[:PORT]"),
            ("http://x", "expected mqtt://HOST[:PORT]"),
            ("mqtts://x:8883", "TLS is not supported"),
            ("mqtt://u:p@x", "MQTT_USERNAME"),
            ("mqtt://x/topic", "without a path"),
            ("mqtt://", "expected"),
            ("mqtt://x:0", "port must be 1 to 65535"),
            ("mqtt://x:65536", "port must be 1 to 65535"),
            ("mqtt://x:", "port must be 1 to 65535"),
            ("mqtt://::1", "expected"),
            ("mqtt://[::1", "expected"),
            ("mqtt://a b", "expected"),
        ] {
            let e = url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn topics_client_ids_and_switches() {
        assert_eq!(topic("mcce/kitchen").unwrap(), "mcce/kitchen");
        for bad in ["", "a/+/b", "a/#", "/a", "a/", "a//b", "a\0"] {
            assert!(topic(bad).is_err(), "{bad:?}");
        }
        assert!(topic(&"x".repeat(201)).is_err());
        assert_eq!(client_id("mcce-pi").unwrap(), "mcce-pi");
        assert!(client_id("").is_err());
        assert_eq!((yes_no("yes"), yes_no("no")), (Ok(true), Ok(false)));
        assert!(yes_no("true").unwrap_err().contains("yes, no"));
    }
}
