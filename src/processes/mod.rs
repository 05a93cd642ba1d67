//! The processes: the daemon's loop, the readers' view and `mcce serve`, the batch work (digest, export, report), the simulator.
//! May import `adapters` and `core`, and one another without a circle; they return typed results and never print or pick exit codes.

pub mod daemon;
pub mod digest;
pub mod export;
pub(crate) mod publish;
pub mod report;
pub mod serve;
pub mod sim;
pub mod view;
