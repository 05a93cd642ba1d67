#!/usr/bin/env bash
# Post-image script of the mcce defconfigs: writes sdcard.img with our own
# layout (genimage.cfg.in: boot, root, and a data partition for
# /var/lib/mcce). Buildroot calls it as: post-image.sh BINARIES_DIR, with
# BINARIES_DIR, TARGET_DIR and BUILD_DIR in the environment.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
binaries=${BINARIES_DIR:-${1:?usage: post-image.sh BINARIES_DIR}}
target=${TARGET_DIR:?TARGET_DIR is not set}
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

# The data partition's top directory belongs to the daemon's user. Its ids
# are assigned when the root filesystem image is made (MCCE_USERS), in a
# copy of TARGET_DIR, so they are read from the image itself.
passwd() {
	debugfs -R 'cat /etc/passwd' "$binaries/rootfs.ext4" 2> /dev/null ||
		cat "$target/etc/passwd"
}
owner=$(passwd | awk -F: '$1 == "mcce" { print $3 ":" $4; exit }')
if [ -z "$owner" ]; then
	# S90mcce hands DATA_DIR to the user at every start anyway.
	echo "post-image.sh: no user mcce in the root filesystem; data partition left to root" >&2
	owner=0:0
fi

cfg=$binaries/genimage-mcce.cfg
awk -v files="$boot_files" -v owner="$owner" '
	/@BOOT_FILES@/ { print files; next }
	{ gsub(/@DATA_OWNER@/, owner); print }
' "$here/genimage.cfg.in" > "$cfg"

# An empty root path: the root filesystem is already built (rootfs.ext4)
# and the data partition starts empty.
rootpath=$(mktemp -d)
trap 'rm -rf "$rootpath"' EXIT
rm -rf "$tmp"
genimage --rootpath "$rootpath" --tmppath "$tmp" \
	--inputpath "$binaries" --outputpath "$binaries" --config "$cfg"
