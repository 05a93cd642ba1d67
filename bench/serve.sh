#!/usr/bin/env bash
# `mcce serve` under load (called by bench/run.sh, or alone):
#   bench/serve.sh [BINARY]   (default target/release/mcce; bench/run.sh
#                              passes its static build, as the image's)
# wrk with 1 and 64 connections for /api/now and a full day's raw JSON
# (17 280 samples) — the same day again (served from the cache, as for
# several pages showing today) and three days in turn (rendered every
# time); /metrics with a 160 MB day file for today (its running total is
# read once, then each scrape reads what was appended); serve's peak RSS;
# its CPU while idle afterwards. Each figure beside its target
# (bench/targets.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/targets.sh
. "$top/bench/targets.sh"
bin=$(realpath "${1:-$top/target/release/mcce}")
command -v wrk > /dev/null || { echo "serve: wrk not installed (apt-get install wrk), skipped"; exit 0; }
work=$(mktemp -d /tmp/mcce-bench-serve.XXXXXX)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2> /dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
export TZ=Europe/Rome
mkdir -p "$work/data/days"
cat > "$work/mcce.conf" <<CONF
DATA_DIR=$work/data
RUN_DIR=$work
DATABASE_URL=$work/db/pwr
CONF
for day in 2025-06-15 2025-06-16 2025-06-17; do
	start=$(date -d "$day 00:00" +%s)
	awk -v s="$start" 'BEGIN { for (t = s; t < s + 86400; t += 5) printf "%d %d\n", t, 300 + int(t / 5) % 4000 }' \
		> "$work/data/days/$day"
done
"$bin" digest -c "$work/mcce.conf" > /dev/null
now=$(date +%s)
# Today: 160 MB, every sample so far repeated (a damaged file).
awk -v s="$(date -d 00:00 +%s)" -v e="$now" 'BEGIN { for (r = 0; r < 10000000; r++) printf "%d %d\n", s + int(r * (e - s) / 10000000), 1000 }' \
	> "$work/data/days/$(date +%F)"
printf 'pid=1\nupdated=%s\nreading_at=%s\nwatts=1234\nmeter=ok\nalarm=off\nrecording=ok\npolls=ok:1\n' "$now" "$now" > "$work/status"
# An ephemeral port: a fixed one may be taken by another server on the box.
"$bin" serve -c "$work/mcce.conf" --listen 127.0.0.1:0 2> "$work/serve.log" &
pid=$!
for _ in $(seq 50); do grep -qs serving "$work/serve.log" && break; sleep 0.1; done
port=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\) .*|\1|p' "$work/serve.log")
[ -n "$port" ] || { echo "serve: did not start:"; cat "$work/serve.log"; exit 1; }

# Three days asked in turn: every request renders its day anew (the server
# keeps the last two days rendered), the worst case.
cat > "$work/alternate.lua" <<'LUA'
local n = 0
local days = { "/api/day/2025-06-15", "/api/day/2025-06-16", "/api/day/2025-06-17" }
request = function()
	n = n + 1
	return wrk.format("GET", days[n % 3 + 1])
end
LUA
load() { # label, connections, target requests/s, path [wrk options]
	local rps
	rps=$(wrk -t "$(( $2 < 2 ? 1 : 2 ))" -c "$2" -d 10s "${@:5}" "http://127.0.0.1:$port$4" | awk '/^Requests\/sec/ { print $2 }')
	figure "serve $1, $2 connection(s)" "$rps" requests/s ">=" "$3"
}
load "/api/now" 1 2000 /api/now
load "/api/now" 64 2000 /api/now
bytes=$(curl -s "http://127.0.0.1:$port/api/day/2025-06-15" | wc -c)
load "/api/day raw ($bytes bytes)" 1 200 /api/day/2025-06-15
load "/api/day raw ($bytes bytes)" 64 200 /api/day/2025-06-15
load "/api/day raw, three days in turn (rendered every time)" 1 200 / -s "$work/alternate.lua"
load "/api/day raw, three days in turn (rendered every time)" 64 200 / -s "$work/alternate.lua"
scrape() { curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/metrics"; }
first=$(scrape)
# Then ten scrapes, each after the daemon's next sample: the slowest.
today=$work/data/days/$(date +%F)
for _ in $(seq 10); do
	echo "$(date +%s) 1000" >> "$today"
	scrape
done | sort -g | tail -n 1 > "$work/slowest"
figure "serve /metrics, 160 MB day file for today (10 million lines), slowest of 10 scrapes after the first" \
	"$(awk '{ printf "%.1f", $1 * 1000 }' "$work/slowest")" ms "<=" 50 "first scrape $(awk -v f="$first" 'BEGIN { printf "%.2f", f }') s"
load "/metrics (160 MB day file for today)" 1 20 /metrics
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
cpu0=$(cat "/proc/$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }')
sleep 10
cpu1=$(cat "/proc/$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }')
figure "serve, peak RSS under that load (up to 64 clients)" "$(awk -v h="$hwm" 'BEGIN { printf "%.2f", h / 1024 }')" MiB "<=" 6
figure "serve, CPU over 10 s idle afterwards" "$((cpu1 - cpu0))" ns "<=" 0
