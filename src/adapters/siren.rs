//! The siren: one thread owns the buzzer and plays one sound at a time (a
//! siren or a chirp), so polling never waits for it and two sounds can
//! never overlap (the original spawned a process per poll and alarms did).
//! The buzzer's lines are reached through [`Buzzer`]; `crate::adapters::gpio` drives
//! the real ones.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::core::warning::Sound;

/// The two lines of the A4988 buzzer circuit.
pub trait Buzzer: Send {
    /// The driver's power ("DC on") line.
    fn set_enable(&mut self, on: bool) -> io::Result<()>;
    /// The tone line (the driver's STEP input).
    fn set_tone(&mut self, high: bool) -> io::Result<()>;
}

/// Why a buzzer could not be opened (a missing GPIO chip, a line not
/// exported, no permission): the daemon then only logs its alarms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuzzerUnavailable(pub String);

impl std::fmt::Display for BuzzerUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuzzerUnavailable {}

/// No buzzer wired (`BUZZER=none`).
pub struct Silent;

impl Buzzer for Silent {
    fn set_enable(&mut self, _: bool) -> io::Result<()> {
        Ok(())
    }
    fn set_tone(&mut self, _: bool) -> io::Result<()> {
        Ok(())
    }
}

/// The sound of one siren: a square wave whose pitch sweeps up, then down.
#[derive(Debug, Clone, Copy)]
pub struct SirenShape {
    pub duration: Duration,
    pub low_hz: f64,
    pub high_hz: f64,
}

impl SirenShape {
    pub fn new(duration: Duration) -> Self {
        SirenShape {
            duration,
            low_hz: 600.0,
            high_hz: 1800.0,
        }
    }

    /// Frequency at `t` into the siren: a triangle sweep low→high→low.
    pub fn hz_at(&self, t: Duration) -> f64 {
        let x = (t.as_secs_f64() / self.duration.as_secs_f64()).clamp(0.0, 1.0);
        let up = if x < 0.5 { x * 2.0 } else { (1.0 - x) * 2.0 };
        self.low_hz + (self.high_hz - self.low_hz) * up
    }
}

/// The chirp: a few short beeps at one pitch, the enable line high for the
/// whole pattern. Unlike the siren's long sweep it says "noticed, not yet
/// urgent" (the power entered the tolerated band, docs/trip.md).
#[derive(Debug, Clone, Copy)]
pub struct ChirpShape {
    pub beeps: u32,
    pub beep: Duration,
    pub pause: Duration,
    pub hz: f64,
}

impl Default for ChirpShape {
    /// Two 80 ms beeps at 2.4 kHz, 80 ms apart: a quarter of a second.
    fn default() -> Self {
        ChirpShape {
            beeps: 2,
            beep: Duration::from_millis(80),
            pause: Duration::from_millis(80),
            hz: 2400.0,
        }
    }
}

impl ChirpShape {
    /// The whole pattern's length.
    pub fn duration(&self) -> Duration {
        self.beep * self.beeps + self.pause * self.beeps.saturating_sub(1)
    }
}

struct Shared {
    request: Mutex<Request>,
    /// Set with `Request::Quit`: read at every edge of a playing siren
    /// without taking the lock (up to ~3 600 edges a second).
    quitting: AtomicBool,
    /// What plays now; taken after `request`, never before.
    playing: Mutex<Playing>,
    wake: Condvar,
    sounding: AtomicBool,
}

#[derive(PartialEq)]
enum Request {
    None,
    Play(Sound),
    Quit,
}

/// What the thread is playing, under the request lock.
struct Playing(Option<Sound>);

/// A thread that owns the buzzer and plays one sound at a time. Dropping it
/// stops any sound and leaves both lines low.
pub struct Siren {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a thread; [`Siren::spawn_with`] takes another than
/// [`start_thread`] in tests, to make the start fail.
pub type Spawn = fn(std::thread::Builder, Box<dyn FnOnce() + Send>) -> io::Result<JoinHandle<()>>;

/// Starts the thread as configured by the builder: an error, not a panic
/// as `std::thread::spawn` would give, when the system refuses it.
pub fn start_thread(
    builder: std::thread::Builder,
    f: Box<dyn FnOnce() + Send>,
) -> io::Result<JoinHandle<()>> {
    builder.spawn(f)
}

impl Siren {
    /// Starts the buzzer's thread with both lines low. An error when the
    /// system cannot start a thread (too many processes, no memory for a
    /// stack): the buzzer is dropped, its lines left low.
    pub fn spawn(
        buzzer: Box<dyn Buzzer>,
        shape: SirenShape,
        chirp: ChirpShape,
    ) -> io::Result<Siren> {
        Siren::spawn_with(buzzer, shape, chirp, start_thread)
    }

    /// [`Siren::spawn`] with `spawn` starting the thread.
    pub fn spawn_with(
        mut buzzer: Box<dyn Buzzer>,
        shape: SirenShape,
        chirp: ChirpShape,
        spawn: Spawn,
    ) -> io::Result<Siren> {
        quiet(buzzer.as_mut());
        let shared = Arc::new(Shared {
            request: Mutex::new(Request::None),
            playing: Mutex::new(Playing(None)),
            quitting: AtomicBool::new(false),
            wake: Condvar::new(),
            sounding: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = spawn(
            std::thread::Builder::new().name("siren".into()),
            Box::new(move || siren_loop(buzzer, shape, chirp, &s)),
        )?;
        Ok(Siren {
            shared,
            thread: Some(thread),
        })
    }

    /// Starts a siren unless one is playing or waiting; false when one
    /// already is. A siren asked for during a chirp plays right after it.
    pub fn trigger(&self) -> bool {
        self.play(Sound::Siren)
    }

    /// Starts a chirp unless any sound is playing or waiting (a siren says
    /// more than a chirp); false when refused.
    pub fn chirp(&self) -> bool {
        self.play(Sound::Chirp)
    }

    fn play(&self, sound: Sound) -> bool {
        let mut r = self.shared.request.lock().unwrap();
        let playing = self.shared.playing.lock().unwrap().0;
        let free = match sound {
            Sound::Siren => playing != Some(Sound::Siren) && *r != Request::Play(Sound::Siren),
            Sound::Chirp => playing.is_none() && *r == Request::None,
        };
        if !free || *r == Request::Quit {
            return false;
        }
        *r = Request::Play(sound);
        self.shared.wake.notify_all();
        true
    }

    /// True from the moment a sound is asked for until it has ended. Both
    /// facts are read under the request lock, which the thread holds when it
    /// turns a request into a sound and when it ends one: read apart, a
    /// request taken up in between looked like silence, and `mcce beep`
    /// dropped (cut) its sound before it began.
    pub fn is_sounding(&self) -> bool {
        let r = self.shared.request.lock().unwrap();
        matches!(*r, Request::Play(_)) || self.shared.sounding.load(Ordering::SeqCst)
    }
}

impl Drop for Siren {
    fn drop(&mut self) {
        *self.shared.request.lock().unwrap() = Request::Quit;
        self.shared.quitting.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn quiet(b: &mut dyn Buzzer) {
    if let Err(e) = b.set_tone(false) {
        log::error!("buzzer: cannot drive the tone line low: {e}");
    }
    if let Err(e) = b.set_enable(false) {
        log::error!("buzzer: cannot drive the enable line low: {e}");
    }
}

fn siren_loop(
    mut buzzer: Box<dyn Buzzer>,
    shape: SirenShape,
    chirp_shape: ChirpShape,
    shared: &Shared,
) {
    loop {
        let sound = {
            let mut r = shared.request.lock().unwrap();
            while *r == Request::None {
                r = shared.wake.wait(r).unwrap();
            }
            let Request::Play(sound) = *r else {
                break;
            };
            shared.sounding.store(true, Ordering::SeqCst);
            shared.playing.lock().unwrap().0 = Some(sound);
            *r = Request::None;
            sound
        };
        match sound {
            Sound::Siren => play(buzzer.as_mut(), shape, shared),
            Sound::Chirp => chirp(buzzer.as_mut(), chirp_shape, shared),
        }
        quiet(buzzer.as_mut());
        let r = shared.request.lock().unwrap();
        shared.playing.lock().unwrap().0 = None;
        shared.sounding.store(false, Ordering::SeqCst);
        drop(r);
    }
    quiet(buzzer.as_mut());
}

/// Plays the chirp's beeps; the enable line stays high through the pauses,
/// the tone line low.
fn chirp(b: &mut dyn Buzzer, shape: ChirpShape, shared: &Shared) {
    if let Err(e) = b.set_enable(true) {
        log::error!("buzzer: cannot power the driver: {e}");
        return;
    }
    let half = Duration::from_secs_f64(0.5 / shape.hz);
    for i in 0..shape.beeps {
        if i > 0 {
            std::thread::sleep(shape.pause);
        }
        let start = Instant::now();
        let mut high = false;
        while start.elapsed() < shape.beep {
            if shared.quitting.load(Ordering::Relaxed) {
                return;
            }
            high = !high;
            if let Err(e) = b.set_tone(high) {
                log::error!("buzzer: tone line failed: {e}");
                return;
            }
            std::thread::sleep(half);
        }
        if high && let Err(e) = b.set_tone(false) {
            log::error!("buzzer: tone line failed: {e}");
            return;
        }
    }
}

fn play(b: &mut dyn Buzzer, shape: SirenShape, shared: &Shared) {
    if let Err(e) = b.set_enable(true) {
        log::error!("buzzer: cannot power the driver: {e}");
        return;
    }
    let start = Instant::now();
    let mut high = false;
    loop {
        let t = start.elapsed();
        if t >= shape.duration || shared.quitting.load(Ordering::Relaxed) {
            break;
        }
        high = !high;
        if let Err(e) = b.set_tone(high) {
            log::error!("buzzer: tone line failed: {e}");
            break;
        }
        std::thread::sleep(Duration::from_secs_f64(0.5 / shape.hz_at(t)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every level change with its time.
    type Edges = Arc<Mutex<Vec<(Instant, &'static str, bool)>>>;
    struct Recorder(Edges);
    impl Buzzer for Recorder {
        fn set_enable(&mut self, on: bool) -> io::Result<()> {
            self.0.lock().unwrap().push((Instant::now(), "en", on));
            Ok(())
        }
        fn set_tone(&mut self, on: bool) -> io::Result<()> {
            self.0.lock().unwrap().push((Instant::now(), "tone", on));
            Ok(())
        }
    }

    /// A thread the system refuses to start is an error to the caller, not
    /// a panic (`panic = "abort"` would end the daemon); the lines were
    /// driven low first and nothing else touched them.
    #[test]
    fn a_thread_that_cannot_start_is_an_error_with_the_lines_low() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let refused = Siren::spawn_with(
            Box::new(Recorder(log.clone())),
            SirenShape::new(Duration::from_millis(100)),
            ChirpShape::default(),
            |_, _| Err(io::ErrorKind::WouldBlock.into()),
        );
        assert_eq!(
            refused.err().map(|e| e.kind()),
            Some(io::ErrorKind::WouldBlock)
        );
        let levels: Vec<(&str, bool)> = log.lock().unwrap().iter().map(|e| (e.1, e.2)).collect();
        assert_eq!(levels, [("tone", false), ("en", false)]);
    }

    #[test]
    fn sirens_never_overlap_and_end_low() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shape = SirenShape {
            duration: Duration::from_millis(150),
            low_hz: 200.0,
            high_hz: 400.0,
        };
        let siren = Siren::spawn(
            Box::new(Recorder(log.clone())),
            shape,
            ChirpShape::default(),
        )
        .unwrap();
        assert!(siren.trigger());
        assert!(
            !siren.trigger(),
            "a second siren must be refused while one plays"
        );
        std::thread::sleep(Duration::from_millis(50));
        assert!(!siren.trigger());
        while siren.is_sounding() {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(siren.trigger(), "after the first ends a new one may start");
        std::thread::sleep(Duration::from_millis(20));
        drop(siren); // quits mid-siren
        let log = log.lock().unwrap();
        let enables: Vec<bool> = log.iter().filter(|e| e.1 == "en").map(|e| e.2).collect();
        // low at start, then exactly two on/off pairs, never on twice in a row.
        assert_eq!(enables.first(), Some(&false));
        assert_eq!(enables.iter().filter(|e| **e).count(), 2);
        for w in enables.windows(2) {
            assert!(!(w[0] && w[1]), "enable raised twice: overlap");
        }
        let last_tone = log.iter().rev().find(|e| e.1 == "tone").unwrap();
        let last_en = log.iter().rev().find(|e| e.1 == "en").unwrap();
        assert!(!last_tone.2 && !last_en.2, "lines must end low");
        let toggles = log.iter().filter(|e| e.1 == "tone" && e.2).count();
        // 150 ms at 200-400 Hz is roughly 30-60 rising edges.
        assert!((20..=70).contains(&toggles), "{toggles} tone pulses");
        // The first siren lasted about its duration.
        let on: Vec<Instant> = log.iter().filter(|e| e.1 == "en").map(|e| e.0).collect();
        let first = on[2].duration_since(on[1]);
        assert!(first >= Duration::from_millis(150), "{first:?}");
    }

    /// The chirp: the enable line high once for the whole pattern, the tone
    /// in two bursts with a silence between them, both lines low after;
    /// a siren asked for during a chirp plays right after it, a chirp asked
    /// for during a siren is refused.
    #[test]
    fn a_chirp_is_two_short_bursts_and_gives_way_to_a_siren() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let chirp = ChirpShape {
            beeps: 2,
            beep: Duration::from_millis(60),
            pause: Duration::from_millis(60),
            hz: 1000.0,
        };
        let shape = SirenShape {
            duration: Duration::from_millis(100),
            low_hz: 200.0,
            high_hz: 400.0,
        };
        let siren = Siren::spawn(Box::new(Recorder(log.clone())), shape, chirp).unwrap();
        assert!(siren.chirp());
        assert!(!siren.chirp(), "one chirp at a time");
        std::thread::sleep(Duration::from_millis(20));
        assert!(siren.trigger(), "a siren waits for the chirp");
        assert!(!siren.chirp(), "no chirp while a siren waits");
        std::thread::sleep(Duration::from_millis(30));
        while siren.is_sounding() {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(siren.trigger());
        std::thread::sleep(Duration::from_millis(10));
        assert!(!siren.chirp(), "no chirp during a siren");
        drop(siren);
        let log = log.lock().unwrap();
        let en: Vec<(Instant, bool)> = log
            .iter()
            .filter(|e| e.1 == "en")
            .map(|e| (e.0, e.2))
            .collect();
        // low at start; chirp on/off; siren on/off; siren on/off; low at
        // the end.
        let levels: Vec<bool> = en.iter().map(|e| e.1).collect();
        assert_eq!(
            levels,
            [false, true, false, true, false, true, false, false]
        );
        let (chirp_on, chirp_off) = (en[1].0, en[2].0);
        let length = chirp_off.duration_since(chirp_on);
        assert!(
            length >= chirp.duration() && length < chirp.duration() * 3,
            "chirp lasted {length:?}"
        );
        let siren_on = en[3].0;
        let siren_len = en[4].0.duration_since(siren_on);
        assert!(
            siren_on >= chirp_off,
            "the waiting siren followed the chirp"
        );
        assert!(siren_len >= shape.duration, "siren lasted {siren_len:?}");
        // The chirp's tone: two bursts of up to 60 rising edges (1 kHz for
        // 60 ms, fewer as sleeps overrun), the gap
        // between them at least the pause, nothing after its enable fell.
        let rises: Vec<Instant> = log
            .iter()
            .filter(|e| e.1 == "tone" && e.2 && e.0 > chirp_on && e.0 < chirp_off)
            .map(|e| e.0)
            .collect();
        let gaps: Vec<Duration> = rises.windows(2).map(|w| w[1] - w[0]).collect();
        let long = gaps
            .iter()
            .filter(|g| **g >= Duration::from_millis(50))
            .count();
        assert_eq!(long, 1, "one silence between the two beeps: {gaps:?}");
        assert!(
            (30..=125).contains(&rises.len()),
            "{} rising edges",
            rises.len()
        );
        let last_tone = log.iter().rev().find(|e| e.1 == "tone").unwrap();
        assert!(!last_tone.2, "tone ends low");
    }

    #[test]
    fn sweep_goes_up_then_down() {
        let s = SirenShape::new(Duration::from_secs(2));
        assert_eq!(s.hz_at(Duration::ZERO), 600.0);
        assert_eq!(s.hz_at(Duration::from_secs(1)), 1800.0);
        assert!(s.hz_at(Duration::from_millis(1500)) < 1800.0);
    }
}
