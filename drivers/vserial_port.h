/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: the ports (vserial_port.c) and their host-side data
 * path: read, write, poll and console output on the port's queues.
 */
#ifndef _VSERIAL_PORT_H
#define _VSERIAL_PORT_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/kfifo.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/uio.h>
#include <linux/wait.h>

#include <uapi/linux/vdpa_vserial.h>

#include "vserial_dev.h"

/* Port state changes, for the vserial_port tracepoint. */
enum vserial_port_event {
	VSERIAL_EV_PLUG,
	VSERIAL_EV_UNPLUG,
	VSERIAL_EV_READY,
	VSERIAL_EV_GUEST_OPEN,
	VSERIAL_EV_GUEST_CLOSE,
	VSERIAL_EV_HOST_OPEN,
	VSERIAL_EV_HOST_CLOSE,
	VSERIAL_EV_RESIZE,
};

/* Per-port counters, /sys/class/vserial/vserialN/stats/. */
struct vserial_port_stats {
	atomic64_t bytes_to_guest;
	atomic64_t buffers_to_guest;
	atomic64_t bytes_from_guest;
	atomic64_t buffers_from_guest;
	atomic64_t bytes_discarded;
	atomic64_t writer_blocked;
	atomic64_t reader_blocked;
	atomic64_t ctrl_queued;
};

struct vserial_port {
	struct device dev;
	struct cdev cdev;
	struct vserial_dev *vs;	/* holds a reference on vs->vdpa.dev */
	u32 id;
	int minor;
	struct mutex pub_lock;	/* @published and notifying its attributes */
	bool published;		/* /dev/vserialN exists */
	bool console;
	char name[VSERIAL_PORT_NAME_MAX + 1];

	/* Host end. */
	struct mutex rlock;	/* one reader at a time */
	struct mutex wlock;	/* one writer at a time */
	wait_queue_head_t wq;
	unsigned long flags;
#define VSERIAL_PORT_HOST_OPEN	0
/* poll() found the reader's / writer's mutex taken: see vserial_port_poll(). */
#define VSERIAL_PORT_POLL_R	1
#define VSERIAL_PORT_POLL_W	2
	atomic_t wake_seq;	/* bumped by every wake-up */
	/* Unplugged or device gone; set under vserial_dev_quiesce(). */
	bool dead;

	/* Driver side: the control protocol's view, under vs->lock. */
	struct vsp_port cp;

	struct vserial_port_stats stats;

	/*
	 * Console ports only: output of the console driver.  That driver
	 * waits with interrupts off for its buffers, so console output is
	 * taken at once into this buffer; what does not fit in the room it
	 * had when the kick began is counted in cons_dropped (see
	 * vserial_port_console_take()).  Single producer (the kick, under the transmit
	 * queue's lock), single consumer (the reader, under rlock).
	 */
	DECLARE_KFIFO_PTR(cons_fifo, u8);
	atomic64_t cons_dropped;
};

/* Something changed that a port's reader, writer or poller waits for. */
static inline void vserial_port_wake(struct vserial_port *port)
{
	/* Whatever changed is visible to whoever sees the new count. */
	smp_mb__before_atomic();
	atomic_inc(&port->wake_seq);
	wake_up_interruptible_poll(&port->wq, EPOLLIN | EPOLLOUT | EPOLLHUP |
				   EPOLLRDHUP | EPOLLERR);
}

struct vserial_port *vserial_port_alloc(struct vserial_dev *vs, u32 id,
					const char *name, bool console);
void vserial_port_free(struct vserial_port *port);
int vserial_port_install(struct vserial_port *port);
void vserial_port_detach(struct vserial_port *port, bool announce);
void vserial_port_return_tx(struct vserial_port *port, bool announce);
void vserial_port_put(struct vserial_port *port);
void vserial_port_drain_all(struct vserial_dev *vs);
void vserial_port_work(struct vserial_dev *vs);
void vserial_port_wake_all(struct vserial_dev *vs);
void vserial_port_wake_vq(struct vserial_dev *vs, struct vsq *vq);
struct vserial_port *vserial_port_of_vq(struct vsq *vq);
void vserial_port_kick(struct vserial_dev *vs, struct vsq *vq);
void vserial_port_emerg_write(struct vserial_dev *vs, u8 c);
int vserial_port_host_open(struct vserial_port *port);
void vserial_port_host_close(struct vserial_port *port);
ssize_t vserial_port_read(struct vserial_port *port, struct iov_iter *to,
			  bool nonblock);
ssize_t vserial_port_write(struct vserial_port *port, struct iov_iter *from,
			   bool nonblock);
__poll_t vserial_port_poll(struct vserial_port *port);
int vserial_port_resize(struct vserial_port *port, u16 cols, u16 rows);
void vserial_port_get_size(struct vserial_port *port, u16 *cols, u16 *rows);

#endif /* _VSERIAL_PORT_H */
