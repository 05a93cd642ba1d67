//! mcce: a power logger for the MCEE energy monitor on a Raspberry Pi.
//!
//! The pure core (frame decoding, alarm policy, energy and bucket math,
//! config parsing) does no I/O; thin adapters around it talk to the serial
//! port, GPIO, files, SQLite and the clock.

pub mod alarm;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod daylog;
pub mod digest;
pub mod energy;
pub mod exit;
pub mod export;
pub mod frame;
pub mod gpio;
pub mod localtime;
pub mod meter;
pub mod output;
pub mod report;
pub mod signals;
pub mod sim;
pub mod siren;
pub mod space;
pub mod status;
pub mod store;
pub mod sys;
pub mod trip;
pub mod warning;
