//! `mcce status` and the image's data partition: when the boot script (or
//! S90mcce) left a note in RUN_DIR/data-partition, samples are going to the
//! root file system, which the next flash erases. Status says so and exits
//! 74; without the note it is as before.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn status_says_when_the_data_partition_is_not_in_use() {
    let d = Scratch::new("data-partition");
    let (_sim, link) = sim(d.path(), &[]);
    let cfg = config(d.path(), &link, "");
    let mut daemon = daemon(d.path(), &cfg);
    let days = d.path().join("data/days");
    wait_for(
        Duration::from_secs(10),
        || !samples(&days).is_empty(),
        "samples",
    );
    let cfg = cfg.to_str().unwrap();

    let (code, out, err) = run(&["status", "-c", cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("root file system"), "{out}");

    let why = "the card (1900 MiB) is too small for the data partition";
    std::fs::write(d.path().join("data-partition"), format!("{why}\n")).unwrap();
    let (code, out, err) = run(&["status", "-c", cfg]);
    assert_eq!(code, 74, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("data:") && l.contains("root file system") && l.contains(why)),
        "{out}"
    );
    assert!(
        out.contains(" free of "),
        "the free space is still shown: {out}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(why), "{err}");

    // An empty note is no problem.
    std::fs::write(d.path().join("data-partition"), "").unwrap();
    assert_eq!(run(&["status", "-c", cfg]).0, 0);

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(5)).0, Some(0));
}
