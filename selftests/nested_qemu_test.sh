#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nested_qemu_test.sh - give a vdpa_vserial device to a real QEMU guest
#
# Runs inside the test VM, as root.  Binds a vdpa_vserial device to
# vhost_vdpa and boots QEMU (nested, TCG) with
#   -device vhost-vdpa-device-pci,vhostdev=/dev/vhost-vdpa-N
# and a small guest: the same kernel and a busybox initramfs that runs
# qemu-ga on org.qemu.guest_agent.0, echoes test.data back on
# test.data.out, writes numbered log lines on test.log at every boot,
# and takes commands on its console (hvc0).  Then checks, from the host
# ends /dev/vserialN:
#   - the guest's virtio_console sees the named ports and the console;
#   - the guest agent answers guest-sync, guest-ping and guest-info;
#   - data both ways on test.data, checksums equal;
#   - QMP stop/cont (virsh suspend/resume) in the middle of a transfer
#     and with a guest line half read: nothing lost, nothing twice;
#   - the guest suspends and resumes (its driver's freeze and restore);
#   - a port hot-plugged while the guest runs is seen, used, and seen to
#     go; RESIZE reaches the guest's hvc;
#   - the guest reboots, and QEMU is killed and another started on the
#     same /dev/vhost-vdpa-N: a log collector started before the first
#     boot captures every line of the three boots and uses no CPU while
#     the guest is down;
#   - after QEMU exits the device is reusable (virtio_vdpa moves data).
# Prints TAP.  Nested TCG is slow: a guest boot takes 90 to 250 s.

set -u

KVER=$(uname -r)
TIMEOUT=${NESTED_TIMEOUT:-900}
LOG_LINES=500
work=$(mktemp -d /tmp/nested.XXXXXX)
qemu_pid=
collector=
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
	[ -n "$collector" ] && kill "$collector" 2>/dev/null
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
			sleep 1
			continue
		fi
		[ "${line%$'\r'}" = "$2" ] && return 0
		diag "console: '${line%$'\r'}'"
	done
	return 1
}

# serial_expect SECONDS PATTERN: wait until the guest's serial log (its
# kernel console and "say" lines) has a line matching PATTERN, after
# the mark set by serial_mark
serial_mark() { serial_from=$(wc -l < "$work/serial.log"); }
serial_expect() {
	local end=$(($(date +%s) + $1))

	until tail -n +"$((serial_from + 1))" "$work/serial.log" |
	      grep -q -- "$2"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 1
	done
}
serial_line() {
	tail -n +"$((serial_from + 1))" "$work/serial.log" | grep -- "$1" |
		tail -n 1
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
disconnected() { test "$(attr "$1" guest_connected)" = 0; }

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
	cat > "$root/init" <<GUEST
#!/bin/busybox sh
LOG_LINES=$LOG_LINES
GUEST
	cat >> "$root/init" <<'GUEST'
/bin/busybox --install -s /bin
export PATH=/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
say() { echo "GUEST: $*" > /dev/ttyS0; }

# No udev here: link /dev/virtio-ports/NAME by hand.  (Few forks: under
# nested TCG each one costs.)
ports() {
	mkdir -p /dev/virtio-ports
	for l in /dev/virtio-ports/*; do
		[ -e "$l" ] || rm -f "$l"
	done
	for d in /sys/class/virtio-ports/vport*; do
		[ -r "$d/name" ] || continue
		read -r name < "$d/name"
		[ -n "$name" ] && [ ! -e "/dev/virtio-ports/$name" ] &&
			ln -s "../${d##*/}" "/dev/virtio-ports/$name"
	done
}
for i in $(seq 300); do
	ports
	[ -e /dev/virtio-ports/test.log ] && [ -e /dev/hvc0 ] && break
	sleep 0.2
done
say "ports: $(ls /dev/virtio-ports | tr '\n' ' ')hvc0:$([ -e /dev/hvc0 ] && echo yes)"

qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 &
# Echo test.data back, one connection after the other.
(while :; do cat < /dev/virtio-ports/test.data > /dev/virtio-ports/test.data.out 2>/dev/null; sleep 0.2; done) &
# This boot's log, for the host's collector.
read -r boot < /proc/sys/kernel/random/boot_id
(i=1; while [ $i -le $LOG_LINES ]; do
	echo "log $boot $i of $LOG_LINES ................................................"
	i=$((i + 1))
done > /dev/virtio-ports/test.log; say "log written") &
stty -F /dev/hvc0 raw -echo 2>/dev/null
echo "GUEST-CONSOLE-OK" > /dev/hvc0

# Commands from the test, one per line on the console port.
while read -r cmd arg < /dev/hvc0; do
	case "$cmd" in
	line)
		# One line of 211 bytes on test.line.
		printf 'one-from-L2 %0198d\n' 0 > /dev/virtio-ports/test.line
		say "line sent"
		;;
	freeze)
		# The drivers' freeze and restore, without a wake source.
		echo devices > /sys/power/pm_test
		echo freeze > /sys/power/state
		say "resumed: $?"
		;;
	ports)
		ports
		say "ports now: $(ls /dev/virtio-ports | tr '\n' ' ')"
		;;
	echo)
		# Echo port $arg back on itself, once it is there.
		for i in $(seq 200); do
			ports
			[ -e /dev/virtio-ports/$arg ] && break
			sleep 0.5
		done
		(exec 3<>/dev/virtio-ports/$arg && cat <&3 >&3) &
		say "echoing $arg"
		;;
	size)
		say "size: $(stty -F /dev/hvc0 size)"
		;;
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

# qmp COMMAND...: run QMP commands on the guest's QEMU
qmp() {
	local c in='{"execute":"qmp_capabilities"}'

	for c in "$@"; do
		in="$in"$'\n'"{\"execute\":\"$c\"}"
	done
	printf '%s\n' "$in" |
		socat -t 2 - "UNIX-CONNECT:$work/qmp.sock" >/dev/null
}

# qmp_status: the VM's run state ("running", "paused")
qmp_status() {
	printf '%s\n' '{"execute":"qmp_capabilities"}' \
		'{"execute":"query-status"}' |
		socat -t 2 - "UNIX-CONNECT:$work/qmp.sock" |
		sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p' | tail -n 1
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

# start_qemu: boot the guest on the device (console host end on fd 6)
start_qemu() {
	: > "$work/serial.log"
	serial_from=0
	qemu-system-x86_64 -machine pc -bios /usr/share/qemu/qboot.rom \
		-accel tcg -m 512M -smp 1 -display none -net none \
		-monitor "unix:$work/monitor.sock,server=on,wait=off" \
		-qmp "unix:$work/qmp.sock,server=on,wait=off" \
		-serial "file:$work/serial.log" \
		-kernel "/boot/vmlinuz-$KVER" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 loglevel=4 nokaslr panic=-1 mitigations=off tsc=reliable no_timer_check rdinit=/init" \
		-device "vhost-vdpa-device-pci,vhostdev=$vhost" ${NESTED_QEMU_ARGS:-} \
		> "$work/qemu.log" 2>&1 &
	qemu_pid=$!
}

# guest_up WHAT: the guest (re)booted: its console, ports and agent
guest_up() {
	local start=$(date +%s)

	if console_expect "$TIMEOUT" GUEST-CONSOLE-OK; then
		ok "$1: the guest's console output reaches the host end"
	else
		not_ok "$1: the guest's console output reaches the host end"
		guest_state
		return 1
	fi
	diag "$1: $(($(date +%s) - start)) s; $(grep 'GUEST: ports' "$work/serial.log" | tail -n 1)"
	# qemu-ga starts slowly under nested TCG.
	wait_for 300 connected "$ga"
	for _ in 1 2 3; do
		reply=$(agent "$ga" '{"execute":"guest-ping"}')
		[ "$reply" = '{"return": {}}' ] && break
	done
	check "$1: the guest agent answers" test "$reply" = '{"return": {}}'
}

# trace_on / trace_ops: the vDPA operations the VMM issues (vserial_op)
TRACING=/sys/kernel/tracing
trace_on() {
	mountpoint -q $TRACING || mount -t tracefs tracefs $TRACING
	echo > $TRACING/trace
	echo 1 > $TRACING/events/vdpa_vserial/vserial_op/enable
	echo 1 > $TRACING/events/vdpa_vserial/vserial_ctrl_recv/enable
}
trace_ops() {
	echo 0 > $TRACING/events/vdpa_vserial/vserial_op/enable
	echo 0 > $TRACING/events/vdpa_vserial/vserial_ctrl_recv/enable
	# One line per device-wide operation; a run of per-queue ones in
	# one line, each operation with the number of queues it was for.
	sed -n 's/.*vserial_op: vs0 \([a-z_]*\) vq \(-\{0,1\}[0-9]*\) value \(.*\)/\1 \2 \3/p' \
		$TRACING/trace |
		awk 'function flush(i, l) { if (!k) return; l = "  per queue:";
			 for (i = 1; i <= k; i++) l = l " " name[i] " x" cnt[name[i]];
			 print l; for (i = 1; i <= k; i++) delete cnt[name[i]]; k = 0 }
		     $2 == -1 { flush(); print "  " $1 " " $3; next }
		     { if (!($1 in cnt)) name[++k] = $1; cnt[$1]++ }
		     END { flush() }' |
		sed 's/^/# /'
}

# echo_through_guest BYTES: test.data carries BYTES random bytes into the
# guest, which copies them to test.data.out, which carries them back;
# true if they come back equal.  With PAUSE, the VM is stopped and
# continued (QMP) while the bytes are on their way.
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
	timeout 300 bash -c 'cat "$1" >&10' - "$work/in" 7<&- &
	writer=$!
	pauser=
	if [ "${2:-}" = pause ]; then
		(sleep 3; qmp stop; sleep 3
		 echo "status during pause: $(qmp_status)" > "$work/paused"
		 qmp cont) 7<&- 10>&- &
		pauser=$!
	fi
	timeout 300 head -c "$1" <&7 > "$work/out"
	wait "$writer" $pauser
	exec 10>&- 7<&-
	cmp -s "$work/in" "$work/out"
}

# cpu_ticks PID: user + system time of PID, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# collected_ok BOOTS: the collector has every line of BOOTS boots, each
# boot's lines complete and in order
collected_ok() {
	awk -v want="$1" -v lines="$LOG_LINES" '
		$1 != "log" { bad = 1; print "# stray: " $0; next }
		$2 != boot { if (boot != "" && i != lines) bad = 1; boot = $2; boots++; i = 0 }
		{ if ($3 != i + 1) { bad = 1; print "# boot " boots ": line " $3 " after " i } i = $3 }
		END { if (i != lines) bad = 1;
		      print "# collector: " boots " boots, " NR " lines";
		      exit !(boots == want && !bad) }' "$work/collected"
}

echo "TAP version 13"

modprobe vdpa_vserial dyndbg=+p || exit 1
modprobe vhost_vdpa || exit 1
modprobe -r virtio_vdpa 2>/dev/null
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
echo 'console:,org.qemu.guest_agent.0,test.data,test.data.out,test.log,test.line' \
	> /sys/module/vdpa_vserial/parameters/ports
vdpa dev add name vs0 mgmtdev vserial || exit 1
udevadm settle 2>/dev/null
vhost=$(ls -d /sys/bus/vdpa/devices/vs0/vhost-vdpa-* 2>/dev/null | head -n 1)
if [ -z "$vhost" ]; then
	not_ok "vs0 bound to vhost_vdpa"
	echo "1..$n"
	exit 1
fi
vhost=/dev/${vhost##*/}
diag "vs0 is $vhost"

cons=$(host_port "")
ga=$(host_port org.qemu.guest_agent.0)
data=$(host_port test.data)
dataout=$(host_port test.data.out)
log=$(host_port test.log)
line=$(host_port test.line)

build_initramfs
ulimit -l unlimited

# The log collector, started before the guest ever booted.
cat "$log" > "$work/collected" &
collector=$!

# Console first: the guest's hvc output waits in the console buffer.
exec 6<>"$cons"
trace_on
start_qemu
guest_up "boot" || { echo "1..$n"; exit 1; }
diag "vDPA operations of QEMU's start:"
trace_ops
check "guest sees the named ports and hvc0" \
	grep -q "ports: org.qemu.guest_agent.0 test.data test.data.out test.line test.log hvc0:yes" "$work/serial.log"

reply=$(agent "$ga" '{"execute":"guest-sync","arguments":{"id":4242}}')
check "guest agent answers guest-sync" test "$reply" = '{"return": 4242}'
reply=$(agent "$ga" '{"execute":"guest-info"}')
check "guest agent answers guest-info" grep -q '"version"' <<< "$reply"

check "1 MiB both ways through the guest, checksums equal" \
	echo_through_guest 1048576

# ---- The VM stops and continues (virsh suspend / resume) ----

trace_on
check "1 MiB both ways with a QMP stop/cont on the way, checksums equal" \
	echo_through_guest 1048576 pause
diag "$(cat "$work/paused" 2>/dev/null)"
diag "vDPA operations of QMP stop and cont:"
trace_ops

# A guest line of 211 bytes half read across stop and cont.
half_read_line() {
	local first rest

	exec 8<"$line"
	echo line >&6
	first=$(timeout 120 dd bs=10 count=1 status=none <&8)
	qmp stop
	sleep 2
	paused_ga=$(attr "$ga" guest_connected)
	qmp cont
	rest=$(timeout 60 dd bs=1000 count=1 status=none <&8)
	exec 8<&-
	diag "read '$first' + ${#rest} bytes"
	test "$first$rest" = "one-from-L2 $(printf '%0198d' 0)"
}
paused_ga=
check "a guest line half read before stop is read whole, once, after cont" \
	half_read_line
check "the guest side stayed connected through the pause" \
	test "$paused_ga" = 1

# ---- The guest suspends and resumes ----

suspend_resume() {
	local readies

	serial_mark
	echo freeze >&6
	serial_expect 180 "GUEST: resumed" || return 1
	diag "$(serial_line 'GUEST: resumed')"
	# The guest's driver restored: it asked again about its 6 ports.
	readies=$(grep -c "vserial_ctrl_recv: vs0 port [0-9]* PORT_READY value 1" \
		  $TRACING/trace)
	diag "PORT_READY from the restored guest: $readies"
	test "$readies" -ge 6
}
trace_on
check "the guest suspends and resumes (pm_test freeze), its driver asks again" \
	suspend_resume
diag "vDPA operations of the guest's freeze and restore:"
trace_ops
check "after the guest's resume, the agent answers" \
	test "$(agent "$ga" '{"execute":"guest-ping"}')" = '{"return": {}}'
check "after the guest's resume, 64 KiB both ways" echo_through_guest 65536

# ---- Ports come and go, the console is resized, while the guest runs ----

# why MESSAGE: say why a check failed, with the guest's last words
why() {
	diag "$*"
	tail -n 5 "$work/serial.log" | sed 's/^/# serial: /'
	return 1
}

# hot_port_echo DEV - the guest echoes what the host end (fd 9) writes
hot_port_echo() {
	local reply

	serial_mark
	echo "echo test.hot" >&6
	serial_expect 200 "GUEST: echoing test.hot" ||
		why "the guest does not echo test.hot" || return 1
	wait_for 60 connected "$1" ||
		why "the guest side of test.hot ($1) never opened" || return 1
	echo "hot-plugged and used" >&9
	read -r -t 60 reply <&9
	diag "test.hot ($1) answered '$reply'"
	[ "$reply" = "hot-plugged and used" ]
}

hot_port() {
	local dir=/sys/kernel/config/vdpa_vserial/vs0/ports/test.hot dev ok

	mkdir "$dir" && echo 1 > "$dir/enable" || why "cannot plug $dir" ||
		return 1
	dev=$(cat "$dir/dev")
	# The host end opens first: the guest's read() of a port whose host
	# end is closed returns 0 at once (virtio_console): its echo
	# ended before the host came whenever the guest was quick (seen
	# in the trace: guest PORT_OPEN 1, PORT_OPEN 0, then host_open).
	exec 9<>"$dev" || why "cannot open $dev" || return 1
	hot_port_echo "$dev"
	ok=$?
	exec 9>&-
	[ $ok -eq 0 ] || return 1
	echo 0 > "$dir/enable" && rmdir "$dir" || why "cannot unplug" ||
		return 1
	serial_mark
	echo ports >&6
	serial_expect 60 "GUEST: ports now:" || why "no port list" || return 1
	diag "$(serial_line 'GUEST: ports now:')"
	! serial_line 'GUEST: ports now:' | grep -q test.hot
}
check "a port hot-plugged while the guest runs is seen, used, and seen to go" \
	hot_port

resize() {
	python3 -c 'import fcntl, struct, termios
fcntl.ioctl(6, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))' ||
		return 1
	serial_mark
	echo size >&6
	serial_expect 60 "GUEST: size:" || return 1
	diag "$(serial_line 'GUEST: size:')"
	serial_line 'GUEST: size:' | grep -q "size: 40 132"
}
check "RESIZE (TIOCSWINSZ on the host end) reaches the guest's hvc" resize

# ---- The guest reboots, twice; QEMU is killed and another started ----

# logged BOOTS: the collector has read the lines of BOOTS boots
logged() { test "$(wc -l < "$work/collected")" -ge $(($1 * LOG_LINES)); }

# The collector's CPU time while the guest is down: from the reboot (or
# QEMU's death) until the new guest has its ports and starts writing.
collector_cpu=0
reboot_guest() {	# reboot_guest WHAT
	local t0

	t0=$(cpu_ticks "$collector")
	trace_on
	serial_mark
	echo reboot >&6
	serial_expect "$TIMEOUT" "GUEST: ports:"
	collector_cpu=$((collector_cpu + $(cpu_ticks "$collector") - t0))
	guest_up "$1" || return 1
	diag "vDPA operations of a guest reboot:"
	trace_ops
}
wait_for 120 logged 1
reboot_guest "reboot"
check "data both ways after the reboot" echo_through_guest 65536
wait_for 120 logged 2

kill_qemu() {
	local t0

	kill -9 "$qemu_pid"
	wait "$qemu_pid" 2>/dev/null
	qemu_pid=
	# The VMM is gone: so is the guest's side of every port.
	t0=$(cpu_ticks "$collector")
	wait_for 30 disconnected "$ga" || return 1
	start_qemu
	serial_expect "$TIMEOUT" "GUEST: ports:"
	collector_cpu=$((collector_cpu + $(cpu_ticks "$collector") - t0))
}
check "QEMU killed: the guest's side of the ports goes" kill_qemu
guest_up "a new QEMU on the same device"
check "data both ways with the new QEMU" echo_through_guest 65536
wait_for 120 logged 3
check "the collector has every line of all 3 boots, in order" collected_ok 3
diag "collector CPU while the guest was down: $collector_cpu ticks"
check "the collector uses no CPU while the guest is down (< 0.05 s)" \
	test "$collector_cpu" -lt $(($(getconf CLK_TCK) / 20))
check "the collector never saw end of file" kill -0 "$collector"

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

echo "1..$n"
[ "$failed" -eq 0 ]
