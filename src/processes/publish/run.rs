//! The publisher's loop, over a [`World`] that holds everything outside
//! it (the clock, the broker, the daemon's status and the history): one
//! thread, blocking, no runtime.
//!
//! Each turn reads the facts and builds the state first, so a connection's
//! first messages already carry the latest one; then it connects if the
//! backoff allows, takes what the broker delivered (Home Assistant's
//! `online`: discovery again), sends what the outbox says, and waits: for
//! the daemon's status to change, for the broker, for the state to go
//! stale (a reading older than two polls: no new status comes to say so),
//! or for the next connection attempt. A failed send drops the connection
//! and the outbox starts over on the next one.

use std::time::{Duration, Instant};

use super::discovery::ONLINE;
use super::link::{Backoff, Episodes, Outcome};
use super::outbox::{Message, Outbox};
use super::state::{Facts, Freshness, state};

/// One connection to the broker.
pub(crate) trait Conn {
    /// Sends a retained message.
    fn send(&mut self, m: &Message) -> Result<(), String>;
    /// The messages the broker delivered since the last call (topic and
    /// payload), keeping the connection alive (a ping when one is due).
    fn received(&mut self) -> Result<Vec<(String, Vec<u8>)>, String>;
    /// When the connection needs a look even if nothing arrives (the next
    /// keep-alive ping, or its answer's deadline).
    fn wake_at(&self) -> Option<Instant>;
    /// Ends the connection cleanly: the broker drops the Last Will.
    fn close(self);
}

/// Everything the loop reads, waits on and talks to.
pub(crate) trait World {
    type Conn: Conn;
    /// Monotonic time, for deadlines.
    fn monotonic(&self) -> Instant;
    /// Wall time (Unix seconds), which the status speaks in.
    fn wall(&self) -> i64;
    /// Connects with `will` as the Last Will, subscribed to `subscribe`;
    /// the error is the line to log (the broker's reason for a refusal).
    fn connect(&mut self, will: &Message, subscribe: Option<&str>) -> Result<Self::Conn, String>;
    /// What the daemon says now, with the energy figures.
    fn facts(&mut self) -> Facts;
    /// Blocks until `until` (none: no limit), a change of the daemon's
    /// status, something from the broker on `conn`, or a stop request.
    fn wait(&mut self, conn: Option<&Self::Conn>, until: Option<Instant>);
    fn stop_requested(&self) -> bool;
    /// A line for the log; `trouble`: the connection is down.
    fn log(&mut self, trouble: bool, line: &str);
}

/// The loop's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rules {
    /// The broker as the log names it (`mqtt://host:1883`).
    pub broker: String,
    pub fresh: Freshness,
    /// Home Assistant's status topic, with discovery on.
    pub ha_status: Option<String>,
}

/// The connection and since when it is up.
struct Up<C> {
    conn: C,
    since: Instant,
}

struct Loop<'a, W: World> {
    world: &'a mut W,
    rules: &'a Rules,
    outbox: Outbox,
    backoff: Backoff,
    episodes: Episodes,
    up: Option<Up<W::Conn>>,
    retry_at: Instant,
}

/// Runs until the world asks to stop; then says `offline` and
/// disconnects cleanly.
pub(crate) fn run<W: World>(world: &mut W, rules: &Rules, outbox: Outbox) {
    let retry_at = world.monotonic();
    let mut l = Loop {
        world,
        rules,
        outbox,
        backoff: Backoff::default(),
        episodes: Episodes::default(),
        up: None,
        retry_at,
    };
    while !l.world.stop_requested() {
        let until = l.turn();
        let conn = l.up.as_ref().map(|u| &u.conn);
        l.world.wait(conn, until);
    }
    if let Some(mut up) = l.up.take() {
        for m in l.outbox.stopping() {
            if up.conn.send(&m).is_err() {
                return;
            }
        }
        up.conn.close();
    }
}

impl<W: World> Loop<'_, W> {
    /// One turn; returns when to wake at the latest.
    fn turn(&mut self) -> Option<Instant> {
        let wall = self.world.wall();
        let facts = self.world.facts();
        let st = state(&facts, self.rules.fresh, wall);
        let recheck_at = st.recheck_at;
        let mut out = self.outbox.update(st);
        if self.up.is_none() && self.world.monotonic() >= self.retry_at {
            out = self.connect();
        }
        if let Some(up) = &mut self.up {
            match up.conn.received() {
                Ok(got) => {
                    let ha = self.rules.ha_status.as_deref();
                    if got
                        .iter()
                        .any(|(t, p)| Some(t.as_str()) == ha && p == ONLINE.as_bytes())
                    {
                        // Everything again, the latest state included.
                        out = self.outbox.ha_online();
                    }
                }
                Err(e) => self.lost(&e),
            }
        }
        self.send(&out);
        let now = self.world.monotonic();
        let stale_at = recheck_at.map(|t| {
            let secs = t.saturating_sub(wall).clamp(0, 86_400) as u64;
            now + Duration::from_secs(secs)
        });
        let other = match &self.up {
            Some(up) => up.conn.wake_at(),
            None => Some(self.retry_at),
        };
        [stale_at, other].into_iter().flatten().min()
    }

    /// Tries the broker; what to send first on success.
    fn connect(&mut self) -> Vec<Message> {
        let will = self.outbox.will();
        let now = self.world.monotonic();
        match self.world.connect(&will, self.rules.ha_status.as_deref()) {
            Ok(conn) => {
                self.note(Outcome::Up(format!("connected to {}", self.rules.broker)));
                self.up = Some(Up { conn, since: now });
                self.outbox.connected()
            }
            Err(e) => {
                self.note(Outcome::Down(format!("{}: {e}", self.rules.broker)));
                self.retry_at = now + self.backoff.failed();
                Vec::new()
            }
        }
    }

    fn send(&mut self, out: &[Message]) {
        for m in out {
            let Some(up) = &mut self.up else {
                return;
            };
            if let Err(e) = up.conn.send(m) {
                self.lost(&e);
                return;
            }
        }
    }

    /// The connection failed: the next attempt after the backoff.
    fn lost(&mut self, why: &str) {
        let Some(up) = self.up.take() else {
            return;
        };
        let now = self.world.monotonic();
        self.outbox.disconnected();
        self.backoff
            .ended_after(now.saturating_duration_since(up.since));
        self.retry_at = now + self.backoff.failed();
        self.note(Outcome::Down(format!(
            "{}: connection lost: {why}",
            self.rules.broker
        )));
    }

    fn note(&mut self, outcome: Outcome) {
        let trouble = matches!(outcome, Outcome::Down(_));
        if let Some(line) = self.episodes.note(outcome) {
            self.world.log(trouble, &line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processes::publish::discovery::Topics;
    use crate::processes::publish::state::Daemon;
    use crate::processes::publish::state::tests::{FRESH, T as T0};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// What the fake broker saw, shared with the connections it made.
    #[derive(Default)]
    struct Broker {
        /// `Some(reason)` while it refuses or is away.
        refuse: Option<String>,
        /// Each attempt's time (seconds since the start).
        attempts: Vec<u64>,
        /// `(seconds, topic=payload)` for every message received.
        got: Vec<(u64, String)>,
        /// Messages to deliver at the next `received`.
        deliver: Vec<(String, Vec<u8>)>,
        /// The next send fails (the connection breaks).
        break_next: bool,
        closed: bool,
        wills: Vec<Message>,
    }

    struct FakeConn {
        broker: Rc<RefCell<Broker>>,
        clock: Rc<RefCell<u64>>,
    }

    impl Conn for FakeConn {
        fn send(&mut self, m: &Message) -> Result<(), String> {
            let mut b = self.broker.borrow_mut();
            if std::mem::take(&mut b.break_next) {
                return Err("the broker closed the connection".into());
            }
            let at = *self.clock.borrow();
            b.got.push((at, format!("{}={}", m.topic, m.payload)));
            Ok(())
        }
        fn received(&mut self) -> Result<Vec<(String, Vec<u8>)>, String> {
            Ok(std::mem::take(&mut self.broker.borrow_mut().deliver))
        }
        fn wake_at(&self) -> Option<Instant> {
            None
        }
        fn close(self) {
            self.broker.borrow_mut().closed = true;
        }
    }

    /// A manual clock in seconds; the daemon writes a status every 5 s
    /// until `daemon_stops`; the world asks to stop at `end`.
    struct Fake {
        base: Instant,
        clock: Rc<RefCell<u64>>,
        broker: Rc<RefCell<Broker>>,
        daemon_stops: u64,
        /// Times at which something outside happens (the broker comes
        /// back, Home Assistant starts): `wait` wakes there.
        events: Vec<u64>,
        end: u64,
        logs: Vec<(u64, String)>,
    }

    impl Fake {
        fn new(end: u64) -> Fake {
            Fake {
                base: Instant::now(),
                clock: Rc::new(RefCell::new(0)),
                broker: Rc::new(RefCell::new(Broker::default())),
                daemon_stops: u64::MAX,
                events: Vec::new(),
                end,
                logs: Vec::new(),
            }
        }
        fn now(&self) -> u64 {
            *self.clock.borrow()
        }
        /// The last status written at or before now.
        fn last_status(&self) -> u64 {
            (self.now().min(self.daemon_stops) / 5) * 5
        }
    }

    impl World for Fake {
        type Conn = FakeConn;
        fn monotonic(&self) -> Instant {
            self.base + Duration::from_secs(self.now())
        }
        fn wall(&self) -> i64 {
            T0 + self.now() as i64
        }
        fn connect(&mut self, will: &Message, subscribe: Option<&str>) -> Result<FakeConn, String> {
            assert_eq!(subscribe, Some("homeassistant/status"));
            let now = self.now();
            let mut b = self.broker.borrow_mut();
            b.attempts.push(now);
            if let Some(e) = &b.refuse {
                return Err(e.clone());
            }
            b.wills.push(will.clone());
            Ok(FakeConn {
                broker: self.broker.clone(),
                clock: self.clock.clone(),
            })
        }
        fn facts(&mut self) -> Facts {
            let t = self.last_status();
            Facts {
                daemon: Some(Daemon {
                    updated: T0 + t as i64,
                    reading: Some((T0 + t as i64, 1000 + t as u32)),
                    meter_ok: true,
                    recording_ok: true,
                    contract: None,
                }),
                energy_total_wh: Some(t),
                energy_today_wh: Some(t),
            }
        }
        fn wait(&mut self, _conn: Option<&FakeConn>, until: Option<Instant>) {
            let now = self.now();
            let next_status = if now < self.daemon_stops {
                (now / 5 + 1) * 5
            } else {
                u64::MAX
            };
            let until = until.map_or(u64::MAX, |u| {
                u.saturating_duration_since(self.base).as_secs()
            });
            let next_event = self.events.iter().copied().filter(|&e| e > now).min();
            let to = [next_status, until, next_event.unwrap_or(u64::MAX), self.end]
                .into_iter()
                .min()
                .unwrap();
            assert!(to > now || until <= now, "a wait that does not advance");
            *self.clock.borrow_mut() = to.max(now);
        }
        fn stop_requested(&self) -> bool {
            self.now() >= self.end
        }
        fn log(&mut self, _trouble: bool, line: &str) {
            let now = self.now();
            self.logs.push((now, line.to_string()));
        }
    }

    fn rules() -> Rules {
        Rules {
            broker: "mqtt://127.0.0.1:1883".into(),
            fresh: FRESH,
            ha_status: Some("homeassistant/status".into()),
        }
    }

    fn outbox() -> Outbox {
        Outbox::new(
            Topics::new("mcce/pi"),
            vec![(
                "homeassistant/sensor/mcce_pi/power/config".into(),
                "{}".into(),
            )],
        )
    }

    /// Runs the loop in `w`, with `script` called at each wait to change
    /// the broker as time goes.
    fn run_with(w: &mut Fake, script: impl Fn(u64, &mut Broker)) {
        struct Scripted<'a, F: Fn(u64, &mut Broker)> {
            w: &'a mut Fake,
            script: F,
        }
        impl<F: Fn(u64, &mut Broker)> World for Scripted<'_, F> {
            type Conn = FakeConn;
            fn monotonic(&self) -> Instant {
                self.w.monotonic()
            }
            fn wall(&self) -> i64 {
                self.w.wall()
            }
            fn connect(&mut self, will: &Message, s: Option<&str>) -> Result<FakeConn, String> {
                self.w.connect(will, s)
            }
            fn facts(&mut self) -> Facts {
                self.w.facts()
            }
            fn wait(&mut self, c: Option<&FakeConn>, until: Option<Instant>) {
                self.w.wait(c, until);
                let now = self.w.now();
                (self.script)(now, &mut self.w.broker.borrow_mut());
            }
            fn stop_requested(&self) -> bool {
                self.w.stop_requested()
            }
            fn log(&mut self, trouble: bool, line: &str) {
                self.w.log(trouble, line)
            }
        }
        let broker = w.broker.clone();
        (script)(0, &mut broker.borrow_mut());
        run(&mut Scripted { w, script }, &rules(), outbox());
    }

    /// What a (re)connection or Home Assistant's `online` gets: discovery,
    /// the state of the moment (the fake's power and energy), then online.
    fn announced(power: u32, kwh: &str) -> Vec<String> {
        vec![
            "homeassistant/sensor/mcce_pi/power/config={}".into(),
            format!(
                r#"mcce/pi/state={{"power":{power},"energy_total":{kwh},"energy_today":{kwh},"meter":"ON","recording":"ON"}}"#
            ),
            "mcce/pi/live=online".into(),
            "mcce/pi/availability=online".into(),
        ]
    }

    fn lines_at(b: &Broker, at: u64) -> Vec<&str> {
        b.got
            .iter()
            .filter(|(t, _)| *t == at)
            .map(|(_, s)| s.as_str())
            .collect()
    }

    #[test]
    fn a_broker_away_is_tried_with_growing_waits_logged_once_and_gets_only_the_latest_state() {
        let mut w = Fake::new(400);
        w.events = vec![300];
        run_with(&mut w, |now, b| {
            b.refuse = (now < 300).then(|| "cannot connect: Connection refused".into());
        });
        let b = w.broker.borrow();
        assert_eq!(
            b.attempts,
            [0, 1, 3, 7, 15, 31, 63, 123, 183, 243, 303],
            "1, 2, 4 … 60 s apart"
        );
        assert_eq!(
            w.logs,
            [
                (
                    0,
                    "mqtt://127.0.0.1:1883: cannot connect: Connection refused".to_string()
                ),
                (303, "connected to mqtt://127.0.0.1:1883".to_string()),
            ]
        );
        // Nothing of the five minutes away is queued: discovery, the state
        // of the moment, then online.
        assert_eq!(lines_at(&b, 303), announced(1300, "0.3"));
        assert_eq!(
            b.wills,
            [Message {
                topic: "mcce/pi/availability".into(),
                payload: "offline".into()
            }]
        );
        // Then one state per new status, and a clean stop.
        assert_eq!(b.got.iter().filter(|(t, _)| *t == 305).count(), 1);
        assert_eq!(
            b.got.last().unwrap(),
            &(400, "mcce/pi/availability=offline".to_string())
        );
        assert!(b.closed);
    }

    #[test]
    fn a_refusal_is_logged_once_per_reason_with_the_broker_s_word() {
        let mut w = Fake::new(200);
        w.events = vec![100];
        run_with(&mut w, |now, b| {
            b.refuse = Some(if now < 100 {
                "the broker refused the connection: bad user name or password".into()
            } else {
                "the broker refused the connection: not authorized".into()
            });
        });
        let lines: Vec<&str> = w.logs.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            lines,
            [
                "mqtt://127.0.0.1:1883: the broker refused the connection: bad user name or password",
                "mqtt://127.0.0.1:1883: the broker refused the connection: not authorized",
            ]
        );
        assert!(w.broker.borrow().attempts.len() > 6);
    }

    #[test]
    fn home_assistant_starting_gets_discovery_again_and_a_lost_connection_is_redone() {
        let mut w = Fake::new(200);
        w.events = vec![100, 150];
        run_with(&mut w, |now, b| {
            if now == 100 {
                b.deliver
                    .push(("homeassistant/status".into(), b"online".to_vec()));
            }
            if now == 150 {
                b.break_next = true;
            }
        });
        let b = w.broker.borrow();
        assert_eq!(lines_at(&b, 100), announced(1100, "0.1"));
        // The connection had lasted over a minute: the next try a second
        // later, and everything sent again.
        assert_eq!(b.attempts, [0, 151]);
        assert_eq!(lines_at(&b, 151).len(), 4);
        let lines: Vec<&str> = w.logs.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            lines,
            [
                "connected to mqtt://127.0.0.1:1883",
                "mqtt://127.0.0.1:1883: connection lost: the broker closed the connection",
                "connected to mqtt://127.0.0.1:1883",
            ]
        );
    }

    #[test]
    fn a_stopped_daemon_makes_the_power_unavailable_with_no_status_to_say_so() {
        let mut w = Fake::new(100);
        w.daemon_stops = 42; // the last status at 40
        run_with(&mut w, |_, _| {});
        let b = w.broker.borrow();
        // Current up to 40 + 13; at 54 the loop wakes by itself.
        assert_eq!(
            lines_at(&b, 54),
            [
                "mcce/pi/live=offline",
                r#"mcce/pi/state={"power":null,"energy_total":0.04,"energy_today":0.04,"meter":"OFF","recording":"OFF"}"#,
            ]
        );
        // And nothing more until the stop.
        assert!(b.got.iter().all(|(t, _)| *t <= 54 || *t == 100));
    }
}
