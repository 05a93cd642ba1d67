//! The pure rules: bytes, readings, times and text in, facts out; no I/O, no threads, no clock reads.
//! May import only `core` (and `std`; the `time` crate through `calendar`).

pub mod alarm;
pub mod allow;
pub mod calendar;
pub mod config;
pub mod energy;
pub mod hex;
pub mod json;
pub mod mcee;
pub mod protocol;
pub mod schedule;
pub mod space;
pub mod trip;
pub mod warning;
