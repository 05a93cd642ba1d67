//! The buzzer's two lines through the sysfs GPIO interface (docs/protocol.md#buzzer-wiring).
//!
//! Since Linux 6.6 the Pi's SoC chip no longer starts at sysfs number 0
//! (typically 512), so BCM numbers are resolved through the chip's `base`
//! read from `/sys/class/gpio/gpiochip*/`. Lines are driven low when the
//! buzzer is created, when it is dropped, and from the panic hook.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sysfs_gpio::{Direction, Pin};

use crate::adapters::siren::Buzzer;

pub const SYSFS_GPIO: &str = "/sys/class/gpio";

/// One `gpiochipN` directory's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    pub label: String,
    pub base: u32,
    pub ngpio: u32,
}

/// Picks the chip whose label starts with `label_prefix` and maps the BCM
/// offset onto its sysfs number. Pure, so the choice is testable.
pub fn resolve(chips: &[Chip], label_prefix: &str, bcm: u32) -> Result<u32, String> {
    let chip = chips
        .iter()
        .find(|c| c.label.starts_with(label_prefix))
        .ok_or_else(|| {
            let seen: Vec<&str> = chips.iter().map(|c| c.label.as_str()).collect();
            format!(
                "no GPIO chip labelled {label_prefix}* (found: {}); set BUZZER_GPIO_CHIP",
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join(", ")
                }
            )
        })?;
    if bcm >= chip.ngpio {
        return Err(format!(
            "GPIO {bcm} is beyond chip {} ({} lines)",
            chip.label, chip.ngpio
        ));
    }
    Ok(chip.base + bcm)
}

/// Reads every `gpiochip*` under `root` (normally `/sys/class/gpio`).
pub fn read_chips(root: &Path) -> io::Result<Vec<Chip>> {
    let mut chips = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("gpiochip") {
            continue;
        }
        let dir = entry.path();
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).map(|s| s.trim().to_string());
        let num = |f: &str| -> io::Result<u32> {
            read(f)?.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}/{f}: not a number", dir.display()),
                )
            })
        };
        chips.push(Chip {
            label: read("label")?,
            base: num("base")?,
            ngpio: num("ngpio")?,
        });
    }
    chips.sort_by_key(|c| c.base);
    Ok(chips)
}

/// The sysfs numbers of the enable and tone lines.
pub fn resolve_lines(
    label_prefix: &str,
    enable_bcm: u32,
    tone_bcm: u32,
) -> Result<(u32, u32), String> {
    let chips = read_chips(Path::new(SYSFS_GPIO))
        .map_err(|e| format!("{SYSFS_GPIO}: cannot list GPIO chips: {e}"))?;
    Ok((
        resolve(&chips, label_prefix, enable_bcm)?,
        resolve(&chips, label_prefix, tone_bcm)?,
    ))
}

/// The id of `group` in an `/etc/group`-format text.
pub fn group_id(group_file: &str, group: &str) -> Option<u32> {
    group_file.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == group).then_some(())?;
        f.next()?;
        f.next()?.parse().ok()
    })
}

/// As root, before the daemon starts: exports a line if needed and lets
/// group `gid` drive it, so the daemon itself never needs root.
pub fn export_for_group(n: u32, gid: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = PathBuf::from(format!("{SYSFS_GPIO}/gpio{n}"));
    if !dir.exists() {
        // EBUSY: exported meanwhile (by the daemon, or a second setup);
        // the line is there, which is all this step wants.
        match std::fs::write(format!("{SYSFS_GPIO}/export"), n.to_string()) {
            Err(e) if e.raw_os_error() != Some(EBUSY) => {
                return Err(format!("{SYSFS_GPIO}/export: cannot export GPIO {n}: {e}"));
            }
            _ => {}
        }
        // The kernel creates the directory; udev or mdev may still be
        // adjusting it for a moment.
        for _ in 0..50 {
            if dir.join("value").exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    for f in ["direction", "value"] {
        let p = dir.join(f);
        std::os::unix::fs::chown(&p, None, Some(gid))
            .map_err(|e| format!("{}: cannot hand to the gpio group: {e}", p.display()))?;
        let meta = std::fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut perm = meta.permissions();
        perm.set_mode(perm.mode() | 0o060);
        std::fs::set_permissions(&p, perm).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// The kernel's answer when a line is already exported.
const EBUSY: i32 = 16;

/// Makes an exported line an output driven low, if it is exported.
///
/// It writes `low` to `direction`, never `0` to `value`: a real kernel
/// refuses a `value` write (EPERM) while the line is still an input, as it
/// is right after export, and `low` sets direction and level in one step,
/// so the line never glitches high. On a line that is already an output
/// `low` simply drives it low.
pub fn force_low(n: u32) -> Result<(), String> {
    let p = PathBuf::from(format!("{SYSFS_GPIO}/gpio{n}/direction"));
    if !p.exists() {
        return Ok(());
    }
    std::fs::write(&p, "low").map_err(|e| format!("{}: {e}", p.display()))
}

/// Value files the panic hook drives low. A panic aborts in release builds,
/// so `Drop` would not run; the hook is the last word on the lines.
static LINES_TO_LOWER: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Adds a value file for the panic hook to drive low.
pub fn register_line(value_file: PathBuf) {
    let mut lines = LINES_TO_LOWER.lock().unwrap_or_else(|e| e.into_inner());
    if !lines.contains(&value_file) {
        lines.push(value_file);
    }
}

/// Installs (once) a panic hook that writes `0` to every registered line.
pub fn install_panic_guard() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            lower_registered();
            previous(info);
        }));
    });
}

/// Writes `0` to every registered line; safe to call from any exit path.
pub fn lower_registered() {
    let lines = match LINES_TO_LOWER.try_lock() {
        Ok(l) => l.clone(),
        Err(_) => return,
    };
    for p in lines {
        let _ = std::fs::write(&p, "0");
    }
}

/// One output line with its `value` file held open for the buzzer's life:
/// the siren toggles the tone line up to ~3 600 times a second, and
/// sysfs_gpio's `set_value` would open, write and close the file each time.
struct Line {
    file: File,
}

impl Line {
    fn open(n: u32) -> Result<Line, String> {
        let path = format!("{SYSFS_GPIO}/gpio{n}/value");
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| format!("{path}: {e}"))?;
        Ok(Line { file })
    }

    /// One write at offset 0 (sysfs reads each write as a new value); a
    /// file that cannot seek (a FIFO standing in for sysfs) takes a plain
    /// write.
    fn set(&mut self, high: bool) -> io::Result<()> {
        let level: &[u8] = if high { b"1" } else { b"0" };
        match self.file.write_all_at(level, 0) {
            Err(e) if e.kind() == io::ErrorKind::NotSeekable => self.file.write_all(level),
            other => other,
        }
    }
}

/// The A4988 circuit on two exported sysfs lines.
pub struct SysfsBuzzer {
    enable: Line,
    tone: Line,
}

impl SysfsBuzzer {
    /// Sets up both lines as outputs, low. Exporting needs root: on the
    /// device the init script exports them and hands them to group `gpio`;
    /// the daemon only exports a line that is not there yet.
    pub fn open(enable_sysfs: u32, tone_sysfs: u32) -> Result<SysfsBuzzer, String> {
        install_panic_guard();
        let setup = |n: u32| -> Result<Line, String> {
            let pin = Pin::new(u64::from(n));
            if !pin.is_exported() {
                pin.export()
                    .map_err(|e| format!("{SYSFS_GPIO}/export: cannot export GPIO {n}: {e}"))?;
            }
            // "low" sets the direction and the level in one write, so the
            // line never glitches high.
            pin.set_direction(Direction::Low)
                .map_err(|e| format!("{SYSFS_GPIO}/gpio{n}/direction: {e}"))?;
            register_line(PathBuf::from(format!("{SYSFS_GPIO}/gpio{n}/value")));
            Line::open(n)
        };
        let enable = setup(enable_sysfs)?;
        let tone = setup(tone_sysfs)?;
        let mut b = SysfsBuzzer { enable, tone };
        b.set_tone(false)
            .map_err(|e| format!("GPIO {tone_sysfs}: {e}"))?;
        b.set_enable(false)
            .map_err(|e| format!("GPIO {enable_sysfs}: {e}"))?;
        Ok(b)
    }
}

impl Buzzer for SysfsBuzzer {
    fn set_enable(&mut self, on: bool) -> io::Result<()> {
        self.enable.set(on)
    }
    fn set_tone(&mut self, high: bool) -> io::Result<()> {
        self.tone.set(high)
    }
}

impl Drop for SysfsBuzzer {
    fn drop(&mut self) {
        let _ = self.tone.set(false);
        let _ = self.enable.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chips() -> Vec<Chip> {
        vec![
            Chip {
                label: "pinctrl-bcm2835".into(),
                base: 512,
                ngpio: 54,
            },
            Chip {
                label: "raspberrypi-exp-gpio".into(),
                base: 566,
                ngpio: 8,
            },
        ]
    }

    #[test]
    fn bcm_offsets_follow_the_chip_base() {
        assert_eq!(resolve(&chips(), "pinctrl-bcm", 17), Ok(529));
        assert_eq!(resolve(&chips(), "pinctrl-bcm", 18), Ok(530));
        let old = vec![Chip {
            label: "pinctrl-bcm2711".into(),
            base: 0,
            ngpio: 58,
        }];
        assert_eq!(resolve(&old, "pinctrl-bcm", 17), Ok(17));
    }

    #[test]
    fn errors_say_what_was_found() {
        let e = resolve(&chips(), "pinctrl-rp1", 17).unwrap_err();
        assert!(e.contains("pinctrl-bcm2835, raspberrypi-exp-gpio"), "{e}");
        assert!(
            resolve(&chips(), "raspberrypi-exp", 17)
                .unwrap_err()
                .contains("beyond")
        );
    }

    #[test]
    fn a_panic_drives_registered_lines_low() {
        let p = std::env::temp_dir().join(format!("mcce-panic-line-{}", std::process::id()));
        std::fs::write(&p, "1").unwrap();
        register_line(p.clone());
        install_panic_guard();
        let r = std::thread::spawn(|| panic!("test panic: the buzzer line must go low")).join();
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "0");
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn group_ids() {
        let g = "root:x:0:\ndialout:x:18:\ngpio:x:101:mcce\n";
        assert_eq!(group_id(g, "gpio"), Some(101));
        assert_eq!(group_id(g, "dialout"), Some(18));
        assert_eq!(group_id(g, "gpi"), None);
    }

    #[test]
    fn reads_a_chip_tree() {
        let dir = std::env::temp_dir().join(format!("mcce-gpiochips-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, label, base, n) in [
            ("gpiochip512", "pinctrl-bcm2835", 512, 54),
            ("gpiochip566", "exp", 566, 8),
        ] {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("label"), format!("{label}\n")).unwrap();
            std::fs::write(d.join("base"), format!("{base}\n")).unwrap();
            std::fs::write(d.join("ngpio"), format!("{n}\n")).unwrap();
        }
        std::fs::create_dir_all(dir.join("gpio529")).unwrap();
        let found = read_chips(&dir).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(resolve(&found, "pinctrl-bcm", 17), Ok(529));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
