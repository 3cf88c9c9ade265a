#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dmesg-check.sh - look for kernel errors in the logs of a test VM run
#
# Usage: dmesg-check.sh [-t TAINTED-FILE] LOG...
#
# Prints every line of the LOGs (kernel log text; missing files are
# ignored) that reports an oops, BUG, WARNING, lockdep splat, RCU stall,
# hung task, lockup, general protection fault, sanitizer report (KASAN,
# UBSAN, KFENCE, kmemleak, debug objects), sleep in atomic context,
# workqueue lockup, allocation failure, OOM or panic, each line once, and exits 1 if there is any.  With -t, the value of
# /proc/sys/kernel/tainted saved at the end of the run is checked too: a
# kernel tainted by a warning, an oops, a lockup, a bad page or a machine
# check fails even if the log lines were lost.

# Extended regular expressions, one per line.
PATTERNS='Oops
\<BUG:
kernel BUG at
BUG [^ ]+ \((Not tainted|Tainted: [^)]*)\): 
WARNING:
possible circular locking
inconsistent lock state
possible recursive locking
detected stalls?
INFO: task .* blocked for more than
soft lockup
hard LOCKUP
general protection fault
Kernel panic
UBSAN:
KASAN:
KFENCE:
unreferenced object
refcount_t:
list_(add|del) corruption
Unable to handle kernel
kernel stack overflow
Call Trace
page allocation failure
sleeping function called from invalid context
workqueue lockup
ODEBUG: .*object type:
kmemleak: [0-9]+ new suspected memory leaks
invoked oom-killer
Out of memory:
KCSAN:'

# Taint flags that mean trouble: B (bad page), D (died), L (soft lockup),
# M (machine check), W (warning).
BAD_TAINT_BITS='5:B 7:D 14:L 4:M 9:W'

tainted=
if [ "${1:-}" = -t ]; then
	tainted=$2
	shift 2
fi

bad=0

lines=$(for f in "$@"; do [ -f "$f" ] && cat "$f"; done |
	tr -d '\r' | grep -E -e "$(printf '%s' "$PATTERNS" | paste -sd'|' -)" |
	awk '!seen[$0]++')
if [ -n "$lines" ]; then
	printf '%s\n' "$lines"
	bad=1
fi

if [ -n "$tainted" ] && [ -s "$tainted" ]; then
	value=$(cat "$tainted")
	for bit in $BAD_TAINT_BITS; do
		if [ $((value >> ${bit%:*} & 1)) -eq 1 ]; then
			echo "kernel tainted: ${bit#*:} (tainted=$value)"
			bad=1
		fi
	done
fi

exit $bad
