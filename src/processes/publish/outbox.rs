//! What to send, and in which order, as the connection comes and goes and
//! new states arrive. Pure: events in, messages out; the caller sends them
//! in order on the connection it holds.
//!
//! Only the latest state is kept while the broker is away (the latest
//! value wins; nothing queues up), and only what changed is sent while it
//! is there. Every message is retained, so a Home Assistant that starts
//! later finds the device, its state and its availability at once.
//!
//! The order keeps Home Assistant from ever showing an old value: a state
//! goes out before the `online` that makes it visible, and `offline` goes
//! out before a state that is no longer current. On every (re)connect, and
//! when Home Assistant announces itself (`online` on `<prefix>/status`),
//! the discovery configs come first, then the state, then `online`.

use super::discovery::{OFFLINE, ONLINE, Topics};
use super::state::State;

/// One retained message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub topic: String,
    pub payload: String,
}

#[derive(Debug)]
pub(crate) struct Outbox {
    topics: Topics,
    /// The discovery configs; none with `HA_DISCOVERY=no`.
    configs: Vec<(String, String)>,
    /// The latest state, sent or not.
    latest: Option<State>,
    /// What the broker holds from this connection; `None` while there is
    /// none.
    sent: Option<Sent>,
}

#[derive(Debug, Default)]
struct Sent {
    state: Option<String>,
    live: Option<bool>,
}

fn message(topic: &str, payload: &str) -> Message {
    Message {
        topic: topic.to_string(),
        payload: payload.to_string(),
    }
}

impl Outbox {
    pub(crate) fn new(topics: Topics, configs: Vec<(String, String)>) -> Outbox {
        Outbox {
            topics,
            configs,
            latest: None,
            sent: None,
        }
    }

    /// The Last Will: retained `offline` on the availability topic.
    pub(crate) fn will(&self) -> Message {
        message(&self.topics.availability, OFFLINE)
    }

    /// A connection is up: everything, in order.
    pub(crate) fn connected(&mut self) -> Vec<Message> {
        self.sent = Some(Sent::default());
        self.announce()
    }

    /// Home Assistant (re)started: discovery and everything after it again.
    pub(crate) fn ha_online(&mut self) -> Vec<Message> {
        match &mut self.sent {
            Some(sent) => {
                *sent = Sent::default();
                self.announce()
            }
            None => Vec::new(),
        }
    }

    fn announce(&mut self) -> Vec<Message> {
        let mut out: Vec<Message> = self.configs.iter().map(|(t, p)| message(t, p)).collect();
        if let Some(s) = self.latest.clone() {
            out.extend(self.changes(s));
        }
        out.push(message(&self.topics.availability, ONLINE));
        out
    }

    /// The connection is gone: nothing is sent until the next one, and that
    /// one starts from scratch.
    pub(crate) fn disconnected(&mut self) {
        self.sent = None;
    }

    /// A new state: what changed, to send now (nothing while disconnected;
    /// it is kept, replacing any older one, for the next connection).
    pub(crate) fn update(&mut self, state: State) -> Vec<Message> {
        self.latest = Some(state.clone());
        self.changes(state)
    }

    /// A clean stop: `offline`, sent before the DISCONNECT that makes the
    /// broker drop the Last Will.
    pub(crate) fn stopping(&mut self) -> Vec<Message> {
        match self.sent.take() {
            Some(_) => vec![message(&self.topics.availability, OFFLINE)],
            None => Vec::new(),
        }
    }

    fn changes(&mut self, state: State) -> Vec<Message> {
        let Some(sent) = &mut self.sent else {
            return Vec::new();
        };
        let live = |l: bool| message(&self.topics.live, if l { ONLINE } else { OFFLINE });
        let mut out = Vec::new();
        let live_changed = sent.live != Some(state.live);
        if live_changed && !state.live {
            out.push(live(false));
        }
        if sent.state.as_deref() != Some(&state.json) {
            out.push(message(&self.topics.state, &state.json));
            sent.state = Some(state.json);
        }
        if live_changed && state.live {
            out.push(live(true));
        }
        sent.live = Some(state.live);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(configs: usize) -> Outbox {
        let configs = (0..configs)
            .map(|i| (format!("ha/sensor/n/{i}/config"), format!("{{\"n\":{i}}}")))
            .collect();
        Outbox::new(Topics::new("mcce/pi"), configs)
    }

    fn st(json: &str, live: bool) -> State {
        State {
            json: json.into(),
            live,
            recheck_at: None,
        }
    }

    /// `topic=payload` for each message.
    fn said(m: Vec<Message>) -> Vec<String> {
        m.into_iter()
            .map(|m| format!("{}={}", m.topic, m.payload))
            .collect()
    }

    #[test]
    fn a_connection_gets_discovery_then_the_latest_state_then_online() {
        let mut o = outbox(2);
        assert_eq!(
            o.will(),
            message("mcce/pi/availability", "offline"),
            "the Last Will"
        );
        // The broker is away: states are kept, the latest wins.
        for w in 1..=100 {
            assert!(o.update(st(&format!("{{\"power\":{w}}}"), true)).is_empty());
        }
        assert_eq!(
            said(o.connected()),
            [
                "ha/sensor/n/0/config={\"n\":0}",
                "ha/sensor/n/1/config={\"n\":1}",
                "mcce/pi/state={\"power\":100}",
                "mcce/pi/live=online",
                "mcce/pi/availability=online",
            ]
        );
        // Only what changed, and nothing when nothing did.
        assert_eq!(
            said(o.update(st("{\"power\":7}", true))),
            ["mcce/pi/state={\"power\":7}"]
        );
        assert!(o.update(st("{\"power\":7}", true)).is_empty());
    }

    #[test]
    fn offline_goes_before_an_old_state_and_online_after_a_new_one() {
        let mut o = outbox(0);
        o.update(st("a", true));
        o.connected();
        assert_eq!(
            said(o.update(st("b", false))),
            ["mcce/pi/live=offline", "mcce/pi/state=b"]
        );
        assert!(o.update(st("b", false)).is_empty());
        assert_eq!(
            said(o.update(st("c", true))),
            ["mcce/pi/state=c", "mcce/pi/live=online"]
        );
        assert_eq!(said(o.update(st("c", false))), ["mcce/pi/live=offline"]);
    }

    #[test]
    fn a_reconnect_or_home_assistant_starting_sends_everything_again() {
        let mut o = outbox(1);
        o.update(st("a", true));
        assert_eq!(o.connected().len(), 4);
        o.disconnected();
        assert!(o.update(st("b", false)).is_empty());
        assert!(o.ha_online().is_empty(), "no connection, nothing to send");
        assert_eq!(
            said(o.connected()),
            [
                "ha/sensor/n/0/config={\"n\":0}",
                "mcce/pi/live=offline",
                "mcce/pi/state=b",
                "mcce/pi/availability=online",
            ]
        );
        assert_eq!(
            said(o.ha_online()),
            [
                "ha/sensor/n/0/config={\"n\":0}",
                "mcce/pi/live=offline",
                "mcce/pi/state=b",
                "mcce/pi/availability=online",
            ]
        );
        assert_eq!(said(o.stopping()), ["mcce/pi/availability=offline"]);
        assert!(o.stopping().is_empty());
        assert!(o.update(st("c", true)).is_empty());
    }

    #[test]
    fn with_no_state_yet_a_connection_says_only_discovery_and_online() {
        let mut o = outbox(1);
        assert_eq!(
            said(o.connected()),
            [
                "ha/sensor/n/0/config={\"n\":0}",
                "mcce/pi/availability=online"
            ]
        );
    }
}
