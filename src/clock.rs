//! Time, behind a trait so the daemon's schedule can be driven faster than
//! real time (tests run a day in seconds, `mcce demo --speed N`).
//!
//! Two clocks matter on a Pi without an RTC: the monotonic clock paces the
//! polls (immune to NTP steps), the wall clock stamps the samples.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Wall-clock time in Unix milliseconds (may jump, may be 1970 at boot).
    fn wall_ms(&self) -> i64;
    /// Wall-clock time to the nearest second: polls fall on whole seconds,
    /// and rounding keeps a tick that wakes a hair early on its own second.
    fn wall(&self) -> i64 {
        (self.wall_ms() + 500).div_euclid(1000)
    }
    /// Monotonic time since an arbitrary origin.
    fn mono(&self) -> Duration;
    /// Blocks until `mono() >= until`, or earlier when `nap` (which
    /// sleeps up to the real time it is given) returns early for a signal.
    fn sleep_until(&self, until: Duration, nap: &dyn Fn(Duration));
}

/// The machine's clocks.
pub struct RealClock {
    origin: Instant,
}

impl RealClock {
    pub fn new() -> Self {
        RealClock {
            origin: Instant::now(),
        }
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

/// The machine's wall clock in Unix seconds (truncated).
pub fn system_wall() -> i64 {
    system_wall_ms().div_euclid(1000)
}

fn system_wall_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

impl Clock for RealClock {
    fn wall_ms(&self) -> i64 {
        system_wall_ms()
    }
    fn mono(&self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep_until(&self, until: Duration, nap: &dyn Fn(Duration)) {
        let now = self.mono();
        if until > now {
            nap(until - now);
        }
    }
}

/// Real time sped up `speed` times, starting at a chosen wall time: the demo
/// lives through a day in minutes while the serial I/O stays real.
pub struct ScaledClock {
    origin: Instant,
    start_wall: i64,
    speed: f64,
}

impl ScaledClock {
    pub fn new(start_wall: i64, speed: f64) -> Self {
        ScaledClock {
            origin: Instant::now(),
            start_wall,
            speed,
        }
    }
}

impl Clock for ScaledClock {
    fn wall_ms(&self) -> i64 {
        self.start_wall * 1000 + self.mono().as_millis() as i64
    }
    fn mono(&self) -> Duration {
        self.origin.elapsed().mul_f64(self.speed)
    }
    fn sleep_until(&self, until: Duration, nap: &dyn Fn(Duration)) {
        let now = self.mono();
        if until > now {
            nap((until - now).div_f64(self.speed));
        }
    }
}

/// A clock that only moves when told to: sleeping jumps straight to the
/// deadline, and a test can step the wall clock to mimic NTP.
pub struct ManualClock {
    state: Mutex<(Duration, i64)>,
    start_wall: i64,
}

impl ManualClock {
    pub fn new(start_wall: i64) -> Self {
        ManualClock {
            state: Mutex::new((Duration::ZERO, 0)),
            start_wall,
        }
    }
    /// Lets monotonic (and wall) time pass, as a slow poll would.
    pub fn advance(&self, by: Duration) {
        self.state.lock().unwrap().0 += by;
    }
    /// Steps the wall clock without touching monotonic time.
    pub fn step_wall(&self, by_seconds: i64) {
        self.state.lock().unwrap().1 += by_seconds;
    }
}

impl Clock for ManualClock {
    fn wall_ms(&self) -> i64 {
        let s = self.state.lock().unwrap();
        (self.start_wall + s.1) * 1000 + s.0.as_millis() as i64
    }
    fn mono(&self) -> Duration {
        self.state.lock().unwrap().0
    }
    fn sleep_until(&self, until: Duration, _nap: &dyn Fn(Duration)) {
        let mut s = self.state.lock().unwrap();
        if until > s.0 {
            s.0 = until;
        }
    }
}

/// The next poll time on an absolute schedule: ticks at `origin + n·period`.
/// Missed ticks (a poll that overran) are skipped, never bunched up, so the
/// schedule neither drifts nor bursts.
pub fn next_tick(origin: Duration, period: Duration, now: Duration) -> Duration {
    if now < origin {
        return origin;
    }
    let n = (now - origin).as_nanos() / period.as_nanos() + 1;
    origin + period * n as u32
}

/// Monotonic offset at which the first tick should fall so that the polls
/// land on wall-clock multiples of `period` (tidy stamps :00, :05, …).
pub fn aligned_origin(mono_now: Duration, wall_now_ms: i64, period: Duration) -> Duration {
    let p = period.as_millis() as i64;
    let into = wall_now_ms.rem_euclid(p);
    let wait = if into == 0 { 0 } else { p - into };
    mono_now + Duration::from_millis(wait as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_do_not_drift_and_skip_missed_ones() {
        let p = Duration::from_secs(5);
        let o = Duration::from_millis(300);
        assert_eq!(next_tick(o, p, Duration::ZERO), o);
        assert_eq!(next_tick(o, p, o), o + p);
        assert_eq!(next_tick(o, p, o + Duration::from_millis(4999)), o + p);
        // A 12-second stall skips to the next tick on the grid.
        assert_eq!(next_tick(o, p, o + Duration::from_secs(12)), o + p * 3);
    }

    #[test]
    fn origin_aligns_on_wall_multiples() {
        let p = Duration::from_secs(5);
        assert_eq!(
            aligned_origin(Duration::from_secs(7), 1_000_002_000, p),
            Duration::from_secs(10)
        );
        assert_eq!(
            aligned_origin(Duration::from_secs(7), 1_000_000_000, p),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn manual_clock_steps() {
        let c = ManualClock::new(1000);
        c.sleep_until(Duration::from_secs(5), &|_| {
            panic!("a manual clock never sleeps")
        });
        assert_eq!(c.wall(), 1005);
        c.step_wall(-3600);
        assert_eq!(c.wall(), 1005 - 3600);
        assert_eq!(c.mono(), Duration::from_secs(5));
    }
}
