#!/usr/bin/env bash
# A real Prometheus (Debian's package) scrapes `mcce serve` every second on
# 127.0.0.1; its HTTP API must then return mcce_power_watts equal to
# /api/now, and the series must hold samples; after a reload with
# CONTRACT_WATTS below the simulated power, the contract band's series.
# Usage: ci/serve-prometheus.sh [BINARY]   (default target/debug/mcce)
set -euo pipefail
cd "$(dirname "$0")/.."
mcce=$(realpath "${1:-target/debug/mcce}")
work=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -CONT "$p" 2> /dev/null || true; kill "$p" 2> /dev/null || true; done
	wait 2> /dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
port=18392
prom=18393
# shellcheck source=ci/serve-history.sh
. ci/serve-history.sh "$work" "$mcce" "$port"
daemon_pid=${PIDS[1]}

cat > "$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: mcce
    static_configs:
      - targets: ["127.0.0.1:$port"]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
	--web.listen-address="127.0.0.1:$prom" > "$work/prometheus.log" 2>&1 &
PIDS+=($!)

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
query() { curl -sf "http://127.0.0.1:$prom/api/v1/query" --data-urlencode "query=$1"; }

# Let a few scrapes land, then freeze the daemon: its status stays as it is
# (still fresh for 30 s), so /api/now and the scrapes agree on one value.
ok=""
for _ in $(seq 60); do
	n=$(query 'count_over_time(mcce_power_watts[1m])' | json 'd["data"]["result"][0]["value"][1] if d["data"]["result"] else 0' 2> /dev/null || echo 0)
	if [ "${n%.*}" -ge 3 ]; then ok=yes; break; fi
	sleep 0.5
done
[ -n "$ok" ] || { echo "FAIL: no scrapes of mcce_power_watts"; tail -5 "$work/prometheus.log"; exit 1; }
kill -STOP "$daemon_pid"
sleep 3
now=$(curl -sf "http://127.0.0.1:$port/api/now" | json 'd["watts"]')
got=$(query 'mcce_power_watts' | json 'd["data"]["result"][0]["value"][1]')
samples=$(query 'count_over_time(mcce_power_watts[1m])' | json 'd["data"]["result"][0]["value"][1]')
up=$(query 'up{job="mcce"}' | json 'd["data"]["result"][0]["value"][1]')
kill -CONT "$daemon_pid"
echo "Prometheus: mcce_power_watts=$got, /api/now watts=$now, $samples samples in the last minute, up=$up"
[ "$got" = "$now" ] || { echo "FAIL: mcce_power_watts $got differs from /api/now $now"; exit 1; }
[ "${samples%.*}" -ge 3 ] || { echo "FAIL: only $samples samples"; exit 1; }
[ "$up" = "1" ] || { echo "FAIL: target not up"; exit 1; }
for m in mcce_energy_today_joules mcce_meter_up mcce_data_free_bytes 'mcce_polls_total{outcome="ok"}' mcce_build_info; do
	v=$(query "$m" | json 'd["data"]["result"][0]["value"][1]')
	echo "  $m = $v"
done

# The contract band: CONTRACT_WATTS below the simulated power (140 W and
# up) and a reload; the band series, three of them, "over" set, and a
# predicted trip must reach Prometheus.
echo "CONTRACT_WATTS=100" >> "$CONF"
kill -HUP "$daemon_pid"
band=""
for _ in $(seq 40); do
	band=$(query 'mcce_contract_band == 1' | json 'd["data"]["result"][0]["metric"]["band"] if d["data"]["result"] else ""' 2> /dev/null || true)
	[ "$band" = over ] && break
	sleep 0.5
done
[ "$band" = over ] || { echo "FAIL: mcce_contract_band{band=\"over\"} never 1 after CONTRACT_WATTS=100"; exit 1; }
series=$(query 'count(mcce_contract_band)' | json 'd["data"]["result"][0]["value"][1]')
trip=$(query 'mcce_trip_predicted_seconds' | json 'd["data"]["result"][0]["value"][1] if d["data"]["result"] else ""')
echo "  mcce_contract_band: $series series, band=\"$band\" at 1; mcce_trip_predicted_seconds = $trip"
[ "$series" = 3 ] || { echo "FAIL: $series mcce_contract_band series, expected 3"; exit 1; }
[ -n "$trip" ] || { echo "FAIL: no mcce_trip_predicted_seconds in the over band"; exit 1; }
echo "ok: Prometheus scraped mcce serve"
