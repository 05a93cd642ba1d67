#!/usr/bin/env bash
# Checks the SD card layout of our defconfigs without building Buildroot:
# runs buildroot-package/board/mcce/post-image.sh (and so genimage with
# genimage.cfg.in) on stand-in firmware and kernel files and a root
# filesystem, then inspects the image with sfdisk -J: boot and root only,
# aligned, ending before the data partition's place (S05mcce-data), which
# the first boot makes. Leaves the image in OUTDIR/binaries/sdcard.img.
# Usage: ci/image-check.sh [ROOTFS_EXT4 [OUTDIR]]
#   ROOTFS_EXT4  the root filesystem image (default: a small stand-in)
#   OUTDIR       default target/image-check (ci/vm-check.sh passes its own)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
rootfs=${1:-}
work=${2:-$top/target/image-check}
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
if [ -n "$rootfs" ]; then
	cp --sparse=always "$rootfs" "$bin/rootfs.ext4"
else
	echo "stand-in root" > "$work/rootfs/README"
	mke2fs -q -F -t ext4 -L rootfs -d "$work/rootfs" "$bin/rootfs.ext4" 16M > /dev/null 2>&1
fi
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/target/etc/passwd"

BINARIES_DIR=$bin TARGET_DIR=$work/target BUILD_DIR=$work/build \
	"$top/buildroot-package/board/mcce/post-image.sh" "$bin" > "$work/genimage.log" 2>&1 ||
	{ cat "$work/genimage.log"; fail "post-image.sh failed"; }
img=$bin/sdcard.img
[ -f "$img" ] || fail "no sdcard.img"

# Where the first boot puts the data partition: the image must end before.
data_mib=$(sed -n 's/^START_MIB=\([0-9]*\).*/\1/p' "$top/buildroot-package/package/mcce/S05mcce-data")
[ -n "$data_mib" ] || fail "no START_MIB in S05mcce-data"
sfdisk -J "$img" > "$work/sfdisk.json"
python3 - "$work/sfdisk.json" "$(stat -c %s "$img")" "$data_mib" <<'PY' || fail "partition table: see above"
import json, sys
t = json.load(open(sys.argv[1]))["partitiontable"]
size, data_mib = int(sys.argv[2]), int(sys.argv[3])
parts = t["partitions"]
sector = t.get("sectorsize", 512)
mib = 2**20 // sector
ok = True
def check(cond, what):
    global ok
    print(("ok: " if cond else "FAIL: ") + what)
    ok = ok and cond
check(t["label"] == "dos", f"dos partition table ({t['label']})")
check(len(parts) == 2, f"two partitions, boot and root; the data partition is made at first boot ({len(parts)})")
if len(parts) == 2:
    boot, root = parts
    check(boot["type"] == "c" and boot.get("bootable", False),
          f"boot: FAT32 LBA (type {boot['type']}), bootable, {boot['size'] // mib} MiB")
    check(root["type"] == "83", f"root: Linux (type {root['type']}), {root['size'] // mib} MiB")
    for name, p in (("boot", boot), ("root", root)):
        check(p["start"] % (4 * mib) == 0 and p["size"] % (4 * mib) == 0,
              f"{name} aligned to 4 MiB (start {p['start'] / mib:g} MiB, size {p['size'] / mib:g} MiB)")
    end = root["start"] + root["size"]
    check(end <= data_mib * mib and size <= data_mib * mib * sector,
          f"the image ({size // 2**20} MiB, last partition ends at {end // mib} MiB) ends before "
          f"the data partition's place at {data_mib} MiB: writing it leaves the recorded days alone")
sys.exit(0 if ok else 1)
PY

grep -q '^LABEL=mcce-data[[:space:]]\+/var/lib/mcce[[:space:]]\+ext4[[:space:]]\+noauto' "$top/overlay/etc/fstab" ||
	fail "overlay/etc/fstab does not name the data partition by its label (LABEL=mcce-data, noauto)"
pass "overlay fstab names the data partition by label (mounted by S05mcce-data)"
boot=$(mdir -b -i "$bin/boot.vfat" :: 2>/dev/null | tr '\n' ' ')
for f in zImage bcm2710-rpi-3-b.dtb bootcode.bin start.elf config.txt cmdline.txt; do
	case "$boot" in *"/$f "*) ;; *) fail "boot partition lacks $f: $boot" ;; esac
done
pass "boot partition holds the kernel, device trees and firmware files"
