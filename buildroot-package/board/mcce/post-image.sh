#!/usr/bin/env bash
# Post-image script of the mcce defconfigs: writes sdcard.img with our own
# layout (genimage.cfg.in: boot and root; the data partition for
# /var/lib/mcce is made on the card by the first boot, S05mcce-data).
# Buildroot calls it as: post-image.sh BINARIES_DIR, with BINARIES_DIR,
# TARGET_DIR and BUILD_DIR in the environment.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
binaries=${BINARIES_DIR:-${1:?usage: post-image.sh BINARIES_DIR}}
tmp=${BUILD_DIR:-$binaries}/genimage.tmp

# The boot partition takes the device trees, the firmware files and the
# kernel image that the firmware's config.txt names.
files=()
for f in "$binaries"/*.dtb "$binaries"/rpi-firmware/*; do
	[ -e "$f" ] && files+=("${f#"$binaries"/}")
done
kernel=$(sed -n 's/^kernel=//p' "$binaries/rpi-firmware/config.txt")
files+=("${kernel:-zImage}")
boot_files=$(printf '\t\t\t"%s",\n' "${files[@]}")

cfg=$binaries/genimage-mcce.cfg
awk -v files="$boot_files" '
	/@BOOT_FILES@/ { print files; next }
	{ print }
' "$here/genimage.cfg.in" > "$cfg"

# An empty root path: the root filesystem is already built (rootfs.ext4).
rootpath=$(mktemp -d)
trap 'rm -rf "$rootpath"' EXIT
rm -rf "$tmp"
genimage --rootpath "$rootpath" --tmppath "$tmp" \
	--inputpath "$binaries" --outputpath "$binaries" --config "$cfg"
