#!/usr/bin/env bash
# The page in a real browser: Debian's chromium driven by playwright-core
# (npm), headless, no network but 127.0.0.1, at 1280 x 900 and as a 390 x 844
# touch phone. Checks that the live value shows and changes, that the day
# curve has as many points as the day file and today's few samples are seen,
# that clicking a month bar shows that month's days, that every chart has a
# value axis with its unit and no axis label is clipped or overlaps another,
# that a tap, the mouse or keyboard focus on a bar or the curve shows its
# value, that the contract band, predicted trip and named limit lines appear
# (and fit the phone) once the daemon is reloaded with CONTRACT_WATTS below
# the simulated power, and that axe-core reports no violation. Screenshots
# go to target/serve-page.png and target/serve-phone.png.
# Usage: ci/serve-browser.sh [BINARY]   (default target/debug/mcce)
set -euo pipefail
cd "$(dirname "$0")/.."
mcce=$(realpath "${1:-target/debug/mcce}")
work=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
port=18391
# shellcheck source=ci/serve-history.sh
. ci/serve-history.sh "$work" "$mcce" "$port"

npm_dir=target/npm
npm_pkgs=(playwright-core@1.65.1 axe-core@4.14.1)
for p in "${npm_pkgs[@]}"; do
	if [ "$(node -p "require('./$npm_dir/node_modules/${p%@*}/package.json').version" 2> /dev/null)" != "${p##*@}" ]; then
		mkdir -p "$npm_dir"
		npm install --silent --no-audit --no-fund --prefix "$npm_dir" "${npm_pkgs[@]}" > /dev/null
		break
	fi
done
NODE_PATH="$npm_dir/node_modules" URL="http://127.0.0.1:$port/" PHONE_PORT=$((port + 1)) DAYS="$work/data/days" \
	OUT="$PWD/target" CONF="$CONF" DAEMON_PID="${PIDS[1]}" MCCE="$mcce" \
	node ci/serve-browser.js
