# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034 # (variables are for the sourcing script)
#
# Common definitions for the vdpa_vserial VM test bed, sourced by the
# scripts in this directory (bash).
#
# Layout of the host-side cache (VSERIAL_CACHE, default
# /var/cache/vdpa_vserial), keyed by the first 12 hex digits of the
# sha256 of packages.txt:
#
#   rootfs-<hash>/     Debian trixie root filesystem (mmdebstrap); the
#                      chroot for builds and the read-only root of the VM
#   linux-src-<hash>/  the few files taken from the rootfs' linux-source
#                      tarball: kselftest harness headers and checkpatch
#   .lock-<hash>       flock(1) file serialising (re)builds of the two
#   kernel-debug-<hash>/  the debug kernel (VM_KERNEL=debug), keyed on
#                      packages.txt and debug.config: src/ (the rootfs'
#                      linux-source), build/ (its O= directory, the KDIR
#                      of the module), mods/ (its modules: a lower layer
#                      of the VM's root), .done once complete

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHECKOUT=$(cd "$VM_DIR/../.." && pwd)

VSERIAL_CACHE=${VSERIAL_CACHE:-/var/cache/vdpa_vserial}
PACKAGES_TXT=$VM_DIR/packages.txt
ROOTFS_SUITE=trixie

ROOTFS_HASH=$(sha256sum "$PACKAGES_TXT" | cut -c1-12)
ROOTFS=$VSERIAL_CACHE/rootfs-$ROOTFS_HASH
LINUX_SRC=$VSERIAL_CACHE/linux-src-$ROOTFS_HASH
KSFT_DIR=$LINUX_SRC/tools/testing/selftests

# The kernel the VM boots and the module is built for: "stock" (the
# rootfs' Debian kernel) or "debug" (debug.config, built by vm.sh).
VM_KERNEL=${VM_KERNEL:-stock}
DEBUG_CONFIG=$VM_DIR/debug.config
DEBUG_KERNEL=$VSERIAL_CACHE/kernel-debug-$(cat "$PACKAGES_TXT" "$DEBUG_CONFIG" |
					      sha256sum | cut -c1-12)

# Files extracted from /usr/src/linux-source-*.tar.xz of the rootfs.
LINUX_SRC_FILES="
	tools/testing/selftests/kselftest_harness.h
	tools/testing/selftests/kselftest.h
	scripts/checkpatch.pl
	scripts/spelling.txt
	scripts/const_structs.checkpatch
"

# Where the guest's PID 1 is copied inside the rootfs before each boot.
GUEST_INIT=/usr/local/sbin/vdpa-vserial-vm-init

PROG=${PROG:-$(basename "$0")}

msg()
{
	printf '%s: %s\n' "$PROG" "$*" >&2
}

die()
{
	msg "error: $*"
	exit 1
}

# packages_list - print the packages of packages.txt, comma separated
packages_list()
{
	sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$PACKAGES_TXT" |
		paste -sd, -
}

# need_root - fail clearly unless running as root
need_root()
{
	[ "$(id -u)" -eq 0 ] ||
		die "the VM test bed needs root (chroot, mount namespaces); run it as root"
}

# need_host_tools CMD:PACKAGE... - make sure host commands exist
#
# Missing commands are installed with apt-get when running as root on a
# system that has it; otherwise a message names the packages to install.
need_host_tools()
{
	local spec cmd missing=

	for spec in "$@"; do
		cmd=${spec%%:*}
		command -v "$cmd" >/dev/null 2>&1 || missing="$missing ${spec#*:}"
	done
	[ -z "$missing" ] && return 0

	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		die "missing host tools; please install:$missing"
	fi
	msg "installing host packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # word splitting of the list is wanted
	if ! apt-get install -y -q $missing </dev/null >&2; then
		# The package lists may be missing or stale: refresh, retry.
		apt-get update -q </dev/null >&2 ||
			die "apt-get update failed"
		apt-get install -y -q $missing </dev/null >&2 ||
			die "could not install:$missing"
	fi
}

# rootfs_kver - print the kernel release of the rootfs
#
# The newest /boot/vmlinuz-* that also has headers under /lib/modules.
rootfs_kver()
{
	local v kver=

	for v in $(cd "$ROOTFS/boot" && ls vmlinuz-* 2>/dev/null |
		   sed 's/^vmlinuz-//' | sort -V); do
		[ -d "$ROOTFS/lib/modules/$v/build" ] && kver=$v
	done
	[ -n "$kver" ] || die "no kernel with headers in $ROOTFS"
	echo "$kver"
}

# vm_kver - print the kernel release the VM boots (VM_KERNEL)
vm_kver()
{
	case $VM_KERNEL in
	stock)	rootfs_kver ;;
	debug)	[ -f "$DEBUG_KERNEL/.done" ] ||
			die "no debug kernel in $DEBUG_KERNEL (vm.sh kernel)"
		cat "$DEBUG_KERNEL/build/include/config/kernel.release" ;;
	*)	die "VM_KERNEL=$VM_KERNEL: must be stock or debug" ;;
	esac
}

# vm_kdir KVER - print the kernel build directory for modules of KVER
vm_kdir()
{
	if [ "$VM_KERNEL" = debug ]; then
		echo "$DEBUG_KERNEL/build"
	else
		echo "/lib/modules/$1/build"
	fi
}

# vm_kimage KVER - print the kernel image the VM boots (chroot path)
vm_kimage()
{
	if [ "$VM_KERNEL" = debug ]; then
		echo "$DEBUG_KERNEL/build/arch/x86/boot/bzImage"
	else
		echo "/boot/vmlinuz-$1"
	fi
}

# chroot_mounts - populate the rootfs for use as a chroot
#
# Must run inside a private mount namespace (see enter_namespace): every
# mount made here disappears with the namespace, so nothing leaks to the
# host and concurrent runs do not see each other's /tmp or /run.
chroot_mounts()
{
	[ "${VSERIAL_IN_NS:-}" = 1 ] || die "chroot_mounts outside a namespace"

	mount -t proc proc "$ROOTFS/proc"
	mount -t sysfs sysfs "$ROOTFS/sys"
	mount --bind /dev "$ROOTFS/dev"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts \
		"$ROOTFS/dev/pts"
	mount -t tmpfs -o mode=1777 tmpfs "$ROOTFS/tmp"
	mount -t tmpfs -o mode=0755 tmpfs "$ROOTFS/run"

	# The checkout and the extracted kernel files, at the same paths as
	# on the host, so that absolute paths (M=, include paths, error
	# messages) mean the same thing inside and outside.
	bind_same_path "$CHECKOUT"
	[ -d "$LINUX_SRC" ] && bind_same_path "$LINUX_SRC"
	[ -d "$DEBUG_KERNEL" ] && bind_same_path "$DEBUG_KERNEL"
	return 0
}

# bind_same_path DIR - bind-mount host DIR at DIR inside the rootfs
bind_same_path()
{
	mkdir -p "$ROOTFS$1"
	mount --bind "$1" "$ROOTFS$1"
}

# enter_namespace ARGS... - re-execute the calling script in a private
# mount namespace (no-op once inside)
enter_namespace()
{
	[ "${VSERIAL_IN_NS:-}" = 1 ] && return 0
	VSERIAL_IN_NS=1 exec unshare -m --propagation private -- \
		bash "$0" "$@"
}

# in_chroot CMD... - run CMD in the rootfs with a clean environment
in_chroot()
{
	env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
		chroot "$ROOTFS" "$@"
}
