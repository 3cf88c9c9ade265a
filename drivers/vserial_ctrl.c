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
 * and withdrawn.
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
	if (port->guest_state == VSERIAL_GUEST_READY && vs_multiport(vs) &&
	    (msg != VSERIAL_CTRL_RESIZE || port->console)) {
		vserial_ctrl_queue_locked(port, msg);
		queued = true;
	}
	spin_unlock_irqrestore(&vs->lock, flags);

	if (queued)
		vserial_dev_schedule(vs);
}

/*
 * @port was just plugged in.  If the driver is up, announce it; else
 * DEVICE_READY will.  Called under vs_quiesce().
 */
void vserial_ctrl_plug(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;

	spin_lock(&vs->lock);
	port->guest_state = VSERIAL_GUEST_ABSENT;
	if (vs->device_ready && vs_multiport(vs)) {
		port->guest_state = VSERIAL_GUEST_ADDED;
		vserial_ctrl_queue_locked(port, VSERIAL_CTRL_ADD);
	} else if (!vs_multiport(vs) && !port->id &&
		   (vs->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
		/* Without MULTIPORT, port 0 is open while the driver runs. */
		port->guest_state = VSERIAL_GUEST_READY;
		port->guest_connected = true;
	}
	spin_unlock(&vs->lock);
	trace_vserial_port(port, VSERIAL_EV_PLUG);
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
	bool sent_add;

	spin_lock(&vs->lock);
	sent_add = port->guest_state != VSERIAL_GUEST_ABSENT &&
		   !test_bit(VSERIAL_CTRL_ADD, &port->ctrl_pending);
	if (announce && sent_add && vs_multiport(vs))
		__set_bit(port->id, vs->remove_pending);
	list_del_init(&port->ctrl_node);
	port->ctrl_pending = 0;
	port->guest_state = VSERIAL_GUEST_ABSENT;
	port->guest_connected = false;
	spin_unlock(&vs->lock);
	trace_vserial_port(port, VSERIAL_EV_UNPLUG);
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
	int r;

	for (;;) {
		spin_lock_irq(&vs->lock);
		id = find_first_bit(vs->remove_pending, vs->max_nr_ports);
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

	down_read(&vs->mem_sem);
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
		spin_unlock_irq(&vs->lock);
		if (!port || vserial_ctrl_send(vs, &m, len) <= 0)
			break;
		sent = true;

		spin_lock_irq(&vs->lock);
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

/* A message from the driver.  Called with vs->lock held. */
static void vserial_ctrl_event(struct vserial_dev *vs, u32 id, u16 event,
			       u16 value, struct vserial_port **wake)
{
	struct vserial_port *port = NULL;
	u32 i;

	trace_vserial_ctrl_recv(vs, id, event, value);
	if (event != VIRTIO_CONSOLE_DEVICE_READY) {
		if (id >= vs->max_nr_ports || !vs->ports[id]) {
			dev_dbg(&vs->vdpa.dev,
				"control event %u for unknown port %u ignored\n",
				event, id);
			return;
		}
		port = vs->ports[id];
	}

	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		if (!value) {
			dev_dbg(&vs->vdpa.dev, "driver failed to initialise\n");
			break;
		}
		if (vs->device_ready) {
			dev_dbg(&vs->vdpa.dev, "repeated DEVICE_READY ignored\n");
			break;
		}
		vs->device_ready = true;
		for (i = 0; i < vs->max_nr_ports; i++) {
			port = vs->ports[i];
			if (!port || port->guest_state != VSERIAL_GUEST_ABSENT)
				continue;
			port->guest_state = VSERIAL_GUEST_ADDED;
			vserial_ctrl_queue_locked(port, VSERIAL_CTRL_ADD);
		}
		break;

	case VIRTIO_CONSOLE_PORT_READY:
		if (port->guest_state != VSERIAL_GUEST_ADDED) {
			dev_dbg(&vs->vdpa.dev,
				"PORT_READY for port %u in state %d ignored\n",
				id, port->guest_state);
			break;
		}
		if (!value) {
			dev_dbg(&vs->vdpa.dev, "driver failed to add port %u\n",
				id);
			break;
		}
		port->guest_state = VSERIAL_GUEST_READY;
		trace_vserial_port(port, VSERIAL_EV_READY);
		if (port->console)
			vserial_ctrl_queue_locked(port, VSERIAL_CTRL_CONSOLE);
		if (port->name[0])
			vserial_ctrl_queue_locked(port, VSERIAL_CTRL_NAME);
		if (port->console && (port->cols || port->rows))
			vserial_ctrl_queue_locked(port, VSERIAL_CTRL_RESIZE);
		if (test_bit(VSERIAL_PORT_HOST_OPEN, &port->flags))
			vserial_ctrl_queue_locked(port, VSERIAL_CTRL_OPEN);
		break;

	case VIRTIO_CONSOLE_PORT_OPEN:
		if (port->guest_state != VSERIAL_GUEST_READY) {
			dev_dbg(&vs->vdpa.dev,
				"PORT_OPEN for port %u before PORT_READY ignored\n",
				id);
			break;
		}
		port->guest_connected = !!value;
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
		queued = !list_empty(&vs->ctrl_list);
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

/* Forget what the driver knew.  Called on device reset, quiesced. */
void vserial_ctrl_reset(struct vserial_dev *vs)
{
	struct vserial_port *port, *tmp;
	u32 i;

	spin_lock(&vs->lock);
	vs->device_ready = false;
	bitmap_zero(vs->remove_pending, vs->max_nr_ports);
	list_for_each_entry_safe(port, tmp, &vs->ctrl_list, ctrl_node)
		list_del_init(&port->ctrl_node);
	for (i = 0; i < vs->max_nr_ports; i++) {
		port = vs->ports[i];
		if (!port)
			continue;
		port->guest_state = VSERIAL_GUEST_ABSENT;
		port->guest_connected = false;
		port->ctrl_pending = 0;
	}
	spin_unlock(&vs->lock);
}

/*
 * The driver set DRIVER_OK.  Without MULTIPORT there is no control queue:
 * port 0 is a console the driver uses from now on.
 */
void vserial_ctrl_driver_ok(struct vserial_dev *vs)
{
	struct vserial_port *port;
	unsigned long flags;

	if (vs_multiport(vs))
		return;

	down_read(&vs->mem_sem);
	port = vs->ports[0];
	if (port) {
		spin_lock_irqsave(&vs->lock, flags);
		port->guest_state = VSERIAL_GUEST_READY;
		port->guest_connected = true;
		spin_unlock_irqrestore(&vs->lock, flags);
		vserial_port_wake(port);
	}
	up_read(&vs->mem_sem);
}
