/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: device templates and ports in configfs
 * (vserial_configfs.c), and the module parameters.
 */
#ifndef _VSERIAL_CFG_H
#define _VSERIAL_CFG_H

#include <linux/mutex.h>
#include <linux/types.h>

struct vserial_cfg_dev;
struct vserial_dev;

extern struct mutex vserial_cfg_mutex;
int vserial_cfg_init(void);
void vserial_cfg_exit(void);
struct vserial_cfg_dev *vserial_cfg_claim(const char *name, bool multiport);
unsigned int vserial_cfg_max_ports(struct vserial_cfg_dev *cfg);
int vserial_cfg_bind(struct vserial_cfg_dev *cfg, struct vserial_dev *vs);
int vserial_cfg_publish(struct vserial_cfg_dev *cfg);
void vserial_cfg_release(struct vserial_cfg_dev *cfg);
void vserial_cfg_register(struct vserial_cfg_dev *cfg);

#endif /* _VSERIAL_CFG_H */
