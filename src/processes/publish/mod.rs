//! `mcce publish`: the daemon's readings to an MQTT broker, with Home
//! Assistant's discovery, as a process of its own (a broker that is down
//! or slow never delays a poll or a siren).
//!
//! [`total`] decides the lifetime energy total that Home Assistant's
//! Energy dashboard counts (it must never decrease); [`discovery`] makes
//! Home Assistant's device and entities; [`state`] the state message they
//! read; [`json`] writes their JSON. [`outbox`] decides what to send and
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

pub(crate) mod discovery;
mod json;
pub(crate) mod link;
pub(crate) mod outbox;
pub(crate) mod run;
pub(crate) mod state;
pub(crate) mod total;
