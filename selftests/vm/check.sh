#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh - "make check": every test of vdpa_vserial, as one TAP stream
#
# Usage: check.sh
#
# In order, each numbered TAP result being one test case:
#   1. build the module in the test bed chroot with W=1 C=1: any
#      compiler, sparse or modpost warning fails;
#   2. no import circle among drivers/*.c (tools/layers.sh, from the
#      objects) and one name prefix per file (tools/prefixes.sh);
#      checkpatch.pl --strict on each source file: any ERROR, WARNING or
#      CHECK fails; the kernel log check (dmesg-check.sh) on sample
#      report lines (dmesg-check-test.sh);
#   3. on this machine, the userspace build of the ring engine: unit
#      tests, 1,000,000 libFuzzer executions, line coverage >= 90 %
#      (tools/fuzz-unit.sh, also "make fuzz-unit"); build the selftests
#      (warnings fail);
#   4. boot a VM that runs "false": the run must fail;
#   5. boot a VM with 2 vCPUs and run selftests/run_tests.sh (one result
#      per test case) and check its kernel log; with 1 vCPU the tests of
#      the kernel's own console driver (vserial_test, port_test) again;
#   6. boot a VM that runs QEMU inside with the device given to a guest
#      over vhost-vdpa (selftests/nested_qemu_test.sh);
#   7. boot a VM without the module installed and install it with dkms
#      (selftests/vm/dkms-test.sh); check the kernel log;
#   8. "make install DESTDIR=..." in the chroot: module, udev rule, docs.
# With VM_KERNEL=debug (the debug kernel, built first if need be): 1, the
# selftests' build and 8 against it, and for 4-7 one boot that runs the
# selftests of DEBUG_TESTS (default: vhost_fuzz fault_inject.sh, the
# latter with FI_ROUNDS=2); the kernel-independent steps of 2 and 3 are
# skipped.
# The stream ends with the plan and one line "N passed, N failed, N
# skipped".  The exit status is 0 if nothing failed.  Logs are kept in
# selftests/output/check-<date>-<pid>/.

set -u
shopt -s lastpipe

# shellcheck disable=SC2034 # for msg() and die() of lib.sh
PROG=check.sh
. "$(dirname "$0")/lib.sh"

VM_SH=$VM_DIR/vm.sh
OUT_REL=selftests/output/check-$(date +%Y%m%d-%H%M%S)-$$
OUT=$CHECKOUT/$OUT_REL

# The stock kernel's own checks, off by default (see stock_boots); the
# debug kernel has KASAN and KFENCE built in instead.
STOCK_CHECKS="kfence.sample_interval=100 slub_debug=FZP page_poison=1"
# What runs on the debug kernel (see debug_boot).
DEBUG_TESTS=${DEBUG_TESTS:-vhost_fuzz fault_inject.sh}
FI_ROUNDS=${FI_ROUNDS:-2}

n=0
passed=0
failed=0
skipped=0

# result ok|fail|skip DESCRIPTION [COMMENT] - print one numbered result
result()
{
	local status=$1 desc=$2 comment=${3:-}

	n=$((n + 1))
	case $status in
	ok)	passed=$((passed + 1)); echo "ok $n $desc${comment:+ # $comment}" ;;
	skip)	skipped=$((skipped + 1)); echo "ok $n $desc # SKIP $comment" ;;
	*)	failed=$((failed + 1)); echo "not ok $n $desc${comment:+ # $comment}" ;;
	esac
}

# comment FILE - show FILE as TAP comments
comment()
{
	sed 's/^/# /' "$@"
}

# relay - renumber the TAP results read on stdin into this stream and
# turn everything else into comments; sets relay_failed to the number of
# failed results seen
relay()
{
	local line num rest

	relay_failed=0
	while IFS= read -r line; do
		case $line in
		"ok "[0-9]*|"not ok "[0-9]*)
			rest=${line#not }
			rest=${rest#ok }
			num=${rest%% *}
			rest=${rest#"$num"}
			rest=${rest# }
			n=$((n + 1))
			case $line in
			not*)
				failed=$((failed + 1))
				relay_failed=$((relay_failed + 1))
				echo "not ok $n $rest"
				;;
			*)
				case ${rest^^} in
				*"# SKIP"*) skipped=$((skipped + 1)) ;;
				*) passed=$((passed + 1)) ;;
				esac
				echo "ok $n $rest"
				;;
			esac
			;;
		"TAP version"*|"1.."[0-9]*)
			;;
		"#"*)
			echo "$line"
			;;
		*)
			echo "# $line"
			;;
		esac
	done
}

# objects_check SCRIPT DESCRIPTION - run tools/SCRIPT on the objects the
# module build left; its last line is the result's comment
objects_check()
{
	local log=$OUT/${1%.sh}.log

	if "$CHECKOUT/tools/$1" "$CHECKOUT" >"$log" 2>&1; then
		result ok "$2" "$(tail -n 1 "$log")"
	else
		comment "$log"
		result fail "$2"
	fi
}

# relay_step NAME DESCRIPTION CMD... - run CMD on this machine, relaying
# its TAP; an exit status that no failed case explains fails NAME
relay_step()
{
	local name=$1 status

	echo "# $2"
	shift 2
	"$@" 2>&1 | relay
	status=${PIPESTATUS[0]}
	if [ "$status" -ne 0 ] && [ "$relay_failed" -eq 0 ]; then
		result fail "$name" "exit status $status"
	fi
}

# build_step DESCRIPTION LOG CMD... - run a build in the chroot; it
# passes if it succeeds without printing any warning
build_step()
{
	local desc=$1 log=$2 rc

	shift 2
	"$VM_SH" chroot "$@" >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		comment "$log"
		result fail "$desc" "exit status $rc"
	elif grep -Eqi '(warning|error):' "$log"; then
		grep -Ei '(warning|error):' "$log" | comment
		result fail "$desc" "warnings"
	else
		result ok "$desc"
	fi
}

checkpatch()
{
	local f log total files

	files=$(cd "$CHECKOUT" &&
		find drivers include -name '*.[ch]' -type f 2>/dev/null |
		grep -v '\.mod\.c$' | sort)
	if [ -z "$files" ]; then
		result skip "checkpatch" "no source files"
		return
	fi
	for f in $files; do
		log=$OUT/checkpatch-$(echo "$f" | tr / _).log
		"$VM_SH" chroot sh -c 'cd "$1" && shift && perl "$@"' - \
			"$CHECKOUT" "$LINUX_SRC/scripts/checkpatch.pl" \
			--strict --no-tree --no-color --show-types -f "$f" \
			>"$log" 2>&1
		total=$(grep '^total:' "$log")
		case $total in
		"total: 0 errors, 0 warnings, 0 checks,"*)
			result ok "checkpatch: $f"
			;;
		*)
			comment "$log"
			result fail "checkpatch: $f" "${total:-checkpatch failed}"
			;;
		esac
	done
}

# boot NAME DESCRIPTION VM-OPTION... -- CMD - run CMD in a VM, relaying
# its TAP, then check how the VM ended and its kernel log
boot()
{
	local name=$1 desc=$2 status dir

	shift 2
	dir=$OUT/$name
	echo "# $desc: booting"
	"$VM_SH" run -o "$OUT_REL/$name" "$@" 2>&1 | relay
	status=${PIPESTATUS[0]}

	if [ ! -f "$dir/status" ] || [ "$status" -ge 124 ]; then
		result fail "$desc: VM ran to completion" \
			"timeout or crash, see $OUT_REL/$name/console.log"
	elif [ "$(cat "$dir/status")" -ne 0 ] && [ $relay_failed -eq 0 ]; then
		result fail "$desc: test command" \
			"exit status $(cat "$dir/status") with no failed case"
	fi
	if [ -s "$dir/dmesg.bad" ] || [ ! -f "$dir/dmesg" ]; then
		result fail "$desc: kernel log clean" "see $OUT_REL/$name/dmesg"
	else
		result ok "$desc: kernel log clean"
	fi
}

# vm_exit_step - the test bed passes a command's failure on ("make vm-run
# CMD=false" fails), or no passing run could be believed
vm_exit_step()
{
	local desc="test bed: a failing command fails the run" status

	"$VM_SH" run -o "$OUT_REL/vm-false" -c 1 --no-load -- false \
		>"$OUT/vm-false.log" 2>&1
	status=$?
	if [ $status -ne 0 ] && [ "$(cat "$OUT/vm-false/status" 2>/dev/null)" = 1 ]; then
		result ok "$desc"
	else
		comment "$OUT/vm-false.log"
		result fail "$desc" "exit status $status"
	fi
}

# install_step KVER KDIR - "make install DESTDIR=..." in the chroot puts the
# module (compressed as the kernel's are), the udev rule and the
# documentation where they belong
install_step()
{
	local kver=$1 kdir=$2 dest=$OUT/install log=$OUT/install.log f missing= rc

	"$VM_SH" chroot make -C "$CHECKOUT" KDIR="$kdir" \
		DESTDIR="$dest" install >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		comment "$log"
		result fail "make install (DESTDIR)" "exit status $rc"
		return
	fi
	result ok "make install (DESTDIR)"
	for f in "lib/modules/$kver/updates/vdpa_vserial.ko*" \
		 lib/udev/rules.d/90-vdpa-vserial.rules \
		 usr/share/doc/vdpa_vserial/admin-guide.rst \
		 usr/share/doc/vdpa_vserial/README \
		 usr/share/doc/vdpa_vserial/ABI/testing/configfs-vdpa_vserial; do
		# shellcheck disable=SC2086 # the module's name is a pattern
		ls $dest/$f >/dev/null 2>&1 || missing="$missing $f"
	done
	if [ -n "$missing" ]; then
		result fail "make install: files in place" "missing:$missing"
	else
		result ok "make install: files in place"
	fi
}

# give_up DESCRIPTION - a step without which nothing can run failed:
# report it and the totals; returns 1
give_up()
{
	result fail "$1"
	echo "1..$n"
	echo "$passed passed, $failed failed, $skipped skipped"
	return 1
}

# stock_boots - the VM steps on the stock kernel
stock_boots()
{
	vm_exit_step
	# The stock kernel's own checks, off by default: KFENCE sampling,
	# SLUB red zones and poisoning, page poisoning; full preemption on
	# one boot.
	VM_APPEND="$STOCK_CHECKS" \
	boot vm-2cpus "selftests, 2 vCPUs" -c 2 --no-load -- \
		"selftests/run_tests.sh -p '[2 vCPUs]'"
	# One vCPU is the hard case for the Linux console driver, which
	# busy-waits with interrupts off for the device: the tests that
	# run it (the device through virtio_vdpa) run again there.
	VM_APPEND="$STOCK_CHECKS preempt=full" \
	boot vm-1cpu "selftests, 1 vCPU" -c 1 --no-load -- \
		"selftests/run_tests.sh -p '[1 vCPU]' vserial_test port_test"
	boot vm-nested "nested QEMU guest" -c 2 -m 3G --no-load -- \
		selftests/nested_qemu_test.sh
	boot vm-dkms "dkms" -c 2 --no-install -- selftests/vm/dkms-test.sh
}

# debug_boot - the VM step on the debug kernel: one boot, the tests of
# DEBUG_TESTS
#
# Under TCG the debug kernel runs several times slower than the stock one
# (a boot takes about 220 s to reach the command): what runs on it is
# chosen to fit the CI budget (Documentation/testing.rst).  The nested
# guest and dkms need the stock kernel's image and headers.
debug_boot()
{
	boot vm-debug "selftests, debug kernel" -c 2 --no-load -- \
		"FI_ROUNDS=$FI_ROUNDS selftests/run_tests.sh -t 1500 -p '[debug]' $DEBUG_TESTS"
}

main()
{
	local kver kdir start=$SECONDS

	echo "TAP version 13"
	need_root
	mkdir -p "$OUT"
	echo "# logs in $OUT_REL"

	"$VM_SH" rootfs 2>&1 | comment
	[ "${PIPESTATUS[0]}" -eq 0 ] || give_up "test bed rootfs" || return
	# The debug kernel (VM_KERNEL=debug) is built here if need be.
	if [ "$VM_KERNEL" = debug ]; then
		"$VM_SH" kernel 2>&1 | comment
		[ "${PIPESTATUS[0]}" -eq 0 ] ||
			give_up "test bed debug kernel" || return
	fi
	kver=$("$VM_SH" kver) || give_up "test bed kernel ($VM_KERNEL)" || return
	kdir=$(vm_kdir "$kver")
	echo "# rootfs $ROOTFS, kernel $kver ($VM_KERNEL)"

	build_step "build: module (W=1 C=1)" "$OUT/build-module.log" \
		sh -c 'make -C "$1" KDIR="$2" clean >/dev/null &&
		       make -C "$1" -j"$(nproc)" KDIR="$2" W=1 C=1 modules' - \
		"$CHECKOUT" "$kdir"
	if [ "$VM_KERNEL" != debug ]; then
		objects_check layers.sh "layers: no import circle among drivers/*.c"
		objects_check prefixes.sh "prefixes: one name prefix per file of drivers/"
		checkpatch
		relay_step dmesg-check-test \
			"the kernel log check (dmesg-check.sh) on sample lines" \
			"$VM_DIR/dmesg-check-test.sh"
		relay_step fuzz-unit \
			"fuzz-unit: the ring engine in userspace (make fuzz-unit)" \
			"$CHECKOUT/tools/fuzz-unit.sh"
	else
		result skip "layers, prefixes, checkpatch, log check samples, fuzz-unit" \
			"kernel-independent: make check on the stock kernel runs them"
	fi
	build_step "build: selftests" "$OUT/build-selftests.log" \
		sh -c 'make -C "$1" clean >/dev/null &&
		       make -C "$1" -j"$(nproc)" KSFT_DIR="$2"' - \
		"$CHECKOUT/selftests" "$KSFT_DIR"

	if [ "$VM_KERNEL" = debug ]; then
		debug_boot
	else
		stock_boots
	fi
	install_step "$kver" "$kdir"

	echo "1..$n"
	echo "# make check took $((SECONDS - start)) s"
	echo "$passed passed, $failed failed, $skipped skipped"
	[ $failed -eq 0 ]
}

main
