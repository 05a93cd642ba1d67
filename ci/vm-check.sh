#!/usr/bin/env bash
# Boots a real 32-bit ARM Linux (Debian's armmp kernel under qemu-system-arm,
# no KVM) on a root built from what the image ships, and runs the scenario
# of ci/vm/drive.py against it: S90mcce, the users and groups of mcce.mk,
# the overlay (mdev rules, crontab, fstab), a real FTDI usb-serial driver
# fed by `mcce sim` on the host, real sysfs GPIO lines (PL061) and the data
# partition of our SD card layout (ci/image-check.sh) on an emulated SD card.
# The console log is kept in target/vm/console.log.
#
# Usage: ci/vm-check.sh [ARMV7_STATIC_MCCE [HOST_MCCE]]
#   ARMV7_STATIC_MCCE  default: built with ci/build-armv7.sh
#   HOST_MCCE          the host's mcce, runs the simulated meter
#                      (default: target/debug/mcce, built if missing)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/target/vm
cache=$top/target/vm-cache
arm_bin=${1:-}
host_bin=${2:-}
[ -n "$arm_bin" ] || arm_bin=$("$top/ci/build-armv7.sh")
if [ -z "$host_bin" ]; then
	(cd "$top" && cargo build --locked -q)
	host_bin=$top/target/debug/mcce
fi
arm_bin=$(realpath "$arm_bin")
host_bin=$(realpath "$host_bin")

fail() { echo "FAIL: $*" >&2; exit 1; }
file "$arm_bin" | grep -q 'ARM.*statically linked' || fail "$arm_bin is not a static ARM binary"

# --- Debian's armhf kernel and busybox -------------------------------------
mkdir -p "$cache"
abi=$(apt-cache depends linux-image-armmp:armhf 2>/dev/null |
	sed -n 's/.*Depends: linux-image-\(.*-armmp\):armhf/\1/p' | head -n 1)
if [ -z "$abi" ]; then
	# The armhf package lists are missing (e.g. an amd64-only update).
	dpkg --add-architecture armhf
	apt-get update -q > "$cache/apt-update.log" 2>&1 || true
	abi=$(apt-cache depends linux-image-armmp:armhf |
		sed -n 's/.*Depends: linux-image-\(.*-armmp\):armhf/\1/p' | head -n 1)
fi
[ -n "$abi" ] || fail "cannot resolve the armmp kernel ABI (apt-cache depends linux-image-armmp:armhf)"
fetch_deb() { # package -> unpacked directory
	local pkg=$1 dir=$cache/$1
	if [ ! -f "$dir/.done" ]; then
		rm -rf "$dir" && mkdir -p "$dir"
		(cd "$cache" && rm -f "${pkg}"_*.deb && apt-get download -q "$pkg:armhf" > /dev/null 2>&1) ||
			fail "apt-get download $pkg:armhf"
		dpkg-deb -x "$cache/${pkg}"_*_armhf.deb "$dir"
		rm -f "$cache/${pkg}"_*_armhf.deb
		touch "$dir/.done"
	fi
	echo "$dir"
}
kdir=$(fetch_deb "linux-image-$abi")
bbdir=$(fetch_deb busybox-static)
kernel=$(ls "$kdir"/boot/vmlinuz-*)
kver=${kernel##*/vmlinuz-}

# --- The root: busybox, our binary, overlay, init script, users ------------
root=$work/root
rm -rf "$work"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,dev,proc,sys,run,tmp,var/lib/mcce,var/log,root,lib/modules}
ln -s ../run "$root/var/run"
install -m 0755 "$bbdir/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
ln -s ../bin/busybox "$root/sbin/init"
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

cp -a "$top/overlay/." "$root/"
install -m 0755 "$arm_bin" "$root/usr/bin/mcce"
install -m 0755 "$top/buildroot-package/package/mcce/S90mcce" "$root/etc/init.d/S90mcce"
mk=$top/buildroot-package/package/mcce/mcce.mk
# The crontab as mcce.mk installs it: root's and private (busybox crond
# reads no other crontab).
install -D -m 0600 -o 0 -g 0 "$top/buildroot-package/package/mcce/mcce.crontab" \
	"$root/etc/cron/crontabs/mcce"
if [ -f /usr/share/zoneinfo/Europe/Rome ]; then cp /usr/share/zoneinfo/Europe/Rome "$root/etc/localtime"; fi
echo mcce > "$root/etc/hostname"

# Buildroot's busybox keeps crontabs in /etc/cron/crontabs (its
# FEATURE_CROND_DIR); Debian's looks in /var/spool/cron/crontabs: point
# that at the image's place so `crontab` works as on the box.
mkdir -p "$root/var/spool/cron"
ln -s /etc/cron/crontabs "$root/var/spool/cron/crontabs"

# Users and groups as Buildroot's mkusers makes them from MCCE_USERS.
users=$(sed -n '/^define MCCE_USERS/,/^endef/p' "$mk" | sed -n 2p)
read -r uname _uid ugroup _gid _pw uhome _shell ugroups _comment <<<"$users"
[ "$uname" = mcce ] || fail "unexpected MCCE_USERS: $users"
{
	echo "root:x:0:"
	echo "tty:x:5:"
	echo "dialout:x:18:$( [[ ,$ugroups, == *,dialout,* ]] && echo "$uname")"
	echo "$ugroup:x:100:"
	IFS=, read -ra groups <<<"$ugroups"
	gid=101
	for g in "${groups[@]}"; do
		[ "$g" = dialout ] && continue
		echo "$g:x:$gid:$uname"
		gid=$((gid + 1))
	done
} > "$root/etc/group"
printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:100:100:mcce power logger:%s:/bin/false\n' \
	"$uname" "$uhome" > "$root/etc/passwd"
printf 'root::1::::::\n%s:*:1::::::\n' "$uname" > "$root/etc/shadow"
# MCCE_PERMISSIONS: "path d mode user group ..." lines.
sed -n '/^define MCCE_PERMISSIONS/,/^endef/p' "$mk" | sed '1d;$d' |
	while read -r path type mode owner group _; do
		[ "$type" = d ] || fail "unexpected permission entry $path"
		mkdir -p "$root$path"
		chmod "$mode" "$root$path"
		chown "$( [ "$owner" = mcce ] && echo 100 || echo 0):$( [ "$group" = mcce ] && echo 100 || echo 0)" "$root$path"
	done

# The configuration the image ships, pointed at the virt board's PL061
# lines 0 and 1 and polling every second so the scenario is short.
cat >> "$root/etc/mcce.conf" <<'CONF'
# --- ci/vm-check.sh: the virt board instead of a Pi ---
BUZZER_GPIO_CHIP=9030000.pl061
BUZZER_ENABLE_GPIO=0
BUZZER_TONE_GPIO=1
POLL_SECONDS=1
REPLY_TIMEOUT_MS=500
ALARM_WATTS=60000
ALARM_SIREN_SECONDS=2
CONF

# --- What the VM adds (not in the image) ------------------------------------
# An inittab and rcS that behave like Buildroot's busybox init: mount what
# fstab lists, then run /etc/init.d/S??* in order. The virt board's drivers
# are modules here (built into a Pi kernel), loaded before `mount -a`.
cp "$top/ci/vm/inittab" "$root/etc/inittab"
install -m 0755 "$top/ci/vm/rcS" "$root/etc/init.d/rcS"
install -m 0755 "$top/ci/vm/rcK" "$root/etc/init.d/rcK"
install -m 0755 "$top/ci/vm/modules" "$root/etc/init.d/modules"
install -m 0755 "$top/ci/vm/S01syslogd" "$root/etc/init.d/S01syslogd"
install -m 0755 "$top/ci/vm/S10mdev" "$root/etc/init.d/S10mdev"
install -m 0755 "$top/ci/vm/S50crond" "$root/etc/init.d/S50crond"

# Kernel modules: the SD host and ext4 (for the data partition) and the USB
# serial chain, with their dependencies, in load order, resolved by the
# host's modprobe on the unpacked package (which has no modules.dep). The
# ARM Crypto Extensions variants are left out: the emulated Cortex-A15 has none.
mods="sdhci sdhci-pci ext4 usbcore xhci-hcd xhci-pci usbserial ftdi_sio"
depmod -b "$kdir" "$kver"
mkdir -p "$root/lib/modules/$kver"
for m in $mods; do
	modprobe -d "$kdir" -S "$kver" --show-depends "$m"
done | awk '$1 == "insmod" && !seen[$2]++ && $2 !~ /\/arch\/arm\/crypto\// { print $2 }' | while read -r ko; do
	rel=${ko#"$kdir"/lib/modules/"$kver"/}
	mkdir -p "$root/lib/modules/$kver/$(dirname "$rel")"
	cp "$ko" "$root/lib/modules/$kver/$rel"
	echo "$rel" >> "$root/etc/vm-modules"
done
cp "$kdir/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/"
depmod -b "$root" "$kver"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

# The SD card: our layout's image (stand-in boot and root partitions, the
# real empty data partition), grown to a power of two as QEMU's SD card
# model wants.
"$top/ci/image-check.sh" > "$work/image-check.log" || { cat "$work/image-check.log"; fail "ci/image-check.sh"; }
cp --sparse=always "$top/target/image-check/binaries/sdcard.img" "$work/sdcard.img"
size=$(stat -c %s "$work/sdcard.img")
p2=1
while [ "$p2" -lt "$size" ]; do p2=$((p2 * 2)); done
truncate -s "$p2" "$work/sdcard.img"

echo "root built: kernel $kver, busybox $(strings "$root/bin/busybox" | grep -m1 -o 'BusyBox v[0-9.]*'), $(du -h "$work/initramfs.gz" | cut -f1) initramfs"
exec python3 "$top/ci/vm/drive.py" --work "$work" --kernel "$kernel" \
	--initrd "$work/initramfs.gz" --disk "$work/sdcard.img" --host-mcce "$host_bin"
