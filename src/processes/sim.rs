//! `mcce sim`: a stand-in MCEE meter on a pseudo-terminal, for tests, the
//! demo and anyone without the hardware. It stays silent until triggered,
//! answers with frames carrying a realistic household load, and can
//! misbehave in the ways we cannot rule out for the real device.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::adapters::clock::Clock;
use crate::adapters::localtime::offset_at;
use crate::adapters::serial::{Pty, open_pty};
use crate::core::config::ProtocolName;

/// A deterministic household on a 3 kW contract (docs/trip.md): standby, a
/// fridge cycling, breakfast (the kettle and the microwave together take
/// the house into the tolerated band for under a minute: a chirp, nothing
/// more), and an evening when the washing machine heats its water while
/// the oven bakes: about 3.5 kW for 15 minutes, then a hob ring on top
/// (3.8-3.9 kW) brings the meter within a minute of tripping just before
/// the washing machine stops heating. Then the hob, lights and TV. `seed`
/// shifts the fridge and the noise, not the day: every seed chirps at
/// breakfast and warns once in the evening without reaching the trip.
///
/// Why the evening is shaped so: the fridge's 110 W moves the trip time a
/// lot (3.48 kW trips after about 30 minutes, 3.59 kW after 14), so a
/// fixed stretch at one power would warn for some seeds and trip or stay
/// silent for others. The first stretch lasts exactly one fridge cycle, so
/// the fridge runs the same 5½ minutes of it whatever its phase and the
/// allowance used by its end hardly depends on the seed (about three
/// quarters). The ring then puts the power where the curve is steep and
/// little allowance is left, so what remains is tens of seconds for every
/// seed, fridge on or off: the siren sounds at once and the load falls
/// 15 s later, still short of the trip.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub seed: u64,
}

/// A small, good-enough hash for noise that depends only on its inputs.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The fridge: 110 W for 5½ minutes in every 15.
const FRIDGE_CYCLE: u32 = 900;
const FRIDGE_ON: u32 = 330;

impl Profile {
    /// Watts at `sec` seconds after local midnight.
    pub fn watts(&self, sec: u32) -> u32 {
        let min = |h: u32, m: u32| (h * 60 + m) * 60;
        let within = |a: u32, b: u32| (a..b).contains(&sec);
        let mut w: i64 = 170;
        // Fridge: phase set by the seed.
        let phase = (mix(self.seed) % u64::from(FRIDGE_CYCLE)) as u32;
        if (sec + phase) % FRIDGE_CYCLE < FRIDGE_ON {
            w += 110;
        }
        if within(min(7, 10), min(7, 14)) {
            w += 2000; // kettle
        }
        if within(min(7, 11), min(7, 11) + 45) {
            w += 1300; // microwave warming the milk
        }
        if within(min(7, 0), min(8, 0)) {
            w += 120; // breakfast lights and radio
        }
        // Washing machine: heats, then turns with spin bursts.
        if within(min(18, 35), OVERLAP_END) {
            w += 1870;
        } else if within(OVERLAP_END, min(20, 0)) {
            w += if (sec / 60).is_multiple_of(7) {
                480
            } else {
                220
            };
        }
        if within(OVERLAP_START, min(19, 40)) {
            w += 1300; // oven
        }
        if within(RING_ON, min(19, 40)) {
            w += 300; // a small hob ring for the sauce
        }
        if within(min(19, 40), min(20, 30)) {
            w += 900 + i64::from((sec / 120) % 5) * 250; // hob
        }
        if within(min(18, 30), min(23, 30)) {
            w += 160; // lights, TV
        }
        let noise = (mix(self.seed ^ u64::from(sec / 5)) % 61) as i64 - 30;
        (w + noise).clamp(0, 65_535) as u32
    }
}

/// When the oven comes on while the washing machine heats (18:45), when a
/// hob ring joins them (19:00, one fridge cycle later) and when the
/// washing machine stops heating (19:00:15), in seconds after midnight.
/// The siren sounds with the ring; 15 s later the load falls back.
pub const OVERLAP_START: u32 = (18 * 60 + 45) * 60;
pub const RING_ON: u32 = OVERLAP_START + FRIDGE_CYCLE;
pub const OVERLAP_END: u32 = RING_ON + 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One frame per trigger.
    PerTrigger,
    /// After the first trigger, a frame every period, unprompted.
    Stream(Duration),
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The protocol the simulated meter speaks.
    pub protocol: ProtocolName,
    pub profile: Profile,
    pub mode: Mode,
    /// Random bytes between frames and broken fragments.
    pub noise: bool,
    /// Frames written a few bytes at a time.
    pub split: bool,
    /// Ignore triggers for `.1` starting `.0` after start.
    pub silence: Option<(Duration, Duration)>,
    /// Close the pty `.0` after start, reappear at the same link after `.1`.
    pub hangup: Option<(Duration, Duration)>,
    /// A symlink to the device, kept pointing at the current pty.
    pub link: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            protocol: ProtocolName::Mcee,
            profile: Profile { seed: 1 },
            mode: Mode::PerTrigger,
            noise: false,
            split: false,
            silence: None,
            hangup: None,
            link: None,
        }
    }
}

/// A running simulator; dropping it stops it.
pub struct Sim {
    path: Arc<Mutex<PathBuf>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sim {
    pub fn start(opts: SimOptions, clock: Arc<dyn Clock>) -> io::Result<Sim> {
        let pty = open_pty(opts.link.as_deref())?;
        let path = Arc::new(Mutex::new(pty.name.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (path.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("sim".into())
            .spawn(move || {
                if let Err(e) = serve(pty, &opts, clock.as_ref(), &p, &s) {
                    log::error!("simulator stopped: {e}");
                }
            })?;
        Ok(Sim {
            path,
            stop,
            thread: Some(thread),
        })
    }

    /// The device path of the current pty.
    pub fn path(&self) -> PathBuf {
        self.path.lock().unwrap().clone()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    mut pty: Pty,
    opts: &SimOptions,
    clock: &dyn Clock,
    path: &Mutex<PathBuf>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let started = Instant::now();
    let mut hung_up = false;
    let mut stream = Stream::default();
    let mut window: Vec<u8> = Vec::with_capacity(8);
    let mut counter: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let elapsed = started.elapsed();
        if let Some((at, len)) = opts.hangup
            && !hung_up
            && elapsed >= at
        {
            hung_up = true;
            pty = hang_up(pty, opts.link.as_deref(), len, stop)?;
            *path.lock().unwrap() = pty.name.clone();
            stream = Stream::default();
        }
        let silent = opts
            .silence
            .is_some_and(|(at, len)| elapsed >= at && elapsed < at + len);
        let trigger = opts.protocol.protocol().trigger();
        let triggered = read_trigger(&mut pty.master, trigger, &mut window);
        let due = match opts.mode {
            Mode::PerTrigger => triggered,
            Mode::Stream(period) => stream.due(triggered, period),
        };
        if due && !silent {
            counter += 1;
            answer(&mut pty.master, opts, clock, counter)?;
        }
    }
    if let Some(link) = &opts.link {
        let _ = std::fs::remove_file(link);
    }
    Ok(())
}

/// `--stream`: after the first trigger, a frame every period.
#[derive(Default)]
struct Stream {
    /// When the next frame is due, once streaming.
    next: Option<Instant>,
}

impl Stream {
    fn due(&mut self, triggered: bool, period: Duration) -> bool {
        if triggered && self.next.is_none() {
            self.next = Some(Instant::now());
        }
        match self.next {
            Some(at) if Instant::now() >= at => {
                self.next = Some(at + period);
                true
            }
            _ => false,
        }
    }
}

/// `--hangup`: closes the pty (and removes the link) for `len`, then
/// opens a new one at the same link.
fn hang_up(pty: Pty, link: Option<&Path>, len: Duration, stop: &AtomicBool) -> io::Result<Pty> {
    log::info!("sim: hanging up for {len:?}");
    drop(pty);
    if let Some(link) = link {
        let _ = std::fs::remove_file(link);
    }
    let back = Instant::now() + len;
    while Instant::now() < back && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pty = open_pty(link)?;
    log::info!("sim: back at {}", pty.name.display());
    Ok(pty)
}

/// Reads what the daemon sent (waiting up to the pty's 20 ms timeout);
/// true when the trigger sequence arrived. `window` holds the last bytes
/// across reads, so a trigger split between reads is seen.
fn read_trigger(master: &mut impl Read, trigger: &[u8], window: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 64];
    let mut triggered = false;
    match master.read(&mut buf) {
        Ok(n) => {
            for b in &buf[..n] {
                window.push(*b);
                if window.len() > trigger.len() {
                    window.remove(0);
                }
                if *window == trigger {
                    triggered = true;
                    window.clear();
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        // No slave open (between daemon opens): nothing to answer.
        Err(_) => std::thread::sleep(Duration::from_millis(20)),
    }
    triggered
}

/// Sends the frame for the profile's power at the clock's time of day,
/// with noise before it if asked.
fn answer(
    master: &mut impl Write,
    opts: &SimOptions,
    clock: &dyn Clock,
    counter: u64,
) -> io::Result<()> {
    let wall = clock.wall();
    let sec = (wall + i64::from(offset_at(wall))).rem_euclid(86_400) as u32;
    let watts = opts.profile.watts(sec);
    let protocol = opts.protocol.protocol();
    let mut bytes = Vec::new();
    if opts.noise {
        let r = mix(opts.profile.seed ^ counter);
        // Noise without 'S', and now and then a cut-off frame.
        bytes.extend((0..r % 12).map(|i| (mix(r + i) % 0x50) as u8));
        if r.is_multiple_of(5) {
            bytes.extend_from_slice(protocol.cut_frame());
        }
    }
    bytes.extend(protocol.encode(watts, (counter % 200) as u8));
    write_out(master, &bytes, opts.split)
}

fn write_out(master: &mut impl Write, bytes: &[u8], split: bool) -> io::Result<()> {
    if split {
        for chunk in bytes.chunks(3) {
            master.write_all(chunk)?;
            master.flush()?;
            std::thread::sleep(Duration::from_millis(3));
        }
    } else {
        master.write_all(bytes)?;
    }
    master.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mcee::{Mcee, decode_all};
    use crate::core::protocol::Protocol;

    /// The demo's day on a 3 kW contract (docs/trip.md), polled every 5 s,
    /// whatever the seed: the breakfast kettle chirps only; the evening
    /// overlap chirps, then warns once, within a minute of the end of the
    /// overlap, and falls back before the trip; never over the short limit.
    #[test]
    fn the_demo_day_chirps_at_breakfast_and_warns_once_in_the_evening() {
        for seed in [0, 1, 2, 3, 4, 5, 10, 22, 28, 99, 12_345, u64::MAX] {
            demo_day(seed);
        }
    }

    fn demo_day(seed: u64) {
        use crate::core::trip::{Band, TripSettings};
        use crate::core::warning::{ContractAlarm, Sound, Urgency};
        let p = Profile { seed };
        let settings = TripSettings::published(3000);
        let mut alarm =
            ContractAlarm::new(settings, Duration::from_secs(15), Duration::from_secs(30));
        let (mut chirps, mut warnings, mut sirens) = (Vec::new(), Vec::new(), 0);
        for sec in (0..86_400u32).step_by(5) {
            let d = alarm.observe(Duration::from_secs(u64::from(sec)), p.watts(sec));
            if d.sound == Some(Sound::Chirp) {
                chirps.push(sec);
            }
            if d.sound == Some(Sound::Siren) {
                sirens += 1;
            }
            if d.changed && d.urgency == Urgency::Urgent {
                warnings.push(sec);
            }
            if let Some(t) = alarm.state().trip_in {
                assert!(
                    t > Duration::ZERO,
                    "seed {seed}: the meter would trip at {sec}"
                );
            }
            assert_ne!(
                settings.band(p.watts(sec)),
                Band::Over,
                "seed {seed}: {sec}"
            );
        }
        let hm = |h: u32, m: u32| (h * 60 + m) * 60;
        assert_eq!(chirps, [hm(7, 11), OVERLAP_START], "seed {seed}");
        assert_eq!(warnings.len(), 1, "seed {seed}: {warnings:?}");
        assert!(
            (OVERLAP_END - 60..OVERLAP_END).contains(&warnings[0]),
            "seed {seed}: {warnings:?}"
        );
        assert!(sirens >= 1, "seed {seed}");
    }

    #[test]
    fn the_seed_shifts_the_fridge_and_the_noise_not_the_day() {
        let (a, b) = (Profile { seed: 1 }, Profile { seed: 2 });
        let differ = (0..86_400)
            .step_by(5)
            .filter(|s| a.watts(*s) != b.watts(*s));
        assert!(differ.count() > 1000, "another seed is another day");
        // The kettle at 07:11 and the evening overlap stay put, in the
        // tolerated band of a 3 kW contract (3301-3990 W); the night is low.
        let tolerated = 3301..=3990;
        for p in [a, b, Profile { seed: 99 }] {
            assert!(tolerated.contains(&p.watts(7 * 3600 + 11 * 60)));
            assert!(
                (OVERLAP_START..OVERLAP_END)
                    .step_by(5)
                    .all(|s| tolerated.contains(&p.watts(s)))
            );
            assert!(p.watts(OVERLAP_END) < 3300);
            assert!((100..400).contains(&p.watts(3 * 3600)));
        }
    }

    #[test]
    fn a_stream_sends_every_period_after_the_first_trigger() {
        let mut s = Stream::default();
        let period = Duration::from_millis(30);
        assert!(!s.due(false, period), "nothing before a trigger");
        assert!(s.due(true, period), "the first frame at once");
        assert!(!s.due(false, period), "then not before the period");
        std::thread::sleep(period);
        assert!(s.due(false, period), "then unprompted");
    }

    #[test]
    fn frames_decode() {
        assert_eq!(decode_all(&Mcee.encode(3120, 83)), vec![3120]);
        assert_eq!(decode_all(&Mcee.encode(70_000, 0)), vec![65_535]);
    }
}
