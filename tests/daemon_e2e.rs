//! The real binary end to end: `mcce sim` on a pty, `mcce run` against it.

mod common;

use common::*;
use std::time::Duration;

/// Stamps on the 1-second schedule: one poll apart, or two where a slow
/// poll made the daemon skip a tick (README "Schedule"); never the same
/// second twice, never drifting, and skips the exception.
fn assert_one_per_second(s: &[(i64, u32)]) {
    let steps: Vec<i64> = s.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        steps.iter().all(|d| *d == 1 || *d == 2),
        "stamps not one poll apart (or two, a skipped tick): {s:?}"
    );
    let skipped = steps.iter().filter(|d| **d == 2).count();
    assert!(skipped * 2 <= steps.len(), "most ticks skipped: {s:?}");
}

#[test]
fn records_publishes_status_and_stops_on_sigterm() {
    let d = Scratch::new("basic");
    let (_sim, link) = sim(d.path(), &[]);
    let cfg = config(d.path(), &link, "");
    let t0 = now();
    let mut daemon = daemon(d.path(), &cfg);
    let days = d.path().join("data/days");
    wait_for(
        Duration::from_secs(10),
        || samples(&days).len() >= 4,
        "4 samples",
    );

    // `mcce status` answers while the daemon holds the port; `mcce read` cannot open it.
    let (code, out, err) = run(&["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("last reading: ") && out.contains(" W at "),
        "{out}"
    );
    assert!(out.contains("meter:  ok"), "{out}");
    let (code, _, err) = run(&["read", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("ttyUSB0: cannot open"), "{err}");
    assert!(
        err.contains("held by another process (the running daemon holds it: `mcce status`"),
        "{err}"
    );

    daemon.signal("TERM");
    let (code, took) = daemon.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", daemon.log());
    assert!(took < Duration::from_secs(1), "stopped in {took:?}");
    let s = samples(&days);
    assert!(s.len() >= 4);
    assert!(
        s.iter()
            .all(|(ts, w)| *ts >= t0 && *ts <= now() && *w > 0 && *w < 10_000)
    );
    assert_one_per_second(&s);
    assert!(!d.path().join("status").exists(), "status removed at exit");
    let (code, _, err) = run(&["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 69);
    assert!(err.contains("not running"), "{err}");

    // With the daemon gone, `mcce read` takes a reading itself.
    let (code, out, err) = run(&["read", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.trim_end().ends_with(" W"), "{out}");
}

/// Between polls the daemon sleeps until the next tick; with a long poll
/// period SIGHUP and SIGTERM must still be acted on at once.
/// With CONTRACT_WATTS and BUZZER=none every step of the contract alarm
/// is logged, and `mcce status` shows the band and the predicted trip. The
/// simulated house draws well over 133 W, the short limit of a 100 W
/// contract: over at once, the siren (logged) at the first reading.
#[test]
fn contract_mode_logs_every_step_and_status_shows_the_trip() {
    let Rig {
        dir: d,
        _sim,
        cfg,
        mut daemon,
        ..
    } = Rig::run("contract", &[], "CONTRACT_WATTS=100\n");
    wait_for(
        Duration::from_secs(10),
        || samples(&d.path().join("data/days")).len() >= 3,
        "3 samples",
    );
    let (code, out, err) = run(&["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("warning urgent (contract 100 W: free up to 110 W, tolerated up to 133 W)"),
        "{out}"
    );
    assert!(out.contains("band:   over for "), "{out}");
    assert!(out.contains(" s if nothing is switched off"), "{out}");
    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0));
    let log = daemon.log();
    for want in [
        "contract alarm: 100 W contract, free up to 110 W, tolerated up to 133 W",
        "over the short limit of 133 W; trip in ~2 min if nothing is switched off",
        "warning: the meter is about to trip",
        "sounding the siren (",
    ] {
        assert!(log.contains(want), "{want:?} not in {log}");
    }
}

#[test]
fn signals_cut_a_long_sleep_short() {
    let Rig {
        dir: _d,
        _sim,
        mut daemon,
        ..
    } = Rig::run("sleep", &[], "POLL_SECONDS=120\n");
    wait_for(
        Duration::from_secs(5),
        || daemon.log().contains("every 120 s"),
        "the daemon asleep",
    );
    std::thread::sleep(Duration::from_millis(300));
    daemon.signal("HUP");
    let t = std::time::Instant::now();
    wait_for(
        Duration::from_secs(5),
        || daemon.log().contains("configuration reloaded"),
        "SIGHUP handled",
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "reload took {:?}",
        t.elapsed()
    );
    daemon.signal("TERM");
    let (code, took) = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", daemon.log());
    assert!(took < Duration::from_secs(1), "stopped in {took:?}");
}

/// Streaming meter, noise and frames split across writes: still one good
/// sample per poll, none invented.
#[test]
fn streaming_noise_and_split_frames() {
    for (name, args) in [
        ("stream", &["--stream", "150"][..]),
        ("noise", &["--noise"][..]),
        ("split", &["--split", "--noise"][..]),
    ] {
        let d = Scratch::new(name);
        let (_sim, link) = sim(d.path(), args);
        let cfg = config(d.path(), &link, "");
        let mut daemon = daemon(d.path(), &cfg);
        let days = d.path().join("data/days");
        wait_for(Duration::from_secs(10), || samples(&days).len() >= 4, name);
        daemon.signal("INT");
        assert_eq!(daemon.wait_exit(Duration::from_secs(3)).0, Some(0));
        let s = samples(&days);
        assert_one_per_second(&s);
        assert!(
            s.iter().all(|(_, w)| (100..6000).contains(w)),
            "{name}: {s:?}"
        );
        assert!(!daemon.log().contains("silent"), "{name}: {}", daemon.log());
    }
}

#[test]
fn a_silent_meter_is_reported_once_and_leaves_a_gap() {
    let Rig {
        dir: d,
        _sim,
        mut daemon,
        ..
    } = Rig::run("silence", &["--silence", "2:4"], "");
    let days = d.path().join("data/days");
    wait_for(
        Duration::from_secs(15),
        || daemon.log().contains("answers again"),
        "recovery",
    );
    wait_for(
        Duration::from_secs(5),
        || samples(&days).len() >= 3,
        "samples",
    );
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(3));
    let log = daemon.log();
    assert_eq!(log.matches("meter silent").count(), 1, "{log}");
    let s = samples(&days);
    let biggest = s.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
    assert!(
        (3..=6).contains(&biggest),
        "gap of {biggest} s expected ~4: {s:?}"
    );
}

#[test]
fn unplug_and_replug_reopen_the_port() {
    let Rig {
        dir: d,
        _sim,
        mut daemon,
        ..
    } = Rig::run("hangup", &["--hangup", "2:3"], "");
    let days = d.path().join("data/days");
    wait_for(
        Duration::from_secs(20),
        || daemon.log().contains("meter port is back"),
        "replug",
    );
    let before = samples(&days).len();
    wait_for(
        Duration::from_secs(5),
        || samples(&days).len() >= before + 2,
        "samples after replug",
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(3)).0, Some(0));
    let log = daemon.log();
    assert!(
        log.contains("port lost") && log.contains("reopening"),
        "{log}"
    );
    assert_eq!(
        log.matches("ERROR").count(),
        1,
        "one error line per episode: {log}"
    );
    let s = samples(&days);
    let biggest = s.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
    assert!(biggest >= 2, "the unplugged time is a gap: {s:?}");
}

#[test]
fn a_port_missing_at_start_is_waited_for() {
    let d = Scratch::new("late");
    let link = d.path().join("ttyUSB0");
    let cfg = config(d.path(), &link, "");
    let mut daemon = daemon(d.path(), &cfg);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "daemon must keep running"
    );
    let (_sim, _) = sim(d.path(), &[]);
    let days = d.path().join("data/days");
    wait_for(
        Duration::from_secs(15),
        || !samples(&days).is_empty(),
        "samples once plugged",
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(3)).0, Some(0));
    assert!(daemon.log().contains("No such file"), "{}", daemon.log());
    // With nothing at the path, `mcce read` says what to check.
    drop(_sim);
    let _ = std::fs::remove_file(&link); // a killed simulator leaves its link
    let (code, _, err) = run(&["read", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("is the meter plugged in?"), "{err}");
}

#[test]
fn sighup_reloads_the_config_and_reopens_files() {
    let Rig {
        dir: d,
        _sim,
        cfg,
        mut daemon,
        ..
    } = Rig::run("hup", &[], "");
    let days = d.path().join("data/days");
    wait_for(
        Duration::from_secs(10),
        || samples(&days).len() >= 2,
        "samples",
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    let moved = d.path().join("moved");
    std::fs::write(
        &cfg,
        text.replace(
            &format!("DATA_DIR={}/data", d.path().display()),
            &format!("DATA_DIR={}", moved.display()),
        ),
    )
    .unwrap();
    daemon.signal("HUP");
    wait_for(
        Duration::from_secs(10),
        || samples(&moved.join("days")).len() >= 2,
        "samples in the new DATA_DIR",
    );

    // A broken config on SIGHUP keeps the running one.
    std::fs::write(&cfg, "POLL_SECONDS=often\n").unwrap();
    daemon.signal("HUP");
    let n = samples(&moved.join("days")).len();
    wait_for(
        Duration::from_secs(10),
        || samples(&moved.join("days")).len() >= n + 2,
        "still polling",
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(3)).0, Some(0));
    let log = daemon.log();
    assert!(
        log.contains("reload refused") && log.contains("POLL_SECONDS"),
        "{log}"
    );
}

#[test]
fn config_errors_exit_78_with_file_line_and_key() {
    let d = Scratch::new("cfg");
    let data = d.path().join("data");
    // Line 1 of each file is DATA_DIR.
    for (text, want) in [
        (
            "PORT=/dev/ttyUSB0\nPOLL_SECOND=5\n",
            "bad.conf:3: POLL_SECOND: unknown key (did you mean POLL_SECONDS?)",
        ),
        (
            "ALARM_WATTS=4.2kW\n",
            "bad.conf:2: ALARM_WATTS: '4.2kW' is not a whole number",
        ),
        ("PORT=\n", "bad.conf:2: PORT: must not be empty"),
        (
            "CONTRACT_WATTS=3kW\n",
            "bad.conf:2: CONTRACT_WATTS: '3kW' is not a whole number",
        ),
        (
            "CONTRACT_WATTS=3000\nTOLERANCE_PERCENT=40\n",
            "bad.conf:3: TOLERANCE_PERCENT: must be below SHORT_LIMIT_PERCENT (33)",
        ),
        (
            "POLL_SECONDS=4294967296\n",
            "bad.conf:2: POLL_SECONDS: 4294967296 is out of range 1..=3600",
        ),
        (
            "SHORT_LIMIT_PERCENT=5\n",
            "bad.conf:2: SHORT_LIMIT_PERCENT: must be above TOLERANCE_PERCENT (10)",
        ),
    ] {
        let cfg = d.path().join("bad.conf");
        std::fs::write(&cfg, format!("DATA_DIR={}\n{text}", data.display())).unwrap();
        for cmd in ["run", "read", "digest"] {
            let (code, _, err) = run(&[cmd, "-c", cfg.to_str().unwrap()]);
            assert_eq!(code, 78, "{cmd}: {err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(err.contains(want), "{cmd}: {err}");
        }
    }
    // A value from the environment is named as such, not as the file.
    let cfg = d.path().join("env.conf");
    std::fs::write(
        &cfg,
        format!("DATA_DIR={}\nCONTRACT_WATTS=3000\n", data.display()),
    )
    .unwrap();
    for cmd in ["run", "read", "digest"] {
        let o = std::process::Command::new(bin())
            .args([cmd, "-c", cfg.to_str().unwrap()])
            .env("TOLERANCE_PERCENT", "40")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(78), "{cmd}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(
                "environment variable TOLERANCE_PERCENT: must be below SHORT_LIMIT_PERCENT (33)"
            ),
            "{cmd}: {err}"
        );
    }
    assert!(!data.exists(), "nothing written");
    let (code, _, err) = run(&["run", "-c", "/nonexistent/mcce.conf"]);
    assert_eq!(code, 78);
    assert!(err.contains("/nonexistent/mcce.conf"), "{err}");
}

#[test]
fn decode_reads_captures() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c = Command::new(bin())
        .args(["decode", "--hex"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(b"00 53 30 32 32 32 30 0C 31 53 30 33 ff\n53303232 32 05 3153 3033\n")
        .unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "3120\n5\n");
    let mut c = Command::new(bin())
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(b"no frames here")
        .unwrap();
    let o = c.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
}

/// `mcce decode` prints each reading as its frame completes, while the
/// capture is still coming (raw and hex), so a capture of any size decodes
/// in constant memory; a bad hex line is named by its number.
#[test]
fn decode_streams_its_input() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    for (args, frame) in [
        (&["decode"][..], &b"\x00S0222\x30\x0c1S03"[..]),
        (
            &["decode", "--hex"][..],
            &b"53 30 32 32 32 30 0C 31 53 30 33\n"[..],
        ),
    ] {
        let mut c = Command::new(bin())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        stdin.write_all(frame).unwrap();
        stdin.flush().unwrap();
        // The input stays open: the reading must come before its end.
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = c.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20));
        drop(stdin);
        c.wait().unwrap();
        assert_eq!(line.as_deref(), Ok("3120\n"), "{args:?}");
    }
    let mut c = Command::new(bin())
        .args(["decode", "--hex"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(b"53 30\n5x 30\n")
        .unwrap();
    let o = c.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(65));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("line 2"),
        "{o:?}"
    );
}

/// A second `mcce run` on the same DATA_DIR or RUN_DIR exits at once with
/// one line and touches nothing: not the port, not the status file.
#[test]
fn a_second_daemon_exits_at_once_and_touches_nothing() {
    let d = Scratch::new("second");
    let (_sim, link) = sim(d.path(), &[]);
    let cfg = config(d.path(), &link, "");
    let mut first = daemon(d.path(), &cfg);
    let days = d.path().join("data/days");
    let status = d.path().join("status");
    wait_for(
        Duration::from_secs(10),
        || samples(&days).len() >= 2 && status.exists(),
        "the first daemon recording",
    );
    let pid = first.child.id();
    let other_run = d.path().join("run2");
    std::fs::create_dir_all(&other_run).unwrap();
    let same_data = d.path().join("same-data.conf");
    std::fs::write(
        &same_data,
        std::fs::read_to_string(&cfg).unwrap().replace(
            &format!("RUN_DIR={}\n", d.path().display()),
            &format!("RUN_DIR={}\n", other_run.display()),
        ),
    )
    .unwrap();
    for (i, c) in [&cfg, &same_data].into_iter().enumerate() {
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("run").arg("-c").arg(c);
        let mut second = Proc::spawn(cmd, d.path().join(format!("second{i}.log")));
        let (code, took) = second.wait_exit(Duration::from_secs(3));
        let log = second.log();
        assert_eq!(code, Some(69), "{log}");
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert_eq!(log.lines().count(), 1, "one line: {log}");
        assert!(log.contains("another mcce daemon"), "{log}");
        assert!(
            std::fs::read_to_string(&status)
                .unwrap()
                .starts_with(&format!("pid={pid}\n")),
            "status file left to the first daemon"
        );
    }
    assert_eq!(
        std::fs::read_dir(&other_run).unwrap().count(),
        0,
        "nothing written"
    );
    let n = samples(&days).len();
    wait_for(
        Duration::from_secs(5),
        || samples(&days).len() >= n + 2,
        "the first daemon still recording",
    );
    assert_one_per_second(&samples(&days));
    assert!(first.child.try_wait().unwrap().is_none());
    let (code, out, err) = run(&["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("pid {pid}")), "{out}");
    first.stop();
}

/// The status file removed under the running daemon (a cleanup script, a
/// careless `rm`) comes back at the next poll.
#[test]
fn the_status_file_comes_back_after_removal() {
    let Rig {
        dir: d,
        _sim,
        cfg,
        mut daemon,
        ..
    } = Rig::run("status-rm", &[], "");
    let status = d.path().join("status");
    wait_for(Duration::from_secs(10), || status.exists(), "status file");
    std::fs::remove_file(&status).unwrap();
    wait_for(
        Duration::from_secs(3),
        || status.exists(),
        "status file back",
    );
    let (code, out, err) = run(&["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    daemon.stop();
}

fn utc_daemon(dir: &std::path::Path, cfg: &std::path::Path) -> Proc {
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("run").arg("-c").arg(cfg).env("TZ", "UTC");
    Proc::spawn(cmd, dir.join("daemon.log"))
}

fn utc_status(cfg: &std::path::Path) -> (i32, String, String) {
    run_tz("UTC", &["status", "-c", cfg.to_str().unwrap()])
}

/// Readings that do not reach the disk (a full card, a read-only data
/// partition, a day file that is not a file), and the image's note on its
/// data partition (which the boot script or S90mcce leaves in
/// RUN_DIR/data-partition, e.g. readings going to the root file system),
/// show in `mcce status`, which then exits 74.
#[test]
fn status_shows_that_samples_are_not_reaching_the_disk() {
    let d = Scratch::new("recording");
    let (_sim, link) = sim(d.path(), &[]);
    let cfg = config(d.path(), &link, "");
    let days = d.path().join("data/days");
    std::fs::create_dir_all(&days).unwrap();
    // Today's and tomorrow's day files (UTC) are FIFOs nobody reads: a
    // write there would wait for ever, so the daemon refuses them.
    let today = time::OffsetDateTime::now_utc().date();
    let full: Vec<_> = [today, today.next_day().unwrap()]
        .iter()
        .map(|t| days.join(t.to_string()))
        .collect();
    for f in &full {
        let made = std::process::Command::new("mkfifo").arg(f).status();
        assert!(made.unwrap().success());
    }
    let mut daemon = utc_daemon(d.path(), &cfg);
    wait_for(
        Duration::from_secs(10),
        || daemon.log().contains("cannot write a sample"),
        "a failed write",
    );
    std::thread::sleep(Duration::from_millis(1200));
    let (code, out, err) = utc_status(&cfg);
    assert_eq!(code, 74, "{out}{err}");
    assert!(
        out.contains("recording: failing since ") && out.contains("a FIFO, not a regular file)"),
        "{out}"
    );
    assert!(err.contains("readings are not reaching the disk"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    for f in &full {
        std::fs::remove_file(f).unwrap();
    }
    wait_for(
        Duration::from_secs(5),
        || !samples(&days).is_empty(),
        "samples written again",
    );
    std::thread::sleep(Duration::from_millis(1200));
    let (code, out, err) = utc_status(&cfg);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("recording: ok"), "{out}");
    assert!(out.contains("data: ") && out.contains(" free of "), "{out}");
    assert!(!out.contains("root file system"), "{out}");

    let why = "the card (1900 MiB) is too small for the data partition; \
               recording goes to the root file system, which the next flash erases";
    let note = d.path().join("data-partition");
    std::fs::write(&note, format!("{why}\n")).unwrap();
    let (code, out, err) = utc_status(&cfg);
    assert_eq!(code, 74, "{out}{err}");
    assert!(out.lines().any(|l| l == format!("data:   {why}")), "{out}");
    assert!(out.contains(" free of "), "free space still shown: {out}");
    assert!(
        err.contains("the image's data partition: ") && err.contains(why),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    std::fs::write(&note, "").unwrap();
    assert_eq!(utc_status(&cfg).0, 0, "an empty note is no problem");

    daemon.stop();
}

/// Free space below LOW_SPACE_PERCENT is logged once, not at every poll,
/// and its recovery once.
#[test]
fn low_free_space_is_logged_once_and_its_recovery_once() {
    let d = Scratch::new("space");
    let (_sim, link) = sim(d.path(), &[]);
    // Every real file system has less than 100 % free.
    let cfg = config(d.path(), &link, "LOW_SPACE_PERCENT=100\n");
    let mut daemon = daemon(d.path(), &cfg);
    let days = d.path().join("data/days");
    wait_for(
        Duration::from_secs(10),
        || samples(&days).len() >= 3,
        "3 samples",
    );
    let (code, out, err) = run(&["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("below LOW_SPACE_PERCENT=100"), "{out}");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("LOW_SPACE_PERCENT=100", "LOW_SPACE_PERCENT=1"),
    )
    .unwrap();
    daemon.signal("HUP");
    let n = samples(&days).len();
    wait_for(
        Duration::from_secs(5),
        || samples(&days).len() >= n + 3,
        "3 more samples",
    );
    daemon.stop();
    let log = daemon.log();
    assert_eq!(log.matches("free space is low").count(), 1, "{log}");
    assert_eq!(log.matches("free space is back").count(), 1, "{log}");
}

/// The day of the migration: today's file was begun by the Python version
/// (one value per 5-s slot from midnight). The daemon keeps those lines,
/// says so once, and appends its own `<unix> <watts>` lines after them;
/// readers take both, each by its own rule.
#[test]
fn a_python_file_for_today_is_kept_and_continued() {
    let d = Scratch::new("migration");
    let (_sim, link) = sim(d.path(), &[]);
    let cfg = config(d.path(), &link, "");
    let date = |args: &[&str]| date(None, args);
    let today = date(&["+%F"]);
    let midnight = date(&["-d", "00:00", "+%s"]);
    let days = d.path().join("data/days");
    std::fs::create_dir_all(&days).unwrap();
    let file = days.join(&today);
    let python = "3000\n".repeat(100);
    std::fs::write(&file, &python).unwrap();
    let mut daemon = daemon(d.path(), &cfg);
    let ours = || {
        std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| l.contains(' '))
            .count()
    };
    wait_for(Duration::from_secs(10), || ours() >= 2, "samples appended");
    daemon.signal("TERM");
    let (code, _) = daemon.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{}", daemon.log());
    assert!(
        daemon.log().contains(
            "100 line(s) in the Python format (one value every 5 s from midnight) are kept"
        ),
        "{}",
        daemon.log()
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with(&python), "{text}");
    let (from, to) = (format!("--from={today}"), format!("--to={today}"));
    let c = cfg.to_str().unwrap();
    let (code, out, err) = run(&["export", "-c", c, &from, &to, "--resolution=raw"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 100 + ours(), "{out}");
    assert!(rows[0].contains(&format!(",{midnight},3000")), "{out}");
    assert!(
        rows[100].split(',').nth(1).unwrap() > midnight.as_str(),
        "{out}"
    );
}

/// A config file at `path` for a fast daemon on `port` with these
/// directories (the databases under `run`).
fn conf_with_dirs(
    path: &std::path::Path,
    port: &std::path::Path,
    run: &std::path::Path,
    data: &std::path::Path,
    extra: &str,
) {
    std::fs::write(
        path,
        format!(
            "PORT={}\nPOLL_SECONDS=1\nREPLY_TIMEOUT_MS=400\nDATA_DIR={}\nRUN_DIR={}\nDATABASE_URL={}/db/pwr\nBUZZER=none\n{extra}",
            port.display(),
            data.display(),
            run.display(),
            run.display()
        ),
    )
    .unwrap();
}

fn status_pid(run_dir: &std::path::Path) -> Option<u32> {
    let text = std::fs::read_to_string(run_dir.join("status")).ok()?;
    text.lines().next()?.strip_prefix("pid=")?.parse().ok()
}

/// Two daemons, A and B. A reload of A into B's DATA_DIR or RUN_DIR is
/// refused with one line, A keeps its own directories and B's day files
/// hold B's samples alone; a reload of A into free directories moves it
/// there and lets go of the old ones, where a third daemon then starts.
#[test]
fn a_reload_keeps_one_daemon_per_directory() {
    let d = Scratch::new("hup-lock");
    let (a, b, c, x) = (
        d.path().join("a"),
        d.path().join("b"),
        d.path().join("c"),
        d.path().join("x"),
    );
    for dir in [&a, &b, &x] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let (_sim_a, link_a) = sim(&a, &[]);
    let (_sim_b, link_b) = sim(&b, &[]);
    let (_sim_x, link_x) = sim(&x, &[]);
    let (cfg_a, cfg_b) = (d.path().join("a.conf"), d.path().join("b.conf"));
    conf_with_dirs(&cfg_a, &link_a, &a, &a.join("data"), "");
    conf_with_dirs(&cfg_b, &link_b, &b, &b.join("data"), "");
    let mut da = daemon(&a, &cfg_a);
    let mut db = daemon(&b, &cfg_b);
    let (days_a, days_b) = (a.join("data/days"), b.join("data/days"));
    wait_for(
        Duration::from_secs(10),
        || samples(&days_a).len() >= 2 && samples(&days_b).len() >= 2,
        "both daemons recording",
    );
    let (pid_a, pid_b) = (da.child.id(), db.child.id());

    // Into B's DATA_DIR, then into B's RUN_DIR: refused, one line each.
    for (i, (run, data, busy)) in [
        (
            &a,
            b.join("data"),
            format!("DATA_DIR {}/data: ", b.display()),
        ),
        (&b, a.join("data"), format!("RUN_DIR {}: ", b.display())),
    ]
    .into_iter()
    .enumerate()
    {
        conf_with_dirs(&cfg_a, &link_a, run, &data, "");
        da.signal("HUP");
        wait_for(
            Duration::from_secs(5),
            || da.log().matches("reload refused").count() == i + 1,
            "the reload refused",
        );
        let log = da.log();
        let line = log.lines().rfind(|l| l.contains("reload refused")).unwrap();
        assert!(
            line.contains(&busy) && line.contains("another mcce daemon"),
            "{line}"
        );
        let n = samples(&days_a).len();
        wait_for(
            Duration::from_secs(5),
            || samples(&days_a).len() >= n + 2,
            "A still recording in its own DATA_DIR",
        );
        assert_eq!(status_pid(&a), Some(pid_a), "A's status where it was");
        assert_eq!(status_pid(&b), Some(pid_b), "B's status untouched");
    }
    assert!(
        da.log().contains(&format!("(pid {pid_b}) already uses it")),
        "a busy RUN_DIR names its daemon: {}",
        da.log()
    );
    // One sample per second in B's files: A never wrote there.
    assert_one_per_second(&samples(&days_b));

    // Into free directories: A moves, and its old ones are free again.
    conf_with_dirs(&cfg_a, &link_a, &c, &c.join("data"), "");
    da.signal("HUP");
    wait_for(
        Duration::from_secs(10),
        || samples(&c.join("data/days")).len() >= 2,
        "A recording in its new DATA_DIR",
    );
    assert_eq!(status_pid(&c), Some(pid_a));
    let cfg_3 = d.path().join("third.conf");
    conf_with_dirs(&cfg_3, &link_x, &a, &a.join("data"), "");
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("run").arg("-c").arg(&cfg_3);
    let mut third = Proc::spawn(cmd, d.path().join("third.log"));
    wait_for(
        Duration::from_secs(10),
        || status_pid(&a) == Some(third.child.id()),
        "a third daemon in A's old directories",
    );
    assert!(third.child.try_wait().unwrap().is_none(), "{}", third.log());
    for p in [&mut da, &mut db, &mut third] {
        p.signal("TERM");
        assert_eq!(
            p.wait_exit(Duration::from_secs(5)).0,
            Some(0),
            "{}",
            p.log()
        );
    }
    assert_eq!(da.log().matches("reload refused").count(), 2);
    assert_one_per_second(&samples(&days_b));
}

/// `mcce status` sees the daemon through a storm of SIGHUPs: a reload
/// keeps the status file. A reload to another RUN_DIR writes the status
/// there at once (the next poll is an hour away) and removes the old one.
#[test]
fn mcce_status_sees_the_daemon_through_a_storm_of_reloads() {
    let Rig {
        dir: d,
        _sim,
        cfg,
        mut daemon,
        ..
    } = Rig::run("hup-storm", &[], "");
    let status = d.path().join("status");
    wait_for(Duration::from_secs(10), || status.exists(), "status file");
    let mut gone = 0;
    for _ in 0..40 {
        daemon.signal("HUP");
        std::thread::sleep(Duration::from_millis(30));
        let (code, out, err) = run(&["status", "-c", cfg.to_str().unwrap()]);
        if code != 0 {
            gone += 1;
            eprintln!("{code}: {out}{err}");
        }
    }
    assert_eq!(
        gone, 0,
        "of 40 checks during the reloads, {gone} found no daemon"
    );
    assert!(daemon.log().matches("configuration reloaded").count() >= 20);

    let moved = d.path().join("run2");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            &format!("RUN_DIR={}\n", d.path().display()),
            &format!("RUN_DIR={}\n", moved.display()),
        )
        .replace("POLL_SECONDS=1\n", "POLL_SECONDS=3600\n"),
    )
    .unwrap();
    daemon.signal("HUP");
    wait_for(
        Duration::from_secs(3),
        || moved.join("status").exists() && !status.exists(),
        "the status moved with RUN_DIR",
    );
    let (code, out, err) = run(&["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("pid {}", daemon.child.id())), "{out}");
    daemon.stop();
    assert!(!moved.join("status").exists(), "status removed at exit");
}

/// The system refuses the siren's thread — here its stack (RUST_MIN_STACK,
/// 1 TiB) is more than the address space the process may have (`prlimit
/// --as`, 1 GiB) — as a system out of processes or memory would: the daemon
/// says so once, records as usual and stops cleanly; it never aborts.
#[test]
fn a_siren_thread_the_system_refuses_does_not_stop_the_daemon() {
    let d = Scratch::new("no-thread");
    let (_sim, link) = sim(d.path(), &[]);
    let cfg = config(d.path(), &link, "");
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--as=1073741824")
        .arg(bin())
        .args(["run", "-c", cfg.to_str().unwrap()])
        .env("RUST_MIN_STACK", "1099511627776");
    let mut daemon = Proc::spawn(cmd, d.path().join("daemon.log"));
    let days = d.path().join("data/days");
    wait_for(
        Duration::from_secs(10),
        || samples(&days).len() >= 3,
        "3 samples without a siren thread",
    );
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(5)).0,
        Some(0),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    assert_eq!(
        log.matches("cannot start the buzzer's thread").count(),
        1,
        "{log}"
    );
    assert!(log.contains("alarms will only be logged"), "{log}");
    assert_one_per_second(&samples(&days));
}
