#!/usr/bin/env bash
# Rootfs smoke test, as root: a busybox root with our overlay, the package's
# init script and crontab, the user and groups the package creates, a static
# mcce, a simulated meter at /dev/ttyUSB0 and a fake /sys/class/gpio. Checks
# that S90mcce start/reload/restart/stop and the crontab's digest work there,
# and S91mcce-serve and S92mcce-publish (to a mosquitto on 127.0.0.1).
# Usage: ci/rootfs-smoke.sh STATIC_MCCE_BINARY
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:?usage: $0 STATIC_MCCE_BINARY}")

# Everything mounted below vanishes with this private mount namespace.
if [ "${MCCE_SMOKE_INSIDE:-}" != 1 ]; then
	exec env MCCE_SMOKE_INSIDE=1 unshare -m "$0" "$bin"
fi

work=$(mktemp -d /tmp/mcce-rootfs.XXXXXX)
root=$work/root
sim_pid=""
broker_pid=""
cleanup() {
	if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi
	if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; fi
	if [ -f "$root/run/mcce-publish.pid" ]; then kill "$(cat "$root/run/mcce-publish.pid")" 2>/dev/null || true; fi
	pkill -f "^/usr/bin/mcce run" 2>/dev/null || true
	if [ -f "$root/run/mcce-serve.pid" ]; then kill "$(cat "$root/run/mcce-serve.pid")" 2>/dev/null || true; fi
	pkill -x syslogd 2>/dev/null || true
	sleep 0.2
	umount -R -l "$root/dev" "$root/proc" "$root/sys/class" "$root/var/lib/mcce" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -f "$root/var/log/messages" ] && tail -n 30 "$root/var/log/messages" >&2
	exit 1
}
pass() { echo "ok: $*"; }

wait_for() { # seconds, description, command...
	local limit=$1 what=$2
	shift 2
	for _ in $(seq "$((limit * 10))"); do
		"$@" && return 0
		sleep 0.1
	done
	fail "timed out waiting for $what"
}

# --- The root filesystem --------------------------------------------------
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,dev,proc,sys/class,run,tmp,var/lib,var/log,root}
ln -s ../run "$root/var/run"
cp "$(command -v busybox)" "$root/bin/busybox"
chroot "$root" /bin/busybox --install -s
cp -a "$top/overlay/." "$root/"
install -m 0755 "$top/buildroot-package/package/mcce/S90mcce" "$root/etc/init.d/S90mcce"
install -m 0755 "$top/buildroot-package/package/mcce/S91mcce-serve" "$root/etc/init.d/S91mcce-serve"
install -m 0755 "$top/buildroot-package/package/mcce/S92mcce-publish" "$root/etc/init.d/S92mcce-publish"
install -m 0755 "$bin" "$root/usr/bin/mcce"

# Users and groups as Buildroot's mkusers makes them from MCCE_USERS.
users=$(sed -n '/^define MCCE_USERS/,/^endef/p' "$top/buildroot-package/package/mcce/mcce.mk" | sed -n 2p)
read -r uname uid ugroup gid _pw uhome _shell ugroups _comment <<<"$users"
if [ "$uname" != mcce ] || [ "$ugroups" != "dialout,gpio" ]; then fail "unexpected MCCE_USERS: $users"; fi
# A fixed uid and gid: a kept data partition is written by the same mcce
# under every image.
if [ "$uid" -le 0 ] || [ "$gid" -le 0 ]; then fail "mcce has no fixed uid and gid in MCCE_USERS: $users"; fi
cat > "$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/bin/sh
$uname:x:$uid:$gid:mcce power logger:$uhome:/bin/false
PASSWD
cat > "$root/etc/group" <<GROUP
root:x:0:
tty:x:5:
dialout:x:18:$uname
$ugroup:x:$gid:
gpio:x:101:$uname
GROUP
# MCCE_PERMISSIONS: "path d mode user group ..." lines.
sed -n '/^define MCCE_PERMISSIONS/,/^endef/p' "$top/buildroot-package/package/mcce/mcce.mk" |
	sed '1d;$d' | while read -r path type mode owner group _; do
		[ "$type" = d ] || fail "unexpected permission entry $path"
		mkdir -p "$root$path"
		chmod "$mode" "$root$path"
		chown "$( [ "$owner" = mcce ] && echo "$uid" || echo 0):$( [ "$group" = mcce ] && echo "$gid" || echo 0)" "$root$path"
	done
# The crontab as mcce.mk installs it; it belongs to root (busybox crond
# ignores others).
install -D -m 0600 -o 0 -g 0 "$top/buildroot-package/package/mcce/mcce.crontab" \
	"$root/etc/cron/crontabs/mcce"
# Edit /etc/mcce.conf as a user would: a faster poll for this test.
sed -i 's/^POLL_SECONDS=.*/POLL_SECONDS=1/; s/^REPLY_TIMEOUT_MS=.*/REPLY_TIMEOUT_MS=500/' "$root/etc/mcce.conf"
# mcce serve on loopback only, on a port of its own.
sed -i 's/^SERVE_LISTEN=.*/SERVE_LISTEN=127.0.0.1:18396/' "$root/etc/mcce.conf"

# --- Devices, /proc, the fake GPIO tree, the meter --------------------------
mount -t tmpfs -o mode=0755 none "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/zero" c 1 5
mknod -m 444 "$root/dev/urandom" c 1 9
mount -t proc proc "$root/proc"
mount -t tmpfs none "$root/sys/class"
g=$root/sys/class/gpio
mkdir -p "$g/gpiochip512" "$g/gpio529" "$g/gpio530"
echo pinctrl-bcm2835 > "$g/gpiochip512/label"
echo 512 > "$g/gpiochip512/base"
echo 54 > "$g/gpiochip512/ngpio"
: > "$g/export"
for n in 529 530; do
	echo in > "$g/gpio$n/direction"
	echo 1 > "$g/gpio$n/value" # the state an unclean exit could leave
	chmod 644 "$g/gpio$n/direction" "$g/gpio$n/value"
done

"$bin" sim --link "$work/ttyUSB0" > /dev/null 2>&1 &
sim_pid=$!
wait_for 5 "the simulated meter" test -L "$work/ttyUSB0"
slave=$(readlink "$work/ttyUSB0")
touch "$root/dev/ttyUSB0"
mount --bind "$slave" "$root/dev/ttyUSB0"
chown 0:18 "$root/dev/ttyUSB0" # what overlay/etc/mdev.conf does for ttyUSB*
chmod 660 "$root/dev/ttyUSB0"
grep -q '^ttyUSB\[0-9\]\*[[:space:]]*root:dialout 660' "$root/etc/mdev.conf" || fail "mdev.conf rule for ttyUSB"

chroot "$root" /sbin/syslogd -O /var/log/messages
wait_for 5 "syslogd" test -S "$root/dev/log"

# The data partition (the image's fstab names it for /var/lib/mcce): a
# tmpfs here, holding what an image whose mcce had another uid left.
# kept/ holds root's settings; a link to one of them in days/ (which the
# daemon's user could have made) must stay root's.
data_partition() {
	mount -t tmpfs -o mode=0755 none "$root/var/lib/mcce"
	mkdir -p "$root/var/lib/mcce/days" "$root/var/lib/mcce/db" "$root/var/lib/mcce/kept/etc"
	echo "1700000000 500" > "$root/var/lib/mcce/days/2023-11-14"
	chown -R 4242:4242 "$root/var/lib/mcce/days" "$root/var/lib/mcce/db"
	echo "ALARM_WATTS=3000" > "$root/var/lib/mcce/kept/etc/mcce.conf"
	ln "$root/var/lib/mcce/kept/etc/mcce.conf" "$root/var/lib/mcce/days/notes"
}
data_partition

# --- start ------------------------------------------------------------------
out=$(chroot "$root" /etc/init.d/S90mcce start)
[ "$out" = "Starting mcce: OK" ] || fail "start said: $out"
owners=$(stat -c %u:%g "$root/var/lib/mcce/days" "$root/var/lib/mcce/days/2023-11-14" "$root/var/lib/mcce/db" | sort -u)
[ "$owners" = "$uid:$gid" ] || fail "S90mcce left the kept data tree owned by $owners"
[ "$(stat -c %u:%g "$root/var/lib/mcce/kept/etc/mcce.conf")" = 0:0 ] ||
	fail "S90mcce handed a root file linked into days/ to mcce"
pass "S90mcce start hands a kept data tree of another uid back to mcce ($uid:$gid), not a root file linked into it"
pid=$(cat "$root/run/mcce.pid")
[ "$(stat -c %u "/proc/$pid")" = "$uid" ] || fail "daemon runs as uid $(stat -c %u "/proc/$pid"), not mcce"
grep -q "^Groups:.*\b18\b.*\b101\b" "/proc/$pid/status" || fail "daemon lacks groups dialout,gpio: $(grep Groups "/proc/$pid/status")"
pass "S90mcce start: pid $pid as user mcce with groups dialout,gpio"
for n in 529 530; do
	[ "$(stat -c %g "$g/gpio$n/value")" = 101 ] || fail "gpio$n/value not handed to group gpio"
	[ "$(cat "$g/gpio$n/direction")" = low ] || fail "gpio$n direction is $(cat "$g/gpio$n/direction")"
done
pass "buzzer lines 529/530 (BCM 17/18 + base 512) exported for group gpio, driven low"

count() { cat "$root"/var/lib/mcce/days/* 2>/dev/null | wc -l; }
at_least() { [ "$(count)" -ge "$1" ]; }
wait_for 15 "samples" at_least 3
pass "samples accumulate ($(count) lines)"
wait_for 5 "daemon log in syslog" grep -q "mcce: INFO: .*port open" "$root/var/log/messages"
pass "daemon stderr reaches syslog"
chroot --userspec="$uid:$gid" "$root" /usr/bin/mcce status > "$work/status" || fail "mcce status: $(cat "$work/status")"
grep -q "meter:  ok" "$work/status" || fail "status: $(cat "$work/status")"
pass "mcce status works while the daemon holds the port"

# --- reload, restart --------------------------------------------------------
out=$(chroot "$root" /etc/init.d/S90mcce reload)
[ "$out" = "Reloading mcce: OK" ] || fail "reload said: $out"
wait_for 5 "reload in the log" grep -q "configuration reloaded" "$root/var/log/messages"
[ "$(cat "$root/run/mcce.pid")" = "$pid" ] || fail "reload changed the pid"
pass "S90mcce reload: same pid, configuration reloaded"

# busybox start-stop-daemon reports "stopped /usr/bin/mcce (pid N)" itself.
said() { # output, expected lines with the ssd report removed
	[ "$(printf '%s\n' "$1" | sed 's#stopped /usr/bin/mcce (pid [0-9]*)##' | tr -d '\n')" = "$2" ]
}
out=$(chroot "$root" /etc/init.d/S90mcce restart)
said "$out" "Stopping mcce: OKStarting mcce: OK" || fail "restart said: $out"
pid2=$(cat "$root/run/mcce.pid")
if [ "$pid2" = "$pid" ] || [ -d "/proc/$pid" ]; then fail "restart left the old daemon"; fi
before=$(count)
wait_for 10 "samples after restart" at_least "$((before + 2))"
pass "S90mcce restart: new pid $pid2, samples continue"

# --- stop ---------------------------------------------------------------------
echo 1 > "$g/gpio529/value"
out=$(chroot "$root" /etc/init.d/S90mcce stop)
said "$out" "Stopping mcce: OK" || fail "stop said: $out"
[ ! -d "/proc/$pid2" ] || fail "daemon still running after stop returned"
pgrep -f "^/usr/bin/mcce run" > /dev/null && fail "an mcce daemon is left"
[ ! -e "$root/run/mcce.pid" ] || fail "pidfile left behind"
for n in 529 530; do
	[ "$(cat "$g/gpio$n/value")" = 0 ] || fail "gpio$n left at $(cat "$g/gpio$n/value")"
done
pass "S90mcce stop: returns with no daemon left and both buzzer lines low"
# A daemon killed while sounding leaves its lines outputs driven high: stop
# has nothing to stop, says so, and still drives them low ("low" written to
# direction, which on a real kernel sets the level too).
for n in 529 530; do echo out > "$g/gpio$n/direction"; done
out=$(chroot "$root" /etc/init.d/S90mcce stop 2>&1) && fail "stop with no daemon succeeded: $out"
printf '%s\n' "$out" | grep -q "FAIL (not running)$" || fail "stop with no daemon said: $out"
for n in 529 530; do
	[ "$(cat "$g/gpio$n/direction")" = low ] || fail "stop with no daemon left gpio$n direction $(cat "$g/gpio$n/direction")"
done
pass "S90mcce stop with no daemon: says not running, both buzzer lines low"

# --- the data partition not mounted -----------------------------------------
umount "$root/var/lib/mcce"
# A link where the note goes, made by the daemon's user, to a file of
# root's: S90mcce (root) must neither write nor read through it.
printf 's3cret\n' > "$root/etc/mcce-secret"
chmod 600 "$root/etc/mcce-secret"
ln -sfn /etc/mcce-secret "$root/run/mcce/data-partition"
ln -sfn /etc/mcce-secret "$root/run/mcce/data-partition.new"
chown -h "$uid:$gid" "$root/run/mcce/data-partition" "$root/run/mcce/data-partition.new"
out=$(chroot "$root" /etc/init.d/S90mcce start)
[ "$(cat "$root/etc/mcce-secret")" = s3cret ] ||
	fail "S90mcce wrote through a link in RUN_DIR: $(cat "$root/etc/mcce-secret")"
if [ -L "$root/run/mcce/data-partition" ] || [ ! -f "$root/run/mcce/data-partition" ]; then
	fail "S90mcce kept the link where its note goes"
fi
! grep -q s3cret "$root/run/mcce/data-partition" || fail "S90mcce copied root's file into its note"
[ "$(stat -c %u "$root/run/mcce")" = "$uid" ] || fail "S90mcce left RUN_DIR owned by $(stat -c %u "$root/run/mcce")"
rm "$root/etc/mcce-secret"
printf '%s\n' "$out" | grep -q "^mcce: WARNING: recording onto the root file system, lost at the next flash: /var/lib/mcce is not mounted" ||
	fail "start without the data partition said: $out"
printf '%s\n' "$out" | grep -q "^Starting mcce: OK$" || fail "start without the data partition said: $out"
wait_for 5 "the warning in syslog" grep -q "mcce: WARNING: recording onto the root file system" "$root/var/log/messages"
status_is() {
	local rc=0
	chroot --userspec="$uid:$gid" "$root" /usr/bin/mcce status > "$work/status" 2>&1 || rc=$?
	[ "$rc" = "$1" ]
}
wait_for 10 "mcce status to exit 74" status_is 74
grep -q "^data:   recording onto the root file system, lost at the next flash: /var/lib/mcce is not mounted" "$work/status" ||
	fail "status without the data partition: $(cat "$work/status")"
chroot "$root" /etc/init.d/S90mcce stop > /dev/null
data_partition
# What the boot noted (S05mcce-data) beside S90mcce's line: S90mcce takes
# back its own line only.
boot_note="cannot overlay /root with /var/lib/mcce/kept/root: edits of /root are lost at the next flash"
echo "$boot_note" >> "$root/run/mcce/data-partition"
out=$(chroot "$root" /etc/init.d/S90mcce start)
[ "$out" = "Starting mcce: OK" ] || fail "start with the data partition back said: $out"
[ "$(cat "$root/run/mcce/data-partition")" = "$boot_note" ] ||
	fail "S90mcce left this note: $(cat "$root/run/mcce/data-partition")"
chroot "$root" /etc/init.d/S90mcce stop > /dev/null
rm "$root/run/mcce/data-partition"
pass "data partition not mounted: S90mcce warns on the console and in syslog, records all the same; mcce status exits 74: $(grep '^data:.*root file system' "$work/status"); mounted again, S90mcce takes back its line and leaves the boot's"

# --- the digest, as crond runs it ---------------------------------------------
yesterday=$(chroot "$root" date -d "@$(($(date +%s) - 86400))" +%F)
start=$(chroot "$root" date -d "$yesterday 00:00:00" +%s)
# One sample per poll (POLL_SECONDS=1 above) over the whole day.
seq 0 1 86399 | awk -v s="$start" '{ printf "%d %d\n", s + $1, 300 + ($1 % 3600) / 10 }' \
	> "$root/var/lib/mcce/days/$yesterday"
chown "$uid:$gid" "$root/var/lib/mcce/days/$yesterday"
cmd=$(grep -v '^[[:space:]]*#' "$root/etc/cron/crontabs/mcce" | awk 'NF >= 6 { $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); print; exit }')
[ -n "$cmd" ] || fail "no command in the crontab"
chroot --userspec="$uid:$gid" "$root" /usr/bin/env -i HOME=/var/lib/mcce SHELL=/bin/sh \
	USER=mcce LOGNAME=mcce PATH=/bin:/usr/bin:/sbin:/usr/sbin /bin/sh -c "$cmd"
db=$root/var/lib/mcce/db/pwr.${yesterday%%-*}
[ -f "$db" ] || fail "the crontab's command made no database"
[ "$(stat -c %u "$db")" = "$uid" ] || fail "database not owned by mcce"
rows=$(sqlite3 "$db" "select count(*) from \"$yesterday\"")
kwh=$(sqlite3 "$db" "select \"kWh\" from avg where \"index\" = '$yesterday'")
if [ "$rows" != 96 ] || [ "$kwh" = "" ] || [ "$kwh" = 0.0 ]; then fail "database content: $rows rows, kWh '$kwh'"; fi
wait_for 5 "digest line in syslog" grep -q "mcce-digest: $yesterday: .* 100.0 % covered" "$root/var/log/messages"
pass "crontab command ($cmd) digests yesterday: $kwh kWh, $rows buckets, logged to syslog"

# --- S91mcce-serve: the page and API over yesterday's database ----------------
out=$(chroot "$root" /etc/init.d/S91mcce-serve start)
[ "$out" = "Starting mcce-serve: OK" ] || fail "S91mcce-serve start said: $out"
spid=$(cat "$root/run/mcce-serve.pid")
[ "$(stat -c %u "/proc/$spid")" = "$uid" ] || fail "mcce serve does not run as user mcce"
days_json() { curl -sf "http://127.0.0.1:18396/api/days?from=$yesterday&to=$yesterday"; }
serve_up() { days_json > /dev/null; }
wait_for 5 "mcce serve answering" serve_up
days_json | grep -q "\"date\":\"$yesterday\",\"kwh\":$kwh," || fail "serve: $(days_json)"
out=$(chroot "$root" /etc/init.d/S91mcce-serve stop)
said "$out" "Stopping mcce-serve: OK" || fail "S91mcce-serve stop said: $out"
[ ! -d "/proc/$spid" ] || fail "mcce serve still running after stop returned"
[ ! -e "$root/run/mcce-serve.pid" ] || fail "serve pidfile left behind"
pass "S91mcce-serve start/stop: mcce serve as user mcce answers /api/days with yesterday's $kwh kWh"
# A start that fails points to the system log, and the reason is there.
sed -i 's/^SERVE_LISTEN=.*/SERVE_LISTEN=nowhere/' "$root/etc/mcce.conf"
out=$(chroot "$root" /etc/init.d/S91mcce-serve start) && fail "S91mcce-serve start with a bad SERVE_LISTEN succeeded: $out"
[ "$out" = "Starting mcce-serve: FAIL (the reason is in the system log)" ] || fail "S91mcce-serve bad start said: $out"
wait_for 5 "the reason in syslog" grep -q "mcce-serve: .*nowhere" "$root/var/log/messages"
sed -i 's/^SERVE_LISTEN=.*/SERVE_LISTEN=127.0.0.1:18396/' "$root/etc/mcce.conf"
pass "S91mcce-serve start that fails: $(grep "mcce-serve: .*nowhere" "$root/var/log/messages" | tail -n 1 | sed 's/.*mcce-serve: //')"

# --- S92mcce-publish: to a broker on 127.0.0.1 ---------------------------------
# Without MQTT_URL (the image's mcce.conf): FAIL, and the reason in the log.
out=$(chroot "$root" /etc/init.d/S92mcce-publish start) && fail "S92mcce-publish start without MQTT_URL succeeded: $out"
[ "$out" = "Starting mcce-publish: FAIL (the reason is in the system log)" ] || fail "S92mcce-publish bad start said: $out"
wait_for 5 "the reason in syslog" grep -q "mcce-publish: .*MQTT_URL is not set" "$root/var/log/messages"
pass "S92mcce-publish start without MQTT_URL: $(grep "mcce-publish: .*MQTT_URL" "$root/var/log/messages" | tail -n 1 | sed 's/.*mcce-publish: //')"
mqtt_port=18397
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n' "$mqtt_port" > "$work/mosquitto.conf"
/usr/sbin/mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker_pid=$!
printf 'MQTT_URL=mqtt://127.0.0.1:%s\nMQTT_TOPIC=mcce/smoke\n' "$mqtt_port" >> "$root/etc/mcce.conf"
out=$(chroot "$root" /etc/init.d/S92mcce-publish start) || fail "S92mcce-publish start said: $out"
[ "$out" = "Starting mcce-publish: OK" ] || fail "S92mcce-publish start said: $out"
ppid=$(cat "$root/run/mcce-publish.pid")
[ "$(stat -c %u "/proc/$ppid")" = "$uid" ] || fail "mcce publish does not run as user mcce"
retained() { mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -t "$1" -C 1 -W 2 2> /dev/null; }
online() { [ "$(retained mcce/smoke/availability)" = online ]; }
wait_for 10 "mcce publish online" online
retained mcce/smoke/state | grep -q '"energy_total":' || fail "no state from mcce publish: $(retained mcce/smoke/state)"
retained homeassistant/sensor/mcce_smoke/energy_total/config | grep -q total_increasing ||
	fail "no discovery config for the energy total"
out=$(chroot "$root" /etc/init.d/S92mcce-publish stop)
said "$out" "Stopping mcce-publish: OK" || fail "S92mcce-publish stop said: $out"
[ ! -d "/proc/$ppid" ] || fail "mcce publish still running after stop returned"
[ "$(retained mcce/smoke/availability)" = offline ] || fail "no offline after a clean stop"
[ "$(stat -c %u "$root/var/lib/mcce/publish/total")" = "$uid" ] || fail "no saved total of mcce's in DATA_DIR/publish"
pass "S92mcce-publish start/stop: mcce publish as user mcce, online with its state and discovery, offline after stop"

# busybox crond reads the crontab without complaint.
timeout 3 chroot "$root" crond -f -l 0 -L /tmp/crond.log -c /etc/cron/crontabs || true
grep -q "crond (busybox" "$root/tmp/crond.log" || fail "crond did not start: $(cat "$root/tmp/crond.log")"
grep -qi "error\|bad\|ignored" "$root/tmp/crond.log" && fail "crond complained: $(cat "$root/tmp/crond.log")"
# At log level 0 crond prints each entry it parsed, then its minute bitmap:
# minute 5 is the sixth bit.
grep -q "user:mcce entry:" "$root/tmp/crond.log" || fail "crond did not read the mcce crontab: $(cat "$root/tmp/crond.log")"
grep -q "^000001000000" "$root/tmp/crond.log" || fail "crond did not schedule minute 5: $(cat "$root/tmp/crond.log")"
pass "busybox crond accepts /etc/cron/crontabs/mcce"
echo "rootfs smoke test: all passed"
