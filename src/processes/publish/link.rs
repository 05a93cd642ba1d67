//! The connection's life, as rules with no I/O: when to try the broker
//! again ([`Backoff`]) and which of its outcomes to log ([`Episodes`]).
//!
//! A broker that is down, refuses us or drops us is tried again after 1 s,
//! then 2, 4, … up to a minute between tries; a connection that lasted a
//! minute starts the count again. A refusal (a bad password, a client id
//! not allowed) or an unreachable broker is logged when it starts, with
//! the broker's reason, not at every try: a password typo must not fill
//! the log at one line a minute for months.

use std::time::Duration;

/// Capped exponential backoff between connection attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

/// The first wait and the longest.
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(1);
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(60);

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(FIRST_RETRY, MAX_RETRY)
    }
}

impl Backoff {
    pub(crate) fn new(first: Duration, cap: Duration) -> Backoff {
        let first = first.min(cap);
        Backoff {
            first,
            cap,
            next: first,
        }
    }

    /// An attempt failed, or a connection ended: how long to wait before
    /// the next attempt. Each wait doubles, up to the cap.
    pub(crate) fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = wait.saturating_mul(2).min(self.cap);
        wait
    }

    /// A connection ended after being up for `up`. One that lasted as long
    /// as the longest wait was a working connection: the next attempt
    /// comes after the first wait again. A broker that accepts and then
    /// drops us at once (another client with our id, which takes the
    /// session back) keeps the waits growing.
    pub(crate) fn ended_after(&mut self, up: Duration) {
        if up >= self.cap {
            self.next = self.first;
        }
    }
}

/// What became of the connection, as the log names it. Two outcomes are
/// the same state when their text is: `cannot connect: Connection refused`
/// at every try is one episode, a refusal for another reason a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Connected (the text names the broker).
    Up(String),
    /// Not connected, and why (the broker's reason for a refusal).
    Down(String),
}

/// Logs a connection's outcomes once per change of state.
#[derive(Debug, Default)]
pub(crate) struct Episodes {
    last: Option<Outcome>,
}

impl Episodes {
    /// The line to log for `outcome`, if it is a change of state.
    pub(crate) fn note(&mut self, outcome: Outcome) -> Option<String> {
        if self.last.as_ref() == Some(&outcome) {
            return None;
        }
        let line = match &outcome {
            Outcome::Up(s) => s.clone(),
            Outcome::Down(s) => s.clone(),
        };
        self.last = Some(outcome);
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_a_minute_and_start_over_after_a_working_connection() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..9).map(|_| b.failed().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Dropped at once after connecting: the waits keep growing.
        b.ended_after(Duration::from_secs(5));
        assert_eq!(b.failed().as_secs(), 60);
        b.ended_after(Duration::from_secs(60));
        assert_eq!(b.failed().as_secs(), 1);
        assert_eq!(b.failed().as_secs(), 2);
        // Odd settings stay sane.
        let mut b = Backoff::new(Duration::from_secs(90), Duration::from_secs(60));
        assert_eq!(b.failed().as_secs(), 60);
        let mut b = Backoff::new(Duration::ZERO, Duration::MAX);
        assert_eq!(b.failed(), Duration::ZERO);
    }

    #[test]
    fn each_state_is_logged_once_until_it_changes() {
        let mut e = Episodes::default();
        let refused = || {
            Outcome::Down(
                "mqtt://127.0.0.1:1883: the broker refused the connection: bad user name or password"
                    .into(),
            )
        };
        let lines: Vec<Option<String>> = [
            refused(),
            refused(),
            refused(),
            Outcome::Up("connected to mqtt://127.0.0.1:1883".into()),
            Outcome::Down("connection lost: the broker closed the connection".into()),
            Outcome::Down("connection lost: the broker closed the connection".into()),
            refused(),
            Outcome::Up("connected to mqtt://127.0.0.1:1883".into()),
            Outcome::Up("connected to mqtt://127.0.0.1:1883".into()),
        ]
        .into_iter()
        .map(|o| e.note(o))
        .collect();
        let logged: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_some())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(logged, [0, 3, 4, 6, 7]);
        assert!(
            lines[0]
                .as_deref()
                .unwrap()
                .ends_with("bad user name or password")
        );
    }
}
