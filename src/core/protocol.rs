//! The meter seam: what mcce needs to know of a meter's protocol, so the
//! serial reader, `mcce read`, `mcce decode` and the simulator speak it
//! through one trait. MCEE (`super::mcee`) is the one implementation; a
//! second meter would be a second file beside it and a value of the
//! `PROTOCOL` key (`super::config::ProtocolName`, docs/protocol.md).

/// A meter's protocol.
pub trait Protocol: Sync {
    /// What the meter needs to hear before it answers.
    fn trigger(&self) -> &'static [u8];
    /// A decoder in its initial state: bytes in, readings out.
    fn decoder(&self) -> Box<dyn Decode>;
    /// The bytes a meter sends for `watts` (the simulator's frames);
    /// `extra` varies the fields around the reading from frame to frame.
    fn encode(&self, watts: u32, extra: u8) -> Vec<u8>;
    /// The start of a frame that never ends (the simulator's noise).
    fn cut_frame(&self) -> &'static [u8];
}

/// A stateful decoder: bytes may arrive in any split across reads; the
/// same readings come out whatever the split.
pub trait Decode: Send {
    /// Feeds bytes; `on_reading` gets every complete reading in order.
    fn feed(&mut self, bytes: &[u8], on_reading: &mut dyn FnMut(u32));
    /// Forgets a partial frame (stale input discarded, the port reopened).
    fn reset(&mut self);
}
