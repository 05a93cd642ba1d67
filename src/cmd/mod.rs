//! The commands a user types, one file each: options, `--help`, printing and exit codes.
//! May import every layer below (processes, adapters, core); only main.rs imports it.
//!
//! This file knows the list of commands and sends a command line to the
//! right one; `args` reads options, `setup` starts the logger, the signal
//! handlers and the buzzer for those that need them, `exit` turns every
//! error into its exit code and `output` is stdout.

use std::ffi::OsString;

use exit::{Failure, Outcome};

mod args;
pub mod beep;
pub mod decode;
pub mod demo;
pub mod digest;
pub mod exit;
pub mod export;
pub mod gpio;
pub mod output;
pub mod publish;
pub mod read;
pub mod report;
pub mod run;
pub mod serve;
mod setup;
pub mod sim;
pub mod status;

use args::{Arg, Parsed, Parser, usage};

pub const MAIN_HELP: &str = "\
mcce - power logger for the MCEE energy monitor

Usage: mcce <command> [options]

Commands:
  demo      simulated meter + daemon + digest + report, no hardware needed
  run       the daemon: poll the meter, log samples, sound the alarm
  read      take one reading now and print it
  status    what the running daemon saw last
  beep      sound the siren (or the chirp) once to test the wiring
  gpio      (root, init script) export the buzzer lines / drive them low
  sim       a simulated meter on a pseudo-terminal
  decode    decode a captured byte stream from stdin
  digest    store complete days in the yearly SQLite databases
  export    history as CSV or JSON on stdout
  report    a month or a year in the terminal
  serve     the live page, JSON and Prometheus metrics over HTTP
  publish   the readings to MQTT, with Home Assistant's discovery
  help      this text; `mcce <command> --help` for a command's options

Options: -h, --help   -V, --version
Configuration: /etc/mcce.conf (-c FILE), overridden by environment variables.
";

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help(&'static str),
    Version,
    Run(run::Args),
    Read(read::Args),
    Status(status::Args),
    Beep(beep::Args),
    Gpio(gpio::Args),
    Decode(decode::Args),
    Sim(sim::Args),
    Demo(demo::Args),
    Digest(digest::Args),
    Export(export::Args),
    Report(report::Args),
    Serve(serve::Args),
    Publish(publish::Args),
}

/// Reads a command line (without the program's name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Failure> {
    let mut p = Parser::new(args);
    let name = match p.next()? {
        None | Some(Arg::Short('h')) => return Ok(Command::Help(MAIN_HELP)),
        Some(Arg::Short('V')) => return Ok(Command::Version),
        Some(Arg::Long(l)) if l == "help" => return Ok(Command::Help(MAIN_HELP)),
        Some(Arg::Long(l)) if l == "version" => return Ok(Command::Version),
        Some(Arg::Value(v)) => v.to_string_lossy().into_owned(),
        Some(other) => return Err(other.unexpected()),
    };
    fn then<O: args::Options>(
        p: &mut Parser,
        command: fn(O) -> Command,
    ) -> Result<Command, Failure> {
        Ok(match args::parse(p)? {
            Parsed::Help(text) => Command::Help(text),
            Parsed::Run(o) => command(o),
        })
    }
    match name.as_str() {
        "help" => Ok(Command::Help(MAIN_HELP)),
        "run" => then(&mut p, Command::Run),
        "read" => then(&mut p, Command::Read),
        "status" => then(&mut p, Command::Status),
        "beep" => then(&mut p, Command::Beep),
        "gpio" => then(&mut p, Command::Gpio),
        "decode" => then(&mut p, Command::Decode),
        "sim" => then(&mut p, Command::Sim),
        "demo" => then(&mut p, Command::Demo),
        "digest" => then(&mut p, Command::Digest),
        "export" => then(&mut p, Command::Export),
        "report" => then(&mut p, Command::Report),
        "serve" => then(&mut p, Command::Serve),
        "publish" => then(&mut p, Command::Publish),
        other => Err(usage(format!("unknown command '{other}'"))),
    }
}

/// The program: reads the command line, runs the command, says what
/// failed in one line; the exit code.
pub fn main() -> i32 {
    let result = parse(std::env::args_os().skip(1)).and_then(execute);
    let unwritten = output::finish();
    match result {
        // Stopped because stdout's reader went away (`| head`): done.
        Err(_) if output::reader_gone() => exit::OK,
        Err(f) => {
            eprintln!("mcce: {f}");
            f.code
        }
        Ok(()) => match unwritten {
            Some(f) => {
                eprintln!("mcce: {f}");
                f.code
            }
            None => exit::OK,
        },
    }
}

/// Runs a command.
pub fn execute(cmd: Command) -> Outcome {
    match cmd {
        Command::Help(text) => {
            crate::cmd::output::out!("{text}");
            Ok(())
        }
        Command::Version => {
            crate::cmd::output::outln!("mcce {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Run(a) => run::run(a),
        Command::Read(a) => read::run(a),
        Command::Status(a) => status::run(a),
        Command::Beep(a) => beep::run(a),
        Command::Gpio(a) => gpio::run(a),
        Command::Decode(a) => decode::run(a),
        Command::Sim(a) => sim::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Digest(a) => digest::run(a),
        Command::Export(a) => export::run(a),
        Command::Report(a) => report::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Publish(a) => publish::run(a),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cmd::exit::USAGE;
    use crate::processes::sim::Mode;

    fn p(args: &[&str]) -> Result<Command, Failure> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn commands_and_errors() {
        assert_eq!(
            p(&["run", "-c", "/x"]).unwrap(),
            Command::Run(run::Args {
                config: Some("/x".into())
            })
        );
        assert_eq!(
            p(&["decode", "--hex"]).unwrap(),
            Command::Decode(decode::Args { hex: true })
        );
        assert!(
            matches!(p(&["sim", "--help"]).unwrap(), Command::Help(h) if h.contains("--hangup"))
        );
        let Command::Sim(s) = p(&["sim", "--stream", "200", "--hangup", "2:1.5"]).unwrap() else {
            panic!()
        };
        assert_eq!(s.mode, Mode::Stream(Duration::from_millis(200)));
        assert_eq!(
            s.hangup,
            Some((Duration::from_secs(2), Duration::from_millis(1500)))
        );
        assert_eq!(p(&["frobnicate"]).unwrap_err().code, USAGE);
        assert_eq!(p(&["run", "--bogus"]).unwrap_err().code, USAGE);
        assert_eq!(p(&["beep", "--seconds", "x"]).unwrap_err().code, USAGE);
        assert_eq!(
            p(&["beep", "--chirp"]).unwrap(),
            Command::Beep(beep::Args {
                chirp: true,
                ..Default::default()
            })
        );
        let e = p(&["beep", "--chirp", "--seconds", "2"]).unwrap_err();
        assert_eq!(e.code, USAGE);
        assert!(e.message.contains("--seconds"), "{e}");
        assert_eq!(
            p(&["decode", "-c", "x"]).unwrap_err().code,
            USAGE,
            "decode reads no config"
        );
        for bad in [
            &["sim", "--silence", "1e300:1"][..],
            &["sim", "--hangup", "1:1e300"],
            &["sim", "--silence", "inf:1"],
            &["sim", "--silence", "86401:1"],
            &["sim", "--stream", "18446744073709551615"],
            &["sim", "--stream", "60001"],
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!(e.code, USAGE, "{bad:?}");
            assert!(e.message.contains(bad[1]), "{bad:?}: {e}");
        }
        assert_eq!(p(&["-V"]).unwrap(), Command::Version);
    }

    #[test]
    fn every_command_has_its_help() {
        for name in [
            "run", "read", "status", "beep", "gpio", "decode", "sim", "demo", "digest", "export",
            "report",
        ] {
            let Command::Help(text) = p(&[name, "--help"]).unwrap() else {
                panic!("{name} --help")
            };
            assert!(
                text.starts_with(&format!("Usage: mcce {name}")),
                "{name}: {text}"
            );
            assert!(
                MAIN_HELP.contains(&format!("\n  {name} ")),
                "{name} not listed"
            );
        }
    }
}
