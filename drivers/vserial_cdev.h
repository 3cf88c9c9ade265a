/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: the host ends (vserial_cdev.c), /dev/vserialN and the
 * vserial class, and the device hooks that tie the device core to the
 * ports and the control protocol.
 */
#ifndef _VSERIAL_CDEV_H
#define _VSERIAL_CDEV_H

#include <linux/types.h>

struct vserial_dev;
struct vserial_dev_hooks;
struct vserial_port;

int vserial_cdev_init(void);
void vserial_cdev_exit(void);
extern const struct vserial_dev_hooks vserial_cdev_hooks;
struct vserial_port *vserial_cdev_new(struct vserial_dev *vs, u32 id,
				      const char *name, bool console);
int vserial_cdev_plug(struct vserial_port *port);
void vserial_cdev_unplug(struct vserial_port *port, bool announce);
int vserial_cdev_add(struct vserial_port *port);
void vserial_cdev_del(struct vserial_port *port);

#endif /* _VSERIAL_CDEV_H */
