// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: the control queues, the transport of the control
 * protocol (vserial_proto.c) between the driver and the device.
 *
 * Driver to device messages arrive on the control transmit queue and are
 * handled in the kicker's context: the Linux driver spins until they come
 * back.  Device to driver messages are owed by the protocol until the
 * device worker, the only user of the control receive queue, has written
 * them into buffers the driver posted.
 *
 * Every protocol call is made under vs->lock.  Plugging, unplugging and
 * the worker's sending exclude each other (vserial_dev_quiesce() against
 * vs->mem_sem), so a message is never both sent and withdrawn, and a
 * port stays while a message about it is in flight.
 */

#include <linux/bitops.h>

#include "vserial_ctrl.h"
#include "vserial_dev.h"
#include "vserial_port.h"
#include "vserial_trace.h"

static struct vserial_port *vserial_ctrl_port_of(struct vsp_port *p)
{
	return container_of(p, struct vserial_port, cp);
}

static struct vserial_dev *vserial_ctrl_dev_of(struct vsp *sp)
{
	return container_of(sp, struct vserial_dev, cp);
}

/* The value of PORT_OPEN.  Called with vs->lock held. */
static bool vserial_ctrl_host_open(struct vsp *sp, struct vsp_port *p)
{
	struct vserial_port *port = vserial_ctrl_port_of(p);

	return test_bit(VSERIAL_PORT_HOST_OPEN, &port->flags);
}

/*
 * The driver made @p ready: what arrived on its transmit queue before
 * now is stale (the previous port's, or from before a reset).  Called
 * with vs->lock and vs->mem_lock held.
 */
static bool vserial_ctrl_fence(struct vsp *sp, struct vsp_port *p)
{
	struct vserial_dev *vs = vserial_ctrl_dev_of(sp);
	struct vsq *txq = &vs->vqs[vserial_port_txq(p->id)];
	u16 avail;

	if (!vsq_peek_avail(txq, &avail)) {
		vsq_fence(txq, avail);
		return true;
	}
	/* No ring: nothing of the previous port's is in it. */
	return !txq->ready || !txq->num;
}

static const struct vsp_ops vserial_ctrl_ops = {
	.host_open = vserial_ctrl_host_open,
	.fence = vserial_ctrl_fence,
};

/**
 * vserial_ctrl_init() - set up the control protocol of a new device
 * @vs: the device
 *
 * The protocol (vs->cp) gets the transport's callbacks (struct vsp_ops)
 * and the device's max_nr_ports.
 *
 * Context: May sleep.
 *
 * Return: 0, or -ENOMEM.
 */
int vserial_ctrl_init(struct vserial_dev *vs)
{
	return vsp_init(&vs->cp, &vserial_ctrl_ops, vs->max_nr_ports);
}

/**
 * vserial_ctrl_queue() - queue a message about @port for the driver
 * @port: the port
 * @msg: VSP_MSG_*
 *
 * Only if the driver knows the port (vsp_queue()); the device worker
 * sends it.
 *
 * Context: Takes vs->lock.
 */
void vserial_ctrl_queue(struct vserial_port *port, unsigned int msg)
{
	struct vserial_dev *vs = port->vs;
	unsigned long flags;
	bool queued;

	spin_lock_irqsave(&vs->lock, flags);
	queued = vsp_queue(&vs->cp, &port->cp, msg);
	spin_unlock_irqrestore(&vs->lock, flags);

	if (queued)
		vserial_dev_schedule(vs);
}

/**
 * vserial_ctrl_plug() - @port was just plugged in
 * @port: the port, in its place in vs->ports
 *
 * In a session, the driver is told PORT_ADD; otherwise the next session
 * will be (vsp_plug()).
 *
 * Context: Called under vserial_dev_quiesce().
 */
void vserial_ctrl_plug(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;

	spin_lock(&vs->lock);
	vsp_plug(&vs->cp, &port->cp);
	spin_unlock(&vs->lock);
	trace_vserial_port(port, VSERIAL_EV_PLUG);
}

/**
 * vserial_ctrl_unplug() - @port is being unplugged
 * @port: the port
 * @announce: tell the driver (a device being deleted does not)
 *
 * What the port still owes the driver is withdrawn and, with @announce,
 * its id is owed a PORT_REMOVE if the driver heard of it (vsp_unplug()).
 *
 * Context: Called under vserial_dev_quiesce().
 */
void vserial_ctrl_unplug(struct vserial_port *port, bool announce)
{
	struct vserial_dev *vs = port->vs;

	spin_lock(&vs->lock);
	vsp_unplug(&vs->cp, &port->cp, announce);
	spin_unlock(&vs->lock);
	trace_vserial_port(port, VSERIAL_EV_UNPLUG);
}

/**
 * vserial_ctrl_session_end() - the driver's session is over
 * @vs: the device
 *
 * What the rings carried across resets goes too (vsq_forget()).  The
 * caller wakes the ports.
 *
 * Context: Called under vserial_dev_quiesce().
 */
void vserial_ctrl_session_end(struct vserial_dev *vs)
{
	u32 i;

	spin_lock(&vs->lock);
	vsp_session_end(&vs->cp);
	spin_unlock(&vs->lock);
	for (i = 0; i < vs->nvqs; i++)
		vsq_forget(&vs->vqs[i]);
}

/*
 * Write one message into the next control receive buffer.  Returns 1 if
 * it was sent, 0 if the driver has no buffer, -EIO if the queue broke.
 */
static int vserial_ctrl_send(struct vserial_dev *vs, const struct vsp_msg *m,
			     size_t len)
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
	if (r < 0 || !vsq_running(vq))
		return -EIO;
	if (vq->chain.written < len)
		dev_dbg_ratelimited(&vs->vdpa.dev,
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

/**
 * vserial_ctrl_log() - log what the protocol noted of the driver's mistakes
 * @vs: the device
 *
 * The notes (struct vsp_notes) are logged rate-limited, holding no lock:
 * a console on one of the device's own ports may print through the
 * device.  Whether or not a driver is up (DRIVER_OK).
 *
 * Context: Runs in the device worker; takes vs->lock.
 */
void vserial_ctrl_log(struct vserial_dev *vs)
{
	struct vsp_notes nt;
	unsigned int i;
	bool any;

	spin_lock_irq(&vs->lock);
	any = vsp_take_notes(&vs->cp, &nt);
	spin_unlock_irq(&vs->lock);
	if (!any)
		return;
	for (i = 0; i < nt.n; i++)
		dev_dbg_ratelimited(&vs->vdpa.dev, "%s\n", nt.text[i]);
	if (nt.lost)
		dev_dbg_ratelimited(&vs->vdpa.dev,
				    "%u more control protocol notes not logged\n",
				    nt.lost);
}

/**
 * vserial_ctrl_flush() - send what the protocol owes the driver
 * @vs: the device
 *
 * As far as the driver has control receive buffers; what was sent is
 * published (vsq_publish()), with an interrupt if the driver asks for
 * one.
 *
 * Context: Runs in the device worker; takes vs->mem_sem.
 */
void vserial_ctrl_flush(struct vserial_dev *vs)
{
	struct vsq *vq = &vs->vqs[VSERIAL_CTRL_RXQ];
	struct vsp_token tok;
	bool sent = false;
	size_t len;

	down_read(&vs->mem_sem);
	for (;;) {
		spin_lock_irq(&vs->lock);
		len = vsp_next(&vs->cp, &tok);
		spin_unlock_irq(&vs->lock);
		if (!len || vserial_ctrl_send(vs, &tok.m, len) <= 0)
			break;
		sent = true;
		spin_lock_irq(&vs->lock);
		vsp_sent(&vs->cp, &tok);
		spin_unlock_irq(&vs->lock);
	}
	if (sent && vsq_publish(vq))
		vserial_dev_irq(vq);
	up_read(&vs->mem_sem);
}

static void vserial_ctrl_trace_change(struct vsp_port *p, enum vsp_event ev)
{
	struct vserial_port *port = vserial_ctrl_port_of(p);

	switch (ev) {
	case VSP_EV_READY:
		trace_vserial_port(port, VSERIAL_EV_READY);
		break;
	case VSP_EV_GUEST_OPEN:
		trace_vserial_port(port, VSERIAL_EV_GUEST_OPEN);
		break;
	case VSP_EV_GUEST_CLOSE:
		trace_vserial_port(port, VSERIAL_EV_GUEST_CLOSE);
		break;
	default:
		break;
	}
}

/**
 * vserial_ctrl_handle_tx() - handle what the driver sent on the control
 *	transmit queue
 * @vs: the device
 *
 * Each message goes to the protocol (vsp_recv()) and the port it is
 * about is woken.  One call handles at most VSERIAL_KICK_BUDGET
 * messages and walks about VSERIAL_KICK_WALK descriptors; the device
 * worker does the rest, sends what the protocol owes and raises the
 * interrupt.
 *
 * Context: Called from the kick, in the driver's context (possibly
 * atomic), and from the worker when a kick left work over.
 */
void vserial_ctrl_handle_tx(struct vserial_dev *vs)
{
	struct vsq *vq = &vs->vqs[VSERIAL_CTRL_TXQ];
	struct virtio_console_control hdr;
	struct vsp_recv_result res;
	bool irq, more = false, queued, ok;
	unsigned long flags;
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

		spin_lock(&vs->lock);
		ok = vsp_recv(&vs->cp, &hdr, r, &res);
		if (ok)
			trace_vserial_ctrl_recv(vs, res.id, res.event,
						res.value);
		if (res.port)
			vserial_ctrl_trace_change(res.port, res.change);
		queued = vsp_owes(&vs->cp);
		spin_unlock(&vs->lock);
		/* The port cannot go: unplugging waits for mem_lock. */
		if (res.port)
			vserial_port_wake(vserial_ctrl_port_of(res.port));
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

/**
 * vserial_ctrl_reset() - device reset
 * @vs: the device
 *
 * The session goes on, but the next DEVICE_READY starts a new one
 * (vsp_reset()).
 *
 * Context: Called quiesced.
 */
void vserial_ctrl_reset(struct vserial_dev *vs)
{
	spin_lock(&vs->lock);
	vsp_reset(&vs->cp);
	spin_unlock(&vs->lock);
}

/**
 * vserial_ctrl_resync_timeout() - a new control queue and silence since
 * @vs: the device
 *
 * The driver set up a new control receive queue in a going session and
 * said nothing for VSERIAL_RESYNC_DELAY: if it still has not said whether
 * it is new or restored, it is taken for a restored one
 * (vsp_resync_timeout()).
 *
 * Context: Called from the resync work; takes vs->mem_sem.
 */
void vserial_ctrl_resync_timeout(struct vserial_dev *vs)
{
	down_read(&vs->mem_sem);
	spin_lock_irq(&vs->lock);
	vsp_resync_timeout(&vs->cp);
	spin_unlock_irq(&vs->lock);
	up_read(&vs->mem_sem);
}

/**
 * vserial_ctrl_features_ok() - the driver negotiated features (FEATURES_OK)
 * @vs: the device
 *
 * A session with the control queue cannot go on with a driver without
 * it, nor the other way round: it ends (vsp_features_ok()), and what the
 * rings carried across resets goes too.
 *
 * Context: Called quiesced.
 */
void vserial_ctrl_features_ok(struct vserial_dev *vs)
{
	bool ended;
	u32 i;

	spin_lock(&vs->lock);
	ended = vsp_features_ok(&vs->cp, vserial_dev_multiport(vs));
	spin_unlock(&vs->lock);
	if (ended) {
		for (i = 0; i < vs->nvqs; i++)
			vsq_forget(&vs->vqs[i]);
	}
}

/**
 * vserial_ctrl_driver_ok() - the driver set DRIVER_OK
 * @vs: the device
 * @ctrl_continues: its control receive queue is the one from before the
 *	last reset
 *
 * Context: Called quiesced.
 *
 * Return: true if the device must wait to hear whether the driver is new
 * or restored (vsp_driver_ok()).
 */
bool vserial_ctrl_driver_ok(struct vserial_dev *vs, bool ctrl_continues)
{
	bool resync;

	spin_lock(&vs->lock);
	resync = vsp_driver_ok(&vs->cp, vserial_dev_multiport(vs),
			       ctrl_continues);
	spin_unlock(&vs->lock);
	return resync;
}
