//! mcce: a power logger for the MCEE energy monitor on a Raspberry Pi.
//!
//! Four layers, each a folder, imports only going down
//! (docs/architecture.md): `cmd` (one file per command a user types: its
//! options, its printing, its exit codes) → `processes` (the daemon's
//! loop, the readers' view, `mcce serve`, the batch work, the simulator)
//! → `adapters` (each owns one outside thing: a device, a file, a crate,
//! a system call) → `core` (the pure rules: bytes, readings, times and
//! text in, facts out).
//!
//! The library shows only what the binary and the integration tests use:
//! [`main`], and the daemon's loop with what it is built from, driven on a
//! manual clock with fake hardware, plus local-day arithmetic for the
//! tests' fixtures. Everything else is private to the crate, so the
//! compiler names what nobody uses.

mod adapters;
mod cmd;
mod core;
mod processes;

pub use crate::cmd::main;

// The daemon's loop and what the loop tests drive it with.
pub use crate::adapters::clock::{Clock, ManualClock};
pub use crate::adapters::instance::InstanceLock;
pub use crate::adapters::serial::Link;
pub use crate::adapters::signals::Signals;
pub use crate::adapters::siren::{Buzzer, BuzzerUnavailable, SirenShape, Spawn, start_thread};
pub use crate::core::config::{BuzzerKind, BuzzerSettings, Config, ConfigError};
pub use crate::core::mcee::Mcee;
pub use crate::core::protocol::Protocol;
pub use crate::processes::daemon::{Daemon, Event, Hardware};

// Local days, for the tests' fixtures.
pub use crate::adapters::localtime::local_day_start;
pub use crate::core::calendar::{days_from_civil, days_of, parse_date};
