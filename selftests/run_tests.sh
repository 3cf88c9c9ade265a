#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_tests.sh - run the vdpa_vserial selftests and print one TAP stream
#
# Usage: run_tests.sh [-t SECONDS] [-p PREFIX] [TEST...]
#        run_tests.sh -l
#
# Runs every test of selftests/Makefile (TEST_GEN_PROGS and TEST_PROGS,
# which must be built already), or only the TESTs named, each under a
# timeout (-t, default $KSFT_TIMEOUT or 600 seconds).  -l lists them.
#
# Unlike the kernel's runner, which reports one result per program, each
# test case becomes a top-level TAP result here, named "PROGRAM: CASE"
# (with -p, "PREFIX PROGRAM: CASE"), so that every case is counted.
# Everything else a program prints is passed on as a "# " comment.  A
# program that crashes, exits non-zero without reporting a failed case,
# or times out adds a failed result of its own.  The stream ends with
# the plan and a line the callers parse:
#
#   # Totals: pass:N fail:N skip:N
#
# The exit status is 0 if no case failed, 1 otherwise.

cd "$(dirname "$0")" || exit 1

timeout=${KSFT_TIMEOUT:-600}
prefix=
list=0
while getopts "t:p:l" opt; do
	case $opt in
	t) timeout=$OPTARG ;;
	p) prefix="$OPTARG " ;;
	l) list=1 ;;
	*) sed -n '/^# Usage:/,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

all=$(make -s --no-print-directory print-tests) || exit 1
if [ $list = 1 ]; then
	printf '%s\n' $all
	exit 0
fi

tests=${*:-$all}
for t in $tests; do
	case " $all " in
	*" $t "*) ;;
	*) echo "run_tests.sh: unknown test '$t' (known: $all)" >&2; exit 2 ;;
	esac
done

state=$(mktemp) || exit 1
trap 'rm -f "$state" "$state.rc"' EXIT
echo "0 0 0 0" >"$state"	# last result number, pass, fail, skip

echo "TAP version 13"
for t in $tests; do
	echo "# selftests: vdpa_vserial: $t (timeout ${timeout}s)"
	# Mark the start of each program in the kernel log, for reading
	# dmesg afterwards.
	[ -w /dev/kmsg ] && echo "vdpa_vserial selftests: running $t" >/dev/kmsg

	# The program's output, renumbered.  Its exit status is kept in a
	# file since it runs on the left of a pipe.
	{
		timeout -k 10 "$timeout" "./$t" 2>&1
		echo $? >"$state.rc"
	} | awk -v prog="$t" -v prefix="$prefix" -v state="$state" '
		BEGIN {
			getline s <state
			split(s, v, " ")
			n = v[1]; pass = v[2]; fail = v[3]; skip = v[4]
			cases = 0; failed = 0
		}
		/^(not )?ok [0-9]+/ {
			notok = sub(/^not /, "")
			sub(/^ok [0-9]+ */, "")
			name = $0
			if (name ~ /^#/)	# "ok 3 # SKIP why": no name
				name = " " name
			else
				name = ": " name
			n++; cases++
			if (notok) {
				fail++; failed++
				printf "not ok %d %s%s%s\n", n, prefix, prog, name
			} else {
				if (toupper(name) ~ /# SKIP/)
					skip++
				else
					pass++
				printf "ok %d %s%s%s\n", n, prefix, prog, name
			}
			fflush()
			next
		}
		/^1\.\.0/ { skipped_all = $0 }
		{ print "# " $0; fflush() }
		END {
			printf "%d %d %d %d %d %d %s\n", n, pass, fail, skip, \
				cases, failed, skipped_all >state
		}'

	rc=$(cat "$state.rc")
	read -r n pass fail skip cases failed skipped_all <"$state"
	result=
	case $rc in
	0)	[ "$cases" -eq 0 ] && result="ok" ;;
	4)	[ "$cases" -eq 0 ] && result="ok # SKIP ${skipped_all#*# SKIP}" ;;
	124|137) result="not ok # TIMEOUT after ${timeout}s" ;;
	*)	[ "$failed" -eq 0 ] && result="not ok # exit status $rc" ;;
	esac
	if [ -n "$result" ]; then
		n=$((n + 1))
		case $result in
		"not ok"*) fail=$((fail + 1)) ;;
		*SKIP*) skip=$((skip + 1)) ;;
		*) pass=$((pass + 1)) ;;
		esac
		status=${result%% #*}
		comment=${result#"$status"}
		echo "$status $n $prefix$t$comment"
	fi
	echo "$n $pass $fail $skip" >"$state"
done

read -r n pass fail skip _ <"$state"
echo "1..$n"
echo "# Totals: pass:$pass fail:$fail skip:$skip"
[ "$fail" -eq 0 ]
