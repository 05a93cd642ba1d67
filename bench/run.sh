#!/usr/bin/env bash
# Benchmarks (not tests): the figures README quotes. Run on an idle machine:
#   bench/run.sh            (builds the release binary first)
# Daemon: real polls of the simulated meter over a pty for BENCH_SECONDS
# (default 120) at POLL_SECONDS=1, scaled to a day of 5-second polls.
# Digest: one day of 5-second samples, a catch-up of 365 days, and the peak
# memory of one damaged day file of 10 million lines.
# Export: a year of raw samples as CSV.
# Decode: 1 and 16 MiB of start markers with no end marker (linear time).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cargo build --release --locked -q
bin=$top/target/release/mcce
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

echo "machine: $(nproc) cores, $(uname -m), mcce $("$bin" --version | cut -d' ' -f2)"

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
cpu_ns() { cat "/proc/$daemon"/task/*/schedstat | awk '{ s += $1 } END { print s }'; }
lines() { cat "$work"/data/days/* 2>/dev/null | wc -l; }
sleep 3
# Windows of 10 s: virtual machines add noise (never remove it), so the
# median and the lowest window are reported.
windows=$((seconds / 10))
: > "$work/windows"
for _ in $(seq "$windows"); do
	cpu0=$(cpu_ns)
	polls0=$(lines)
	sleep 10
	echo "$(($(cpu_ns) - cpu0)) $(($(lines) - polls0))" >> "$work/windows"
done
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$daemon/status")
kill -TERM "$daemon"
wait "$daemon" || true
awk '{ print $1 / $2 / 1000 }' "$work/windows" | sort -g > "$work/us"
median=$(awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' "$work/us")
lowest=$(head -n 1 "$work/us")
awk -v m="$median" -v l="$lowest" -v n="$windows" -v h="$hwm" 'BEGIN {
	printf "daemon: CPU per poll over %d windows of 10 s: median %.1f us, lowest %.1f us -> %.2f s (median), %.2f s (lowest) per day of 5-s polls; peak RSS %.2f MiB\n",
		n, m, l, m * 17280 / 1e6, l * 17280 / 1e6, h / 1024
}'

# --- digest --------------------------------------------------------------------
mkdir -p "$work/year/data/days"
cat > "$work/year.conf" <<CONF
DATA_DIR=$work/year/data
DATABASE_URL=$work/year/db/pwr
CONF
# 2025 in Europe/Rome: samples every 5 s from each local midnight.
python3 - "$work/year/data/days" <<'PY'
import datetime, os, sys, zoneinfo
tz = zoneinfo.ZoneInfo("Europe/Rome")
d = datetime.date(2025, 1, 1)
while d.year == 2025:
    start = int(datetime.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())
    n = d + datetime.timedelta(days=1)
    end = int(datetime.datetime(n.year, n.month, n.day, tzinfo=tz).timestamp())
    with open(os.path.join(sys.argv[1], d.isoformat()), "w") as f:
        f.write("".join(f"{t} {300 + (t // 5) % 4000}\n" for t in range(start, end, 5)))
    d = n
PY
timed() { # label, command...: wall seconds and peak RSS of one run
	local label=$1
	shift
	/usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null
	read -r wall rss < "$work/time"
	awk -v l="$label" -v w="$wall" -v r="$rss" 'BEGIN { printf "%s: %.3f s wall, peak RSS %.2f MiB\n", l, w, r / 1024 }'
}
# One day: too quick for /usr/bin/time's 10 ms resolution, so 20 runs.
t0=$(date +%s%N)
for _ in $(seq 20); do "$bin" digest -c "$work/year.conf" --date 2025-06-15 > /dev/null; done
t1=$(date +%s%N)
awk -v ns="$((t1 - t0))" 'BEGIN { printf "digest one day (17 280 samples): %.1f ms wall (mean of 20 runs, process start included)\n", ns / 20 / 1e6 }'
timed "digest one day, peak RSS" "$bin" digest -c "$work/year.conf" --date 2025-06-15
rm -rf "$work/year/db"
timed "digest catch-up of 365 days" "$bin" digest -c "$work/year.conf"

# A damaged day: 10 million lines, every second of the day stamped about
# 115 times over, with a garbage line every 1000. Memory must not grow with
# the file (target: peak RSS <= 16 MiB).
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
awk -v w="$wall" -v r="$rss" 'BEGIN { printf "digest of a 10-million-line day file: %.2f s wall, peak RSS %.2f MiB\n", w, r / 1024 }'

# --- export ----------------------------------------------------------------------
rows=$(cat "$work"/year/data/days/* | wc -l)
/usr/bin/time -f "%e %M" -o "$work/time" "$bin" export -c "$work/year.conf" \
	--resolution raw --from 2025-01-01 --to 2025-12-31 > /dev/null
read -r wall rss < "$work/time"
awk -v n="$rows" -v w="$wall" -v r="$rss" 'BEGIN {
	printf "export raw CSV, a year (%d rows): %.2f s, %.2f M rows/s, peak RSS %.2f MiB\n", n, w, n / w / 1e6, r / 1024
}'

# --- decode ----------------------------------------------------------------------
for mib in 1 16; do
	python3 -c 'import sys; n = int(sys.argv[1]) << 20; sys.stdout.buffer.write(b"S0222" * (n // 5) + b"S0222\x30\x0c1S03")' "$mib" > "$work/markers"
	timed "decode $mib MiB of start markers without an end" "$bin" decode < "$work/markers"
done

# --- serve -----------------------------------------------------------------------
"$top/bench/serve.sh" "$bin"
