#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dmesg-check-test.sh - does dmesg-check.sh catch what it must, and
# only that?
#
# Feeds dmesg-check.sh a clean log of a debug-kernel boot (lines that
# look alarming but are not reports) and then that log with one report
# line of each kind added: the clean log must pass, each other one must
# fail and name its line.  Prints TAP; the lines are as the 6.12 kernel
# prints them.

set -u

check=$(dirname "$0")/dmesg-check.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0

cat >"$work/clean" <<'LOG'
[    0.000000] Linux version 6.12.57-vserial-debug (root@vserial-vm)
[    0.112233] kfence: initialized - using 2097152 bytes for 255 objects at 0x(____ptrval____)-0x(____ptrval____)
[    0.120000] ODEBUG: 0 of 0 active objects replaced
[    0.130000] kmemleak: Kernel memory leak detector initialized (mem pool available: 15000)
[    0.140000] kmemleak: Automatic memory scanning thread ended
[    0.150000] KernelAddressSanitizer initialized (generic)
[    0.160000] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar
[    3.000000] vdpa_vserial: version 0.5 loaded
[    3.100000] vdpa vs0: vserial: 6 ports, max_nr_ports 8
[   40.000000] vm-init: kmemleak scan
LOG

reports=(
	"BUG: KASAN: slab-out-of-bounds in vsq_chain_read+0x1a/0x200 [vdpa_vserial]"
	"BUG kmalloc-128 (Not tainted): Right Redzone overwritten"
	"UBSAN: shift-out-of-bounds in drivers/vserial_vq.c:120:5"
	"BUG: KFENCE: use-after-free read in vsp_next+0x10/0x80 [vdpa_vserial]"
	"BUG: KCSAN: data-race in vsq_arm / vsq_xfer"
	"WARNING: possible circular locking dependency detected"
	"WARNING: inconsistent lock state"
	"WARNING: possible recursive locking detected"
	"WARNING: suspicious RCU usage"
	"kmemleak: 3 new suspected memory leaks (see /sys/kernel/debug/kmemleak)"
	"unreferenced object 0xffff888004a1c000 (size 64):"
	"BUG: sleeping function called from invalid context at mm/slab.h:332"
	"BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 42s!"
	"ODEBUG: free active (active state 0) object: 00000000c0ffee00 object type: work_struct hint: vserial_dev_work+0x0/0x100 [vdpa_vserial]"
	"vhost_fuzz: page allocation failure: order:4, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null),cpuset=/,mems_allowed=0"
	"vhost_fuzz invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"
	"Out of memory: Killed process 812 (vhost_fuzz) total-vm:10240kB, anon-rss:4096kB"
	"INFO: task kworker/0:1:42 blocked for more than 60 seconds."
	"watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [vhost_fuzz:811]"
	"Oops: general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN"
	"rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"
	"Kernel panic - not syncing: hung_task: blocked tasks"
	"refcount_t: underflow; use-after-free."
	"list_del corruption, ffff888004a1c000->next is LIST_POISON1 (dead000000000100)"
	" Call Trace:"
)

tap() {	# tap OK DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 1 ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		failed=$((failed + 1))
	fi
}

echo "TAP version 13"
out=$("$check" "$work/clean")
tap "$([ $? -eq 0 ] && [ -z "$out" ] && echo 1)" "dmesg-check: a clean debug-kernel log passes"
for r in "${reports[@]}"; do
	{ cat "$work/clean"; echo "[   12.345678] $r"; } >"$work/log"
	out=$("$check" "$work/log")
	tap "$([ $? -eq 1 ] && [ "$out" = "[   12.345678] $r" ] && echo 1)" \
		"dmesg-check catches: ${r:0:60}"
done
echo "0x200" >"$work/tainted"	# W: a warning
out=$("$check" -t "$work/tainted" "$work/clean")
tap "$([ $? -eq 1 ] && echo 1)" "dmesg-check: a kernel tainted W fails"
echo "1..$n"
[ $failed -eq 0 ]
