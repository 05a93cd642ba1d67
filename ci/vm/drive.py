#!/usr/bin/env python3
"""Drives the ARM VM of ci/vm-check.sh and asserts the image's behaviour.

Runs `mcce sim --link` on the host as the meter behind the guest's FTDI
adapter, writes image A to a 4 GiB card file, starts qemu-system-arm on it
with its console and monitor on unix sockets, and talks to the guest's
console shell: every command ends with a marker carrying its exit status,
and every wait has a bound. The first boot is cut twice while it makes the
data partition; then the image's scenario runs; then image B is written
over the card (dd, then as Raspberry Pi Imager does) and what the box keeps
is checked, with one more power cut while the data partition is restored.
Prints one line per assertion ("ok N: ..." or "FAIL N: ...") and exits 1
at the first failure. The whole console output goes to WORK/console.log.

With --scenario soak it runs the fault soak instead: one daemon through
garbage, silence, an unplugged adapter and a full card (each swap of the
simulated meter is an unplug and a replug of the adapter), then prints the
daemon's peak memory ("soak: VmHWM N kB ..."), which bench/run.sh quotes.
"""

import argparse
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time

GPIO_LABEL = "9030000.pl061"
MIB = 2**20
# S05mcce-data's place for the data partition.
DATA_START = 1024 * MIB
# The full busybox, outside the image's PATH: the checks' own tools that a
# Buildroot image has not (stat).
VM_BUSYBOX = "/vm/busybox"
# Put on the card's root as /usr/sbin/sfdisk, where S05mcce-data looks
# first: the retype of partition 3 fails while /fail-retype exists (as a
# card that refuses a write would), everything else is the real sfdisk.
FAILING_RETYPE = b"""#!/bin/sh
case " $* " in
*" --part-type "*) [ -e /fail-retype ] && { echo "sfdisk: cannot write (VM check)" >&2; exit 1; } ;;
esac
exec /sbin/sfdisk "$@"
"""


class Failed(Exception):
    pass


class Console:
    """The guest's serial console: a reader thread keeps everything in a buffer
    and in the log; `run` sends one command and waits for its marker."""

    def __init__(self, path, log_path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise Failed(f"no console socket at {path}")
                time.sleep(0.1)
        self.log = open(log_path, "ab")
        self.buf = b""
        self.lock = threading.Condition()
        self.count = 0
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return
            self.log.write(data)
            self.log.flush()
            with self.lock:
                self.buf += data
                self.lock.notify_all()

    def mark(self):
        with self.lock:
            return len(self.buf)

    def text(self, start=0):
        with self.lock:
            return self.buf[start:].decode("utf-8", "replace")

    def wait_for(self, pattern, timeout, start=0):
        """Waits until `pattern` (regex) appears after offset `start`."""
        rx = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                m = rx.search(self.buf, start)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failed(f"timed out after {timeout} s waiting for {pattern!r}")
                self.lock.wait(left)

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def run(self, cmd, timeout=20):
        """Runs `cmd` in the guest shell; returns (exit status, output)."""
        self.count += 1
        tag = f"{self.count}x{os.getpid()}"
        start = self.mark()
        # The marker is split in the command so that an echoed command line
        # never matches it.
        self.send(cmd + '\necho "@@""RC' + tag + '=$?@@"')
        m = self.wait_for(rf"@@RC{tag}=(\d+)@@", timeout, start)
        out = self.buf[start:m.start()].decode("utf-8", "replace")
        return int(m.group(1)), out.replace("\r", "")

    def ok(self, cmd, timeout=20):
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise Failed(f"`{cmd}` exited {rc}: {out.strip()[-600:]}")
        return out.strip()


class Monitor:
    def __init__(self, path):
        self.path = path

    def command(self, cmd, timeout=10):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.path)
        data = b""
        while b"(qemu)" not in data:
            data += s.recv(4096)
        s.sendall(cmd.encode() + b"\n")
        data = b""
        deadline = time.monotonic() + timeout
        while data.count(b"(qemu)") < 1 and time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        s.close()
        return data.decode("utf-8", "replace")


def poll(what, timeout, fn, interval=0.5):
    """Calls fn() until it returns something true; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout} s: {what}")
        time.sleep(interval)


class Scenario:
    def __init__(self, args):
        self.a = args
        self.work = args.work
        self.started = time.monotonic()

    def check(self, n, cond, what):
        print(f"{'ok' if cond else 'FAIL'} {n}: {what}", flush=True)
        if not cond:
            # VM_KEEP_GOING=1: the next assertions run all the same (to see
            # which of them old scripts fail), and the run still fails.
            if os.environ.get("VM_KEEP_GOING") != "1":
                raise Failed(f"assertion {n} failed: {what}")
            self.failed = getattr(self, "failed", []) + [str(n)]

    # --- setup -------------------------------------------------------------
    def start_meter(self, *options):
        link = os.path.join(self.work, "meter")
        if os.path.lexists(link):
            os.unlink(link)
        self.sim = subprocess.Popen(
            [self.a.host_mcce, "sim", "--link", link, *options],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.work, "sim.log"), "wb"),
        )
        poll("the simulated meter's pty", 10, lambda: os.path.exists(link), 0.1)
        self.pty = os.path.realpath(link)

    def start_vm(self):
        for p in (os.path.join(self.work, "console.sock"), os.path.join(self.work, "monitor.sock")):
            if os.path.exists(p):
                os.unlink(p)
        self.con_path = os.path.join(self.work, "console.sock")
        self.mon_path = os.path.join(self.work, "monitor.sock")
        cmd = [
            "qemu-system-arm", "-M", "virt,highmem=off", "-cpu", "cortex-a15",
            "-m", "256", "-nic", "none", "-display", "none",
            "-kernel", self.a.kernel, "-initrd", self.a.initrd,
            "-append", "console=ttyAMA0 rdinit=/init loglevel=4",
            "-chardev", f"socket,id=con,path={self.con_path},server=on,wait=on",
            "-serial", "chardev:con",
            "-monitor", f"unix:{self.mon_path},server=on,wait=off",
            "-device", "qemu-xhci,id=xhci",
            "-chardev", f"serial,id=meter,path={self.pty}",
            "-device", "usb-serial,id=ftdi,bus=xhci.0,chardev=meter",
            "-drive", f"if=none,id=card,file={self.card},format=raw",
            "-device", "sdhci-pci", "-device", "sd-card,drive=card",
        ]
        self.qemu = subprocess.Popen(
            cmd, stdout=open(os.path.join(self.work, "qemu.log"), "ab"), stderr=subprocess.STDOUT
        )
        self.con = Console(self.con_path, os.path.join(self.work, "console.log"))
        self.mon = Monitor(self.mon_path)

    def wait_boot(self, start=0, timeout=120):
        t0 = time.monotonic()
        self.con.wait_for(r"Starting mcce: [^\r\n]*\r?\n", timeout, start)
        # The console shell comes up after rcS; quiet it for the markers.
        poll("the console shell", 30, self._shell_ready, 1)
        self.con.ok("stty -echo; PS1=''; export TZ; cd /")
        return time.monotonic() - t0

    def _shell_ready(self):
        try:
            rc, _ = self.con.run("true", timeout=2)
            return rc == 0
        except Failed:
            return False

    # --- helpers ---------------------------------------------------------------
    def gpio_base(self):
        out = self.con.ok(
            "for c in /sys/class/gpio/gpiochip*; do "
            f"[ \"$(cat $c/label)\" = {GPIO_LABEL} ] && cat $c/base; done"
        )
        return int(out.split()[-1])

    def line(self, n, f):
        return self.con.ok(f"cat /sys/class/gpio/gpio{n}/{f}").split()[-1]

    def today(self):
        return self.con.ok("date +%F").split()[-1]

    def day_lines(self, day):
        rc, out = self.con.run(f"wc -l < /var/lib/mcce/days/{day}")
        return int(out.split()[-1]) if rc == 0 and out.split() else 0

    def daemon_pid(self):
        rc, out = self.con.run("cat /var/run/mcce.pid && kill -0 $(cat /var/run/mcce.pid)")
        return int(out.split()[0]) if rc == 0 else None

    def growing(self, day, timeout):
        """Waits until the day file gains lines; returns seconds waited."""
        t0 = time.monotonic()
        first = self.day_lines(day)
        poll(f"new samples in days/{day}", timeout, lambda: self.day_lines(day) > first, 0.5)
        return time.monotonic() - t0

    def messages(self, start_line=0):
        return self.con.ok(f"tail -n +{start_line + 1} /var/log/messages")

    def message_count(self):
        return int(self.con.ok("wc -l < /var/log/messages").split()[-1])

    def set_conf(self, **kv):
        for k, v in kv.items():
            self.con.ok(f"sed -i '/^{k}=/d' /etc/mcce.conf && echo '{k}={v}' >> /etc/mcce.conf")

    # --- the assertions ------------------------------------------------------
    # --- the card ----------------------------------------------------------------
    def flash(self, image, imager=False):
        """Writes `image` over the card as dd does (conv=notrunc); as
        Raspberry Pi Imager does with `imager`: the first and the last MiB
        of the card zeroed first."""
        if imager:
            with open(self.card, "r+b") as f:
                f.write(bytes(MIB))
                f.seek(self.card_size - MIB)
                f.write(bytes(MIB))
        subprocess.run(["dd", f"if={image}", f"of={self.card}", "bs=4M", "conv=notrunc", "status=none"],
                       check=True)

    def partitions(self):
        """The card's MBR: {number: (type, start byte, size in bytes)}."""
        with open(self.card, "rb") as f:
            mbr = f.read(512)
        out = {}
        for i in range(4):
            e = mbr[446 + 16 * i: 462 + 16 * i]
            if e[4]:
                out[i + 1] = (e[4], int.from_bytes(e[8:12], "little") * 512,
                              int.from_bytes(e[12:16], "little") * 512)
        return out

    def data_fs(self):
        """(label, size in bytes) of the ext4 file system at DATA_START, or None."""
        with open(self.card, "rb") as f:
            f.seek(DATA_START + 1024)
            sb = f.read(1024)
        if sb[56:58] != b"\x53\xef":
            return None
        blocks = int.from_bytes(sb[4:8], "little")
        return sb[120:136].rstrip(b"\0").decode(errors="replace"), blocks * (1024 << int.from_bytes(sb[24:28], "little"))

    def debugfs(self, start, commands):
        """Runs debugfs `commands` on the ext4 file system at byte `start`
        of the card (the machine is off); returns what it printed. The
        journal is replayed first, as the kernel would at the next mount:
        after a power cut it holds metadata that would otherwise overwrite
        debugfs's changes (and leave bitmaps that fail their checksums).
        Through a loop device: e2fsck cannot reopen "card?offset=N" after
        replaying a journal."""
        loop = subprocess.run(["losetup", "--find", "--show", "--offset", str(start), self.card],
                              capture_output=True, check=True, text=True).stdout.strip()
        try:
            fsck = subprocess.run(["e2fsck", "-E", "journal_only", "-p", loop], capture_output=True)
            if fsck.returncode >= 4:
                raise Failed(f"e2fsck -E journal_only at {start}: {(fsck.stdout + fsck.stderr).decode()}")
            r = subprocess.run(["debugfs", "-w", "-f", "-", loop],
                               input=commands.encode(), capture_output=True, check=True)
        finally:
            subprocess.run(["losetup", "-d", loop], check=True)
        return (r.stdout + r.stderr).decode(errors="replace")

    def put_root_file(self, path, data, mode):
        """Writes a file into the card's root file system (partition 2)."""
        local = os.path.join(self.work, "put-file")
        with open(local, "wb") as f:
            f.write(data)
        self.debugfs(self.partitions()[2][1],
                     f"rm {path}\nwrite {local} {path}\nset_inode_field {path} mode 0{0o100000 | mode:o}\n")

    def card_state(self):
        p3 = self.partitions().get(3)
        part = f"partition 3 type {p3[0]:02x} at {p3[1] // MIB} MiB" if p3 else "no partition 3"
        fs = self.data_fs()
        return part + (f", {fs[0]} file system of {fs[1] // MIB} MiB there" if fs else ", no file system there")

    def data_partition_ready(self):
        p3, fs = self.partitions().get(3), self.data_fs()
        return bool(p3 and fs and p3[0] == 0x83 and p3[1] == DATA_START and fs[0] == "mcce-data"
                    and p3[2] == fs[1])

    def power_cut(self):
        """Stops the machine where it is, then ends QEMU: a power cut."""
        try:
            self.mon.command("stop", timeout=2)
        except OSError:
            pass
        self.qemu.kill()
        self.qemu.wait(10)

    def cut_at(self, pattern, timeout=180):
        """Boots and cuts the power as soon as the console shows `pattern`."""
        self.start_vm()
        self.con.wait_for(pattern, timeout)
        self.power_cut()
        state = self.card_state()
        print(f"   power cut at {pattern!r}: {state}", flush=True)
        return state

    def run(self):
        self.start_meter()
        self.card = os.path.join(self.work, "card.img")
        self.card_size = self.a.card_size
        with open(self.card, "wb") as f:
            f.truncate(self.card_size)
        self.flash(self.a.image_a)

        # 0. The first boot makes the data partition; power cuts while it
        # writes the table and while it formats; then a boot whose last
        # step, the retype to 83, fails (0a): the half-made partition is
        # let go and the box records onto the root file system, saying so;
        # the next boot makes it again and moves those samples onto it.
        cuts = [self.cut_at(r"mcce-data: making the data partition"),
                self.cut_at(r"mcce-data: formatting ")]
        self.put_root_file("/usr/sbin/sfdisk", FAILING_RETYPE, 0o755)
        self.put_root_file("/fail-retype", b"", 0o644)
        self.start_vm()
        t0 = time.monotonic()
        self.con.wait_for(r"mcce-data: formatting ", 120)
        t1 = time.monotonic()
        self.con.wait_for(r"mcce-data: WARNING: cannot mark partition 3|mcce-data: data partition ready", 120)
        print(f"   formatting took {time.monotonic() - t1:.1f} s ({t1 - t0:.1f} s from the boot's start)",
              flush=True)
        self.wait_boot()
        day = self.today()
        try:
            self.growing(day, 30)
            rc_st, st = self.published_status()
        except Failed as e:
            rc_st, st = None, str(e)
        self.con.ok("rm /fail-retype /usr/sbin/sfdisk; /etc/init.d/S90mcce stop; sync", timeout=30)
        on_root = self.con.run(f"cat /var/lib/mcce/days/{day}")[1].strip().splitlines()
        said = [line.strip() for line in self.con.text().splitlines() if "WARNING" in line]
        p3 = self.partitions().get(3)
        mounted = self.con.run("grep ' /var/lib/mcce ' /proc/mounts")[0] == 0
        note = next((x for x in st.splitlines() if x.startswith("data:")), "")
        self.check("0a", p3 and p3[0] == 0xda and not mounted and rc_st == 74 and "root file system" in note
                   and any("cannot mark partition 3" in x for x in said) and on_root,
                   f"the retype to 83 failed: partition 3 left as type {p3[0] if p3 else 0:02x}, mounted: {mounted}; "
                   f"{len(on_root)} samples recorded onto the root file system; said {said}; "
                   f"mcce status exit {rc_st}: {note}")
        mark = self.con.mark()
        self.con.send("echo b > /proc/sysrq-trigger")
        boot = self.wait_boot(mark)
        print(f"   booted to a shell in {boot:.1f} s", flush=True)
        console = self.con.text(mark)
        said = [line.strip() for line in console.splitlines() if line.startswith("mcce-data:")]
        mounted = self.con.ok("grep ' /var/lib/mcce ' /proc/mounts")
        moved = self.con.run(f"cat /var/lib/mcce/days/{day}")[1].strip().splitlines()
        left = self.con.ok("mkdir -p /tmp/r && mount --bind / /tmp/r && ls -A /tmp/r/var/lib/mcce/days; "
                           "umount /tmp/r")
        # The kernel defaults to an overlay index (ci/vm/initramfs-init):
        # the kept settings' overlays turn it off.
        ovl = self.con.ok("cd /sys/module/overlay/parameters && cat index redirect_dir metacopy; "
                          "grep '^overlay /etc ' /proc/mounts").split()
        self.check(0, self.data_partition_ready() and "/dev/mmcblk0p3 /var/lib/mcce ext4" in mounted
                   and any("data partition ready" in line for line in said)
                   and moved[:len(on_root)] == on_root and not left
                   and ovl[:3] == ["Y"] * 3 and "index=off" in ovl[-3],
                   f"after cuts ({'; '.join(cuts)}) and the failed retype the next boot finished: "
                   f"{self.card_state()}; the {len(on_root)} samples of the root file system are the first "
                   f"of days/{day} on it (root file system's days/ now: {left.split() or 'empty'}); "
                   f"overlay defaults index, redirect_dir, metacopy {ovl[:3]}, /etc: {ovl[-3]}; "
                   f"said {said}")

        # 1. S90mcce started by rcS; the daemon as mcce with dialout and gpio.
        started = re.search(r"Starting mcce: ([^\r\n]*)", console).group(1)
        pid = self.daemon_pid()
        status = self.con.ok(f"grep -E '^(Uid|Gid|Groups):' /proc/{pid}/status") if pid else ""
        uid = re.search(r"Uid:\s+(\d+)", status)
        groups = set(re.search(r"Groups:([^\n]*)", status).group(1).split()) if status else set()
        ids = self.con.ok("id mcce")
        self.check(1, started == "OK" and uid and uid.group(1) == self.a.uid and {"18", "101"} <= groups,
                   f"rcS ran S90mcce ({started}); daemon pid {pid} runs as uid "
                   f"{uid.group(1) if uid else '?'} with groups {sorted(groups)} ({ids})")

        # 2. gpio setup: both lines exported, output, low, group gpio.
        base = self.gpio_base()
        self.en, self.tone = base, base + 1
        facts = []
        good = True
        for n in (self.en, self.tone):
            d, v = self.line(n, "direction"), self.line(n, "value")
            g = self.con.ok(f"{VM_BUSYBOX} stat -c '%G %A' /sys/class/gpio/gpio{n}/direction /sys/class/gpio/gpio{n}/value")
            good = good and d == "out" and v == "0" and all(
                line.startswith("gpio -rw-rw") for line in g.splitlines())
            facts.append(f"gpio{n} {d} {v} [{'; '.join(g.splitlines())}]")
        errors = [line for line in console.splitlines() if re.search(r"FAIL|[Ee]rror|EPERM|not permitted", line)]
        setup_log = self.con.run("grep -i 'buzzer' /var/log/messages")[1].strip()
        self.check(2, good and not errors and not setup_log,
                   f"chip {GPIO_LABEL} base {base}: " + ", ".join(facts)
                   + (f"; console errors: {errors}" if errors else "")
                   + (f"; log: {setup_log}" if setup_log else ""))

        # 3. Samples through ftdi_sio onto the data partition; status 0.
        day = self.today()
        self.day = day
        mount = self.con.ok("grep ' /var/lib/mcce ' /proc/mounts")
        dev = self.con.ok("ls -l /dev/ttyUSB0; readlink /sys/class/tty/ttyUSB0/device/driver")
        waited = self.growing(day, 30)
        n1 = self.day_lines(day)
        rc, st = self.con.run("su -s /bin/sh mcce -c 'mcce status'")
        space = next((line.split(None, 1)[1] for line in st.splitlines() if line.startswith("data:")), "")
        self.check(3, "/dev/mmcblk0p3 /var/lib/mcce ext4" in mount and "dialout" in dev
                   and "ftdi_sio" in dev and n1 > 0 and rc == 0,
                   f"days/{day}: {n1} samples (growing after {waited:.1f} s) on "
                   f"{mount.split()[0]}; {dev.splitlines()[0].split()[2:4]} via ftdi_sio; "
                   f"mcce status (as mcce) exit {rc}, data: {space}")

        # 4. The alarm drives the real lines.
        msgs = self.message_count()
        self.set_conf(ALARM_WATTS=100, ALARM_HYSTERESIS_WATTS=50)
        self.con.ok("/etc/init.d/S90mcce reload")
        # Reads the enable line until it has gone high and low again.
        script = (f"i=0; s=; while [ $i -lt 300 ]; do read e < /sys/class/gpio/gpio{self.en}/value; "
                  "s=$s$e; case $s in *10) break;; esac; i=$((i+1)); sleep 0.05; done; echo $s")
        trace = self.con.ok(script, timeout=120).split()[-1]
        self.set_conf(ALARM_WATTS=60000, ALARM_HYSTERESIS_WATTS=200)
        self.con.ok("/etc/init.d/S90mcce reload")
        time.sleep(3)
        after = (self.line(self.en, "value"), self.line(self.tone, "value"))
        log = self.messages(msgs)
        sounded = "sounding the alarm" in log
        ended = "1" in trace and trace.rstrip("1") != trace.split("1")[0] and trace.endswith("0")
        self.check(4, sounded and "1" in trace and ended and after == ("0", "0"),
                   f"enable line: {len(trace)} reads, {trace.count('1')} high while sounding, "
                   f"then low; both lines afterwards {after}; logged: {sounded}")

        # 4b. Contract mode: the trip model's siren drives the same lines.
        # The simulated house draws over 133 W, the short limit of a 100 W
        # contract: over at once, the siren at the next poll.
        msgs = self.message_count()
        self.set_conf(CONTRACT_WATTS=100)
        self.con.ok("/etc/init.d/S90mcce reload")
        trace = self.con.ok(script, timeout=120).split()[-1]
        rc_st, st = self.con.run("mcce status")
        self.set_conf(CONTRACT_WATTS="")
        self.con.ok("/etc/init.d/S90mcce reload")
        time.sleep(3)
        after = (self.line(self.en, "value"), self.line(self.tone, "value"))
        log = self.messages(msgs)
        band = next((line.strip() for line in st.splitlines() if line.startswith("band:")), "")
        logged = "over the short limit of 133 W" in log and "sounding the siren" in log
        ended = "1" in trace and trace.endswith("0")
        self.check("4b", logged and ended and band.startswith("band:   over") and after == ("0", "0"),
                   f"CONTRACT_WATTS=100: enable line {len(trace)} reads, {trace.count('1')} high "
                   f"while sounding, then low; both lines afterwards {after}; logged: {logged}; "
                   f"status (exit {rc_st}): {band}")

        # 5. USB unplug under the daemon, then replug.
        msgs = self.message_count()
        self.mon.command("device_del ftdi")
        poll("/dev/ttyUSB0 to vanish", 10, lambda: self.con.run("[ ! -e /dev/ttyUSB0 ]")[0] == 0, 0.2)
        time.sleep(6)
        alive = self.daemon_pid() == pid
        rc_st, st = self.con.run("mcce status")
        log = self.messages(msgs)
        mlines = [line for line in log.splitlines() if " mcce:" in line or "mcce[" in line]
        port_lines = [line for line in mlines if "ttyUSB0" in line]
        self.mon.command("device_add usb-serial,id=ftdi,bus=xhci.0,chardev=meter")
        poll("/dev/ttyUSB0 to return", 15, lambda: self.con.run("[ -e /dev/ttyUSB0 ]")[0] == 0, 0.2)
        # devtmpfs makes the node; mdev -d then gives it to group dialout.
        dev = poll("mdev to give /dev/ttyUSB0 to dialout", 10,
                   lambda: (lambda o: o if "dialout" in o else None)(
                       self.con.run("ls -l /dev/ttyUSB0")[1]), 0.2)
        resumed = self.growing(day, 20)
        st_line = " | ".join(line.strip() for line in st.splitlines() if "meter" in line)
        self.check(5, alive and len(port_lines) == 1 and st_line and not st_line.endswith(" ok")
                   and "dialout" in dev
                   and resumed < 10,
                   f"unplugged: daemon alive {alive}, logged {len(port_lines)} time(s) "
                   f"({port_lines[:1]}), status: {st_line} (exit {rc_st}); replugged "
                   f"{dev.split()[2:4]}: samples again within {resumed:.1f} s")

        # 6. stop / restart / reload.
        out = self.con.ok("/etc/init.d/S90mcce stop")
        left = self.con.run("pidof mcce")[1].strip()
        lows = (self.line(self.en, "value"), self.line(self.tone, "value"))
        out2 = self.con.ok("/etc/init.d/S90mcce restart")
        pid2 = self.daemon_pid()
        out3 = self.con.ok("/etc/init.d/S90mcce reload")
        time.sleep(1)
        pid3 = self.daemon_pid()
        # busybox start-stop-daemon itself says "stopped /usr/bin/mcce (pid N)".
        stopped = re.search(r"Stopping mcce: (stopped [^\n]*\n)?OK", out)
        self.check(6, stopped and not left and lows == ("0", "0")
                   and "Starting mcce: OK" in out2 and pid2 and "Reloading mcce: OK" in out3
                   and pid3 == pid2,
                   f"stop: no daemon left, lines {lows}; restart: pid {pid2}; reload: pid {pid3}")
        # A failing buzzer setup (here: no group gpio) says FAIL and logs
        # why; recording starts all the same.
        msgs = self.message_count()
        self.con.ok("/etc/init.d/S90mcce stop; cp /etc/group /tmp/group && sed -i '/^gpio:/d' /etc/group")
        rc_f, out4 = self.con.run("/etc/init.d/S90mcce start")
        self.con.ok("cp /tmp/group /etc/group")
        logged = [line for line in self.messages(msgs).splitlines() if "buzzer setup failed" in line]
        pid4 = self.daemon_pid()
        out5 = self.con.ok("/etc/init.d/S90mcce restart")
        self.check(6, rc_f != 0 and "Starting mcce: FAIL (buzzer:" in out4 and logged and pid4
                   and "Starting mcce: OK" in out5,
                   f"failed buzzer setup: start exit {rc_f}, "
                   f"said {out4.strip().splitlines()[0] if out4.strip() else ''!r}, "
                   f"logged {logged[0].split(': ', 1)[-1] if logged else 'nothing'!r}, "
                   f"daemon recording (pid {pid4}); restart with the group back: OK")
        self.growing(day, 20)

        # 9. Power cut while samples are being written (before the clock is
        # moved for the crontab checks). Partition 3 is marked "being made"
        # (type da) first, as no boot ever leaves a partition that holds
        # records: the next boot must keep it, not format it.
        self.con.ok("sfdisk --quiet --no-reread --no-tell-kernel --part-type /dev/mmcblk0 3 da && sync")
        before = self.day_lines(day)
        mark = self.con.mark()
        self.con.send("echo b > /proc/sysrq-trigger")
        boot2 = self.wait_boot(mark)
        said = [line.strip() for line in self.con.text(mark).splitlines() if line.startswith("mcce-data:")]
        text = self.con.ok(f"cat /var/lib/mcce/days/{day}", timeout=60)
        full = [line for line in text.splitlines() if re.fullmatch(r"\d+ \d+", line)]
        torn = [line for line in text.splitlines() if not re.fullmatch(r"\d+ \d+", line)]
        rc_x, raw = self.con.run(f"mcce export --from {day} --to {day} --resolution raw", timeout=60)
        rows = [line for line in raw.splitlines() if re.match(r"\d", line)]
        # The restarted daemon records meanwhile: read the file again after
        # the export, so a sample appended between the two is not counted
        # as invented, nor as missing.
        text2 = self.con.ok(f"cat /var/lib/mcce/days/{day}", timeout=60)
        full2 = [line for line in text2.splitlines() if re.fullmatch(r"\d+ \d+", line)]
        fileset = {tuple(line.split()) for line in full2}
        # CSV columns: time, unix, watts. Every sample must be a full line.
        invented = [r for r in rows if tuple(r.split(",")[1:3]) not in fileset]
        resumed = self.growing(day, 30)
        # The data partition's journal commits every 5 s: a cut loses the
        # last seconds at most.
        self.check(9, rc_x == 0 and not invented and len(full) <= len(rows) <= len(full2)
                   and full2[:len(full)] == full and resumed < 15 and len(full) >= before - 20
                   and self.data_partition_ready() and any("holds recorded files: kept" in x for x in said)
                   and any("e2fsck: " in x for x in said),
                   f"rebooted in {boot2:.1f} s on the same card, partition 3 typed da: {said}; "
                   f"{self.card_state()}; days/{day} {len(full)} full lines "
                   f"(had {before}), {len(torn)} other(s) {torn[:2]}; export exit {rc_x}, "
                   f"{len(rows)} samples, none invented; recording again after {resumed:.1f} s")

        # 7. The crontab digests a finished day.
        self.con.ok("/etc/init.d/S50crond stop")
        nxt = self.con.ok("date -d @$(( $(date +%s) + 86400 )) +%F").split()[-1]
        self.con.ok(f"date -s '{nxt} 00:04:50'")
        msgs = self.message_count()
        self.con.ok("/etc/init.d/S50crond start")
        # crond logs the command line; the digest's own words are tagged
        # mcce-digest by logger.
        tagged = re.compile(r"mcce-digest(\[\d+\])?: ")
        poll("the crontab's digest", 90,
             lambda: tagged.search(self.messages(msgs)), 1)
        time.sleep(2)
        rc_d, drow = self.con.run(f"mcce export --from {day} --to {day} --resolution day")
        log = [line for line in self.messages(msgs).splitlines() if tagged.search(line)]
        lines = [line for line in drow.splitlines() if line.strip()]
        fields = dict(zip(lines[-2].split(","), lines[-1].split(","))) if len(lines) >= 2 else {}
        in_file = self.day_lines(day)
        said = log[-1].split("mcce-digest")[-1].strip(" :") if log else "no log"
        self.check(7, rc_d == 0 and fields.get("date") == day and re.fullmatch(r"[\d.]+", fields.get("kwh", ""))
                   and fields.get("samples") == str(in_file),
                   f"crond ran the digest at 00:05 ({said}); "
                   f"stored {day}: {fields.get('kwh')} kWh from {fields.get('samples')} samples "
                   f"(day file: {in_file} lines)")

        # 8. An edited crontab takes effect.
        self.con.ok("rm -f /tmp/cron-tweak; (cat /etc/cron/crontabs/mcce; "
                    "echo '* * * * * /usr/bin/mcce status > /tmp/cron-tweak 2>&1') | crontab -u mcce -")
        owner = self.con.ok(f"{VM_BUSYBOX} stat -c '%U %a' /etc/cron/crontabs/mcce")
        self.con.ok("date -s \"$(date +%F) $(date +%H:%M):55\"")
        poll("the edited crontab's job", 80,
             lambda: self.con.run("[ -s /tmp/cron-tweak ]")[0] == 0, 1)
        tweak = self.con.ok("cat /tmp/cron-tweak")
        self.check(8, "meter" in tweak,
                   f"`crontab -u mcce -` (file {owner}): the new line ran as mcce: "
                   f"{tweak.splitlines()[0] if tweak else ''}")

        self.hardening()
        self.upgrade()
        self.small_card()

    # --- the fault soak (--scenario soak) -----------------------------------------
    def unplug(self):
        """Takes the FTDI adapter away from the guest."""
        self.mon.command(f"device_del {getattr(self, 'adapter', 'ftdi')}")
        poll("/dev/ttyUSB0 to vanish", 10, lambda: self.con.run("[ ! -e /dev/ttyUSB0 ]")[0] == 0, 0.2)
        # Until the daemon has closed the lost port, a new adapter would
        # be given ttyUSB1.
        poll("the status to say unplugged", 10, lambda: self.status_field("meter") == "unplugged", 0.5)

    def plug(self, *options):
        """A new simulated meter (with `options`) behind a new adapter: new
        ids, as QEMU lets go of the old ones in its own time."""
        self.plugs = getattr(self, "plugs", 0) + 1
        self.adapter = f"ftdi{self.plugs}"
        self.sim.terminate()
        self.sim.wait(10)
        self.start_meter(*options)
        said = [self.mon.command(f"chardev-add serial,id=meter{self.plugs},path={self.pty}"),
                self.mon.command(f"device_add usb-serial,id={self.adapter},bus=xhci.0,"
                                 f"chardev=meter{self.plugs}")]
        # What the monitor answered after echoing the command.
        said = " | ".join(" ".join(x.split("\x1b[K")[-1].replace("(qemu)", "").split()) for x in said)
        poll(f"/dev/ttyUSB0 to return (monitor: {said}; "
             f"{self.con.run('ls /dev/ttyUSB*')[1].strip() or 'no ttyUSB'})", 15,
             lambda: self.con.run("[ -e /dev/ttyUSB0 ]")[0] == 0, 0.2)

    def status_field(self, key):
        rc, out = self.con.run(f"sed -n 's/^{key}=//p' /run/mcce/status")
        return out.strip() if rc == 0 else ""

    def soak(self):
        """The daemon through every fault a box meets, one after the other
        without a restart: garbage, silence, an unplugged adapter, a full
        card; then its peak memory (VmHWM), the figure bench/run.sh quotes."""
        self.start_meter()
        # A 2 GiB card: a data partition of about 1 GiB, quick to fill.
        self.card = os.path.join(self.work, "card.img")
        self.card_size = 2 * 2**30
        with open(self.card, "wb") as f:
            f.truncate(self.card_size)
        self.flash(self.a.image_a)
        self.start_vm()
        boot = self.wait_boot()
        day = self.today()
        waited = self.growing(day, 30)
        pid = self.daemon_pid()
        self.check("K0", pid and self.data_partition_ready(),
                   f"booted in {boot:.1f} s, recording (samples after {waited:.1f} s), daemon pid {pid}")

        # Garbage: random bytes and cut-off frames between frames, frames in pieces.
        self.unplug()
        self.plug("--noise", "--split")
        n0 = self.day_lines(day)
        time.sleep(30)
        n1 = self.day_lines(day)
        self.check("K1", self.daemon_pid() == pid and n1 > n0,
                   f"30 s of garbage between split frames: {n1 - n0} samples recorded")

        # Silence: triggers ignored for 30 s.
        self.unplug()
        self.plug("--silence", "1:30")
        silent = poll("the status to say silent", 20, lambda: self.status_field("meter") == "silent", 0.5)
        poll("the meter to answer again", 60, lambda: self.status_field("meter") == "ok", 1)
        self.check("K2", self.daemon_pid() == pid and silent,
                   "30 s of silence: status said silent, then ok again")

        # Unplugged for 20 s.
        self.unplug()
        gone = self.status_field("meter") == "unplugged"
        time.sleep(20)
        self.plug()
        back = self.growing(day, 30)
        self.check("K3", self.daemon_pid() == pid and gone,
                   f"20 s unplugged: status said so; samples again {back:.1f} s after the replug")

        # A full card: what the daemon may write filled, then midnight, so
        # the new day's file needs a block that is not there.
        avail = int(self.con.ok("df -k /var/lib/mcce | awk 'NR == 2 { print $4 }'").split()[-1])
        filled = self.con.run(f"su -s /bin/sh mcce -c 'fallocate -l {max(avail - 64, 1)}k /var/lib/mcce/db/fill; "
                              "dd if=/dev/zero of=/var/lib/mcce/db/fill2 bs=4k' 2>&1 | tail -n 2; "
                              "df -k /var/lib/mcce | tail -n 1", timeout=300)[1]
        self.con.ok("date -s \"$(date +%F) 23:59:50\"")
        failing = poll(f"the status to say recording failing (filled: {' '.join(filled.split())}; "
                       f"{self.con.run('date; ls -l /var/lib/mcce/days | tail -n 2')[1]})", 60,
                       lambda: self.status_field("recording") == "failing", 1)
        error = self.status_field("recording_error")
        time.sleep(20)
        self.con.ok("rm -f /var/lib/mcce/db/fill /var/lib/mcce/db/fill2")
        poll("recording again", 60, lambda: self.status_field("recording") == "ok", 1)
        self.check("K4", self.daemon_pid() == pid and failing,
                   f"a full card over midnight: recording failing ({error}) for 20 s, then ok again")

        hwm = self.con.ok(f"sed -n 's/^VmHWM:[[:space:]]*//p' /proc/{pid}/status").split()
        self.check("K5", self.daemon_pid() == pid and hwm,
                   f"one daemon throughout (pid {pid}), its peak memory read")
        print(f"soak: VmHWM {hwm[0]} kB of the armv7 daemon (pid {pid}) through garbage, silence, "
              "an unplug and a full card", flush=True)

    # --- a new image over the card ---------------------------------------------------
    KEPT = "/etc/mcce.conf /etc/default/mcce /etc/cron/crontabs/mcce /etc/dropbear/* /root/.ssh/authorized_keys"

    def sums(self, cmd):
        """{path: (md5, size)} from lines "md5 size path" printed by `cmd`."""
        out = self.con.ok(cmd, timeout=60)
        return {p: (m, int(n)) for m, n, p in (line.split(None, 2) for line in out.splitlines() if line.strip())}

    def recorded(self):
        return self.sums("cd /var/lib/mcce && find days db -type f | sort | while read -r f; do "
                         "echo \"$(md5sum < $f | cut -c1-32) $(wc -c < $f) $f\"; done")

    def prefixes(self, before):
        """The files of `before` as they start now: {path: (md5 of its first
        size bytes, size now)}."""
        lines = "; ".join(f"echo \"$(head -c {n} /var/lib/mcce/{p} | md5sum | cut -c1-32) "
                          f"$(wc -c < /var/lib/mcce/{p}) {p}\"" for p, (_, n) in before.items())
        return self.sums(lines)

    def kept(self, missing_ok=False):
        """The kept settings' sums; with `missing_ok`, a missing file is
        left out (after a flash: the check then names it lost)."""
        skip = "[ ! -f $f ] || " if missing_ok else ""
        return self.sums(f"for f in {self.KEPT}; do {skip}"
                         f"echo \"$(md5sum < $f | cut -c1-32) $(wc -c < $f) $f\"; done")

    def upgrade(self):
        # U1. What a user does over ssh: edit the settings, keep ssh keys.
        # (The crontab was edited in step 8.) dropbear's keys are made as
        # Buildroot's S50dropbear and dropbear -R do: /etc/dropbear, the
        # image's link to /var/run, becomes a directory holding them.
        self.set_conf(ALARM_WATTS=59999)
        self.con.ok("echo 'MCCE_ARGS=\"\" # edited on the box' >> /etc/default/mcce")
        self.con.ok("rm -f /etc/dropbear && mkdir -p /etc/dropbear && (umask 077; "
                    "for k in rsa ecdsa ed25519; do head -c 400 /dev/urandom > /etc/dropbear/dropbear_${k}_host_key; done)")
        self.con.ok("mkdir -p /root/.ssh && chmod 700 /root/.ssh && echo 'ssh-ed25519 "
                    "AAAAC3NzaC1lZDI1NTE5AAAAIMcceTestKeyOfTheVmCheck0000000000000000 ci@vm' "
                    "> /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys")
        self.con.ok("/etc/init.d/S90mcce reload")
        # The recorded days as they are on the card, the daemon stopped.
        self.con.ok("/etc/init.d/S90mcce stop; sync", timeout=30)
        before, kept = self.recorded(), self.kept()
        days = [p for p in before if p.startswith("days/")]
        print(f"   on the card: {len(days)} day files, {len(before) - len(days)} database files, "
              f"{sum(n for _, n in before.values())} bytes; kept settings {sorted(kept)}", flush=True)
        self.power_cut()

        # U1, U2. Image B written with dd; a power cut while the first
        # boot restores partition 3, another while the next one prunes the
        # kept settings to what outlives a flash; the boot after finishes.
        self.new_image("U1", before, kept, "dd conv=notrunc",
                       cuts=[r"mcce-data: restoring partition 3", r"mcce-data: a new image: keeping"])
        # U3-U5. The same image B again, as Raspberry Pi Imager writes it:
        # a new image all the same. The box's mcce.conf now has a key this
        # mcce refuses, /etc an edit a flash does not keep, and the data
        # partition (written while the box is off) a folder whose inode
        # says it is a file, which e2fsck -p cannot mend.
        self.set_conf(NO_SUCH_KEY=1)
        self.con.ok("echo 'an edit a flash does not keep' > /etc/mcce-vm-edit")
        self.con.ok("/etc/init.d/S90mcce stop; sync", timeout=30)
        before, kept = self.recorded(), self.kept()
        self.power_cut()
        self.debugfs(DATA_START, "mkdir e2fsck-check\nset_inode_field e2fsck-check mode 0100644\nssv state 0\n")
        self.new_image("U3", before, kept, "Raspberry Pi Imager (first and last MiB zeroed first)",
                       imager=True, rejected=True)
        rc_st, st = self.published_status()
        note = next((x for x in st.splitlines() if x.startswith("data:")), "")
        said = [line.strip() for line in self.con.text().splitlines() if "WARNING" in line]
        self.check("U5", rc_st == 74 and "refuses the kept /etc/mcce.conf" in note and "NO_SUCH_KEY" in note
                   and "e2fsck" in note and "cannot mend" in note
                   and self.con.run("grep ' /var/lib/mcce ' /proc/mounts")[0] == 0,
                   f"what the boot said ({said}) stays in mcce status after S90mcce started the daemon "
                   f"(exit {rc_st}): {note}")

    def hardening(self):
        """H. What the daemon's user could do with the data partition, and
        a card that cannot be read, on the booted box."""
        # H1. With the kernel's default (links to others' files allowed),
        # mcce cannot link a kept root file into days/ (kept/ is root's
        # alone), and S90mcce's hand-back skips a root file linked there
        # (by root, here) but hands back a day file root copied back.
        before = self.con.ok("cat /proc/sys/fs/protected_hardlinks")
        # (touch: the overlay copies the image's mcce.conf up into kept/.)
        self.con.ok("echo 0 > /proc/sys/fs/protected_hardlinks; touch /etc/mcce.conf")
        mode = self.con.ok("ls -ld /var/lib/mcce/kept").split()[0]
        rc_ln, said = self.con.run("su -s /bin/sh mcce -c "
                                   "'ln /var/lib/mcce/kept/etc/mcce.conf /var/lib/mcce/days/mine'")
        self.con.ok("ln /var/lib/mcce/kept/etc/mcce.conf /var/lib/mcce/days/linked && "
                    "echo '1700000000 1' > /var/lib/mcce/days/2023-11-14")
        self.con.ok("/etc/init.d/S90mcce restart", timeout=30)
        owners = " ".join(self.con.ok(f"ls -ln /var/lib/mcce/days/{f} | awk '{{ print $3 }}'")
                          for f in ("linked", "2023-11-14"))
        after = self.con.ok("cat /proc/sys/fs/protected_hardlinks")
        self.con.ok("rm -f /var/lib/mcce/days/linked /var/lib/mcce/days/2023-11-14 /var/lib/mcce/days/mine")
        self.check("H1", before == "1" and mode == "drwx------" and rc_ln != 0
                   and owners.split() == ["0", self.a.uid] and after == "1",
                   f"kept/ {mode}; with protected_hardlinks 0, mcce's ln of a kept file: exit {rc_ln} "
                   f"({said.strip().splitlines()[-1] if said.strip() else ''}); S90mcce restart left a root file "
                   f"linked into days/ to uid {owners.split()[0]} and handed a copied-back day to uid "
                   f"{owners.split()[-1]}; protected_hardlinks {before} at boot, {after} after the restart")

        # H2. DATABASE_URL one level too high: nothing outside days/ and a
        # folder of its own is handed to mcce.
        self.set_conf(DATABASE_URL="/var/lib/mcce/pwr")
        rc_r, out = self.con.run("/etc/init.d/S90mcce restart", timeout=30)
        owners = self.con.ok("ls -lnd /var/lib/mcce /var/lib/mcce/kept /var/lib/mcce/kept/etc/mcce.conf "
                             "/var/lib/mcce/kept/etc/cron/crontabs/mcce | awk '{ print $3 }'").split()
        self.con.ok("sed -i '/^DATABASE_URL=/d' /etc/mcce.conf")
        out2 = self.con.ok("/etc/init.d/S90mcce restart", timeout=30)
        self.check("H2", owners == ["0"] * 4 and "Starting mcce: OK" in out2,
                   f"DATABASE_URL=/var/lib/mcce/pwr: S90mcce restart said {out.strip().splitlines()[-1]!r}; "
                   f"the data partition's top, kept/ and the kept settings stay root's (uids {owners}); "
                   "the right DATABASE_URL back: OK")

        # H3. The card cannot be read at the data partition (dd fails
        # there, as on a failing card) on a boot that finds no partition 3
        # in the table: nothing is formatted, and the next boot that can
        # read it restores it.
        days = self.con.ok("ls /var/lib/mcce/days | wc -l").split()[-1]
        self.con.ok("/etc/init.d/S90mcce stop; /etc/init.d/S50crond stop; cd /; "
                    "umount /etc /root /var/lib/mcce && "
                    "sfdisk --quiet --no-reread --no-tell-kernel --delete /dev/mmcblk0 3 && sync", timeout=60)
        self.con.ok("printf '%s\\n' 'dd() {' "
                    "'  case \"$*\" in *skip=2097154* | *skip=2359296*)' "
                    "'    echo \"dd: /dev/mmcblk0: Input/output error (VM check)\" >&2; return 1 ;;' "
                    "'  esac' '  command dd \"$@\"' '}' 'set -- start' '. /etc/init.d/S05mcce-data' "
                    "> /tmp/unreadable.sh")
        rc_u, said = self.con.run("sh /tmp/unreadable.sh 2>&1", timeout=120)
        p3, fs = self.partitions().get(3), self.data_fs()
        mounted = self.con.run("grep ' /var/lib/mcce ' /proc/mounts")[0] == 0
        note = self.con.run("cat /run/mcce/data-partition")[1].strip()
        said2 = self.con.ok("/etc/init.d/S05mcce-data start 2>&1", timeout=120)
        days2 = self.con.ok("ls /var/lib/mcce/days | wc -l").split()[-1]
        self.con.ok("/etc/init.d/S50crond start; /etc/init.d/S90mcce start", timeout=30)
        self.check("H3", p3 is None and fs and fs[0] == "mcce-data" and not mounted and "cannot read" in note
                   and "data partition restored" in said2 and days2 == days,
                   f"unreadable at 1 GiB: {' | '.join(x for x in said.splitlines() if x.strip())}; "
                   f"afterwards {self.card_state()}, note: {note!r}; then readable: "
                   f"{said2.splitlines()[0] if said2 else ''}; {days2} of {days} day files there")

    def new_image(self, n, before, kept, how, imager=False, cuts=(), rejected=False):
        """Writes image B over the card with `how`, cutting the power of its
        first boots at each of `cuts`; checks the boot after that finished
        the data partition (n) and what was kept (n + 1)."""
        self.flash(self.a.image_b, imager=imager)
        gone = self.card_state()
        cut = "".join(f"; power cut at {c!r} ({self.cut_at(c)})" for c in cuts)
        self.start_vm()
        self.wait_boot()
        self.check(n, self.data_partition_ready(),
                   f"image B written with {how} (then: {gone}){cut}; booted: {self.card_state()}")
        self.after_flash(n[0] + str(int(n[1:]) + 1), before, kept, how, rejected)

    def published_status(self):
        """`mcce status` once the daemon has published (not exit 69)."""
        return poll("mcce status to publish", 30,
                    lambda: (lambda r: r if r[0] != 69 else None)(self.con.run("mcce status")))

    def small_card(self):
        """S. Image A on a 1 GiB card: no room for the data partition. The
        box records onto the root file system and says so, loudly."""
        self.power_cut()
        self.card = os.path.join(self.work, "card-1g.img")
        self.card_size = 2**30
        with open(self.card, "wb") as f:
            f.truncate(self.card_size)
        self.flash(self.a.image_a)
        self.start_vm()
        self.wait_boot()
        console = self.con.text()
        said = [line.strip() for line in console.splitlines() if "WARNING" in line]
        mounted = self.con.run("grep ' /var/lib/mcce ' /proc/mounts")[0] == 0
        self.growing(self.today(), 30)
        rc_st, st = self.published_status()
        line = next((x for x in st.splitlines() if x.startswith("data:") and "root file system" in x), "")
        logged = self.con.run("grep -c 'WARNING.*too small' /var/log/messages")[1].split()
        self.check("S", any("too small" in x for x in said) and not mounted and rc_st == 74
                   and "too small" in line and logged and logged[-1] != "0",
                   f"a 1 GiB card: no data partition ({self.card_state()}), recording onto the root "
                   f"file system; console: {said}; mcce status exit {rc_st}: {line}")
        os.unlink(self.card)

    def after_flash(self, n, before, kept, how, rejected=False):
        """After a flash and a boot: image B runs, every recorded file is
        byte for byte what it was (today's file has only grown), the kept
        settings are the box's and in force, the daemon appends today, an
        edit of /etc that a flash does not keep is gone. With `rejected`,
        the box's mcce.conf was one this mcce refuses: it is set aside as
        mcce.conf.rejected and the image's is in force instead."""
        image = self.con.ok("cat /etc/mcce-image")
        now = self.prefixes(before)
        today = f"days/{self.today()}"
        changed = [p for p, (m, n) in before.items() if now.get(p, ("", 0))[0] != m]
        grown = [p for p, (_, n) in before.items() if now.get(p, ("", 0))[1] != n]
        kept_now = self.kept(missing_ok=True)
        if rejected:
            aside = self.sums("f=/etc/mcce.conf.rejected; [ ! -f $f ] || "
                              "echo \"$(md5sum < $f | cut -c1-32) $(wc -c < $f) $f\"")
            kept_now["/etc/mcce.conf"] = aside.get("/etc/mcce.conf.rejected")
        lost_settings = [p for p in kept if kept_now.get(p) != kept[p]]
        edit_left = self.con.run("[ -e /etc/mcce-vm-edit ]")[0] == 0
        appended = self.growing(today[len("days/"):], 30)
        rc_st, st = self.published_status()
        cap = f"(cap {60000 if rejected else 59999} W)" in st
        # The crontab as tweaked in step 8: its line runs.
        self.con.ok("rm -f /tmp/cron-tweak; date -s \"$(date +%F) $(date +%H:%M):55\"")
        poll("the kept crontab's job", 80, lambda: self.con.run("[ -s /tmp/cron-tweak ]")[0] == 0, 1)
        self.check(n, image.endswith("B") and not changed and set(grown) <= {today} and not lost_settings
                   and cap and rc_st == (74 if rejected else 0) and "root file system" not in st
                   and not edit_left,
                   f"after {how}: image {image.split()[-1]}; {len(before)} recorded files byte-identical "
                   f"(changed: {changed}; grown: {grown}); settings, crontab, ssh host keys, "
                   f"authorized_keys kept ({len(kept)} files, lost: {lost_settings}"
                   f"{'; the refused mcce.conf as mcce.conf.rejected' if rejected else ''}); "
                   f"{'the image' if rejected else 'the box'}'s ALARM_WATTS in force: {cap}; "
                   f"other /etc edit gone: {not edit_left}; crontab tweak ran; "
                   f"{today} grows again after {appended:.1f} s; status exit {rc_st}")

    def stop(self):
        for p in ("qemu", "sim"):
            proc = getattr(self, p, None)
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--image-a", required=True)
    ap.add_argument("--image-b", required=True)
    ap.add_argument("--card-size", required=True, type=lambda v: int(v.rstrip("G")) * 2**30)
    ap.add_argument("--uid", required=True)
    ap.add_argument("--host-mcce", required=True)
    ap.add_argument("--scenario", choices=("image", "soak"), default="image")
    args = ap.parse_args()
    s = Scenario(args)
    t0 = time.monotonic()
    try:
        s.soak() if args.scenario == "soak" else s.run()
        if getattr(s, "failed", None):
            raise Failed(f"assertions {', '.join(s.failed)} failed")
    except Failed as e:
        print(f"FAIL: {e}", flush=True)
        print(f"console log: {os.path.join(args.work, 'console.log')}")
        return 1
    finally:
        s.stop()
    print(f"all assertions passed in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
