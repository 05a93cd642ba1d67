//! `mcce publish`: the daemon's readings to an MQTT broker, with Home
//! Assistant's discovery, as a process of its own (a broker that is down
//! or slow never delays a poll or a siren).
//!
//! [`total`] decides the lifetime energy total that Home Assistant's
//! Energy dashboard counts (it must never decrease); [`discovery`] makes
//! Home Assistant's device and entities; [`state`] the state message they
//! read (written by `core::json`). [`outbox`] decides what to send and
//! in which order as the connection comes and goes, [`link`] when to try
//! the broker again and what to log of it; [`run`] is the loop.
//!
//! The loop (one thread, blocking, no runtime): wait for the daemon's
//! status file to change, for the broker to say something, or for the next
//! deadline (a reconnect, a reading growing too old, a keep-alive ping);
//! then read the facts, build the state, and send what [`outbox`] says.
//! A broker that is away costs a connection attempt per backoff step and
//! keeps nothing but the latest state; a daemon that is stopped costs a
//! wake-up per keep-alive.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use crate::adapters::mqtt::packet::Login;
use crate::adapters::saved_total::{OpenError, Saved, SavedTotal};
use crate::adapters::signals::Signals;
use crate::core::config::Config;
use crate::core::config::mqtt::BrokerUrl;

pub(crate) mod discovery;
pub(crate) mod history;
pub(crate) mod link;
pub(crate) mod outbox;
pub(crate) mod run;
pub(crate) mod state;
pub(crate) mod total;
pub(crate) mod world;

/// Why `mcce publish` cannot start.
#[derive(Debug)]
pub enum PublishError {
    /// `MQTT_URL` is not set.
    NoBroker,
    /// DATA_DIR cannot be made.
    DataDir(std::path::PathBuf, std::io::Error),
    /// `DATA_DIR/publish/total`: another publisher holds it, or it cannot
    /// be made (nor its directory).
    Saved(OpenError),
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::NoBroker => f.write_str(
                "MQTT_URL is not set: mcce publish needs a broker (MQTT_URL=mqtt://HOST[:PORT])",
            ),
            PublishError::DataDir(p, e) => {
                write!(f, "DATA_DIR {}: cannot create: {e}", p.display())
            }
            PublishError::Saved(e) => write!(f, "{e}"),
        }
    }
}

/// Publishes until a stop is requested (SIGTERM, SIGINT); then says
/// `offline`, disconnects cleanly and puts the saved total on the disk.
pub fn run(cfg: &Config, signals: &Signals) -> Result<(), PublishError> {
    let m = &cfg.mqtt;
    let url = m.url.clone().ok_or(PublishError::NoBroker)?;
    let (saved, saved_wh) = open_saved(cfg)?;
    let host = hostname();
    let base = m.topic.clone().unwrap_or_else(|| format!("mcce/{host}"));
    let configs = if m.discovery {
        discovery::configs(&discovery::Setup {
            prefix: m.discovery_prefix.clone(),
            base: base.clone(),
            hostname: host.clone(),
            sw_version: env!("CARGO_PKG_VERSION").to_string(),
            configuration_url: serve_url(cfg.serve_listen, &url),
            contract: cfg.trip.contract_watts.is_some(),
        })
    } else {
        Vec::new()
    };
    let rules = run::Rules {
        broker: url.to_string(),
        fresh: state::Freshness {
            poll_seconds: cfg.poll_seconds,
            reply_timeout_ms: cfg.reply_timeout_ms,
        },
        ha_status: m
            .discovery
            .then(|| discovery::ha_status_topic(&m.discovery_prefix)),
    };
    match m.discovery {
        true => log::info!(
            "publishing to {url} under {base}/, Home Assistant discovery under {}/",
            m.discovery_prefix
        ),
        false => log::info!("publishing to {url} under {base}/, no Home Assistant discovery"),
    }
    let who = world::Identity {
        broker: url,
        client_id: m
            .client_id
            .clone()
            .unwrap_or_else(|| format!("mcce-{host}")),
        login: m.username.clone().map(|username| Login {
            username,
            password: m.password.clone().map(String::into_bytes),
        }),
    };
    let outbox = outbox::Outbox::new(discovery::Topics::new(&base), configs);
    let mut w = world::Real::new(cfg, signals, who, saved, saved_wh);
    run::run(&mut w, &rules, outbox);
    if let Err(e) = w.saved().sync() {
        log::warn!("{}: {e}", w.saved().path().display());
    }
    Ok(())
}

/// The saved total in DATA_DIR (made if missing), locked, and the figure
/// an earlier run left there.
fn open_saved(cfg: &Config) -> Result<(SavedTotal, Option<u64>), PublishError> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| PublishError::DataDir(cfg.data_dir.clone(), e))?;
    let (saved, was) = SavedTotal::open(&cfg.data_dir).map_err(PublishError::Saved)?;
    let wh = match was {
        Saved::Wh(wh) => Some(wh),
        Saved::Nothing => None,
        Saved::Unreadable(text) => {
            log::warn!(
                "{}: not a total ({text:?}): starting from the history's",
                saved.path().display()
            );
            None
        }
    };
    Ok((saved, wh))
}

/// This box's name (letters, digits, `.`, `-` and `_`), for the default
/// topic and client id and the device's name.
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() { "mcce".into() } else { name }
}

/// The `mcce serve` page, for the device's configuration URL, when it is
/// known: SERVE_LISTEN's address, or with an unspecified one (0.0.0.0)
/// the address this box reaches the broker from (a UDP socket's route,
/// no packet sent); not a loopback one (a browser elsewhere cannot open
/// it); and only if `mcce serve` answers there now.
fn serve_url(listen: SocketAddr, broker: &BrokerUrl) -> Option<String> {
    let ip = if listen.ip().is_unspecified() {
        let to = (broker.host.as_str(), broker.port)
            .to_socket_addrs()
            .ok()?
            .next()?;
        let any: SocketAddr = if to.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let s = UdpSocket::bind(any).ok()?;
        s.connect(to).ok()?;
        s.local_addr().ok()?.ip()
    } else {
        listen.ip()
    };
    if ip.is_loopback() || ip.is_unspecified() {
        return None;
    }
    let at = SocketAddr::new(ip, listen.port());
    TcpStream::connect_timeout(&at, Duration::from_secs(1)).ok()?;
    Some(format!("http://{at}/"))
}
