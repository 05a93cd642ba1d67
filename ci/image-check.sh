#!/usr/bin/env bash
# Checks the SD card layout of our defconfigs without building Buildroot:
# runs buildroot-package/board/mcce/post-image.sh (and so genimage with
# genimage.cfg.in) on stand-in firmware, kernel and root filesystem files,
# then inspects the image with sfdisk -J and the data filesystem with
# dumpe2fs/debugfs. Leaves the image in target/image-check/ (ci/vm-check.sh
# boots on it). Usage: ci/image-check.sh
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/target/image-check
rm -rf "$work"
mkdir -p "$work"/{binaries/rpi-firmware,target/etc,build,rootfs}
bin=$work/binaries

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# Stand-ins with the names Buildroot's Pi 3 build leaves in BINARIES_DIR.
for f in bcm2710-rpi-3-b.dtb bcm2710-rpi-3-b-plus.dtb zImage; do
	head -c 4096 /dev/urandom > "$bin/$f"
done
for f in bootcode.bin start.elf fixup.dat cmdline.txt; do
	echo "stand-in $f" > "$bin/rpi-firmware/$f"
done
printf 'kernel=zImage\n' > "$bin/rpi-firmware/config.txt"
echo "stand-in root" > "$work/rootfs/README"
# The daemon's user as mkusers adds it to the root filesystem image (not to
# TARGET_DIR; ci/vm-check.sh uses 100:100).
mkdir -p "$work/rootfs/etc"
printf 'root:x:0:0:root:/root:/bin/sh\nmcce:x:100:100:mcce:/var/lib/mcce:/bin/false\n' \
	> "$work/rootfs/etc/passwd"
mke2fs -q -F -t ext4 -L rootfs -d "$work/rootfs" "$bin/rootfs.ext4" 16M > /dev/null 2>&1
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/target/etc/passwd"

BINARIES_DIR=$bin TARGET_DIR=$work/target BUILD_DIR=$work/build \
	"$top/buildroot-package/board/mcce/post-image.sh" "$bin" > "$work/genimage.log" 2>&1 ||
	{ cat "$work/genimage.log"; fail "post-image.sh failed"; }
img=$bin/sdcard.img
[ -f "$img" ] || fail "no sdcard.img"

sfdisk -J "$img" > "$work/sfdisk.json"
python3 - "$work/sfdisk.json" <<'PY' || fail "partition table: see above"
import json, sys
t = json.load(open(sys.argv[1]))["partitiontable"]
parts = t["partitions"]
sector = t.get("sectorsize", 512)
ok = True
def check(cond, what):
    global ok
    print(("ok: " if cond else "FAIL: ") + what)
    ok = ok and cond
check(t["label"] == "dos", f"dos partition table ({t['label']})")
check(len(parts) == 3, f"three partitions ({len(parts)})")
if len(parts) == 3:
    boot, root, data = parts
    check(boot["type"] == "c" and boot.get("bootable", False),
          f"boot: FAT32 LBA (type {boot['type']}), bootable, {boot['size'] * sector // 2**20} MiB")
    check(root["type"] == "83", f"root: Linux (type {root['type']}), {root['size'] * sector // 2**20} MiB")
    gib = data["size"] * sector / 2**30
    check(data["type"] == "83" and gib >= 2, f"data: Linux (type {data['type']}), {gib:.2f} GiB")
    check(data["start"] >= root["start"] + root["size"], "data follows the root partition")
sys.exit(0 if ok else 1)
PY

data=$bin/data.ext4
label=$(dumpe2fs -h "$data" 2>/dev/null | sed -n 's/^Filesystem volume name: *//p')
[ "$label" = mcce-data ] || fail "data filesystem label is '$label'"
pass "data filesystem: ext4, label mcce-data"
owner=$(debugfs -R 'stat /' "$data" 2>/dev/null | sed -n 's/.*User: *\([0-9]*\) *Group: *\([0-9]*\).*/\1:\2/p')
[ "$owner" = 100:100 ] || fail "data filesystem root owned by '$owner', want the mcce user's 100:100"
pass "data filesystem root owned by the mcce user (100:100)"
grep -q '^/dev/mmcblk0p3[[:space:]]\+/var/lib/mcce[[:space:]]\+ext4' "$top/overlay/etc/fstab" ||
	fail "overlay/etc/fstab does not mount the third partition at /var/lib/mcce"
pass "overlay fstab mounts /dev/mmcblk0p3 at /var/lib/mcce"
boot=$(mdir -b -i "$bin/boot.vfat" :: 2>/dev/null | tr '\n' ' ')
for f in zImage bcm2710-rpi-3-b.dtb bootcode.bin start.elf config.txt cmdline.txt; do
	case "$boot" in *"/$f "*) ;; *) fail "boot partition lacks $f: $boot" ;; esac
done
pass "boot partition holds the kernel, device trees and firmware files"
