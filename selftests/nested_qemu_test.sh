#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nested_qemu_test.sh - give a vdpa_vserial device to a real QEMU guest
#
# Runs inside the test VM, as root.  Binds a vdpa_vserial device to
# vhost_vdpa and boots QEMU (nested, TCG) with
#   -device vhost-vdpa-device-pci,vhostdev=/dev/vhost-vdpa-N
# and a small guest: the same kernel and a busybox initramfs that runs
# qemu-ga on org.qemu.guest_agent.0 and echoes test.data back.  Then
# checks, from the host ends /dev/vserialN:
#   - the guest's virtio_console sees the named ports and the console;
#   - the guest agent answers guest-sync, guest-ping and guest-info;
#   - data both ways on test.data, checksums equal;
#   - the guest reboots (QEMU resets the device) and it comes back;
#   - after QEMU exits the device is reusable (virtio_vdpa moves data).
# Prints TAP.  Nested TCG is slow: the guest needs about 90 s to boot.

set -u

KVER=$(uname -r)
TIMEOUT=${NESTED_TIMEOUT:-400}
work=$(mktemp -d /tmp/nested.XXXXXX)
qemu_pid=
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $*"; }
check() {	# check NAME COMMAND...: one TAP result for COMMAND's status
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
diag() { echo "# $*"; }

cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid"
	vdpa dev del vs0 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# console_expect SECONDS WORD: read lines from the console port's host
# end (fd 6) until one is WORD; other lines (the guest tty's echo of our
# commands, say) are skipped.  hvc's termios is reset on its last close:
# the guest's \n may come as \r\n.
console_expect() {
	local end=$(($(date +%s) + $1)) line

	while [ "$(date +%s)" -lt "$end" ]; do
		line=
		if ! read -r -t $((end - $(date +%s) + 1)) line <&6; then
			# End of file: the guest side is closed (a reboot
			# resets the device); it opens again.
			sleep 1
			continue
		fi
		[ "${line%$'\r'}" = "$2" ] && return 0
		diag "console: '${line%$'\r'}'"
	done
	return 1
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds
wait_for() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 1
	done
}

# host_port NAME: the /dev/vserialN of port NAME of vs0
host_port() {
	local d
	for d in /sys/class/vserial/vserial*; do
		if [ "$(cat "$d/vdpa_device")" = vs0 ] &&
		   [ "$(cat "$d/name")" = "$1" ]; then
			echo "/dev/${d##*/}"
			return 0
		fi
	done
	return 1
}

attr() { cat "/sys/class/vserial/${1#/dev/}/$2"; }
connected() { test "$(attr "$1" guest_connected)" = 1; }

# The guest: same kernel, busybox, qemu-ga and its libraries.
build_initramfs() {
	local root=$work/root lib

	mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,var/run,usr/sbin}
	cp /bin/busybox "$root/bin/busybox"
	cp /usr/sbin/qemu-ga "$root/usr/sbin/qemu-ga"
	for lib in $(ldd /usr/sbin/qemu-ga | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	cat > "$root/init" <<'GUEST'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
say() { echo "GUEST: $*" > /dev/ttyS0; }

# No udev here: link /dev/virtio-ports/NAME by hand.
ports() {
	mkdir -p /dev/virtio-ports
	for d in /sys/class/virtio-ports/vport*; do
		[ -r "$d/name" ] || continue
		name=$(cat "$d/name")
		[ -n "$name" ] && ln -sf "../${d##*/}" "/dev/virtio-ports/$name"
	done
}
for i in $(seq 300); do
	ports
	[ -e /dev/virtio-ports/test.data ] && [ -e /dev/hvc0 ] && break
	sleep 0.2
done
say "ports: $(ls /dev/virtio-ports | tr '\n' ' ')hvc0:$([ -e /dev/hvc0 ] && echo yes)"

qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 &
# Echo test.data back, one connection after the other.
(while :; do cat < /dev/virtio-ports/test.data > /dev/virtio-ports/test.data.out 2>/dev/null; sleep 0.2; done) &
stty -F /dev/hvc0 raw -echo 2>/dev/null
echo "GUEST-CONSOLE-OK" > /dev/hvc0

# Commands from the test, one per line on the console port.
while read -r cmd < /dev/hvc0; do
	case "$cmd" in
	reboot)
		say "rebooting"
		reboot -f
		;;
	poweroff)
		poweroff -f
		;;
	esac
done
GUEST
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"
}

# agent REQUEST: send one guest-agent request on the agent port, print
# the first reply line.
agent() {
	local dev=$1 req=$2 reply=
	exec 5<>"$dev"
	# A write waits for the guest to open the port: bound it.
	timeout 60 bash -c 'printf "%s\n" "$1" >&5' - "$req" &&
		read -r -t 60 reply <&5
	exec 5>&-
	echo "$reply"
}

# guest_state: what the guest and the host kernel said, for a failure
guest_state() {
	local t

	tail -n 60 "$work/serial.log" | sed 's/^/# serial: /'
	dmesg | grep -i "vdpa\|vserial\|vq " | tail -n 40 | sed 's/^/# host: /'
	sed 's/^/# qemu: /' "$work/qemu.log"
	# Where the guest's CPU is (the guest kernel runs without KASLR).
	if [ -S "$work/monitor.sock" ]; then
		local rip sym
		for _ in 1 2 3; do
			rip=$(echo "info registers" |
			      socat -t 2 - "UNIX-CONNECT:$work/monitor.sock" |
			      tr -d '\r' | sed -n 's/^RIP=\([0-9a-f]*\).*/\1/p')
			# System.map is sorted; fixed-width hex compares as text.
			sym=$(awk -v a="$rip" '$1 <= a { s = $3 } END { print s }' \
				"/boot/System.map-$KVER" 2>/dev/null)
			diag "guest RIP $rip $sym"
			sleep 1
		done
	fi
	# Where QEMU's threads are in the host kernel, if they are stuck.
	[ -n "$qemu_pid" ] || return 0
	timeout 60 gdb -p "$qemu_pid" -batch -ex "thread apply all bt 25" \
		2>&1 | grep -v "^\[New LWP\|^warning" | sed 's/^/# gdb: /' | head -n 150
	for t in /proc/"$qemu_pid"/task/*; do
		echo "# qemu thread ${t##*/} ($(cat "$t/comm")) $(cat "$t/wchan" 2>/dev/null):"
		sed 's/^/#   /' "$t/stack" 2>/dev/null
	done
}

echo "TAP version 13"

modprobe vdpa_vserial dyndbg=+p || exit 1
modprobe vhost_vdpa || exit 1
modprobe -r virtio_vdpa 2>/dev/null
echo 'console:,org.qemu.guest_agent.0,test.data,test.data.out' \
	> /sys/module/vdpa_vserial/parameters/ports
vdpa dev add name vs0 mgmtdev vserial || exit 1
udevadm settle 2>/dev/null
vhost=$(ls -d /sys/bus/vdpa/devices/vs0/vhost-vdpa-* 2>/dev/null | head -n 1)
if [ -z "$vhost" ]; then
	echo "1..1"
	not_ok "vs0 bound to vhost_vdpa"
	exit 1
fi
vhost=/dev/${vhost##*/}
diag "vs0 is $vhost"

cons=$(host_port "")
ga=$(host_port org.qemu.guest_agent.0)
data=$(host_port test.data)
dataout=$(host_port test.data.out)

build_initramfs
ulimit -l unlimited

# Console first: the guest's hvc output waits in the console buffer.
exec 6<>"$cons"
qemu-system-x86_64 -machine pc -accel tcg \
	-m 512M -smp 1 -display none -net none \
	-monitor "unix:$work/monitor.sock,server=on,wait=off" \
	-serial "file:$work/serial.log" \
	-kernel "/boot/vmlinuz-$KVER" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 loglevel=4 nokaslr panic=-1 mitigations=off tsc=reliable no_timer_check rdinit=/init" \
	-device "vhost-vdpa-device-pci,vhostdev=$vhost" ${NESTED_QEMU_ARGS:-} \
	> "$work/qemu.log" 2>&1 &
qemu_pid=$!

echo "1..10"

# The host end reads end-of-file until the guest opens the port.
wait_for "$TIMEOUT" connected "$cons"
if console_expect 120 GUEST-CONSOLE-OK; then
	ok "guest console output reaches the host end of the console port"
else
	not_ok "guest console output reaches the host end of the console port"
	diag "qemu: $(cat "$work/qemu.log")"
	grep -m1 -A40 "soft lockup\|Call Trace" "$work/serial.log" | sed 's/^/# serial: /'
	tail -n 5 "$work/serial.log" | sed 's/^/# serial: /'
	dmesg | grep -i "vdpa\|vserial\|vq " | tail -n 40 | sed 's/^/# host: /'
	exit 1
fi
diag "$(grep GUEST: "$work/serial.log")"
check "guest sees the named ports and hvc0" \
	grep -q "ports: org.qemu.guest_agent.0 test.data test.data.out hvc0:yes" "$work/serial.log"

wait_for 120 connected "$ga"
reply=$(agent "$ga" '{"execute":"guest-sync","arguments":{"id":4242}}')
check "guest agent answers guest-sync" test "$reply" = '{"return": 4242}'
reply=$(agent "$ga" '{"execute":"guest-ping"}')
check "guest agent answers guest-ping" test "$reply" = '{"return": {}}'
reply=$(agent "$ga" '{"execute":"guest-info"}')
check "guest agent answers guest-info" grep -q '"version"' <<< "$reply"

# Data both ways: test.data carries it in, the guest copies it to
# test.data.out, which carries it back.
# echo_through_guest BYTES: test.data carries BYTES random bytes into the
# guest, which copies them to test.data.out, which carries them back;
# true if they come back equal
echo_through_guest() {
	local writer

	head -c "$1" /dev/urandom > "$work/in"
	: > "$work/out"
	exec 7<"$dataout"
	exec 10>"$data"
	# The guest's echo loop reopens test.data while the host end is
	# closed; let it settle on a connection made after the host opened.
	sleep 5
	wait_for 60 connected "$data"
	timeout 300 bash -c 'cat "$1" >&10' - "$work/in" &
	writer=$!
	timeout 300 head -c "$1" <&7 > "$work/out"
	wait "$writer"
	exec 10>&- 7<&-
	cmp -s "$work/in" "$work/out"
}
check "1 MiB both ways through the guest, checksums equal" \
	echo_through_guest 1048576

# The guest reboots: QEMU resets the device (and drops and remakes its
# IOTLB), the guest's driver sets it up again.  (One opener per host
# end: the console port's commands go through fd 6 too.)
start=$(date +%s)
echo reboot >&6
if console_expect 300 GUEST-CONSOLE-OK; then
	ok "guest rebooted (device reset) and found its ports again"
else
	not_ok "guest rebooted (device reset) and found its ports again"
	guest_state
fi
diag "reboot took $(($(date +%s) - start)) s; $(grep 'GUEST: ports' "$work/serial.log" | tail -n 1)"
wait_for 60 connected "$ga"
reply=$(agent "$ga" '{"execute":"guest-ping"}')
check "guest agent answers after the reboot" test "$reply" = '{"return": {}}'
check "data both ways after the reboot" echo_through_guest 65536

echo poweroff >&6
exec 6<&-
wait_for 60 sh -c "! kill -0 $qemu_pid 2>/dev/null"
qemu_pid=

# QEMU is gone: the host kernel's driver takes the same device.
echo vs0 > /sys/bus/vdpa/drivers/vhost_vdpa/unbind
modprobe virtio_vdpa
echo vs0 > /sys/bus/vdpa/drivers/virtio_vdpa/bind 2>/dev/null
udevadm settle 2>/dev/null
reused() {
	local out
	wait_for 30 test -e /dev/virtio-ports/test.data || return 1
	exec 9<>"$data"
	out=$(timeout 20 head -n 1 /dev/virtio-ports/test.data &
	      sleep 2; echo reusable >&9; wait)
	exec 9>&-
	test "$out" = reusable
}
check "device reusable after QEMU exit (virtio_vdpa)" reused

[ "$failed" -eq 0 ]
