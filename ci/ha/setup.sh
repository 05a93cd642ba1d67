#!/usr/bin/env bash
# Home Assistant for CI: the real thing, offline, on 127.0.0.1.
#
#   ci/ha/setup.sh install
#       Installs Home Assistant 2024.3.3 into a virtualenv and prints its
#       path. Kept between runs (MCCE_HA_VENV; default /var/cache/mcce/ha-venv
#       when that can be written, else target/ha-venv): a second run that finds
#       it with the same pins takes a second; a fresh machine builds it from
#       PyPI.
#   ci/ha/setup.sh start DIR HTTP_PORT MQTT_PORT
#       Makes DIR a Home Assistant configuration (http on 127.0.0.1:HTTP_PORT,
#       api, energy, recorder; the MQTT integration pre-seeded as a config
#       entry for the broker on 127.0.0.1:MQTT_PORT with discovery on), adds the
#       user "mcce", starts hass in the background (DIR/hass.pid, DIR/hass.log),
#       waits until it answers, and writes an access token to DIR/token.
#   ci/ha/setup.sh stop DIR
#       Stops that hass (SIGTERM, then SIGKILL after 30 s).
#
# 2024.3.3 is the newest release that installs on Debian bookworm's Python
# 3.11. It is installed with Home Assistant's own constraints (the wheel's
# homeassistant/package_constraints.txt) plus josepy<2, and with the
# packages its always-loaded integrations need, pinned: without them
# hass --skip-pip (no installing at run time, as offline) starts in
# recovery mode.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

version=2024.3.3
pins=(paho-mqtt==1.6.1 janus==1.0.0 Pillow==10.2.0 psutil-home-assistant==0.0.1 securetar==2024.2.1
	home-assistant-frontend==20240307.0 SQLAlchemy==2.0.27 fnv-hash-fast==0.5.0 numpy==1.26.0)
python=${MCCE_HA_PYTHON:-/usr/bin/python3}
user=mcce
password=mcce-ci-password

default_venv() {
	if mkdir -p /var/cache/mcce 2> /dev/null && [ -w /var/cache/mcce ]; then
		echo /var/cache/mcce/ha-venv
	else
		echo "$top/target/ha-venv"
	fi
}
venv=${MCCE_HA_VENV:-$(default_venv)}

install() {
	local stamp="homeassistant==$version ${pins[*]} josepy<2 $python"
	if [ "$(cat "$venv/mcce-pins" 2> /dev/null)" = "$stamp" ]; then
		echo "$venv"
		return
	fi
	"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
		fail "$python is not Python 3.11 (MCCE_HA_PYTHON); Home Assistant $version needs it"
	local work
	work=$(mktemp -d)
	# A virtualenv cannot be moved, so it is built in place; the stamp,
	# written last, says it is whole.
	rm -rf "$venv"
	"$python" -m venv "$venv" >&2
	local pip=("$venv/bin/pip" install -q --disable-pip-version-check)
	"$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$work" "homeassistant==$version" >&2
	local wheel=("$work"/homeassistant-"$version"-*.whl)
	"$venv/bin/python" - "${wheel[0]}" "$work/constraints.txt" <<-'EOF'
		import sys, zipfile
		text = zipfile.ZipFile(sys.argv[1]).read("homeassistant/package_constraints.txt").decode()
		open(sys.argv[2], "w").write(text + "\njosepy<2\n")
	EOF
	"${pip[@]}" -c "$work/constraints.txt" "${wheel[0]}" "${pins[@]}" >&2
	rm -rf "$work"
	echo "$stamp" > "$venv/mcce-pins"
	echo "$venv"
}

# The configuration, the MQTT config entry and the user; HA reads them at
# start.
configure() {
	local dir=$1 http_port=$2 mqtt_port=$3
	mkdir -p "$dir/.storage"
	cat > "$dir/configuration.yaml" <<-YAML
		homeassistant:
		  name: mcce CI
		  unit_system: metric
		  time_zone: Europe/Rome
		  currency: EUR
		  country: IT
		  latitude: 45.46
		  longitude: 9.19
		  elevation: 120
		http:
		  server_host: 127.0.0.1
		  server_port: $http_port
		api:
		energy:
		recorder:
		logger:
		  default: warning
	YAML
	cat > "$dir/.storage/core.config_entries" <<-JSON
		{"version": 1, "minor_version": 1, "key": "core.config_entries", "data": {"entries": [
		  {"entry_id": "mcceci0mqtt0entry0000000000000", "version": 1, "minor_version": 1,
		   "domain": "mqtt", "title": "127.0.0.1",
		   "data": {"broker": "127.0.0.1", "port": $mqtt_port, "discovery": true},
		   "options": {}, "pref_disable_new_entities": false, "pref_disable_polling": false,
		   "source": "user", "unique_id": null, "disabled_by": null}]}}
	JSON
	"$venv/bin/hass" --script auth -c "$dir" add "$user" "$password" > /dev/null
}

start() {
	local dir=$1 http_port=$2 mqtt_port=$3
	[ -x "$venv/bin/hass" ] || fail "no Home Assistant in $venv: run $0 install first"
	configure "$dir" "$http_port" "$mqtt_port"
	"$venv/bin/hass" -c "$dir" --skip-pip > "$dir/hass.log" 2>&1 &
	echo $! > "$dir/hass.pid"
	"$venv/bin/python" "$top/ci/ha/check.py" --url "http://127.0.0.1:$http_port" \
		token --user "$user" --password "$password" --wait 300 > "$dir/token" ||
		{ tail -n 30 "$dir/hass.log" >&2; fail "Home Assistant did not come up on 127.0.0.1:$http_port"; }
	if grep -q "recovery mode" "$dir/hass.log"; then
		tail -n 30 "$dir/hass.log" >&2
		fail "Home Assistant started in recovery mode"
	fi
}

stop() {
	local dir=$1 pid i
	pid=$(cat "$dir/hass.pid" 2> /dev/null) || return 0
	kill "$pid" 2> /dev/null || return 0
	for i in $(seq 60); do
		kill -0 "$pid" 2> /dev/null || return 0
		[ "$i" = 60 ] || sleep 0.5
	done
	kill -9 "$pid" 2> /dev/null || true
}

case "${1:-}" in
	install) install ;;
	start) [ $# = 4 ] || fail "usage: $0 start DIR HTTP_PORT MQTT_PORT"; start "$2" "$3" "$4" ;;
	stop) [ $# = 2 ] || fail "usage: $0 stop DIR"; stop "$2" ;;
	*) fail "usage: $0 install | start DIR HTTP_PORT MQTT_PORT | stop DIR" ;;
esac
