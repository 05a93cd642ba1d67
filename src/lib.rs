//! mcce: a power logger for the MCEE energy monitor on a Raspberry Pi.
//!
//! The pure core does no I/O: its callers hand it bytes, readings, times
//! and text, so every rule is testable without a meter, a clock or a disk.
//! - [`frame`]: the meter's byte stream into watt readings;
//! - [`energy`]: a day's samples into energy, coverage, gaps and buckets;
//! - [`alarm`]: when the cap alarm sounds; [`trip`] and [`warning`]: the
//!   meter's trip model and what to sound for it;
//! - [`crate::core::schedule::aligned_origin`] and [`crate::core::schedule::next_tick`]: the poll schedule;
//! - [`config::Config::parse`]: the configuration's keys and rules;
//! - [`localtime`]'s calendar arithmetic and [`space`]'s thresholds.
//!
//! Thin adapters around it each own one outside thing: [`meter`] (serial
//! port), [`gpio`] and [`siren`] (the buzzer), [`daylog`] (day files),
//! [`daytotal`] (running totals of growing day files), [`store`] (SQLite),
//! [`status`] (`RUN_DIR/status`), [`signals`], [`sys`] (`flock`,
//! `statvfs`), [`instance`] (one daemon per directory), [`clock`] (real and
//! scaled clocks), [`output`] (stdout). [`daemon`] is the polling loop,
//! reaching hardware only through its `Hardware` trait; [`digest`],
//! [`export`] and [`report`] do the batch work; [`http`] and [`serve`] are
//! `mcce serve`; [`sim`] is a simulated meter. [`cmd`] holds one file per
//! command. `mqtt` is an MQTT client for the coming `mcce publish`.
//! Adapters and the daemon return their own errors; exit codes ([`exit`])
//! are picked only by [`cmd`] and the batch work it runs.

pub mod adapters;
pub mod cmd;
pub mod core;
pub mod processes;
