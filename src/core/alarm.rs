//! The power-cap alarm's decision (docs/protocol.md#the-alarm): when to
//! sound, a pure policy fed one reading at a time. Sounding it is the siren adapter's.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyConfig {
    pub cap_watts: u32,
    pub hysteresis_watts: u32,
    pub delay: Duration,
    pub repeat: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    Idle,
    /// Over the cap since this instant, waiting for `delay` to pass.
    Pending {
        since: Duration,
    },
    /// Sounding; the last siren started at this instant.
    Active {
        last: Duration,
    },
}

/// When to sound: at or above the cap for `delay`, then every `repeat`
/// until the power falls below `cap - hysteresis`.
#[derive(Debug)]
pub struct Policy {
    cfg: PolicyConfig,
    state: AlarmState,
}

impl Policy {
    pub fn new(cfg: PolicyConfig) -> Self {
        Policy {
            cfg,
            state: AlarmState::Idle,
        }
    }

    pub fn state(&self) -> AlarmState {
        self.state
    }

    /// Feeds one reading taken at monotonic time `now`; true when a siren
    /// should start now. A failed poll is not fed: no reading, no decision.
    pub fn observe(&mut self, now: Duration, watts: u32) -> bool {
        let over = watts >= self.cfg.cap_watts;
        let clear = watts < self.cfg.cap_watts - self.cfg.hysteresis_watts;
        match self.state {
            AlarmState::Idle if over => {
                self.state = AlarmState::Pending { since: now };
                self.fire_if_due(now)
            }
            AlarmState::Idle => false,
            AlarmState::Pending { .. } if !over => {
                self.state = AlarmState::Idle;
                false
            }
            AlarmState::Pending { .. } => self.fire_if_due(now),
            AlarmState::Active { .. } if clear => {
                self.state = AlarmState::Idle;
                false
            }
            AlarmState::Active { last } => {
                if now.saturating_sub(last) >= self.cfg.repeat {
                    self.state = AlarmState::Active { last: now };
                    true
                } else {
                    false
                }
            }
        }
    }

    fn fire_if_due(&mut self, now: Duration) -> bool {
        if let AlarmState::Pending { since } = self.state
            && now.saturating_sub(since) >= self.cfg.delay
        {
            self.state = AlarmState::Active { last: now };
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(delay: u64) -> PolicyConfig {
        PolicyConfig {
            cap_watts: 4200,
            hysteresis_watts: 200,
            delay: Duration::from_secs(delay),
            repeat: Duration::from_secs(30),
        }
    }

    /// Runs 5-second polls over a watt sequence; returns the poll times
    /// (seconds) at which a siren started.
    fn fires(delay: u64, watts: &[u32]) -> Vec<u64> {
        let mut p = Policy::new(cfg(delay));
        let mut out = Vec::new();
        for (i, w) in watts.iter().enumerate() {
            let t = i as u64 * 5;
            if p.observe(Duration::from_secs(t), *w) {
                out.push(t);
            }
        }
        out
    }

    #[test]
    fn enters_repeats_and_clears_with_hysteresis() {
        let mut w = vec![1000, 4200];
        w.extend([4300; 12]); // 60 s over
        w.extend([4100, 4050, 4000, 3999, 4300]); // in the band, then cleared, then over again
        assert_eq!(fires(0, &w), vec![5, 35, 65, 90]);
    }

    #[test]
    fn delay_needs_continuous_overload() {
        let w = [4300, 4300, 4100, 4300, 4300, 4300, 4300];
        // Pending at 0, broken at 10, pending again at 15, due at 30.
        assert_eq!(fires(15, &w), vec![30]);
        assert_eq!(fires(0, &[4199, 4200]), vec![5]);
    }
}
