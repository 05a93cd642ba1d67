//! Helpers for tests that drive the real `mcce` binary.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mcce")
}

/// A scratch directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("mcce-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed when dropped (tests never leak daemons).
pub struct Proc {
    pub child: Child,
    pub stderr_path: PathBuf,
}

impl Proc {
    pub fn spawn(mut cmd: Command, stderr_path: PathBuf) -> Proc {
        let f = std::fs::File::create(&stderr_path).unwrap();
        let child = cmd.stdout(Stdio::null()).stderr(f).spawn().unwrap();
        Proc { child, stderr_path }
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    /// SIGTERM, and the clean exit (0 within 5 s) it must bring.
    pub fn stop(&mut self) {
        self.signal("TERM");
        assert_eq!(self.wait_exit(Duration::from_secs(5)).0, Some(0));
    }

    /// Waits for exit; returns the code and how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "process did not exit within {limit:?}; log:\n{}",
            self.log()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mcce sim --link DIR/ttyUSB0 ARGS` and waits for the link.
pub fn sim(dir: &Path, args: &[&str]) -> (Proc, PathBuf) {
    let link = dir.join("ttyUSB0");
    let mut cmd = Command::new(bin());
    cmd.arg("sim").arg("--link").arg(&link).args(args);
    let p = Proc::spawn(cmd, dir.join("sim.log"));
    wait_for(Duration::from_secs(5), || link.exists(), "simulator link");
    (p, link)
}

/// A config file for a fast daemon writing under `dir`, plus `extra` lines.
pub fn config(dir: &Path, port: &Path, extra: &str) -> PathBuf {
    let p = dir.join("mcce.conf");
    std::fs::write(
        &p,
        format!(
            "PORT={}\nPOLL_SECONDS=1\nREPLY_TIMEOUT_MS=400\nDATA_DIR={d}/data\nRUN_DIR={d}\nDATABASE_URL={d}/db/pwr\nBUZZER=none\n{extra}",
            port.display(),
            d = dir.display()
        ),
    )
    .unwrap();
    p
}

pub fn daemon(dir: &Path, cfg: &Path) -> Proc {
    let mut cmd = Command::new(bin());
    cmd.arg("run").arg("-c").arg(cfg);
    Proc::spawn(cmd, dir.join("daemon.log"))
}

pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool, what: &str) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every `<ts> <watts>` line of every day file under `days`.
pub fn samples(days: &Path) -> Vec<(i64, u32)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(days) else {
        return out;
    };
    let mut files: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        let mut s = String::new();
        std::fs::File::open(&f)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        for line in s.lines() {
            let mut it = line.split(' ');
            let ts = it
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("bad line {line:?}"));
            let w = it
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("bad line {line:?}"));
            assert!(it.next().is_none(), "bad line {line:?}");
            out.push((ts, w));
        }
    }
    out
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Runs `mcce ARGS`: exit code, stdout, stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    answer(Command::new(bin()).args(args))
}

/// Runs `mcce ARGS` with `TZ` set to `tz`: exit code, stdout, stderr.
pub fn run_tz(tz: &str, args: &[&str]) -> (i32, String, String) {
    answer(Command::new(bin()).args(args).env("TZ", tz))
}

/// Runs `mcce ARGS` with `TZ` set to `tz`, and fails if it has not ended
/// within `limit` (a command that must never wait is killed, not waited
/// for): exit code, stdout, stderr.
pub fn run_tz_within(tz: &str, args: &[&str], limit: Duration) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .env("TZ", tz)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let take = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.unwrap().read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = take(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = take(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let t = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mcce {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (code, out.join().unwrap(), err.join().unwrap())
}

fn answer(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

/// What `date ARGS` prints (trimmed), with `TZ` set to `tz` if given: the
/// system's own view of local days, for fixtures.
pub fn date(tz: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new("date");
    cmd.args(args);
    if let Some(tz) = tz {
        cmd.env("TZ", tz);
    }
    let o = cmd.output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// A scratch directory with a simulated meter on a pty, a config for a
/// fast daemon on it (plus `extra` lines), and the daemon running.
pub struct Rig {
    pub dir: Scratch,
    pub _sim: Proc,
    pub link: PathBuf,
    pub cfg: PathBuf,
    pub daemon: Proc,
}

impl Rig {
    /// `mcce sim SIM_ARGS` and `mcce run` on it, in a scratch directory
    /// named after `name`.
    pub fn run(name: &str, sim_args: &[&str], extra: &str) -> Rig {
        let dir = Scratch::new(name);
        let (sim, link) = sim(dir.path(), sim_args);
        let cfg = config(dir.path(), &link, extra);
        let daemon = daemon(dir.path(), &cfg);
        Rig {
            dir,
            _sim: sim,
            link,
            cfg,
            daemon,
        }
    }
}
