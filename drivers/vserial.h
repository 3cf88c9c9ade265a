/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: the host side of a virtio-console device as a vDPA device.
 *
 * The device, its ports and the upper layers' interfaces: the device
 * core (vDPA operations), the control queues, the ports and the host
 * ends.  The lower layers have headers of their own (vserial_mem.h,
 * vserial_vq.h, vserial_proto.h, vserial_parse.h).
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
#ifndef _VSERIAL_H
#define _VSERIAL_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/kfifo.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/uio.h>
#include <linux/vdpa.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/virtio_console.h>
#include <uapi/linux/virtio_ring.h>

#include <uapi/linux/vdpa_vserial.h>

#include "vserial_parse.h"
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
 * Descriptors one kick walks to drain console output (interrupts may be
 * off) before it lets others run; for read() and write() see
 * VSERIAL_XFER_WALK.
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
struct vserial_cfg_dev;

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
	atomic_t wake_seq;	/* bumped by every wake-up */
	/* Unplugged or device gone; set under vs_quiesce(). */
	bool dead;

	/* Driver side: the control protocol's view, under vs->lock. */
	struct vsp_port cp;

	struct vserial_port_stats stats;

	/*
	 * Console ports only: output of the console driver.  That driver
	 * waits with interrupts off for its buffers, so console output is
	 * taken at once into this buffer; what does not fit is counted in
	 * cons_dropped.  Single producer (the kick, under the transmit
	 * queue's lock), single consumer (the reader, under rlock).
	 */
	DECLARE_KFIFO_PTR(cons_fifo, u8);
	atomic64_t cons_dropped;
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
 *
 * The device core knows no port and no control protocol: it calls up
 * only through this table, as vdpa_sim's core does through its device's.
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
	 * vs_quiesce() (the features also under vs->lock).
	 */
	struct vsq_host qh;

	u32 nvqs;
	struct vsq *vqs;
	struct vdpa_callback *vq_cb;	/* per queue, under vq->lock */
	/*
	 * The plugged ports by id, max_nr_ports entries.  Changed only
	 * under vs_quiesce(); read under vs->mem_sem or vs->mem_lock.
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
	unsigned long work_flags;
#define VSERIAL_DRAIN_ALL	0	/* drain every kick-owned tx queue */
	bool config_irq_pending;
};

static inline struct vserial_dev *vdpa_to_vs(struct vdpa_device *vdpa)
{
	return container_of(vdpa, struct vserial_dev, vdpa);
}

/* Something changed that a port's reader, writer or poller waits for. */
static inline void vserial_port_wake(struct vserial_port *port)
{
	/* Whatever changed is visible to whoever sees the new count. */
	smp_mb__before_atomic();
	atomic_inc(&port->wake_seq);
	wake_up_interruptible_poll(&port->wq, EPOLLIN | EPOLLOUT | EPOLLHUP |
				   EPOLLRDHUP | EPOLLERR);
}

static inline struct vserial_dev *vq_to_vs(const struct vsq *vq)
{
	return container_of(vq->host, struct vserial_dev, qh);
}

static inline bool vs_has_feature(const struct vserial_dev *vs,
				  unsigned int bit)
{
	return vs->qh.features & BIT_ULL(bit);
}

static inline bool vs_multiport(const struct vserial_dev *vs)
{
	return vs_has_feature(vs, VIRTIO_CONSOLE_F_MULTIPORT);
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

extern struct workqueue_struct *vserial_wq;

/* vserial_ctrl.c: the control queues, the protocol's transport. */
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

/* vserial_port.c: ports and their host-side data path. */
struct vserial_port *vserial_port_alloc(struct vserial_dev *vs, u32 id,
					const char *name, bool console);
void vserial_port_free(struct vserial_port *port);
int vserial_port_install(struct vserial_port *port);
void vserial_port_detach(struct vserial_port *port, bool announce);
void vserial_port_return_tx(struct vserial_port *port, bool announce);
void vserial_port_put(struct vserial_port *port);
void vserial_ports_drain(struct vserial_dev *vs);
void vserial_ports_work(struct vserial_dev *vs);
void vserial_ports_wake_all(struct vserial_dev *vs);
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

/* vserial_cdev.c: /dev/vserialN and the vserial class. */
int vserial_cdev_init(void);
void vserial_cdev_exit(void);
extern const struct vserial_dev_hooks vserial_cdev_hooks;
struct vserial_port *vserial_cdev_new(struct vserial_dev *vs, u32 id,
				      const char *name, bool console);
int vserial_cdev_plug(struct vserial_port *port);
void vserial_cdev_unplug(struct vserial_port *port, bool announce);
int vserial_cdev_add(struct vserial_port *port);
void vserial_cdev_del(struct vserial_port *port);

/* vserial_vdpa.c: the vDPA device. */
struct vserial_dev *vserial_dev_create(struct device *parent,
				       const char *name, u64 features,
				       u32 max_nr_ports,
				       const struct vserial_dev_hooks *hooks);
int vserial_dev_register(struct vserial_dev *vs);
void vserial_dev_unregister(struct vserial_dev *vs);
void vserial_dev_schedule(struct vserial_dev *vs);
void vserial_dev_irq(struct vsq *vq);
void vs_quiesce(struct vserial_dev *vs, unsigned long *flags);
void vs_unquiesce(struct vserial_dev *vs, unsigned long flags);
void vserial_dev_config_changed(struct vserial_dev *vs);

/* vserial_configfs.c: ports and device templates in configfs. */
extern struct mutex vserial_cfg_mutex;
int vserial_configfs_init(void);
void vserial_configfs_exit(void);
struct vserial_cfg_dev *vserial_cfg_claim(const char *name, bool multiport);
unsigned int vserial_cfg_max_ports(struct vserial_cfg_dev *cfg);
int vserial_cfg_bind(struct vserial_cfg_dev *cfg, struct vserial_dev *vs);
int vserial_cfg_publish(struct vserial_cfg_dev *cfg);
void vserial_cfg_release(struct vserial_cfg_dev *cfg);
void vserial_cfg_register(struct vserial_cfg_dev *cfg);

#endif /* _VSERIAL_H */
