#!/usr/bin/env bash
# The Yocto layer, checked without bitbake (CI has no network for a build):
# - oelint-adv on meta-mcce, for each release in LAYERSERIES_COMPAT: no finding
#   at all (a finding we accept is suppressed in the file, with its reason);
# - kas/*.yml valid against the JSON schema shipped in the kas package;
# - mcce-crates.inc is what meta-mcce/scripts/update-crates makes of Cargo.lock
#   (and that comparison is shown to fail on a modified lock);
# - the recipe's version, size profile and LICENSE checksum match Cargo.toml
#   and LICENSE, and so does mcce.mk's size profile; every source-tree file
#   the layer installs exists, and every one the Buildroot package (mcce.mk)
#   installs is installed by the recipe.
# Tools come from PyPI into a virtualenv (MCCE_YOCTO_VENV, reused if there).
# After a change to Cargo.lock: meta-mcce/scripts/update-crates, then rerun.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
layer="$top/meta-mcce"
recipe=$(ls "$layer"/recipes-mcce/mcce/mcce_*.bb)
inc="$layer/recipes-mcce/mcce/mcce-crates.inc"
venv=${MCCE_YOCTO_VENV:-${TMPDIR:-/tmp}/mcce-yocto-venv}
fail() { echo "FAIL: $*" >&2; exit 1; }

# Pinned: a newer oelint-adv may bring new rules; raise the pins on purpose.
pins=(oelint-adv==9.11.2 kas==5.5 jsonschema==4.26.0)
if [ "$(cat "$venv/mcce-pins" 2> /dev/null)" != "${pins[*]}" ]; then
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
	echo "${pins[*]}" > "$venv/mcce-pins"
fi
py="$venv/bin/python"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== oelint-adv"
releases=$(sed -n 's/^LAYERSERIES_COMPAT_mcce = "\(.*\)"/\1/p' "$layer/conf/layer.conf")
[ -n "$releases" ] || fail "no LAYERSERIES_COMPAT_mcce in meta-mcce/conf/layer.conf"
mapfile -t lintfiles < <(find "$layer" -name '*.bb' -o -name '*.bbappend' -o -name '*.conf' | sort)
for release in $releases; do
	# Exit code and output both: infos count as findings too.
	if ! "$venv/bin/oelint-adv" --quiet --mode all --release "$release" \
		"${lintfiles[@]}" > "$work/lint" 2>&1 || [ -s "$work/lint" ]; then
		cat "$work/lint"
		fail "oelint-adv ($release) has findings"
	fi
	echo "ok: oelint-adv --release $release: no findings in ${#lintfiles[@]} files"
done

echo "== kas schema"
"$py" - "$top"/kas/*.yml <<'EOF'
import json, sys
from importlib.resources import files
import jsonschema, yaml
schema = json.loads((files("kas") / "schema-kas.json").read_text())
for path in sys.argv[1:]:
    with open(path) as f:
        jsonschema.validate(yaml.safe_load(f), schema)
    print(f"ok: {path} is valid against kas's schema-kas.json")
EOF

echo "== crates"
# 0 when the .inc is what update-crates makes of the given lock file.
crates_agree() {
	"$layer/scripts/update-crates" --lock "$1" --output "$work/crates.inc" &&
		diff -u "$inc" "$work/crates.inc" > "$work/crates.diff"
}
if ! crates_agree "$top/Cargo.lock"; then
	cat "$work/crates.diff"
	fail "Cargo.lock and $(basename "$inc") disagree: run meta-mcce/scripts/update-crates"
fi
echo "ok: mcce-crates.inc lists Cargo.lock's $(grep -c 'crate://' "$inc") crates.io crates"
# The check can fail: one changed checksum in a copy of the lock is caught.
sed '0,/^checksum = "\(.\)/s//checksum = "X/' "$top/Cargo.lock" > "$work/Cargo.lock"
cmp -s "$top/Cargo.lock" "$work/Cargo.lock" && fail "could not modify the copy of Cargo.lock"
if crates_agree "$work/Cargo.lock"; then
	fail "the crates check passed on a modified Cargo.lock"
fi
echo "ok: a modified Cargo.lock is caught ($(grep -c '^[-+]SRC_URI' "$work/crates.diff") lines differ)"

echo "== recipe against the tree"
"$py" - "$top" "$recipe" <<'EOF'
import hashlib, re, sys, tomllib
from pathlib import Path

top, recipe = Path(sys.argv[1]), Path(sys.argv[2])
text = recipe.read_text()
cargo = tomllib.loads((top / "Cargo.toml").read_text())
problems = []

version = recipe.stem.split("_", 1)[1]
if version != cargo["package"]["version"]:
    problems.append(f"{recipe.name} is version {version}, Cargo.toml says {cargo['package']['version']}")

# The size profile: the recipe's CARGO_PROFILE_RELEASE_* against Cargo.toml.
exported = dict(re.findall(r'^export CARGO_PROFILE_RELEASE_(\w+) = "([^"]*)"', text, re.M))
profile = cargo["profile"]["release"]
want = {
    "OPT_LEVEL": str(profile["opt-level"]),
    "LTO": "fat" if profile["lto"] is True else str(profile["lto"]),
    "CODEGEN_UNITS": str(profile["codegen-units"]),
    "PANIC": profile["panic"],
}
for key, value in want.items():
    if exported.get(key) != value:
        problems.append(f"CARGO_PROFILE_RELEASE_{key} is {exported.get(key)!r}, Cargo.toml's profile says {value!r}")

m = re.search(r'LIC_FILES_CHKSUM = "file://LICENSE;md5=([0-9a-f]{32})"', text)
md5 = hashlib.md5((top / "LICENSE").read_bytes()).hexdigest()
if not m or m.group(1) != md5:
    problems.append(f"LIC_FILES_CHKSUM does not name LICENSE with md5 {md5}")

# Files the layer takes from the source tree, by path.
layer_texts = [text] + [p.read_text() for p in (top / "meta-mcce" / "conf").glob("*.inc")]
dirs = {"MCCE_PKGDIR": "buildroot-package/package/mcce", "MCCE_OVERLAY": "overlay"}
used = set()
for t in layer_texts:
    for var, rel in re.findall(r"\$\{(MCCE_PKGDIR|MCCE_OVERLAY)\}/([\w./-]+)", t):
        used.add(f"{dirs[var]}/{rel}")
    for d in re.findall(r"\$\{MCCE_WORKING_COPY\}/([\w./-]+):", t):
        used.add(d)
for rel in sorted(used):
    if not (top / rel).exists():
        problems.append(f"the layer installs {rel}, which is not in the tree")
# And the other way round: every file the Buildroot package installs from the
# tree (mcce.mk) is installed by the recipe too, so that a file added there
# (a unit, an init script) is not forgotten here.
mk = (top / "buildroot-package/package/mcce/mcce.mk").read_text()
installed_by_mk = {f"{dirs['MCCE_PKGDIR']}/{rel}" for rel in re.findall(r"\$\(MCCE_PKGDIR\)/([\w./-]+)", mk)}
installed_by_mk |= set(re.findall(r"\$\(@D\)/([\w./-]+)", mk))
if not installed_by_mk:
    problems.append("found no file that mcce.mk installs: has its syntax changed?")
for rel in sorted(installed_by_mk - used):
    problems.append(f"mcce.mk installs {rel}, the recipe does not")
# mcce.mk sets the same size profile over Buildroot's own (MCCE_CARGO_ENV).
mk_profile = dict(re.findall(r'CARGO_PROFILE_RELEASE_(\w+)="([^"]*)"', mk))
for key in ("OPT_LEVEL", "LTO", "CODEGEN_UNITS"):
    got = {"true": "fat"}.get(mk_profile.get(key), mk_profile.get(key))
    if got != want[key]:
        problems.append(f"mcce.mk sets CARGO_PROFILE_RELEASE_{key} to {mk_profile.get(key)!r}, Cargo.toml's profile says {want[key]!r}")
for rel in ("overlay/etc/mdev.conf", "meta-mcce/files/busybox/mcce-crond.cfg"):
    if not (top / rel).is_file():
        problems.append(f"conf/mcce-busybox.inc relies on {rel}, which is not in the tree")

for p in problems:
    print(f"FAIL: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"ok: {recipe.name} matches Cargo.toml (version {version}, size profile), LICENSE, and {len(used)} tree paths")
print(f"ok: the recipe installs all {len(installed_by_mk)} files mcce.mk installs from the tree")
EOF

echo "ok: Yocto layer checks passed (lint and consistency only: no bitbake build ran)"
