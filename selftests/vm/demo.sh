#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - what "make demo" shows, run inside the test VM as root
#
# Creates a vdpa_vserial device and lets the VM's own virtio_console
# driver bind it through virtio_vdpa (the VM plays both host and guest):
# the ports from both ends, a port hot-plugged in configfs with data both
# ways, the guest agent answering guest-ping through its port, the
# console, and unplugging.

set -eu

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
runsh() { printf '$ %s\n' "$1"; sh -c "$1"; }
cfg=/sys/kernel/config/vdpa_vserial/vs0

step "Load the module: it registers the vDPA management device \"vserial\""
run modprobe vdpa_vserial
run modprobe virtio_vdpa
run vdpa mgmtdev show

step "Create a device with the default ports (module parameter \"ports\")"
run cat /sys/module/vdpa_vserial/parameters/ports
run vdpa dev add name vs0 mgmtdev vserial
udevadm settle
run vdpa dev show vs0

step "Host ends: one /dev/vserialN per port, named links from the udev rule"
for d in /sys/class/vserial/vserial*; do
	printf '/dev/%-10s port %s  console %s  device %s  name "%s"\n' \
		"$(basename "$d")" "$(cat "$d/port_id")" "$(cat "$d/console")" \
		"$(cat "$d/vdpa_device")" "$(cat "$d/name")"
done
run ls -l /dev/vserial/vs0/

step "Driver side: the VM's virtio_console bound the device"
run ls -l /dev/virtio-ports/
ls /dev/hvc0 >/dev/null && echo "/dev/hvc0 is the console port"

step "configfs: the device and its ports"
run find "$cfg" -maxdepth 2
run grep . "$cfg"/ports/org.qemu.guest_agent.0/*

step "Hot-plug a named port: mkdir, enable (the driver gets PORT_ADD)"
run mkdir "$cfg/ports/demo.chat"
runsh "echo 1 > $cfg/ports/demo.chat/enable"
for _ in $(seq 100); do
	[ -e /dev/virtio-ports/demo.chat ] && break
	sleep 0.1
done
udevadm settle
run cat "$cfg/ports/demo.chat/dev"
run ls -l /dev/virtio-ports/demo.chat /dev/vserial/vs0/demo.chat

hostdev=/dev/vserial/vs0/demo.chat
guestdev=/dev/virtio-ports/demo.chat
step "Open both ends of demo.chat: $hostdev (host), $guestdev (driver)"
exec 3<>"$hostdev"
exec 4<>"$guestdev"
sys=/sys/class/vserial/$(basename "$(readlink -f "$hostdev")")
echo "guest_connected=$(cat "$sys/guest_connected") host_connected=$(cat "$sys/host_connected")"

step "Host writes, the driver side reads"
echo "hello from the host" >&3
read -r -t 20 line <&4
echo "read on $guestdev: $line"

step "The driver side writes, the host reads"
echo "hello from the guest" >&4
read -r -t 20 line <&3
echo "read on $hostdev: $line"
exec 3>&- 4>&-
run grep . "$sys"/stats/bytes_to_guest "$sys"/stats/bytes_from_guest

step "The guest agent: qemu-ga on the driver side, guest-ping from the host"
run qemu-ga -d -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 \
	-f /run/qemu-ga.pid
exec 5<>/dev/vserial/vs0/org.qemu.guest_agent.0
for req in '{"execute":"guest-sync","arguments":{"id":1234}}' \
	   '{"execute":"guest-ping"}' \
	   '{"execute":"guest-get-host-name"}'; do
	echo "host sends: $req"
	echo "$req" >&5
	read -r -t 20 reply <&5
	echo "agent says: $reply"
done
exec 5>&-
kill "$(cat /run/qemu-ga.pid)" 2>/dev/null || true

step "Console: /dev/hvc0 output arrives at the console port's host end"
consdev=/dev/$(basename "$(dirname "$(grep -lx 1 /sys/class/vserial/*/console | head -n 1)")")
timeout 10 head -n 1 "$consdev" > /tmp/console.out &
sleep 1
stty -F /dev/hvc0 raw -echo
echo "console line from the driver side" > /dev/hvc0
wait
echo "read on $consdev: $(cat /tmp/console.out)"

step "Unplug demo.chat (PORT_REMOVE): both ends go"
runsh "echo 0 > $cfg/ports/demo.chat/enable"
sleep 1
run ls /dev/virtio-ports/
run rmdir "$cfg/ports/demo.chat"

step "Remove the device"
run vdpa dev del vs0

cat <<'NEXT'

What to try next:
  - a QEMU guest:   make nested   (README: "Give a port to a QEMU guest")
  - templates:      mkdir /sys/kernel/config/vdpa_vserial/vm1, then ports/,
                    max_ports, resize_order, before "vdpa dev add name vm1"
  - the console:    ioctl(TIOCSWINSZ) on its host end resizes /dev/hvcK
  - tracing:        echo 1 > /sys/kernel/tracing/events/vdpa_vserial/enable
  - your own commands in the VM:  make vm-run CMD='...'
  - every test:     make check    (Documentation/testing.rst)
NEXT
