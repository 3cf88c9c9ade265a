/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: the control protocol (virtio 1.x, 5.3.6.2) as a state
 * machine and codec over byte buffers.
 *
 * It knows no queue, no lock and no device: the transport
 * (vserial_ctrl.c) hands it what the driver sent (vsp_recv()) and asks
 * it for what to send (vsp_next(), vsp_sent()); the device and the ports
 * tell it of their events.  The caller serialises every call on one
 * struct vsp (the device's lock).  What it needs of the ports and the
 * rings it asks through struct vsp_ops.
 *
 * Instead of a queue of messages, each port keeps a bitmap of the
 * messages it owes the driver and sits on vsp->list while the bitmap is
 * not empty, and the device keeps a bitmap of the ids owed a PORT_REMOVE:
 * repeated events for one port coalesce, so the memory this takes is
 * bounded by the number of ports, however long the driver leaves its
 * queue empty.
 */
#ifndef _VSERIAL_PROTO_H
#define _VSERIAL_PROTO_H

#include <linux/atomic.h>
#include <linux/list.h>
#include <linux/types.h>
#include <uapi/linux/virtio_console.h>

#include <uapi/linux/vdpa_vserial.h>

struct vsp;
struct vsp_port;

/* Messages a port owes the driver (vsp_port.pending), sent in this order. */
enum {
	VSP_MSG_ADD,
	VSP_MSG_CONSOLE,
	VSP_MSG_NAME,
	VSP_MSG_RESIZE,
	VSP_MSG_OPEN,
	VSP_MSG_NR,
};

/* Where a port stands with the driver. */
enum vsp_guest_state {
	VSP_GUEST_ABSENT,	/* not announced in the driver's session */
	VSP_GUEST_ADDED,	/* PORT_ADD queued or sent */
	VSP_GUEST_READY,	/* driver answered PORT_READY 1 */
};

/* The driver's session: see vserial_proto.c. */
enum vsp_session {
	VSP_SESSION_NONE,	/* no driver, or not started yet */
	VSP_SESSION_SINGLE,	/* no MULTIPORT: port 0, from DRIVER_OK */
	VSP_SESSION_MULTI,	/* control queue, from DEVICE_READY */
};

/* Field order of the RESIZE message (see the admin guide). */
enum vserial_resize_order {
	VSERIAL_RESIZE_COLS_ROWS,	/* the virtio spec's, Linux 6.12 */
	VSERIAL_RESIZE_ROWS_COLS,	/* older Linux drivers' */
};

/* Port state changes reported by vsp_recv(), for tracing. */
enum vsp_event {
	VSP_EV_NONE,
	VSP_EV_READY,
	VSP_EV_GUEST_OPEN,
	VSP_EV_GUEST_CLOSE,
};

/**
 * struct vsp_port - the protocol's view of one port
 * @id: the port id
 * @console: a console port (CONSOLE_PORT, RESIZE)
 * @name: its name ("" for none), VSERIAL_PORT_NAME_MAX bytes at most
 * @cols: console size (TIOCSWINSZ), 0 if unset
 * @rows: console size
 * @queued: counts the messages queued for it
 * @guest_state: see enum vsp_guest_state
 * @guest_connected: the driver has the port open (PORT_OPEN)
 * @connected_changed: @guest_connected changed since the owner looked
 * @add_sent: PORT_ADD sent in this session
 * @answered: ... and PORT_READY (0 or 1) came back
 * @replaces: plugged in at an id whose previous port the driver was told
 *	of, and not made ready yet: what arrives for the id is the previous
 *	port's.  Cleared (release) once the transmit queue is fenced.
 * @pending: messages owed, bits VSP_MSG_*
 * @node: on vsp.list while @pending is not empty
 */
struct vsp_port {
	u32 id;
	bool console;
	const char *name;
	u16 cols;
	u16 rows;
	atomic64_t *queued;
	enum vsp_guest_state guest_state;
	bool guest_connected;
	bool connected_changed;
	bool add_sent;
	bool answered;
	bool replaces;
	unsigned long pending;
	struct list_head node;
};

/**
 * struct vsp_ops - what the protocol asks of the device
 * @host_open: is the host end of @p open (the value of PORT_OPEN)?
 * @fence: the driver made @p ready: whatever its transmit queue holds
 *	from before is stale.  Returns true if that is settled (the queue
 *	fenced, or it has no ring), false if @p must stay quarantined.
 */
struct vsp_ops {
	bool (*host_open)(struct vsp *sp, struct vsp_port *p);
	bool (*fence)(struct vsp *sp, struct vsp_port *p);
};

/*
 * What the protocol has to say about a driver's mistakes, kept until its
 * caller has dropped its locks (vsp_take_notes()): printk from under
 * them could re-enter the device through a console on one of its ports,
 * and a guest must not be able to keep a CPU logging with interrupts off.
 */
#define VSP_NOTES	4
#define VSP_NOTE_LEN	80

struct vsp_notes {
	char text[VSP_NOTES][VSP_NOTE_LEN];
	unsigned int n;
	unsigned int lost;	/* beyond VSP_NOTES since the last take */
};

/**
 * struct vsp - the control protocol of one device
 * @ops: see struct vsp_ops
 * @max_nr_ports: ids are below it
 * @ports: the plugged ports by id (vsp_plug(), vsp_unplug())
 * @session: see enum vsp_session
 * @gen: bumped as each session begins or ends
 * @device_ready: DEVICE_READY 1 received since the device reset
 * @resync_pending: see vsp_driver_ok()
 * @uevent_pending: some port's connected_changed is set
 * @resize_order: see enum vserial_resize_order
 * @list: ports with messages owed
 * @remove_pending: ids owed a PORT_REMOVE
 * @announced: ids a PORT_ADD went to, this session
 * @stale_readies: PORT_READYs owed by gone ports, by id
 * @notes: the driver's mistakes, for the caller to log
 */
struct vsp {
	const struct vsp_ops *ops;
	u32 max_nr_ports;
	struct vsp_port **ports;
	enum vsp_session session;
	u32 gen;
	bool device_ready;
	bool resync_pending;
	bool uevent_pending;
	enum vserial_resize_order resize_order;
	struct list_head list;
	unsigned long *remove_pending;
	unsigned long *announced;
	u16 *stale_readies;
	struct vsp_notes notes;
};

/* The longest message the device sends: PORT_NAME with the longest name. */
struct vsp_msg {
	struct virtio_console_control hdr;
	union {
		char name[VSERIAL_PORT_NAME_MAX];
		__le16 size[2];
	};
} __packed;

/**
 * struct vsp_token - what vsp_next() built, for vsp_sent()
 * @port: the port it is about, NULL for a PORT_REMOVE
 * @msg: VSP_MSG_*, or the id for a PORT_REMOVE
 * @gen: the session it was built in
 * @m: the message
 */
struct vsp_token {
	struct vsp_port *port;
	u32 msg;
	u32 gen;
	struct vsp_msg m;
};

/**
 * struct vsp_recv_result - what a message from the driver did
 * @id: the message's port id, as it came
 * @event: its event, as it came
 * @value: its value, as it came
 * @port: the port whose host end should hear of it, or NULL
 * @change: the port's state change, for tracing
 */
struct vsp_recv_result {
	u32 id;
	u16 event;
	u16 value;
	struct vsp_port *port;
	enum vsp_event change;
};

int vsp_init(struct vsp *sp, const struct vsp_ops *ops, u32 max_nr_ports);
void vsp_free(struct vsp *sp);
void vsp_port_init(struct vsp_port *p, u32 id, bool console, const char *name,
		   atomic64_t *queued);
void vsp_plug(struct vsp *sp, struct vsp_port *p);
void vsp_unplug(struct vsp *sp, struct vsp_port *p, bool announce);
bool vsp_queue(struct vsp *sp, struct vsp_port *p, unsigned int msg);
bool vsp_recv(struct vsp *sp, const void *buf, size_t len,
	      struct vsp_recv_result *res);
bool vsp_owes(const struct vsp *sp);
size_t vsp_next(struct vsp *sp, struct vsp_token *tok);
void vsp_sent(struct vsp *sp, const struct vsp_token *tok);
void vsp_reset(struct vsp *sp);
void vsp_session_end(struct vsp *sp);
bool vsp_features_ok(struct vsp *sp, bool multiport);
bool vsp_driver_ok(struct vsp *sp, bool multiport, bool ctrl_continues);
void vsp_resync_timeout(struct vsp *sp);

/**
 * vsp_take_notes() - hand over what the protocol noted
 * @sp: the protocol
 * @out: filled with the notes, which @sp then forgets
 *
 * Return: true if there was anything (notes or lost notes).
 */
bool vsp_take_notes(struct vsp *sp, struct vsp_notes *out);

#endif /* _VSERIAL_PROTO_H */
