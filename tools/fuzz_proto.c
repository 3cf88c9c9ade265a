// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the control protocol (drivers/vserial_proto.c),
 * compiled unmodified, between a model of the Linux console driver and
 * the host's events.
 *
 * The input is a sequence of steps: ports plugged in and unplugged,
 * host ends opened and closed, console sizes set, the driver given
 * receive buffers (messages move from the device to the driver's inbox),
 * the driver handling its inbox and opening or closing its ports, and
 * lifecycle events: a VMM's stop/cont (reset, same rings), a guest's
 * freeze/restore (reset, new rings, PORT_READY and PORT_OPEN again, the
 * inbox lost), a new driver (DEVICE_READY), the VMM gone.  Some inputs
 * also inject arbitrary messages, as a hostile driver would.
 *
 * Checked always: the owed-message list holds only plugged ports with
 * something owed, every message is well formed and about an id below
 * max_nr_ports, a PORT_NAME carries its port's name.  Checked while
 * the driver behaves: the device never announces an id the driver holds
 * (no PORT_ADD twice), never speaks of a port the driver does not hold
 * (other than PORT_REMOVE), and at the end, once the messages have
 * settled, the driver holds exactly the plugged ports, with their names
 * and console flags, the host ends' open state as the device has it,
 * and the device sees the driver's open state: nothing was dropped.
 */
#include "vserial_proto.h"

#define NPORTS	8
#define INBOX	64

struct in {
	const u8 *p;
	size_t n;
};

static u8 get8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

#define FAIL(...) do {							\
	fprintf(stderr, "fuzz_proto: " __VA_ARGS__);			\
	fprintf(stderr, "\n");						\
	abort();							\
} while (0)

struct port {
	struct vsp_port cp;
	bool plugged;
	bool host_open;
	char name[VSERIAL_PORT_NAME_MAX + 1];
	atomic64_t queued;
};

/* The driver's side, as Linux's virtio_console keeps it. */
struct drv_port {
	bool present;
	bool console;
	bool host_open;		/* last PORT_OPEN value */
	bool guest_open;
	char name[VSERIAL_PORT_NAME_MAX + 1];
};

static struct {
	struct vsp sp;
	struct port ports[NPORTS];
	struct drv_port drv[NPORTS];
	struct vsp_msg inbox[INBOX];
	size_t inbox_len[INBOX];
	int ninbox;
	bool live;		/* a driver with MULTIPORT is running */
	bool conformant;	/* no hostile message so far */
} s;

static bool op_host_open(struct vsp *sp, struct vsp_port *p)
{
	return container_of(p, struct port, cp)->host_open;
}

static bool op_fence(struct vsp *sp, struct vsp_port *p)
{
	return true;
}

static const struct vsp_ops ops = {
	.host_open = op_host_open,
	.fence = op_fence,
};

static void drv_send(u32 id, u16 event, u16 value)
{
	struct virtio_console_control c = {
		.id = id, .event = event, .value = value,
	};
	struct vsp_recv_result res;

	if (!vsp_recv(&s.sp, &c, sizeof(c), &res))
		FAIL("a whole message taken for a short one");
}

static void check_state(void)
{
	struct vsp_port *p;
	int n = 0;

	list_for_each_entry_shim(p, &s.sp.list) {
		struct port *port = container_of(p, struct port, cp);

		if (!port->plugged || s.sp.ports[p->id] != p)
			FAIL("port %u owes messages but is not plugged", p->id);
		if (!p->pending || p->pending >> VSP_MSG_NR)
			FAIL("port %u on the list owes %#lx", p->id, p->pending);
		if (++n > NPORTS)
			FAIL("owed-message list longer than the ports");
	}
}

/* The driver posts @n receive buffers: messages go to its inbox. */
static void deliver(int n)
{
	struct vsp_token tok;
	size_t len;

	while (n-- && s.ninbox < INBOX) {
		len = vsp_next(&s.sp, &tok);
		if (!len)
			return;
		if (len > sizeof(tok.m) || tok.m.hdr.id >= NPORTS)
			FAIL("message of %zu bytes for id %u", len, tok.m.hdr.id);
		if (tok.m.hdr.event == VIRTIO_CONSOLE_PORT_NAME &&
		    (!tok.port || len - sizeof(tok.m.hdr) != strlen(tok.port->name) ||
		     memcmp(tok.m.name, tok.port->name, len - sizeof(tok.m.hdr))))
			FAIL("PORT_NAME does not carry the name");
		s.inbox[s.ninbox] = tok.m;
		s.inbox_len[s.ninbox++] = len;
		vsp_sent(&s.sp, &tok);
	}
}

/* The driver handles the first message of its inbox. */
static void drv_handle(void)
{
	struct vsp_msg m = s.inbox[0];
	size_t len = s.inbox_len[0];
	struct drv_port *d;
	u32 id = m.hdr.id;

	memmove(s.inbox, s.inbox + 1, --s.ninbox * sizeof(s.inbox[0]));
	memmove(s.inbox_len, s.inbox_len + 1, s.ninbox * sizeof(s.inbox_len[0]));
	d = &s.drv[id];
	if (m.hdr.event == VIRTIO_CONSOLE_PORT_ADD) {
		if (d->present && s.conformant)
			FAIL("PORT_ADD for id %u the driver holds", id);
		memset(d, 0, sizeof(*d));
		d->present = true;
		drv_send(id, VIRTIO_CONSOLE_PORT_READY, 1);
		return;
	}
	if (m.hdr.event == VIRTIO_CONSOLE_PORT_REMOVE) {
		d->present = false;
		return;
	}
	if (!d->present) {
		if (s.conformant)
			FAIL("event %u for id %u the driver does not hold",
			     m.hdr.event, id);
		return;
	}
	switch (m.hdr.event) {
	case VIRTIO_CONSOLE_CONSOLE_PORT:
		d->console = true;
		break;
	case VIRTIO_CONSOLE_PORT_NAME:
		memcpy(d->name, m.name, len - sizeof(m.hdr));
		d->name[len - sizeof(m.hdr)] = 0;
		break;
	case VIRTIO_CONSOLE_PORT_OPEN:
		d->host_open = m.hdr.value;
		break;
	case VIRTIO_CONSOLE_RESIZE:
		if (!d->console && s.conformant)
			FAIL("RESIZE for a port that is no console");
		break;
	default:
		FAIL("device sent event %u", m.hdr.event);
	}
}

/* A new driver: it knows nothing, and says DEVICE_READY. */
static void new_driver(void)
{
	vsp_reset(&s.sp);
	vsp_features_ok(&s.sp, true);
	vsp_driver_ok(&s.sp, true, false);
	memset(s.drv, 0, sizeof(s.drv));
	s.ninbox = 0;
	s.live = true;
	drv_send(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
}

/* Linux's freeze/restore: new rings, then PORT_READY/PORT_OPEN again. */
static void restore(void)
{
	int i;

	vsp_reset(&s.sp);
	vsp_features_ok(&s.sp, true);
	vsp_driver_ok(&s.sp, true, false);
	s.ninbox = 0;		/* unhandled messages were in the old rings */
	for (i = 0; i < NPORTS; i++) {
		if (!s.drv[i].present)
			continue;
		drv_send(i, VIRTIO_CONSOLE_PORT_READY, 1);
		if (s.drv[i].guest_open)
			drv_send(i, VIRTIO_CONSOLE_PORT_OPEN, 1);
	}
	/* A driver holding no port says nothing: the resync times out. */
	vsp_resync_timeout(&s.sp);
}

static void step(struct in *in)
{
	u8 op = get8(in) % 16, a = get8(in);
	struct port *port = &s.ports[a % NPORTS];
	struct drv_port *d = &s.drv[a % NPORTS];
	int i;

	if (vs_shim_debug)
		fprintf(stderr, "step %u %u: inbox %d\n", op, a, s.ninbox);
	switch (op) {
	case 0:		/* plug */
		if (port->plugged || s.sp.ports[a % NPORTS])
			break;
		port->name[0] = 0;
		if (a & 8)
			snprintf(port->name, sizeof(port->name), "p%u.%u",
				 a % NPORTS, get8(in));
		vsp_port_init(&port->cp, a % NPORTS, a & 16, port->name,
			      &port->queued);
		port->plugged = true;
		vsp_plug(&s.sp, &port->cp);
		break;
	case 1:		/* unplug */
		if (!port->plugged)
			break;
		vsp_unplug(&s.sp, &port->cp, true);
		port->plugged = false;
		port->host_open = false;
		break;
	case 2:		/* host end opens or closes */
		if (!port->plugged)
			break;
		port->host_open = !port->host_open;
		vsp_queue(&s.sp, &port->cp, VSP_MSG_OPEN);
		break;
	case 3:		/* console size */
		if (!port->plugged)
			break;
		port->cp.cols = get8(in);
		port->cp.rows = get8(in);
		vsp_queue(&s.sp, &port->cp, VSP_MSG_RESIZE);
		break;
	case 4:
	case 5:
		if (s.live)
			deliver(1 + a % 8);
		break;
	case 6:
	case 7:
		for (i = a % 4; s.live && s.ninbox && i >= 0; i--)
			drv_handle();
		break;
	case 8:		/* the guest opens or closes its port */
		if (!s.live || !d->present)
			break;
		d->guest_open = !d->guest_open;
		drv_send(a % NPORTS, VIRTIO_CONSOLE_PORT_OPEN, d->guest_open);
		break;
	case 9:		/* a VMM's stop and cont: the same rings */
		vsp_reset(&s.sp);
		vsp_features_ok(&s.sp, true);
		vsp_driver_ok(&s.sp, true, true);
		break;
	case 10:
		if (s.live)
			restore();
		break;
	case 11:
		new_driver();
		break;
	case 12:	/* the VMM went away */
		vsp_session_end(&s.sp);
		memset(s.drv, 0, sizeof(s.drv));
		s.ninbox = 0;
		s.live = false;
		break;
	case 13:	/* a hostile driver */
		if (a < 200)
			break;
		{
			u8 raw[12];

			for (i = 0; i < (int)sizeof(raw); i++)
				raw[i] = get8(in);
			s.conformant = false;
			vsp_recv(&s.sp, raw, get8(in) % (sizeof(raw) + 1),
				 &(struct vsp_recv_result){});
		}
		break;
	case 14:	/* a driver without MULTIPORT */
		if (a < 240)
			break;
		vsp_reset(&s.sp);
		vsp_features_ok(&s.sp, false);
		vsp_driver_ok(&s.sp, false, false);
		memset(s.drv, 0, sizeof(s.drv));
		s.ninbox = 0;
		s.live = false;
		break;
	default:
		break;
	}
	check_state();
}

/* Let the messages settle, then compare the two sides. */
static void settle_and_compare(void)
{
	int round, i;

	for (round = 0; round < 64; round++) {
		deliver(INBOX);
		if (!s.ninbox)
			break;
		while (s.ninbox)
			drv_handle();
	}
	if (s.ninbox || vsp_next(&s.sp, &(struct vsp_token){}))
		FAIL("messages still owed after %d rounds", round);
	for (i = 0; i < NPORTS; i++) {
		struct port *port = &s.ports[i];
		struct drv_port *d = &s.drv[i];

		if (d->present != port->plugged)
			FAIL("id %u: driver holds %d, device has %d", i,
			     d->present, port->plugged);
		if (!port->plugged)
			continue;
		if (strcmp(d->name, port->name) || d->console != port->cp.console)
			FAIL("id %u: driver has \"%s\" console %d, device \"%s\" %d",
			     i, d->name, d->console, port->name, port->cp.console);
		if (d->host_open != port->host_open)
			FAIL("id %u: driver thinks the host end is %s", i,
			     d->host_open ? "open" : "closed");
		if (d->guest_open != port->cp.guest_connected)
			FAIL("id %u: device thinks the guest end is %s", i,
			     port->cp.guest_connected ? "open" : "closed");
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct in in = { data, size };
	int steps = 0;

	memset(&s, 0, sizeof(s));
	s.conformant = true;
	vs_shim_debug = !!getenv("VS_SHIM_DEBUG");
	if (vsp_init(&s.sp, &ops, NPORTS))
		FAIL("vsp_init");
	s.sp.resize_order = get8(&in) & 1;
	while (in.n && steps++ < 1024)
		step(&in);
	if (s.live && s.conformant)
		settle_and_compare();
	vsp_free(&s.sp);
	return 0;
}
