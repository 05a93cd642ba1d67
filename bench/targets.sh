# shellcheck shell=bash
# Sourced by the bench scripts: each measured figure is printed beside its
# target, marked OVER when it misses it, and collected in $BENCH_FIGURES
# (set by bench/run.sh) so run.sh can list them all again at the end.
#
#   figure NAME VALUE UNIT CMP TARGET [NOTE]
#       CMP is <= or >=; VALUE and TARGET are plain numbers (awk reads them).
#   unmeasured NAME UNIT CMP TARGET WHY
#       a figure this run could not take, with the reason.
#   figures_summary
#       every figure collected so far, the ones over their targets first.
#   cpu_windows PID N SECONDS COUNT OUT
#       N windows of SECONDS: a line "CPU-ns COUNT-delta" for each in OUT
#       (the CPU of PID's threads from schedstat; COUNT, a command, says
#       how many polls or readings there were so far).
#   median FILE
#       the median of FILE's numbers, one a line, sorted.
#   day_files DIR FIRST END
#       day files in DIR for the local days FIRST up to END (YYYY-MM-DD, END
#       left out), in Europe/Rome: a sample every 5 s from each midnight.

: "${BENCH_FIGURES:=/dev/null}"

figure() {
	local name=$1 value=$2 unit=$3 cmp=$4 target=$5 note=${6:-} mark
	if awk -v v="$value" -v c="$cmp" -v t="$target" \
		'BEGIN { exit !((c == "<=" && v + 0 <= t + 0) || (c == ">=" && v + 0 >= t + 0)) }'; then
		mark=ok
	else
		mark=OVER
	fi
	local sign=${cmp/<=/≤}
	sign=${sign/>=/≥}
	local line
	line=$(printf '%-4s %s: %s %s (target %s %s %s)' "$mark" "$name" "$value" "$unit" "$sign" "$target" "$unit")
	[ -z "$note" ] || line="$line; $note"
	echo "$line"
	echo "$line" >> "$BENCH_FIGURES"
}

unmeasured() {
	local name=$1 unit=$2 cmp=$3 target=$4 why=$5 line sign=${3/<=/≤}
	sign=${sign/>=/≥}
	line=$(printf '%-4s %s: not measured, %s (target %s %s %s)' "--" "$name" "$why" "$sign" "$target" "$unit")
	echo "$line"
	echo "$line" >> "$BENCH_FIGURES"
}

figures_summary() {
	local total over
	total=$(grep -c . "$BENCH_FIGURES" || true)
	over=$(grep -c '^OVER' "$BENCH_FIGURES" || true)
	echo
	echo "== every figure beside its target: $over of $total over, $(grep -c '^--' "$BENCH_FIGURES" || true) not measured"
	grep '^OVER' "$BENCH_FIGURES" || true
	grep -v '^OVER' "$BENCH_FIGURES" || true
}

# CPU in nanoseconds of each of N windows of SECS seconds of a process's
# threads (schedstat, finer than clock ticks) and of the children it waited
# for (`mcce publish` sums the databases in one; clock ticks), beside how
# much COUNT counted meanwhile.
cpu_windows() {
	local pid=$1 n=$2 secs=$3 count=$4 out=$5 c0 k0 hz
	hz=$(getconf CLK_TCK)
	cpu() {
		local threads children
		threads=$(cat "/proc/$pid"/task/*/schedstat | awk '{ s += $1 } END { print s }')
		# Fields 16 and 17 of stat, after the name in parentheses.
		children=$(sed 's/.*) //' "/proc/$pid/stat" | awk -v hz="$hz" '{ printf "%.0f", ($14 + $15) * 1e9 / hz }')
		echo $((threads + children))
	}
	: > "$out"
	for _ in $(seq "$n"); do
		c0=$(cpu)
		k0=$($count)
		sleep "$secs"
		echo "$(($(cpu) - c0)) $(($($count) - k0))" >> "$out"
	done
}

median() {
	awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' "$1"
}

day_files() {
	python3 - "$@" <<'PY'
import datetime, os, sys, zoneinfo
tz = zoneinfo.ZoneInfo("Europe/Rome")
d, end = (datetime.date.fromisoformat(a) for a in sys.argv[2:4])
while d < end:
    start = int(datetime.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())
    n = d + datetime.timedelta(days=1)
    stop = int(datetime.datetime(n.year, n.month, n.day, tzinfo=tz).timestamp())
    with open(os.path.join(sys.argv[1], d.isoformat()), "w") as f:
        f.write("".join(f"{t} {300 + (t // 5) % 4000}\n" for t in range(start, stop, 5)))
    d = n
PY
}
