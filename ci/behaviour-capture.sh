#!/usr/bin/env bash
# Runs mcce the way its users do, on a fixed history, and keeps every
# answer: stdout, stderr and exit code of each command line, the bodies,
# status lines and headers of `mcce serve`'s pages. Two captures of two
# builds are compared with `diff -r`: a change that only moves code must
# leave them byte-identical.
#
#   ci/behaviour-capture.sh BIN OUTDIR
#
# OUTDIR gets NAME.out, NAME.err and NAME.code per command line, and
# http/NAME.{head,body} per request. Only what depends on the moment is
# masked: the scratch directory's path, today's and yesterday's dates, the
# port, ages counted from now, today's measured-so-far figures and the
# free bytes of the scratch file system. Time zone Europe/Rome, C locale,
# an environment with no configuration variables in it.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 BIN OUTDIR" >&2
	exit 64
fi
bin=$(realpath "$1")
mkdir -p "$2"
out=$(realpath "$2")
rm -rf "${out:?}"/*
mkdir -p "$out/http"
work=$(mktemp -d /tmp/mcce-capture.XXXXXX)
serve_pids=()
cleanup() {
	for p in "${serve_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

export TZ=Europe/Rome LC_ALL=C
today=$(date +%F)
yesterday=$(date -d yesterday +%F)
midnight() { date -d "$1 00:00:00" +%s; }

# ---------------------------------------------------------------- history
days=$work/data/days
mkdir -p "$days" "$work/run" "$work/db"

# Every STEP seconds from local midnight of DAY for HOURS hours, watts by
# an awk expression of i (the sample's index) and t (seconds into the day).
day_file() { # DAY STEP HOURS EXPR
	local start
	start=$(midnight "$1")
	awk -v s="$start" -v step="$2" -v n=$(($3 * 3600 / $2)) \
		"BEGIN { for (i = 0; i < n; i++) { t = i * step; printf \"%d %d\\n\", s + t, $4 } }"
}

# A winter day: base load, a cooking peak over the 3 kW contract's free
# band, an hour with the alarm's 4200 W crossed.
day_file 2024-12-31 5 24 '250 + (i * 37) % 400 + (t >= 68400 && t < 70200 ? 3100 : 0) + (t >= 72000 && t < 72300 ? 4400 : 0)' \
	> "$days/2024-12-31"
# A day with an hour's gap and a tolerated-band stretch long enough to warn.
day_file 2025-01-10 5 24 '300 + (i * 13) % 250 + (t >= 64800 && t < 66000 ? 3400 : 0) + (t >= 66000 && t < 66090 ? 4000 : 0)' \
	| awk -v s="$(midnight 2025-01-10)" '$1 < s + 36000 || $1 >= s + 39600' > "$days/2025-01-10"
# The Python version's format: one value per line every 5 s from midnight.
awk 'BEGIN { for (i = 0; i < 4320; i++) printf "%d\n", 400 + (i * 7) % 300 }' > "$days/2025-01-11"
# Garbage, a long line, repeated and outside stamps, a torn last line.
{
	day_file 2025-01-12 10 12 '500 + (i * 11) % 700'
	echo "not a sample"
	printf '%0100d\n' 7
	echo "$(($(midnight 2025-01-12) + 600)) 9999"
	echo "$(($(midnight 2025-01-12) - 100)) 123"
	echo "$(($(midnight 2025-01-12) + 50000)) 70000"
	printf '%s 42' "$(($(midnight 2025-01-12) + 60000))"
} > "$days/2025-01-12"
# Short and long days (DST), every 10 s.
day_file 2025-03-30 10 23 '600 + (i * 3) % 500' > "$days/2025-03-30"
day_file 2025-10-26 10 25 '700 + (i * 5) % 450' > "$days/2025-10-26"
# No energy: never stored. Mostly garbage: stored from the rest, kept.
day_file 2025-02-03 60 24 '0' > "$days/2025-02-03"
{
	day_file 2025-02-04 60 24 '800'
	for i in $(seq 1 3000); do echo "garbage line $i"; done
} > "$days/2025-02-04"
# Today: ten minutes just after midnight (the live view's running totals).
day_file "$today" 5 1 '(t < 600 ? 1000 + i % 50 : -1)' | awk '$2 >= 0' > "$days/$today"

conf=$work/mcce.conf
cat > "$conf" <<EOF
# capture
PORT=$work/no-meter
DATA_DIR=$work/data
RUN_DIR=$work/run
DATABASE_URL=$work/db/pwr
CONTRACT_WATTS=3000
PRICE_PER_KWH=0.25
BUZZER=none
LOG_LEVEL=info
EOF
plain=$work/plain.conf
grep -v CONTRACT_WATTS "$conf" > "$plain"
with() { # NAME LINES...: the capture's config plus these lines
	local f=$work/$1.conf
	shift
	cp "$conf" "$f"
	printf '%s\n' "$@" >> "$f"
	echo "$f"
}

# ------------------------------------------------------------- the runner
# One command line: NAME, then its arguments; stdin from $stdin.
stdin=/dev/null
run() {
	local name=$1
	shift
	local code=0
	env -i PATH="$PATH" TZ="$TZ" LC_ALL=C HOME="$work" "$bin" "$@" \
		< "$stdin" > "$out/$name.out" 2> "$out/$name.err" || code=$?
	echo "$code" > "$out/$name.code"
}

# ---------------------------------------------------------- help, usage
run help
run help-h -h
run help-long --help
run help-word help
run version -V
run version-long --version
for c in run read status beep gpio decode sim demo digest export report serve; do
	run "help-$c" "$c" --help
done
run usage-unknown frobnicate
run usage-run-bogus run --bogus
run usage-beep-seconds beep --seconds x
run usage-beep-range beep --seconds 61
run usage-beep-both beep --chirp --seconds 2
run usage-decode-config decode -c x
run usage-sim-silence sim --silence inf:1
run usage-sim-hangup sim --hangup 1:1e300
run usage-sim-stream sim --stream 60001
run usage-export-format export --format xml
run usage-export-resolution export --resolution weird
run usage-export-from export --from 2025-13-01
run usage-export-order export --from 2025-02-01 --to 2025-01-01
run usage-report-month report --month 2025-13
run usage-report-year report --year 20x5
run usage-gpio gpio
run usage-gpio-action gpio sideways
run usage-serve-listen serve --listen nowhere
run usage-demo-hours demo --hours 25
run usage-digest-date digest --date yesterday
run usage-missing-value export --from
run usage-config-missing status -c "$work/absent.conf"

# --------------------------------------------------------- config errors
i=0
while IFS= read -r line; do
	i=$((i + 1))
	printf 'PORT=/dev/ttyUSB0\n%s\n' "$line" > "$work/bad$i.conf"
	run "config-$i" status -c "$work/bad$i.conf"
done <<'EOF'
POL_SECONDS=5
ALARM_WATTS=lots
PORT=
DATA_DIR=/a b
just words
BUZZER_TONE_GPIO=17
ALARM_HYSTERESIS_WATTS=4200
CONTRACT_WATTS=3kW
CONTRACT_WATTS=99999999999
TOLERANCE_PERCENT=40
LONG_TRIP_MINUTES=1
WARN_BEFORE_SECONDS=10800
REPLY_TIMEOUT_MS=5000
DATABASE_URL=/var/lib/mcce/pwr
DATABASE_URL=/var/lib/mcce/db/
BUZZER=loud
LOG_LEVEL=chatty
SERVE_LISTEN=everywhere
SERVE_ALLOW=10.0.0.0/33
PRICE_PER_KWH=-1
KEY="unclosed
EOF
printf 'PORT=/dev/ttyUSB0\n# Citt\xe0\n' > "$work/latin1.conf"
run config-latin1 status -c "$work/latin1.conf"
env_case() { # NAME VAR=VALUE
	local name=$1 code=0
	env -i PATH="$PATH" TZ="$TZ" LC_ALL=C "$2" "$bin" status -c "$plain" \
		> "$out/$name.out" 2> "$out/$name.err" || code=$?
	echo "$code" > "$out/$name.code"
}
env_case config-env-baud BAUD=fast
env_case config-env-tolerance TOLERANCE_PERCENT=40

# ---------------------------------------------------- digest and history
run digest-catch-up digest -c "$conf"
run digest-again digest -c "$conf"
run digest-date digest -c "$conf" --date 2025-01-10
run digest-date-today digest -c "$conf" --date "$today"
run digest-date-missing digest -c "$conf" --date 2025-05-05
run digest-date-zero digest -c "$conf" --date 2025-02-03
run digest-date-garbage digest -c "$conf" --date 2025-02-04
run digest-no-days digest -c "$(with nodays "DATA_DIR=$work/nothing-here")"

for res in raw bucket day; do
	for fmt in csv json; do
		run "export-$res-$fmt" export -c "$conf" --from 2024-12-01 --to 2025-12-31 \
			--resolution "$res" --format "$fmt"
	done
done
run export-default-to export -c "$conf" --from 2025-01-01 --to 2025-01-31
run export-one-day export -c "$conf" --from 2025-01-12 --to 2025-01-12 --resolution raw
run export-empty export -c "$conf" --from 2023-01-01 --to 2023-12-31 --format json
run export-plain-days export -c "$plain" --from 2024-01-01 --to 2025-12-31

for p in "--month 2025-01" "--month 2025-03" "--month 2024-12" "--year 2025" "--year 2024" "--year 2023"; do
	# shellcheck disable=SC2086 # two words on purpose
	run "report-${p##* }" report -c "$conf" $p
	# shellcheck disable=SC2086
	run "report-plain-${p##* }" report -c "$plain" $p
done

# Retention on a copy: the stored days' raw files go, the others stay.
cp -a "$work/data" "$work/keep"
cp -a "$work/db" "$work/keepdb"
run digest-keep-raw digest -c "$(with keep "DATA_DIR=$work/keep" "DATABASE_URL=$work/keepdb/pwr" KEEP_RAW_DAYS=1)"
(cd "$work/keep/days" && ls) > "$out/digest-keep-raw.left"

# ---------------------------------------------------------------- status
now=$(date +%s)
old=$(midnight 2025-01-10)
status_file() { # DIR: a good status file in it
	mkdir -p "$1"
	{
		echo "pid=4242"
		echo "updated=$now"
		echo "reading_at=$((old + 43200))"
		echo "watts=3120"
		echo "meter=ok"
		echo "alarm=off"
		echo "recording=ok"
		echo "recording_since="
		echo "recording_error="
		echo "data_free=812345678"
		echo "data_total=16000000000"
		echo "polls=ok:17279,silent:1,unplugged:0,clock-unset:0"
		echo "band="
		echo "band_since="
		echo "trip_in_seconds="
		echo "warning="
		echo "band_stale_since="
	} > "$1/status"
}
status_case() { # NAME CONF-OR-PLAIN, then the lines that differ
	local name=$1 base=$2 dir=$work/run-$1
	shift 2
	status_file "$dir"
	local kv
	for kv in "$@"; do sed -i "s|^${kv%%=*}=.*|$kv|" "$dir/status"; done
	cp "$base" "$work/status-$name.conf"
	echo "RUN_DIR=$dir" >> "$work/status-$name.conf"
	run "status-$name" status -c "$work/status-$name.conf"
}
status_case ok "$plain"
status_case alarm "$plain" alarm=sounding watts=4500
status_case failing "$plain" recording=failing "recording_since=$((old + 3600))" "recording_error=No space left on device"
status_case held "$plain" recording=held "recording_since=$((old + 60))"
status_case starting "$plain" recording=starting reading_at= watts= meter=silent
status_case low-space "$plain" data_free=1000
status_case unknown-space "$plain" data_free= data_total=
status_case contract "$conf" band=tolerated "band_since=$((old + 40000))" trip_in_seconds=95 warning=notice
status_case contract-urgent "$conf" band=over "band_since=$((old + 40000))" trip_in_seconds=30 warning=urgent alarm=sounding
status_case contract-stale "$conf" band=tolerated "band_since=$((old + 40000))" trip_in_seconds=400 warning=notice "band_stale_since=$((old + 43000))" meter=unplugged
status_case contract-free "$conf" band=free "band_since=$((old + 40000))" warning=quiet
status_case stale "$plain" "updated=$((old + 43205))"
status_case garbled "$plain" meter=sideways
run status-absent status -c "$(with absent "RUN_DIR=$work/no-daemon")"

# ----------------------------------------------------------------- decode
printf '\x10S0222\x30\x0c1S03\x99' > "$work/one.bin"
{
	printf 'S0111\x01\x00S0222\x30\x0c1S03\x02\x01\r\n'
	printf 'noise\x00\x01S0222\x011S03'
	printf 'S0222\xff\xff\x12\x341S03S0222S0222\x10\x271S03'
	printf 'S02221S03'
} > "$work/many.bin"
printf '53 30 32 32 32 30 0C 31 53 30 33\n0x53:0x30:0x32:0x32:0x32,c8,00,31,53,30,33\n' > "$work/hex.txt"
printf '53 30 3\n' > "$work/badhex.txt"
stdin=$work/one.bin run decode-one decode
stdin=$work/many.bin run decode-many decode
stdin=$work/hex.txt run decode-hex decode --hex
stdin=$work/badhex.txt run decode-bad-hex decode --hex
stdin=$work/hex.txt run decode-hex-as-raw decode
run decode-empty decode

# -------------------------------------------- commands that need hardware
run read-no-port read -c "$conf"
run beep-none beep -c "$conf"
gpio_conf=$(with gpio BUZZER=gpio BUZZER_GPIO_CHIP=no-such-chip)
run beep-no-chip beep -c "$gpio_conf"
run gpio-low-none gpio low -c "$conf"
run gpio-low-no-chip gpio low -c "$gpio_conf"
run run-config-error run -c "$work/bad1.conf"
run run-data-dir-under-a-file run -c "$(with underfile "DATA_DIR=$conf/data")"
mkdir -p "$work/locked"
flock "$work/locked" sleep 30 &
locker=$!
sleep 0.3
run run-locked run -c "$(with locked "RUN_DIR=$work/locked")"
kill "$locker" 2>/dev/null || true

# ------------------------------------------------------------------ demo
run demo-used-dir demo --dir "$work/data"
run demo demo --speed 40000 --dir "$work/demo"

# ----------------------------------------------------------------- serve
status_file "$work/run"
sed -i -e "s|^band=.*|band=tolerated|" -e "s|^band_since=.*|band_since=$((old + 40000))|" \
	-e "s|^trip_in_seconds=.*|trip_in_seconds=95|" -e "s|^warning=.*|warning=notice|" "$work/run/status"
serve_log=$out/serve.err
: > "$serve_log"
env -i PATH="$PATH" TZ="$TZ" LC_ALL=C "$bin" serve -c "$conf" --listen 127.0.0.1:0 \
	> "$out/serve.out" 2> "$serve_log" &
serve_pids+=($!)
port=
for _ in $(seq 1 100); do
	port=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\) .*|\1|p' "$serve_log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "mcce serve did not start:" >&2; cat "$serve_log" >&2; exit 1; }

get() { # NAME PATH [curl options]
	local name=$1 path=$2
	shift 2
	curl -sS -o "$out/http/$name.body" -D "$out/http/$name.head" "$@" \
		"http://127.0.0.1:$port$path" || echo "curl failed: $?" >> "$out/http/$name.head"
	# Date changes every second; the rest of the head is the answer's.
	sed -i -e '/^[Dd]ate: /d' "$out/http/$name.head" "$out/http/$name.body"
}
get page /
get page-index /index.html
get page-head / -I
get now /api/now
get now-head /api/now -I
for d in 2024-12-31 2025-01-10 2025-01-11 2025-01-12 2025-03-30 2025-10-26 2025-02-03 2025-02-04; do
	get "day-$d" "/api/day/$d"
	get "day-$d-bucket" "/api/day/$d?resolution=bucket"
done
get day-today "/api/day/$today"
get day-today-bucket "/api/day/$today?resolution=bucket"
get day-bad-resolution "/api/day/2025-01-10?resolution=weird"
get day-no-data /api/day/2030-01-01
get day-not-a-date /api/day/2025-13-01
get day-first /api/day/0000-01-01
get day-last /api/day/9999-12-31
get day-empty /api/day/
get days-january "/api/days?from=2025-01-01&to=2025-01-31"
get days-all "/api/days?from=2024-12-01&to=2025-12-31"
get days-bad "/api/days?from=someday"
get months-2025 "/api/months?year=2025"
get months-2024 "/api/months?year=2024"
get months-bad "/api/months?year=abc"
get months-far "/api/months?year=99999"
for res in raw bucket day; do
	for fmt in csv json; do
		get "export-$res-$fmt" "/export?from=2024-12-01&to=2025-12-31&resolution=$res&format=$fmt"
	done
done
get export-bad "/export?resolution=weird"
get export-order "/export?from=2025-02-01&to=2025-01-01"
get export-bad-format "/export?format=xml"
get metrics /metrics
get not-found /nope
get dotdot /api/day/../../etc/passwd
get post /api/now -X POST

# A client outside SERVE_ALLOW.
: > "$work/denied.log"
env -i PATH="$PATH" TZ="$TZ" LC_ALL=C "$bin" serve -c "$(with denied SERVE_ALLOW=10.0.0.0/8)" \
	--listen 127.0.0.1:0 > /dev/null 2> "$work/denied.log" &
serve_pids+=($!)
for _ in $(seq 1 100); do
	denied=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\) .*|\1|p' "$work/denied.log")
	[ -n "$denied" ] && break
	sleep 0.1
done
port=$denied get denied /api/now
run serve-cannot-listen serve -c "$conf" --listen 192.0.2.1:8080
for p in "${serve_pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true

# ------------------------------------------------------------------ masks
# The scratch path, today's and yesterday's dates, the port.
find "$out" -type f -print0 | xargs -0 sed -i -e "s|$work|WORK|g" \
	-e "s|$today|TODAY|g" -e "s|$yesterday|YESTERDAY|g" -e "s|127.0.0.1:$port|127.0.0.1:PORT|g" \
	-e "s|/dev/pts/[0-9]*|/dev/pts/N|g"
# Ages counted from now.
sed -i -E 's/updated [0-9]+ s ago/updated N s ago/; s/\(([0-9]+ (days|h|min|s)) ago\)/(AGE ago)/;
	s/(for|no update for|no readings for) [0-9]+ (days|h|min|s)/\1 SPAN/g' "$out"/status-*.out "$out"/status-*.err
# Figures of the live view that move with the clock.
sed -i -E 's/"now":[0-9]+/"now":NOW/; s/"band_seconds":[0-9]+/"band_seconds":N/; s/"updated":[0-9]+/"updated":NOW/' \
	"$out"/http/now*.body
sed -i -E 's/"(until|coverage|covered_seconds|day_seconds|gaps)":[0-9.e+-]+/"\1":N/g' \
	"$out"/http/day-today*.body
sed -i -E 's/^(mcce_data_free_bytes|mcce_energy_today_joules|mcce_band_seconds|mcce_status_age_seconds) .*/\1 N/' \
	"$out"/http/metrics.body
echo "captured $(find "$out" -type f | wc -l) files in $out"
