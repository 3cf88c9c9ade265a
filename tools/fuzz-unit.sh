#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fuzz-unit.sh - the userspace build's tests, on the build machine (no VM):
#
#   1. build tools/ (the driver's own layer files, see tools/Makefile);
#   2. the unit tests (vq_test, proto_test), sanitizers on;
#   3. for each fuzz target: replay the committed seed corpus
#      (tools/corpus/<target>/), then fuzz, starting from it: FUZZ_RUNS
#      executions in all, shared among the targets (default 1,000,000),
#      or FUZZ_SECONDS seconds per target if set.  New inputs go to a
#      scratch corpus, never into the committed one; a finding fails
#      the run and leaves its reproducer in tools/build/findings/;
#   4. line coverage (llvm-cov) of the layers by the unit tests and the
#      corpus: below FUZZ_COVERAGE_MIN percent (default 90) fails.
#
# Prints TAP, one result per step and target, and each target's
# executions and rate.

set -u
cd "$(dirname "$0")"

B=build
TARGETS="fuzz_vq fuzz_proto fuzz_parse"
LAYERS="../drivers/vserial_vq.c ../drivers/vserial_mem.c ../drivers/vserial_proto.c ../drivers/vserial_parse.c"
FUZZ_RUNS=${FUZZ_RUNS:-1000000}
FUZZ_SECONDS=${FUZZ_SECONDS:-}
FUZZ_COVERAGE_MIN=${FUZZ_COVERAGE_MIN:-90}
n=0
failed=0
total_runs=0

result()
{
	n=$((n + 1))
	if [ "$1" = ok ]; then
		echo "ok $n $2${3:+ # $3}"
	else
		failed=$((failed + 1))
		echo "not ok $n $2${3:+ # $3}"
	fi
}

echo "TAP version 13"
for tool in clang llvm-profdata llvm-cov; do
	if ! command -v $tool >/dev/null; then
		result fail "fuzz-unit: $tool installed" \
			"apt-get install clang llvm libfuzzer-14-dev"
		echo "1..$n"
		exit 1
	fi
done

mkdir -p "$B"
if ! make -s -j"$(nproc)" >"$B/make.log" 2>&1; then
	sed 's/^/# /' "$B/make.log"
	result fail "fuzz-unit: build"
	echo "1..$n"
	exit 1
fi
result ok "fuzz-unit: build (clang, the driver's layer files unmodified)"
rm -rf "$B/prof" "$B/scratch" "$B/findings"
mkdir -p "$B/prof" "$B/findings"

for u in vq_test proto_test; do
	if "$B/$u" >"$B/$u.log" 2>&1; then
		result ok "fuzz-unit: $u" "$(tail -1 "$B/$u.log" | sed 's/^# //')"
	else
		grep -v '^ok' "$B/$u.log" | sed 's/^/# /'
		result fail "fuzz-unit: $u"
	fi
done

ntargets=$(echo $TARGETS | wc -w)
for t in $TARGETS; do
	corpus=corpus/$t
	scratch=$B/scratch/$t
	mkdir -p "$corpus" "$scratch"
	log=$B/$t.log

	# The committed corpus first: every input, once.
	if ! "$B/$t" -runs=0 -artifact_prefix="$B/findings/$t-" \
	     "$corpus" >"$log.replay" 2>&1; then
		sed 's/^/# /' "$log.replay" | tail -40
		result fail "fuzz-unit: $t replays its corpus"
		continue
	fi
	result ok "fuzz-unit: $t replays its corpus" \
		"$(ls "$corpus" | wc -l) inputs"

	if [ -n "$FUZZ_SECONDS" ]; then
		limit=-max_total_time=$FUZZ_SECONDS
	else
		# Rounded up: at least FUZZ_RUNS in all.
		limit=-runs=$(((FUZZ_RUNS + ntargets - 1) / ntargets))
	fi
	start=$(date +%s.%N)
	"$B/$t" $limit -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix="$B/findings/$t-" \
		"$scratch" "$corpus" >"$log" 2>&1
	rc=$?
	end=$(date +%s.%N)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(awk -v r="${runs:-0}" -v a="$start" -v b="$end" \
		'BEGIN { printf "%d", r / (b - a) }')
	if [ $rc -ne 0 ]; then
		grep -v '^#[0-9]' "$log" | tail -40 | sed 's/^/# /'
		result fail "fuzz-unit: $t" "finding: $(ls "$B"/findings/"$t"-* 2>/dev/null | head -1)"
	else
		result ok "fuzz-unit: $t" "${runs:-0} executions, $rate/s"
	fi
	echo "# fuzz-unit: $t: ${runs:-0} executions at $rate/s"
	total_runs=$((total_runs + ${runs:-0}))
done
echo "# fuzz-unit: $total_runs executions in all"

# Coverage: the unit tests and every corpus input, replayed.
LLVM_PROFILE_FILE=$B/prof/vq_test.profraw "$B/cov/vq_test" >/dev/null 2>&1
LLVM_PROFILE_FILE=$B/prof/proto_test.profraw "$B/cov/proto_test" >/dev/null 2>&1
objects="$B/cov/vq_test -object $B/cov/proto_test"
for t in $TARGETS; do
	LLVM_PROFILE_FILE=$B/prof/$t.profraw "$B/cov/$t" -runs=0 \
		"corpus/$t" "$B/scratch/$t" >/dev/null 2>&1
	objects="$objects -object $B/cov/$t"
done
llvm-profdata merge -o "$B/prof/all.profdata" "$B"/prof/*.profraw
# shellcheck disable=SC2086 # lists of options
llvm-cov report $objects -instr-profile="$B/prof/all.profdata" $LAYERS \
	>"$B/coverage.txt" 2>&1
for f in $LAYERS; do
	cov=$(awk -v f="$f" '$1 == f { print $10 }' "$B/coverage.txt")
	name=${f#../}
	if [ -n "$cov" ] && awk -v c="${cov%\%}" -v m="$FUZZ_COVERAGE_MIN" \
	   'BEGIN { exit !(c >= m) }'; then
		result ok "fuzz-unit: line coverage of $name" "$cov"
	else
		result fail "fuzz-unit: line coverage of $name" \
			"${cov:-none} < $FUZZ_COVERAGE_MIN%"
	fi
	echo "# fuzz-unit: coverage: $name: ${cov:-none} of lines"
done

echo "1..$n"
exit $((failed != 0))
