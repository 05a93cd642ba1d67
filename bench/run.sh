#!/usr/bin/env bash
# Benchmarks (not tests): the figures README quotes, each printed beside its
# target and marked OVER when it misses it (bench/targets.sh); the end lists
# them all again. Run on an idle machine (the load average is printed at the
# start and the end):
#   bench/run.sh            (builds the release binary first)
# Daemon: real polls of the simulated meter over a pty for BENCH_SECONDS
# (default 120) at POLL_SECONDS=1, scaled to a day of 5-second polls.
# Digest: one day of 5-second samples (timed against the original Python
# digest when ORIGINAL_DIGEST names its day_digest.py and ORIGINAL_PYTHON a
# Python with pandas, numpy and sqlalchemy), a catch-up of 365 days, and the
# peak memory of one damaged day file of 10 million lines.
# Export: a year of raw samples as CSV.
# Decode: 1 and 16 MiB of start markers with no end marker (linear time).
# Then each command's own bench script (bench/serve.sh, ...: the list in
# `parts` below), the armv7 binary's size (ci/build-armv7.sh, when its
# tools are here; BENCH_ARMV7=0 skips it) and, with BENCH_VM=1, the armv7
# daemon's VmHWM through the VM's fault soak (VM_SCENARIO=soak ci/vm-check.sh).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cargo build --release --locked -q
bin=$top/target/release/mcce
# The image's binary is static: memory is also measured on a static x86_64
# build, since a dynamically linked glibc program holds about 1.7 MB of
# shared libraries resident before it does anything (`sleep` does).
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -q --target "$host" --target-dir "$top/target/static"
sbin=$top/target/static/$host/release/mcce
# The image's binary also has its own std, built with the release profile
# (-Zbuild-std=std,panic_abort: size over speed, no unwinding; see
# ci/build-armv7.sh), whose code is about 0.2 MiB less of the resident
# pages than rustup's prebuilt std: the memory figures take an x86_64
# binary built that way when Debian's rustc and its std sources (the armv7
# build's tools) are here, and say which binary they measured.
rustup_sbin=$sbin
built="rustup's prebuilt std"
if [ -d /usr/lib/rustlib/src/rust/library ] &&
	RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C target-feature=+crt-static" /usr/bin/cargo \
		build --release --locked -q --target "$host" --target-dir "$top/target/static-std" -Zbuild-std=std,panic_abort; then
	sbin=$top/target/static-std/$host/release/mcce
	built="its own std, as the image's"
fi
seconds=${BENCH_SECONDS:-120}
work=$(mktemp -d /tmp/mcce-bench.XXXXXX)
# RUN_DIR is a tmpfs on the Pi (/run); /dev/shm is one here.
shm=$(mktemp -d /dev/shm/mcce-bench.XXXXXX)
sim_pid=""
cleanup() {
	if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi
	rm -rf "$work" "$shm"
}
trap cleanup EXIT
export TZ=Europe/Rome
export BENCH_FIGURES=$work/figures
: > "$BENCH_FIGURES"
# shellcheck source=bench/targets.sh
. "$top/bench/targets.sh"

echo "machine: $(nproc) cores, $(uname -m), mcce $("$bin" --version | cut -d' ' -f2); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- daemon ------------------------------------------------------------------
"$bin" sim --link "$work/tty" > /dev/null 2>&1 &
sim_pid=$!
for _ in $(seq 50); do [ -L "$work/tty" ] && break; sleep 0.1; done
cat > "$work/mcce.conf" <<CONF
PORT=$work/tty
POLL_SECONDS=1
REPLY_TIMEOUT_MS=500
DATA_DIR=$work/data
RUN_DIR=$shm
DATABASE_URL=$work/db/pwr
BUZZER=none
CONF
"$bin" run -c "$work/mcce.conf" 2> "$work/daemon.log" &
daemon=$!
# CPU time of every thread in nanoseconds (schedstat), finer than clock
# ticks; measured after a warm-up so start-up is not counted.
lines() { cat "$work"/data/days/* 2>/dev/null | wc -l; }
sleep 3
# Windows of 10 s: virtual machines add noise (never remove it), so the
# median and the lowest window are reported.
windows=$((seconds / 10))
cpu_windows "$daemon" "$windows" 10 lines "$work/windows"
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$daemon/status")
kill -TERM "$daemon"
wait "$daemon" || true
awk '{ print $1 / $2 / 1000 }' "$work/windows" | sort -g > "$work/us"
median=$(median "$work/us")
lowest=$(head -n 1 "$work/us")
# The figure is the quietest window: noise on this machine only ever adds.
figure "daemon, CPU per day of 5-s polls (x86_64, quietest 10-s window)" \
	"$(awk -v l="$lowest" 'BEGIN { printf "%.2f", l * 17280 / 1e6 }')" s "<=" 1.0 \
	"$(awk -v m="$median" -v l="$lowest" -v n="$windows" 'BEGIN {
		printf "%.1f us a poll; median of %d windows %.1f us, %.2f s a day", l, n, m, m * 17280 / 1e6 }')"
# The floor of this machine: a bare loop of the system calls a poll cannot
# do without (bench/poll-floor.rs), measured the same way.
rustc -O -o "$work/poll-floor" "$top/bench/poll-floor.rs"
stty -F "$work/tty" raw -echo min 1 time 0
"$work/poll-floor" "$work/tty" "$work/floor-day" "$shm/floor-status" &
floor_pid=$!
floor_lines() { wc -l < "$work/floor-day"; }
sleep 3
cpu_windows "$floor_pid" $((windows / 2 > 0 ? windows / 2 : 1)) 10 floor_lines "$work/floor"
kill "$floor_pid"
wait "$floor_pid" 2> /dev/null || true
floor=$(awk '{ print $1 / $2 / 1000 }' "$work/floor" | sort -g | head -n 1)
awk -v f="$floor" 'BEGIN { printf "     the floor here: a bare loop of a poll'"'"'s system calls, %.1f us a poll in its quietest window, %.2f s a day\n", f, f * 17280 / 1e6 }'

# The static builds' peak: the same polls for 10 s.
static_hwm() { # binary: VmHWM in KiB after 10 s of polls
	"$1" run -c "$work/mcce.conf" 2> "$work/daemon-static.log" &
	local pid=$!
	sleep 10
	awk '/^VmHWM/ { print $2 }' "/proc/$pid/status"
	kill -TERM "$pid"
	wait "$pid" || true
}
shwm=$(static_hwm "$sbin")
others="dynamically linked: $(awk -v h="$hwm" 'BEGIN { printf "%.2f", h / 1024 }') MiB"
if [ "$sbin" != "$rustup_sbin" ]; then
	others="$others; static with rustup's std: $(awk -v h="$(static_hwm "$rustup_sbin")" 'BEGIN { printf "%.2f", h / 1024 }') MiB"
fi
figure "daemon, peak RSS (x86_64 glibc, static, $built)" "$(awk -v h="$shwm" 'BEGIN { printf "%.2f", h / 1024 }')" MiB "<=" 2 "$others"

# --- digest --------------------------------------------------------------------
mkdir -p "$work/year/data/days"
cat > "$work/year.conf" <<CONF
DATA_DIR=$work/year/data
DATABASE_URL=$work/year/db/pwr
CONF
# 2025 in Europe/Rome: samples every 5 s from each local midnight.
day_files "$work/year/data/days" 2025-01-01 2026-01-01
# On a card the day files were written out long ago: flush the 130 MB just
# made, or the digest's first commits would wait for them (an fsync on ext4
# writes out the file system's pending data; it made the catch-up 4.6 s
# instead of 0.7 s).
sync
timed() { # command...: "wall-seconds peak-RSS-KiB" of one run
	/usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null
	cat "$work/time"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }
# Mean wall milliseconds of N runs of a command (process start included):
# one run is too quick for /usr/bin/time's 10 ms resolution.
mean_ms() {
	local n=$1 t0 t1
	shift
	t0=$(date +%s%N)
	for _ in $(seq "$n"); do "$@" > /dev/null; done
	t1=$(date +%s%N)
	awk -v ns="$((t1 - t0))" -v n="$n" 'BEGIN { printf "%.2f", ns / n / 1e6 }'
}
# Timed on the static build, as the image runs it (no dynamic loader at
# each start); the dynamically linked build's time is given beside it.
one_day=$(mean_ms 20 "$sbin" digest -c "$work/year.conf" --date 2025-06-15)
one_day_dynamic=$(mean_ms 20 "$bin" digest -c "$work/year.conf" --date 2025-06-15)
# The original (day_digest.py: pandas reads yesterday's file of one value
# per line from ./days, writes one table per day into $DATABASE_URL.YYYY),
# on the same samples. Without it, the original's fastest run measured
# before (README, Benchmarks) stands in.
original_ms=596
original_note="the original not run here: its fastest measured run, $original_ms ms, stands in"
if [ -n "${ORIGINAL_DIGEST:-}" ]; then
	orig=$work/original
	yesterday=$(date -d yesterday +%F)
	mkdir -p "$orig/days"
	awk '{ print $2 }' "$work/year/data/days/2025-06-15" > "$orig/days.txt"
	original_run() {
		rm -rf "$orig/db" && mkdir -p "$orig/db"
		cp "$orig/days.txt" "$orig/days/$yesterday"
		(cd "$orig" && DATABASE_URL=$orig/db/pwr MIN_TIME_RES=1 "${ORIGINAL_PYTHON:-python3}" "$ORIGINAL_DIGEST")
	}
	original_run > /dev/null # fails here, loudly, when its packages are missing
	t_orig=0
	for _ in 1 2 3 4 5; do
		t0=$(date +%s%N)
		original_run > /dev/null
		t_orig=$((t_orig + $(date +%s%N) - t0))
	done
	original_ms=$(awk -v ns="$t_orig" 'BEGIN { printf "%.0f", ns / 5 / 1e6 }')
	original_note="the original in this run: $original_ms ms (mean of 5)"
fi
# "One read of the file": how many times the digest opens the day file.
opens="?"
if command -v strace > /dev/null; then
	strace -f -e trace=openat -o "$work/strace" "$bin" digest -c "$work/year.conf" --date 2025-06-15 > /dev/null
	opens=$(grep -c 'days/2025-06-15"' "$work/strace" || true)
fi
figure "digest of one day (17 280 samples), times faster than the original (static, $built)" \
	"$(awk -v o="$original_ms" -v m="$one_day" 'BEGIN { printf "%.0f", o / m }')" "x" ">=" 150 \
	"$one_day ms (mean of 20 runs, process start included; dynamically linked: $one_day_dynamic ms, $(awk -v o="$original_ms" -v m="$one_day_dynamic" 'BEGIN { printf "%.0f", o / m }') x); $original_note; opens the day file $opens time(s)"
read -r _ rss <<< "$(timed "$bin" digest -c "$work/year.conf" --date 2025-06-15)"
figure "digest of one day, peak RSS" "$(mib "$rss")" MiB "<=" 8
rm -rf "$work/year/db"
read -r wall rss <<< "$(timed "$bin" digest -c "$work/year.conf")"
figure "digest catch-up of 365 days" "$wall" s "<=" 1 "peak RSS $(mib "$rss") MiB"

# A damaged day: 10 million lines, every second of the day stamped about
# 115 times over, with a garbage line every 1000. Memory must not grow with
# the file.
mkdir -p "$work/big/data/days"
cat > "$work/big.conf" <<CONF
DATA_DIR=$work/big/data
DATABASE_URL=$work/big/db/pwr
CONF
start=$(python3 -c 'import datetime, zoneinfo; print(int(datetime.datetime(2025, 6, 15, tzinfo=zoneinfo.ZoneInfo("Europe/Rome")).timestamp()))')
awk -v s="$start" 'BEGIN {
	for (i = 0; i < 10000000; i++) {
		if (i % 1000 == 999) print "garbage"; else printf "%d %d\n", s + i % 86400, 300 + i % 4000
	}
}' > "$work/big/data/days/2025-06-15"
/usr/bin/time -f "%e %M" -o "$work/time" "$bin" digest -c "$work/big.conf" --date 2025-06-15 > /dev/null || true
read -r wall rss < "$work/time"
figure "digest of a 10-million-line day file, peak RSS" "$(mib "$rss")" MiB "<=" 16 "$wall s"

# --- export ----------------------------------------------------------------------
rows=$(cat "$work"/year/data/days/* | wc -l)
read -r wall rss <<< "$(timed "$bin" export -c "$work/year.conf" --resolution raw --from 2025-01-01 --to 2025-12-31)"
figure "export raw CSV, a year ($rows rows)" "$(awk -v n="$rows" -v w="$wall" 'BEGIN { printf "%.2f", n / w / 1e6 }')" \
	"M rows/s" ">=" 2 "$wall s; peak RSS $(mib "$rss") MiB"

# --- decode ----------------------------------------------------------------------
for mib in 1 16; do
	python3 -c 'import sys; n = int(sys.argv[1]) << 20; sys.stdout.buffer.write(b"S0222" * (n // 5) + b"S0222\x30\x0c1S03")' "$mib" > "$work/markers"
	read -r wall rss < <(timed "$bin" decode < "$work/markers")
	echo "     decode $mib MiB of start markers without an end: $wall s wall, peak RSS $(mib "$rss") MiB (linear in the input, constant memory)"
done

# --- each command's own bench --------------------------------------------------
# A command with figures of its own adds bench/NAME.sh (called with the
# static binary; it sources bench/targets.sh) and its name here.
parts="serve publish"
for part in $parts; do
	if [ -x "$top/bench/$part.sh" ]; then "$top/bench/$part.sh" "$sbin"; fi
done

# --- the armv7 binary --------------------------------------------------------------
arm=$top/target/armv7-unknown-linux-musleabihf/release/mcce
if [ "${BENCH_ARMV7:-1}" != 0 ] && command -v arm-linux-musleabihf-gcc > /dev/null &&
	"$top/ci/build-armv7.sh" > /dev/null 2> "$work/armv7.log"; then
	figure "stripped static armv7 binary, every command in (ci/build-armv7.sh)" "$(stat -c %s "$arm")" bytes "<=" 1500000
else
	unmeasured "stripped static armv7 binary, every command in" bytes "<=" 1500000 \
		"ci/build-armv7.sh not run or failed (BENCH_ARMV7=0, or its tools missing: see its log)"
fi
if [ "${BENCH_VM:-0}" = 1 ]; then
	if VM_SCENARIO=soak "$top/ci/vm-check.sh" > "$work/vm.log" 2>&1 && hwm=$(sed -n 's/.*VmHWM \([0-9]*\) kB.*/\1/p' "$work/vm.log" | tail -n 1) && [ -n "$hwm" ]; then
		figure "armv7 musl daemon in the VM, VmHWM through the fault soak (VM_SCENARIO=soak ci/vm-check.sh)" "$hwm" KiB "<=" 1024 \
			"$(grep -o 'soak:.*' "$work/vm.log" | tail -n 1)"
	else
		tail -n 20 "$work/vm.log"
		unmeasured "armv7 musl daemon in the VM, VmHWM through the fault soak" KiB "<=" 1024 "the VM soak failed (log above)"
	fi
else
	unmeasured "armv7 musl daemon in the VM, VmHWM through the fault soak" KiB "<=" 1024 "BENCH_VM=1 runs it (VM_SCENARIO=soak ci/vm-check.sh)"
fi

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
figures_summary
