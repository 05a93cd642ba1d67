//! `mcce serve`: the live page, JSON and Prometheus metrics, from the box.
//!
//! A process of its own, apart from `mcce run`, so a busy page can never
//! delay a poll. It only reads: the daemon's status file, the day files and
//! the yearly databases (read-only connections, short statements, so the
//! digest never waits on it past its busy timeout). Nothing from a URL
//! becomes a path except a date that parsed as one.

mod api;
mod metrics;

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;

use crate::adapters::http::{self, Body, Request, Response};
use crate::core::config::Config;

/// The page: HTML, CSS and script in one file, no external resource.
const PAGE: &str = include_str!("assets/index.html");

/// The page's validator: a hash of its bytes (FNV-1a), so a browser that
/// has this version gets 304 and no body.
const PAGE_TAG: u64 = {
    let b = PAGE.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h = (h ^ b[i] as u64).wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
};

/// Blocks from this size up are mapped apart by malloc and given back when
/// freed: a raw day's render and the samples it is made from (about 300 KB
/// each at 5-s polls), so the resident size follows the renders in flight
/// rather than the most there ever were; not the 64 KiB read buffers of
/// `/metrics`, reused from the heap.
const LARGE_BLOCK: usize = 128 * 1024;

pub struct App {
    pub cfg: Config,
}

impl App {
    /// The answer for a client outside `SERVE_ALLOW`, given at accept
    /// before it sends anything; `None` for a client we serve.
    pub fn refuse(&self, peer: IpAddr) -> Option<Response> {
        (!crate::core::allow::allowed(&self.cfg.serve_allow, peer))
            .then(|| Response::error(403, &format!("client {peer} is not in SERVE_ALLOW")))
    }

    pub fn handle(&self, req: &Request) -> Response {
        let r = match req.path.as_str() {
            "/" | "/index.html" => Ok(Response::new(
                200,
                "text/html; charset=utf-8",
                Body::Static(PAGE.as_bytes()),
            )
            .header("Cache-Control", "no-cache")
            .header("ETag", format!("\"{PAGE_TAG:016x}\""))),
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

/// Serves on `listener` (bound to `addr`) until killed (SIGTERM's default
/// action is the stop: there is nothing to flush).
pub fn serve(cfg: Config, listener: TcpListener, addr: SocketAddr) -> io::Result<()> {
    let nets: Vec<String> = cfg.serve_allow.iter().map(|n| n.to_string()).collect();
    log::info!(
        "serving http://{} to {}",
        listener.local_addr().unwrap_or(addr),
        nets.join(" ")
    );
    crate::adapters::sys::limit_malloc_arenas();
    crate::adapters::sys::map_large_allocations(LARGE_BLOCK);
    let app = Arc::new(App { cfg });
    let gate = Arc::clone(&app);
    http::serve(
        listener,
        http::Limits::default(),
        Arc::new(move |peer| gate.refuse(peer)),
        Arc::new(move |req: &Request| app.handle(req)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    /// A data directory with a few day files and a status file, and an app
    /// reading it (made once: the cases only read).
    fn app() -> &'static App {
        static APP: OnceLock<(PathBuf, App)> = OnceLock::new();
        &APP.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("mcce-router-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("data/days")).unwrap();
            let now = crate::adapters::clock::system_wall();
            for (name, start) in [
                (
                    crate::core::calendar::date_name(crate::adapters::localtime::today()),
                    now - 600,
                ),
                ("2025-01-10".to_string(), 1_736_463_600),
                ("9999-12-31".to_string(), 253_402_210_000),
            ] {
                let text: String = (0..120)
                    .map(|i| format!("{} {}\n", start + 5 * i, 300 + i))
                    .collect();
                std::fs::write(dir.join("data/days").join(name), text).unwrap();
            }
            std::fs::write(
                dir.join("status"),
                format!("pid=1\nupdated={now}\nreading_at={now}\nwatts=42\nmeter=ok\nalarm=off\n"),
            )
            .unwrap();
            let text = format!(
                "DATA_DIR={p}/data\nRUN_DIR={p}\nDATABASE_URL={p}/db/pwr\nBUZZER=none\n",
                p = dir.display()
            );
            let cfg = Config::parse(&text, "test.conf", &|_| None).unwrap();
            (dir, App { cfg })
        })
        .1
    }

    /// Dates at the calendar's edges and just past them, and near-dates.
    fn date() -> impl Strategy<Value = String> {
        let year = prop::sample::select(vec![
            "0000", "0001", "1969", "1970", "2025", "9999", "99999", "-001",
        ]);
        let month = prop::sample::select(vec!["00", "01", "02", "12", "13", "1", "99"]);
        let day = prop::sample::select(vec!["00", "01", "28", "29", "30", "31", "32", "1"]);
        prop_oneof![
            prop::sample::select(vec![
                "9999-12-31",
                "9999-12-30",
                "0000-01-01",
                "0000-12-31",
                "1970-01-01",
                "1969-12-31",
                "2024-02-29",
                "2025-01-10",
            ])
            .prop_map(String::from),
            (year, month, day).prop_map(|(y, m, d)| format!("{y}-{m}-{d}")),
        ]
    }

    /// Values a query parameter may carry: dates, words the router knows,
    /// huge and negative numbers, nothing, and any printable text.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            date(),
            prop::sample::select(vec![
                "",
                "raw",
                "bucket",
                "day",
                "csv",
                "json",
                "xml",
                "2000",
                "2099",
                "1999",
                "18446744073709551616",
                "-9223372036854775809",
                "99999999999999999999999",
                "%00",
                "%2F..",
                "0x10",
                "+2025",
            ])
            .prop_map(String::from),
            "[!-~]{0,24}",
        ]
    }

    fn query() -> impl Strategy<Value = String> {
        let name = prop::sample::select(vec![
            "from",
            "to",
            "year",
            "resolution",
            "format",
            "",
            "x",
            "from",
            "to",
        ]);
        let pair = (name, value(), any::<bool>()).prop_map(|(n, v, eq)| {
            if eq || !v.is_empty() {
                format!("{n}={v}")
            } else {
                n.to_string()
            }
        });
        prop::collection::vec(pair, 0..6).prop_map(|v| v.join("&"))
    }

    fn path() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "/",
                "/index.html",
                "/api/now",
                "/api/days",
                "/api/months",
                "/export",
                "/metrics",
                "/api/day/",
                "/api/day",
                "/api/",
                "//",
                "/api/now/",
            ])
            .prop_map(String::from),
            date().prop_map(|d| format!("/api/day/{d}")),
            "/[!-~]{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Whatever the path and query, the router answers with a status a
        /// client can act on, and a streamed body runs to its end.
        #[test]
        fn every_request_gets_an_answer(path in path(), query in query(), head_only: bool) {
            let req = Request {
                head_only,
                path,
                query,
                peer: std::net::IpAddr::from([127, 0, 0, 1]),
            };
            let resp = app().handle(&req);
            prop_assert!(matches!(resp.status, 200 | 400 | 404), "{} for {req:?}", resp.status);
            if let Body::Stream(w) = resp.body {
                let mut out = Vec::new();
                if let Err(e) = w(&mut out) {
                    prop_assert!(false, "stream failed with {} for {req:?}", e.status);
                }
            }
        }
    }
}
