#!/usr/bin/env bash
# Keeps Cargo.toml's `rust-version` true.
#
#   ci/check-msrv.sh               every package in Cargo.lock declares a
#                                  rust_version no newer than ours, and clippy
#                                  finds no std API newer than ours
#                                  (clippy::incompatible_msrv, denied).
#   ci/check-msrv.sh rustc RUSTC   RUSTC (e.g. Debian's /usr/bin/rustc) is new
#                                  enough for ours and for every locked package.
#
# Uses the cargo on PATH for `cargo metadata` and clippy, and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

# Prints "ours needed" then one "name version rust_version" line per locked
# package that declares a rust_version newer than ours. "needed" is the
# newest rust_version among ours and all locked packages.
versions() {
	cargo metadata --format-version 1 --locked > "$work/metadata.json"
	python3 - "$work/metadata.json" <<-'EOF'
		import json, sys
		def key(v):
		    parts = [int(p) for p in v.split(".")]
		    return tuple(parts + [0] * (3 - len(parts)))
		m = json.load(open(sys.argv[1]))
		root = m["resolve"]["root"]
		ours = next(p["rust_version"] for p in m["packages"] if p["id"] == root)
		if not ours:
		    sys.exit("Cargo.toml declares no rust-version")
		locked = [p for p in m["packages"] if p["id"] != root and p.get("rust_version")]
		needed = max([ours] + [p["rust_version"] for p in locked], key=key)
		print(ours, needed)
		for p in sorted(locked, key=lambda p: p["name"]):
		    if key(p["rust_version"]) > key(ours):
		        print(p["name"], p["version"], p["rust_version"])
	EOF
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
versions > "$work/versions"
read -r ours needed < "$work/versions"

if [ "${1:-}" = rustc ]; then
	rustc=${2:?usage: $0 rustc PATH_TO_RUSTC}
	have=$("$rustc" --version | awk '{ print $2 }')
	have=${have%%-*}
	if [ "$(printf '%s\n%s\n' "$needed" "$have" | sort -V | head -n 1)" != "$needed" ]; then
		echo "FAIL: $rustc is $have, but Cargo.lock and Cargo.toml need Rust $needed" >&2
		exit 1
	fi
	echo "ok: $rustc is $have, Cargo.lock and Cargo.toml need $needed"
	exit 0
fi

status=0
if [ "$(wc -l < "$work/versions")" -gt 1 ]; then
	echo "FAIL: locked packages that need a newer Rust than our rust-version $ours:" >&2
	tail -n +2 "$work/versions" | while read -r name version rust; do
		echo "  $name $version requires rust $rust" >&2
	done
	status=1
else
	echo "ok: every locked package declares rust_version <= $ours"
fi

# clippy reads rust-version from Cargo.toml as its MSRV.
if cargo clippy --locked --all-targets --quiet -- -D clippy::incompatible_msrv; then
	echo "ok: clippy finds no std API newer than $ours"
else
	echo "FAIL: the code uses std APIs newer than rust-version $ours (clippy::incompatible_msrv above)" >&2
	status=1
fi
exit "$status"
