// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: the control protocol (see vserial_proto.h).
 *
 * Driver to device messages are handled as they arrive.  Device to
 * driver messages are never dropped: they are owed (bitmaps, see
 * vserial_proto.h) until the transport has sent them, removals first.
 * A new session may begin between vsp_next() and vsp_sent(): what was
 * sent then is not counted against the new session (vsp->gen).  The
 * transport keeps ports from being plugged or unplugged in between.
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
 * queue is fenced when the new port is made ready, vsp_ops.fence), and
 * PORT_READY answers owed by ports the driver was told of but never made
 * ready are counted, so that the new port's own answer is recognised.
 */

#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/kernel.h>
#include <linux/limits.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vserial_proto.h"

/* Note a driver's mistake for the caller to log (struct vsp_notes). */
static __printf(2, 3) void vsp_note(struct vsp *sp, const char *fmt, ...)
{
	struct vsp_notes *nt = &sp->notes;
	va_list ap;

	if (nt->n == VSP_NOTES) {
		nt->lost++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(nt->text[nt->n++], VSP_NOTE_LEN, fmt, ap);
	va_end(ap);
}

bool vsp_take_notes(struct vsp *sp, struct vsp_notes *out)
{
	*out = sp->notes;
	sp->notes.n = 0;
	sp->notes.lost = 0;
	return out->n || out->lost;
}

int vsp_init(struct vsp *sp, const struct vsp_ops *ops, u32 max_nr_ports)
{
	memset(sp, 0, sizeof(*sp));
	sp->ops = ops;
	sp->max_nr_ports = max_nr_ports;
	INIT_LIST_HEAD(&sp->list);
	sp->ports = kcalloc(max_nr_ports, sizeof(*sp->ports), GFP_KERNEL);
	sp->remove_pending = bitmap_zalloc(max_nr_ports, GFP_KERNEL);
	sp->announced = bitmap_zalloc(max_nr_ports, GFP_KERNEL);
	sp->stale_readies = kcalloc(max_nr_ports, sizeof(*sp->stale_readies),
				    GFP_KERNEL);
	if (!sp->ports || !sp->remove_pending || !sp->announced ||
	    !sp->stale_readies) {
		vsp_free(sp);
		return -ENOMEM;
	}
	return 0;
}

void vsp_free(struct vsp *sp)
{
	kfree(sp->ports);
	bitmap_free(sp->remove_pending);
	bitmap_free(sp->announced);
	kfree(sp->stale_readies);
	sp->ports = NULL;
	sp->remove_pending = NULL;
	sp->announced = NULL;
	sp->stale_readies = NULL;
}

void vsp_port_init(struct vsp_port *p, u32 id, bool console, const char *name,
		   atomic64_t *queued)
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->console = console;
	p->name = name;
	p->queued = queued;
	INIT_LIST_HEAD(&p->node);
}

static void vsp_queue_locked(struct vsp *sp, struct vsp_port *p,
			     unsigned int msg)
{
	if (!__test_and_set_bit(msg, &p->pending) && p->queued)
		atomic64_inc(p->queued);
	if (list_empty(&p->node))
		list_add_tail(&p->node, &sp->list);
}

static void vsp_withdraw(struct vsp_port *p)
{
	list_del_init(&p->node);
	p->pending = 0;
}

/* The driver side of @p opened or closed: its owner hears of it. */
static void vsp_set_connected(struct vsp *sp, struct vsp_port *p, bool on)
{
	if (p->guest_connected == on)
		return;
	WRITE_ONCE(p->guest_connected, on);
	p->connected_changed = true;
	sp->uevent_pending = true;
}

/**
 * vsp_queue() - queue a message about @p for the driver
 * @sp: the protocol
 * @p: the port
 * @msg: VSP_MSG_*
 *
 * Only if the driver knows the port: messages about ports it has not
 * made ready would be ignored by it.
 *
 * Return: true if the message is owed now (the transport should send).
 */
bool vsp_queue(struct vsp *sp, struct vsp_port *p, unsigned int msg)
{
	if (p->guest_state != VSP_GUEST_READY ||
	    sp->session != VSP_SESSION_MULTI ||
	    (msg == VSP_MSG_RESIZE && !p->console))
		return false;
	vsp_queue_locked(sp, p, msg);
	return true;
}

/*
 * Announce @p in the session: PORT_ADD is owed.  Whether it replaces a
 * port the driver was told of at the same id is decided here.
 */
static void vsp_announce(struct vsp *sp, struct vsp_port *p)
{
	p->guest_state = VSP_GUEST_ADDED;
	p->add_sent = false;
	p->answered = false;
	WRITE_ONCE(p->replaces, test_bit(p->id, sp->announced));
	vsp_queue_locked(sp, p, VSP_MSG_ADD);
}

/**
 * vsp_plug() - @p was plugged in at its id
 * @sp: the protocol
 * @p: the port; its id is below max_nr_ports and free
 *
 * In a session, it is announced; otherwise the next session will.
 */
void vsp_plug(struct vsp *sp, struct vsp_port *p)
{
	sp->ports[p->id] = p;
	p->guest_state = VSP_GUEST_ABSENT;
	p->guest_connected = false;
	if (sp->session == VSP_SESSION_MULTI) {
		vsp_announce(sp, p);
	} else if (sp->session == VSP_SESSION_SINGLE && !p->id) {
		/* Without MULTIPORT, port 0 is open while the driver runs. */
		p->guest_state = VSP_GUEST_READY;
		vsp_set_connected(sp, p, true);
	}
}

/* The driver will answer PORT_READY once more for this id. */
static void vsp_expect_stale(struct vsp *sp, u32 id)
{
	if (sp->stale_readies[id] < U16_MAX)
		sp->stale_readies[id]++;
}

/**
 * vsp_unplug() - @p is being unplugged
 * @sp: the protocol
 * @p: the port
 * @announce: tell the driver (a device being deleted does not)
 *
 * What it still owes the driver is withdrawn and, if the driver heard of
 * it, its id is owed a PORT_REMOVE.  An announcement not yet sent is
 * simply withdrawn.
 */
void vsp_unplug(struct vsp *sp, struct vsp_port *p, bool announce)
{
	if (announce && p->add_sent && sp->session == VSP_SESSION_MULTI) {
		__set_bit(p->id, sp->remove_pending);
		if (!p->answered)
			vsp_expect_stale(sp, p->id);
	}
	vsp_withdraw(p);
	p->guest_state = VSP_GUEST_ABSENT;
	p->add_sent = false;
	WRITE_ONCE(p->replaces, false);
	vsp_set_connected(sp, p, false);
	if (sp->ports[p->id] == p)
		sp->ports[p->id] = NULL;
}

/* Forget the session's state of every port and id. */
static void vsp_clear_session(struct vsp *sp)
{
	struct vsp_port *p;
	u32 i;

	sp->gen++;
	bitmap_zero(sp->remove_pending, sp->max_nr_ports);
	bitmap_zero(sp->announced, sp->max_nr_ports);
	memset(sp->stale_readies, 0,
	       sp->max_nr_ports * sizeof(*sp->stale_readies));
	sp->resync_pending = false;
	for (i = 0; i < sp->max_nr_ports; i++) {
		p = sp->ports[i];
		if (!p)
			continue;
		vsp_withdraw(p);
		p->guest_state = VSP_GUEST_ABSENT;
		p->add_sent = false;
		WRITE_ONCE(p->replaces, false);
		vsp_set_connected(sp, p, false);
	}
}

/**
 * vsp_session_end() - the driver's session is over
 * @sp: the protocol
 *
 * The VMM went away, the bus driver unbound, the driver renegotiated:
 * the ports are not announced to anyone.  The caller drops what the
 * rings carried across resets.
 */
void vsp_session_end(struct vsp *sp)
{
	if (sp->session != VSP_SESSION_NONE)
		vsp_note(sp, "driver session ended");
	vsp_clear_session(sp);
	sp->session = VSP_SESSION_NONE;
}

/* Build message @msg about @p into @m; returns its length. */
static size_t vsp_build(struct vsp *sp, struct vsp_port *p, unsigned int msg,
			struct vsp_msg *m)
{
	size_t len = sizeof(m->hdr);
	u16 event, value = 1;

	switch (msg) {
	case VSP_MSG_ADD:
		event = VIRTIO_CONSOLE_PORT_ADD;
		break;
	case VSP_MSG_CONSOLE:
		event = VIRTIO_CONSOLE_CONSOLE_PORT;
		break;
	case VSP_MSG_NAME:
		event = VIRTIO_CONSOLE_PORT_NAME;
		len += strnlen(p->name, VSERIAL_PORT_NAME_MAX);
		memcpy(m->name, p->name, len - sizeof(m->hdr));
		break;
	case VSP_MSG_RESIZE:
		event = VIRTIO_CONSOLE_RESIZE;
		value = 0;
		len += sizeof(m->size);
		if (sp->resize_order == VSERIAL_RESIZE_ROWS_COLS) {
			m->size[0] = cpu_to_le16(p->rows);
			m->size[1] = cpu_to_le16(p->cols);
		} else {
			m->size[0] = cpu_to_le16(p->cols);
			m->size[1] = cpu_to_le16(p->rows);
		}
		break;
	default:
		event = VIRTIO_CONSOLE_PORT_OPEN;
		value = sp->ops->host_open(sp, p);
		break;
	}

	m->hdr.id = (__force __virtio32)cpu_to_le32(p->id);
	m->hdr.event = (__force __virtio16)cpu_to_le16(event);
	m->hdr.value = (__force __virtio16)cpu_to_le16(value);
	return len;
}

/*
 * Is @m, built earlier, still what @p owes?  PORT_OPEN and RESIZE carry
 * state that may have changed since.
 */
static bool vsp_current(struct vsp *sp, struct vsp_port *p, unsigned int msg,
			const struct vsp_msg *m)
{
	struct vsp_msg now;

	if (msg != VSP_MSG_OPEN && msg != VSP_MSG_RESIZE)
		return true;
	vsp_build(sp, p, msg, &now);
	if (now.hdr.value != m->hdr.value)
		return false;
	return msg != VSP_MSG_RESIZE ||
	       !memcmp(now.size, m->size, sizeof(m->size));
}

/**
 * vsp_owes() - is anything owed to the driver, the ports' owners, the log?
 * @sp: the protocol
 *
 * Return: true if a message, a guest_connected notification or a note
 * (vsp_take_notes()) is owed.
 */
bool vsp_owes(const struct vsp *sp)
{
	return !list_empty(&sp->list) ||
	       !bitmap_empty(sp->remove_pending, sp->max_nr_ports) ||
	       sp->uevent_pending || sp->notes.n || sp->notes.lost;
}

/**
 * vsp_next() - the next message owed to the driver
 * @sp: the protocol
 * @tok: filled with the message and what vsp_sent() needs
 *
 * Removals go first.  Nothing is owed while the driver has not said
 * whether it is new or restored (vsp_driver_ok()).  The message stays
 * owed until vsp_sent().
 *
 * Return: the message length, 0 if nothing is owed.
 */
size_t vsp_next(struct vsp *sp, struct vsp_token *tok)
{
	struct vsp_port *p;
	unsigned long id;

	if (sp->resync_pending)
		return 0;
	tok->gen = sp->gen;
	id = find_first_bit(sp->remove_pending, sp->max_nr_ports);
	if (id < sp->max_nr_ports) {
		memset(&tok->m, 0, sizeof(tok->m));
		tok->port = NULL;
		tok->msg = id;
		tok->m.hdr.id = (__force __virtio32)cpu_to_le32(id);
		tok->m.hdr.event = (__force __virtio16)
				   cpu_to_le16(VIRTIO_CONSOLE_PORT_REMOVE);
		tok->m.hdr.value = (__force __virtio16)cpu_to_le16(1);
		return sizeof(tok->m.hdr);
	}
	p = list_first_entry_or_null(&sp->list, struct vsp_port, node);
	if (!p)
		return 0;
	tok->port = p;
	tok->msg = find_first_bit(&p->pending, VSP_MSG_NR);
	return vsp_build(sp, p, tok->msg, &tok->m);
}

/**
 * vsp_sent() - the message vsp_next() built went to the driver
 * @sp: the protocol
 * @tok: what vsp_next() filled in
 */
void vsp_sent(struct vsp *sp, const struct vsp_token *tok)
{
	struct vsp_port *p = tok->port;

	if (tok->gen != sp->gen)
		return;		/* a new session began meanwhile */
	if (!p) {
		__clear_bit(tok->msg, sp->remove_pending);
		return;
	}
	if (tok->msg == VSP_MSG_ADD) {
		p->add_sent = true;
		__set_bit(p->id, sp->announced);
	}
	/* The host end may have changed again since it was built. */
	if (vsp_current(sp, p, tok->msg, &tok->m))
		__clear_bit(tok->msg, &p->pending);
	if (!p->pending)
		list_del_init(&p->node);
}

/*
 * A new driver session (DEVICE_READY): every plugged port is announced,
 * nothing of an earlier session is owed.
 */
static void vsp_session_begin(struct vsp *sp)
{
	u32 i;

	vsp_clear_session(sp);
	sp->session = VSP_SESSION_MULTI;
	for (i = 0; i < sp->max_nr_ports; i++)
		if (sp->ports[i])
			vsp_announce(sp, sp->ports[i]);
}

/*
 * The driver's control receive queue was set up anew while its session
 * went on -- a guest that suspended and resumed: the messages it had not
 * handled yet are gone.  It asks again about the ports it knows
 * (PORT_READY), and is told again of those it was told of but never made
 * ready, and that the ids it may still hold a gone port at are empty.
 */
static void vsp_resync(struct vsp *sp)
{
	struct vsp_port *p;
	u32 i;

	vsp_note(sp, "driver restored its queues: control resync");
	sp->resync_pending = false;
	memset(sp->stale_readies, 0,
	       sp->max_nr_ports * sizeof(*sp->stale_readies));
	for (i = 0; i < sp->max_nr_ports; i++) {
		p = sp->ports[i];
		if (p && p->guest_state == VSP_GUEST_READY)
			continue;
		if (test_bit(i, sp->announced))
			__set_bit(i, sp->remove_pending);
		if (p && p->add_sent) {
			p->add_sent = false;
			p->answered = false;
			WRITE_ONCE(p->replaces, true);
			vsp_queue_locked(sp, p, VSP_MSG_ADD);
		}
	}
}

/*
 * Which port a PORT_READY from the driver is about: NULL if it is a
 * stale answer about a port that is gone, or if the driver holds a port
 * the device does not have (it is then told PORT_REMOVE, as QEMU never
 * does).
 */
static struct vsp_port *vsp_ready_port(struct vsp *sp, u32 id, u16 value)
{
	struct vsp_port *p = sp->ports[id];

	/* The new port's own answer comes after its PORT_ADD. */
	if (p && (!p->replaces || (p->add_sent && !sp->stale_readies[id])))
		return p;
	/* A failed add answers too: PORT_READY 0. */
	if (sp->stale_readies[id]) {
		sp->stale_readies[id]--;
		vsp_note(sp, "PORT_READY for the previous port %u ignored", id);
	} else if (value && sp->session == VSP_SESSION_MULTI) {
		vsp_note(sp, "PORT_READY for port %u the device does not have: PORT_REMOVE",
			 id);
		__set_bit(id, sp->remove_pending);
	}
	return NULL;
}

/*
 * The driver made @p ready, or asked again (a restored guest): tell it
 * what it needs to know.  What arrived on the port's transmit queue
 * before now is stale: the previous port's, or from before a reset.
 */
static void vsp_port_ready(struct vsp *sp, struct vsp_port *p)
{
	bool again = p->guest_state == VSP_GUEST_READY;

	p->guest_state = VSP_GUEST_READY;
	if (sp->ops->fence(sp, p)) {
		/* Readers see the fence before they see the port as its own. */
		smp_store_release(&p->replaces, false);
	} else {
		vsp_note(sp, "port %u stays quarantined: its transmit ring cannot be read",
			 p->id);
	}

	if (p->console)
		vsp_queue_locked(sp, p, VSP_MSG_CONSOLE);
	if (p->name[0])
		vsp_queue_locked(sp, p, VSP_MSG_NAME);
	if (p->console && (p->cols || p->rows))
		vsp_queue_locked(sp, p, VSP_MSG_RESIZE);
	/*
	 * A driver asking again was restored: a PORT_OPEN 0 it had not
	 * handled went with its old rings, so it hears the state either way
	 * (QEMU tells it only an open host end).
	 */
	if (again || sp->ops->host_open(sp, p))
		vsp_queue_locked(sp, p, VSP_MSG_OPEN);
}

static void vsp_device_ready(struct vsp *sp, u16 value)
{
	if (!value) {
		vsp_note(sp, "driver failed to initialise");
	} else if (sp->device_ready) {
		vsp_note(sp, "repeated DEVICE_READY ignored");
	} else {
		sp->device_ready = true;
		vsp_session_begin(sp);
	}
}

static void vsp_event(struct vsp *sp, struct vsp_recv_result *res)
{
	struct vsp_port *p;

	switch (res->event) {
	case VIRTIO_CONSOLE_PORT_READY:
		p = vsp_ready_port(sp, res->id, res->value);
		if (!p)
			break;
		p->answered = true;
		if (!res->value) {
			vsp_note(sp, "driver failed to add port %u", res->id);
			break;
		}
		if (p->guest_state != VSP_GUEST_READY)
			res->change = VSP_EV_READY;
		vsp_port_ready(sp, p);
		res->port = p;
		break;

	case VIRTIO_CONSOLE_PORT_OPEN:
		p = sp->ports[res->id];
		if (!p || (p->replaces && p->guest_state != VSP_GUEST_READY)) {
			vsp_note(sp, "PORT_OPEN for a port %u the driver does not have ignored",
				 res->id);
			break;
		}
		vsp_set_connected(sp, p, res->value);
		res->change = res->value ? VSP_EV_GUEST_OPEN :
					   VSP_EV_GUEST_CLOSE;
		res->port = p;
		break;

	default:
		vsp_note(sp, "unknown control event %u for port %u ignored",
			 res->event, res->id);
		break;
	}
}

/**
 * vsp_recv() - a message from the driver
 * @sp: the protocol
 * @buf: the message as it came, never read beyond @len
 * @len: its length
 * @res: filled with the decoded header and what the message did
 *
 * Return: false if it is too short to be a message (ignored).
 */
bool vsp_recv(struct vsp *sp, const void *buf, size_t len,
	      struct vsp_recv_result *res)
{
	struct virtio_console_control hdr;

	memset(res, 0, sizeof(*res));
	if (len < sizeof(hdr)) {
		vsp_note(sp, "short control message (%zu bytes) ignored", len);
		return false;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	res->id = le32_to_cpu((__force __le32)hdr.id);
	res->event = le16_to_cpu((__force __le16)hdr.event);
	res->value = le16_to_cpu((__force __le16)hdr.value);

	if (res->event == VIRTIO_CONSOLE_DEVICE_READY) {
		vsp_device_ready(sp, res->value);
		return true;
	}
	if (res->id >= sp->max_nr_ports) {
		vsp_note(sp, "control event %u for port %u >= max_nr_ports ignored",
			 res->event, res->id);
		return true;
	}
	/* A driver that asks about its ports resumed a suspended session. */
	if (sp->resync_pending && (res->event == VIRTIO_CONSOLE_PORT_READY ||
				   res->event == VIRTIO_CONSOLE_PORT_OPEN))
		vsp_resync(sp);
	vsp_event(sp, res);
	return true;
}

/**
 * vsp_reset() - device reset
 * @sp: the protocol
 *
 * The driver's session goes on (see the top of this file), but the next
 * DEVICE_READY starts a new one.
 */
void vsp_reset(struct vsp *sp)
{
	sp->device_ready = false;
	sp->resync_pending = false;
}

/**
 * vsp_resync_timeout() - a new control queue and silence since
 * @sp: the protocol
 *
 * The driver set up a new control receive queue and said nothing for a
 * while: a restored guest that knows no port asks about none.
 */
void vsp_resync_timeout(struct vsp *sp)
{
	if (sp->resync_pending)
		vsp_resync(sp);
}

/**
 * vsp_features_ok() - the driver negotiated features
 * @sp: the protocol
 * @multiport: with the control queue
 *
 * A driver without the control queue cannot go on with a session that
 * has one, and the other way round.
 *
 * Return: true if the session ended (the caller drops what the rings
 * carried across resets).
 */
bool vsp_features_ok(struct vsp *sp, bool multiport)
{
	enum vsp_session want = multiport ? VSP_SESSION_MULTI :
					    VSP_SESSION_SINGLE;

	if (sp->session == VSP_SESSION_NONE || sp->session == want)
		return false;
	vsp_session_end(sp);
	return true;
}

/**
 * vsp_driver_ok() - the driver set DRIVER_OK
 * @sp: the protocol
 * @multiport: MULTIPORT was negotiated
 * @ctrl_continues: the control receive queue is the one from before the
 *	last reset
 *
 * Without MULTIPORT there is no control queue: port 0 is a console the
 * driver uses from now on.
 *
 * Return: true if the session goes on with a new control receive queue:
 * a new driver or a restored one, which its first word tells
 * (vsp_recv()); until then nothing is sent to it, and if it says nothing
 * for a while it is taken for a restored one (vsp_resync_timeout()).
 */
bool vsp_driver_ok(struct vsp *sp, bool multiport, bool ctrl_continues)
{
	struct vsp_port *p = sp->ports[0];

	if (multiport) {
		sp->resync_pending = sp->session == VSP_SESSION_MULTI &&
				     !ctrl_continues;
		return sp->resync_pending;
	}
	sp->session = VSP_SESSION_SINGLE;
	if (p) {
		p->guest_state = VSP_GUEST_READY;
		vsp_set_connected(sp, p, true);
	}
	return false;
}
