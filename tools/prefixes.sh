#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# prefixes.sh [DIR] - every function and file-scope object a file of
# drivers/ defines carries that file's name prefix
# (Documentation/design.rst, "Files and layers").  From the built
# objects (DIR/drivers/*.o, default the checkout), static symbols
# included.  Prints each symbol without its prefix; exits 1 if there is
# one.

set -u -o pipefail
dir=${1:-$(dirname "$0")/..}
cd "$dir/drivers" || exit 2

# file: the prefix its symbols carry
declare -A prefix=(
	[vserial_mem]=vsm_
	[vserial_vq]=vsq_
	[vserial_proto]=vsp_
	[vserial_parse]=vsn_
	[vserial_vdpa]=vserial_dev_
	[vserial_ctrl]=vserial_ctrl_
	[vserial_port]=vserial_port_
	[vserial_cdev]=vserial_cdev_
	[vserial_configfs]=vserial_cfg_
	[vserial_main]=vserial_mgmt_
)
# What no file names itself: the module's entry points, what the
# DEVICE_ATTR_RO() macros name after the sysfs attribute, the statics of
# the dynamic debug and rate-limit macros, what the compiler emits of
# kernel inlines, and the tracepoints (vserial_trace.o, named by the
# tracing macros).
exempt='^(vserial_init|vserial_exit|[a-z_]+_show|dev_attr_[a-z_]+|descriptor|_rs|pfn_valid|__.*|init_module|cleanup_module)$'

bad=0 n=0
for f in "${!prefix[@]}"; do
	[ -f "$f.o" ] || { echo "prefixes.sh: no $dir/drivers/$f.o (build first)" >&2; exit 2; }
	for s in $(nm --defined-only "$f.o" |
		   awk '$2 ~ /^[tTdDbBrR]$/ { sub(/\..*/, "", $3); print $3 }' |
		   sort -u); do
		n=$((n + 1))
		case $s in "${prefix[$f]}"*) continue ;; esac
		[[ $s =~ $exempt ]] && continue
		echo "$f.c: $s (prefix ${prefix[$f]})"
		bad=1
	done
done
echo "$n symbols in ${#prefix[@]} files"
[ "$n" -gt 0 ] || { echo "prefixes.sh: no symbols read (nm failed?)" >&2; exit 2; }
exit $bad
