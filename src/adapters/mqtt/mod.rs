//! MQTT 3.1.1 client, on `std::net` alone, for publishing to a broker.
//!
//! Written here rather than taken from a crate: the whole client adds
//! about 20 KB to the x86_64 release binary, where the usual crates bring
//! an async runtime (a tokio-based one adds about 167 KB) or a C library.
//!
//! [`packet`] encodes what a client sends, [`incoming`] reads what a broker
//! sends (strictly: a broker's bytes are input), [`wire`] holds the field
//! encodings both share, [`errors`] what can go wrong either way, and
//! [`session`] is one blocking connection with deadlines. It imports
//! nothing from the rest of mcce.

mod errors;
pub(crate) mod incoming;
pub(crate) mod packet;
pub(crate) mod session;
mod wire;

#[cfg(test)]
mod against_mqttbytes;
#[cfg(test)]
mod mosquitto;
#[cfg(test)]
mod mosquitto_tests;
