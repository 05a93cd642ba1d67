//! Exit codes (documented in README) and the one-line failure that carries
//! one. Values follow BSD `sysexits.h` so init scripts and cron mail can
//! tell a bad config from a missing device.

use std::fmt;

use crate::adapters::store::{StoreError, Trouble};
use crate::core::config::ConfigError;
use crate::processes::digest::{self, DigestError};
use crate::processes::export::ExportError;

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

/// A configuration error: 78, its message names file, line and key.
impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::new(CONFIG, e.to_string())
    }
}

/// A yearly database's trouble as an exit code: busy 75 (try again),
/// damaged 74, cannot write 73, output 74.
impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let code = match e.trouble {
            Trouble::Busy => TEMPFAIL,
            Trouble::Damaged | Trouble::Output => IOERR,
            Trouble::CannotWrite => CANTCREAT,
        };
        Failure::new(code, e.message)
    }
}

/// A digest's trouble: a day not over 64, a missing file 66, an
/// unreadable one 74, unusable data 65, the database's as above.
impl From<DigestError> for Failure {
    fn from(e: DigestError) -> Self {
        let code = match e.trouble {
            digest::Trouble::NotOver => USAGE,
            digest::Trouble::Missing => NOINPUT,
            digest::Trouble::Unreadable => IOERR,
            digest::Trouble::Unusable => DATAERR,
            digest::Trouble::Store(trouble) => {
                return StoreError {
                    trouble,
                    message: e.message,
                }
                .into();
            }
        };
        Failure::new(code, e.message)
    }
}

/// An export's trouble: a file that cannot be read or an output that
/// cannot be written 74, the database's as above.
impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Io(message) => Failure::new(IOERR, message),
            ExportError::Store(e) => e.into(),
        }
    }
}

pub type Outcome = Result<(), Failure>;
