#!/usr/bin/env bash
# Boots a real 32-bit ARM Linux (Debian's armmp kernel under qemu-system-arm,
# no KVM) from an emulated 4 GiB SD card holding our card image
# (ci/image-check.sh's genimage layout) whose root partition is built from
# what the image ships, and runs the scenario of ci/vm/drive.py against it:
# S05mcce-data and S90mcce, the users and groups of mcce.mk, the overlay
# (mdev rules, crontab, fstab), a real FTDI usb-serial driver fed by `mcce
# sim` on the host, real sysfs GPIO lines (PL061); then writes a second
# image over the card (dd, and as Raspberry Pi Imager does) and checks that
# everything kept is kept. The console log is kept in target/vm/console.log.
#
# Usage: ci/vm-check.sh [ARMV7_STATIC_MCCE [HOST_MCCE]]
#   ARMV7_STATIC_MCCE  default: built with ci/build-armv7.sh
#   HOST_MCCE          the host's mcce, runs the simulated meter
#                      (default: target/debug/mcce, built if missing)
# VM_SCENARIO=soak runs the fault soak instead (garbage, silence, unplug,
# a full card, one daemon throughout) and prints its peak memory, for
# bench/run.sh. VM_KEEP_GOING=1 runs every assertion even after one failed
# (to see which of them old scripts fail); the check still fails.
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
rm -rf "$work"
mkdir -p "$work"
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
# Two busyboxes: Debian's busybox-static runs every applet it has whatever
# the links (its shell prefers applets to PATH), so the image's applets
# come from Debian's dynamic busybox (no such preference), and from the
# static one only those the dynamic one lacks (crond, crontab, su).
bbdir=$(fetch_deb busybox-static)
bbdyndir=$(fetch_deb busybox)
# What S05mcce-data needs beyond busybox, as the image's util-linux and
# e2fsprogs give it: sfdisk, partx, mke2fs, e2fsck (dynamic: with their
# libraries, and the dynamic busybox's).
tooldirs=()
for pkg in fdisk util-linux e2fsprogs libc6 libfdisk1 libsmartcols1 libblkid1 libuuid1 \
	libext2fs2 libcom-err2 libreadline8 libtinfo6; do
	tooldirs+=("$(fetch_deb "$pkg")")
done
kernel=$(ls "$kdir"/boot/vmlinuz-*)
kver=${kernel##*/vmlinuz-}
# The applets each busybox has (run on the host by qemu-arm-static).
qemu-arm-static "$bbdir/bin/busybox" --list > "$work/applets-static"
qemu-arm-static -L "$cache/libc6" "$bbdyndir/bin/busybox" --list > "$work/applets-dynamic" ||
	fail "cannot list the applets of Debian's armhf busybox"

# --- The root: busybox, our binary, overlay, init scripts, users -----------
# build_root DIR NAME: the root file system of image NAME (A or B; they
# differ only in /etc/mcce-image and so in their file system UUID).
build_root() {
root=$1
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,dev,proc,sys,run,tmp,var/lib/mcce,var/log,root,lib/modules}
ln -s ../run "$root/var/run"
# Busybox: the applets of a Buildroot image of our defconfigs
# (ci/image/busybox-applets) and no others, as links where busybox puts
# them. The static busybox is /vm/busybox, outside PATH: ci/vm/drive.py
# runs the few tools the image lacks (stat) through it.
install -m 0755 "$bbdyndir/bin/busybox" "$root/bin/busybox"
install -D -m 0755 "$bbdir/bin/busybox" "$root/vm/busybox"
missing=()
while read -r path; do
	case "$path" in '#'* | '' | bin/busybox) continue ;; esac
	mkdir -p "$root/${path%/*}"
	if grep -qxF "${path##*/}" "$work/applets-dynamic"; then
		ln -s /bin/busybox "$root/$path"
	elif grep -qxF "${path##*/}" "$work/applets-static"; then
		ln -s /vm/busybox "$root/$path"
	else
		missing+=("${path##*/}")
	fi
done < "$top/ci/image/busybox-applets"
[ "${#missing[@]}" = 0 ] || echo "image $2: Debian's busybox lacks these applets of the image: ${missing[*]}" >&2
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3
echo "$2" > "$root/etc/mcce-image"

cp -a "$top/overlay/." "$root/"
install -m 0755 "$arm_bin" "$root/usr/bin/mcce"
install -m 0755 "$top/buildroot-package/package/mcce/S90mcce" "$root/etc/init.d/S90mcce"
install -m 0755 "$top/buildroot-package/package/mcce/S05mcce-data" "$root/etc/init.d/S05mcce-data"
install -D -m 0644 "$top/buildroot-package/package/mcce/mcce-new-image" "$root/var/lib/mcce-new-image"
# sfdisk, partx, mke2fs and e2fsck (where busybox's own ext2-only mke2fs
# would go), with the libraries they need.
for t in sbin/sfdisk usr/bin/partx sbin/mke2fs sbin/e2fsck; do
	src=$(for d in "${tooldirs[@]}"; do if [ -f "$d/$t" ]; then echo "$d/$t"; fi; done | head -n 1)
	[ -n "$src" ] || fail "no $t in the unpacked packages"
	# Over busybox's link, as Buildroot's busybox leaves the package's be.
	rm -f "$root/sbin/${t##*/}"
	install -m 0755 "$src" "$root/sbin/${t##*/}"
done
needed() { readelf -d "$1" 2> /dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
copy_lib() {
	[ -e "$root/lib/$1" ] && return 0
	local f
	f=$(find "${tooldirs[@]}" -name "$1" \( -type f -o -type l \) | sort | head -n 1 || true)
	[ -n "$f" ] || fail "no $1 in the unpacked packages"
	cp -L "$f" "$root/lib/$1"
	local n
	for n in $(needed "$root/lib/$1"); do copy_lib "$n"; done
}
copy_lib ld-linux-armhf.so.3
for t in sbin/sfdisk sbin/partx sbin/mke2fs sbin/e2fsck bin/busybox; do
	for n in $(needed "$root/$t"); do copy_lib "$n"; done
done
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
read -r uname uid ugroup gid _pw uhome _shell ugroups _comment <<<"$users"
[ "$uname" = mcce ] || fail "unexpected MCCE_USERS: $users"
{
	echo "root:x:0:"
	echo "tty:x:5:"
	echo "dialout:x:18:$( [[ ,$ugroups, == *,dialout,* ]] && echo "$uname")"
	echo "$ugroup:x:$gid:"
	IFS=, read -ra groups <<<"$ugroups"
	next_gid=101
	for g in "${groups[@]}"; do
		[ "$g" = dialout ] && continue
		echo "$g:x:$next_gid:$uname"
		next_gid=$((next_gid + 1))
	done
} > "$root/etc/group"
printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s:mcce power logger:%s:/bin/false\n' \
	"$uname" "$uid" "$gid" "$uhome" > "$root/etc/passwd"
printf 'root::1::::::\n%s:*:1::::::\n' "$uname" > "$root/etc/shadow"
# MCCE_PERMISSIONS: "path d mode user group ..." lines.
sed -n '/^define MCCE_PERMISSIONS/,/^endef/p' "$mk" | sed '1d;$d' |
	while read -r path type mode owner group _; do
		[ "$type" = d ] || fail "unexpected permission entry $path"
		mkdir -p "$root$path"
		chmod "$mode" "$root$path"
		chown "$( [ "$owner" = mcce ] && echo "$uid" || echo 0):$( [ "$group" = mcce ] && echo "$gid" || echo 0)" "$root$path"
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

# Buildroot's dropbear package links /etc/dropbear to /var/run/dropbear;
# its S50dropbear makes it a directory and the host keys are made there.
# (The VM has no dropbear: drive.py does what S50dropbear does.)
ln -s /var/run/dropbear "$root/etc/dropbear"

# Kernel modules: the SD host and ext4 (the root and data partitions),
# overlayfs (the kept settings) and the USB serial chain, with their
# dependencies, in load order, resolved by the host's modprobe on the
# unpacked package (which has no modules.dep). The ARM Crypto Extensions
# variants are left out: the emulated Cortex-A15 has none.
mkdir -p "$root/lib/modules/$kver"
while read -r rel; do
	mkdir -p "$root/lib/modules/$kver/$(dirname "$rel")"
	cp "$kdir/lib/modules/$kver/$rel" "$root/lib/modules/$kver/$rel"
done < "$work/vm-modules"
cp "$work/vm-modules" "$root/etc/vm-modules"
cp "$kdir/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/"
depmod -b "$root" "$kver"
}

mods="sdhci sdhci-pci ext4 overlay usbcore xhci-hcd xhci-pci usbserial ftdi_sio"
depmod -b "$kdir" "$kver"
for m in $mods; do
	modprobe -d "$kdir" -S "$kver" --show-depends "$m"
done | awk '$1 == "insmod" && !seen[$2]++ && $2 !~ /\/arch\/arm\/crypto\// { print $2 }' |
	sed "s#^$kdir/lib/modules/$kver/##" > "$work/vm-modules"

# Images A and B: our genimage layout (ci/image-check.sh: stand-in boot
# files) around a root file system made of the root above, as Buildroot
# makes rootfs.ext4 (ext4, label rootfs, 120 MiB).
for name in A B; do
	build_root "$work/root-$name" "$name"
	mke2fs -q -F -t ext4 -L rootfs -d "$work/root-$name" "$work/rootfs-$name.ext4" 120M > /dev/null
	"$top/ci/image-check.sh" "$work/rootfs-$name.ext4" "$work/image-$name" > "$work/image-check-$name.log" ||
		{ cat "$work/image-check-$name.log"; fail "ci/image-check.sh on image $name"; }
	mv "$work/image-$name/binaries/sdcard.img" "$work/sdcard-$name.img"
	rm -rf "$work/image-$name" "$work/rootfs-$name.ext4"
done

# What the VM adds: the boot loader's part. A Pi's firmware starts the
# kernel with root=/dev/mmcblk0p2; here an initramfs loads the SD host and
# ext4 drivers (built into a Pi kernel), mounts the card's partition 2 and
# switches to it, so the image's root really is the card's partition 2
# (mounted while S05mcce-data adds partition 3).
ird=$work/initramfs
mkdir -p "$ird"/{bin,sbin,dev,proc,sys,newroot,lib/modules}
install -m 0755 "$bbdir/bin/busybox" "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
mknod -m 600 "$ird/dev/console" c 5 1
install -m 0755 "$top/ci/vm/initramfs-init" "$ird/init"
cp -a "$work/root-A/lib/modules/." "$ird/lib/modules/"
cp "$work/vm-modules" "$ird/vm-modules"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

echo "images built: kernel $kver, busybox $(strings "$work/root-A/bin/busybox" | grep -m1 -o 'BusyBox v[0-9.]*') ($(find "$work/root-A" -type l -lname '*busybox' | wc -l) applets), $(du -h "$work/initramfs.gz" | cut -f1) initramfs, sdcard.img $(du -h --apparent-size "$work/sdcard-A.img" | cut -f1)"
exec python3 "$top/ci/vm/drive.py" --work "$work" --kernel "$kernel" \
	--initrd "$work/initramfs.gz" --image-a "$work/sdcard-A.img" --image-b "$work/sdcard-B.img" \
	--card-size 4G --uid "$(sed -n '/^define MCCE_USERS/,/^endef/p' "$top/buildroot-package/package/mcce/mcce.mk" | sed -n 2p | awk '{ print $2 }')" \
	--host-mcce "$host_bin" --scenario "${VM_SCENARIO:-image}"
