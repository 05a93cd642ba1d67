#!/usr/bin/env bash
# mcce publish against the real thing, all on 127.0.0.1: mosquitto with its
# own config, Home Assistant 2024.3.3 (ci/ha/setup.sh) with the MQTT
# integration on it, the daemon on the simulator (POLL_SECONDS=1), a
# history of two digested days and one not digested yet. Checks, as Home
# Assistant's own API and Energy dashboard see them:
#   1. the device's entities appear with their classes, units and options;
#   2. their values follow the meter (the daemon frozen: the power is the
#      status file's; meter connected, recording on, the band);
#   3. the energy total is the history's sum (stored, not digested, today)
#      and the Energy dashboard's check accepts it (before Home Assistant's
#      first statistics run only statistics_not_defined is expected);
#   4. a digest that stores a day and prunes two files leaves the total as
#      it was; a day stored again from a file cut to half (the history's
#      sum sinks) leaves it too, also across a restart of the publisher; a
#      clean stop and a start, and a kill -9 (the Last Will: everything
#      unavailable), bring it back no lower;
#   5. a broker restart (its retained messages gone) brings the values back;
#   6. a stopped daemon makes the power unavailable, the totals stay;
#   7. over the whole run Home Assistant recorded no decrease of the total,
#      and logged no error about the device.
# Usage: ci/ha/publish-check.sh [BINARY]   (default target/debug/mcce)
set -euo pipefail
cd "$(dirname "$0")/../.."
mcce=$(realpath "${1:-target/debug/mcce}")
fail() { echo "FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
export TZ=Europe/Rome
PIDS=()
mosquitto_pid=
publish_pid=
daemon_pid=
cleanup() {
	ci/ha/setup.sh stop "$work/ha" || true
	for p in $publish_pid $daemon_pid $mosquitto_pid "${PIDS[@]}"; do
		kill -CONT "$p" 2> /dev/null || true
		kill "$p" 2> /dev/null || true
	done
	wait 2> /dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mqtt_port=$(free_port)
http_port=$(free_port)

venv=$(ci/ha/setup.sh install)
check() { "$venv/bin/python" ci/ha/check.py --url "http://127.0.0.1:$http_port" --token "$work/ha/token" "$@"; }
state_of() { check wait-state "$1" --timeout 0 2> /dev/null | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["state"])'; }

# --- the broker ---
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mqtt_port" > "$work/mosquitto.conf"
[ "$(id -u)" != 0 ] || echo "user root" >> "$work/mosquitto.conf"
start_broker() {
	/usr/sbin/mosquitto -c "$work/mosquitto.conf" >> "$work/mosquitto.log" 2>&1 &
	mosquitto_pid=$!
	for _ in $(seq 50); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $mqtt_port), 1)" 2> /dev/null && return
		sleep 0.1
	done
	fail "mosquitto did not listen on 127.0.0.1:$mqtt_port"
}
start_broker

# --- the history: two days digested (their files kept for now), one not ---
mkdir -p "$work/data/days" "$work/run"
conf=$work/mcce.conf
cat > "$conf" <<-CONF
	PORT=$work/ttyUSB0
	POLL_SECONDS=1
	REPLY_TIMEOUT_MS=400
	DATA_DIR=$work/data
	RUN_DIR=$work/run
	DATABASE_URL=$work/db/pwr
	BUZZER=none
	KEEP_RAW_DAYS=1
	CONTRACT_WATTS=6000
	MQTT_URL=mqtt://127.0.0.1:$mqtt_port
	MQTT_TOPIC=mcce/ci
	MQTT_CLIENT_ID=mcce-ci
CONF
day() { date -d "$1 days ago" +%F; }
for n in 3 2 1; do
	start=$(date -d "$(day "$n") 00:00" +%s)
	end=$(date -d "$(day $((n - 1))) 00:00" +%s)
	awk -v s="$start" -v e="$end" -v w=$((400 * n)) \
		'BEGIN { for (t = s; t < e; t += 5) printf "%d %d\n", t, w + (int(t / 5) % 100) * 10 }' \
		> "$work/data/days/$(day "$n")"
	# Two days digested before the publisher starts, their files kept.
	[ "$n" = 1 ] || KEEP_RAW_DAYS=0 "$mcce" digest -c "$conf" > /dev/null
done
days_left() { local f=("$work"/data/days/*); echo "${#f[@]}"; }
[ "$(days_left)" = 3 ] || fail "the history is not three day files"

# --- Home Assistant, the daemon, the publisher ---
t0=$SECONDS
ci/ha/setup.sh start "$work/ha" "$http_port" "$mqtt_port"
echo "ok: Home Assistant up on 127.0.0.1:$http_port in $((SECONDS - t0)) s"

"$mcce" sim --link "$work/ttyUSB0" --seed 3 > /dev/null 2> "$work/sim.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -e "$work/ttyUSB0" ] && break; sleep 0.1; done
start_daemon() {
	"$mcce" run -c "$conf" 2>> "$work/daemon.log" &
	daemon_pid=$!
	for _ in $(seq 100); do grep -q "meter=ok" "$work/run/status" 2> /dev/null && return; sleep 0.1; done
	cat "$work/daemon.log"
	fail "the daemon did not read the simulated meter"
}
start_daemon
start_publisher() {
	"$mcce" publish -c "$conf" 2>> "$work/publish.log" &
	publish_pid=$!
}
start_publisher

e=sensor.mcce_ci
b=binary_sensor.mcce_ci
want() { check wait-state "$@" --timeout 60 > /dev/null || { tail -n 20 "$work/publish.log"; fail "$1 not as expected"; }; }
want "$e"_power --attr device_class=power --attr unit_of_measurement=W --attr state_class=measurement
want "$e"_energy_total --attr device_class=energy --attr unit_of_measurement=kWh --attr state_class=total_increasing
want "$e"_energy_today --attr device_class=energy --attr unit_of_measurement=kWh
! check wait-state "$e"_energy_today --timeout 0 | grep -q state_class ||
	fail "energy today has a state_class"
# (The band's options: Home Assistant's MQTT sensor takes them from 2024.9.)
want "$e"_band --attr device_class=enum
want "$e"_trip_in --attr device_class=duration --attr unit_of_measurement=s
want "$b"_warning --attr device_class=problem
want "$b"_meter --attr device_class=connectivity --state on
want "$b"_recording --attr device_class=running --state on
echo "ok: 8 entities with their classes and units; meter connected, recording on"

# --- the values follow the meter ---
kill -STOP "$daemon_pid"
sleep 0.5
watts=$(sed -n 's/^watts=//p' "$work/run/status")
band=$(sed -n 's/^band=//p' "$work/run/status")
want "$e"_power --state "$watts"
want "$e"_band --state "$band"
kill -CONT "$daemon_pid"
echo "ok: power $watts W and band $band, as the daemon's status says"

# --- the energy total: the history's sum, and the Energy dashboard ---
check energy "$e"_energy_total --allow statistics_not_defined > "$work/validate.json" ||
	fail "the Energy dashboard's check refused the energy total"
echo "ok: energy/validate: $(tr -d ' \n' < "$work/validate.json")"
# The same message carries both figures: their difference is the days
# before today, two stored and one from its file, which the digest then
# stores and prunes the two oldest files: the total stays.
total=$(state_of "$e"_energy_total)
today=$(state_of "$e"_energy_today)
"$mcce" digest -c "$conf" > "$work/digest.out" || { cat "$work/digest.out"; fail "the digest failed"; }
[ "$(days_left)" = 2 ] || fail "the digest did not prune the two oldest files"
past=$("$mcce" export -c "$conf" --from "$(day 3)" --to "$(day 1)" --resolution day |
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "kwh") k = i; next } { s += $k } END { print s }')
python3 -c "import sys; t, d, p = map(float, sys.argv[1:]); sys.exit(abs(t - d - p) > 0.02)" "$total" "$today" "$past" ||
	fail "energy total $total kWh is not the past days' $past kWh and today's $today kWh"
echo "ok: energy total $total kWh = $past kWh before today (digested) + $today kWh today"

# Each check after this one: the total at least what it was.
no_lower() {
	local now
	now=$(state_of "$e"_energy_total)
	python3 -c "import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))" "$now" "$total" ||
		fail "$1: the energy total went from $total to $now kWh"
	total=$now
}
wait_numeric() {
	local s=
	for _ in $(seq 120); do
		s=$(state_of "$1") || true
		python3 -c "import sys; float(sys.argv[1])" "$s" 2> /dev/null && return
		sleep 0.5
	done
	fail "$1 stayed $s"
}
sleep 3
no_lower "the digest"
echo "ok: after the digest and the pruning, the total is $total kWh"

# --- a day stored again from a shorter file: the history's sum sinks by
# half a day, the total holds, also across a restart (the saved total) ---
yesterday=$work/data/days/$(day 1)
head -c "$(($(stat -c %s "$yesterday") / 2))" "$yesterday" | sed '$d' > "$work/half"
mv "$work/half" "$yesterday"
"$mcce" digest -c "$conf" > "$work/digest2.out" || { cat "$work/digest2.out"; fail "the second digest failed"; }
grep -q "changed since it was digested" "$work/digest2.out" || { cat "$work/digest2.out"; fail "the day was not digested again"; }
# The publisher brings the energy figures up to date once a minute: until
# it says it holds the total, or the total goes down.
lower() { python3 -c "import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))" "$(state_of "$e"_energy_total)" "$total" 2> /dev/null; }
for _ in $(seq 160); do
	grep -q "below the" "$work/publish.log" && break
	lower && break
	sleep 0.5
done
no_lower "a day stored again from a shorter file"
grep "below the" "$work/publish.log" || fail "the publisher did not say it holds the total"
kill "$publish_pid"
wait "$publish_pid" || fail "mcce publish did not exit 0 on SIGTERM"
start_publisher
wait_numeric "$e"_energy_total
no_lower "a restart while the total is held"
echo "ok: the total holds at $total kWh over a lower history, also across a restart"

# --- a clean restart, then kill -9 (the Last Will) ---
kill "$publish_pid"
wait "$publish_pid" || fail "mcce publish did not exit 0 on SIGTERM"
want "$e"_energy_total --state unavailable
start_publisher
wait_numeric "$e"_energy_total
no_lower "a restart of the publisher"
kill -9 "$publish_pid"
wait "$publish_pid" 2> /dev/null || true
want "$e"_energy_total --state unavailable
want "$e"_power --state unavailable
want "$b"_meter --state unavailable
echo "ok: kill -9 of the publisher makes its entities unavailable (Last Will)"
start_publisher
wait_numeric "$e"_power
wait_numeric "$e"_energy_total
no_lower "a start after kill -9"
echo "ok: a start after kill -9 brings them back, the total at $total kWh"

# --- a broker restart, its retained messages gone ---
kill "$mosquitto_pid"
wait "$mosquitto_pid" 2> /dev/null || true
want "$e"_power --state unavailable
start_broker
wait_numeric "$e"_power
wait_numeric "$e"_energy_total
no_lower "a broker restart"
echo "ok: a broker restart brings the values back"

# --- a stopped daemon: the power unavailable, the totals stay ---
kill "$daemon_pid"
wait "$daemon_pid" || true
want "$e"_power --state unavailable
wait_numeric "$e"_energy_total
want "$b"_recording --state off
echo "ok: a stopped daemon makes the power unavailable; the energy total stays"
start_daemon
wait_numeric "$e"_power
no_lower "the daemon back"

# --- the whole run as Home Assistant recorded it ---
check history "$e"_energy_total --increasing > "$work/history.txt" ||
	{ cat "$work/history.txt"; fail "Home Assistant recorded a decrease of the energy total"; }
echo "ok: $(wc -l < "$work/history.txt") recorded values of the energy total, none lower than the one before"
# (Its MQTT client says when the broker went away: that was on purpose.)
if grep -E "ERROR|WARNING" "$work/ha/hass.log" | grep -i -E "mqtt|mcce" |
	grep -v "Disconnected from MQTT server"; then
	fail "Home Assistant logged the above about the MQTT device"
fi
echo "publish check: all passed"
