//! `mcce demo`, the README's first command: it must finish by itself and
//! show the whole pipeline (readings, the midday alarm, digest, report).

mod common;

use common::*;

#[test]
fn demo_runs_the_pipeline_and_finishes() {
    let d = Scratch::new("demo");
    let dir = d.path().join("data");
    let t = std::time::Instant::now();
    let (code, out, err) = run(&[
        "demo",
        "--speed",
        "4000",
        "--hours",
        "13",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(t.elapsed().as_secs() < 60, "took {:?}", t.elapsed());
    assert!(
        out.contains("mcce demo: simulated meter on /dev/pts/"),
        "{out}"
    );
    assert!(out.contains("00:00:"), "readings from midnight: {out}");
    assert!(out.contains("ALARM: at or above 4200 W"), "{out}");
    assert!(out.contains("(((( BUZZER: siren sounding ))))"), "{out}");
    assert!(out.contains("$ mcce digest --date "), "{out}");
    assert!(out.contains("% covered"), "{out}");
    assert!(out.contains("$ mcce report --month "), "{out}");
    assert!(
        out.contains("total ") && out.contains(" kWh over 1 day(s)"),
        "{out}"
    );
    assert!(dir.join("days").is_dir() && dir.join("db").is_dir());
}
