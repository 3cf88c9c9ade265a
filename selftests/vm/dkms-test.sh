#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dkms-test.sh - check that dkms.conf works (runs inside the VM, as root,
# in the checkout, booted with "vm.sh run --no-install")
#
# Copies the source tree (without build products) to /usr/src, then
# "dkms add", "build" and "install" it for the running kernel and loads
# the module dkms installed.  (No "dkms remove": the VM is thrown away,
# and its depmod takes a minute under TCG.)  Prints TAP, one result per
# step; a step whose predecessor failed is not run and fails.

cd "$(dirname "$0")/../.." || exit 1

name=$(sed -n 's/^PACKAGE_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' dkms.conf)
version=$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' dkms.conf)
kver=$(uname -r)
src=/usr/src/$name-$version
n=0
failed=0
broken=

# step NAME CMD... - run CMD, report it as one test case
step()
{
	local desc=$1 out start

	shift
	n=$((n + 1))
	if [ -n "$broken" ]; then
		echo "not ok $n dkms: $desc # not run, '$broken' failed"
		failed=$((failed + 1))
		return 1
	fi
	start=$(date +%s)
	if out=$("$@" 2>&1); then
		printf '%s\n' "$out" | sed -e '/^$/d' -e 's/^/# /'
		echo "# $desc: $(($(date +%s) - start)) s"
		echo "ok $n dkms: $desc"
		return 0
	fi
	printf '%s\n' "$out" | sed -e '/^$/d' -e 's/^/# /'
	echo "not ok $n dkms: $desc"
	failed=$((failed + 1))
	broken=$desc
	return 1
}

copy_source()
{
	[ -n "$name" ] && [ -n "$version" ] || {
		echo "PACKAGE_NAME or PACKAGE_VERSION missing in dkms.conf"
		return 1
	}
	rm -rf "$src"
	mkdir -p "$src"
	tar -cf - --exclude=./.git --exclude=./selftests/output \
		--exclude='*.o' --exclude='*.ko' --exclude='*.mod' \
		--exclude='*.mod.c' --exclude='.*.cmd' \
		--exclude=modules.order --exclude=Module.symvers . |
		tar -xf - -C "$src"
}

# on failure, show dkms' build log
build()
{
	dkms build "$name/$version" -k "$kver" && return 0
	cat "/var/lib/dkms/$name/$version/build/make.log" 2>/dev/null
	return 1
}

installed_in_dkms_dir()
{
	local path

	path=$(modinfo -n "$name") || return 1
	echo "modprobe finds $path"
	case $path in
	*/updates/dkms/*) return 0 ;;
	esac
	return 1
}

load()
{
	modprobe "$name" && [ -d "/sys/module/$name" ]
}

unload()
{
	modprobe -r "$name" && [ ! -d "/sys/module/$name" ]
}

echo "TAP version 13"
step "copy source to $src" copy_source
step "dkms add" dkms add "$name/$version"
step "dkms build" build
step "dkms install" dkms install "$name/$version" -k "$kver"
step "module installed in updates/dkms" installed_in_dkms_dir
step "modprobe $name" load
step "modprobe -r $name" unload
echo "1..$n"
[ $failed -eq 0 ]
