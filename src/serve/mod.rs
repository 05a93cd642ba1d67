//! `mcce serve`: the live page, JSON and Prometheus metrics, from the box.
//!
//! A process of its own, apart from `mcce run`, so a busy page can never
//! delay a poll. It only reads: the daemon's status file, the day files and
//! the yearly databases (read-only connections, short statements, so the
//! digest never waits on it past its busy timeout). Nothing from a URL
//! becomes a path except a date that parsed as one.

pub mod allow;
mod api;
mod metrics;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use crate::config::Config;
use crate::exit::{self, Failure, Outcome};
use crate::http::{self, Body, Request, Response};

/// The page: HTML, CSS and script in one file, no external resource.
const PAGE: &str = include_str!("assets/index.html");

pub struct App {
    pub cfg: Config,
}

impl App {
    pub fn handle(&self, req: &Request) -> Response {
        if !allow::allowed(&self.cfg.serve_allow, req.peer) {
            return Response::error(403, &format!("client {} is not in SERVE_ALLOW", req.peer));
        }
        let r = match req.path.as_str() {
            "/" | "/index.html" => Ok(Response::new(
                200,
                "text/html; charset=utf-8",
                Body::Static(PAGE.as_bytes()),
            )
            .header("Cache-Control", "no-cache")),
            "/api/now" => Ok(api::now(&self.cfg)),
            "/api/days" => api::days(&self.cfg, req),
            "/api/months" => api::months(&self.cfg, req),
            "/export" => api::export(&self.cfg, req),
            "/metrics" => Ok(metrics::metrics(&self.cfg)),
            p => match p.strip_prefix("/api/day/") {
                Some(d) => api::day(&self.cfg, d, req),
                None => Err(Response::error(404, "no such page")),
            },
        };
        r.unwrap_or_else(|e| e)
    }
}

/// Binds and serves until killed (SIGTERM's default action is the stop:
/// there is nothing to flush).
pub fn run(cfg: Config, listen: Option<SocketAddr>) -> Outcome {
    let addr = listen.unwrap_or(cfg.serve_listen);
    let listener = TcpListener::bind(addr).map_err(|e| {
        Failure::new(
            exit::UNAVAILABLE,
            format!("{addr}: cannot listen: {e} (SERVE_LISTEN or --listen)"),
        )
    })?;
    let nets: Vec<String> = cfg.serve_allow.iter().map(|n| n.to_string()).collect();
    log::info!(
        "serving http://{} to {}",
        listener.local_addr().unwrap_or(addr),
        nets.join(" ")
    );
    limit_malloc_arenas();
    let app = Arc::new(App { cfg });
    http::serve(
        listener,
        http::Limits::default(),
        Arc::new(move |req: &Request| app.handle(req)),
    )
    .map_err(|e| Failure::new(exit::FAILURE, format!("{addr}: {e}")))
}

/// glibc gives each thread that allocates its own malloc arena and keeps
/// what it freed there: eight workers rendering days would hold eight
/// arenas of half a megabyte each. One arena keeps the resident size to
/// what is in use. (The Pi's static musl build has no arenas.)
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; called before the
    // worker threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
