//! A real mosquitto broker for tests: started on 127.0.0.1 with a config
//! file of its own, on two free ports (one anonymous, one with a password
//! file), logging every packet to a file, killed when dropped.
//!
//! Tests that need it call [`Mosquitto::start`], which says on stderr that
//! the test is skipped, and why, when the Debian packages `mosquitto` and
//! `mosquitto-clients` are not installed.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The one user in the password file.
pub(crate) const USER: &str = "mcce";
pub(crate) const PASSWORD: &str = "s3cret pass";

pub(crate) struct Mosquitto {
    child: Child,
    dir: PathBuf,
    /// A listener that lets anyone in.
    pub open_port: u16,
    /// A listener that lets in only [`USER`] with [`PASSWORD`].
    pub auth_port: u16,
}

/// Finds a program on PATH or in the sbin directories a non-root PATH
/// leaves out (mosquitto itself lives in /usr/sbin).
pub(crate) fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Two ports nobody listens on right now.
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

impl Mosquitto {
    /// A running broker, or `None` (with a line on stderr naming `test`)
    /// when mosquitto or its clients are not installed.
    pub(crate) fn start(test: &str) -> Option<Mosquitto> {
        let missing: Vec<&str> = [
            "mosquitto",
            "mosquitto_passwd",
            "mosquitto_sub",
            "mosquitto_pub",
        ]
        .into_iter()
        .filter(|p| program(p).is_none())
        .collect();
        if !missing.is_empty() {
            eprintln!(
                "SKIPPED {test}: {} not installed (Debian packages mosquitto and mosquitto-clients)",
                missing.join(", ")
            );
            return None;
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcce-mosquitto-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let passwd = dir.join("passwd");
        let made = Command::new(program("mosquitto_passwd").unwrap())
            .args(["-b", "-c"])
            .arg(&passwd)
            .args([USER, PASSWORD])
            .output()
            .unwrap();
        assert!(made.status.success(), "mosquitto_passwd: {made:?}");
        // A port may be taken between our look and mosquitto's bind: then
        // mosquitto exits, and another pair is tried.
        for _ in 0..3 {
            if let Some(m) = Self::try_start(&dir, &passwd) {
                return Some(m);
            }
        }
        panic!(
            "mosquitto did not start; its log: {}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
    }

    fn try_start(dir: &Path, passwd: &Path) -> Option<Mosquitto> {
        let (open_port, auth_port) = free_ports();
        let conf = dir.join("mosquitto.conf");
        // `user root` keeps a broker started by root from switching to a
        // `mosquitto` user that could not read our files.
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings true\npersistence false\nuser root\n\
                 log_dest file {log}\nlog_type all\nconnection_messages true\n\
                 listener {open_port} 127.0.0.1\nallow_anonymous true\n\
                 listener {auth_port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n",
                log = dir.join("log").display(),
                passwd = passwd.display(),
            ),
        )
        .unwrap();
        let child = Command::new(program("mosquitto").unwrap())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut m = Mosquitto {
            child,
            dir: dir.to_path_buf(),
            open_port,
            auth_port,
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if m.child.try_wait().unwrap().is_some() {
                // Exited: a port was taken. Dropping `m` would remove the
                // directory the next attempt still needs.
                std::mem::forget(m);
                return None;
            }
            let up = |port| TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up(open_port) && up(auth_port) {
                return Some(m);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("mosquitto did not listen on {open_port} and {auth_port} within 10 s");
    }

    /// Everything the broker logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Subscribes to `topic` with mosquitto_sub and returns the first
    /// message as "RETAIN-FLAG PAYLOAD", or `None` if none came within 5 s.
    pub(crate) fn sub_one(&self, topic: &str) -> Option<String> {
        let out = self.client(
            "mosquitto_sub",
            &["-t", topic, "-C", "1", "-W", "5", "-F", "%r %p"],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Publishes one message with mosquitto_pub at `qos`.
    pub(crate) fn pub_one(&self, topic: &str, payload: &str, qos: u8) {
        let out = self.client(
            "mosquitto_pub",
            &["-t", topic, "-m", payload, "-q", &qos.to_string()],
        );
        assert!(out.status.success(), "mosquitto_pub: {out:?}");
    }

    fn client(&self, program_name: &str, args: &[&str]) -> Output {
        Command::new(program(program_name).unwrap())
            .args(["-h", "127.0.0.1", "-p", &self.open_port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
