//! Exit codes (documented in README) and the one-line failure that carries
//! one. Values follow BSD `sysexits.h` so init scripts and cron mail can
//! tell a bad config from a missing device.

use std::fmt;

pub const OK: i32 = 0;
/// The command ran but has no result: nothing decoded, no reading, a day
/// that could not be digested.
pub const FAILURE: i32 = 1;
pub const USAGE: i32 = 64;
/// Input data unusable (an empty or zero-energy day).
pub const DATAERR: i32 = 65;
/// An input file is missing (a day file, the daemon's status).
pub const NOINPUT: i32 = 66;
/// A device is missing or busy (serial port, GPIO), or the daemon is not running.
pub const UNAVAILABLE: i32 = 69;
/// Cannot create or write an output (database, data directory).
pub const CANTCREAT: i32 = 73;
/// Read or write error on a file in use (a corrupt database).
pub const IOERR: i32 = 74;
/// Try again later (the database stayed locked by a reader).
pub const TEMPFAIL: i32 = 75;
pub const CONFIG: i32 = 78;

#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::core::config::ConfigError> for Failure {
    fn from(e: crate::core::config::ConfigError) -> Self {
        Failure::new(CONFIG, e.to_string())
    }
}

pub type Outcome = Result<(), Failure>;
