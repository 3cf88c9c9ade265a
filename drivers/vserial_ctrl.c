// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: the control queue protocol (virtio 1.x, 5.3.6.2).
 *
 * Driver to device messages arrive on the control transmit queue and are
 * handled in the kicker's context: the Linux driver spins until they come
 * back.  Device to driver messages are never dropped.  Instead of a queue
 * of messages, each port keeps a bitmap of the messages it owes the driver
 * and sits on vs->ctrl_list while the bitmap is not empty, and the device
 * keeps a bitmap of the port ids owed a PORT_REMOVE; the worker sends them
 * as the driver posts receive buffers, removals first.  Repeated events
 * for one port coalesce, so the memory this takes is bounded by the number
 * of ports, however long the driver leaves the queue empty.
 *
 * Plugging, unplugging and the worker's sending exclude each other
 * (vs_quiesce() against vs->mem_sem), so a message is never both sent
 * and withdrawn.  A new session may begin while the worker sends (a
 * DEVICE_READY, in the kick): what the worker sent then is not counted
 * against the new session (vs->session_gen).
 *
 * Sessions.  What the driver knows of the ports -- which were announced,
 * which it made ready and opened, what is still owed to it -- belongs to
 * the driver's session, not to the device's status: a VMM resets the
 * device whenever its guest is paused and restores the rings on resume
 * without the guest noticing, and a guest that suspends resets it and
 * then only asks again about the ports it knows (PORT_READY, PORT_OPEN).
 * So a device reset keeps the session; it ends only when a new driver
 * starts one (DEVICE_READY after a reset), when the VMM goes away
 * (reset_map), when the bus driver unbinds, or when the driver
 * renegotiates without the control queue (Documentation/design.rst,
 * "Driver sessions").
 *
 * Port ids.  A port plugged in at an id whose previous port the driver
 * was told of "replaces" it: until the driver has answered PORT_READY for
 * the new port, whatever arrives for the id is the previous port's.  Its
 * PORT_OPEN is ignored, its data is returned unread (the port's transmit
 * queue is fenced when the new port is made ready), and PORT_READY
 * answers owed by ports the driver was told of but never made ready are
 * counted, so that the new port's own answer is recognised.
 */

#include <linux/bitops.h>
#include <linux/list.h>

#include "vserial.h"
#include "vserial_trace.h"

struct vserial_ctrl_msg {
	struct virtio_console_control hdr;
	union {
		char name[VSERIAL_PORT_NAME_MAX];
		__le16 size[2];
	};
} __packed;

/* Called with vs->lock held. */
static void vserial_ctrl_queue_locked(struct vserial_port *port,
				      unsigned int msg)
{
	if (!__test_and_set_bit(msg, &port->ctrl_pending))
		atomic64_inc(&port->stats.ctrl_queued);
	if (list_empty(&port->ctrl_node))
		list_add_tail(&port->ctrl_node, &port->vs->ctrl_list);
}

/* Called with vs->lock held. */
static void vserial_ctrl_withdraw(struct vserial_port *port)
{
	list_del_init(&port->ctrl_node);
	port->ctrl_pending = 0;
}

/*
 * The driver side of @port opened or closed.  Host programs hear of it
 * through the port's wait queue (poll) and a uevent, sent by the worker.
 * Called with vs->lock held.
 */
static void vserial_ctrl_set_connected(struct vserial_port *port, bool on)
{
	if (port->guest_connected == on)
		return;
	WRITE_ONCE(port->guest_connected, on);
	port->connected_changed = true;
	port->vs->uevent_pending = true;
}

/*
 * Queue a message about @port for the driver, if the driver knows the
 * port; messages about ports it has not made ready would be ignored by it.
 */
void vserial_ctrl_queue(struct vserial_port *port, unsigned int msg)
{
	struct vserial_dev *vs = port->vs;
	unsigned long flags;
	bool queued = false;

	spin_lock_irqsave(&vs->lock, flags);
	if (port->guest_state == VSERIAL_GUEST_READY &&
	    vs->session == VSERIAL_SESSION_MULTI &&
	    (msg != VSERIAL_CTRL_RESIZE || port->console)) {
		vserial_ctrl_queue_locked(port, msg);
		queued = true;
	}
	spin_unlock_irqrestore(&vs->lock, flags);

	if (queued)
		vserial_dev_schedule(vs);
}

/*
 * Announce @port in the session: PORT_ADD is owed.  Whether it replaces
 * a port the driver was told of at the same id is decided here.  Called
 * with vs->lock held.
 */
static void vserial_ctrl_announce(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;

	port->guest_state = VSERIAL_GUEST_ADDED;
	port->add_sent = false;
	port->answered = false;
	WRITE_ONCE(port->replaces, test_bit(port->id, vs->announced));
	vserial_ctrl_queue_locked(port, VSERIAL_CTRL_ADD);
}

/*
 * @port was just plugged in.  In a session, announce it; otherwise the
 * next session will.  Called under vs_quiesce().
 */
void vserial_ctrl_plug(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;

	spin_lock(&vs->lock);
	port->guest_state = VSERIAL_GUEST_ABSENT;
	port->guest_connected = false;
	if (vs->session == VSERIAL_SESSION_MULTI) {
		vserial_ctrl_announce(port);
	} else if (vs->session == VSERIAL_SESSION_SINGLE && !port->id) {
		/* Without MULTIPORT, port 0 is open while the driver runs. */
		port->guest_state = VSERIAL_GUEST_READY;
		vserial_ctrl_set_connected(port, true);
	}
	spin_unlock(&vs->lock);
	trace_vserial_port(port, VSERIAL_EV_PLUG);
}

/* The driver will answer PORT_READY once more for this id. */
static void vserial_ctrl_expect_stale(struct vserial_dev *vs, u32 id)
{
	if (vs->stale_readies[id] < U16_MAX)
		vs->stale_readies[id]++;
}

/*
 * @port is being unplugged: withdraw what it still owes the driver and,
 * if the driver heard of it (@announce), owe its id a PORT_REMOVE.  An
 * announcement not yet sent is simply withdrawn.  Called under
 * vs_quiesce().
 */
void vserial_ctrl_unplug(struct vserial_port *port, bool announce)
{
	struct vserial_dev *vs = port->vs;

	spin_lock(&vs->lock);
	if (announce && port->add_sent &&
	    vs->session == VSERIAL_SESSION_MULTI) {
		__set_bit(port->id, vs->remove_pending);
		if (!port->answered)
			vserial_ctrl_expect_stale(vs, port->id);
	}
	vserial_ctrl_withdraw(port);
	port->guest_state = VSERIAL_GUEST_ABSENT;
	port->add_sent = false;
	WRITE_ONCE(port->replaces, false);
	vserial_ctrl_set_connected(port, false);
	spin_unlock(&vs->lock);
	trace_vserial_port(port, VSERIAL_EV_UNPLUG);
}

/*
 * Forget the session's state of every port and id.  Called with
 * vs->lock held.
 */
static void vserial_ctrl_clear_session(struct vserial_dev *vs)
{
	struct vserial_port *port;
	u32 i;

	vs->session_gen++;
	bitmap_zero(vs->remove_pending, vs->max_nr_ports);
	bitmap_zero(vs->announced, vs->max_nr_ports);
	memset(vs->stale_readies, 0,
	       vs->max_nr_ports * sizeof(*vs->stale_readies));
	vs->resync_pending = false;
	for (i = 0; i < vs->max_nr_ports; i++) {
		port = vs->ports[i];
		if (!port)
			continue;
		vserial_ctrl_withdraw(port);
		port->guest_state = VSERIAL_GUEST_ABSENT;
		port->add_sent = false;
		WRITE_ONCE(port->replaces, false);
		vserial_ctrl_set_connected(port, false);
	}
}

/*
 * The driver's session is over (the VMM went away, the bus driver
 * unbound, the driver renegotiated): the ports are not announced to
 * anyone, and what the rings carried across resets is dropped.  Called
 * under vs_quiesce(); the caller wakes the ports.
 */
void vserial_ctrl_session_end(struct vserial_dev *vs)
{
	u32 i;

	spin_lock(&vs->lock);
	if (vs->session != VSERIAL_SESSION_NONE)
		dev_dbg(&vs->vdpa.dev, "driver session ended\n");
	vserial_ctrl_clear_session(vs);
	vs->session = VSERIAL_SESSION_NONE;
	spin_unlock(&vs->lock);
	for (i = 0; i < vs->nvqs; i++)
		vsq_forget(&vs->vqs[i]);
}

/* Called with vs->lock held; returns the message length. */
static size_t vserial_ctrl_build(struct vserial_port *port, unsigned int msg,
				 struct vserial_ctrl_msg *m)
{
	struct vserial_dev *vs = port->vs;
	size_t len = sizeof(m->hdr);
	u16 event, value = 1;

	switch (msg) {
	case VSERIAL_CTRL_ADD:
		event = VIRTIO_CONSOLE_PORT_ADD;
		break;
	case VSERIAL_CTRL_CONSOLE:
		event = VIRTIO_CONSOLE_CONSOLE_PORT;
		break;
	case VSERIAL_CTRL_NAME:
		event = VIRTIO_CONSOLE_PORT_NAME;
		len += strlen(port->name);
		memcpy(m->name, port->name, len - sizeof(m->hdr));
		break;
	case VSERIAL_CTRL_RESIZE:
		event = VIRTIO_CONSOLE_RESIZE;
		value = 0;
		len += sizeof(m->size);
		if (vs->resize_order == VSERIAL_RESIZE_ROWS_COLS) {
			m->size[0] = cpu_to_le16(port->rows);
			m->size[1] = cpu_to_le16(port->cols);
		} else {
			m->size[0] = cpu_to_le16(port->cols);
			m->size[1] = cpu_to_le16(port->rows);
		}
		break;
	default:
		event = VIRTIO_CONSOLE_PORT_OPEN;
		value = test_bit(VSERIAL_PORT_HOST_OPEN, &port->flags);
		break;
	}

	m->hdr.id = (__force __virtio32)cpu_to_le32(port->id);
	m->hdr.event = (__force __virtio16)cpu_to_le16(event);
	m->hdr.value = (__force __virtio16)cpu_to_le16(value);
	return len;
}

/*
 * Is @m, built earlier, still what @port owes?  PORT_OPEN and RESIZE
 * carry state that may have changed since.  Called with vs->lock held.
 */
static bool vserial_ctrl_current(struct vserial_port *port, unsigned int msg,
				 const struct vserial_ctrl_msg *m)
{
	struct vserial_ctrl_msg now;

	if (msg != VSERIAL_CTRL_OPEN && msg != VSERIAL_CTRL_RESIZE)
		return true;
	vserial_ctrl_build(port, msg, &now);
	if (now.hdr.value != m->hdr.value)
		return false;
	return msg != VSERIAL_CTRL_RESIZE ||
	       !memcmp(now.size, m->size, sizeof(m->size));
}

/*
 * Write one message into the next control receive buffer.  Returns 1 if
 * it was sent, 0 if the driver has no buffer, -EIO if the queue broke.
 */
static int vserial_ctrl_send(struct vserial_dev *vs,
			     const struct vserial_ctrl_msg *m, size_t len)
{
	struct vsq *vq = &vs->vqs[VSERIAL_CTRL_RXQ];
	int r;

	for (;;) {
		r = vsq_next_chain(vq);
		if (r < 0)
			return r;
		if (r)
			break;
		if (!vsq_arm(vq))
			return 0;
	}
	r = vsq_chain_write(vq, m, len);
	if (r < 0)
		return r;
	if (vq->chain.written < len)
		dev_dbg(&vs->vdpa.dev,
			"control buffer of %u bytes truncates event %u for port %u\n",
			vq->chain.written,
			le16_to_cpu((__force __le16)m->hdr.event),
			le32_to_cpu((__force __le32)m->hdr.id));
	vsq_complete(vq);
	trace_vserial_ctrl_send(vs, le32_to_cpu((__force __le32)m->hdr.id),
				le16_to_cpu((__force __le16)m->hdr.event),
				le16_to_cpu((__force __le16)m->hdr.value));
	return 1;
}

/* PORT_REMOVE for every id owed one.  Called with vs->mem_sem held. */
static int vserial_ctrl_flush_removals(struct vserial_dev *vs, bool *sent)
{
	struct vserial_ctrl_msg m = {};
	unsigned long id;
	u32 gen;
	int r;

	for (;;) {
		spin_lock_irq(&vs->lock);
		id = find_first_bit(vs->remove_pending, vs->max_nr_ports);
		gen = vs->session_gen;
		spin_unlock_irq(&vs->lock);
		if (id >= vs->max_nr_ports)
			return 1;

		m.hdr.id = (__force __virtio32)cpu_to_le32(id);
		m.hdr.event = (__force __virtio16)
			      cpu_to_le16(VIRTIO_CONSOLE_PORT_REMOVE);
		m.hdr.value = (__force __virtio16)cpu_to_le16(1);
		r = vserial_ctrl_send(vs, &m, sizeof(m.hdr));
		if (r <= 0)
			return r;
		*sent = true;

		spin_lock_irq(&vs->lock);
		if (gen == vs->session_gen)
			__clear_bit(id, vs->remove_pending);
		spin_unlock_irq(&vs->lock);
	}
}

/*
 * Send what the ports owe the driver, as far as it has receive buffers.
 * Runs in the device worker, the only user of the control receive queue.
 */
void vserial_ctrl_flush(struct vserial_dev *vs)
{
	struct vsq *vq = &vs->vqs[VSERIAL_CTRL_RXQ];
	struct vserial_ctrl_msg m;
	struct vserial_port *port;
	bool sent = false;
	unsigned int msg;
	size_t len;
	u32 gen;

	down_read(&vs->mem_sem);
	/* Nothing until the driver says whether it is new or restored. */
	if (READ_ONCE(vs->resync_pending))
		goto out;
	if (vserial_ctrl_flush_removals(vs, &sent) <= 0)
		goto out;

	for (;;) {
		spin_lock_irq(&vs->lock);
		port = list_first_entry_or_null(&vs->ctrl_list,
						struct vserial_port, ctrl_node);
		if (port) {
			msg = find_first_bit(&port->ctrl_pending,
					     VSERIAL_CTRL_NR);
			len = vserial_ctrl_build(port, msg, &m);
		}
		gen = vs->session_gen;
		spin_unlock_irq(&vs->lock);
		if (!port || vserial_ctrl_send(vs, &m, len) <= 0)
			break;
		sent = true;

		spin_lock_irq(&vs->lock);
		if (gen != vs->session_gen) {
			spin_unlock_irq(&vs->lock);
			continue;
		}
		if (msg == VSERIAL_CTRL_ADD) {
			port->add_sent = true;
			__set_bit(port->id, vs->announced);
		}
		/* The host end may have changed again since we built it. */
		if (vserial_ctrl_current(port, msg, &m))
			__clear_bit(msg, &port->ctrl_pending);
		if (!port->ctrl_pending)
			list_del_init(&port->ctrl_node);
		spin_unlock_irq(&vs->lock);
	}
out:
	if (sent && vsq_publish(vq))
		vserial_dev_irq(vq);
	up_read(&vs->mem_sem);
}

/*
 * A new driver session (DEVICE_READY): every plugged port is announced,
 * nothing of an earlier session is owed.  Called with vs->lock held.
 */
static void vserial_ctrl_session_begin(struct vserial_dev *vs)
{
	struct vserial_port *port;
	u32 i;

	vserial_ctrl_clear_session(vs);
	vs->session = VSERIAL_SESSION_MULTI;
	for (i = 0; i < vs->max_nr_ports; i++) {
		port = vs->ports[i];
		if (port)
			vserial_ctrl_announce(port);
	}
}

/*
 * The driver's control receive queue was set up anew while its session
 * went on -- a guest that suspended and resumed: the messages it had not
 * handled yet are gone.  It asks again about the ports it knows
 * (PORT_READY), and is told again of those it was told of but never made
 * ready, and that the ids it may still hold a gone port at are empty.
 * Called with vs->lock held.
 */
static void vserial_ctrl_resync(struct vserial_dev *vs)
{
	struct vserial_port *port;
	u32 i;

	dev_dbg(&vs->vdpa.dev, "driver restored its queues: control resync\n");
	vs->resync_pending = false;
	memset(vs->stale_readies, 0,
	       vs->max_nr_ports * sizeof(*vs->stale_readies));
	for (i = 0; i < vs->max_nr_ports; i++) {
		port = vs->ports[i];
		if (port && port->guest_state == VSERIAL_GUEST_READY)
			continue;
		if (test_bit(i, vs->announced))
			__set_bit(i, vs->remove_pending);
		if (port && port->add_sent) {
			port->add_sent = false;
			port->answered = false;
			WRITE_ONCE(port->replaces, true);
			vserial_ctrl_queue_locked(port, VSERIAL_CTRL_ADD);
		}
	}
}

/*
 * Which port a PORT_READY from the driver is about: NULL if it is a
 * stale answer about a port that is gone, or if the driver holds a port
 * the device does not have (it is then told PORT_REMOVE, as QEMU never
 * does).  Called with vs->lock held.
 */
static struct vserial_port *vserial_ctrl_ready_port(struct vserial_dev *vs,
						    u32 id, u16 value)
{
	struct vserial_port *port = vs->ports[id];

	/* The new port's own answer comes after its PORT_ADD. */
	if (port && (!port->replaces ||
		     (port->add_sent && !vs->stale_readies[id])))
		return port;
	/* A failed add answers too: PORT_READY 0. */
	if (vs->stale_readies[id]) {
		vs->stale_readies[id]--;
		dev_dbg(&vs->vdpa.dev,
			"PORT_READY for the previous port %u ignored\n", id);
	} else if (value && vs->session == VSERIAL_SESSION_MULTI) {
		dev_dbg(&vs->vdpa.dev,
			"PORT_READY for port %u the device does not have: PORT_REMOVE\n",
			id);
		__set_bit(id, vs->remove_pending);
	}
	return NULL;
}

/*
 * The driver made @port ready, or asked again (a restored guest): tell
 * it what it needs to know.  What arrived on the port's transmit queue
 * before now is stale: the previous port's, or from before a reset.
 * Called with vs->lock and vs->mem_lock held.
 */
static void vserial_ctrl_port_ready(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;
	struct vsq *txq = &vs->vqs[vserial_port_txq(port->id)];
	u16 avail;

	if (port->guest_state != VSERIAL_GUEST_READY)
		trace_vserial_port(port, VSERIAL_EV_READY);
	port->guest_state = VSERIAL_GUEST_READY;
	if (!vsq_peek_avail(txq, &avail)) {
		vsq_fence(txq, avail);
		/* Readers see the fence before they see the port as its own. */
		smp_store_release(&port->replaces, false);
	} else if (!txq->ready || !txq->num) {
		/* No ring: nothing of the previous port's is in it. */
		smp_store_release(&port->replaces, false);
	} else {
		dev_dbg(&vs->vdpa.dev,
			"port %u stays quarantined: its transmit ring cannot be read\n",
			port->id);
	}

	if (port->console)
		vserial_ctrl_queue_locked(port, VSERIAL_CTRL_CONSOLE);
	if (port->name[0])
		vserial_ctrl_queue_locked(port, VSERIAL_CTRL_NAME);
	if (port->console && (port->cols || port->rows))
		vserial_ctrl_queue_locked(port, VSERIAL_CTRL_RESIZE);
	if (test_bit(VSERIAL_PORT_HOST_OPEN, &port->flags))
		vserial_ctrl_queue_locked(port, VSERIAL_CTRL_OPEN);
}

/* A message from the driver.  Called with vs->lock held. */
static void vserial_ctrl_event(struct vserial_dev *vs, u32 id, u16 event,
			       u16 value, struct vserial_port **wake)
{
	struct vserial_port *port;

	trace_vserial_ctrl_recv(vs, id, event, value);
	if (event == VIRTIO_CONSOLE_DEVICE_READY) {
		if (!value) {
			dev_dbg(&vs->vdpa.dev, "driver failed to initialise\n");
		} else if (vs->device_ready) {
			dev_dbg(&vs->vdpa.dev, "repeated DEVICE_READY ignored\n");
		} else {
			vs->device_ready = true;
			vserial_ctrl_session_begin(vs);
		}
		return;
	}

	if (id >= vs->max_nr_ports) {
		dev_dbg(&vs->vdpa.dev,
			"control event %u for port %u >= max_nr_ports ignored\n",
			event, id);
		return;
	}
	/* A driver that asks about its ports resumed a suspended session. */
	if (vs->resync_pending && (event == VIRTIO_CONSOLE_PORT_READY ||
				   event == VIRTIO_CONSOLE_PORT_OPEN))
		vserial_ctrl_resync(vs);
	port = vs->ports[id];

	switch (event) {
	case VIRTIO_CONSOLE_PORT_READY:
		port = vserial_ctrl_ready_port(vs, id, value);
		if (port)
			port->answered = true;
		if (port && !value)
			dev_dbg(&vs->vdpa.dev, "driver failed to add port %u\n",
				id);
		if (port && value) {
			vserial_ctrl_port_ready(port);
			*wake = port;
		}
		break;

	case VIRTIO_CONSOLE_PORT_OPEN:
		if (!port || (port->replaces &&
			      port->guest_state != VSERIAL_GUEST_READY)) {
			dev_dbg(&vs->vdpa.dev,
				"PORT_OPEN for a port %u the driver does not have ignored\n",
				id);
			break;
		}
		vserial_ctrl_set_connected(port, value);
		trace_vserial_port(port, value ? VSERIAL_EV_GUEST_OPEN :
					 VSERIAL_EV_GUEST_CLOSE);
		*wake = port;
		break;

	default:
		dev_dbg(&vs->vdpa.dev,
			"unknown control event %u for port %u ignored\n",
			event, id);
		break;
	}
}

/*
 * Handle what the driver sent on the control transmit queue.  Called from
 * the kick, in the driver's context (possibly atomic), and from the worker
 * when a kick left work over.
 */
void vserial_ctrl_handle_tx(struct vserial_dev *vs)
{
	struct vsq *vq = &vs->vqs[VSERIAL_CTRL_TXQ];
	struct virtio_console_control hdr;
	struct vserial_port *wake;
	unsigned long flags;
	bool irq, more = false, queued;
	int done = 0;
	u32 start;
	int r;

	read_lock_irqsave(&vs->mem_lock, flags);
	spin_lock(&vq->lock);
	start = vq->walked;
	for (;;) {
		r = vsq_next_chain(vq);
		if (r < 0)
			break;
		if (!r) {
			if (vsq_arm(vq))
				continue;
			break;
		}
		if (done++ == VSERIAL_KICK_BUDGET ||
		    vq->walked - start >= VSERIAL_KICK_WALK) {
			more = true;
			break;
		}

		r = vsq_chain_read(vq, &hdr, sizeof(hdr));
		if (r < 0)
			break;
		vsq_complete(vq);
		if (r < sizeof(hdr)) {
			dev_dbg(&vs->vdpa.dev,
				"short control message (%d bytes) ignored\n", r);
			continue;
		}

		wake = NULL;
		spin_lock(&vs->lock);
		vserial_ctrl_event(vs, le32_to_cpu((__force __le32)hdr.id),
				   le16_to_cpu((__force __le16)hdr.event),
				   le16_to_cpu((__force __le16)hdr.value), &wake);
		queued = !list_empty(&vs->ctrl_list) ||
			 !bitmap_empty(vs->remove_pending, vs->max_nr_ports) ||
			 vs->uevent_pending;
		spin_unlock(&vs->lock);
		/* The port cannot go: unplugging waits for mem_lock. */
		if (wake)
			vserial_port_wake(wake);
		if (queued)
			more = true;
	}
	irq = vsq_publish(vq);
	spin_unlock(&vq->lock);
	read_unlock_irqrestore(&vs->mem_lock, flags);

	if (irq)
		set_bit(vq->idx, vs->irq_pending);
	if (irq || more)
		vserial_dev_schedule(vs);
}

/*
 * Device reset: the driver's session goes on (see the top of this file),
 * but the next DEVICE_READY starts a new one.  Called quiesced.
 */
void vserial_ctrl_reset(struct vserial_dev *vs)
{
	spin_lock(&vs->lock);
	vs->device_ready = false;
	vs->resync_pending = false;
	spin_unlock(&vs->lock);
}

/*
 * The driver set up a new control receive queue and said nothing since:
 * a restored guest that knows no port asks about none.  Called from the
 * device's resync work.
 */
void vserial_ctrl_resync_timeout(struct vserial_dev *vs)
{
	down_read(&vs->mem_sem);
	spin_lock_irq(&vs->lock);
	if (vs->resync_pending)
		vserial_ctrl_resync(vs);
	spin_unlock_irq(&vs->lock);
	up_read(&vs->mem_sem);
}

/*
 * The driver negotiated features (FEATURES_OK): a driver without the
 * control queue cannot go on with a session that has one, and the other
 * way round.  Called quiesced.
 */
void vserial_ctrl_features_ok(struct vserial_dev *vs)
{
	enum vserial_session want = vs_multiport(vs) ? VSERIAL_SESSION_MULTI :
					VSERIAL_SESSION_SINGLE;

	if (vs->session != VSERIAL_SESSION_NONE && vs->session != want)
		vserial_ctrl_session_end(vs);
}

/*
 * The driver set DRIVER_OK; @ctrl_continues: its control receive queue
 * is the one from before the last reset.  Returns true if the session
 * goes on with a new control receive queue: a new driver or a restored
 * one, which its first word tells (vserial_ctrl_event()); until then
 * nothing is sent to it, and if it says nothing for a while it is taken
 * for a restored one.  Without MULTIPORT there is no control queue:
 * port 0 is a console the driver uses from now on.  Called quiesced.
 */
bool vserial_ctrl_driver_ok(struct vserial_dev *vs, bool ctrl_continues)
{
	struct vserial_port *port = vs->ports[0];
	bool resync = false;

	spin_lock(&vs->lock);
	if (vs_multiport(vs)) {
		resync = vs->session == VSERIAL_SESSION_MULTI &&
			 !ctrl_continues;
		vs->resync_pending = resync;
	} else {
		vs->session = VSERIAL_SESSION_SINGLE;
		if (port) {
			port->guest_state = VSERIAL_GUEST_READY;
			vserial_ctrl_set_connected(port, true);
		}
	}
	spin_unlock(&vs->lock);
	return resync;
}
