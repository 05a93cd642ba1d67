#!/usr/bin/env bash
# Builds the static armv7 musl binary without Docker or rustup targets (see
# ci/armv7-env.sh). Usage: ci/build-armv7.sh [OUTDIR]; prints the path of
# the stripped binary.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=ci/armv7-env.sh
. "$top/ci/armv7-env.sh"
out=${1:-$top/target/$armv7_target/release}

cd "$top"
/usr/bin/cargo build --release --locked --target "$armv7_target" \
	-Zbuild-std=std,panic_abort >&2
bin=$top/target/$armv7_target/release/mcce
mkdir -p "$out"
[ "$out/mcce" -ef "$bin" ] || cp "$bin" "$out/mcce"
echo "$out/mcce"
