#!/usr/bin/env bash
# Shared by ci/serve-browser.sh and ci/serve-prometheus.sh: a simulated
# history in $1 (three digested days in January of this year, the 10th to
# the 12th, or the 20th to the 22nd when today is one of those) and a live
# daemon on the simulator writing today's file. Sourced; sets CONF, SIM_DAYS
# (the three dates) and starts processes whose pids go to $PIDS.
# Usage: . ci/serve-history.sh DIR BINARY PORT

hist_dir=$1
mcce=$2
port=$3
export TZ=Europe/Rome
mkdir -p "$hist_dir/data/days"
CONF="$hist_dir/mcce.conf"
cat > "$CONF" <<CONF
PORT=$hist_dir/ttyUSB0
POLL_SECONDS=1
MAX_GAP_SECONDS=15
REPLY_TIMEOUT_MS=400
DATA_DIR=$hist_dir/data
RUN_DIR=$hist_dir
DATABASE_URL=$hist_dir/db/pwr
BUZZER=none
SERVE_LISTEN=127.0.0.1:$port
CONF
year=$(date +%Y)
today=$(date +%F)
first=10
if [[ $today == "$year-01-1"[0-2] ]]; then first=20; fi
export SIM_DAYS="$year-01-$first $year-01-$((first + 1)) $year-01-$((first + 2))"
for day in $SIM_DAYS; do
	start=$(date -d "$day 00:00" +%s)
	awk -v s="$start" 'BEGIN { for (t = s; t < s + 86400; t += 5) printf "%.0f %d\n", t, 300 + (int(t / 5) % 200) * 10 }' \
		> "$hist_dir/data/days/$day"
done
"$mcce" digest -c "$CONF" > /dev/null
"$mcce" sim --link "$hist_dir/ttyUSB0" --seed 5 > /dev/null 2> "$hist_dir/sim.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -e "$hist_dir/ttyUSB0" ] && break; sleep 0.1; done
"$mcce" run -c "$CONF" 2> "$hist_dir/daemon.log" &
PIDS+=($!)
"$mcce" serve -c "$CONF" 2> "$hist_dir/serve.log" &
PIDS+=($!)
for _ in $(seq 100); do
	grep -q "meter=ok" "$hist_dir/status" 2> /dev/null && grep -q serving "$hist_dir/serve.log" && break
	sleep 0.1
done
grep -q serving "$hist_dir/serve.log" || { cat "$hist_dir/serve.log"; exit 1; }
