//! `mcce demo`, the README's first command: it must finish by itself and
//! show the whole pipeline (readings, the contract alarm's chirp, countdown
//! and siren, digest, report).

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
        "20",
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
    assert!(
        out.contains("a 3000 W contract: free up to 3300 W, tolerated up to 3990 W"),
        "{out}"
    );
    assert!(
        out.contains("07:11:00 ")
            && out.contains("(( BUZZER: chirp, over the free band of 3300 W ))"),
        "{out}"
    );
    assert!(
        out.contains("tolerated band, trip in ~") && out.contains(" if nothing is switched off"),
        "{out}"
    );
    assert!(out.contains("(((( BUZZER: siren sounding ))))"), "{out}");
    assert!(out.contains("WARNING"), "{out}");
    assert!(out.contains(" near trips "), "{out}");
    assert!(out.contains("$ mcce digest --date "), "{out}");
    assert!(out.contains("% covered"), "{out}");
    assert!(out.contains("$ mcce report --month "), "{out}");
    assert!(
        out.contains("total ") && out.contains(" kWh over 1 day(s)"),
        "{out}"
    );
    assert!(dir.join("days").is_dir() && dir.join("db").is_dir());
}

/// Pointed at a directory that holds real history, the demo must refuse
/// and write nothing: it would append simulated samples to a real day.
#[test]
fn demo_refuses_a_directory_with_data() {
    let d = Scratch::new("demo-refuse");
    for (name, what) in [("days", "2024-05-01"), ("db", "pwr.2024")] {
        let dir = d.path().join(name);
        std::fs::create_dir_all(dir.join(name)).unwrap();
        let file = dir.join(name).join(what);
        std::fs::write(&file, "1714514400 300\n").unwrap();
        let before = listing(&dir);
        let (code, out, err) = run(&["demo", "--speed", "4000", "--dir", dir.to_str().unwrap()]);
        assert_eq!(code, 73, "{out}\n{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(dir.to_str().unwrap()) && err.contains("new or empty directory"),
            "{err}"
        );
        assert_eq!(listing(&dir), before, "nothing written");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "1714514400 300\n");
    }
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        v.push(p.display().to_string());
        if p.is_dir() {
            v.extend(listing(&p));
        }
    }
    v.sort();
    v
}
