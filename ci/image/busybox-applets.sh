#!/usr/bin/env bash
# Prints ci/image/busybox-applets: the busybox applets a Buildroot image of
# our defconfigs has, one path per line, from Buildroot's busybox
# configuration and a busybox binary that names the applets and their paths.
#
# Usage: ci/image/busybox-applets.sh RELEASE BUSYBOX_CONFIG [BUSYBOX] > ci/image/busybox-applets
#   RELEASE         the Buildroot release the configuration is from (named
#                   in the list's header)
#   BUSYBOX_CONFIG  that release's package/busybox/busybox.config (the
#                   default BR2_PACKAGE_BUSYBOX_CONFIG, which the
#                   defconfigs keep), e.g. from a Buildroot clone:
#                   git show 2026.02.3:package/busybox/busybox.config > /tmp/busybox.config
#   BUSYBOX         a busybox with every applet of interest (default: the
#                   busybox on PATH; CI has Debian's busybox-static)
#
# An applet is on the image when its option is "=y": CONFIG_<NAME> (upper
# case, "-" and "." as "_"), or CONFIG_BB_<NAME> (arch, sysctl), "[" and
# "[[" by CONFIG_TEST1 and CONFIG_TEST2, sh by CONFIG_SH_IS_ASH or
# CONFIG_SH_IS_HUSH. An applet that BUSYBOX does not know is missing from
# the list (a newer busybox's): a script that needs it fails the check
# until the list is made with a busybox that has it.
set -euo pipefail

release=${1:?usage: $0 RELEASE BUSYBOX_CONFIG [BUSYBOX]}
config=${2:?usage: $0 RELEASE BUSYBOX_CONFIG [BUSYBOX]}
busybox=${3:-busybox}
on() { grep -q "^CONFIG_$1=y\$" "$config"; }

cat <<HEADER
# The busybox applets on a Buildroot image of the mcce defconfigs, by path:
# those that Buildroot $release's package/busybox/busybox.config (the
# defconfigs keep that default; the fixups busybox.mk applies for them, init
# and mdev, are on already) turns on, as named by $("$busybox" 2>&1 | head -n 1 | sed 's/ multi-call binary.*//').
# ci/check-image-commands.py checks the image's scripts against it and
# ci/vm-check.sh gives the VM these applets and no others.
# Generated: ci/image/busybox-applets.sh $release busybox.config > ci/image/busybox-applets
# (the script's header says how to get busybox.config); refresh it when the
# Buildroot release the README names changes.
HEADER
"$busybox" --list-full | sort | while read -r path; do
	name=${path##*/}
	case "$name" in
	'[') opts=TEST1 ;;
	'[[') opts=TEST2 ;;
	sh) opts="SH_IS_ASH SH_IS_HUSH" ;;
	*)
		upper=$(printf '%s' "$name" | tr 'a-z.-' 'A-Z__')
		opts="$upper BB_$upper"
		;;
	esac
	for o in $opts; do
		if on "$o"; then
			echo "$path"
			break
		fi
	done
done
