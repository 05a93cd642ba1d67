//! A closed stdout (`mcce help | head -0`, a dashboard script that stops
//! reading) ends a command quietly with exit 0: no panic, no "Broken pipe".

mod common;

use common::*;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// The write end of a pipe whose read end is already closed.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: pipe() fills both descriptors, which we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(r);
    w
}

fn run_closed(args: &[&str], stdin: &[u8]) -> (Option<i32>, String) {
    use std::io::Write;
    let mut c = Command::new(bin())
        .args(args)
        .env("TZ", "Europe/Rome")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = c.stdin.take().unwrap().write_all(stdin);
    let o = c.wait_with_output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into())
}

#[test]
fn every_command_ends_quietly_on_a_closed_stdout() {
    let d = Scratch::new("pipe");
    let days = d.path().join("data/days");
    std::fs::create_dir_all(&days).unwrap();
    // 2024-03-05 starts at 1709593200 in Rome; an hour of 5-second samples.
    let text: String = (0..720)
        .map(|i| format!("{} {}\n", 1_709_593_200 + i * 5, 300 + i % 7))
        .collect();
    std::fs::write(days.join("2024-03-05"), text).unwrap();
    let cfg = config(d.path(), &d.path().join("ttyUSB0"), "");
    let cfg = cfg.to_str().unwrap();
    let frames = b"53 30 32 32 32 30 0C 31 53 30 33\n";
    let day = ["--from", "2024-03-05", "--to", "2024-03-05"];
    let cases: Vec<Vec<&str>> = vec![
        vec!["help"],
        vec!["--version"],
        vec!["digest", "--help"],
        vec!["decode", "--hex"],
        vec!["digest", "-c", cfg, "--date", "2024-03-05"],
        vec!["report", "-c", cfg, "--month", "2024-03"],
        [&["export", "-c", cfg, "--resolution", "raw"][..], &day].concat(),
        [&["export", "-c", cfg, "--resolution", "bucket"][..], &day].concat(),
        [
            &[
                "export",
                "-c",
                cfg,
                "--resolution",
                "day",
                "--format",
                "json",
            ][..],
            &day,
        ]
        .concat(),
    ];
    for args in cases {
        let (code, err) = run_closed(&args, frames);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}: nothing on stderr");
    }
    assert!(
        d.path().join("db/pwr.2024").exists(),
        "the digest did its work although nobody read its output"
    );
}

/// Any other write error on stdout is not hidden: `> /dev/full` fails.
#[test]
fn a_full_stdout_fails_with_74() {
    for args in [&["help"][..], &["decode", "--hex"]] {
        let mut c = Command::new(bin())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let _ = c
            .stdin
            .take()
            .unwrap()
            .write_all(b"53 30 32 32 32 30 0C 31 53 30 33\n");
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(74), "{args:?}: {err}");
        assert_eq!(err, "mcce: stdout: No space left on device (os error 28)\n");
    }
}
