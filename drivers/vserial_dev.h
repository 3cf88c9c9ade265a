/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: the device core (vserial_vdpa.c), the vDPA device.
 *
 * It owns the device status, features, config space, guest memory and
 * the virtqueues.  It knows no port; it holds the control protocol's
 * state (struct vsp, a layer below it) for the layers above and reads
 * only whether a session is going and a notification is owed.  It calls
 * the layers above only through struct vserial_dev_hooks.  See
 * Documentation/design.rst, "Files and layers".
 *
 * Locking, outermost first:
 *
 *   port->rlock / port->wlock   one host reader / writer at a time
 *   vs->mem_sem  (read)         process-context users of guest memory
 *   vs->mem_lock (read)         atomic-context users of guest memory
 *   vq->lock                    ring state of the atomic-owned queues
 *   vs->lock                    device and control-protocol state
 *
 * Reset, IOTLB changes and virtqueue (re)configuration take mem_sem and
 * mem_lock for writing, so no copy to or from guest memory is ever in
 * flight while the memory it touches may go away.
 *
 * Each virtqueue has exactly one consumer:
 *   - port transmit queues of data ports: the host reader (read(2));
 *   - port receive queues: the host writer (write(2));
 *   - console transmit queues and the control transmit queue: the kick
 *     itself, in the caller's context.  The Linux console driver spins
 *     with interrupts off until these buffers come back, so they must be
 *     completed without waiting for anything that may need that CPU;
 *   - the control receive queue: the device worker.
 */
#ifndef _VSERIAL_DEV_H
#define _VSERIAL_DEV_H

#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/vdpa.h>
#include <linux/workqueue.h>
#include <uapi/linux/virtio_console.h>
#include <uapi/linux/virtio_ring.h>

#include "vserial_proto.h"
#include "vserial_vq.h"

/*
 * Size offered to drivers that ask (virtio_vdpa).  The Linux driver posts
 * a page per receive entry, so this bounds a port's receive buffers at
 * 256 pages; at 1024 a 511-port device would pin 2 GiB.
 */
#define VSERIAL_VQ_SIZE		256
/*
 * How long a driver that set up a new control queue in a going session
 * may stay silent before it is taken for a restored one that knows no
 * port (a new driver says DEVICE_READY at once).
 */
#define VSERIAL_RESYNC_DELAY	(2 * HZ)
/* guest_connected notifications (uevents) per device, at most, a second. */
#define VSERIAL_UEVENT_RATE	10
/* Buffers completed by one kick before the rest goes to the worker. */
#define VSERIAL_KICK_BUDGET	256
/*
 * Descriptors one kick (or worker turn) walks to drain console output,
 * interrupts maybe off, before it lets others run; it copies at most the
 * console buffer's room at its start (VSERIAL_CONSOLE_BUF_SIZE).  For
 * read() and write() see VSERIAL_XFER_WALK.
 */
#define VSERIAL_KICK_WALK	1024

/* Features the device can offer. */
#define VSERIAL_FEATURES	(BIT_ULL(VIRTIO_F_VERSION_1) |		\
				 BIT_ULL(VIRTIO_F_ACCESS_PLATFORM) |	\
				 BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |	\
				 BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |	\
				 BIT_ULL(VIRTIO_CONSOLE_F_SIZE) |	\
				 BIT_ULL(VIRTIO_CONSOLE_F_MULTIPORT) |	\
				 BIT_ULL(VIRTIO_CONSOLE_F_EMERG_WRITE))

struct vserial_dev;
struct vserial_port;
struct vserial_cfg_dev;

/* vDPA operations and device decisions, for the vserial_op tracepoint. */
enum vserial_op {
	VSERIAL_OP_SET_STATUS,
	VSERIAL_OP_RESET,
	VSERIAL_OP_SUSPEND,
	VSERIAL_OP_RESUME,
	VSERIAL_OP_SET_FEATURES,
	VSERIAL_OP_SET_VQ_NUM,
	VSERIAL_OP_SET_VQ_ADDRESS,
	VSERIAL_OP_SET_VQ_READY,
	VSERIAL_OP_SET_VQ_STATE,
	VSERIAL_OP_GET_VQ_STATE,
	VSERIAL_OP_SET_MAP,
	VSERIAL_OP_RESET_MAP,
	VSERIAL_OP_SESSION_END,
	VSERIAL_OP_VQ_CONTINUES,
	VSERIAL_OP_VQ_BROKEN,
};

/**
 * struct vserial_dev_hooks - what the device core asks of the layers above
 * @init: set up the control protocol of a new device (vs->cp)
 * @kick: the driver kicked port queue @vq (in its context, maybe atomic)
 * @ctrl_kick: the driver kicked the control transmit queue (same)
 * @work: the device worker's turn: control messages, port drains
 * @notify: guest_connected changes reach user space (rate-limited work)
 * @wake_all: something changed that every port's waiters wait for
 * @wake_vq: ... that the consumer of @vq waits for (mem_sem or mem_lock
 *	held)
 * @emerg_write: a character written to the emergency register
 * @reset: device reset (quiesced)
 * @session_end: the driver's session is over (quiesced)
 * @features_ok: the driver negotiated features (quiesced)
 * @driver_ok: DRIVER_OK; @ctrl_continues: the control receive queue is
 *	the one from before the reset; true: wait to hear whether the driver
 *	is new or restored (quiesced)
 * @resync_timeout: ... and it said nothing for VSERIAL_RESYNC_DELAY
 * @log: the worker's turn to log, with or without a driver, holding no lock
 *
 * The device core knows no port and moves no control message: it calls
 * up only through this table, as vdpa_sim's core does through its
 * device's.
 */
struct vserial_dev_hooks {
	int (*init)(struct vserial_dev *vs);
	void (*kick)(struct vserial_dev *vs, struct vsq *vq);
	void (*ctrl_kick)(struct vserial_dev *vs);
	void (*work)(struct vserial_dev *vs);
	void (*notify)(struct vserial_dev *vs);
	void (*wake_all)(struct vserial_dev *vs);
	void (*wake_vq)(struct vserial_dev *vs, struct vsq *vq);
	void (*emerg_write)(struct vserial_dev *vs, u8 c);
	void (*reset)(struct vserial_dev *vs);
	void (*session_end)(struct vserial_dev *vs);
	void (*features_ok)(struct vserial_dev *vs);
	bool (*driver_ok)(struct vserial_dev *vs, bool ctrl_continues);
	void (*resync_timeout)(struct vserial_dev *vs);
	void (*log)(struct vserial_dev *vs);
};

struct vserial_dev {
	struct vdpa_device vdpa;
	const struct vserial_dev_hooks *hooks;

	spinlock_t lock;	/* status, features, control protocol */
	u8 status;
	u64 dev_features;
	u32 max_nr_ports;
	u32 generation;
	u16 cols;
	u16 rows;
	struct vdpa_callback config_cb;
	struct vsp cp;			/* the control protocol, under lock */

	struct rw_semaphore mem_sem;
	rwlock_t mem_lock;
	/*
	 * Guest memory, the accepted features, and whether the rings may
	 * run: what the queues see of the device.  Written under
	 * vserial_dev_quiesce() (the features also under vs->lock).
	 */
	struct vsq_host qh;

	u32 nvqs;
	struct vsq *vqs;
	struct vdpa_callback *vq_cb;	/* per queue, under vq->lock */
	/*
	 * The plugged ports by id, max_nr_ports entries.  Changed only
	 * under vserial_dev_quiesce(); read under vs->mem_sem or vs->mem_lock.
	 */
	struct vserial_port **ports;
	/* The device's configfs directory, under vserial_cfg_mutex. */
	struct vserial_cfg_dev *cfg;

	struct notifier_block bus_nb;	/* the bus driver unbinding */
	struct delayed_work resync_work; /* see vserial_ctrl_driver_ok() */
	struct delayed_work notify_work; /* see vserial_dev_hooks.notify */
	unsigned long notified;		/* jiffies of the last notify_work */
	struct work_struct work;
	unsigned long *irq_pending;	/* vqs owed an interrupt */
	unsigned long *drain_pending;	/* tx queues a kick left work on */
	unsigned long *broken_pending;	/* broken vqs not yet logged */
	unsigned long work_flags;
#define VSERIAL_DRAIN_ALL	0	/* drain every kick-owned tx queue */
	bool config_irq_pending;
	bool dma_is_phys;	/* DMA addresses are physical addresses */
};

static inline struct vserial_dev *vserial_dev_of_vdpa(struct vdpa_device *vdpa)
{
	return container_of(vdpa, struct vserial_dev, vdpa);
}

static inline struct vserial_dev *vserial_dev_of_vq(const struct vsq *vq)
{
	return container_of(vq->host, struct vserial_dev, qh);
}

static inline bool vserial_dev_has_feature(const struct vserial_dev *vs,
					   unsigned int bit)
{
	return vs->qh.features & BIT_ULL(bit);
}

static inline bool vserial_dev_multiport(const struct vserial_dev *vs)
{
	return vserial_dev_has_feature(vs, VIRTIO_CONSOLE_F_MULTIPORT);
}

/* Queue numbering of the virtio console device. */
#define VSERIAL_CTRL_RXQ	2
#define VSERIAL_CTRL_TXQ	3

static inline u16 vserial_port_rxq(u32 id)
{
	return id ? 2 * id + 2 : 0;
}

static inline u16 vserial_port_txq(u32 id)
{
	return vserial_port_rxq(id) + 1;
}

/* Port id served by queue @qid, or -1 for the control queues. */
static inline int vserial_qid_port(u16 qid)
{
	if (qid < 2)
		return 0;
	if (qid < 4)
		return -1;
	return qid / 2 - 1;
}

/* The module's workqueue. */
extern struct workqueue_struct *vserial_dev_wq;

struct vserial_dev *vserial_dev_create(struct device *parent,
				       const char *name, u64 features,
				       u32 max_nr_ports,
				       const struct vserial_dev_hooks *hooks);
int vserial_dev_register(struct vserial_dev *vs);
void vserial_dev_unregister(struct vserial_dev *vs);
void vserial_dev_schedule(struct vserial_dev *vs);
void vserial_dev_irq(struct vsq *vq);
void vserial_dev_quiesce(struct vserial_dev *vs, unsigned long *flags);
void vserial_dev_unquiesce(struct vserial_dev *vs, unsigned long flags);
void vserial_dev_config_changed(struct vserial_dev *vs);

#endif /* _VSERIAL_DEV_H */
