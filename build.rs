//! Records when the binary was built: on a Pi without an RTC, a wall clock
//! earlier than this is certainly wrong (SOURCE_DATE_EPOCH wins, for
//! reproducible builds).
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=MCCE_BUILD_EPOCH={epoch}");
}
