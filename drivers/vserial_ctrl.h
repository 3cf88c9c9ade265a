/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: the control queues (vserial_ctrl.c), the transport of
 * the control protocol (vserial_proto.h) between the driver and the ports.
 */
#ifndef _VSERIAL_CTRL_H
#define _VSERIAL_CTRL_H

#include <linux/types.h>

struct vserial_dev;
struct vserial_port;

int vserial_ctrl_init(struct vserial_dev *vs);
void vserial_ctrl_queue(struct vserial_port *port, unsigned int msg);
void vserial_ctrl_plug(struct vserial_port *port);
void vserial_ctrl_unplug(struct vserial_port *port, bool announce);
void vserial_ctrl_handle_tx(struct vserial_dev *vs);
void vserial_ctrl_flush(struct vserial_dev *vs);
void vserial_ctrl_reset(struct vserial_dev *vs);
void vserial_ctrl_features_ok(struct vserial_dev *vs);
bool vserial_ctrl_driver_ok(struct vserial_dev *vs, bool ctrl_continues);
void vserial_ctrl_resync_timeout(struct vserial_dev *vs);
void vserial_ctrl_session_end(struct vserial_dev *vs);
void vserial_ctrl_log(struct vserial_dev *vs);

#endif /* _VSERIAL_CTRL_H */
