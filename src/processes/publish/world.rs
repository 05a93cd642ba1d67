//! The publisher's real [`World`]: the system clock, the broker over TCP
//! (the MQTT session), the daemon's status through the readers' view, the
//! history's energy, and one `poll(2)` that waits on the signals, a watch
//! of RUN_DIR (the status file changes after every poll) and the broker's
//! socket at once. Without the watch (no inotify, or RUN_DIR not there
//! yet) it looks at the status every second.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::history::{self, History};
use super::outbox::Message;
use super::run::{Conn, World};
use super::state::{Contract, Daemon, Facts};
use super::total::Published;
use crate::adapters::clock::system_wall;
use crate::adapters::localtime::local_date;
use crate::adapters::mqtt::incoming::SubAckCode;
use crate::adapters::mqtt::packet::{Connect, Login, QoS, Will};
use crate::adapters::mqtt::session::{Limits, Session};
use crate::adapters::saved_total::SavedTotal;
use crate::adapters::signals::Signals;
use crate::adapters::status::{MeterState, Recording, Status};
use crate::adapters::sys::{DirWatch, Drained, PollFd, Wait, poll};
use crate::core::calendar::Date;
use crate::core::config::Config;
use crate::core::config::mqtt::BrokerUrl;
use crate::processes::view::StatusReader;

/// Seconds between keep-alive pings at the most (the broker drops a
/// client silent for one and a half times this).
pub(crate) const KEEP_ALIVE: u16 = 60;

/// How often the status is looked at without a watch.
const WITHOUT_WATCH: Duration = Duration::from_secs(1);

/// The energy figures are brought up to date this often (seconds), and at
/// a change of date: a reading sends the power at once, the totals as of
/// the last look (Home Assistant's energy statistics are hourly). Reading
/// today's file at every poll would double the publisher's CPU.
const ENERGY_EVERY: i64 = 60;

/// A hold of the total this large is logged (smaller ones come and go with
/// a day's cadence).
const HOLD_LOGGED_WH: u64 = 100;

/// A connection: the session, and whether `poll` saw its socket readable.
pub(crate) struct Link {
    session: Session,
    readable: Cell<bool>,
}

impl Conn for Link {
    fn send(&mut self, m: &Message) -> Result<(), String> {
        self.session
            .publish(&m.topic, m.payload.as_bytes(), QoS::AtMostOnce, true)
            .map_err(|e| e.to_string())
    }

    fn received(&mut self) -> Result<Vec<(String, Vec<u8>)>, String> {
        let readable = self.readable.replace(false);
        let got = self.session.receive(readable).map_err(|e| e.to_string())?;
        Ok(got.into_iter().map(|m| (m.topic, m.payload)).collect())
    }

    fn wake_at(&self) -> Option<Instant> {
        self.session.wake_at()
    }

    fn close(self) {
        let _ = self.session.disconnect();
    }
}

/// Who we are to the broker.
pub(crate) struct Identity {
    pub broker: BrokerUrl,
    pub client_id: String,
    pub login: Option<Login>,
}

pub(crate) struct Real<'a> {
    cfg: &'a Config,
    signals: &'a Signals,
    who: Identity,
    status: StatusReader,
    watch: Option<DirWatch>,
    /// When to try making the watch again.
    watch_at: Instant,
    history: History,
    published: Published,
    saved: SavedTotal,
    /// The last trouble logged with the energy figures, so it is said once.
    trouble: Option<String>,
    /// A failed save of the total was logged.
    save_failed: bool,
    held: bool,
    /// The energy figures as last brought up to date, and when (wall
    /// seconds, and the date).
    energy: (Option<u64>, Option<u64>),
    energy_at: Option<(i64, Date)>,
}

impl<'a> Real<'a> {
    pub(crate) fn new(
        cfg: &'a Config,
        signals: &'a Signals,
        who: Identity,
        saved: SavedTotal,
        saved_wh: Option<u64>,
    ) -> Real<'a> {
        Real {
            cfg,
            signals,
            who,
            status: StatusReader::new(cfg),
            watch: None,
            watch_at: Instant::now(),
            history: History::default(),
            published: Published::resume(saved_wh),
            saved,
            trouble: None,
            save_failed: false,
            held: false,
            energy: (None, None),
            energy_at: None,
        }
    }

    /// The saved total, for a clean stop to sync.
    pub(crate) fn saved(&self) -> &SavedTotal {
        &self.saved
    }

    /// The lifetime total, brought up to date if the history can be read
    /// whole; `None` until it could once (or an earlier run's figure).
    fn energy(&mut self, now: i64) -> (Option<u64>, Option<u64>) {
        let today = local_date(now);
        let past = self.history.refresh(self.cfg, today, now);
        let today_wh = history::today_wh(self.cfg, today);
        let trouble = match (&past, &today_wh) {
            (Err(e), _) | (_, Err(e)) => Some(e.clone()),
            _ => None,
        };
        if let (Ok(()), Ok(t)) = (past, &today_wh)
            && self.history.is_known()
        {
            let next = self.published.next(self.history.sum_wh(*t));
            if next.rose {
                let saved = self.saved.save(next.wh);
                if let Err(e) = &saved
                    && !self.save_failed
                {
                    log::warn!(
                        "{}: {e}: a restart may publish a lower total",
                        self.saved.path().display()
                    );
                }
                self.save_failed = saved.is_err();
            }
            self.note_hold(next.wh, next.held_wh);
        }
        self.say(trouble.map(|e| format!("the energy total waits: {e}")));
        let today_wh = today_wh.ok().flatten().map(|wh| wh.max(0.0).floor() as u64);
        (self.published.last(), today_wh)
    }

    /// Logs a trouble once, and once that it is over.
    fn say(&mut self, trouble: Option<String>) {
        if trouble == self.trouble {
            return;
        }
        match &trouble {
            Some(t) => log::warn!("{t}"),
            None => log::info!("the energy total is up to date again"),
        }
        self.trouble = trouble;
    }

    fn note_hold(&mut self, wh: u64, held_wh: u64) {
        let held = held_wh >= HOLD_LOGGED_WH;
        if held && !self.held {
            log::warn!(
                "the history sums to {:.3} kWh, below the {:.3} kWh published before: \
                 the total stays there until the history catches up (a day stored again \
                 from a shorter file, or a database removed?)",
                (wh - held_wh) as f64 / 1000.0,
                wh as f64 / 1000.0
            );
        } else if !held && self.held {
            log::info!("the history's sum has caught up with the published total");
        }
        self.held = held;
    }
}

fn daemon(s: Status) -> Daemon {
    Daemon {
        updated: s.updated,
        reading: s.last_reading.map(|r| (r.ts, r.watts)),
        meter_ok: matches!(s.meter, MeterState::Ok | MeterState::ClockUnset),
        recording_ok: s.recording == Recording::Ok,
        contract: s.contract.map(|c| Contract {
            band: c.band.name(),
            warning: c.warning != crate::core::warning::Urgency::Quiet,
            trip_in: c.trip_in_seconds,
        }),
    }
}

impl World for Real<'_> {
    type Conn = Link;

    fn monotonic(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> i64 {
        system_wall()
    }

    fn connect(&mut self, will: &Message, subscribe: Option<&str>) -> Result<Link, String> {
        let connect = Connect {
            client_id: self.who.client_id.clone(),
            keep_alive: KEEP_ALIVE,
            clean_session: true,
            will: Some(Will {
                topic: will.topic.clone(),
                payload: will.payload.clone().into_bytes(),
                qos: QoS::AtLeastOnce,
                retain: true,
            }),
            login: self.who.login.clone(),
        };
        let addr = (self.who.broker.host.as_str(), self.who.broker.port);
        let (mut session, _) =
            Session::connect(addr, &connect, Limits::default()).map_err(|e| e.to_string())?;
        if let Some(topic) = subscribe {
            let codes = session
                .subscribe(&[(topic, QoS::AtMostOnce)])
                .map_err(|e| e.to_string())?;
            if codes.contains(&SubAckCode::Failure) {
                log::warn!(
                    "{}: the broker refused a subscription to {topic}: discovery is sent again \
                     only on reconnects, not when Home Assistant restarts",
                    self.who.broker
                );
            }
        }
        Ok(Link {
            session,
            readable: Cell::new(false),
        })
    }

    fn facts(&mut self) -> Facts {
        let status = self.status.status();
        let now = system_wall();
        let today = local_date(now);
        let due = self.energy_at.is_none_or(|(at, date)| {
            date != today || now.saturating_sub(at).unsigned_abs() >= ENERGY_EVERY as u64
        });
        if due {
            self.energy = self.energy(now);
            self.energy_at = Some((now, today));
        }
        let (energy_total_wh, energy_today_wh) = self.energy;
        Facts {
            daemon: status.map(daemon),
            energy_total_wh,
            energy_today_wh,
        }
    }

    fn wait(&mut self, conn: Option<&Link>, until: Option<Instant>) {
        let now = Instant::now();
        if self.watch.is_none() && now >= self.watch_at {
            self.watch = DirWatch::new(&self.cfg.run_dir).ok();
            self.watch_at = now + Duration::from_secs(10);
        }
        let mut timeout = until.map(|u| u.saturating_duration_since(now));
        if self.watch.is_none() {
            timeout = Some(timeout.map_or(WITHOUT_WATCH, |t| t.min(WITHOUT_WATCH)));
        }
        let mut fds = Vec::with_capacity(3);
        if let Some(w) = self.signals.waker() {
            fds.push(PollFd::new(w, Wait::Read));
        }
        if let Some(w) = &self.watch {
            fds.push(PollFd::new(w, Wait::Read));
        }
        if let Some(c) = conn {
            fds.push(PollFd::new(&c.session, Wait::Read));
        }
        if poll(&mut fds, timeout).is_err() {
            // Nothing to wait on that works: do not spin.
            std::thread::sleep(WITHOUT_WATCH);
            return;
        }
        let mut ready = fds.iter().map(PollFd::ready);
        if self.signals.waker().is_some() && ready.next() == Some(true) {
            self.signals.take_wake();
        }
        if let Some(w) = &self.watch
            && ready.next() == Some(true)
        {
            let gone = Drained {
                entries: true,
                alive: false,
            };
            let got = w.drain().unwrap_or(gone);
            if got.entries || !got.alive {
                self.status.reopen(); // the status may be a new file
            }
            if !got.alive {
                self.watch = None; // RUN_DIR went: watch it again when it is back
            }
        }
        if let Some(c) = conn
            && ready.next() == Some(true)
        {
            c.readable.set(true);
        }
    }

    fn stop_requested(&self) -> bool {
        self.signals.stop_requested()
    }

    fn log(&mut self, trouble: bool, line: &str) {
        if trouble {
            log::warn!("{line}");
        } else {
            log::info!("{line}");
        }
    }
}
