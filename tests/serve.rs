//! `mcce serve` against a simulated history: day files, databases made by
//! the real digest, a status file as the daemon writes it. Every endpoint,
//! and the bad input a LAN client can send. Traffic stays on 127.0.0.1.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROME: &str = "Europe/Rome";

/// The past days of the history (Rome is UTC+1 in January).
const DAYS: [(&str, i64); 3] = [
    ("2025-01-10", 1_736_463_600),
    ("2025-01-11", 1_736_550_000),
    ("2025-01-12", 1_736_636_400),
];

fn watts(t: i64) -> u32 {
    300 + ((t / 5) % 200) as u32 * 10
}

fn write_day(dir: &Path, name: &str, from: i64, to: i64) -> usize {
    let days = dir.join("data/days");
    std::fs::create_dir_all(&days).unwrap();
    let mut text = String::new();
    let mut n = 0;
    for t in (from..to).step_by(5) {
        text.push_str(&format!("{t} {}\n", watts(t)));
        n += 1;
    }
    std::fs::write(days.join(name), text).unwrap();
    n
}

fn sh_date(args: &[&str]) -> String {
    date(Some(ROME), args)
}

struct History {
    dir: Scratch,
    cfg: PathBuf,
    today: String,
    today_samples: usize,
}

/// Three digested days in January 2025, and today's file up to now.
fn history(name: &str, extra: &str) -> History {
    let dir = Scratch::new(name);
    let d = dir.path();
    let cfg = d.join("mcce.conf");
    std::fs::write(
        &cfg,
        format!(
            "DATA_DIR={p}/data\nRUN_DIR={p}\nDATABASE_URL={p}/db/pwr\nMIN_TIME_RES=15\nBUZZER=none\n{extra}",
            p = d.display()
        ),
    )
    .unwrap();
    for (name, start) in DAYS {
        write_day(d, name, start, start + 86_400);
    }
    let (code, out, err) = run_rome(&["digest", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let today = sh_date(&["+%F"]);
    let midnight: i64 = sh_date(&["-d", "00:00", "+%s"]).parse().unwrap();
    let now = now();
    let today_samples = write_day(d, &today, midnight.max(now - 3 * 3600), now);
    History {
        dir,
        cfg,
        today,
        today_samples,
    }
}

fn run_rome(args: &[&str]) -> (i32, String, String) {
    run_tz(ROME, args)
}

/// `mcce export` of the history's January days, 10 to 12, at `resolution`
/// in `format`: what `/export` must send byte for byte.
fn cli_export(h: &History, resolution: &str, format: &str) -> (i32, String, String) {
    run_rome(&[
        "export",
        "-c",
        h.cfg.to_str().unwrap(),
        "--from",
        "2025-01-10",
        "--to",
        "2025-01-12",
        "--resolution",
        resolution,
        "--format",
        format,
    ])
}

fn write_status(dir: &Path, watts: u32, alarm: &str) {
    write_status_with(dir, watts, alarm, "");
}

/// A status file as the daemon writes it, with `contract` (the band lines)
/// appended.
fn write_status_with(dir: &Path, watts: u32, alarm: &str, contract: &str) {
    let t = now();
    std::fs::write(
        dir.join("status"),
        format!(
            "pid=1\nupdated={t}\nreading_at={t}\nwatts={watts}\nmeter=ok\nalarm={alarm}\n\
             recording=ok\nrecording_since=\nrecording_error=\ndata_free=\ndata_total=\n\
             polls=ok:7,silent:1,unplugged:0,clock-unset:0\n{contract}"
        ),
    )
    .unwrap();
}

/// The contract alarm's lines of a status file (empty strings: empty values,
/// as in single-threshold mode).
fn band_lines(band: &str, since: &str, trip_in: &str, warning: &str, stale_since: &str) -> String {
    format!(
        "band={band}\nband_since={since}\ntrip_in_seconds={trip_in}\nwarning={warning}\n\
         band_stale_since={stale_since}\n"
    )
}

/// `mcce serve` on an ephemeral port; returns it and the port.
fn serve(h: &History) -> (Proc, u16) {
    serve_on(h, "127.0.0.1:0")
}

/// `mcce serve --listen LISTEN` (port 0: an ephemeral one).
fn serve_on(h: &History, listen: &str) -> (Proc, u16) {
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "-c", h.cfg.to_str().unwrap(), "--listen", listen])
        .env("TZ", ROME);
    let p = Proc::spawn(cmd, h.dir.path().join("serve.log"));
    let mut port = 0;
    wait_for(
        Duration::from_secs(5),
        || {
            let log = p.log();
            if let Some(rest) = log.split("serving http://").nth(1) {
                let addr = rest.split(' ').next().unwrap();
                port = addr.rsplit_once(':').unwrap().1.parse().unwrap();
                true
            } else {
                false
            }
        },
        "serve to listen",
    );
    (p, port)
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    parse_reply_to(raw, false)
}

fn parse_reply_to(raw: &[u8], head_only: bool) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    let mut r = Reply {
        status,
        head,
        body: raw[end + 4..].to_vec(),
    };
    if r.header("transfer-encoding").as_deref() == Some("chunked") {
        r.body = dechunk(&r.body);
    } else if let Some(n) = r.header("content-length").filter(|_| !head_only) {
        assert_eq!(r.body.len(), n.parse::<usize>().unwrap(), "{}", r.head);
    }
    r
}

/// Sends `request` bytes as they are and reads the reply to the end.
fn raw(port: u16, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    parse_reply_to(&out, request.starts_with(b"HEAD "))
}

fn get(port: u16, target: &str) -> Reply {
    raw(
        port,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// The number after `"key":` in a JSON text.
fn field(json: &str, key: &str) -> String {
    let pat = format!("\"{key}\":");
    let rest = &json[json.find(&pat).unwrap_or_else(|| panic!("{key} in {json}")) + pat.len()..];
    rest.split([',', '}', ']'])
        .next()
        .unwrap()
        .trim_matches('"')
        .to_string()
}

/// The value of a sample line `name value` in the metrics text.
fn metric(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        .to_string()
}

fn array_len(json: &str, key: &str) -> usize {
    let pat = format!("\"{key}\":[");
    let rest = &json[json.find(&pat).unwrap() + pat.len()..];
    let arr = &rest[..rest.find(']').unwrap()];
    if arr.is_empty() {
        0
    } else {
        arr.split(',').count()
    }
}

#[test]
fn every_endpoint_on_a_simulated_history() {
    let h = history("serve-endpoints", "");
    write_status(h.dir.path(), 2345, "off");
    let (_p, port) = serve(&h);

    let page = get(port, "/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.text().contains("/api/now"),
        "the page asks for live data"
    );
    assert!(
        !page.text().contains("http://") && !page.text().contains("https://"),
        "no external resource"
    );
    assert!(
        page.body.len() <= 150 * 1024,
        "page weight {}",
        page.body.len()
    );

    let now = get(port, "/api/now");
    assert_eq!(now.status, 200);
    let t = now.text();
    assert_eq!(field(&t, "watts"), "2345");
    assert_eq!(field(&t, "daemon"), "running");
    assert_eq!(field(&t, "recording"), "true");
    assert_eq!(field(&t, "today"), h.today);

    // Today's raw curve: every sample of the day file.
    let day = get(port, &format!("/api/day/{}", h.today));
    assert_eq!(day.status, 200, "{}", day.text());
    assert_eq!(array_len(&day.text(), "t"), h.today_samples);
    assert_eq!(array_len(&day.text(), "w"), h.today_samples);
    assert_eq!(field(&day.text(), "samples"), h.today_samples.to_string());

    // A digested day: raw from its file, buckets from the database.
    let raw_day = get(port, "/api/day/2025-01-11?resolution=raw");
    assert_eq!(array_len(&raw_day.text(), "t"), 17_280);
    let b = get(port, "/api/day/2025-01-11?resolution=bucket");
    assert_eq!(b.status, 200);
    let bt = b.text();
    assert_eq!(field(&bt, "source"), "database");
    assert_eq!(array_len(&bt, "t"), 96);
    assert_eq!(field(&bt, "digest_running"), "false");
    let (_, csv, _) = cli_export(&h, "day", "csv");
    let kwh_11 = csv
        .lines()
        .find(|l| l.starts_with("2025-01-11,"))
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(field(&bt, "kwh"), kwh_11, "the digest's kWh");
    assert_eq!(
        field(&raw_day.text(), "kwh"),
        kwh_11,
        "raw day: same energy rule"
    );

    // Today's buckets are computed from the file, as the digest would.
    let tb = get(port, &format!("/api/day/{}?resolution=bucket", h.today));
    assert_eq!(tb.status, 200);
    assert_eq!(field(&tb.text(), "source"), "day file");

    let days = get(port, "/api/days?from=2025-01-01&to=2025-01-31");
    assert_eq!(days.status, 200);
    let dt = days.text();
    assert_eq!(dt.matches("\"date\":").count(), 3, "{dt}");
    assert!(dt.contains(&format!("{{\"date\":\"2025-01-11\",\"kwh\":{kwh_11},")));
    let this_month = get(port, "/api/days");
    assert!(
        this_month
            .text()
            .contains(&format!("\"date\":\"{}\"", h.today)),
        "today, from its file: {}",
        this_month.text()
    );
    assert!(this_month.text().contains("\"partial\":true"));

    let months = get(port, "/api/months?year=2025");
    assert_eq!(months.status, 200);
    let mt = months.text();
    assert_eq!(mt.matches("\"month\":").count(), 12);
    assert!(
        mt.contains("{\"month\":\"2025-01\",\"days\":3,\"kwh\":"),
        "{mt}"
    );
    assert!(mt.contains("{\"month\":\"2025-02\",\"days\":0,\"kwh\":null}"));

    // Downloads: byte for byte what `mcce export` prints.
    for q in [
        ("day", "csv"),
        ("bucket", "csv"),
        ("raw", "csv"),
        ("bucket", "json"),
    ] {
        let web = get(
            port,
            &format!(
                "/export?from=2025-01-10&to=2025-01-12&resolution={}&format={}",
                q.0, q.1
            ),
        );
        assert_eq!(web.status, 200);
        assert!(
            web.header("content-disposition")
                .unwrap()
                .contains("attachment")
        );
        let (code, cli, err) = cli_export(&h, q.0, q.1);
        assert_eq!(code, 0, "{err}");
        assert!(web.body == cli.as_bytes(), "{q:?} differs from mcce export");
    }
    let all = get(port, "/export");
    let (_, cli, _) = run_rome(&["export", "-c", h.cfg.to_str().unwrap()]);
    assert_eq!(all.text(), cli, "same defaults as mcce export");

    let m = get(port, "/metrics");
    assert_eq!(m.status, 200);
    let mt = m.text();
    assert!(mt.contains("\nmcce_power_watts 2345\n"), "{mt}");
    assert!(mt.contains("\nmcce_meter_up 1\n"));
    assert!(mt.contains("\nmcce_alarm_active 0\n"));
    assert!(mt.contains("\nmcce_data_free_bytes "));
    assert!(
        mt.contains("\nmcce_polls_total{outcome=\"silent\"} 1\n"),
        "{mt}"
    );
    let joules: f64 = metric(&mt, "mcce_energy_today_joules").parse().unwrap();
    let kwh: f64 = field(&day.text(), "kwh").parse().unwrap();
    assert!(
        (joules / 3.6e6 - kwh).abs() < 0.011,
        "{joules} J vs {kwh} kWh"
    );

    // HEAD: the head of a GET, no body.
    let head = raw(
        port,
        b"HEAD /api/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // No daemon: the page still answers, and says so; no power reported.
    std::fs::remove_file(h.dir.path().join("status")).unwrap();
    assert_eq!(field(&get(port, "/api/now").text(), "daemon"), "absent");
    assert!(!get(port, "/metrics").text().contains("mcce_power_watts"));
}

#[test]
fn the_contract_band_and_predicted_trip() {
    let h = history("serve-band", "CONTRACT_WATTS=3000\n");
    let (_p, port) = serve(&h);

    // Single-threshold mode, as the daemon writes it: empty band lines.
    write_status_with(h.dir.path(), 900, "off", &band_lines("", "", "", "", ""));
    let t = get(port, "/api/now").text();
    for k in [
        "band",
        "band_since",
        "band_seconds",
        "trip_in_seconds",
        "warning",
        "band_stale_since",
        "contract_watts",
        "free_limit_watts",
        "short_limit_watts",
    ] {
        assert_eq!(field(&t, k), "null", "{k}: {t}");
    }
    let m = get(port, "/metrics").text();
    assert!(!m.contains("mcce_contract_band"), "{m}");
    assert!(!m.contains("mcce_trip_predicted_seconds"), "{m}");

    // Tolerated for 3 minutes, a trip predicted in 95 s.
    let since = now() - 180;
    write_status_with(
        h.dir.path(),
        3500,
        "on",
        &band_lines("tolerated", &since.to_string(), "95", "urgent", ""),
    );
    let t = get(port, "/api/now").text();
    assert_eq!(field(&t, "band"), "tolerated", "{t}");
    assert_eq!(field(&t, "band_since"), since.to_string());
    let secs: i64 = field(&t, "band_seconds").parse().unwrap();
    assert!((180..185).contains(&secs), "{t}");
    assert_eq!(field(&t, "trip_in_seconds"), "95");
    assert_eq!(field(&t, "warning"), "urgent");
    assert_eq!(field(&t, "band_stale_since"), "null");
    assert_eq!(field(&t, "contract_watts"), "3000");
    assert_eq!(field(&t, "free_limit_watts"), "3300");
    assert_eq!(field(&t, "short_limit_watts"), "3990");
    let m = get(port, "/metrics").text();
    assert_eq!(metric(&m, "mcce_contract_band{band=\"tolerated\"}"), "1");
    assert_eq!(metric(&m, "mcce_contract_band{band=\"free\"}"), "0");
    assert_eq!(metric(&m, "mcce_contract_band{band=\"over\"}"), "0");
    assert_eq!(metric(&m, "mcce_trip_predicted_seconds"), "95");
    assert_eq!(
        metric(&m, "mcce_contract_band_since_timestamp_seconds"),
        since.to_string()
    );
    assert_eq!(
        m.matches("\nmcce_contract_band{").count(),
        3,
        "bounded label"
    );

    // Free: no prediction, no series for it. Stale: the marker's time.
    let stale = now() - 20;
    write_status_with(
        h.dir.path(),
        500,
        "off",
        &band_lines("free", &since.to_string(), "", "quiet", &stale.to_string()),
    );
    let t = get(port, "/api/now").text();
    assert_eq!(field(&t, "band"), "free");
    assert_eq!(field(&t, "trip_in_seconds"), "null");
    assert_eq!(field(&t, "band_stale_since"), stale.to_string());
    let m = get(port, "/metrics").text();
    assert_eq!(metric(&m, "mcce_contract_band{band=\"free\"}"), "1");
    assert!(!m.contains("mcce_trip_predicted_seconds"), "{m}");

    // The page draws them.
    let page = get(port, "/").text();
    for s in [
        "id=\"band\"",
        "n.trip_in_seconds",
        "if nothing is switched off",
        "stale",
    ] {
        assert!(page.contains(s), "{s}");
    }
}

#[test]
fn bad_requests_get_clean_json_errors() {
    let h = history("serve-bad", "");
    let (_p, port) = serve(&h);
    let cases: &[(&[u8], u16)] = &[
        (
            b"GET /api/day/2025-02-30 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            404,
        ),
        (
            b"GET /api/day/2025-1-10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            404,
        ),
        (
            b"GET /api/day/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            404,
        ),
        (
            b"GET /api/day/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            404,
        ),
        (
            b"GET /api/day/2025-01-10%2F.. HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            404,
        ),
        (b"GET /api%2Fnow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
        (b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
        (
            b"GET /api/day/2025-01-10?resolution=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            b"GET /api/days?from=2025-13-01 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            b"GET /api/days?from=2025-01-12&to=2025-01-10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            b"GET /api/months?year=25 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            b"GET /export?format=xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            b"GET /export?from=%32025-01-01 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            b"POST /api/now HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab",
            405,
        ),
        (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"GET / HTTP/9\r\n\r\n", 400),
        (b"GET\r\n\r\n", 400),
        (b"\x00\x01\x02\r\n\r\n", 400),
        (b"GET ftp://example.org/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ];
    for (req, status) in cases {
        let r = raw(port, req);
        assert_eq!(r.status, *status, "{}", String::from_utf8_lossy(req));
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert!(r.text().starts_with("{\"error\":\""), "{}", r.text());
    }
    assert_eq!(
        raw(port, b"PUT / HTTP/1.1\r\nHost: x\r\n\r\n")
            .header("allow")
            .as_deref(),
        Some("GET, HEAD")
    );

    // A 1 MB request line is cut off at the limit and answered.
    let mut big = b"GET /".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1 << 20));
    big.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    assert_eq!(raw(port, &big).status, 414);
    // So are headers without end.
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..2000 {
        many.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(20)).as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(raw(port, &many).status, 431);
    // A day file that can't be read: a 500 naming its path, so whoever runs
    // the server knows what to look at.
    let broken = h.dir.path().join("data/days/2024-06-01");
    std::fs::create_dir(&broken).unwrap();
    let r = get(port, "/api/day/2024-06-01?resolution=raw");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains(&broken.display().to_string()),
        "{}",
        r.text()
    );
    // Still serving.
    assert_eq!(get(port, "/api/now").status, 200);
}

#[test]
fn a_slow_client_is_cut_off_and_others_are_served() {
    let h = history("serve-slow", "");
    let (_p, port) = serve(&h);
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let t = Instant::now();
        let req = b"GET /api/now HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let mut cut = None;
        for b in req.iter() {
            if s.write_all(&[*b]).is_err() {
                cut = Some(t.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            // The server answers 408 and closes; a read shows it.
            s.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 512];
            match s.read(&mut buf) {
                Ok(n) if n > 0 => {
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
                    cut = Some(t.elapsed());
                    break;
                }
                Ok(_) => {
                    cut = Some(t.elapsed());
                    break;
                }
                Err(_) => {}
            }
            s.set_nonblocking(false).unwrap();
        }
        cut.expect("the slow client was never cut off")
    });
    // Meanwhile, others are answered promptly.
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(get(port, "/api/now").status, 200);
        assert!(t.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(100));
    }
    let cut = slow.join().unwrap();
    assert!(
        cut >= Duration::from_secs(4) && cut < Duration::from_secs(12),
        "cut after {cut:?}"
    );
}

#[test]
fn three_hundred_connections_are_answered_or_refused_cleanly() {
    let h = history("serve-crowd", "");
    write_status(h.dir.path(), 999, "off");
    let (p, port) = serve(&h);
    let mut conns: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(b"GET /api/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    let (mut ok, mut refused) = (0, 0);
    for mut c in conns {
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        let r = parse_reply(&out);
        match r.status {
            200 => {
                assert_eq!(field(&r.text(), "watts"), "999");
                ok += 1
            }
            503 => refused += 1,
            s => panic!("status {s}"),
        }
    }
    assert_eq!(ok + refused, 300);
    assert!(ok > 0);
    // Memory stays bounded: the resident set of the server.
    let rss = std::fs::read_to_string(format!("/proc/{}/status", p.child.id()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
        .unwrap();
    let kb: u64 = rss.trim_end_matches(" kB").trim().parse().unwrap();
    assert!(kb < 64 * 1024, "peak RSS {kb} kB");
    assert_eq!(get(port, "/api/now").status, 200);
}

#[test]
fn clients_outside_serve_allow_get_403() {
    let h = history("serve-allow", "SERVE_ALLOW=10.0.0.0/8,192.168.0.0/16\n");
    let (_p, port) = serve(&h);
    for path in ["/", "/api/now", "/metrics", "/nope"] {
        let r = get(port, path);
        assert_eq!(r.status, 403, "{path}");
        assert!(r.text().contains("SERVE_ALLOW"));
    }
}

/// An IPv4-mapped entry names the IPv4 clients it maps, and an IPv4
/// client reaching a dual-stack socket (seen there as `::ffff:a.b.c.d`) is
/// matched against the IPv4 entries.
#[test]
fn serve_allow_matches_ipv4_clients_however_they_arrive() {
    let h = history("serve-allow-mapped", "SERVE_ALLOW=::ffff:127.0.0.0/104\n");
    let (p, port) = serve(&h);
    assert!(p.log().contains(" to 127.0.0.0/8"), "{}", p.log());
    assert_eq!(get(port, "/api/now").status, 200);
    drop(p);

    let h = history("serve-allow-dual", "SERVE_ALLOW=127.0.0.1\n");
    let (_p, port) = serve_on(&h, "[::]:0");
    assert_eq!(get(port, "/api/now").status, 200, "IPv4 client, dual stack");
    let mut s = TcpStream::connect(("::1", port)).unwrap();
    s.write_all(b"GET /api/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(out.starts_with(b"HTTP/1.1 403"), "::1 is not 127.0.0.1");
}

#[test]
fn a_database_held_by_a_writer_still_answers_and_says_so() {
    let h = history("serve-held", "");
    let (_p, port) = serve(&h);
    // A write transaction open on the year's file, as the digest holds one
    // while it replaces a day: the rollback journal exists, readers still read.
    let db = h.dir.path().join("db/pwr.2025");
    let writer = rusqlite::Connection::open(&db).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    writer
        .execute_batch("UPDATE mcce_day SET kwh = kwh + 1000")
        .unwrap();
    assert!(h.dir.path().join("db/pwr.2025-journal").exists());
    let t = Instant::now();
    let r = get(port, "/api/days?from=2025-01-01&to=2025-01-31");
    assert!(t.elapsed() < Duration::from_secs(2), "answered while held");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(field(&r.text(), "digest_running"), "true");
    assert_eq!(r.text().matches("\"date\":").count(), 3);
    assert!(
        !r.text().contains("\"kwh\":10"),
        "the committed values: {}",
        r.text()
    );
    let b = get(port, "/api/day/2025-01-11?resolution=bucket");
    assert_eq!(b.status, 200);
    assert_eq!(field(&b.text(), "digest_running"), "true");
    // The writer commits: not held up by the reader.
    let t = Instant::now();
    writer.execute_batch("ROLLBACK").unwrap();
    assert!(t.elapsed() < Duration::from_secs(1));
    drop(writer);
    let r = get(port, "/api/days?from=2025-01-01&to=2025-01-31");
    assert_eq!(field(&r.text(), "digest_running"), "false");
}

#[test]
fn live_daemon_on_the_simulator() {
    let dir = Scratch::new("serve-live");
    let (_sim, link) = sim(dir.path(), &["--seed", "3"]);
    let cfg = config(dir.path(), &link, "");
    // The same zone as serve's, so both agree on what today is.
    let mut cmd = Command::new(bin());
    cmd.args(["run", "-c", cfg.to_str().unwrap()])
        .env("TZ", ROME);
    let _daemon = Proc::spawn(cmd, dir.path().join("daemon.log"));
    let status = dir.path().join("status");
    wait_for(
        Duration::from_secs(10),
        || std::fs::read_to_string(&status).is_ok_and(|s| s.contains("meter=ok")),
        "the daemon's first reading",
    );
    let h = History {
        cfg: cfg.clone(),
        today: String::new(),
        today_samples: 0,
        dir,
    };
    let (_p, port) = serve(&h);
    let mut seen = std::collections::BTreeSet::new();
    let t = Instant::now();
    while seen.len() < 3 && t.elapsed() < Duration::from_secs(15) {
        let now = get(port, "/api/now").text();
        assert_eq!(field(&now, "daemon"), "running", "{now}");
        let m = get(port, "/metrics").text();
        let st = std::fs::read_to_string(&status).unwrap();
        let w = st
            .lines()
            .find_map(|l| l.strip_prefix("watts="))
            .unwrap()
            .trim()
            .to_string();
        // The page's value and the metric are the daemon's last reading.
        if field(&now, "watts") == w && metric(&m, "mcce_power_watts") == w {
            seen.insert(field(&now, "reading_at"));
        }
        assert_eq!(metric(&m, "mcce_meter_up"), "1");
        let ok: u64 = metric(&m, "mcce_polls_total{outcome=\"ok\"}")
            .parse()
            .unwrap();
        assert!(ok >= 1);
        assert_eq!(metric(&m, "mcce_polls_total{outcome=\"unplugged\"}"), "0");
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(seen.len() >= 3, "live value followed the daemon: {seen:?}");
    let today = field(&get(port, "/api/now").text(), "today");
    let day = get(port, &format!("/api/day/{today}"));
    assert_eq!(day.status, 200);
    let lines = std::fs::read_to_string(h.dir.path().join("data/days").join(&today))
        .unwrap()
        .lines()
        .count();
    let n = array_len(&day.text(), "t");
    assert!(n + 2 >= lines && n <= lines, "{n} points for {lines} lines");
}

#[test]
fn bad_listen_addresses_are_reported() {
    let h = history("serve-listen", "");
    let cfg = h.cfg.to_str().unwrap();
    let (code, _, err) = run_rome(&["serve", "-c", cfg, "--listen", "8080"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--listen: expected ADDR:PORT"), "{err}");
    // A port already taken: one line naming it, exit 69.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, err) = run_rome(&["serve", "-c", cfg, "--listen", &addr]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains(&format!("{addr}: cannot listen")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // A bad SERVE_ALLOW in the file: exit 78 naming the key.
    std::fs::write(
        h.dir.path().join("bad.conf"),
        "SERVE_ALLOW=192.168.1.1/24\n",
    )
    .unwrap();
    let bad = h.dir.path().join("bad.conf");
    let (code, _, err) = run_rome(&["serve", "-c", bad.to_str().unwrap()]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("bad.conf:1: SERVE_ALLOW"), "{err}");
}

/// The calendar's first and last days are dates like any other: each
/// request is answered, and the server keeps serving (a panic in a worker
/// ends the whole process: `panic = "abort"`).
#[test]
fn the_edges_of_the_calendar_are_answered() {
    let h = history("serve-calendar", "");
    let (mut p, port) = serve(&h);
    for target in [
        "/api/day/9999-12-31",
        "/api/day/9999-12-31?resolution=bucket",
        "/api/day/0000-01-01",
        "/api/day/0000-01-01?resolution=bucket",
        "/api/days?from=9999-12-01&to=9999-12-31",
        "/api/days?from=0000-01-01&to=0000-01-31",
        "/api/days?to=9999-12-31&from=9999-12-31",
        "/export?from=9999-12-31&to=9999-12-31",
        "/export?from=9999-12-31&to=9999-12-31&resolution=raw",
        "/export?from=9999-12-31&to=9999-12-31&resolution=bucket",
        "/export?from=0000-01-01&to=0000-01-02&resolution=raw",
    ] {
        let r = get(port, target);
        assert!(
            matches!(r.status, 200 | 404),
            "{target}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            p.child.try_wait().unwrap().is_none(),
            "{target} ended serve"
        );
    }
    assert_eq!(get(port, "/api/now").status, 200);
}

/// `/export` without `from` starts at the first day with data and names
/// the download after it: not 1 January of the first year with a database,
/// and not a year whose database holds no day.
#[test]
fn a_download_without_from_is_named_after_the_first_day_with_data() {
    let h = history("serve-export-name", "");
    let d = h.dir.path();
    let name = |port: u16| {
        let r = get(port, "/export");
        assert_eq!(r.status, 200, "{}", r.text());
        r.header("content-disposition").unwrap()
    };
    let want = format!(
        "attachment; filename=\"mcce-day-2025-01-10-{}.csv\"",
        h.today
    );
    let (_p, port) = serve(&h);
    assert_eq!(name(port), want, "from the day files and the database");
    // The database alone (raw files moved away), and an older year's file
    // that holds no day.
    std::fs::remove_file(d.join("data/days/2025-01-10")).unwrap();
    std::fs::remove_file(d.join("data/days/2025-01-11")).unwrap();
    std::fs::write(d.join("db/pwr.2024"), b"").unwrap();
    assert_eq!(name(port), want, "from the database");
    // Only a day file: the database of its year moved away.
    std::fs::rename(d.join("db/pwr.2025"), d.join("pwr.2025.bak")).unwrap();
    assert_eq!(
        name(port),
        format!(
            "attachment; filename=\"mcce-day-2025-01-12-{}.csv\"",
            h.today
        )
    );
}

/// What `mcce serve` has read through read(2) so far, sockets included.
fn bytes_read(p: &Proc) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{}/io", p.child.id())).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// Peak resident size of `p` in bytes.
fn peak_rss(p: &Proc) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.child.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    kb * 1024
}

/// A server on a history with a live reading of 777 W.
fn serve_history(name: &str) -> (History, Proc, u16) {
    let h = history(name, "");
    write_status(h.dir.path(), 777, "off");
    let (p, port) = serve(&h);
    (h, p, port)
}

/// Every response carries `Date` (RFC 9110: an origin server with a
/// clock sends it), errors included.
#[test]
fn every_response_has_a_date() {
    let (_h, _p, port) = serve_history("serve-date");
    for target in ["/", "/api/now", "/nope", "/api/day/2025-01-11", "/metrics"] {
        let r = get(port, target);
        let date = r
            .header("date")
            .unwrap_or_else(|| panic!("no Date on {target}"));
        assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    }
    let bad = raw(port, b"GET / HTTP/1.0\r\nX: \x01\r\n\r\n");
    assert_eq!(bad.status, 400);
    assert!(bad.header("date").is_some());
}

/// The page has a validator; a client holding it gets 304 and no body.
#[test]
fn the_page_has_a_validator() {
    let (_h, _p, port) = serve_history("serve-etag");
    let page = get(port, "/");
    let etag = page.header("etag").expect("the page has an ETag");
    let again = raw(
        port,
        format!("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag));
    let other = raw(
        port,
        b"GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(other.status, 200);
    assert_eq!(other.body, page.body);
}

/// HTTP/1.0 has no chunked encoding: the export goes out as it is and
/// ends with the connection.
#[test]
fn http10_gets_no_chunks() {
    let (h, _p, port) = serve_history("serve-http10");
    let web = raw(
        port,
        b"GET /export?from=2025-01-10&to=2025-01-12&resolution=raw HTTP/1.0\r\n\r\n",
    );
    assert_eq!(web.status, 200);
    assert_eq!(web.header("transfer-encoding"), None, "{}", web.head);
    assert_eq!(web.header("connection").as_deref(), Some("close"));
    let (_, cli, _) = cli_export(&h, "raw", "csv");
    assert!(web.body == cli.as_bytes(), "HTTP/1.0 export differs");
}

/// `close` anywhere in `Connection` closes, whatever else it says.
#[test]
fn close_anywhere_in_connection_closes() {
    let (_h, _p, port) = serve_history("serve-close");
    for c in ["keep-alive, close", "close, keep-alive", "TE, Close"] {
        let t = Instant::now();
        let r = raw(
            port,
            format!("GET /api/now HTTP/1.1\r\nHost: x\r\nConnection: {c}\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection").as_deref(), Some("close"), "{c}");
        assert!(t.elapsed() < Duration::from_secs(2), "{c}: not closed");
    }
}

/// A target in absolute form (as sent to a proxy) names the same path.
#[test]
fn absolute_form_targets_are_served() {
    let (_h, _p, port) = serve_history("serve-absolute");
    let r = raw(
        port,
        b"GET http://127.0.0.1/api/now HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(field(&r.text(), "watts"), "777");
}

/// HTTP/1.1 requires one `Host`; a field value holds no control character.
#[test]
fn no_host_or_a_control_character_is_400() {
    let (_h, _p, port) = serve_history("serve-host");
    for req in [
        &b"GET /api/now HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
        b"GET /api/now HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /api/now HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
        b"GET /api/now HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
    ] {
        let r = raw(port, req);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(req));
        assert!(r.text().starts_with("{\"error\":\""), "{}", r.text());
    }
}

/// The head limits hold exactly as README states them: a request line of
/// 4 KB, a head of 16 KB (blank line included), 48 fields.
#[test]
fn head_limits_hold_as_stated() {
    let (_h, _p, port) = serve_history("serve-limits");
    let head = |size: usize| {
        let start = "GET /api/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ";
        format!("{start}{}\r\n\r\n", "p".repeat(size - start.len() - 4))
    };
    assert_eq!(head(16 * 1024).len(), 16 * 1024);
    assert_eq!(raw(port, head(16 * 1024).as_bytes()).status, 200);
    assert_eq!(raw(port, head(16 * 1024 + 1).as_bytes()).status, 431);
    assert_eq!(raw(port, head(20 * 1024).as_bytes()).status, 431);
    let line = |size: usize| {
        let l = format!("GET /{} HTTP/1.1", "a".repeat(size - 14));
        assert_eq!(l.len(), size);
        format!("{l}\r\nHost: x\r\nConnection: close\r\n\r\n")
    };
    assert_eq!(raw(port, line(4096).as_bytes()).status, 404);
    assert_eq!(raw(port, line(4097).as_bytes()).status, 414);
    let fields = |n: usize| {
        let mut h = "GET /api/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_string();
        for i in 0..n - 2 {
            h.push_str(&format!("X-{i}: v\r\n"));
        }
        h + "\r\n"
    };
    assert_eq!(raw(port, fields(48).as_bytes()).status, 200);
    assert_eq!(raw(port, fields(49).as_bytes()).status, 431);
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// `/metrics`, `/api/days` and `/api/months` keep running totals of the
/// day files: after the first look at a 20 MB file, each asks reads only
/// what was appended since.
#[test]
fn a_scrape_reads_only_what_was_appended_since_the_last() {
    let h = history("serve-appended", "");
    write_status(h.dir.path(), 1000, "off");
    let today = h.dir.path().join("data/days").join(&h.today);
    let mut big = "garbage\n".repeat(2_500_000);
    big.push_str(&std::fs::read_to_string(&today).unwrap());
    std::fs::write(&today, big).unwrap();
    let (p, port) = serve(&h);
    let days = format!("/api/days?from={0}&to={0}", h.today);
    for path in ["/metrics", days.as_str(), "/api/months"] {
        assert_eq!(get(port, path).status, 200, "{path}");
        let before = bytes_read(&p);
        append(&today, &format!("{} 1000\n", now()));
        let r = get(port, path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let read = bytes_read(&p) - before;
        assert!(
            read < 1 << 20,
            "{path}: {read} bytes read for one line appended"
        );
    }
    let m = get(port, "/metrics").text();
    assert!(
        metric(&m, "mcce_energy_today_joules")
            .parse::<f64>()
            .unwrap()
            > 0.0,
        "{m}"
    );
}

/// What a power cut can leave on a card: 100 MB of NUL bytes and no
/// newline at the end of today's file. Serve's readers keep at most a
/// line's worth of it.
#[test]
fn a_hundred_megabytes_without_a_newline_keep_serve_small() {
    let h = history("serve-nul", "");
    let today = h.dir.path().join("data/days").join(&h.today);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&today)
        .unwrap();
    let block = vec![0u8; 1 << 20];
    for _ in 0..100 {
        f.write_all(&block).unwrap();
    }
    drop(f);
    let (p, port) = serve(&h);
    for path in [
        "/metrics".to_string(),
        format!("/api/day/{}", h.today),
        format!("/api/day/{}?resolution=bucket", h.today),
        format!("/api/days?from={0}&to={0}", h.today),
    ] {
        let r = get(port, &path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let raw = get(port, &format!("/api/day/{}", h.today)).text();
    assert_eq!(array_len(&raw, "t"), h.today_samples);
    let peak = peak_rss(&p);
    assert!(peak < 16 << 20, "serve's peak RSS {peak} bytes");
}

/// A raw day is rendered with no lock held: while a large day is being
/// read and rendered, another day's request is answered.
#[test]
fn a_large_raw_day_being_rendered_delays_no_other_day() {
    let h = history("serve-parallel", "");
    let big = h.dir.path().join("data/days/2025-01-10");
    let day = std::fs::read_to_string(&big).unwrap();
    std::fs::write(&big, day.repeat(200)).unwrap();
    let (_p, port) = serve(&h);
    let slow = std::thread::spawn(move || get(port, "/api/day/2025-01-10?resolution=raw"));
    std::thread::sleep(Duration::from_millis(300));
    let other = get(port, "/api/day/2025-01-11?resolution=raw");
    assert_eq!(other.status, 200);
    assert!(
        !slow.is_finished(),
        "the other day waited for the large one's render"
    );
    let slow = slow.join().unwrap();
    assert_eq!(slow.status, 200);
    assert_eq!(array_len(&slow.text(), "t"), 17_280);
}

/// A client that asks for a large export and reads it at 300 bytes a
/// second until `stop`.
fn slow_reader(port: u16, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(
        b"GET /export?from=2024-06-01&to=2025-01-12&resolution=raw HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 300];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Ok(0) = s.read(&mut buf) {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// 200 connections that send nothing and 8 clients reading a large export
/// at 300 bytes a second hold no worker: another client is answered at
/// once, and the server's memory stays small.
#[test]
fn silent_and_slow_clients_cannot_starve_others() {
    let h = history("serve-starve", "");
    write_status(h.dir.path(), 555, "off");
    // 40 more days of raw samples: a 30 MB export, more than the sockets'
    // buffers hold.
    for day in 0..40 {
        let start = 1_717_192_800 + day * 86_400; // 2024-06-01 in Rome
        let name = format!("2024-{:02}-{:02}", 6 + day / 30, 1 + day % 30);
        write_day(h.dir.path(), &name, start, start + 86_400);
    }
    let (p, port) = serve(&h);
    let silent: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || slow_reader(port, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    for _ in 0..10 {
        let t = Instant::now();
        let r = get(port, "/api/now");
        assert_eq!(r.status, 200);
        assert_eq!(field(&r.text(), "watts"), "555");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        std::thread::sleep(Duration::from_millis(200));
    }
    // The slow readers hold the downloads the server allows at once;
    // another is told to come back.
    let more = get(port, "/export?from=2024-06-01&to=2025-01-12&resolution=raw");
    assert_eq!(more.status, 503, "{}", more.text());
    let peak = peak_rss(&p);
    assert!(peak < 8 << 20, "peak RSS {peak} bytes");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    drop(silent);
}

/// A client outside SERVE_ALLOW is answered and closed as it connects,
/// before it sends anything: it never waits for a worker.
#[test]
fn a_denied_client_is_closed_at_once() {
    let h = history("serve-deny", "SERVE_ALLOW=10.0.0.0/8\n");
    let (_p, port) = serve(&h);
    let t = Instant::now();
    let conns: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for mut c in conns {
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        assert_eq!(parse_reply(&out).status, 403);
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

/// The head is due 5 s after the connection was accepted, not after its
/// first byte: a client that waits, then trickles, is cut off at 5 s.
#[test]
fn the_head_deadline_runs_from_accept() {
    let h = history("serve-deadline", "");
    let (_p, port) = serve(&h);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let t = Instant::now();
    // Silent for 4 s, then a byte every 300 ms: due 5 s from accept, the
    // head is cut at about 5 s; a deadline counted from the first byte (the
    // old server's) would cut it at 9 s. The margins leave room for a
    // loaded machine delaying the accept or the reply.
    std::thread::sleep(Duration::from_secs(4));
    let mut reply = Vec::new();
    for b in b"GET /api/now HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    let cut = t.elapsed();
    assert!(
        reply.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    assert!(
        cut >= Duration::from_millis(4500) && cut < Duration::from_millis(8500),
        "cut after {cut:?}"
    );
}

/// A FIFO named like a day never makes a request wait for a writer: the
/// day is answered at once with an error naming it, and eight such
/// requests at once hold no worker.
#[test]
fn a_fifo_named_like_a_day_holds_no_worker() {
    let (h, _p, port) = serve_history("serve-fifo");
    let fifo = h.dir.path().join("data/days/2025-01-13");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let asks: Vec<_> = (0..8)
        .map(|i| {
            let res = if i % 2 == 0 { "raw" } else { "bucket" };
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = get(port, &format!("/api/day/2025-01-13?resolution={res}"));
                (r.status, r.text(), t.elapsed())
            })
        })
        .collect();
    for a in asks {
        let (status, text, took) = a.join().unwrap();
        assert_eq!(status, 500, "{text}");
        assert!(
            text.contains("2025-01-13") && text.contains("FIFO"),
            "{text}"
        );
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    let t = Instant::now();
    assert_eq!(get(port, "/api/now").status, 200);
    assert!(t.elapsed() < Duration::from_secs(1));
}

/// `poll(2)` failing (short of kernel memory; here: more descriptors to
/// watch than the process may have open) is said once and tried again:
/// it never ends the server, and once it works the server answers.
#[test]
fn a_failing_poll_is_logged_and_retried() {
    let (_h, p, port) = serve_history("serve-poll");
    let pid = p.child.id().to_string();
    let nofile = |limit: &str| {
        let ok = Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={limit}:")])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    let mut silent: Vec<TcpStream> = (0..30)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    nofile("16");
    // A byte wakes the server, whose next poll fails. The heads are due
    // 5 s after accept: the server closes them even while it cannot poll,
    // and then can poll again.
    silent[0].write_all(b"G").unwrap();
    std::thread::sleep(Duration::from_secs(6));
    nofile("1024");
    drop(silent);
    assert_eq!(get(port, "/api/now").status, 200);
    let log = p.log();
    assert_eq!(log.matches("poll: ").count(), 1, "{log}");
}

/// A day file that cannot be read (a directory, a device, a symlink loop)
/// or a damaged year database never blanks a month or a year: the other
/// days are answered, and the files skipped are named; a day's buckets
/// come from its day file when the database cannot be read.
#[test]
fn a_bad_day_file_or_database_is_skipped_and_named() {
    let (h, _p, port) = serve_history("serve-skip");
    let days = h.dir.path().join("data/days");
    std::fs::create_dir(days.join("2025-01-13")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", days.join("2025-01-14")).unwrap();
    std::os::unix::fs::symlink("2025-01-15", days.join("2025-01-15")).unwrap();
    let month = "/api/days?from=2025-01-01&to=2025-01-31";
    let r = get(port, month);
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert_eq!(t.matches("\"date\":").count(), 3, "{t}");
    for d in ["2025-01-13", "2025-01-14", "2025-01-15"] {
        assert!(t.contains(&format!("days/{d}\",\"error\":")), "{d}: {t}");
    }
    let r = get(port, "/api/months?year=2025");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"month\":\"2025-01\",\"days\":3,"));

    // The year's database damaged: the days come from their files.
    let db = h.dir.path().join("db/pwr.2025");
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[..100].fill(0);
    std::fs::write(&db, bytes).unwrap();
    let r = get(port, month);
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert_eq!(t.matches("\"source\":\"day file\"").count(), 3, "{t}");
    assert!(t.contains("pwr.2025\",\"error\":"), "{t}");
    let r = get(port, "/api/months?year=2025");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"month\":\"2025-01\",\"days\":3,"));
    let r = get(port, "/api/day/2025-01-10?resolution=bucket");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(field(&r.text(), "source"), "day file");
    assert_eq!(array_len(&r.text(), "t"), 96);
}

/// A download cut short by a day file that cannot be read, after its
/// first rows went out, never looks complete: HTTP/1.0 has no end marker
/// but the connection's, so the connection is reset, not closed.
#[test]
fn a_cut_download_is_reset_for_http10() {
    let (h, _p, port) = serve_history("serve-cut");
    let last = h.dir.path().join("data/days/2025-01-12");
    std::fs::remove_file(&last).unwrap();
    std::fs::create_dir(&last).unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /export?from=2025-01-10&to=2025-01-12&resolution=raw HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut got = 0;
    let mut buf = vec![0u8; 1 << 16];
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => got += n,
            Err(e) => break Some(e.kind()),
        }
    };
    assert!(got > 16 * 1024, "{got} bytes: cut before the head went out");
    assert_eq!(
        end,
        Some(std::io::ErrorKind::ConnectionReset),
        "after {got} bytes"
    );
}

/// The buckets of days not digested yet are computed from the whole day
/// file, like a raw render: as few at once as raw renders, so eight
/// clients asking for them at once do not hold eight days in memory.
#[test]
fn bucket_renders_of_day_files_are_bounded_in_memory() {
    let (h, p, port) = serve_history("serve-bucket-mem");
    let days = h.dir.path().join("data/days");
    // Eight days of 1-s samples (Rome is UTC+1 in February).
    let first = 1_738_364_400;
    let mut text = String::new();
    for t in first..first + 86_400 {
        text.push_str(&format!("{t} {}\n", watts(t)));
    }
    let names: Vec<String> = (1..=8).map(|d| format!("2025-02-0{d}")).collect();
    for (i, name) in names.iter().enumerate() {
        // Each day's own stamps: the same text, shifted by whole days.
        let shifted: String = text
            .lines()
            .map(|l| {
                let (t, w) = l.split_once(' ').unwrap();
                format!("{} {w}\n", t.parse::<i64>().unwrap() + i as i64 * 86_400)
            })
            .collect();
        std::fs::write(days.join(name), shifted).unwrap();
    }
    let ask = |name: &str| {
        let r = get(port, &format!("/api/day/{name}?resolution=bucket"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(array_len(&r.text(), "t"), 96);
    };
    ask(&names[0]);
    ask(&names[1]);
    let before = peak_rss(&p);
    for _ in 0..4 {
        std::thread::scope(|s| {
            for name in &names {
                s.spawn(|| ask(name));
            }
        });
    }
    // Two days at once, each read whole and copied by the digest's rule:
    // about 6 MB; eight at once (before the bound): about 25 MB.
    let grew = peak_rss(&p).saturating_sub(before);
    assert!(grew < 10 << 20, "serve's peak RSS grew by {grew} bytes");
}

/// Five day files not digested yet whose stamps go back (so all their
/// samples are kept, and only two such totals are kept whole): asking the
/// month again reads none of them again while they stay as they were.
#[test]
fn unchanged_files_with_stamps_going_back_are_not_read_again() {
    let (h, p, port) = serve_history("serve-back");
    let days = h.dir.path().join("data/days");
    // February 2025 in Rome: UTC+1.
    let mut sizes = 0;
    for d in 1..=5 {
        let start = 1_738_364_400 + (d - 1) * 86_400;
        let mut text = String::new();
        for t in (start..start + 43_200).step_by(5) {
            text.push_str(&format!("{t} {}\n", watts(t)));
        }
        text.push_str(&format!("{} 100\n", start + 60)); // goes back
        sizes += text.len();
        std::fs::write(days.join(format!("2025-02-0{d}")), text).unwrap();
    }
    let month = "/api/days?from=2025-02-01&to=2025-02-28";
    let first = get(port, month);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.text().matches("\"date\":").count(), 5);
    let before = bytes_read(&p);
    for _ in 0..3 {
        let again = get(port, month);
        assert_eq!(again.text(), first.text());
    }
    let read = bytes_read(&p) - before;
    assert!(
        read < 64 * 1024,
        "{read} bytes read for three asks of {sizes} bytes of unchanged files"
    );
}

/// A time before standard time zones (Rome kept its mean time, +00:49:56,
/// until 1893) is exported as a time and an offset that name the sample's
/// instant exactly, the offset in whole minutes as ISO 8601 has them.
#[test]
fn a_local_mean_time_offset_still_names_the_instant() {
    let (h, _p, port) = serve_history("serve-lmt");
    let midnight = mcce::days_from_civil(1890, 1, 1) * 86_400 - 2996;
    let days = h.dir.path().join("data/days");
    std::fs::write(
        days.join("1890-01-01"),
        format!("{} 500\n", midnight + 3600),
    )
    .unwrap();
    let r = get(port, "/export?from=1890-01-01&to=1890-01-01&resolution=raw");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let row = text.lines().nth(1).unwrap_or_else(|| panic!("{text}"));
    let mut f = row.split(',');
    let (time, unix) = (f.next().unwrap(), f.next().unwrap());
    assert_eq!(unix, (midnight + 3600).to_string());
    // YYYY-MM-DDTHH:MM:SS+HH:MM
    let n = |a: usize, b: usize| time[a..b].parse::<i64>().unwrap();
    let local = mcce::days_from_civil(n(0, 4) as i32, n(5, 7) as u32, n(8, 10) as u32) * 86_400
        + n(11, 13) * 3600
        + n(14, 16) * 60
        + n(17, 19);
    let sign = if &time[19..20] == "-" { -1 } else { 1 };
    let offset = sign * (n(20, 22) * 3600 + n(23, 25) * 60);
    assert_eq!(time.len(), 25, "{time}");
    assert_eq!(local - offset, midnight + 3600, "{time}");
}
