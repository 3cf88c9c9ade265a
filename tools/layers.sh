#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# layers.sh [DIR] - the files of drivers/ must not call each other in a
# circle (Documentation/design.rst, "Files and layers").  From the built
# objects (DIR/drivers/*.o, default the checkout): file A depends on file
# B if A uses a symbol B defines.  Prints each dependency and, if there
# is a circle, the files in it; exits 1 then.

set -u
dir=${1:-$(dirname "$0")/..}
cd "$dir/drivers" || exit 2
objs=$(ls vserial_*.o 2>/dev/null | grep -v '\.mod\.o$')
[ -n "$objs" ] || { echo "layers.sh: no objects in $dir/drivers (build first)" >&2; exit 2; }

edges=$(
	for a in $objs; do
		for b in $objs; do
			[ "$a" = "$b" ] && continue
			if comm -12 <(nm -u "$a" | awk '{ print $2 }' | sort -u) \
				    <(nm --defined-only -g "$b" | awk '{ print $3 }' | sort -u) |
			   grep -q .; then
				echo "${a%.o}.c ${b%.o}.c"
			fi
		done
	done
)
echo "$edges" | sed 's/ / -> /'
echo "$(echo "$edges" | grep -c .) dependencies among $(echo "$objs" | wc -w) files"
if ! out=$(echo "$edges" | tsort 2>&1 >/dev/null) || [ -n "$out" ]; then
	echo "$out" | sed -n 's/^tsort: //p'
	exit 1
fi
