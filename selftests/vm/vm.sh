#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vm.sh - host side of the vdpa_vserial VM test bed
#
# Usage: vm.sh rootfs
#        vm.sh kernel
#        vm.sh kver
#        vm.sh build [MAKE-VARIABLE...]
#        vm.sh chroot CMD [ARG...]
#        vm.sh run [OPTIONS] [--] CMD
#
#   rootfs  make sure the cached Debian trixie rootfs and the files taken
#           from its kernel source tarball exist (build them if not)
#   kernel  make sure the debug kernel (debug.config) is built and cached
#   kver    print the kernel release the VM boots (VM_KERNEL)
#   build   build the module (top-level Makefile, KDIR = the rootfs'
#           kernel headers) and the selftests inside the rootfs chroot;
#           MAKE-VARIABLEs such as W=1 C=1 are passed to the module build
#   chroot  run CMD inside the rootfs chroot (checkout mounted at its path)
#   run     boot a fresh VM on the rootfs with the built module installed
#           and loaded, run the shell command CMD as root in the checkout
#           directory and power off.  Exits with CMD's status; fails (non-zero) if
#           the kernel log shows an oops, warning, lockdep report, stall
#           or panic, or if the VM does not finish within the timeout.
#
# VM_KERNEL=debug (environment) makes build and run use the debug kernel
# (built first if it is not cached: a cold build took 608 s here);
# the default, VM_KERNEL=stock, is the rootfs' Debian kernel.
#
# Options of "run" (defaults from the environment in brackets):
#   -c, --cpus N       vCPUs [VM_CPUS, 2]
#   -m, --mem SIZE     memory, QEMU syntax [VM_MEM, 2G]
#   -t, --timeout SEC  kill the VM after SEC seconds [VM_TIMEOUT, 1800]
#   -o, --out DIR      run directory, below selftests/output/ of the
#                      checkout [selftests/output/<date>-<pid>]
#   -n, --no-install   do not install the built module in the guest
#   -N, --no-load      install the module but do not load it [VM_LOAD=0]
#   (VM_APPEND: more kernel command line arguments)
#
# A run directory keeps: cmd (the command), output (its stdout and stderr,
# also shown live), console.log (kernel console: warnings and worse, and
# the guest init's progress), dmesg (the whole kernel log at the end),
# tainted, status (the command's exit status), qemu.log, virtiofsd-*.log.

set -u

# shellcheck disable=SC2034 # for msg() and die() of lib.sh
PROG=vm.sh
. "$(dirname "$0")/lib.sh"

VM_CPUS=${VM_CPUS:-2}
VM_MEM=${VM_MEM:-2G}
VM_TIMEOUT=${VM_TIMEOUT:-1800}
VM_LOAD=${VM_LOAD:-1}

usage()
{
	sed -n '/^# Usage:/,/^$/s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

cmd_rootfs()
{
	local t tarball f files=''

	need_root
	[ -d "$ROOTFS" ] && [ -d "$LINUX_SRC" ] && return 0

	need_host_tools flock:util-linux tar:tar xz:xz-utils
	mkdir -p "$VSERIAL_CACHE"
	# Concurrent runs wait here for the one building the cache.
	exec 9>"$VSERIAL_CACHE/.lock-$ROOTFS_HASH"
	flock 9

	if [ ! -d "$ROOTFS" ]; then
		need_host_tools mmdebstrap:mmdebstrap
		msg "building $ROOTFS (a few minutes)"
		t=$SECONDS
		# A crashed earlier build may still have file systems mounted
		# below the temporary directory: never cross into them.
		rm -rf --one-file-system "$ROOTFS.tmp"
		# No mirror argument: mmdebstrap picks Debian's default one.
		mmdebstrap --variant=apt --mode=root --format=directory \
			--include="$(packages_list)" \
			"$ROOTFS_SUITE" "$ROOTFS.tmp" </dev/null >&2 ||
			die "mmdebstrap failed"
		mv "$ROOTFS.tmp" "$ROOTFS"
		msg "rootfs built in $((SECONDS - t)) s"
	fi

	if [ ! -d "$LINUX_SRC" ]; then
		tarball=$(linux_source_tarball) || exit
		msg "extracting kselftest harness and checkpatch from ${tarball##*/}"
		rm -rf "$LINUX_SRC.tmp"
		mkdir -p "$LINUX_SRC.tmp"
		for f in $LINUX_SRC_FILES; do
			files="$files */$f"
		done
		# shellcheck disable=SC2086 # one pattern per file
		tar -xJf "$tarball" -C "$LINUX_SRC.tmp" --strip-components=1 \
			--wildcards --no-wildcards-match-slash $files ||
			die "cannot extract from $tarball"
		mv "$LINUX_SRC.tmp" "$LINUX_SRC"
	fi
	exec 9>&-
}

cmd_kver()
{
	cmd_rootfs
	vm_kver
}

# linux_source_tarball - the newest linux-source tarball of the rootfs
# (Debian's linux-source-6.12), or die
linux_source_tarball()
{
	local t

	t=$(ls "$ROOTFS"/usr/src/linux-source-*.tar.xz 2>/dev/null |
	    sort -V | tail -n 1)
	[ -n "$t" ] || die "no linux-source tarball in $ROOTFS/usr/src"
	echo "$t"
}

# config_mismatches CONFIG FRAGMENT - print the options of FRAGMENT that
# CONFIG does not have as written ("=n": not set)
config_mismatches()
{
	local line opt

	sed -n 's/^\(CONFIG_[A-Za-z0-9_]*=.*\)/\1/p' "$2" | while read -r line; do
		opt=${line%%=*}
		case $line in
		*=n)	! grep -q "^$opt=" "$1" || echo "$line" ;;
		*)	grep -qxF "$line" "$1" || echo "$line" ;;
		esac
	done
}

# cmd_kernel - build the debug kernel into DEBUG_KERNEL unless it is there
#
# x86_64_defconfig of the rootfs' linux-source with debug.config merged
# in, built in the chroot with its compiler; its modules are installed
# below mods/usr (the rootfs has a merged /usr).
cmd_kernel()
{
	local k=$DEBUG_KERNEL tarball bad t=$SECONDS

	[ -f "$k/.done" ] && return 0
	exec 8>"$VSERIAL_CACHE/.lock-${k##*/}"
	flock 8
	if [ -f "$k/.done" ]; then
		exec 8>&-
		return 0
	fi
	tarball=$(linux_source_tarball) || exit
	rm -rf --one-file-system "$k"
	mkdir -p "$k/src" "$k/build" "$k/mods/usr"
	msg "building the debug kernel from ${tarball##*/} in $k (about 10 minutes)"
	tar -xJf "$tarball" -C "$k/src" --strip-components=1 ||
		die "cannot extract $tarball"
	chroot_mounts
	in_chroot sh -c 'cd "$1/src" &&
		make -s O="$1/build" x86_64_defconfig &&
		scripts/kconfig/merge_config.sh -m -O "$1/build" \
			"$1/build/.config" "$2" >/dev/null &&
		make -s O="$1/build" olddefconfig' - "$k" "$DEBUG_CONFIG" ||
		die "cannot configure the debug kernel"
	bad=$(config_mismatches "$k/build/.config" "$DEBUG_CONFIG")
	[ -z "$bad" ] ||
		die "debug.config options the kernel does not take:" $bad
	in_chroot make -s -C "$k/src" O="$k/build" -j"$(nproc)" \
		bzImage modules >"$k/build.log" 2>&1 ||
		{ tail -n 30 "$k/build.log" >&2; die "debug kernel build failed"; }
	in_chroot make -s -C "$k/src" O="$k/build" INSTALL_MOD_PATH="$k/mods/usr" \
		INSTALL_MOD_STRIP=1 modules_install >>"$k/build.log" 2>&1 ||
		die "cannot install the debug kernel's modules"
	touch "$k/.done"
	exec 8>&-
	msg "debug kernel $(cat "$k/build/include/config/kernel.release") built in $((SECONDS - t)) s"
}

cmd_chroot()
{
	[ $# -gt 0 ] || usage
	chroot_mounts
	in_chroot "$@"
}

cmd_build()
{
	local kver

	chroot_mounts
	kver=$(vm_kver)
	in_chroot make -C "$CHECKOUT" -j"$(nproc)" \
		KDIR="$(vm_kdir "$kver")" "$@" modules || return
	in_chroot make -C "$CHECKOUT/selftests" -j"$(nproc)" \
		KSFT_DIR="$KSFT_DIR"
}

# install_modules ROOT KVER - install the modules of the last build (see
# modules.order) into ROOT/lib/modules/KVER/updates and run depmod; their
# names are added to MODULES
install_modules()
{
	local root=$1 kver=$2 ko n=0

	if [ ! -f "$CHECKOUT/modules.order" ]; then
		msg "warning: no module built ($CHECKOUT/modules.order missing)"
		return 0
	fi
	mkdir -p "$root/lib/modules/$kver/updates"
	for ko in $(sed 's/\.o$/.ko/' "$CHECKOUT/modules.order"); do
		case $ko in
		/*) ;;
		*) ko=$CHECKOUT/$ko ;;
		esac
		install -m 0644 "$ko" "$root/lib/modules/$kver/updates/" ||
			die "cannot install $ko"
		MODULES="$MODULES${MODULES:+,}$(basename "$ko" .ko)"
		n=$((n + 1))
	done
	# depmod reads all 4000 modules: seconds here, a minute in the guest.
	if [ $n -gt 0 ]; then
		in_chroot depmod -a -b "${root#"$ROOTFS"}" "$kver" ||
			die "depmod failed"
	fi
}

# prepare_guest_root KVER INSTALL - set up /run/vm/root in the chroot,
# the root file system of the VM for this run
#
# It is an overlay of the rootfs with a private tmpfs upper layer (the
# chroot's /run) holding the guest's init script and, if INSTALL is 1,
# the module.  The cached rootfs itself is never written, so runs from
# several checkouts can share it.  Overlayfs takes the lower directory
# as it is, without the chroot's proc, sys, dev, ... mounted on it.
prepare_guest_root()
{
	local kver=$1 install=$2 root=$ROOTFS/run/vm/root lower=$ROOTFS

	# The debug kernel's modules lie over the rootfs.
	[ "$VM_KERNEL" = debug ] && lower=$DEBUG_KERNEL/mods:$lower
	mkdir -p "$root" "$ROOTFS/run/vm/upper" "$ROOTFS/run/vm/work"
	mount -t overlay overlay \
		-o "lowerdir=$lower,upperdir=$ROOTFS/run/vm/upper,workdir=$ROOTFS/run/vm/work" \
		"$root" || die "cannot mount the guest root overlay"
	install -D -m 0755 "$VM_DIR/init" "$root$GUEST_INIT"
	if [ "$install" != 0 ]; then
		install_modules "$root" "$kver"
		# What "make install" puts beside the module.
		install -D -m 0644 "$CHECKOUT"/udev/90-vdpa-vserial.rules \
			"$root/usr/lib/udev/rules.d/90-vdpa-vserial.rules"
	fi
	mount -o remount,ro "$root"
}

# wait_for_socket PATH - wait up to 10 s for a virtiofsd socket
wait_for_socket()
{
	for _ in $(seq 100); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	die "virtiofsd did not create $1"
}

# start_virtiofsd NAME DIR [OPTION...] - serve DIR on /run/vm/NAME.sock
start_virtiofsd()
{
	local name=$1 dir=$2

	shift 2
	in_chroot /usr/libexec/virtiofsd --socket-path="/run/vm/$name.sock" \
		--shared-dir="$dir" --cache=auto --sandbox=chroot "$@" \
		</dev/null >"$RUN_DIR/virtiofsd-$name.log" 2>&1 &
	VIRTIOFSD_PIDS="$VIRTIOFSD_PIDS $!"
	wait_for_socket "$ROOTFS/run/vm/$name.sock"
}

stop_virtiofsd()
{
	local pid

	for pid in $VIRTIOFSD_PIDS; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	VIRTIOFSD_PIDS=
}

cmd_run()
{
	local install=1 out='' cmd kver append rc status start bad

	MODULES=''
	while [ $# -gt 0 ]; do
		case $1 in
		-c|--cpus)	VM_CPUS=$2; shift 2 ;;
		-m|--mem)	VM_MEM=$2; shift 2 ;;
		-t|--timeout)	VM_TIMEOUT=$2; shift 2 ;;
		-o|--out)	out=$2; shift 2 ;;
		-n|--no-install) install=0; shift ;;
		-N|--no-load)	VM_LOAD=0; shift ;;
		--)		shift; break ;;
		-*)		usage ;;
		*)		break ;;
		esac
	done
	[ $# -gt 0 ] || usage
	cmd="$*"

	case $CHECKOUT in
	*[[:space:]]*) die "the checkout path must not contain white space" ;;
	esac

	# The run directory is inside the checkout: the guest writes to it.
	[ -n "$out" ] || out=selftests/output/$(date +%Y%m%d-%H%M%S)-$$
	case $out in
	/*) RUN_DIR=$out ;;
	*)  RUN_DIR=$CHECKOUT/$out ;;
	esac
	# It is emptied first: make sure it is a run directory.
	RUN_DIR=$(realpath -m "$RUN_DIR")
	case $RUN_DIR in
	"$CHECKOUT"/selftests/output/?*) ;;
	*) die "run directory $RUN_DIR is not below $CHECKOUT/selftests/output" ;;
	esac
	rm -rf "$RUN_DIR"
	mkdir -p "$RUN_DIR"
	printf '%s\n' "$cmd" >"$RUN_DIR/cmd"

	kver=$(vm_kver)
	chroot_mounts
	prepare_guest_root "$kver" "$install"

	VIRTIOFSD_PIDS=
	trap 'stop_virtiofsd' EXIT
	start_virtiofsd root /run/vm/root --readonly
	start_virtiofsd checkout "$CHECKOUT"

	# Kernel console (warnings and worse) goes to ttyS0 = console.log;
	# the command's output to ttyS1 = our stdout.  A soft lockup or hung
	# task panics the guest so that the run ends before the timeout.
	# Drivers for emulated hardware that no test needs are not loaded
	# (saves seconds of udev time under TCG).
	append="console=ttyS0 quiet loglevel=5 printk.devkmsg=on"
	append="$append panic=-1 softlockup_panic=1 hung_task_panic=1"
	append="$append modprobe.blacklist=kvm_amd,kvm_intel,kvm,iTCO_wdt,ahci,pcspkr,i2c_i801,lpc_ich"
	append="$append rootfstype=virtiofs root=rootfs ro init=$GUEST_INIT"
	# init_on_alloc=1 is load-bearing, not hardening.  TCG keeps its
	# translation of guest code per guest-physical page and drops it when
	# the guest CPU writes the page; virtiofsd, another process, writes
	# file data into guest pages behind TCG's back, and FUSE drops and
	# re-reads a file's page cache on every open (no FOPEN_KEEP_CACHE
	# with --cache=auto).  A recycled page then runs the code it held
	# before: without zeroing pages on allocation (Debian's kernels do it,
	# CONFIG_INIT_ON_ALLOC_DEFAULT_ON; x86_64_defconfig does not), nine
	# programs in ten die in ld.so on the debug kernel.
	append="$append init_on_alloc=1"
	[ "$VM_KERNEL" = debug ] && append="$append vserial.coldplug=0"
	append="$append vserial.checkout=$CHECKOUT vserial.run=$RUN_DIR"
	[ "$VM_LOAD" = 0 ] || append="$append vserial.load=$MODULES"
	append="$append${VM_APPEND:+ $VM_APPEND}"

	msg "booting $kver (${VM_CPUS} vCPUs, $VM_MEM, timeout ${VM_TIMEOUT} s), output in ${RUN_DIR#"$CHECKOUT"/}"
	start=$SECONDS
	timeout -k 10 "$VM_TIMEOUT" \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$ROOTFS" \
		qemu-system-x86_64 -name vdpa-vserial-test \
		-machine q35,memory-backend=mem -accel tcg \
		-smp "$VM_CPUS" -m "$VM_MEM" \
		-object memory-backend-memfd,id=mem,size="$VM_MEM",share=on \
		-nodefaults -display none -no-reboot \
		-chardev file,id=console,path="$RUN_DIR/console.log" \
		-serial chardev:console \
		-chardev stdio,id=output,signal=off -serial chardev:output \
		-chardev socket,id=vfs-root,path=/run/vm/root.sock \
		-device vhost-user-fs-pci,chardev=vfs-root,tag=rootfs \
		-chardev socket,id=vfs-checkout,path=/run/vm/checkout.sock \
		-device vhost-user-fs-pci,chardev=vfs-checkout,tag=checkout \
		-kernel "$(vm_kimage "$kver")" -append "$append" \
		</dev/null 2>"$RUN_DIR/qemu.log" | tee "$RUN_DIR/output"
	rc=${PIPESTATUS[0]}
	stop_virtiofsd

	status=$(cat "$RUN_DIR/status" 2>/dev/null)
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		msg "FAIL: VM killed after the ${VM_TIMEOUT} s timeout"
		status=124
	elif [ -z "$status" ]; then
		msg "FAIL: VM stopped without reporting a status (QEMU exit $rc)"
		status=125
	fi
	if [ -s "$RUN_DIR/qemu.log" ]; then
		sed 's/^/qemu: /' "$RUN_DIR/qemu.log" >&2
	fi

	# Kernel log: dmesg if the guest got to save it, and the console
	# log in any case (it has the end of a crashed or hung guest).
	if ! bad=$("$VM_DIR/dmesg-check.sh" -t "$RUN_DIR/tainted" \
			"$RUN_DIR/dmesg" "$RUN_DIR/console.log" \
			"$RUN_DIR/kmemleak"); then
		printf '%s\n' "$bad" >"$RUN_DIR/dmesg.bad"
		msg "FAIL: kernel log of the run has errors:"
		printf '%s\n' "$bad" | sed 's/^/    /' >&2
		[ "$status" -eq 0 ] && status=1
	fi
	if [ "$status" -ge 124 ]; then
		msg "last lines of ${RUN_DIR#"$CHECKOUT"/}/console.log:"
		tail -n 30 "$RUN_DIR/console.log" | sed 's/^/    /' >&2
	fi
	msg "exit status $status after $((SECONDS - start)) s"
	return "$status"
}

[ $# -gt 0 ] || usage
sub=$1
shift
case $sub in
rootfs|kver)
	"cmd_$sub" "$@"
	;;
kernel|build|chroot|run)
	cmd_rootfs
	# The debug kernel is built (if need be) in a namespace of its own.
	if [ "$sub" != kernel ] && [ "$VM_KERNEL" = debug ] &&
	   [ "${VSERIAL_IN_NS:-}" != 1 ]; then
		bash "$0" kernel || exit
	fi
	# Everything mounted from here on is private to this process.
	enter_namespace "$sub" "$@"
	"cmd_$sub" "$@"
	;;
*)
	usage
	;;
esac
