//! The real sysfs GPIO code against a fake `/sys/class/gpio` (docs/protocol.md#real-kernel-sysfs-rules):
//! as root, a private mount namespace gets a tmpfs over `/sys/class` with
//! a chip at base 512 and FIFOs as `value` files that record every write.
//!
//! The fake keeps the kernel's rule that tripped the buzzer on real Pis: a
//! line is an input after export, and a `value` write to an input fails
//! (EPERM). Each recorder checks the line's `direction` file when a write
//! arrives and records `!` before the bytes if it still says `in`, so a
//! write the kernel would refuse shows up in the log and fails the test.

mod common;

use common::*;
use std::process::Command;

/// Drains one `value` FIFO (argv: fifo, direction file, log) into the log;
/// `!` marks bytes written while the direction was `in`.
const RECORDER: &str = r#"
import os, sys
fifo, direction, log = sys.argv[1:4]
src = os.open(fifo, os.O_RDWR)
out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
while True:
    data = os.read(src, 4096)
    with open(direction) as d:
        state = d.read().strip()
    os.write(out, (b"!" if state == "in" else b"") + data)
"#;

/// These tests need root (a private mount namespace), so plain `cargo
/// test` lists them as ignored rather than passing them silently;
/// `.ci/run` runs them as root with `-- --ignored`. Run without root they
/// fail saying why.
fn require_root() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    assert!(root, "needs root for a private mount namespace");
}

/// Runs `body` (sh) with the fake tree in place; `$OUT` is the scratch dir.
fn in_fake_sysfs(dir: &std::path::Path, body: &str) -> (bool, String) {
    let script = format!(
        r#"set -e
mount -t tmpfs none /sys/class
G=/sys/class/gpio
mkdir -p $G/gpiochip512 $G/gpiochip570 $G/gpio529 $G/gpio530
echo pinctrl-bcm2835 > $G/gpiochip512/label; echo 512 > $G/gpiochip512/base; echo 54 > $G/gpiochip512/ngpio
echo raspberrypi-exp-gpio > $G/gpiochip570/label; echo 570 > $G/gpiochip570/base; echo 8 > $G/gpiochip570/ngpio
: > $G/export; echo in > $G/gpio529/direction; echo in > $G/gpio530/direction
mkfifo $G/gpio529/value $G/gpio530/value
: > $OUT/enable.log; : > $OUT/tone.log
python3 -c "$RECORDER" $G/gpio529/value $G/gpio529/direction $OUT/enable.log & R1=$!
python3 -c "$RECORDER" $G/gpio530/value $G/gpio530/direction $OUT/tone.log & R2=$!
# Let the recorders open their FIFOs before anything writes to them.
sleep 0.3
{body}
sleep 0.3
kill $R1 $R2
cat $G/gpio529/direction > $OUT/enable.dir
cat $G/gpio530/direction > $OUT/tone.dir
ls $G > $OUT/tree
"#
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("OUT", dir)
        .env("MCCE", bin())
        .env("RECORDER", RECORDER)
        .output()
        .expect("unshare");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn read(dir: &std::path::Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_default()
}

fn check_levels(log: &str, what: &str) {
    assert!(!log.is_empty(), "{what}: nothing written");
    assert!(
        log.bytes().all(|b| b == b'0' || b == b'1'),
        "{what}: {log:?}"
    );
    assert!(
        log.starts_with('0'),
        "{what} must be driven low first: {log:?}"
    );
    assert!(log.ends_with('0'), "{what} must end low: {log:?}");
    assert!(log.contains('1'), "{what} never went high");
}

#[test]
#[ignore = "needs root: .ci/run runs it with -- --ignored"]
fn beep_drives_the_offset_lines_and_leaves_them_low() {
    require_root();
    let d = Scratch::new("gpio-beep");
    let cfg = d.path().join("mcce.conf");
    std::fs::write(
        &cfg,
        "BUZZER=gpio\nBUZZER_ENABLE_GPIO=17\nBUZZER_TONE_GPIO=18\n",
    )
    .unwrap();
    let (ok, out) = in_fake_sysfs(
        d.path(),
        &format!("$MCCE beep -c {} --seconds 1", cfg.display()),
    );
    assert!(ok, "{out}");
    check_levels(&read(d.path(), "enable.log"), "enable (BCM 17 = sysfs 529)");
    let tone = read(d.path(), "tone.log");
    check_levels(&tone, "tone (BCM 18 = sysfs 530)");
    let pulses = tone.matches('1').count();
    // One second sweeping 600-1800 Hz is ~1200 pulses; sysfs writes are
    // slower than that on a loaded machine, so only a floor is asserted.
    assert!(pulses > 100, "{pulses} tone pulses");
    assert_eq!(read(d.path(), "enable.dir"), "low");
    assert_eq!(read(d.path(), "tone.dir"), "low");
    let tree = read(d.path(), "tree");
    assert!(
        !tree.contains("gpio17\n") && !tree.contains("gpio18\n"),
        "unoffset numbers used: {tree}"
    );
}

/// `beep --chirp` plays the contract alarm's chirp on the real lines: the
/// enable line up once, two short tone bursts (a quarter of a second, so
/// far fewer pulses than a siren), both lines low after.
#[test]
#[ignore = "needs root: .ci/run runs it with -- --ignored"]
fn beep_chirp_sounds_two_short_beeps_and_leaves_the_lines_low() {
    require_root();
    let d = Scratch::new("gpio-chirp");
    let cfg = d.path().join("mcce.conf");
    std::fs::write(
        &cfg,
        "BUZZER=gpio\nBUZZER_ENABLE_GPIO=17\nBUZZER_TONE_GPIO=18\n",
    )
    .unwrap();
    let (ok, out) = in_fake_sysfs(
        d.path(),
        &format!("$MCCE beep -c {} --chirp", cfg.display()),
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("chirped on BCM GPIO 17 (enable) and 18 (tone)"),
        "{out}"
    );
    let enable = read(d.path(), "enable.log");
    check_levels(&enable, "enable");
    assert_eq!(
        enable.matches('1').count(),
        1,
        "enable raised once: {enable:?}"
    );
    let tone = read(d.path(), "tone.log");
    check_levels(&tone, "tone");
    // Two 80 ms bursts at 2.4 kHz: at most 384 pulses, fewer when sysfs
    // writes are slow.
    let pulses = tone.matches('1').count();
    assert!((1..=384).contains(&pulses), "{pulses} tone pulses");
    assert_eq!(read(d.path(), "enable.dir"), "low");
    assert_eq!(read(d.path(), "tone.dir"), "low");
}

#[test]
#[ignore = "needs root: .ci/run runs it with -- --ignored"]
fn beep_without_the_chip_fails_clearly() {
    require_root();
    let d = Scratch::new("gpio-nochip");
    let cfg = d.path().join("mcce.conf");
    std::fs::write(&cfg, "BUZZER_GPIO_CHIP=pinctrl-rp1\n").unwrap();
    let (ok, out) = in_fake_sysfs(
        d.path(),
        &format!("$MCCE beep -c {} || echo \"exit=$?\"", cfg.display()),
    );
    assert!(ok, "{out}");
    assert!(out.contains("exit=69"), "{out}");
    assert!(out.contains("no GPIO chip labelled pinctrl-rp1*"), "{out}");
}

#[test]
#[ignore = "needs root: .ci/run runs it with -- --ignored"]
fn daemon_alarm_on_sysfs_and_sigterm_mid_siren_leaves_lines_low() {
    require_root();
    let d = Scratch::new("gpio-daemon");
    let (_sim, link) = sim(d.path(), &[]);
    let cfg = config(
        d.path(),
        &link,
        "BUZZER=gpio\nALARM_WATTS=100\nALARM_HYSTERESIS_WATTS=50\nALARM_SIREN_SECONDS=10\n",
    );
    // BUZZER=none from the helper is overridden by the later line.
    let body = format!(
        "$MCCE run -c {cfg} 2> $OUT/daemon.err & D=$!\nsleep 2.5\nkill -TERM $D\nwait $D; echo \"exit=$?\"",
        cfg = cfg.display()
    );
    let (ok, out) = in_fake_sysfs(d.path(), &body);
    assert!(ok, "{out}");
    assert!(
        out.contains("exit=0"),
        "{out}\n{}",
        read(d.path(), "daemon.err")
    );
    let err = read(d.path(), "daemon.err");
    assert!(err.contains("sounding the alarm"), "{err}");
    check_levels(&read(d.path(), "enable.log"), "enable");
    check_levels(&read(d.path(), "tone.log"), "tone");
    assert_eq!(
        read(d.path(), "enable.log").matches('1').count(),
        1,
        "one siren at a time"
    );
}

#[test]
#[ignore = "needs root: .ci/run runs it with -- --ignored"]
fn gpio_setup_hands_the_offset_lines_to_group_gpio() {
    require_root();
    let d = Scratch::new("gpio-setup");
    std::fs::write(
        d.path().join("group"),
        "root:x:0:\ndialout:x:18:\ngpio:x:4242:mcce\n",
    )
    .unwrap();
    let cfg = d.path().join("mcce.conf");
    std::fs::write(&cfg, "").unwrap();
    // Setup sees freshly exported lines (inputs); `gpio low` then sees the
    // lines as the daemon leaves them (outputs), recorded in between.
    let body = format!(
        "mount --bind $OUT/group /etc/group\n$MCCE gpio setup -c {c}; echo \"setup=$?\"\n\
         stat -c '%g %A' $G/gpio529/direction $G/gpio530/direction > $OUT/perms\n\
         cat $G/gpio529/direction $G/gpio530/direction > $OUT/after-setup\n\
         echo out > $G/gpio529/direction; echo out > $G/gpio530/direction\n\
         $MCCE gpio low -c {c}; echo \"low=$?\"",
        c = cfg.display()
    );
    let (ok, out) = in_fake_sysfs(d.path(), &body);
    assert!(ok, "{out}");
    assert!(out.contains("setup=0") && out.contains("low=0"), "{out}");
    let perms = read(d.path(), "perms");
    assert_eq!(perms.lines().count(), 2, "{perms}");
    assert!(
        perms.lines().all(|l| l.starts_with("4242 -rw-rw")),
        "{perms}"
    );
    // No `value` write the kernel refuses; output and low in one write.
    for log in ["enable.log", "tone.log"] {
        let l = read(d.path(), log);
        assert!(!l.contains('!'), "{log}: value written to an input: {l:?}");
    }
    assert_eq!(read(d.path(), "after-setup"), "lowlow");
    assert_eq!(read(d.path(), "enable.dir"), "low");
    assert_eq!(read(d.path(), "tone.dir"), "low");
}
