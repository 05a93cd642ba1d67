//! `mcce serve`: the live page, JSON and Prometheus metrics over HTTP (the
//! work is `crate::processes::serve`).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use super::args::{Arg, Options, Parser, usage};
use super::setup;
use crate::cmd::exit::{self, Failure, Outcome};
use crate::core::config::Config;

const HELP: &str = "\
Usage: mcce serve [-c FILE] [--listen ADDR:PORT]

Serves the live page (/), JSON (/api/now, /api/day/YYYY-MM-DD,
/api/days, /api/months), CSV downloads (/export, the parameters of
`mcce export`) and Prometheus metrics (/metrics). Reads only; answers
clients in SERVE_ALLOW (default: loopback and private networks).

  -c, --config FILE     configuration file (default /etc/mcce.conf)
  --listen ADDR:PORT    address to listen on (default SERVE_LISTEN)
";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
}

impl Options for Args {
    const HELP: &'static str = HELP;
    fn config(&mut self) -> Option<&mut Option<PathBuf>> {
        Some(&mut self.config)
    }
    fn take(&mut self, arg: &Arg, p: &mut Parser) -> Result<bool, Failure> {
        if !arg.is("listen") {
            return Ok(false);
        }
        let v = p.text()?;
        self.listen = Some(
            v.parse()
                .map_err(|_| usage(format!("--listen: expected ADDR:PORT, got '{v}'")))?,
        );
        Ok(true)
    }
}

pub fn run(a: Args) -> Outcome {
    let cfg = Config::read(a.config.as_deref())?;
    setup::init_logger(cfg.log_level);
    let addr = a.listen.unwrap_or(cfg.serve_listen);
    let listener = TcpListener::bind(addr).map_err(|e| {
        Failure::new(
            exit::UNAVAILABLE,
            format!("{addr}: cannot listen: {e} (SERVE_LISTEN or --listen)"),
        )
    })?;
    crate::processes::serve::serve(cfg, listener, addr)
        .map_err(|e| Failure::new(exit::FAILURE, format!("{addr}: {e}")))
}
