#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - what "make demo" shows, run inside the test VM as root
#
# Creates a vdpa_vserial device, lets the VM's own virtio_console driver
# bind it through virtio_vdpa, and moves bytes through a named port from
# both ends: /dev/vserialN on the host side, /dev/virtio-ports/NAME on the
# driver side.

set -eu

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Load the module: it registers the vDPA management device \"vserial\""
run modprobe vdpa_vserial
run modprobe virtio_vdpa
run vdpa mgmtdev show

step "Choose the ports of new devices, then create one"
run sh -c 'echo "console:,org.qemu.guest_agent.0,demo.chat" > /sys/module/vdpa_vserial/parameters/ports'
run vdpa dev add name vs0 mgmtdev vserial
udevadm settle
run vdpa dev show vs0

step "Host ends: one /dev/vserialN per port"
for d in /sys/class/vserial/vserial*; do
	printf '/dev/%-10s port %s  console %s  device %s  name "%s"\n' \
		"$(basename "$d")" "$(cat "$d/port_id")" "$(cat "$d/console")" \
		"$(cat "$d/vdpa_device")" "$(cat "$d/name")"
done

step "Driver side: the VM's virtio_console bound the device"
run ls -l /dev/virtio-ports/
for d in /sys/class/virtio-ports/vport*; do
	printf '/dev/%-10s name "%s"\n' "$(basename "$d")" "$(cat "$d/name" 2>/dev/null)"
done
ls /dev/hvc0 >/dev/null && echo "/dev/hvc0 is the console port"

hostdev=/dev/$(basename "$(dirname "$(grep -lx demo.chat /sys/class/vserial/*/name)")")
guestdev=/dev/virtio-ports/demo.chat

step "Open both ends of demo.chat: $hostdev (host) and $guestdev (driver)"
exec 3<>"$hostdev"
exec 4<>"$guestdev"
echo "guest_connected=$(cat /sys/class/vserial/"${hostdev#/dev/}"/guest_connected) host_connected=$(cat /sys/class/vserial/"${hostdev#/dev/}"/host_connected)"

step "Host writes, the driver side reads"
echo "hello from the host" >&3
read -r -t 20 line <&4
echo "read on $guestdev: $line"

step "The driver side writes, the host reads"
echo "hello from the guest" >&4
read -r -t 20 line <&3
echo "read on $hostdev: $line"
exec 3>&- 4>&-

step "Console: /dev/hvc0 output arrives at the console port's host end"
consdev=/dev/$(basename "$(dirname "$(grep -lx 1 /sys/class/vserial/*/console | head -n 1)")")
timeout 10 head -n 1 "$consdev" > /tmp/console.out &
sleep 1
stty -F /dev/hvc0 raw -echo
echo "console line from the driver side" > /dev/hvc0
wait
echo "read on $consdev: $(cat /tmp/console.out)"

step "Remove the device"
run vdpa dev del vs0

cat <<'NEXT'

What to try next (inside the VM: make vm-run CMD=bash is not interactive,
so put commands in a script under selftests/output/ and run it):
  - more ports:   echo 'console:,a,b,c' > /sys/module/vdpa_vserial/parameters/ports
  - more ids:     echo 64 > /sys/module/vdpa_vserial/parameters/max_ports
  - one console:  vdpa dev add name vs1 mgmtdev vserial device_features 0x330000005
  - the tests:    make check     (README, Documentation/testing.rst)
NEXT
