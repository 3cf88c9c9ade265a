// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the control protocol, compiled from the driver's own
 * drivers/vserial_proto.c: sessions across resets, restored and new
 * drivers, port id reuse, the messages owed and their order, and the
 * checks on what the driver sends.  Prints TAP.
 */
#include "vserial_proto.h"
#include "unit.h"

UNIT_GLOBALS;

#define NPORTS	4

static struct vsp sp;
static struct vsp_port ports[NPORTS + 1];
static atomic64_t queued[NPORTS + 1];
static bool host_open[NPORTS + 1];
static bool fence_ok = true;
static int fences;

static bool op_host_open(struct vsp *s, struct vsp_port *p)
{
	return host_open[p - ports];
}

static bool op_fence(struct vsp *s, struct vsp_port *p)
{
	fences++;
	return fence_ok;
}

static const struct vsp_ops ops = {
	.host_open = op_host_open,
	.fence = op_fence,
};

static void setup(void)
{
	vsp_free(&sp);
	memset(ports, 0, sizeof(ports));
	memset(host_open, 0, sizeof(host_open));
	fence_ok = true;
	fences = 0;
	if (vsp_init(&sp, &ops, NPORTS))
		abort();
}

static struct vsp_port *plug(int slot, u32 id, bool console, const char *name)
{
	struct vsp_port *p = &ports[slot];

	vsp_port_init(p, id, console, name, &queued[slot]);
	vsp_plug(&sp, p);
	return p;
}

static bool recv(u32 id, u16 event, u16 value)
{
	struct virtio_console_control c = { .id = id, .event = event,
					    .value = value };
	struct vsp_recv_result res;

	return vsp_recv(&sp, &c, sizeof(c), &res);
}

/* The next message owed: event, id and value; false if none. */
static bool next(u16 event, u32 id, u16 value)
{
	struct vsp_token tok;
	size_t len = vsp_next(&sp, &tok);

	if (!len)
		return false;
	if (tok.m.hdr.event != event || tok.m.hdr.id != id ||
	    tok.m.hdr.value != value) {
		printf("# %s: got event %u id %u value %u\n", unit_name,
		       tok.m.hdr.event, tok.m.hdr.id, tok.m.hdr.value);
		return false;
	}
	vsp_sent(&sp, &tok);
	return true;
}

static bool quiet(void)
{
	struct vsp_token tok;

	return !vsp_next(&sp, &tok);
}

/* A driver up with MULTIPORT and DEVICE_READY, @p made ready. */
static void up(void)
{
	vsp_features_ok(&sp, true);
	vsp_driver_ok(&sp, true, false);
	CHECK(recv(0, VIRTIO_CONSOLE_DEVICE_READY, 1));
}

static void test_session_order(void)
{
	struct vsp_port *p;

	setup();
	p = plug(1, 1, false, "a.b");
	CHECK(quiet());			/* no session: nothing owed */
	up();
	CHECK(sp.session == VSP_SESSION_MULTI);
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));
	CHECK(quiet());
	host_open[1] = true;
	CHECK(!vsp_queue(&sp, p, VSP_MSG_OPEN));	/* not ready yet */
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_READY, 1));
	CHECK(p->guest_state == VSP_GUEST_READY && fences == 1);
	CHECK(next(VIRTIO_CONSOLE_PORT_NAME, 1, 1));
	CHECK(next(VIRTIO_CONSOLE_PORT_OPEN, 1, 1));
	CHECK(quiet());
	/* Coalescing: open, close, open before sending: one message. */
	host_open[1] = false;
	CHECK(vsp_queue(&sp, p, VSP_MSG_OPEN));
	host_open[1] = true;
	CHECK(vsp_queue(&sp, p, VSP_MSG_OPEN));
	CHECK(next(VIRTIO_CONSOLE_PORT_OPEN, 1, 1));
	CHECK(quiet());
	/* Guest opens and closes: guest_connected, a notification. */
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	CHECK(p->guest_connected && p->connected_changed && sp.uevent_pending);
	CHECK(vsp_owes(&sp));
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_OPEN, 0));
	CHECK(!p->guest_connected);
	CHECK(atomic64_read(&queued[1]) == 4);
}

/* The state changed between building and sending: sent again. */
static void test_changed_in_flight(void)
{
	struct vsp_token tok;
	struct vsp_port *p;

	setup();
	p = plug(1, 1, true, "");
	up();
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_READY, 1));
	CHECK(next(VIRTIO_CONSOLE_CONSOLE_PORT, 1, 1));
	host_open[1] = true;
	vsp_queue(&sp, p, VSP_MSG_OPEN);
	CHECK(vsp_next(&sp, &tok) && tok.m.hdr.event == VIRTIO_CONSOLE_PORT_OPEN);
	host_open[1] = false;		/* closed while it was in flight */
	vsp_sent(&sp, &tok);
	CHECK(next(VIRTIO_CONSOLE_PORT_OPEN, 1, 0));
	/* RESIZE: consoles only, in the configured field order. */
	p->cols = 80;
	p->rows = 25;
	sp.resize_order = VSERIAL_RESIZE_ROWS_COLS;
	CHECK(vsp_queue(&sp, p, VSP_MSG_RESIZE));
	CHECK(vsp_next(&sp, &tok) && tok.m.hdr.event == VIRTIO_CONSOLE_RESIZE &&
	      tok.m.size[0] == 25 && tok.m.size[1] == 80 && tok.m.hdr.value == 0);
	/* A new session begins before it is sent: not counted against it. */
	vsp_reset(&sp);
	CHECK(recv(0, VIRTIO_CONSOLE_DEVICE_READY, 1));
	vsp_sent(&sp, &tok);		/* counted against the old session */
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));
	plug(2, 2, false, "x");
	CHECK(!vsp_queue(&sp, &ports[2], VSP_MSG_RESIZE));
	/* A PORT_ADD built in one session, sent as the next begins. */
	CHECK(vsp_next(&sp, &tok) && tok.m.hdr.event == VIRTIO_CONSOLE_PORT_ADD);
	vsp_reset(&sp);
	CHECK(recv(0, VIRTIO_CONSOLE_DEVICE_READY, 1));
	vsp_sent(&sp, &tok);
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));	/* still owed */
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 2, 1));
}

/* A VMM's stop and cont, a guest's freeze and restore, a new driver. */
static void test_resets(void)
{
	struct vsp_port *p;

	setup();
	p = plug(1, 1, false, "n");
	up();
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_READY, 1));
	CHECK(next(VIRTIO_CONSOLE_PORT_NAME, 1, 1));
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	/* A repeated DEVICE_READY, no reset between: ignored. */
	CHECK(recv(0, VIRTIO_CONSOLE_DEVICE_READY, 1));
	CHECK(quiet() && p->guest_state == VSP_GUEST_READY);

	/* Stop/cont: the same rings, the session goes on, nothing owed. */
	vsp_reset(&sp);
	CHECK(!vsp_features_ok(&sp, true));
	CHECK(!vsp_driver_ok(&sp, true, true));
	CHECK(quiet() && p->guest_connected && sp.session == VSP_SESSION_MULTI);

	/* Freeze/restore: new rings; nothing until the driver speaks. */
	vsp_reset(&sp);
	CHECK(vsp_driver_ok(&sp, true, false));
	plug(2, 2, false, "late");	/* plugged while the guest slept */
	CHECK(quiet());
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_READY, 1));	/* the resync */
	CHECK(!sp.resync_pending);
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 2, 1));
	CHECK(next(VIRTIO_CONSOLE_PORT_NAME, 1, 1));
	CHECK(next(VIRTIO_CONSOLE_PORT_OPEN, 1, 0));	/* told either way */
	CHECK(quiet() && p->guest_connected);

	/* A restored driver that says nothing: the timeout resyncs. */
	vsp_reset(&sp);
	CHECK(vsp_driver_ok(&sp, true, false));
	vsp_resync_timeout(&sp);
	CHECK(!sp.resync_pending);
	CHECK(next(VIRTIO_CONSOLE_PORT_REMOVE, 2, 1));	/* never made ready */
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 2, 1));

	/* A new driver: DEVICE_READY starts over, every port announced. */
	vsp_reset(&sp);
	CHECK(vsp_driver_ok(&sp, true, false));
	CHECK(recv(0, VIRTIO_CONSOLE_DEVICE_READY, 1));
	CHECK(!p->guest_connected && p->guest_state == VSP_GUEST_ADDED);
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 2, 1));
	CHECK(quiet());
	/* DEVICE_READY 0: the driver failed; nothing changes. */
	vsp_reset(&sp);
	CHECK(recv(0, VIRTIO_CONSOLE_DEVICE_READY, 0));
	CHECK(!sp.device_ready);

	/* Without MULTIPORT: the session ends, port 0 is the console. */
	plug(0, 0, true, "");
	CHECK(vsp_features_ok(&sp, false));
	CHECK(sp.session == VSP_SESSION_NONE);
	CHECK(!vsp_driver_ok(&sp, false, false));
	CHECK(sp.session == VSP_SESSION_SINGLE && ports[0].guest_connected);
	CHECK(quiet());
	vsp_session_end(&sp);
	CHECK(!ports[0].guest_connected && sp.session == VSP_SESSION_NONE);
}

/* Port ids reused while the driver lags. */
static void test_id_reuse(void)
{
	struct vsp_port *old, *new;

	setup();
	up();
	old = plug(1, 1, false, "old");
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));
	/* Unplugged before the driver answered, replaced at once. */
	vsp_unplug(&sp, old, true);
	CHECK(sp.stale_readies[1] == 1);
	new = plug(3, 1, false, "new");
	CHECK(new->replaces);
	CHECK(next(VIRTIO_CONSOLE_PORT_REMOVE, 1, 1));
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));
	/* The old port's answer and PORT_OPEN are not the new port's. */
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_READY, 1));
	CHECK(new->guest_state == VSP_GUEST_ADDED && new->replaces);
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	CHECK(!new->guest_connected);
	/* The new port's own answer: ready, fenced, its own. */
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_READY, 1));
	CHECK(new->guest_state == VSP_GUEST_READY && !new->replaces);
	CHECK(next(VIRTIO_CONSOLE_PORT_NAME, 1, 1));

	/* A transmit ring that cannot be read keeps the quarantine. */
	vsp_unplug(&sp, new, true);
	CHECK(next(VIRTIO_CONSOLE_PORT_REMOVE, 1, 1));
	new = plug(2, 1, false, "");
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));
	fence_ok = false;
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_READY, 1));
	CHECK(new->guest_state == VSP_GUEST_READY && new->replaces);
	CHECK(quiet());
	/* A failed add answers too (PORT_READY 0). */
	vsp_unplug(&sp, new, true);
	CHECK(next(VIRTIO_CONSOLE_PORT_REMOVE, 1, 1));
	new = plug(1, 1, false, "");
	CHECK(next(VIRTIO_CONSOLE_PORT_ADD, 1, 1));
	CHECK(recv(1, VIRTIO_CONSOLE_PORT_READY, 0));
	CHECK(new->answered && new->guest_state == VSP_GUEST_ADDED);
	/* Unplugged before PORT_ADD went out: withdrawn, no PORT_REMOVE. */
	vsp_unplug(&sp, new, true);
	new = plug(1, 1, false, "");
	vsp_unplug(&sp, new, true);
	CHECK(next(VIRTIO_CONSOLE_PORT_REMOVE, 1, 1));	/* the answered one */
	CHECK(quiet());
}

/* What the driver sends is checked. */
/* Did the last message leave exactly one note, saying @what? */
static bool noted(const char *what)
{
	struct vsp_notes nt;

	if (!vsp_take_notes(&sp, &nt) || nt.n != 1 || nt.lost) {
		printf("# %s: %u notes, %u lost, for \"%s\"\n", unit_name,
		       nt.n, nt.lost, what);
		return false;
	}
	if (!strstr(nt.text[0], what)) {
		printf("# %s: noted \"%s\"\n", unit_name, nt.text[0]);
		return false;
	}
	return true;
}

static void test_driver_input(void)
{
	struct virtio_console_control c = { .id = 1 };
	struct vsp_recv_result res;
	struct vsp_notes nt;

	setup();
	up();
	vsp_take_notes(&sp, &nt);
	CHECK(!vsp_recv(&sp, &c, sizeof(c) - 1, &res));	/* short */
	CHECK(noted("short control message (7 bytes)"));
	recv(NPORTS, VIRTIO_CONSOLE_PORT_READY, 1);
	CHECK(noted(">= max_nr_ports ignored"));
	CHECK(quiet());
	/* A port the device does not have: told PORT_REMOVE. */
	recv(2, VIRTIO_CONSOLE_PORT_READY, 1);
	CHECK(noted("the device does not have: PORT_REMOVE"));
	CHECK(next(VIRTIO_CONSOLE_PORT_REMOVE, 2, 1));
	recv(2, VIRTIO_CONSOLE_PORT_READY, 0);		/* failed: nothing */
	CHECK(!vsp_take_notes(&sp, &nt));
	recv(2, VIRTIO_CONSOLE_PORT_OPEN, 1);		/* no port: ignored */
	CHECK(noted("PORT_OPEN for a port 2 the driver does not have"));
	recv(2, 77, 1);					/* unknown event */
	CHECK(noted("unknown control event 77 for port 2"));
	recv(2, VIRTIO_CONSOLE_PORT_ADD, 1);		/* device's event */
	CHECK(noted("unknown control event 1 for port 2"));
	CHECK(quiet());
	c.event = VIRTIO_CONSOLE_PORT_READY;
	c.value = 1;
	CHECK(vsp_recv(&sp, &c, sizeof(c), &res) && !res.port &&
	      res.id == 1 && res.event == VIRTIO_CONSOLE_PORT_READY);
}

/*
 * The driver's mistakes are noted for the caller to log after unlocking:
 * at most VSP_NOTES texts, the rest counted; taking them clears them.
 */
static void test_notes(void)
{
	struct vsp_notes nt;
	int i;

	setup();
	up();
	CHECK(!vsp_take_notes(&sp, &nt));
	CHECK(recv(NPORTS, VIRTIO_CONSOLE_PORT_READY, 1));
	CHECK(vsp_owes(&sp));		/* the caller's worker must run */
	CHECK(vsp_take_notes(&sp, &nt) && nt.n == 1 && !nt.lost);
	CHECK(strstr(nt.text[0], "max_nr_ports") != NULL);
	CHECK(!vsp_owes(&sp) && !vsp_take_notes(&sp, &nt));
	for (i = 0; i < 100; i++)
		CHECK(recv(1, 77, 1));	/* unknown event */
	CHECK(vsp_take_notes(&sp, &nt) && nt.n == VSP_NOTES &&
	      nt.lost == 100 - VSP_NOTES);
	for (i = 0; i < VSP_NOTES; i++)
		CHECK(!strcmp(nt.text[i],
			      "unknown control event 77 for port 1 ignored"));
}

int main(void)
{
	static const struct unit_test tests[] = {
		{ "session_order", test_session_order },
		{ "changed_in_flight", test_changed_in_flight },
		{ "resets", test_resets },
		{ "id_reuse", test_id_reuse },
		{ "driver_input", test_driver_input },
		{ "notes", test_notes },
	};
	int r;

	r = unit_run("proto_test", tests, ARRAY_SIZE(tests));
	vsp_free(&sp);
	return r;
}
