#!/usr/bin/env bash
# The page in a real browser: Debian's chromium driven by playwright-core
# (npm), headless, no network but 127.0.0.1. Checks that the live value
# shows and changes, that the day curve has as many points as the day file,
# that clicking a month bar shows that month's days, and that the contract
# band and predicted trip appear once the daemon is reloaded with
# CONTRACT_WATTS below the simulated power. Screenshots go to
# target/serve-*.png.
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
if [ ! -d "$npm_dir/node_modules/playwright-core" ]; then
	mkdir -p "$npm_dir"
	npm install --silent --no-audit --no-fund --prefix "$npm_dir" playwright-core@1.65.1 > /dev/null
fi
mkdir -p "$work/profile"
NODE_PATH="$npm_dir/node_modules" URL="http://127.0.0.1:$port/" DAYS="$work/data/days" \
	PROFILE="$work/profile" OUT="$PWD/target" CONF="$CONF" DAEMON_PID="${PIDS[1]}" \
	node ci/serve-browser.js
