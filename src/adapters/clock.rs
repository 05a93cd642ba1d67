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

/// The demo's clock: like [`ScaledClock`], but time moves only when the
/// daemon sleeps to its next tick, and then exactly to that tick. A busy
/// machine makes the demo run late instead of skipping polls, so the
/// short events of the simulated day (a 15-s warning is 4 ms of real time
/// at 4000x) are never lost to a stall.
pub struct SteppedClock {
    origin: Instant,
    start_wall: i64,
    speed: f64,
    /// Simulated time since the start, in nanoseconds.
    now: std::sync::atomic::AtomicU64,
}

impl SteppedClock {
    pub fn new(start_wall: i64, speed: f64) -> Self {
        SteppedClock {
            origin: Instant::now(),
            start_wall,
            speed,
            now: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Clock for SteppedClock {
    fn wall_ms(&self) -> i64 {
        self.start_wall * 1000 + self.mono().as_millis() as i64
    }
    fn mono(&self) -> Duration {
        Duration::from_nanos(self.now.load(std::sync::atomic::Ordering::SeqCst))
    }
    /// Paces the tick at its place in real time (no nap when late), then
    /// moves to it; a nap cut short by a signal moves only as far as the
    /// real time it lasted.
    fn sleep_until(&self, until: Duration, nap: &dyn Fn(Duration)) {
        let now = self.mono();
        if until <= now {
            return;
        }
        let due = self.origin + until.div_f64(self.speed);
        let before = Instant::now();
        if due > before {
            nap(due - before);
        }
        let reached = if Instant::now() >= due {
            until
        } else {
            (now + before.elapsed().mul_f64(self.speed)).min(until)
        };
        self.now.store(
            reached.as_nanos() as u64,
            std::sync::atomic::Ordering::SeqCst,
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::schedule::next_tick;

    /// A stall in the middle of a nap (a busy machine) makes the demo's
    /// clock late, never skip: it reaches exactly the tick it slept to, so
    /// the next tick is the next period, where the scaled clock would have
    /// jumped past several.
    #[test]
    fn the_stepped_clock_never_skips_a_tick_for_a_stall() {
        let p = Duration::from_secs(5);
        let stall = |d: Duration| std::thread::sleep(d + Duration::from_millis(30));
        let stepped = SteppedClock::new(0, 1000.0);
        stepped.sleep_until(p, &stall);
        assert_eq!(stepped.mono(), p);
        assert_eq!(next_tick(Duration::ZERO, p, stepped.mono()), 2 * p);
        assert_eq!(stepped.wall(), 5);
        let scaled = ScaledClock::new(0, 1000.0);
        scaled.sleep_until(p, &stall);
        assert!(next_tick(Duration::ZERO, p, scaled.mono()) > 2 * p);
        // A nap cut short moves the clock only as far as it lasted.
        let cut = SteppedClock::new(0, 1000.0);
        cut.sleep_until(Duration::from_secs(3600), &|_| ());
        assert!(cut.mono() < Duration::from_secs(3600));
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
