// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: the control queue protocol (virtio 1.x, 5.3.6.2).
 *
 * Driver to device messages arrive on the control transmit queue and are
 * handled in the kicker's context: the Linux driver spins until they come
 * back.  Device to driver messages are never dropped.  Instead of a queue
 * of messages, each port keeps a bitmap of the messages it owes the driver
 * and sits on vs->ctrl_list while the bitmap is not empty; the worker
 * sends them as the driver posts receive buffers.  Repeated events for one
 * port coalesce, so the memory this takes is bounded by the number of
 * ports, however long the driver leaves the queue empty.
 */

#include <linux/bitops.h>
#include <linux/list.h>

#include "vserial.h"

struct vserial_ctrl_msg {
	struct virtio_console_control hdr;
	char name[VSERIAL_PORT_NAME_MAX];
} __packed;

/* Called with vs->lock held. */
static void vserial_ctrl_queue_locked(struct vserial_port *port,
				      unsigned int msg)
{
	__set_bit(msg, &port->ctrl_pending);
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
	if (port->guest_state == VSERIAL_GUEST_READY && vs_multiport(vs)) {
		vserial_ctrl_queue_locked(port, msg);
		queued = true;
	}
	spin_unlock_irqrestore(&vs->lock, flags);

	if (queued)
		vserial_dev_schedule(vs);
}

/* Called with vs->lock held; returns the message length. */
static size_t vserial_ctrl_build(struct vserial_port *port, unsigned int msg,
				 struct vserial_ctrl_msg *m)
{
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
 * Send what the ports owe the driver, as far as it has receive buffers.
 * Runs in the device worker, the only user of the control receive queue.
 */
void vserial_ctrl_flush(struct vserial_dev *vs)
{
	struct vsq *vq = &vs->vqs[VSERIAL_CTRL_RXQ];
	struct vserial_ctrl_msg m;
	struct vserial_port *port;
	unsigned int msg;
	bool sent = false;
	u16 open_sent;
	size_t len;
	int r;

	down_read(&vs->mem_sem);
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
		if (!port)
			break;

		r = vsq_next_chain(vq);
		if (r < 0)
			break;
		if (!r) {
			if (vsq_arm(vq))
				continue;
			break;
		}
		if (vsq_chain_write(vq, &m, len) < 0)
			break;
		if (vq->chain.written < len)
			dev_dbg(&vs->vdpa.dev,
				"control buffer of %u bytes truncates event %u for port %u\n",
				vq->chain.written, le16_to_cpu((__force __le16)m.hdr.event),
				port->id);
		vsq_complete(vq);
		sent = true;

		spin_lock_irq(&vs->lock);
		open_sent = le16_to_cpu((__force __le16)m.hdr.value);
		/* The host end may have changed again since we built it. */
		if (msg != VSERIAL_CTRL_OPEN ||
		    open_sent == test_bit(VSERIAL_PORT_HOST_OPEN, &port->flags))
			__clear_bit(msg, &port->ctrl_pending);
		if (!port->ctrl_pending)
			list_del_init(&port->ctrl_node);
		spin_unlock_irq(&vs->lock);
	}

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
		if (port->console)
			vserial_ctrl_queue_locked(port, VSERIAL_CTRL_CONSOLE);
		if (port->name[0])
			vserial_ctrl_queue_locked(port, VSERIAL_CTRL_NAME);
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
	int r;

	read_lock_irqsave(&vs->mem_lock, flags);
	spin_lock(&vq->lock);
	for (;;) {
		r = vsq_next_chain(vq);
		if (r < 0)
			break;
		if (!r) {
			if (vsq_arm(vq))
				continue;
			break;
		}
		if (done++ == VSERIAL_KICK_BUDGET) {
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
	struct vserial_port *port = vs->ports[0];
	unsigned long flags;

	if (vs_multiport(vs) || !port)
		return;

	spin_lock_irqsave(&vs->lock, flags);
	port->guest_state = VSERIAL_GUEST_READY;
	port->guest_connected = true;
	spin_unlock_irqrestore(&vs->lock, flags);
	vserial_port_wake(port);
}
