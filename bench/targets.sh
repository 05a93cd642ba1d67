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
