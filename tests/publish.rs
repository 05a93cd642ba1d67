//! `mcce publish` as a user runs it: what it refuses and its exit codes,
//! what it logs about the broker, and its messages on a real mosquitto
//! (tests that need one print SKIPPED without the Debian packages).

mod common;
#[allow(dead_code)]
#[path = "../src/adapters/mqtt/mosquitto.rs"]
mod mosquitto;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Proc, Scratch, bin, run, wait_for};
use mosquitto::{Mosquitto, PASSWORD, USER};

fn publisher(dir: &Path, cfg: &Path) -> Proc {
    let mut cmd = Command::new(bin());
    cmd.arg("publish").arg("-c").arg(cfg);
    Proc::spawn(cmd, dir.join("publish.log"))
}

/// A config for a publisher under `dir` (no daemon needed), plus `extra`.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("mcce.conf");
    std::fs::write(
        &p,
        format!(
            "DATA_DIR={d}/data\nRUN_DIR={d}\nDATABASE_URL={d}/db/pwr\nMQTT_TOPIC=mcce/t\n{extra}",
            d = dir.display()
        ),
    )
    .unwrap();
    p
}

fn lines_with(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

#[test]
fn without_a_broker_address_it_exits_78_naming_the_file() {
    let s = Scratch::new("publish-no-url");
    let cfg = config(s.path(), "");
    let shown = cfg.display().to_string();
    let (code, _, err) = run(&["publish", "-c", &shown]);
    assert_eq!(code, 78, "{err}");
    assert_eq!(
        err,
        format!(
            "mcce: {shown}: MQTT_URL is not set: mcce publish needs a broker (MQTT_URL=mqtt://HOST[:PORT])\n"
        )
    );
    let cfg = config(s.path(), "MQTT_URL=mqtts://broker:8883\n");
    let (code, _, err) = run(&["publish", "-c", &cfg.display().to_string()]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.starts_with(&format!(
            "mcce: {shown}:5: MQTT_URL: 'mqtts://broker:8883': TLS is not supported"
        )),
        "{err}"
    );
}

#[test]
fn a_broker_away_is_logged_once_and_a_second_publisher_is_turned_away() {
    let s = Scratch::new("publish-away");
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(s.path(), &format!("MQTT_URL=mqtt://127.0.0.1:{port}\n"));
    let mut p = publisher(s.path(), &cfg);
    // Tries at 0, 1 and 3 s.
    std::thread::sleep(Duration::from_millis(4500));
    let log = p.log();
    assert_eq!(lines_with(&log, "cannot connect"), 1, "{log}");
    let (code, _, err) = run(&["publish", "-c", &cfg.display().to_string()]);
    assert_eq!(code, 69, "{err}");
    assert!(
        err.contains("another mcce publish already uses it"),
        "{err}"
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(5)).0, Some(0));
}

#[test]
fn a_refused_login_is_logged_once_with_the_broker_s_reason_then_a_good_one_publishes() {
    let Some(m) = Mosquitto::start("publish refused login") else {
        return;
    };
    let s = Scratch::new("publish-login");
    let broker = format!(
        "MQTT_URL=mqtt://127.0.0.1:{}\nMQTT_USERNAME={USER}\n",
        m.auth_port
    );
    let cfg = config(s.path(), &format!("{broker}MQTT_PASSWORD=wrong\n"));
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut p = publisher(s.path(), &cfg);
    let attempts = || lines_with(&m.log(), "New connection from");
    wait_for(
        Duration::from_secs(10),
        || attempts() >= 3,
        "three attempts",
    );
    let log = p.log();
    // (mosquitto 2 answers a wrong password with "not authorized".)
    assert_eq!(
        lines_with(&log, "the broker refused the connection: not authorized"),
        1,
        "{log}"
    );
    assert_eq!(
        lines_with(&log, "MQTT_PASSWORD is readable by every user (mode 644)"),
        1,
        "{log}"
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(5)).0, Some(0));

    // The right password, in a file only its group can read.
    let cfg = config(s.path(), &format!("{broker}MQTT_PASSWORD='{PASSWORD}'\n"));
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::remove_file(s.path().join("publish.log")).unwrap();
    let mut p = publisher(s.path(), &cfg);
    wait_for(
        Duration::from_secs(10),
        || p.log().contains("connected to"),
        "a connection",
    );
    assert!(!p.log().contains("readable by every user"), "{}", p.log());
    assert_eq!(
        m.sub_one("mcce/t/availability").as_deref(),
        Some("1 online")
    );
    let state = m.sub_one("mcce/t/state").unwrap();
    assert!(
        state.starts_with(r#"1 {"power":null,"energy_total":0,"#),
        "{state}"
    );
    // Gone without a word: the broker says offline for it.
    p.signal("KILL");
    p.wait_exit(Duration::from_secs(5));
    wait_for(
        Duration::from_secs(10),
        || m.sub_one("mcce/t/availability").as_deref() == Some("1 offline"),
        "the Last Will",
    );
}
