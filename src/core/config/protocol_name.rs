//! `PROTOCOL`'s values: the meter protocols mcce speaks, by name, and the
//! implementation each name stands for.

use crate::core::mcee::Mcee;
use crate::core::protocol::Protocol;

/// The protocols the `PROTOCOL` key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolName {
    /// The ecodhome MCEE monitor (docs/protocol.md).
    #[default]
    Mcee,
}

impl ProtocolName {
    /// The key's values, for the error that lists them.
    pub const KNOWN: &'static str = "mcee";

    pub fn parse(value: &str) -> Option<ProtocolName> {
        match value {
            "mcee" => Some(ProtocolName::Mcee),
            _ => None,
        }
    }

    /// The protocol itself.
    pub fn protocol(self) -> &'static dyn Protocol {
        match self {
            ProtocolName::Mcee => &Mcee,
        }
    }
}
