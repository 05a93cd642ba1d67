#!/usr/bin/env bash
# REDbot (lint for HTTP, from PyPI, run offline against 127.0.0.1) checks
# `mcce serve` on a live history: the page, /api/now, a day raw and in
# buckets, a download, /metrics and an unknown path. Fails on any note
# REDbot rates as a problem (WARN or BAD) unless it is accepted below with
# its reason. REDbot is installed with pip into a venv of its own, made
# here when missing (target/redbot-venv, or $REDBOT_VENV).
# Usage: ci/serve-redbot.sh [BINARY]   (default target/debug/mcce)
set -euo pipefail
cd "$(dirname "$0")/.."
mcce=$(realpath "${1:-target/debug/mcce}")
venv=${REDBOT_VENV:-target/redbot-venv}
# Pinned, with the linter it runs, so a new release cannot change the
# verdict under us.
redbot_pins=(redbot==2.7.1 httplint==2026.10.4 thor==0.17.0)
if [ ! -x "$venv/bin/redbot" ]; then
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check "${redbot_pins[@]}"
fi

# Notes rated WARN or BAD that we accept, one per line: NOTE_ID reason.
# (None today: every response has Date, the page a validator, and the
# JSON, downloads and metrics say no-store.)
accepted=""

work=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
	wait 2> /dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
port=18395
# shellcheck source=ci/serve-history.sh
. ci/serve-history.sh "$work" "$mcce" "$port"
read -r d0 d1 d2 <<< "$SIM_DAYS"

status=0
for path in / /api/now "/api/day/$d1" "/api/day/$d1?resolution=bucket" \
	"/export?from=$d0&to=$d2&resolution=raw" /metrics /no-such-page; do
	url="http://127.0.0.1:$port$path"
	if ! timeout 120 "$venv/bin/redbot" -o har "$url" > "$work/har.json" 2> "$work/redbot.err"; then
		echo "FAIL: redbot $url did not run"
		cat "$work/redbot.err"
		status=1
		continue
	fi
	ACCEPTED=$accepted python3 - "$work/har.json" "$path" <<-'EOF' || status=1
		import json, os, sys
		har = json.load(open(sys.argv[1]))
		accepted = {l.split()[0] for l in os.environ["ACCEPTED"].splitlines() if l.strip()}
		entries = har["log"]["entries"]
		if not entries:
		    sys.exit(f"FAIL {sys.argv[2]}: REDbot got no response")
		bad = []
		for e in entries:
		    for m in e["_red_messages"]:
		        if m["level"] in ("WARN", "BAD") and m["note_id"] not in accepted:
		            bad.append(f'  {m["level"]} {m["note_id"]}: {m["summary"]}')
		status = entries[0]["response"]["status"]
		if bad:
		    print(f"FAIL {sys.argv[2]} ({status}):")
		    print("\n".join(bad))
		    sys.exit(1)
		notes = sum(len(e["_red_messages"]) for e in entries)
		print(f"ok {sys.argv[2]} ({status}): {notes} notes, none a problem")
	EOF
done
[ "$status" = 0 ] || { echo "FAIL: REDbot found problems (above)"; exit 1; }
echo "REDbot: no problem on any path"
