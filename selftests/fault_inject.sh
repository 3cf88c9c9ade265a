#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fault_inject.sh - allocations of vdpa_vserial fail; nothing else may
#
# Usage: fault_inject.sh [ROUNDS]
#
# failslab and fail_page_alloc (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC and
# their debugfs, the test bed's debug kernel) see only the allocations
# made within FI_DEPTH (default 12) stack frames of this module's code --
# the stack-trace filter is the module's text -- so what the module asks
# the kernel for (device, queues, ports, the copy of the IOTLB, configfs
# items, character devices) fails and the rest of the kernel runs on.
# A first round, with nothing failing, measures how much the workload
# allocates through the filter (slab bytes, pages); then each of ROUNDS
# rounds (default FI_ROUNDS, else 10) fails exactly one allocation, of
# slab in even rounds and of pages in odd ones, at a point spread evenly
# over that amount (the "space" attribute), so that the failure moves
# through the workload from its first allocation to its last.  The workload:
#
#   - vdpa dev add, bound to virtio_vdpa (the host's own console driver);
#     a port plugged in through configfs; its host end opened, written,
#     read and closed without blocking; unplugged; vdpa dev del;
#   - the userspace vhost-vdpa driver's single_port case: vdpa dev add
#     bound to vhost_vdpa, IOTLB updates, DRIVER_OK, the handshake,
#     reset, close, vdpa dev del.
#
# Every step must end within its timeout (a hang fails), whatever it
# returns: an injected failure is to come back as an error.  Then,
# injection off: what is left is deleted, the same two workloads must
# pass, and the module must unload and load again (no reference leaked).
# The kernel log check and kmemleak's scan (the VM's init) do the rest.
# Prints TAP; skips without failslab.

cd "$(dirname "$0")" || exit 1
SELF=$PWD/${0##*/}

ROUNDS=${1:-${FI_ROUNDS:-10}}
case $ROUNDS in
--op) ;;
''|*[!0-9]*|0) echo "usage: $0 [ROUNDS > 0]" >&2; exit 2 ;;
esac
DEPTH=${FI_DEPTH:-12}
FAR=2000000000		# "space" that no round uses up
DBG=/sys/kernel/debug
CFG=/sys/kernel/config/vdpa_vserial
n=0
failed=0

ok()
{
	n=$((n + 1))
	echo "ok $n $*"
}

not_ok()
{
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n $*"
}

# text_range - "START END" (hex) of the module's executable sections:
# their load addresses from sysfs, their sizes from the module file
text_range()
{
	python3 - "$(modinfo -n vdpa_vserial)" <<'EOF'
import gzip, lzma, os, struct, sys
path = sys.argv[1]
opener = {".xz": lzma.open, ".gz": gzip.open}.get(os.path.splitext(path)[1], open)
with opener(path, "rb") as f:
    elf = f.read()
shoff, = struct.unpack_from("<Q", elf, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3a)
def sh(i):
    return struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
stroff = sh(shstrndx)[4]
lo = hi = None
for i in range(shnum):
    name_off, _, flags, _, _, size = sh(i)
    name = elf[stroff + name_off:elf.index(b"\0", stroff + name_off)].decode()
    sysfs = "/sys/module/vdpa_vserial/sections/" + name
    # SHF_EXECINSTR, loaded, and not freed after the module's init
    if not flags & 0x4 or not size or name.startswith(".init") or \
       not os.path.exists(sysfs):
        continue
    start = int(open(sysfs).read(), 16)
    lo = start if lo is None else min(lo, start)
    hi = start + size if hi is None else max(hi, start + size)
if lo and hi - lo < 1 << 24:         # one allocation of module text
    print("%#x %#x" % (lo, hi))
EOF
}

# setup ATTR - the filter and the rest of ATTR's settings; nothing fails
setup()
{
	local d=$DBG/$1

	echo 0 >"$d/probability"
	echo 0 >"$d/times"
	echo 1 >"$d/interval"
	echo 0 >"$d/verbose"
	echo N >"$d/task-filter"
	echo "$START" >"$d/require-start"
	echo "$END" >"$d/require-end"
	echo "$DEPTH" >"$d/stacktrace-depth"
	echo N >"$d/ignore-gfp-wait"
}

# arm ATTR SPACE - fail one allocation, the first after SPACE (bytes of
# slab, pages) went through the filter
arm()
{
	echo "$2" >"$DBG/$1/space"
	echo 1 >"$DBG/$1/times"
	echo 100 >"$DBG/$1/probability"
}

disarm()
{
	echo 0 >"$DBG/failslab/probability"
	echo 0 >"$DBG/fail_page_alloc/probability"
	echo 0 >"$DBG/failslab/times"
	echo 0 >"$DBG/fail_page_alloc/times"
}

# step SECONDS CMD... - run CMD; only a timeout counts against it
hung=0
ops=0
errs=0
step()
{
	local t=$1 rc

	shift
	ops=$((ops + 1))
	# Our own functions run in a copy of this script (--op).
	case $1 in
	bind|host_end) set -- "$SELF" --op "$@" ;;
	esac
	timeout -k 10 "$t" "$@" >"$LOG" 2>&1
	rc=$?
	# The kselftest harness kills a case that outlives its timeout.
	grep -q "terminated by timeout" "$LOG" && rc=124
	case $rc in
	0)	;;
	124|137) hung=$((hung + 1)); echo "# hung: $*" ;;
	*)	errs=$((errs + 1)); echo "# exit $rc: $*" ;;
	esac
	return $rc
}

# host_end NODE [GUEST] - open the host end without blocking, write, read,
# close; with GUEST (the guest's /dev/virtio-ports/NAME), the bytes must
# also arrive there within 30 s
host_end()
{
	python3 - "$@" <<'EOF'
import errno, os, select, sys
msg = b"fault-inject\n"
guest = None
if len(sys.argv) > 2:
    guest = os.open(sys.argv[2], os.O_RDWR | os.O_NONBLOCK)
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
if guest is not None:
    # Writable once the device has the guest's PORT_OPEN.
    p = select.poll()
    p.register(fd, select.POLLOUT)
    if not p.poll(30000):
        sys.exit("the host end never became writable")
try:
    os.write(fd, msg)
except OSError as e:
    if guest is not None or e.errno != errno.EAGAIN:
        raise
try:
    os.read(fd, 4096)
except OSError as e:
    if e.errno != errno.EAGAIN:
        raise
if guest is not None:
    got = b""
    while len(got) < len(msg):
        if not select.select([guest], [], [], 30)[0]:
            sys.exit("nothing reached the guest")
        got += os.read(guest, 4096)
    if got != msg:
        sys.exit("the guest read %r" % got)
    os.close(guest)
os.close(fd)
EOF
}

# bind DEV DRIVER - vdpa dev add DEV, bound to DRIVER
bind()
{
	local rc

	echo 0 >/sys/bus/vdpa/drivers_autoprobe
	vdpa dev add name "$1" mgmtdev vserial
	rc=$?
	echo 1 >/sys/bus/vdpa/drivers_autoprobe
	[ $rc -eq 0 ] || return $rc
	echo "$2" >"/sys/bus/vdpa/devices/$1/driver_override" &&
		echo "$1" >/sys/bus/vdpa/drivers_probe
}

# console_round DEV [strict] - the virtio_vdpa workload; strict: each
# step must work, and the bytes reach the guest's port
console_round()
{
	local dev=$1 port=$CFG/$1/ports/fi.port node=/dev/vserial/$1/fi.port

	step 60 bind "$dev" virtio_vdpa
	if [ -n "${2:-}" ]; then
		case $(readlink "/sys/bus/vdpa/devices/$dev/driver") in
		*/virtio_vdpa) ;;
		*) errs=$((errs + 1)); echo "# $dev: not bound to virtio_vdpa" ;;
		esac
	fi
	if [ -d "$CFG/$dev/ports" ]; then
		step 30 mkdir "$port"
		[ -d "$port" ] &&
			step 30 sh -c "echo fi.port >$port/name && echo 1 >$port/enable"
		step 30 udevadm settle
		if [ -n "${2:-}" ]; then
			step 60 host_end "$node" /dev/virtio-ports/fi.port
		elif [ -e "$node" ]; then
			step 30 host_end "$node"
		fi
		[ -d "$port" ] && step 30 sh -c "echo 0 >$port/enable"
		[ -d "$port" ] && step 30 rmdir "$port"
	elif [ -n "${2:-}" ]; then
		errs=$((errs + 1))
		echo "# $dev: no configfs directory"
	fi
	step 60 vdpa dev del "$dev"
}

cleanup()
{
	local d p

	disarm
	for p in "$CFG"/*/ports/*/; do
		[ -d "$p" ] && { echo 0 >"$p/enable"; rmdir "$p"; }
	done 2>/dev/null
	for d in /sys/bus/vdpa/devices/*; do
		[ -e "$d" ] && vdpa dev del "${d##*/}"
	done 2>/dev/null
	for d in "$CFG"/*/; do
		[ -d "$d" ] && rmdir "$d"
	done 2>/dev/null
	echo 1 >/sys/bus/vdpa/drivers_autoprobe
}

if [ "${1:-}" = --op ]; then
	shift
	"$@"
	exit
fi

echo "TAP version 13"
mountpoint -q $DBG || mount -t debugfs none $DBG 2>/dev/null
if [ ! -d $DBG/failslab ] || [ ! -d $DBG/fail_page_alloc ]; then
	echo "1..0 # SKIP no failslab/fail_page_alloc (VM_KERNEL=debug has them)"
	exit 4		# KSFT_SKIP
fi
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
if ! modprobe -a vdpa_vserial virtio_vdpa vhost_vdpa; then
	echo "1..1"
	echo "not ok 1 modprobe vdpa_vserial virtio_vdpa vhost_vdpa"
	exit 1
fi

if ! range=$(text_range) || [ -z "$range" ]; then
	echo "1..1"
	not_ok "the module's text range"
	exit 1
fi
START=${range% *}
END=${range#* }
echo "# module text $START-$END, allocations within $DEPTH frames of it"
LOG=$(mktemp) || exit 1		# step's output
trap 'cleanup; rm -f "$LOG"' EXIT
trap 'exit 1' INT TERM
setup failslab
setup fail_page_alloc
echo N >$DBG/fail_page_alloc/ignore-gfp-highmem
echo 0 >$DBG/fail_page_alloc/min-order
echo N >$DBG/failslab/cache-filter

# workload NAME - one round's operations (the console device is NAME.c)
workload()
{
	console_round "$1.c"
	step 300 ./vhost_vdpa_test -r protocol.single_port
}

# The amount the workload allocates through the filter.
arm failslab $FAR
arm fail_page_alloc $FAR
workload fi.measure
slab=$((FAR - $(cat $DBG/failslab/space)))
pages=$((FAR - $(cat $DBG/fail_page_alloc/space)))
disarm
cleanup
if [ "$errs" -eq 0 ] && [ "$hung" -eq 0 ] && [ "$slab" -gt 0 ] &&
   [ "$pages" -gt 0 ]; then
	ok "calibration: the workload works and allocates through the filter # $slab bytes of slab, $pages pages"
else
	not_ok "calibration: the workload works and allocates through the filter"
fi

h=0
errs=0
ops=0
r=0
while [ $r -lt "$ROUNDS" ]; do
	if [ $((r % 2)) -eq 0 ]; then
		attr=failslab total=$slab
	else
		attr=fail_page_alloc total=$pages
	fi
	# Evenly: round r of each kind at (2i + 1) / (2 * rounds of the kind).
	at=$((total * (r - r % 2 + 1) / ROUNDS))
	arm $attr $at
	workload fi$r
	if [ "$(cat $DBG/$attr/times)" -eq 0 ]; then
		h=$((h + 1))
		echo "# round $r: one $attr failure after $at of $total"
	else
		echo "# round $r: no $attr failure (the round allocated less)"
	fi
	cleanup
	r=$((r + 1))
done
echo "# $ROUNDS rounds, $ops operations: $errs returned an error, $hung hung; $h allocations failed"
if [ "$hung" -eq 0 ]; then
	ok "every operation ends while allocations fail"
else
	not_ok "every operation ends while allocations fail # $hung hung"
fi
if [ "$h" -gt $((ROUNDS / 2)) ]; then
	ok "allocations of the module were failed # $h"
else
	not_ok "allocations of the module were failed # only $h of $ROUNDS rounds"
fi

cleanup
hung=0
errs=0
console_round fi.after strict
if [ "$errs" -eq 0 ] && [ "$hung" -eq 0 ]; then
	ok "afterwards, a console device works"
else
	not_ok "afterwards, a console device works"
fi
if timeout 300 ./vhost_vdpa_test -r protocol.single_port >/dev/null 2>&1; then
	ok "afterwards, a vhost-vdpa device works"
else
	not_ok "afterwards, a vhost-vdpa device works"
fi
cleanup
trap - EXIT
rm -f "$LOG"
if modprobe -r vdpa_vserial && modprobe vdpa_vserial; then
	ok "the module unloads and loads again"
else
	not_ok "the module unloads and loads again"
fi
echo "1..$n"
[ $failed -eq 0 ]
