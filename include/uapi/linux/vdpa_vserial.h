/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * vdpa_vserial: limits visible to user space.
 *
 * The host end of every port is a character device /dev/vserialN; its
 * attributes live in /sys/class/vserial/vserialN/ (see
 * Documentation/ABI/testing/sysfs-class-vserial).
 */
#ifndef _UAPI_LINUX_VDPA_VSERIAL_H
#define _UAPI_LINUX_VDPA_VSERIAL_H

/* Name of the vDPA management device ("vdpa mgmtdev show"). */
#define VSERIAL_MGMTDEV_NAME		"vserial"

/* Largest max_nr_ports a device may have (the virtio limit QEMU uses). */
#define VSERIAL_MAX_PORTS		511

/* Longest port name, in bytes, without the terminating NUL. */
#define VSERIAL_PORT_NAME_MAX		255

/* Console output buffered per console port when the host does not read. */
#define VSERIAL_CONSOLE_BUF_SIZE	65536

#endif /* _UAPI_LINUX_VDPA_VSERIAL_H */
