#!/usr/bin/env bash
# The Pi binary, checked on this machine: a real static armv7 musl build
# (ci/build-armv7.sh), under 2 MiB stripped, running under qemu-arm-static:
# --version, a digest of a fixture day, and the test suite's tests that need
# no serial port (qemu user mode cannot open one).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
limit=$((2 * 1024 * 1024))
fail() { echo "FAIL: $*" >&2; exit 1; }

bin=$("$top/ci/build-armv7.sh")
info=$(file -b "$bin")
case "$info" in
	*"ELF 32-bit LSB executable, ARM"*"statically linked"*) ;;
	*) fail "not a static ARM executable: $info";;
esac
size=$(stat -c %s "$bin")
[ "$size" -le "$limit" ] || fail "stripped binary is $size bytes, over 2 MiB"
echo "ok: $info, $size bytes (limit $limit)"

version=$(qemu-arm-static "$bin" --version)
[ "$version" = "mcce $(sed -n 's/^version = "\(.*\)"/\1/p' "$top/Cargo.toml" | head -n 1)" ] ||
	fail "--version said: $version"
echo "ok: qemu-arm-static mcce --version: $version"

# A fixture day: 1000 W every 5 s for the whole UTC day of 2025-01-15.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/days"
start=1736899200
seq 0 5 86395 | awk -v s="$start" '{ printf "%d 1000\n", s + $1 }' > "$work/days/2025-01-15"
TZ=UTC DATA_DIR=$work DATABASE_URL=$work/db/pwr \
	qemu-arm-static "$bin" digest -c /dev/null --date 2025-01-15
kwh=$(sqlite3 "$work/db/pwr.2025" 'select "kWh" from avg')
rows=$(sqlite3 "$work/db/pwr.2025" 'select count(*) from "2025-01-15"')
if [ "$kwh" != 24.0 ] || [ "$rows" != 96 ]; then fail "armv7 digest gave $kwh kWh in $rows rows"; fi
echo "ok: armv7 digest of the fixture day: $kwh kWh, $rows buckets"

# The tests that need no serial port, compiled for armv7 and run emulated.
# shellcheck source=ci/armv7-env.sh
. "$top/ci/armv7-env.sh"
cd "$top"
/usr/bin/cargo test --locked --no-run --target "$armv7_target" -Zbuild-std \
	--lib --test daemon_loop --message-format=json 2> "$work/build.log" > "$work/build.json" ||
	{ tail -n 40 "$work/build.log" >&2; fail "building the armv7 tests"; }
mapfile -t tests < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])
' "$work/build.json")
[ "${#tests[@]}" -eq 2 ] || fail "expected 2 armv7 test binaries, got ${#tests[@]}"
for t in "${tests[@]}"; do
	echo "--- qemu-arm-static $(basename "$t")"
	qemu-arm-static "$t" --test-threads 2
done
echo "armv7 checks: all passed"
