#!/usr/bin/env bash
# `mcce publish` (called by bench/run.sh, or alone):
#   bench/publish.sh [BINARY]   (default target/release/mcce; bench/run.sh
#                                passes its static build, as the image's)
# A daemon polls the simulated meter every 5 s (RUN_DIR on /dev/shm, as the
# Pi's tmpfs), with a year of digested days and today's file; the publisher
# sends to a mosquitto on 127.0.0.1, read by a subscriber. Its CPU over
# minutes (schedstat, windows of 60 s after a warm-up: twelve readings and
# one look at the energy figures each; the quietest window, as this
# machine's noise only adds) times 1440 is a day; its peak RSS; and its CPU
# while the daemon is stopped. BENCH_PUBLISH_SECONDS (default 300) long.
# Each figure beside its target (bench/targets.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/targets.sh
. "$top/bench/targets.sh"
bin=$(realpath "${1:-$top/target/release/mcce}")
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
if [ ! -x "$mosquitto" ] || ! command -v mosquitto_sub > /dev/null; then
	echo "publish: mosquitto and mosquitto-clients not installed, skipped"
	exit 0
fi
seconds=${BENCH_PUBLISH_SECONDS:-300}
work=$(mktemp -d /tmp/mcce-bench-publish.XXXXXX)
shm=$(mktemp -d /dev/shm/mcce-bench-publish.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
	wait 2> /dev/null || true
	rm -rf "$work" "$shm"
}
trap cleanup EXIT
export TZ=Europe/Rome

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$work/mosquitto.conf"
[ "$(id -u)" != 0 ] || echo "user root" >> "$work/mosquitto.conf"
"$mosquitto" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2> /dev/null && break
	sleep 0.1
done
stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -t 'mcce/#' > "$work/got" 2> /dev/null &
pids+=($!)

# A year of digested days before today, and the daemon writing today's.
mkdir -p "$work/data/days"
day_files "$work/data/days" "$(date -d '365 days ago' +%F)" "$(date +%F)"
"$bin" sim --link "$work/tty" > /dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -L "$work/tty" ] && break; sleep 0.1; done
cat > "$work/mcce.conf" <<CONF
PORT=$work/tty
POLL_SECONDS=5
DATA_DIR=$work/data
RUN_DIR=$shm
DATABASE_URL=$work/db/pwr
BUZZER=none
CONTRACT_WATTS=3000
MQTT_URL=mqtt://127.0.0.1:$port
MQTT_TOPIC=mcce/bench
CONF
"$bin" digest -c "$work/mcce.conf" > /dev/null
"$bin" run -c "$work/mcce.conf" 2> "$work/daemon.log" &
daemon=$!
pids+=("$daemon")
sleep 2
"$bin" publish -c "$work/mcce.conf" 2> "$work/publish.log" &
publisher=$!
pids+=("$publisher")
readings() { awk '/^updated=/ { print int(substr($0, 9) / 5) }' "$shm/status"; }
sleep 10
windows=$((seconds / 60))
cpu_windows "$publisher" "$windows" 60 readings "$work/windows"
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$publisher/status")
# The image's binary is static; a dynamic glibc one holds about 1.7 MB of
# shared libraries resident before it does anything (README, Benchmarks).
linkage=static
if grep -q '/libc[.-]' "/proc/$publisher/maps"; then linkage=dynamic; fi
states=$(grep -c '"energy_total"' "$work/got" || true)
# Seconds of CPU a day, from each minute's.
awk '{ print $1 * 1440 / 1e9 }' "$work/windows" | sort -g > "$work/day"
median=$(median "$work/day")
lowest=$(head -n 1 "$work/day")
polls=$(awk '{ n += $2 } END { print n }' "$work/windows")
figure "publish, CPU per day of 5-s polls (x86_64, quietest 60-s window)" \
	"$(awk -v l="$lowest" 'BEGIN { printf "%.2f", l }')" s "<=" 1.0 \
	"median of $windows windows $(awk -v m="$median" 'BEGIN { printf "%.2f", m }') s; $polls readings, $states state messages received"
figure "publish, peak RSS (x86_64 glibc, $linkage)" "$(awk -v h="$hwm" 'BEGIN { printf "%.2f", h / 1024 }')" MiB "<=" 2 \
	"a year of digested days, today's file growing"
# The floor of this machine: a bare loop of the system calls a published
# reading cannot do without (bench/publish-floor.rs), on the same daemon
# and broker, measured the same way.
rustc -O -o "$work/publish-floor" "$top/bench/publish-floor.rs"
"$work/publish-floor" "$shm" "$port" &
floor_pid=$!
pids+=("$floor_pid")
sleep 5
cpu_windows "$floor_pid" $((windows / 2 > 0 ? windows / 2 : 1)) 60 readings "$work/floor"
kill "$floor_pid"
floor=$(awk '{ print $1 * 1440 / 1e9 }' "$work/floor" | sort -g | head -n 1)
awk -v f="$floor" 'BEGIN { printf "     the floor here: a bare loop of a published reading'"'"'s system calls, %.2f s a day in its quietest window (%.0f us a reading)\n", f, f * 1e6 / 17280 }'
# The daemon stopped: the publisher only keeps the connection alive.
kill "$daemon"
wait "$daemon" 2> /dev/null || true
sleep 15
none() { echo 0; }
# A minute holds a keep-alive ping (every 45 s without other traffic).
cpu_windows "$publisher" 1 60 none "$work/idle"
read -r idle _ < "$work/idle"
figure "publish, CPU with the daemon stopped" "$(awk -v n="$idle" 'BEGIN { printf "%.3f", n / 60 * 86400 / 1e9 }')" "s a day" "<=" 1.0 \
	"$((idle / 1000)) us in 60 s (a keep-alive ping)"
