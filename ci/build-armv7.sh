#!/usr/bin/env bash
# Builds the static armv7 musl binary without Docker or rustup targets:
# Debian's rustc-web/cargo-web compile std from rust-web-src (-Zbuild-std),
# Debian's musl wrapper links, and gcc's libgcc_eh.a stands in for libunwind.a.
# Usage: ci/build-armv7.sh [OUTDIR]   (prints the path of the stripped binary)
set -euo pipefail

target=armv7-unknown-linux-musleabihf
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/target/$target/release}

gcc_dir=$(dirname "$(arm-linux-gnueabihf-gcc -print-libgcc-file-name)")
unwind_dir=$top/target/armv7-unwind
mkdir -p "$unwind_dir"
ln -sf "$gcc_dir/libgcc_eh.a" "$unwind_dir/libunwind.a"

export RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1
export CC_armv7_unknown_linux_musleabihf=arm-linux-musleabihf-gcc
export AR_armv7_unknown_linux_musleabihf=arm-linux-gnueabihf-ar
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_LINKER=arm-linux-musleabihf-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS="-C target-feature=+crt-static -C link-self-contained=no -L native=$unwind_dir"

cd "$top"
/usr/bin/cargo build --release --locked --target "$target" \
    -Zbuild-std=std,panic_abort >&2
bin=$top/target/$target/release/mcce
mkdir -p "$out"
[ "$out/mcce" -ef "$bin" ] || cp "$bin" "$out/mcce"
echo "$out/mcce"
