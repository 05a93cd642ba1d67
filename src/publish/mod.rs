//! `mcce publish`: the daemon's readings to an MQTT broker, with Home
//! Assistant's discovery, as a process of its own (a broker that is down
//! or slow never delays a poll or a siren).
//!
//! [`total`] decides the lifetime energy total that Home Assistant's
//! Energy dashboard counts (it must never decrease); [`discovery`] makes
//! Home Assistant's device and entities; [`state`] the state message they
//! read; [`json`] writes their JSON.

pub(crate) mod discovery;
mod json;
pub(crate) mod state;
pub(crate) mod total;
