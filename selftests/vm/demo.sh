#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - show vdpa_vserial at work ("make demo"; runs inside the VM)

set -e

echo "# modprobe vdpa_vserial"
modprobe vdpa_vserial
echo "# vdpa mgmtdev show"
vdpa mgmtdev show
