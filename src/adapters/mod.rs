//! The adapters: each owns one outside thing (a device, a file, a crate, a system call), thin, with its own errors.
//! May import `core`, and another adapter where one wraps the other (no circle); never `processes` or `cmd`.

pub mod clock;
pub mod daylog;
pub mod daytotal;
pub mod gpio;
pub mod http;
pub mod instance;
pub mod localtime;
pub mod meter;
pub(crate) mod mqtt;
pub(crate) mod saved_total;
pub mod serial;
pub mod signals;
pub mod siren;
pub mod status;
pub mod store;
pub mod sys;
