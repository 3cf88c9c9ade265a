#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-nested.sh - a QEMU guest's byte channel: vdpa_vserial over
# vhost-vdpa beside QEMU's own virtio-serial, in one guest, one run
#
# Usage: bench-nested.sh OUT.csv   (inside the test VM, as root)
#
# QEMU (nested, TCG) boots a small guest with two virtio-console devices:
#   - vdpa_vserial through -device vhost-vdpa-device-pci, port bench.vdpa,
#     whose host end is /dev/vserialN;
#   - QEMU's -device virtio-serial-pci with a virtserialport bench.qemu on
#     a UNIX socket chardev, the host end a socket.
# The guest moves BYTES (NESTED_BENCH_BYTES, default 8 MiB) through each
# port, guest to host (dd of 64 KiB blocks), then host to guest (read to
# the end, then one byte back), REPS times (NESTED_BENCH_REPS, default 3).
# The host times both from its end, in MB/s, with the CPU time the whole
# test VM spent meanwhile (guest emulation included), and writes the
# medians as CSV rows
#   nested,vdpa|qemu,g2h|h2g,65536,1,MB/s
#   nested_cpu,vdpa|qemu,g2h|h2g,65536,1,s/GiB
# Nested TCG is slow: the figures prove the ratio, not absolute speed.

set -u

out=${1:?usage: bench-nested.sh OUT.csv}
KVER=$(uname -r)
BYTES=${NESTED_BENCH_BYTES:-8388608}
REPS=${NESTED_BENCH_REPS:-3}
work=$(mktemp -d /tmp/bench-nested.XXXXXX)
qemu_pid=

cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid"
	vdpa dev del vb0 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

die() { echo "bench-nested.sh: $*" >&2; exit 1; }

guest_initramfs() {
	local root=$work/root

	mkdir -p "$root"/{bin,dev,proc,sys,tmp}
	cp /bin/busybox "$root/bin/busybox"
	cat > "$root/init" <<GUEST
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
say() { echo "GUEST: \$*" > /dev/ttyS0; }
port() {	# port NAME: its /dev/vportXpY
	for d in /sys/class/virtio-ports/vport*; do
		[ "\$(cat "\$d/name" 2>/dev/null)" = "\$1" ] && echo "/dev/\${d##*/}"
	done
}
for i in \$(seq 600); do
	[ -n "\$(port bench.vdpa)" ] && [ -n "\$(port bench.qemu)" ] && break
	sleep 0.2
done
for p in bench.vdpa bench.qemu; do
	dev=\$(port \$p)
	say "\$p is \$dev"
	for r in \$(seq $REPS); do
		# One open per exchange: the driver discards received data
		# that nobody reads when the port is closed.
		exec 3<>\$dev
		dd if=/dev/zero bs=65536 count=$((BYTES / 65536)) >&3 2>/dev/null
		head -c $BYTES <&3 > /dev/null
		printf K >&3
		exec 3>&-
	done
done
# Interrupts the guest took per virtqueue (vectors that fired)
grep virtio /proc/interrupts | while read -r irq n rest; do
	[ "\$n" != 0 ] && say "irq \$n \${rest##* }"
done
say "BENCH-DONE"
sleep 1000
GUEST
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"
}

# The host end of a port: a file, or unix:PATH for a socket.  Times guest
# to host from the first byte to the last, host to guest from the first
# write to the byte the guest sends back when it has read everything.
cat > "$work/measure.py" <<'PY'
import os, socket, statistics, sys, time

spec, total, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if spec.startswith("unix:"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(spec[5:])
    read, write = s.recv, s.sendall
else:
    fd = os.open(spec, os.O_RDWR)
    read = lambda n: os.read(fd, n)
    def write(b):
        while b:
            b = b[os.write(fd, b):]

def busy():
    """Seconds the whole test VM has been busy (all CPUs, /proc/stat)."""
    with open("/proc/stat") as f:
        t = [int(x) for x in f.readline().split()[1:]]
    return (sum(t) - t[3] - t[4]) / os.sysconf("SC_CLK_TCK")

def exchange():
    got, t0, c0 = 0, None, None
    while got < total:
        b = read(65536)
        if not b:
            time.sleep(0.01)    # end of file: the guest has not opened yet
            continue
        if t0 is None:
            t0, c0 = time.monotonic(), busy()
        got += len(b)
    g2h = total / (time.monotonic() - t0) / 1e6
    g2h_cpu = (busy() - c0) * 2**30 / total

    block = bytes(65536)
    t0, c0 = time.monotonic(), busy()
    for _ in range(total // 65536):
        write(block)
    while read(1) != b"K":
        time.sleep(0.01)
    h2g = total / (time.monotonic() - t0) / 1e6
    return g2h, h2g, g2h_cpu, (busy() - c0) * 2**30 / total

runs = [exchange() for _ in range(reps)]
print(" ".join("%.3f" % statistics.median(r[i] for r in runs)
               for i in range(4)))
for r in runs:
    print("# %s: g2h %.3f h2g %.3f MB/s, CPU %.1f %.1f s/GiB" % ((spec,) + r),
          file=sys.stderr)
PY

modprobe vdpa_vserial || die "no module"
modprobe vhost_vdpa || die "no vhost_vdpa"
modprobe -r virtio_vdpa 2>/dev/null
echo 'console:,bench.vdpa' > /sys/module/vdpa_vserial/parameters/ports
vdpa dev add name vb0 mgmtdev vserial ${NESTED_FEATURES:+device_features $NESTED_FEATURES} ||
	die "vdpa dev add failed"
udevadm settle 2>/dev/null
vhost=$(ls -d /sys/bus/vdpa/devices/vb0/vhost-vdpa-* 2>/dev/null | head -n 1)
[ -n "$vhost" ] || die "vb0 is not bound to vhost_vdpa"
host=/dev/$(basename "$(dirname "$(grep -lx bench.vdpa /sys/class/vserial/*/name)")")

guest_initramfs
ulimit -l unlimited
qemu-system-x86_64 -machine pc -accel tcg -m 512M -smp 1 \
	-display none -monitor none -no-reboot -net none \
	-serial "file:$work/serial.log" \
	-kernel "/boot/vmlinuz-$KVER" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1 mitigations=off tsc=reliable no_timer_check rdinit=/init" \
	-device "vhost-vdpa-device-pci,vhostdev=/dev/${vhost##*/}" \
	-device virtio-serial-pci,id=vser \
	-chardev "socket,id=qch,path=$work/qemu.sock,server=on,wait=off" \
	-device virtserialport,bus=vser.0,chardev=qch,name=bench.qemu \
	> "$work/qemu.log" 2>&1 &
qemu_pid=$!
for _ in $(seq 100); do
	[ -S "$work/qemu.sock" ] && break
	sleep 0.1
done

echo "# bench.vdpa: host end $host; bench.qemu: $work/qemu.sock; $BYTES bytes each way"
# measure NAME END: one port's figures into $work/NAME
measure() {
	timeout "${NESTED_BENCH_TIMEOUT:-900}" python3 "$work/measure.py" "$2" "$BYTES" "$REPS" > "$work/$1" ||
		die "$1 transfer failed: $(cat "$work/serial.log" "$work/qemu.log" 2>&1)"
}
measure vdpa "$host"
measure qemu "unix:$work/qemu.sock"
read -r vg2h vh2g vg2hc vh2gc < "$work/vdpa"
read -r qg2h qh2g qg2hc qh2gc < "$work/qemu"
for _ in $(seq 300); do
	grep -q BENCH-DONE "$work/serial.log" && break
	sleep 0.1
done
grep GUEST: "$work/serial.log" | sed 's/^/# /'

{
	echo "metric,transport,direction,size,ports,value,unit"
	echo "nested,vdpa,g2h,65536,1,$vg2h,MB/s"
	echo "nested,vdpa,h2g,65536,1,$vh2g,MB/s"
	echo "nested,qemu,g2h,65536,1,$qg2h,MB/s"
	echo "nested,qemu,h2g,65536,1,$qh2g,MB/s"
	echo "nested_cpu,vdpa,g2h,65536,1,$vg2hc,s/GiB"
	echo "nested_cpu,vdpa,h2g,65536,1,$vh2gc,s/GiB"
	echo "nested_cpu,qemu,g2h,65536,1,$qg2hc,s/GiB"
	echo "nested_cpu,qemu,h2g,65536,1,$qh2gc,s/GiB"
} > "$out"
cat "$out"
