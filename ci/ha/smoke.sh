#!/usr/bin/env bash
# Shows that the Home Assistant rig works end to end, with a hand-written
# MQTT discovery config standing in for a publisher: a real mosquitto on
# 127.0.0.1, Home Assistant 2024.3.3 (ci/ha/setup.sh) connected to it, a
# retained discovery config and state for an energy sensor sent with
# mosquitto_pub; then the entity must appear in /api/states with
# device_class energy, state_class total_increasing and unit kWh, the Energy
# dashboard's check must accept it as grid consumption (before HA's first
# statistics run only statistics_not_defined is expected), and an "offline"
# on its availability topic (what a Last Will sends) must make it
# unavailable; a power sensor offered as grid consumption must be refused.
# Prints how long installing and starting took.
# Usage: ci/ha/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
mosquitto_pid=
cleanup() {
	ci/ha/setup.sh stop "$work/ha" || true
	[ -z "$mosquitto_pid" ] || kill "$mosquitto_pid" 2> /dev/null || true
	wait 2> /dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

t0=$SECONDS
venv=$(ci/ha/setup.sh install)
installed=$((SECONDS - t0))

mqtt_port=$(free_port)
http_port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n' "$mqtt_port" > "$work/mosquitto.conf"
/usr/sbin/mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
mosquitto_pid=$!

t0=$SECONDS
ci/ha/setup.sh start "$work/ha" "$http_port" "$mqtt_port"
started=$((SECONDS - t0))
echo "ok: Home Assistant up on 127.0.0.1:$http_port (install ${installed} s, start ${started} s)"

check() { "$venv/bin/python" ci/ha/check.py --url "http://127.0.0.1:$http_port" --token "$work/ha/token" "$@"; }
pub() { mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -q 1 -r -t "$1" -m "$2"; }

base=mcce/ci-smoke
pub "$base/availability" online
pub "$base/state" '{"energy_total": 12.345}'
pub homeassistant/sensor/mcce_ci_smoke/energy_total/config "$(
	cat <<-JSON
		{"name": "Energy total", "unique_id": "mcce_ci_smoke_energy_total",
		 "state_topic": "$base/state", "value_template": "{{ value_json.energy_total }}",
		 "availability_topic": "$base/availability",
		 "unit_of_measurement": "kWh", "device_class": "energy", "state_class": "total_increasing",
		 "device": {"identifiers": ["mcce_ci_smoke"], "name": "mcce ci smoke",
		            "manufacturer": "ecodhome", "model": "MCEE"}}
	JSON
)"

entity=sensor.mcce_ci_smoke_energy_total
check wait-state "$entity" --state 12.345 --attr device_class=energy \
	--attr state_class=total_increasing --attr unit_of_measurement=kWh --timeout 60 > /dev/null ||
	fail "the discovered sensor did not appear as asked"
echo "ok: $entity is 12.345 kWh, device_class energy, state_class total_increasing"

check energy "$entity" --allow statistics_not_defined > "$work/validate.json" ||
	fail "the Energy dashboard's check refused $entity"
echo "ok: energy/validate: $(tr -d ' \n' < "$work/validate.json")"

# The check can refuse: a power sensor is no grid consumption.
pub homeassistant/sensor/mcce_ci_smoke/power/config "$(
	cat <<-JSON
		{"name": "Power", "unique_id": "mcce_ci_smoke_power", "state_topic": "$base/state",
		 "value_template": "{{ value_json.power }}", "unit_of_measurement": "W",
		 "device_class": "power", "state_class": "measurement",
		 "device": {"identifiers": ["mcce_ci_smoke"]}}
	JSON
)"
pub "$base/state" '{"energy_total": 12.345, "power": 800}'
check wait-state sensor.mcce_ci_smoke_power --state 800 --timeout 60 > /dev/null ||
	fail "the power sensor did not appear"
if check energy sensor.mcce_ci_smoke_power --allow statistics_not_defined > "$work/power.json" 2>&1; then
	fail "the Energy dashboard's check accepted a power sensor as grid consumption"
fi
grep -q entity_unexpected_device_class "$work/power.json" ||
	{ cat "$work/power.json"; fail "the Energy dashboard's check refused the power sensor for another reason"; }
echo "ok: energy/validate refuses a power sensor as grid consumption (entity_unexpected_device_class)"

pub "$base/availability" offline
check wait-state "$entity" --state unavailable --timeout 30 > /dev/null ||
	fail "$entity stayed available after offline"
echo "ok: offline on the availability topic makes $entity unavailable"
echo "ha smoke: all passed"
