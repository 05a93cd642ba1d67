#!/usr/bin/env bash
# Buildroot's own linter, utils/check-package, on every tracked file of the
# br2-external tree (buildroot-package/), as Buildroot's manual runs it on an
# external tree (-b). Any warning fails: the tool exits 1 when it prints one.
#
#   ci/check-buildroot-package.sh [CHECK_PACKAGE]
#
# CHECK_PACKAGE defaults to the copy beside the repository,
# ../shared/tools/buildroot-check-package/utils/check-package (Buildroot
# e991fa071605, unchanged). Needs Debian's python3 with python3-magic, flake8
# and shellcheck.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tool=${1:-$top/../shared/tools/buildroot-check-package/utils/check-package}
[ -f "$tool" ] || { echo "FAIL: no Buildroot check-package at $tool"; exit 1; }
cd "$top/buildroot-package"
mapfile -t files < <(git ls-files .)
[ "${#files[@]}" -gt 0 ] || { echo "FAIL: no tracked files in buildroot-package/"; exit 1; }
echo "check-package -b on ${#files[@]} files"
/usr/bin/python3 "$tool" -b "${files[@]}"
