// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_vdpa_test - vdpa_vserial driven over vhost-vdpa, as a VMM does
 *
 * Each test creates its own vdpa_vserial devices ("vdpa dev add"),
 * binds them to vhost_vdpa and plays the guest's virtio-console driver
 * with vdpa_user.c: rings in this process' memory mapped through the
 * device's IOTLB, control messages, kicks and interrupts.  The host end
 * of each port is /dev/vserialN.
 *
 *   protocol.*  control protocol: ports announced, PORT_READY answered
 *               in order, host open/close, emergency write, config
 *               space, many ports with a small control queue
 *   data.*      bytes both ways between the rings and /dev/vserialN,
 *               compared and checksummed, in several ring shapes
 *   hostile.*   one malformed ring, descriptor or control message
 *               each: the host stays healthy, the device touches no
 *               memory outside its mappings, sets NEEDS_RESET where the
 *               ring is malformed (not for ignored control messages),
 *               a second device keeps moving data, and after a reset
 *               the device works again
 *   state.*     suspend/resume in the middle of a transfer, vring base,
 *               index wrap-around, interrupt suppression
 *   pause.*     the VM stops and continues (QEMU's reset and restore
 *               behind the guest's back), with and without SUSPEND
 *   lifecycle.* a guest's suspend and resume, a VMM going away, ports
 *               replugged at the same id with a slow driver, host ends
 *               that outlive the guest's sessions
 *
 * Needs root, vdpa_vserial and vhost_vdpa (the VM test bed has both).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <signal.h>
#include <linux/netlink.h>
#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "uevent.h"
#include "vdpa_user.h"

/*
 * Devices with the module's default parameters are shared by the tests
 * of one run (created on first use, deleted when the run ends): a vDPA
 * device survives its driver going away, and setting it up is slow in
 * the test VM.  Tests that need other parameters create FRESH.
 */
#define VICTIM		"vsr0"
#define OTHER		"vsr1"
#define FRESH		"vs0"
#define AGENT_NAME	"org.qemu.guest_agent.0"
#define FEATURES_MULTI	(VU_FEATURES_BASE | VU_F(VIRTIO_CONSOLE_F_MULTIPORT))
/* The console output buffer of a console port (admin guide). */
#define VSERIAL_CONSOLE_BUF	65536

/* ---- Common helpers ---- */

/* One device: the vhost-vdpa driver side and the host ends of its ports. */
struct side {
	char name[16];
	struct vu_dev *dev;
	struct vu_console con;
	uint64_t features;
	unsigned int nqports;		/* ports with queues set up */
	unsigned int num;		/* their ring size */
	unsigned int slot;		/* their buffer size */
	unsigned int nadd;		/* ports the device announces */
	int host[2];			/* host ends of ports 0 and 1 */
};

static void side_clear(struct side *s)
{
	memset(s, 0, sizeof(*s));
	s->host[0] = -1;
	s->host[1] = -1;
}

static bool shared_name(const char *name)
{
	return !strcmp(name, VICTIM) || !strcmp(name, OTHER);
}

static void side_close(struct side *s)
{
	int i;

	for (i = 0; i < 2; i++)
		if (s->host[i] >= 0)
			close(s->host[i]);
	vu_console_free(&s->con);
	vu_close(s->dev);
	if (s->name[0] && !shared_name(s->name))
		vu_dev_del(s->name);
	side_clear(s);
}

static pid_t main_pid;

static void __attribute__((constructor)) remember_main(void)
{
	main_pid = getpid();
}

/* The run is over: delete the shared devices. */
static void __attribute__((destructor)) delete_shared(void)
{
	if (getpid() == main_pid) {
		vu_dev_del(VICTIM);
		vu_dev_del(OTHER);
	}
}

static void env_setup(struct __test_metadata *_metadata)
{
	ASSERT_EQ(0, vu_load_modules()) {
		TH_LOG("%s", vu_error());
	}
	/* Leftovers of a test that was killed. */
	ASSERT_EQ(0, vu_dev_del(FRESH));
	ASSERT_EQ(0, vu_set_params(VU_DEFAULT_MAX_PORTS, VU_DEFAULT_PORTS)) {
		TH_LOG("%s", vu_error());
	}
}

static void env_teardown(void)
{
	vu_dev_del(FRESH);
	vu_set_params(VU_DEFAULT_MAX_PORTS, VU_DEFAULT_PORTS);
}

/*
 * Create device @name with the given module parameters (a shared one
 * with the defaults only, and only if it does not exist) and open it.
 */
static void side_create(struct __test_metadata *_metadata, struct side *s,
			const char *name, unsigned int max_ports,
			const char *ports, uint64_t dev_features,
			const struct vu_opts *opts)
{
	static const struct vu_opts small = { .arena_size = 2 << 20 };
	char path[128];
	struct stat st;

	side_clear(s);
	snprintf(path, sizeof(path), "/sys/bus/vdpa/devices/%s", name);
	if (!shared_name(name) || stat(path, &st)) {
		ASSERT_TRUE(!shared_name(name) ||
			    (max_ports == VU_DEFAULT_MAX_PORTS &&
			     !strcmp(ports, VU_DEFAULT_PORTS) && !dev_features));
		ASSERT_EQ(0, vu_set_params(max_ports, ports)) {
			TH_LOG("%s", vu_error());
		}
		ASSERT_EQ(0, vu_dev_add(name, dev_features, "vhost_vdpa")) {
			TH_LOG("%s", vu_error());
		}
		ASSERT_EQ(0, vu_set_params(VU_DEFAULT_MAX_PORTS,
					   VU_DEFAULT_PORTS));
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	ASSERT_EQ(0, vu_open(name, opts ?: &small, &s->dev)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(3, s->dev->device_id);
}

/* Console output left in a shared device's host buffer by earlier tests. */
static void drain_console(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Initialise the device and run the handshake for @nadd ports. */
static void side_up(struct __test_metadata *_metadata, struct side *s,
		    uint64_t features, unsigned int nqports, unsigned int num,
		    unsigned int slot, unsigned int nadd)
{
	vu_console_free(&s->con);
	s->features = features;
	s->nqports = nqports;
	s->num = num;
	s->slot = slot;
	s->nadd = nadd;
	ASSERT_EQ(0, vu_console_init(&s->con, s->dev, features, nqports, num,
				     slot)) {
		TH_LOG("%s: %s", s->name, vu_error());
	}
	if (!(features & VU_F(VIRTIO_CONSOLE_F_MULTIPORT)))
		return;
	ASSERT_EQ(0, vu_console_handshake(&s->con, nadd)) {
		TH_LOG("%s: %s", s->name, vu_error());
	}
	ASSERT_EQ(0, s->con.unexpected) {
		TH_LOG("%s: %s", s->name, s->con.why);
	}
}

static int host_open(struct __test_metadata *_metadata, const char *name,
		     unsigned int id)
{
	char path[64];
	int fd;

	if (vu_port_path(name, id, path, sizeof(path))) {
		TH_LOG("%s", vu_error());
		return -1;
	}
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		TH_LOG("open %s: %s", path, strerror(errno));
	return fd;
}

/* sysfs attribute of the host end @fd of @name's port @id. */
static long port_attr(const char *name, unsigned int id, const char *attr)
{
	char path[64];

	if (vu_port_path(name, id, path, sizeof(path)))
		return -1;
	return vu_port_attr(path, attr);
}

/* Wait for the next control message; fails the test on timeout. */
static void expect_msg(struct __test_metadata *_metadata, struct side *s,
		       uint32_t id, uint16_t event, uint16_t value,
		       struct vu_ctrl_msg *out)
{
	struct vu_ctrl_msg m;

	ASSERT_EQ(1, vu_ctrl_recv(s->dev, &m, 3000)) {
		TH_LOG("%s: no %s for port %u: %s", s->name,
		       vu_event_name(event), id, vu_error());
	}
	vu_console_account(&s->con, &m);
	ASSERT_EQ(0, s->con.unexpected) {
		TH_LOG("%s: %s", s->name, s->con.why);
	}
	ASSERT_EQ(event, m.event) {
		TH_LOG("%s: got %s for port %u, expected %s for port %u",
		       s->name, vu_event_name(m.event), m.id,
		       vu_event_name(event), id);
	}
	ASSERT_EQ(id, m.id);
	ASSERT_EQ(value, m.value);
	if (out)
		*out = m;
}

/* No control message may arrive for @ms. */
static void expect_quiet(struct __test_metadata *_metadata, struct side *s,
			 int ms)
{
	struct vu_ctrl_msg m;
	int r;

	r = vu_ctrl_recv(s->dev, &m, ms);
	ASSERT_EQ(0, r) {
		TH_LOG("%s: unexpected %s (value %u) for port %u", s->name,
		       vu_event_name(m.event), m.value, m.id);
	}
}

/* Driver side opens port @id, host side opens it too; both connected. */
static void port_connect(struct __test_metadata *_metadata, struct side *s,
			 unsigned int id)
{
	ASSERT_EQ(0, vu_console_open_port(&s->con, id)) {
		TH_LOG("%s", vu_error());
	}
	s->host[id] = host_open(_metadata, s->name, id);
	ASSERT_LE(0, s->host[id]);
	expect_msg(_metadata, s, id, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	ASSERT_EQ(1, port_attr(s->name, id, "guest_connected"));
	ASSERT_EQ(1, port_attr(s->name, id, "host_connected"));
}

/* Bytes both ways through port @id, compared; fails the test if not. */
static void roundtrip(struct __test_metadata *_metadata, struct side *s,
		      unsigned int id, size_t len, uint64_t seed)
{
	struct vu_xfer x = { .seed = seed, .max_segs = 4, .indirect = true };
	uint8_t *data = malloc(len);

	ASSERT_NE(NULL, data);
	vu_fill_random(&seed, data, len);
	ASSERT_EQ(0, vu_xfer_g2h(s->dev, id, s->host[id], data, len, &x)) {
		TH_LOG("%s: %s", s->name, vu_error());
	}
	ASSERT_EQ(x.crc_sent, x.crc_got);
	memset(&x, 0, sizeof(x));
	x.seed = seed;
	x.max_segs = 4;
	x.indirect = true;
	ASSERT_EQ(0, vu_xfer_h2g(s->dev, id, s->host[id], data, len, &x)) {
		TH_LOG("%s: %s", s->name, vu_error());
	}
	ASSERT_EQ(x.crc_sent, x.crc_got);
	ASSERT_EQ(0, s->dev->proto_errors) {
		TH_LOG("%s: %s", s->name, s->dev->last_proto_error);
	}
	ASSERT_FALSE(vu_needs_reset(s->dev));
	free(data);
}

static uint8_t dev_status(struct __test_metadata *_metadata,
			  struct vu_dev *dev)
{
	uint8_t st = 0;

	EXPECT_EQ(0, vu_get_status(dev, &st));
	return st;
}

/* ---- Protocol ---- */

FIXTURE(protocol) {
	struct side s;
};

FIXTURE_SETUP(protocol)
{
	side_clear(&self->s);
	env_setup(_metadata);
}

FIXTURE_TEARDOWN(protocol)
{
	side_close(&self->s);
	env_teardown();
}

/* What the device tells a VMM about itself. */
TEST_F(protocol, device_info)
{
	struct side *s = &self->s;
	uint32_t u32 = 0;
	uint8_t cfg[VU_CFG_SIZE];
	struct vhost_vring_state vs = { .index = 0 };

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	EXPECT_EQ(VU_FEATURES_ALL, s->dev->dev_features);
	EXPECT_EQ(2 * (VU_DEFAULT_MAX_PORTS + 1), s->dev->nvqs);
	EXPECT_EQ(VU_VQ_NUM_MAX, s->dev->vq_num_max);
	EXPECT_TRUE(s->dev->backend_offered & VU_F(VHOST_BACKEND_F_SUSPEND));
	EXPECT_TRUE(s->dev->backend_offered & VU_F(VHOST_BACKEND_F_RESUME));
	ASSERT_EQ(0, ioctl(s->dev->fd, VHOST_VDPA_GET_CONFIG_SIZE, &u32));
	EXPECT_EQ(VU_CFG_SIZE, u32);
	ASSERT_EQ(0, ioctl(s->dev->fd, VHOST_VDPA_GET_VRING_SIZE, &vs));
	EXPECT_LE(vs.num, VU_VQ_NUM_MAX);
	EXPECT_LE(1, vs.num);

	ASSERT_EQ(0, vu_get_config(s->dev, 0, cfg, sizeof(cfg)));
	EXPECT_EQ(VU_DEFAULT_MAX_PORTS, cfg[4] | cfg[5] << 8 |
		  cfg[6] << 16 | (uint32_t)cfg[7] << 24);
	/* Reads at any offset agree with the whole. */
	for (u32 = 0; u32 < VU_CFG_SIZE; u32++) {
		uint8_t b;

		ASSERT_EQ(0, vu_get_config(s->dev, u32, &b, 1));
		EXPECT_EQ(cfg[u32], b);
	}
	/* Beyond the config space: refused by vhost-vdpa. */
	EXPECT_NE(0, vu_get_config(s->dev, VU_CFG_SIZE - 2, cfg, 4));

	/* Features: a subset is accepted, FEATURES_OK sticks. */
	ASSERT_EQ(0, vu_reset(s->dev));
	ASSERT_EQ(0, vu_negotiate(s->dev, FEATURES_MULTI)) {
		TH_LOG("%s", vu_error());
	}
	EXPECT_EQ(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		  VIRTIO_CONFIG_S_FEATURES_OK, dev_status(_metadata, s->dev));
	/* Virtio 1.x only: without VERSION_1, FEATURES_OK does not stick. */
	ASSERT_EQ(0, vu_reset(s->dev));
	EXPECT_NE(0, vu_negotiate(s->dev, VU_F(VIRTIO_F_ACCESS_PLATFORM) |
				  VU_F(VIRTIO_CONSOLE_F_MULTIPORT)));
	ASSERT_EQ(0, vu_reset(s->dev));
	EXPECT_EQ(0, dev_status(_metadata, s->dev));
}

/*
 * vhost_vdpa allocates its queue array with one kmalloc_array() of
 * 2 * (max_ports + 1) struct vhost_virtqueue (18856 bytes on 6.12): the
 * page allocator's 4 MiB limit caps what it can bind at 110 ports.
 */
#define VHOST_VDPA_MAX_PORTS	110

/* max_nr_ports follows the max_ports parameter; queue count with it. */
TEST_F(protocol, config_max_nr_ports)
{
	static const unsigned int counts[] = {
		1, 2, 64, VHOST_VDPA_MAX_PORTS
	};
	struct side *s = &self->s;
	unsigned int i;

	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		uint32_t max = 0;

		side_create(_metadata, s, FRESH, counts[i], "console:", 0,
			    NULL);
		ASSERT_EQ(0, vu_get_config(s->dev, VU_CFG_MAX_NR_PORTS, &max,
					   sizeof(max)));
		EXPECT_EQ(counts[i], le32toh(max));
		EXPECT_EQ(2 * (counts[i] + 1), s->dev->nvqs);
		side_close(s);
	}
	/* Out of range: refused. */
	EXPECT_NE(0, vu_set_params(0, "console:"));
	EXPECT_NE(0, vu_set_params(512, "console:"));
}

/*
 * After DEVICE_READY: PORT_ADD for every port and nothing else.  After
 * PORT_READY: CONSOLE_PORT (console), PORT_NAME (named), PORT_OPEN (host
 * end open), in that order; nothing for a port before its PORT_READY.
 */
TEST_F(protocol, handshake_order)
{
	struct side *s = &self->s;
	struct vu_ctrl_msg m;
	int h1;

	side_create(_metadata, s, FRESH, 8, "console:,a.b.c,named.port.two",
		    0, NULL);
	ASSERT_EQ(0, vu_console_init(&s->con, s->dev, VU_FEATURES_ALL, 3, 32,
				     4096));
	/* The host opens port 1 before the driver knows it: owed, held. */
	h1 = host_open(_metadata, s->name, 1);
	ASSERT_LE(0, h1);
	ASSERT_EQ(0, vu_ctrl_fill(s->dev));
	expect_quiet(_metadata, s, 300);

	ASSERT_EQ(0, vu_ctrl_send(s->dev, VIRTIO_CONSOLE_BAD_ID,
				  VIRTIO_CONSOLE_DEVICE_READY, 1)) {
		TH_LOG("%s", vu_error());
	}
	expect_msg(_metadata, s, 0, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	expect_msg(_metadata, s, 2, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	expect_quiet(_metadata, s, 300);

	/* Port 1: named, host end open. */
	s->con.ports[1].ready = true;
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_READY, 1));
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_NAME, 1, &m);
	EXPECT_STREQ("a.b.c", m.name);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	expect_quiet(_metadata, s, 200);

	/* Port 0: console without a name, host end closed. */
	s->con.ports[0].ready = true;
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 0, VIRTIO_CONSOLE_PORT_READY, 1));
	expect_msg(_metadata, s, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL);
	expect_quiet(_metadata, s, 200);

	/* Port 2 failed on the driver side (value 0): nothing follows. */
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 2, VIRTIO_CONSOLE_PORT_READY, 0));
	expect_quiet(_metadata, s, 200);
	/* ... and a later PORT_READY 1 is still answered. */
	s->con.ports[2].ready = true;
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 2, VIRTIO_CONSOLE_PORT_READY, 1));
	expect_msg(_metadata, s, 2, VIRTIO_CONSOLE_PORT_NAME, 1, &m);
	EXPECT_STREQ("named.port.two", m.name);
	expect_quiet(_metadata, s, 200);

	/* Host open and close after PORT_READY. */
	s->host[0] = host_open(_metadata, s->name, 0);
	ASSERT_LE(0, s->host[0]);
	expect_msg(_metadata, s, 0, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	close(h1);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 0, NULL);
	h1 = host_open(_metadata, s->name, 1);
	ASSERT_LE(0, h1);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	/* One opener at a time. */
	{
		char path[64];

		ASSERT_EQ(0, vu_port_path(s->name, 1, path, sizeof(path)));
		EXPECT_EQ(-1, open(path, O_RDWR));
		EXPECT_EQ(EBUSY, errno);
	}
	expect_quiet(_metadata, s, 200);
	close(h1);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 0, NULL);
	EXPECT_EQ(0, s->con.unexpected);
	EXPECT_EQ(0, s->dev->proto_errors);
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/* A named console port: CONSOLE_PORT, PORT_NAME, PORT_OPEN. */
TEST_F(protocol, handshake_named_console)
{
	struct side *s = &self->s;
	struct vu_ctrl_msg m;

	side_create(_metadata, s, FRESH, 4, "console:hvc.named,x", 0, NULL);
	ASSERT_EQ(0, vu_console_init(&s->con, s->dev, VU_FEATURES_ALL, 2, 16,
				     4096));
	s->host[0] = host_open(_metadata, s->name, 0);
	ASSERT_LE(0, s->host[0]);
	ASSERT_EQ(1, port_attr(s->name, 0, "console"));
	ASSERT_EQ(0, vu_ctrl_fill(s->dev));
	ASSERT_EQ(0, vu_ctrl_send(s->dev, VIRTIO_CONSOLE_BAD_ID,
				  VIRTIO_CONSOLE_DEVICE_READY, 1)) {
		TH_LOG("%s", vu_error());
	}
	expect_msg(_metadata, s, 0, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	s->con.ports[0].ready = true;
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 0, VIRTIO_CONSOLE_PORT_READY, 1));
	expect_msg(_metadata, s, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL);
	expect_msg(_metadata, s, 0, VIRTIO_CONSOLE_PORT_NAME, 1, &m);
	EXPECT_STREQ("hvc.named", m.name);
	expect_msg(_metadata, s, 0, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	expect_quiet(_metadata, s, 200);
}

/*
 * DEVICE_READY again after a reset: the ports are announced again (the
 * reset made the driver forget them).
 */
TEST_F(protocol, reset_announces_again)
{
	struct side *s = &self->s;
	int i;

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	for (i = 0; i < 3; i++) {
		side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
		EXPECT_TRUE(s->con.ports[0].console);
		EXPECT_STREQ(AGENT_NAME, s->con.ports[1].name);
		EXPECT_EQ(1, s->con.ports[1].names);
		EXPECT_EQ(0, s->con.ports[0].names);
	}
}

/* A byte written to emerg_wr reaches the host end of console port 0. */
TEST_F(protocol, emerg_write)
{
	static const char msg[] = "emergency!";
	struct side *s = &self->s;
	char buf[64];
	uint32_t v;
	ssize_t n;
	size_t i, got = 0;

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	s->host[0] = host_open(_metadata, s->name, 0);
	ASSERT_LE(0, s->host[0]);
	drain_console(s->host[0]);

	/* Before any initialisation: the spec allows it. */
	v = htole32('<');
	ASSERT_EQ(0, vu_set_config(s->dev, VU_CFG_EMERG_WR, &v, 4));
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	for (i = 0; i < strlen(msg); i++) {
		/* Only the low byte counts. */
		v = htole32(0x12345600 | (uint8_t)msg[i]);
		ASSERT_EQ(0, vu_set_config(s->dev, VU_CFG_EMERG_WR, &v, 4));
	}
	/* A one-byte write of emerg_wr, and one covering the field's start. */
	buf[0] = '>';
	ASSERT_EQ(0, vu_set_config(s->dev, VU_CFG_EMERG_WR, buf, 1));
	memcpy(buf, "\0\0\0\0#", 5);
	ASSERT_EQ(0, vu_set_config(s->dev, VU_CFG_EMERG_WR - 4, buf, 5));
	/* Writes elsewhere in config space change nothing. */
	v = htole32(0x41414141);
	ASSERT_EQ(0, vu_set_config(s->dev, VU_CFG_COLS, &v, 4));
	ASSERT_EQ(0, vu_get_config(s->dev, VU_CFG_MAX_NR_PORTS, &v, 4));
	EXPECT_EQ(VU_DEFAULT_MAX_PORTS, le32toh(v));

	memset(buf, 0, sizeof(buf));
	while (got < strlen(msg) + 3) {
		ASSERT_LT(0, vu_poll(s->host[0], POLLIN, 2000)) {
			TH_LOG("got only '%.*s'", (int)got, buf);
		}
		n = read(s->host[0], buf + got, sizeof(buf) - 1 - got);
		ASSERT_LT(0, n);
		got += n;
	}
	EXPECT_STREQ("<emergency!>#", buf);
	EXPECT_EQ(0, port_attr(s->name, 0, "console_dropped"));
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/*
 * 40 ports (more than 32, more than fit in the control receive queue of
 * 8 entries): every PORT_ADD arrives as the driver refills, and every
 * port's answer to PORT_READY.  The driver kicks only when avail_event
 * asks (EVENT_IDX), so the device must publish it when it runs dry.
 */
TEST_F_TIMEOUT(protocol, many_ports_small_ctrl_queue, 120)
{
	struct side *s = &self->s;
	char ports[4096] = "console:";
	char name[32];
	unsigned int i;

	for (i = 1; i < 40; i++) {
		snprintf(name, sizeof(name), ",port.%02u", i);
		strcat(ports, name);
	}
	ASSERT_EQ(0, vu_set_params(64, ports));
	side_create(_metadata, s, FRESH, 64, ports, 0, NULL);
	ASSERT_EQ(130, s->dev->nvqs);
	ASSERT_EQ(0, vu_console_init(&s->con, s->dev, VU_FEATURES_ALL, 1, 8,
				     4096));
	ASSERT_EQ(64, s->con.nports);
	s->dev->vqs[VU_CTRL_RXQ].event_kick = true;
	s->dev->vqs[VU_CTRL_TXQ].event_kick = true;
	ASSERT_EQ(0, vu_console_handshake(&s->con, 40)) {
		TH_LOG("%s", vu_error());
	}
	EXPECT_EQ(0, s->con.unexpected) {
		TH_LOG("%s", s->con.why);
	}
	for (i = 0; i < 64; i++) {
		struct vu_port_state *p = &s->con.ports[i];

		EXPECT_EQ(i < 40, p->adds) {
			TH_LOG("port %u: %u PORT_ADDs", i, p->adds);
		}
		if (i >= 40)
			continue;
		EXPECT_EQ(i == 0, p->consoles);
		EXPECT_EQ(i != 0, p->names) {
			TH_LOG("port %u: %u PORT_NAMEs", i, p->names);
		}
		if (i) {
			snprintf(name, sizeof(name), "port.%02u", i);
			EXPECT_STREQ(name, p->name);
		}
		EXPECT_EQ(0, p->opens);
	}
	EXPECT_EQ(0, s->dev->proto_errors);
}

#define VHOST_MAX_PORTS	110

/*
 * The largest device vhost_vdpa can take.  Its probe allocates the state
 * of all queues with one kmalloc_array() of 18856 bytes per queue (Linux
 * 6.12, x86-64): at most 4 MiB, 222 queues, max_nr_ports 110 (more fails
 * the bind with a page allocator warning; the admin guide says so).
 * max_nr_ports 511 is covered through virtio_vdpa (vserial_test).  The
 * last queues (220/221, port 109) are driven on the queues alone: the
 * device ignores the queues of ports it does not have, which must not
 * break anything.
 */
TEST_F_TIMEOUT(protocol, max_nr_ports_vhost, 120)
{
	struct side *s = &self->s;
	struct vu_qcfg qs[6];
	uint32_t max = 0;

	ASSERT_EQ(0, vu_set_params(VHOST_MAX_PORTS, VU_DEFAULT_PORTS));
	ASSERT_EQ(0, vu_dev_add(FRESH, 0, "vhost_vdpa")) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(0, vu_set_params(VU_DEFAULT_MAX_PORTS, VU_DEFAULT_PORTS));
	snprintf(s->name, sizeof(s->name), "%s", FRESH);
	ASSERT_EQ(0, vu_open(FRESH, NULL, &s->dev)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(2 * (VHOST_MAX_PORTS + 1), s->dev->nvqs);
	ASSERT_EQ(0, vu_get_config(s->dev, VU_CFG_MAX_NR_PORTS, &max, 4));
	ASSERT_EQ(VHOST_MAX_PORTS, le32toh(max));

	qs[0] = (struct vu_qcfg){ VU_CTRL_RXQ, 64, VU_CTRL_BUF, 0 };
	qs[1] = (struct vu_qcfg){ VU_CTRL_TXQ, 64, VU_CTRL_BUF, 0 };
	qs[2] = (struct vu_qcfg){ vu_port_rxq(1), 64, 4096, 0 };
	qs[3] = (struct vu_qcfg){ vu_port_txq(1), 64, 4096, 0 };
	qs[4] = (struct vu_qcfg){ vu_port_rxq(VHOST_MAX_PORTS - 1), 8, 4096, 0 };
	qs[5] = (struct vu_qcfg){ vu_port_txq(VHOST_MAX_PORTS - 1), 8, 4096, 0 };
	ASSERT_EQ(2 * VHOST_MAX_PORTS + 1, qs[5].idx);
	memset(&s->con, 0, sizeof(s->con));
	s->con.dev = s->dev;
	s->con.nports = VHOST_MAX_PORTS;
	s->con.ports = calloc(VHOST_MAX_PORTS, sizeof(*s->con.ports));
	ASSERT_NE(NULL, s->con.ports);
	ASSERT_EQ(0, vu_init(s->dev, VU_FEATURES_ALL, qs, 6)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(0, vu_console_handshake(&s->con, 2)) {
		TH_LOG("%s", vu_error());
	}
	/* A buffer on the queues of the last port, which does not exist. */
	ASSERT_LE(0, vu_vq_add1(&s->dev->vqs[2 * VHOST_MAX_PORTS + 1], "x", 1, false));
	ASSERT_LE(0, vu_vq_kick(&s->dev->vqs[2 * VHOST_MAX_PORTS + 1]));
	ASSERT_LE(0, vu_vq_add1(&s->dev->vqs[2 * VHOST_MAX_PORTS], NULL, 64, true));
	ASSERT_LE(0, vu_vq_kick(&s->dev->vqs[2 * VHOST_MAX_PORTS]));
	/* Port 1 works. */
	ASSERT_EQ(0, vu_console_open_port(&s->con, 1));
	s->host[1] = host_open(_metadata, s->name, 1);
	ASSERT_LE(0, s->host[1]);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	roundtrip(_metadata, s, 1, 50000, VHOST_MAX_PORTS);
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/*
 * The longest port name (255 bytes) arrives whole; a control receive
 * buffer too small for it gets what fits and nothing beyond.
 */
TEST_F(protocol, long_port_name)
{
	struct side *s = &self->s;
	char ports[300] = "console:,";
	uint8_t raw[16];
	uint16_t event;
	struct vu_vq *crx;
	uint16_t head;
	uint32_t len;
	size_t i;

	for (i = 0; i < 255; i++)
		ports[9 + i] = 'a' + i % 26;
	ports[9 + 255] = '\0';
	side_create(_metadata, s, FRESH, 4, ports, 0, NULL);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	EXPECT_EQ(1, s->con.ports[1].names);
	EXPECT_STREQ(ports + 9, s->con.ports[1].name);

	/* Again with 16-byte control buffers. */
	vu_console_free(&s->con);
	ASSERT_EQ(0, vu_console_init(&s->con, s->dev, VU_FEATURES_ALL, 2, 16,
				     4096));
	crx = &s->dev->vqs[VU_CTRL_RXQ];
	while (crx->nfree)
		ASSERT_LE(0, vu_vq_add1(crx, NULL, 16, true));
	vu_vq_kick(crx);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, VIRTIO_CONSOLE_BAD_ID,
				  VIRTIO_CONSOLE_DEVICE_READY, 1));
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_READY, 1));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(1, vu_vq_wait_used(crx, 2000));
		ASSERT_EQ(1, vu_vq_get_used(crx, &head, &len));
		EXPECT_GE(16, len);
		vu_vq_copy_in(crx, head, len, raw, sizeof(raw));
	}
	/* The third is PORT_NAME, cut at 16 bytes. */
	EXPECT_EQ(16, len);
	memcpy(&event, raw + 4, 2);
	EXPECT_EQ(VIRTIO_CONSOLE_PORT_NAME, le16toh(event));
	EXPECT_EQ(0, memcmp(raw + 8, ports + 9, 8));
	EXPECT_EQ(0, s->dev->proto_errors) {
		TH_LOG("%s", s->dev->last_proto_error);
	}
	EXPECT_TRUE(vu_canaries_ok(s->dev));
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/* Without MULTIPORT: one console port 0 on queues 0/1, no control queue. */
TEST_F(protocol, single_port)
{
	struct side *s = &self->s;
	uint8_t data[3000];
	struct vu_xfer x = { .seed = 3 };
	uint64_t seed = 3;

	side_create(_metadata, s, FRESH, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, VU_FEATURES_BASE | VU_F(0) | VU_F(2) |
		    VU_F(VIRTIO_RING_F_INDIRECT_DESC) |
		    VU_F(VIRTIO_RING_F_EVENT_IDX), NULL);
	EXPECT_FALSE(s->dev->dev_features & VU_F(VIRTIO_CONSOLE_F_MULTIPORT));
	s->host[0] = host_open(_metadata, s->name, 0);
	ASSERT_LE(0, s->host[0]);
	side_up(_metadata, s, s->dev->dev_features, 1, 32, 4096, 1);
	/* The driver side counts as open from DRIVER_OK on. */
	EXPECT_EQ(1, port_attr(s->name, 0, "guest_connected"));
	vu_fill_random(&seed, data, sizeof(data));
	ASSERT_EQ(0, vu_xfer_g2h(s->dev, 0, s->host[0], data, sizeof(data),
				 &x)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(0, vu_xfer_h2g(s->dev, 0, s->host[0], data, sizeof(data),
				 &x)) {
		TH_LOG("%s", vu_error());
	}
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/* ---- Data ---- */

FIXTURE(data) {
	struct side s;
};

FIXTURE_VARIANT(data) {
	uint64_t features;
	unsigned int num;
	unsigned int slot;
	unsigned int max_segs;
	bool indirect;
	bool event_kick;
	size_t len;
};

/* Split rings, direct chains of up to 4 segments. */
FIXTURE_VARIANT_ADD(data, plain) {
	.features = FEATURES_MULTI,
	.num = 256, .slot = 4096, .max_segs = 4, .len = 1 << 20,
};

/* Indirect tables of up to 16 entries, direct chains mixed in. */
FIXTURE_VARIANT_ADD(data, indirect) {
	.features = VU_FEATURES_ALL & ~VU_F(VIRTIO_RING_F_EVENT_IDX),
	.num = 128, .slot = 8192, .max_segs = 16, .indirect = true,
	.len = 1 << 20,
};

/* EVENT_IDX: the driver kicks only when avail_event asks for it. */
FIXTURE_VARIANT_ADD(data, event_idx) {
	.features = VU_FEATURES_ALL,
	.num = 64, .slot = 4096, .max_segs = 3, .indirect = true,
	.event_kick = true, .len = 1 << 20,
};

/* A ring of one entry. */
FIXTURE_VARIANT_ADD(data, ring_of_one) {
	.features = FEATURES_MULTI,
	.num = 1, .slot = 4096, .max_segs = 1, .len = 64 << 10,
};

/* Many tiny segments: chains of up to 16 buffers of at most 16 bytes. */
FIXTURE_VARIANT_ADD(data, tiny_segments) {
	.features = VU_FEATURES_ALL,
	.num = 1024, .slot = 16, .max_segs = 16, .indirect = true,
	.event_kick = true, .len = 128 << 10,
};

FIXTURE_SETUP(data)
{
	unsigned int i;

	struct vu_opts opts = {
		.arena_size = 6 * (size_t)variant->num *
			      ((variant->slot > VU_CTRL_BUF ? variant->slot :
				VU_CTRL_BUF) + 16 * VU_MAX_SEGS + 32) +
			      (1 << 20),
	};

	side_clear(&self->s);
	env_setup(_metadata);
	side_create(_metadata, &self->s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, &opts);
	side_up(_metadata, &self->s, variant->features, 2, variant->num,
		variant->slot, 2);
	for (i = 0; i < self->s.dev->nvqs; i++)
		self->s.dev->vqs[i].event_kick = variant->event_kick;
}

FIXTURE_TEARDOWN(data)
{
	side_close(&self->s);
	env_teardown();
}

static void xfer_both(struct __test_metadata *_metadata, struct side *s,
		      unsigned int id, const FIXTURE_VARIANT(data) *variant)
{
	struct vu_xfer x = {
		.max_segs = variant->max_segs,
		.max_chunk = variant->slot * variant->max_segs,
		.indirect = variant->indirect,
		.seed = 1000 + id,
	};
	uint64_t seed = 42 + id, t;
	uint8_t *data = malloc(variant->len);

	ASSERT_NE(NULL, data);
	vu_fill_random(&seed, data, variant->len);

	t = vu_now_ms();
	ASSERT_EQ(0, vu_xfer_g2h(s->dev, id, s->host[id], data, variant->len,
				 &x)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(x.crc_sent, x.crc_got);
	ksft_print_msg("port %u guest->host: %zu bytes in %u chains, crc32 %08x, %llu ms\n",
		       id, x.done, x.chains, x.crc_got,
		       (unsigned long long)(vu_now_ms() - t));

	x.seed = 2000 + id;
	t = vu_now_ms();
	ASSERT_EQ(0, vu_xfer_h2g(s->dev, id, s->host[id], data, variant->len,
				 &x)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(x.crc_sent, x.crc_got);
	ksft_print_msg("port %u host->guest: %zu bytes in %u chains, crc32 %08x, %llu ms\n",
		       id, x.done, x.chains, x.crc_got,
		       (unsigned long long)(vu_now_ms() - t));
	free(data);

	EXPECT_EQ(0, s->dev->proto_errors) {
		TH_LOG("%s", s->dev->last_proto_error);
	}
	EXPECT_TRUE(vu_canaries_ok(s->dev));
	EXPECT_FALSE(vu_needs_reset(s->dev));
	/* The driver did not suppress interrupts: it got some. */
	EXPECT_LT(0, vu_vq_calls(&s->dev->vqs[vu_port_rxq(id)]));
	EXPECT_LT(0, vu_vq_calls(&s->dev->vqs[vu_port_txq(id)]));
}

/* Port 1 (data port): guest->host and host->guest, compared. */
TEST_F_TIMEOUT(data, both_ways, 120)
{
	port_connect(_metadata, &self->s, 1);
	xfer_both(_metadata, &self->s, 1, variant);
}

/*
 * Port 0 (console): its output is taken at the kick into the console
 * buffer (64 KiB); the host reads it from there.
 */
TEST_F_TIMEOUT(data, console_port, 120)
{
	FIXTURE_VARIANT(data) v = *variant;

	if (v.len > 60000)
		v.len = 60000;
	port_connect(_metadata, &self->s, 0);
	drain_console(self->s.host[0]);
	xfer_both(_metadata, &self->s, 0, &v);
	EXPECT_EQ(0, port_attr(self->s.name, 0, "console_dropped"));
}

/* Host end semantics with the driver side closed and open. */
static void lc_alarm(int sig)
{
}

/*
 * A blocking read(2) of @fd for at most @ms: its result, or -2 if it was
 * still blocked (then interrupted by a signal, nothing lost: a signal
 * before any byte ends it with EINTR).
 */
static ssize_t read_within(int fd, void *buf, size_t len, int ms)
{
	struct sigaction sa = { .sa_handler = lc_alarm }, old;
	struct itimerval t = { .it_value = { ms / 1000, ms % 1000 * 1000 } };
	struct itimerval off = { 0 };
	ssize_t n;

	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &t, NULL);
	n = read(fd, buf, len);
	if (n < 0 && errno == EINTR)
		n = -2;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	return n;
}

TEST_F(data, host_end_semantics)
{
	struct side *s = &self->s;
	struct vu_vq *rxq = &s->dev->vqs[vu_port_rxq(1)];
	char buf[64];
	int fd, flags;
	uint16_t head;
	uint32_t len;
	short ev;

	fd = host_open(_metadata, s->name, 1);
	ASSERT_LE(0, fd);
	s->host[1] = fd;
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);

	/*
	 * Driver side closed: read and write would block; poll says the
	 * guest side is away (POLLRDHUP), not that no data will ever come
	 * (POLLHUP).
	 */
	EXPECT_EQ(0, port_attr(s->name, 1, "guest_connected"));
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, write(fd, "x", 1));
	EXPECT_EQ(EAGAIN, errno);
	ev = vu_poll(fd, POLLIN | POLLOUT | POLLRDHUP, 0);
	EXPECT_EQ(POLLRDHUP, ev);

	/* Open, no buffers posted: read and write would block. */
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	EXPECT_EQ(1, port_attr(s->name, 1, "guest_connected"));
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, write(fd, "x", 1));
	EXPECT_EQ(EAGAIN, errno);
	ev = vu_poll(fd, POLLIN | POLLOUT | POLLRDHUP, 0);
	EXPECT_EQ(0, ev);

	/* A receive buffer: POLLOUT, and the write lands in it. */
	ASSERT_LE(0, vu_vq_add1(rxq, NULL, rxq->slot_size < 100 ?
				rxq->slot_size : 100, true));
	ASSERT_LE(0, vu_vq_kick(rxq));
	EXPECT_EQ(POLLOUT, vu_poll(fd, POLLOUT, 2000) & (POLLOUT | POLLERR));
	EXPECT_EQ(5, write(fd, "hello", 5));
	{
		ASSERT_EQ(1, vu_vq_wait_used(rxq, 2000));
		ASSERT_EQ(1, vu_vq_get_used(rxq, &head, &len));
		/* The buffer holding data goes back at the write's end. */
		EXPECT_EQ(5, len);
		EXPECT_EQ(5, vu_vq_copy_in(rxq, head, len, buf, sizeof(buf)));
		EXPECT_EQ(0, memcmp(buf, "hello", 5));
	}
	/* A transmit buffer: POLLIN, read returns it. */
	ASSERT_LE(0, vu_port_send(s->dev, 1, "world", 5, 1, false));
	EXPECT_TRUE(vu_poll(fd, POLLIN, 2000) & POLLIN);
	EXPECT_EQ(5, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "world", 5));

	/* Driver closes: waiting again, POLLRDHUP; what it sent stays. */
	while (vu_vq_get_used(&s->dev->vqs[vu_port_txq(1)], &head, &len) > 0)
		;
	ASSERT_LE(0, vu_port_send(s->dev, 1, "bye", 3, 1, false));
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 0));
	EXPECT_EQ(0, port_attr(s->name, 1, "guest_connected"));
	EXPECT_EQ(POLLIN | POLLRDHUP, vu_poll(fd, POLLIN | POLLRDHUP, 0));
	EXPECT_EQ(3, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(POLLRDHUP, vu_poll(fd, POLLIN | POLLRDHUP, 0));

	/* A blocking read waits: no end of file while the port exists. */
	flags = fcntl(fd, F_GETFL);
	ASSERT_EQ(0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK));
	EXPECT_EQ(-2, read_within(fd, buf, sizeof(buf), 300));
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/* Blocking reader and writer threads, the driver slow on purpose. */
struct bio {
	int fd;
	uint8_t *buf;
	size_t len;
	ssize_t done;
	int err;
};

static void *bio_reader(void *arg)
{
	struct bio *b = arg;
	ssize_t n;

	b->done = 0;
	while ((size_t)b->done < b->len) {
		n = read(b->fd, b->buf + b->done, b->len - b->done);
		if (n <= 0) {
			b->err = n ? errno : 0;
			break;
		}
		b->done += n;
	}
	return NULL;
}

static void *bio_writer(void *arg)
{
	struct bio *b = arg;

	b->done = write(b->fd, b->buf, b->len);
	b->err = b->done < 0 ? errno : 0;
	return NULL;
}

TEST_F_TIMEOUT(data, blocking_io, 120)
{
	struct side *s = &self->s;
	size_t len = 200000, off, n;
	uint8_t *data = malloc(len), *got = calloc(1, len);
	uint64_t seed = 99;
	struct bio b = { 0 };
	pthread_t t;
	char path[64];
	uint16_t head;
	uint32_t ulen;
	struct vu_vq *txq = &s->dev->vqs[vu_port_txq(1)];
	struct vu_vq *rxq = &s->dev->vqs[vu_port_rxq(1)];
	unsigned int segs;
	size_t chunk;
	int r;

	ASSERT_NE(NULL, data);
	ASSERT_NE(NULL, got);
	vu_fill_random(&seed, data, len);
	ASSERT_EQ(0, vu_port_path(s->name, 1, path, sizeof(path)));
	b.fd = open(path, O_RDWR);
	ASSERT_LE(0, b.fd);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 1));

	/* Reader blocks; the driver sends a chain every few ms. */
	b.buf = got;
	b.len = len;
	ASSERT_EQ(0, pthread_create(&t, NULL, bio_reader, &b));
	segs = txq->num > 1 ? 2 : 1;
	chunk = segs * txq->slot_size < 3000 ? segs * txq->slot_size : 3000;
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		while ((r = vu_port_send(s->dev, 1, data + off, n, segs,
					 false)) == -ENOSPC) {
			ASSERT_EQ(1, vu_vq_wait_used(txq, 5000));
			while (vu_vq_get_used(txq, &head, &ulen) > 0)
				;
		}
		ASSERT_LE(0, r);
		if (!(off % 30000))
			usleep(5000);
	}
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(len, b.done) {
		TH_LOG("reader: %zd bytes, %s", b.done, strerror(b.err));
	}
	EXPECT_EQ(0, memcmp(data, got, len));

	/* Writer blocks in one write(); the driver posts buffers slowly. */
	b.buf = data;
	ASSERT_EQ(0, pthread_create(&t, NULL, bio_writer, &b));
	for (off = 0; off < len;) {
		while (rxq->nfree &&
		       vu_vq_add1(rxq, NULL, rxq->slot_size < 1000 ?
				  rxq->slot_size : 1000, true) >= 0)
			;
		vu_vq_kick(rxq);
		ASSERT_EQ(1, vu_vq_wait_used(rxq, 5000)) {
			TH_LOG("host->guest stalled at %zu", off);
		}
		while (vu_vq_get_used(rxq, &head, &ulen) > 0) {
			ASSERT_GE(len, off + ulen);
			vu_vq_copy_in(rxq, head, ulen, got + off, len - off);
			off += ulen;
		}
		usleep(1000);
	}
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(len, b.done);
	EXPECT_EQ(0, memcmp(data, got, len));

	/*
	 * A reader blocked with nothing pending stays blocked when the
	 * driver closes, and gets what the driver sends after it reopens.
	 */
	b.buf = got;
	b.len = 5;
	ASSERT_EQ(0, pthread_create(&t, NULL, bio_reader, &b));
	usleep(200000);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 0));
	usleep(200000);
	EXPECT_EQ(EBUSY, pthread_tryjoin_np(t, NULL));
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	while (vu_vq_get_used(txq, &head, &ulen) > 0)
		;
	ASSERT_LE(0, vu_port_send(s->dev, 1, "again", 5, 1, false));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(5, b.done);
	EXPECT_EQ(0, memcmp(got, "again", 5));
	close(b.fd);
	free(data);
	free(got);
	EXPECT_EQ(0, s->dev->proto_errors);
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/* ---- Limits: the longest legal chains ---- */

FIXTURE(limits) {
	struct side s;
};

FIXTURE_SETUP(limits)
{
	side_clear(&self->s);
	env_setup(_metadata);
	side_create(_metadata, &self->s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
}

FIXTURE_TEARDOWN(limits)
{
	side_close(&self->s);
	env_teardown();
}

/* Read everything the host end has (O_NONBLOCK), waiting a little. */
static size_t host_read_all(int fd, uint8_t *buf, size_t size, int wait_ms)
{
	size_t got = 0;
	ssize_t n;

	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n > 0) {
			got += n;
			continue;
		}
		if (n < 0 && errno == EAGAIN &&
		    vu_poll(fd, POLLIN, wait_ms) > 0)
			continue;
		break;
	}
	return got;
}

/* A direct chain using every descriptor of the ring is legal. */
TEST_F(limits, chain_of_ring_size)
{
	struct side *s = &self->s;
	struct vu_vq *vq;
	uint8_t buf[4096], exp[4096];
	unsigned int i, num = 256;

	side_up(_metadata, s, FEATURES_MULTI, 2, num, 64, 2);
	port_connect(_metadata, s, 1);
	vq = &s->dev->vqs[vu_port_txq(1)];
	ASSERT_EQ(num, vq->nfree);
	for (i = 0; i < num; i++) {
		uint8_t *p = vq->slots + i * vq->slot_stride;

		p[0] = i;
		p[1] = i >> 8;
		exp[2 * i] = i;
		exp[2 * i + 1] = i >> 8;
		vu_desc_set(&vq->desc[i], vq->slots_iova + i * vq->slot_stride, 2,
			    i + 1 < num ? VRING_DESC_F_NEXT : 0, i + 1);
	}
	vq->nfree = 0;
	vu_vq_publish(vq, 0);
	vu_vq_kick(vq);
	EXPECT_EQ(2 * num, host_read_all(s->host[1], buf, sizeof(buf), 500));
	EXPECT_EQ(0, memcmp(buf, exp, 2 * num));
	EXPECT_EQ(1, vu_vq_wait_used(vq, 1000));
	EXPECT_EQ(1, vu_vq_used_idx(vq));
	EXPECT_EQ(0, vq->used->ring[0].id);
	EXPECT_EQ(0, vq->used->ring[0].len);
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/* An indirect table of 1024 entries (the device's limit) is legal. */
TEST_F(limits, indirect_table_1024)
{
	struct side *s = &self->s;
	struct vu_vq *vq;
	struct vring_desc *t;
	uint64_t t_iova, b_iova;
	uint8_t *b, buf[2048];
	unsigned int i;

	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	port_connect(_metadata, s, 1);
	vq = &s->dev->vqs[vu_port_txq(1)];
	t = vu_alloc(s->dev, 1024 * 16, &t_iova);
	b = vu_alloc(s->dev, 1024, &b_iova);
	ASSERT_NE(NULL, t);
	ASSERT_NE(NULL, b);
	for (i = 0; i < 1024; i++) {
		b[i] = i * 7;
		vu_desc_set(&t[i], b_iova + i, 1,
			    i < 1023 ? VRING_DESC_F_NEXT : 0, i + 1);
	}
	vu_desc_set(&vq->desc[0], t_iova, 1024 * 16, VRING_DESC_F_INDIRECT, 0);
	vq->nfree = 0;
	vu_vq_publish(vq, 0);
	vu_vq_kick(vq);
	ASSERT_EQ(1024, host_read_all(s->host[1], buf, sizeof(buf), 500));
	EXPECT_EQ(0, memcmp(buf, b, 1024));
	EXPECT_EQ(1, vu_vq_wait_used(vq, 1000));
	EXPECT_FALSE(vu_needs_reset(s->dev));
	EXPECT_TRUE(vu_canaries_ok(s->dev));
}

/*
 * Zero-length descriptors inside a chain are skipped; a chain made of
 * them only is returned empty.
 */
TEST_F(limits, zero_length_descriptors)
{
	struct side *s = &self->s;
	struct vu_vq *vq;
	uint8_t buf[16];

	side_up(_metadata, s, FEATURES_MULTI, 2, 16, 64, 2);
	port_connect(_metadata, s, 1);
	vq = &s->dev->vqs[vu_port_txq(1)];
	memcpy(vq->slots + vq->slot_stride, "ab", 2);
	vu_desc_set(&vq->desc[0], vq->slots_iova, 0, VRING_DESC_F_NEXT, 1);
	vu_desc_set(&vq->desc[1], vq->slots_iova + vq->slot_stride, 2,
		    VRING_DESC_F_NEXT, 2);
	vu_desc_set(&vq->desc[2], vq->slots_iova, 0, 0, 0);
	vu_desc_set(&vq->desc[3], vq->slots_iova, 0, 0, 0);
	vq->nfree = 0;
	vu_vq_publish(vq, 0);
	vu_vq_publish(vq, 3);
	vu_vq_kick(vq);
	EXPECT_EQ(2, host_read_all(s->host[1], buf, sizeof(buf), 500));
	EXPECT_EQ(0, memcmp(buf, "ab", 2));
	EXPECT_EQ(1, vu_vq_wait_used(vq, 1000));
	usleep(100000);
	EXPECT_EQ(2, vu_vq_used_idx(vq));
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/*
 * One kick with 1024 chains on the console and on the control transmit
 * queue: the kick completes a budget of them, the worker the rest.
 */
TEST_F(limits, kick_budget)
{
	struct side *s = &self->s;
	struct vu_opts opts = { .arena_size = 6 << 20 };
	struct vu_vq *con, *ctx;
	struct virtio_console_control c = {
		htole32(1), htole16(VIRTIO_CONSOLE_PORT_OPEN), 0
	};
	uint8_t *got = malloc(10 * 1024), exp[10 * 1024];
	uint16_t con0, ctx0;
	unsigned int i;

	ASSERT_NE(NULL, got);
	side_close(s);
	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, &opts);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 1024, 64, 2);
	port_connect(_metadata, s, 0);
	port_connect(_metadata, s, 1);
	drain_console(s->host[0]);
	con = &s->dev->vqs[vu_port_txq(0)];
	ctx = &s->dev->vqs[VU_CTRL_TXQ];
	con0 = vu_vq_used_idx(con);
	ctx0 = vu_vq_used_idx(ctx);
	ASSERT_EQ(1024, ctx->nfree);
	for (i = 0; i < 1024; i++) {
		memset(exp + 10 * i, 'a' + i % 26, 10);
		ASSERT_LE(0, vu_vq_add1(con, exp + 10 * i, 10, false));
		/* PORT_OPEN 0, 1, 0, ... ending with 1. */
		c.value = htole16(i & 1);
		ASSERT_LE(0, vu_vq_add1(ctx, &c, sizeof(c), false));
	}
	vu_vq_kick(con);
	vu_vq_kick(ctx);
	ASSERT_EQ(10 * 1024, host_read_all(s->host[0], got, 10 * 1024, 2000));
	EXPECT_EQ(0, memcmp(got, exp, sizeof(exp)));
	for (i = 0; i < 200 && (vu_vq_used_idx(con) != con0 + 1024 ||
				vu_vq_used_idx(ctx) != ctx0 + 1024); i++)
		usleep(10000);
	EXPECT_EQ((uint16_t)(con0 + 1024), vu_vq_used_idx(con));
	EXPECT_EQ((uint16_t)(ctx0 + 1024), vu_vq_used_idx(ctx));
	EXPECT_EQ(1, port_attr(s->name, 1, "guest_connected"));
	EXPECT_EQ(0, port_attr(s->name, 0, "console_dropped"));
	EXPECT_FALSE(vu_needs_reset(s->dev));
	free(got);
}

/*
 * Console output the host does not read: the first 64 KiB are kept,
 * the rest is dropped and counted; the driver gets every buffer back.
 */
TEST_F(limits, console_overflow)
{
	struct side *s = &self->s;
	struct vu_vq *con;
	size_t total = 0, n;
	uint8_t *got = malloc(128 << 10), buf[4000];
	uint16_t head;
	uint32_t len;
	unsigned int i;
	long dropped;

	ASSERT_NE(NULL, got);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 64, 4096, 2);
	port_connect(_metadata, s, 0);
	drain_console(s->host[0]);
	dropped = port_attr(s->name, 0, "console_dropped");
	con = &s->dev->vqs[vu_port_txq(0)];
	for (i = 0; i < 25; i++) {
		memset(buf, i, sizeof(buf));
		while (vu_port_send(s->dev, 0, buf, sizeof(buf), 1, false) ==
		       -ENOSPC) {
			ASSERT_EQ(1, vu_vq_wait_used(con, 2000));
			while (vu_vq_get_used(con, &head, &len) > 0)
				;
		}
		total += sizeof(buf);
	}
	ASSERT_EQ(1, vu_vq_wait_used(con, 2000));
	usleep(100000);
	EXPECT_EQ((uint16_t)25, vu_vq_used_idx(con));
	n = host_read_all(s->host[0], got, 128 << 10, 200);
	EXPECT_EQ(VSERIAL_CONSOLE_BUF, n);
	EXPECT_EQ(total - n, port_attr(s->name, 0, "console_dropped") -
		  dropped);
	/* What was kept is the beginning, in order. */
	for (i = 0; i < n; i++)
		if (got[i] != i / sizeof(buf))
			break;
	EXPECT_EQ(n, i);
	EXPECT_FALSE(vu_needs_reset(s->dev));
	free(got);
}

/*
 * A victim of its own with a 4 MiB arena, the driver up and the host end
 * of port @id open, for buffers far larger than guest memory.
 */
static void huge_side(struct __test_metadata *_metadata, struct side *s,
		      unsigned int id)
{
	struct vu_opts opts = { .arena_size = 4 << 20 };

	side_close(s);
	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, &opts);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 64, 64, 2);
	port_connect(_metadata, s, id);
}

/*
 * Post @nbuf chains on @vq (descriptors 0 on), each an indirect table of
 * @ndesc entries that all cover the same MiB at @b_iova; no kick.
 */
static void post_huge(struct __test_metadata *_metadata, struct side *s,
		      struct vu_vq *vq, unsigned int nbuf, unsigned int ndesc,
		      uint64_t b_iova)
{
	struct vring_desc *t;
	uint64_t t_iova;
	unsigned int i, j;

	ASSERT_LE(nbuf, vq->nfree);
	for (i = 0; i < nbuf; i++) {
		t = vu_alloc(s->dev, ndesc * 16, &t_iova);
		ASSERT_NE(NULL, t);
		for (j = 0; j < ndesc; j++)
			vu_desc_set(&t[j], b_iova, 1 << 20,
				    j < ndesc - 1 ? VRING_DESC_F_NEXT : 0,
				    j + 1);
		vu_desc_set(&vq->desc[i], t_iova, ndesc * 16,
			    VRING_DESC_F_INDIRECT, 0);
		vu_vq_publish(vq, i);
	}
	vq->nfree -= nbuf;
}

/*
 * Console buffers of 1 GiB each (1024 indirect entries on the same
 * mapped MiB), 48 of them in one kick: the device copies what its
 * console buffer takes, counts the rest as dropped without reading it,
 * and returns every buffer.  (Copying 48 GiB with interrupts off would
 * take minutes: the soft lockup detector or the timeout ends the test.)
 */
TEST_F_TIMEOUT(limits, console_huge_chains, 120)
{
	struct side *s = &self->s;
	unsigned int i, nbuf = 48;
	uint64_t b_iova, total;
	struct vu_vq *con;
	uint8_t *b, *got;
	long dropped;
	uint16_t used0;

	huge_side(_metadata, s, 0);
	drain_console(s->host[0]);
	dropped = port_attr(s->name, 0, "console_dropped");
	con = &s->dev->vqs[vu_port_txq(0)];
	used0 = vu_vq_used_idx(con);
	b = vu_alloc(s->dev, 1 << 20, &b_iova);
	ASSERT_NE(NULL, b);
	for (i = 0; i < (1 << 20); i++)
		b[i] = i * 13;
	post_huge(_metadata, s, con, nbuf, 1024, b_iova);
	vu_vq_kick(con);
	for (i = 0; i < 1000 && vu_vq_used_idx(con) != (uint16_t)(used0 + nbuf);
	     i++)
		usleep(10000);
	EXPECT_EQ((uint16_t)(used0 + nbuf), vu_vq_used_idx(con));

	/* The console buffer holds the beginning, in order. */
	got = malloc(2 * VSERIAL_CONSOLE_BUF);
	ASSERT_NE(NULL, got);
	ASSERT_EQ(VSERIAL_CONSOLE_BUF,
		  host_read_all(s->host[0], got, 2 * VSERIAL_CONSOLE_BUF, 200));
	EXPECT_EQ(0, memcmp(got, b, VSERIAL_CONSOLE_BUF));
	total = (uint64_t)nbuf << 30;
	EXPECT_EQ(total - VSERIAL_CONSOLE_BUF,
		  port_attr(s->name, 0, "console_dropped") - dropped);
	EXPECT_FALSE(vu_needs_reset(s->dev));
	free(got);
}

/* A host reader that keeps the console buffer empty until told to stop. */
struct cons_reader {
	int fd;
	volatile bool stop;
	uint64_t got;
};

static void *cons_reader_run(void *arg)
{
	struct cons_reader *r = arg;
	uint8_t buf[65536];
	ssize_t n;

	while (!r->stop) {
		n = read(r->fd, buf, sizeof(buf));
		if (n > 0)
			r->got += n;
		else if (n < 0 && errno != EAGAIN)
			break;
	}
	return NULL;
}

/*
 * One console buffer of 1000 MiB (1000 indirect entries on the same
 * mapped MiB, within one kick's walk of 1024 descriptors) while a host
 * reader keeps emptying the console buffer: the kick copies at most the
 * room the buffer had when it began, 64 KiB, and drops the rest.  Room
 * the reader makes meanwhile is not the kick's to fill: else a reader
 * that keeps up turns one kick, interrupts off, into a copy of all the
 * guest queued.
 */
TEST_F_TIMEOUT(limits, console_huge_chains_reader, 120)
{
	struct side *s = &self->s;
	struct cons_reader r = { 0 };
	unsigned int i, nbuf = 1, ndesc = 1000;
	uint64_t b_iova, total;
	uint8_t *b, left[4096];
	struct vu_vq *con;
	long dropped;
	uint16_t used0;
	pthread_t th;
	ssize_t n;

	huge_side(_metadata, s, 0);
	drain_console(s->host[0]);
	dropped = port_attr(s->name, 0, "console_dropped");
	con = &s->dev->vqs[vu_port_txq(0)];
	used0 = vu_vq_used_idx(con);
	b = vu_alloc(s->dev, 1 << 20, &b_iova);
	ASSERT_NE(NULL, b);
	memset(b, 'c', 1 << 20);
	post_huge(_metadata, s, con, nbuf, ndesc, b_iova);
	r.fd = s->host[0];
	ASSERT_EQ(0, pthread_create(&th, NULL, cons_reader_run, &r));
	usleep(100000);
	vu_vq_kick(con);
	for (i = 0; i < 1000 && vu_vq_used_idx(con) != (uint16_t)(used0 + nbuf);
	     i++)
		usleep(10000);
	EXPECT_EQ((uint16_t)(used0 + nbuf), vu_vq_used_idx(con));
	usleep(200000);
	r.stop = true;
	ASSERT_EQ(0, pthread_join(th, NULL));
	while ((n = read(s->host[0], left, sizeof(left))) > 0)
		r.got += n;

	total = (uint64_t)nbuf * ndesc << 20;
	/* Nothing unaccounted: what the host did not get is counted. */
	dropped = port_attr(s->name, 0, "console_dropped") - dropped;
	TH_LOG("%llu bytes taken for the reader, %ld dropped, of %llu",
	       (unsigned long long)r.got, dropped, (unsigned long long)total);
	EXPECT_EQ(total, r.got + dropped);
	EXPECT_LT(0, r.got);
	EXPECT_GE(VSERIAL_CONSOLE_BUF, r.got) {
		TH_LOG("%llu bytes copied for one kick of %llu",
		       (unsigned long long)r.got, (unsigned long long)total);
	}
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/* One read() of everything, timed. */
struct long_read {
	int fd;
	uint8_t *buf;
	size_t len;
	ssize_t got;
	uint64_t start, end;
};

static void *long_read_run(void *arg)
{
	struct long_read *lr = arg;

	lr->start = vu_now_ms();
	lr->got = read(lr->fd, lr->buf, lr->len);
	lr->end = vu_now_ms();
	return NULL;
}

/*
 * poll() on a host end while a read() of 384 MiB (one guest chain of 384
 * entries on the same mapped MiB) copies: poll() answers at once, it does
 * not wait for the reader's mutex (the read takes about 0.2 s here;
 * before, poll() took as long).
 */
TEST_F_TIMEOUT(limits, poll_beside_a_long_read, 120)
{
	struct side *s = &self->s;
	struct long_read lr = { .len = 384 << 20 };
	uint64_t b_iova, p0, p1;
	struct vu_vq *txq;
	pthread_t th;
	short ev;
	void *b;

	huge_side(_metadata, s, 1);
	lr.buf = mmap(NULL, lr.len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, lr.buf);
	txq = &s->dev->vqs[vu_port_txq(1)];
	b = vu_alloc(s->dev, 1 << 20, &b_iova);
	ASSERT_NE(NULL, b);
	memset(b, 'r', 1 << 20);
	post_huge(_metadata, s, txq, 1, lr.len >> 20, b_iova);
	vu_vq_kick(txq);
	usleep(100000);

	lr.fd = s->host[1];
	ASSERT_EQ(0, pthread_create(&th, NULL, long_read_run, &lr));
	usleep(20000);
	p0 = vu_now_ms();
	ev = vu_poll(s->host[1], POLLIN | POLLOUT, 0);
	p1 = vu_now_ms();
	ASSERT_EQ(0, pthread_join(th, NULL));
	TH_LOG("read() of %zd bytes: %llu ms; poll() beside it: %llu ms",
	       lr.got, (unsigned long long)(lr.end - lr.start),
	       (unsigned long long)(p1 - p0));
	EXPECT_EQ((ssize_t)lr.len, lr.got);
	EXPECT_TRUE(ev & POLLOUT);
	/* The read was still copying when poll() began... */
	ASSERT_LT(p0 + 50, lr.end) {
		TH_LOG("the read ended too soon to tell");
	}
	/* ... and poll() did not wait for it. */
	EXPECT_GT(lr.end, p1 + 20);
	munmap(lr.buf, lr.len);
}

#define DYNDBG	"/sys/kernel/debug/dynamic_debug/control"

/*
 * With dynamic debug on, a driver that sends nothing but mistakes (512
 * unknown control messages) gets a few lines in the kernel log, not one
 * per mistake: the device logs rate-limited, from its worker.
 */
TEST_F(limits, guest_errors_log_rate_limited)
{
	struct side *s = &self->s;
	struct virtio_console_control m = {
		.id = htole32(1), .event = htole16(99), .value = 0,
	};
	char rec[8192];
	unsigned int round, lines = 0;
	struct vu_vq *vq;
	uint16_t head;
	uint32_t len;
	ssize_t n;
	int kmsg;

	side_up(_metadata, s, VU_FEATURES_ALL, 2, 64, 4096, 2);
	vq = &s->dev->vqs[VU_CTRL_TXQ];
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, kmsg);
	ASSERT_LE(0, lseek(kmsg, 0, SEEK_END));
	ASSERT_EQ(0, vu_write_file(DYNDBG, "module vdpa_vserial +p"));
	for (round = 0; round < 512 / vq->num; round++) {
		while (vq->nfree)
			ASSERT_LE(0, vu_vq_add1(vq, &m, sizeof(m), false));
		vu_vq_kick(vq);
		while (vq->nfree < vq->num) {
			ASSERT_EQ(1, vu_vq_wait_used(vq, 2000));
			vu_vq_get_used(vq, &head, &len);
		}
	}
	usleep(500000);
	vu_write_file(DYNDBG, "module vdpa_vserial -p");
	for (;;) {
		n = read(kmsg, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		rec[n] = 0;
		if (strstr(rec, "unknown control event"))
			lines++;
	}
	EXPECT_EQ(EAGAIN, errno);	/* read to the end, not stopped */
	close(kmsg);
	EXPECT_LT(0, lines);	/* it is logged, */
	EXPECT_GE(12, lines) {	/* but not 512 times */
		TH_LOG("%u lines for 512 mistakes", lines);
	}
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/* ---- Hostile drivers ---- */

/*
 * vs0 is the victim, brought up with ports 0 and 1 (the driver side of
 * port 1 open, no receive buffers posted) and the host end of port 1
 * open; vs1 is a bystander that keeps moving data.  Each variant injects
 * one malformation into the victim and triggers its processing.
 */
#define H_NUM		64
#define H_SLOT		4096
#define IOVA_FREE	0x10000000ULL	/* nothing mapped here by default */
#define IOVA_TOP	(~0ULL - VU_PAGE_SIZE + 1)

struct xmap {
	uint8_t *va;
	size_t size;
	uint64_t iova;
	bool check;			/* must still hold its fill byte */
	int fill;
};

struct hctx {
	struct side v;			/* victim (vs0) */
	struct side o;			/* bystander (vs1) */
	struct xmap x[4];
	int nx;
	uint64_t features;
	uint64_t irq0;
};

typedef void (*inject_fn)(struct __test_metadata *_metadata,
			  struct hctx *h);

FIXTURE(hostile) {
	struct hctx h;
};

/* Which queue of port 1 the variant breaks, as its host end sees it. */
enum { H_NONE, H_TX, H_RX };

FIXTURE_VARIANT(hostile) {
	inject_fn inject;
	bool needs_reset;
	bool no_indirect;
	int broken;			/* H_TX: read() fails, H_RX: write() */
};

static struct vu_vq *vvq(struct hctx *h, unsigned int idx)
{
	return &h->v.dev->vqs[idx];
}

/* Take a free descriptor away from the library's bookkeeping. */
static uint16_t take(struct __test_metadata *_metadata, struct vu_vq *vq)
{
	ASSERT_LT(0, vq->nfree);
	return vq->free[--vq->nfree];
}

static uint64_t slot_iova(struct vu_vq *vq, uint16_t i)
{
	return vq->slots_iova + (uint64_t)i * vq->slot_stride;
}

static uint8_t *slot_va(struct vu_vq *vq, uint16_t i)
{
	return vq->slots + (size_t)i * vq->slot_stride;
}

/* The indirect table area of head @i (16 entries). */
static struct vring_desc *itab(struct vu_vq *vq, uint16_t i)
{
	return vq->itabs + (size_t)i * VU_MAX_SEGS;
}

static uint64_t itab_iova(struct vu_vq *vq, uint16_t i)
{
	return vq->itabs_iova + (uint64_t)i * VU_MAX_SEGS * 16;
}

/* Map @size bytes of fresh memory filled with @fill at @iova. */
static struct xmap *xmap(struct __test_metadata *_metadata, struct hctx *h,
			 uint64_t iova, size_t size, uint8_t perm, bool check,
			 int fill)
{
	struct xmap *x;

	ASSERT_GT(4, h->nx);
	x = &h->x[h->nx];
	x->va = mmap(NULL, size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, x->va);
	memset(x->va, fill, size);
	x->size = size;
	x->iova = iova;
	x->check = check;
	x->fill = fill;
	h->nx++;
	ASSERT_EQ(0, vu_iotlb_update(h->v.dev, iova, size, x->va, perm)) {
		TH_LOG("%s", vu_error());
	}
	return x;
}

/* Read the host end until it fails or has nothing; bytes read. */
static size_t host_drain(int fd, int *err)
{
	static uint8_t buf[65536];
	size_t total = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			total += n;
			continue;
		}
		*err = n ? errno : 0;
		if (n < 0 && errno == EAGAIN &&
		    vu_poll(fd, POLLIN, 300) > 0)
			continue;
		return total;
	}
}

/* Trigger the victim's port 1 transmit queue: kick, then the host reads. */
static size_t trig_tx(struct __test_metadata *_metadata, struct hctx *h,
		      struct vu_vq *vq, int expect_err)
{
	size_t n;
	int err = 0;

	vu_vq_kick(vq);
	n = host_drain(h->v.host[1], &err);
	EXPECT_EQ(expect_err, err) {
		TH_LOG("host read: %s after %zu bytes", strerror(err), n);
	}
	return n;
}

/* Trigger the victim's port 1 receive queue: kick, then the host writes. */
static void trig_rx(struct __test_metadata *_metadata, struct hctx *h,
		    struct vu_vq *vq, size_t len)
{
	static uint8_t buf[65536];
	ssize_t n;
	int tries;

	memset(buf, 'W', sizeof(buf));
	vu_vq_kick(vq);
	for (tries = 0; tries < 3; tries++) {
		n = write(h->v.host[1], buf, len);
		if (n < 0)
			break;
	}
	EXPECT_EQ(-1, n);
	EXPECT_EQ(EIO, errno);
}

/* -- Descriptor chains on port 1's transmit queue -- */

/* d0 -> d1 -> d0 ..., 64 bytes each: at most a ring's worth is read. */
static void inj_desc_loop(struct __test_metadata *_metadata, struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq), b = take(_metadata, vq);
	size_t n;

	vu_desc_set(&vq->desc[a], slot_iova(vq, a), 64, VRING_DESC_F_NEXT, b);
	vu_desc_set(&vq->desc[b], slot_iova(vq, b), 64, VRING_DESC_F_NEXT, a);
	vu_vq_publish(vq, a);
	n = trig_tx(_metadata, h, vq, EIO);
	EXPECT_GE(vq->num * 64, n);
}

/* Every descriptor in one cycle, 1 byte each: a chain longer than the ring. */
static void inj_chain_longer_than_ring(struct __test_metadata *_metadata,
				       struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	unsigned int i, num = vq->num;
	size_t n;

	ASSERT_EQ(num, vq->nfree);
	vq->nfree = 0;
	for (i = 0; i < num; i++)
		vu_desc_set(&vq->desc[i], slot_iova(vq, i), 1,
			    VRING_DESC_F_NEXT, (i + 1) % num);
	vu_vq_publish(vq, 5);
	n = trig_tx(_metadata, h, vq, EIO);
	EXPECT_GE(num, n);
}

/* Zero-length descriptors looping on the control transmit queue. */
static void inj_ctrl_loop_zero_len(struct __test_metadata *_metadata,
				   struct hctx *h)
{
	struct vu_vq *vq = vvq(h, VU_CTRL_TXQ);
	uint16_t a = take(_metadata, vq), b = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], slot_iova(vq, a), 0, VRING_DESC_F_NEXT, b);
	vu_desc_set(&vq->desc[b], slot_iova(vq, b), 0, VRING_DESC_F_NEXT, a);
	vu_vq_publish(vq, a);
	vu_vq_kick(vq);
}

/* A loop on the console's transmit queue (drained in the kick). */
static void inj_console_loop(struct __test_metadata *_metadata,
			     struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(0));
	uint16_t a = take(_metadata, vq), b = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], slot_iova(vq, a), 100, VRING_DESC_F_NEXT, b);
	vu_desc_set(&vq->desc[b], slot_iova(vq, b), 100, VRING_DESC_F_NEXT, a);
	vu_vq_publish(vq, a);
	vu_vq_kick(vq);
}

static void inj_head_out_of_range(struct __test_metadata *_metadata,
				  struct hctx *h)
{
	struct vu_vq *vq = vvq(h, VU_CTRL_TXQ);

	vu_vq_publish(vq, vq->num);
	vu_vq_kick(vq);
}

static void inj_head_ffff(struct __test_metadata *_metadata, struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));

	vu_vq_publish(vq, 0xffff);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

static void inj_next_out_of_range(struct __test_metadata *_metadata,
				  struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], slot_iova(vq, a), 64, VRING_DESC_F_NEXT,
		    vq->num);
	vu_vq_publish(vq, a);
	EXPECT_GE(64, trig_tx(_metadata, h, vq, EIO));
}

static void inj_avail_idx_jump(struct __test_metadata *_metadata,
			       struct hctx *h)
{
	struct vu_vq *vq = vvq(h, VU_CTRL_TXQ);
	uint16_t a = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], slot_iova(vq, a), 8, 0, 0);
	vq->avail->ring[vq->avail_idx % vq->num] = a;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx + vq->num + 1,
			 __ATOMIC_RELEASE);
	vu_vq_kick(vq);
}

/* -- Addresses -- */

static void inj_buf_unmapped_tx(struct __test_metadata *_metadata,
				struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], h->v.dev->arena_iova - 64, 64, 0, 0);
	vu_vq_publish(vq, a);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

/* Just past the arena: the IOVA is unmapped (our guard page follows). */
static void inj_buf_unmapped_rx(struct __test_metadata *_metadata,
				struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_rxq(1));
	uint16_t a = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], h->v.dev->arena_iova + h->v.dev->arena_size,
		    64, VRING_DESC_F_WRITE, 0);
	vu_vq_publish(vq, a);
	trig_rx(_metadata, h, vq, 64);
}

/* Starts in a mapping, runs 16 bytes past its end into nothing. */
/*
 * A 32-byte write into a 32-byte receive buffer of which only the first
 * 16 bytes are mapped: at most those 16 go, or the write fails with EIO
 * (the queue broke first); never anything else.
 */
static void expect_short_write(struct __test_metadata *_metadata, int fd)
{
	ssize_t n = write(fd, "0123456789abcdefghijklmnopqrstuv", 32);

	EXPECT_TRUE((n >= 0 && n <= 16) || (n == -1 && errno == EIO)) {
		TH_LOG("write: %zd (%s)", n, strerror(errno));
	}
}

static void inj_buf_straddles_end(struct __test_metadata *_metadata,
				  struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_rxq(1));
	uint16_t a = take(_metadata, vq);

	xmap(_metadata, h, IOVA_FREE, VU_PAGE_SIZE, VHOST_ACCESS_RW, false,
	     0x11);
	vu_desc_set(&vq->desc[a], IOVA_FREE + VU_PAGE_SIZE - 16, 32,
		    VRING_DESC_F_WRITE, 0);
	vu_vq_publish(vq, a);
	vu_vq_kick(vq);
	expect_short_write(_metadata, h->v.host[1]);
	trig_rx(_metadata, h, vq, 32);
}

/* A receive buffer running from a RW page into a read-only one. */
static void inj_rw_into_ro(struct __test_metadata *_metadata, struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_rxq(1));
	uint16_t a = take(_metadata, vq);

	xmap(_metadata, h, IOVA_FREE, VU_PAGE_SIZE, VHOST_ACCESS_RW, false,
	     0x11);
	xmap(_metadata, h, IOVA_FREE + VU_PAGE_SIZE, VU_PAGE_SIZE,
	     VHOST_ACCESS_RO, true, 0x22);
	vu_desc_set(&vq->desc[a], IOVA_FREE + VU_PAGE_SIZE - 16, 32,
		    VRING_DESC_F_WRITE, 0);
	vu_vq_publish(vq, a);
	vu_vq_kick(vq);
	expect_short_write(_metadata, h->v.host[1]);
	trig_rx(_metadata, h, vq, 32);
}

/* A receive buffer entirely in a read-only mapping. */
static void inj_rx_in_ro(struct __test_metadata *_metadata, struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_rxq(1));
	uint16_t a = take(_metadata, vq);

	xmap(_metadata, h, IOVA_FREE, VU_PAGE_SIZE, VHOST_ACCESS_RO, true,
	     0x33);
	vu_desc_set(&vq->desc[a], IOVA_FREE + 100, 64, VRING_DESC_F_WRITE, 0);
	vu_vq_publish(vq, a);
	trig_rx(_metadata, h, vq, 64);
}

/* A transmit buffer in a write-only mapping: the device may not read it. */
static void inj_tx_in_wo(struct __test_metadata *_metadata, struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq);

	xmap(_metadata, h, IOVA_FREE, VU_PAGE_SIZE, VHOST_ACCESS_WO, true,
	     'S');
	vu_desc_set(&vq->desc[a], IOVA_FREE, 64, 0, 0);
	vu_vq_publish(vq, a);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

/*
 * A buffer at the top of the IOVA space whose length wraps to 0, where
 * a canary page is mapped: nothing may be written there.
 */
static void inj_len_wraps_rx(struct __test_metadata *_metadata,
			     struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_rxq(1));
	uint16_t a = take(_metadata, vq);

	xmap(_metadata, h, 0, VU_PAGE_SIZE, VHOST_ACCESS_RW, true, 0x44);
	xmap(_metadata, h, IOVA_TOP, VU_PAGE_SIZE, VHOST_ACCESS_RW, true, 0x55);
	vu_desc_set(&vq->desc[a], ~0ULL - 15, 32, VRING_DESC_F_WRITE, 0);
	vu_vq_publish(vq, a);
	trig_rx(_metadata, h, vq, 32);
}

static void inj_len_wraps_tx(struct __test_metadata *_metadata,
			     struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq);

	xmap(_metadata, h, 0, VU_PAGE_SIZE, VHOST_ACCESS_RW, true, 0x44);
	xmap(_metadata, h, IOVA_TOP, VU_PAGE_SIZE, VHOST_ACCESS_RW, true, 0x55);
	vu_desc_set(&vq->desc[a], IOVA_TOP, 0xffffffff, 0, 0);
	vu_vq_publish(vq, a);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

/* -- Direction -- */

static void inj_write_flag_in_tx(struct __test_metadata *_metadata,
				 struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], slot_iova(vq, a), 64, VRING_DESC_F_WRITE, 0);
	vu_vq_publish(vq, a);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

static void inj_readonly_in_rx(struct __test_metadata *_metadata,
			       struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_rxq(1));
	uint16_t a = take(_metadata, vq);

	memset(slot_va(vq, a), 0x66, 64);
	vu_desc_set(&vq->desc[a], slot_iova(vq, a), 64, 0, 0);
	vu_vq_publish(vq, a);
	trig_rx(_metadata, h, vq, 64);
	EXPECT_TRUE(vu_mem_is(slot_va(vq, a), 0x66, 64));
}

/* Writable, then read-only in one receive chain. */
static void inj_mixed_rx(struct __test_metadata *_metadata, struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_rxq(1));
	uint16_t a = take(_metadata, vq), b = take(_metadata, vq);

	memset(slot_va(vq, b), 0x66, 16);
	vu_desc_set(&vq->desc[a], slot_iova(vq, a), 16,
		    VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, b);
	vu_desc_set(&vq->desc[b], slot_iova(vq, b), 16, 0, 0);
	vu_vq_publish(vq, a);
	vu_vq_kick(vq);
	expect_short_write(_metadata, h->v.host[1]);
	trig_rx(_metadata, h, vq, 32);
	EXPECT_TRUE(vu_mem_is(slot_va(vq, b), 0x66, 16));
}

/* Bring the victim up again without filling its control receive queue. */
static void victim_reinit_nofill(struct __test_metadata *_metadata,
				 struct hctx *h)
{
	vu_console_free(&h->v.con);
	ASSERT_EQ(0, vu_console_init(&h->v.con, h->v.dev, h->features, 2,
				     H_NUM, H_SLOT)) {
		TH_LOG("%s", vu_error());
	}
	h->irq0 = vu_config_irqs(h->v.dev);
}

/* The control receive queue gets a read-only buffer for PORT_ADD. */
static void inj_readonly_in_ctrl_rx(struct __test_metadata *_metadata,
				    struct hctx *h)
{
	struct vu_vq *vq;
	uint16_t a;

	victim_reinit_nofill(_metadata, h);
	vq = vvq(h, VU_CTRL_RXQ);
	a = take(_metadata, vq);
	memset(slot_va(vq, a), 0x77, 64);
	vu_desc_set(&vq->desc[a], slot_iova(vq, a), 64, 0, 0);
	vu_vq_publish(vq, a);
	vu_vq_kick(vq);
	ASSERT_EQ(0, vu_ctrl_send(h->v.dev, VIRTIO_CONSOLE_BAD_ID,
				  VIRTIO_CONSOLE_DEVICE_READY, 1));
	usleep(300000);
	EXPECT_TRUE(vu_mem_is(slot_va(vq, a), 0x77, 64));
}

static void inj_ctrl_rx_unmapped(struct __test_metadata *_metadata,
				 struct hctx *h)
{
	struct vu_vq *vq;
	uint16_t a;

	victim_reinit_nofill(_metadata, h);
	vq = vvq(h, VU_CTRL_RXQ);
	a = take(_metadata, vq);
	vu_desc_set(&vq->desc[a], IOVA_FREE, 512, VRING_DESC_F_WRITE, 0);
	vu_vq_publish(vq, a);
	vu_vq_kick(vq);
	ASSERT_EQ(0, vu_ctrl_send(h->v.dev, VIRTIO_CONSOLE_BAD_ID,
				  VIRTIO_CONSOLE_DEVICE_READY, 1));
}

/* -- Indirect tables (port 1's transmit queue) -- */

static uint16_t indirect_head(struct __test_metadata *_metadata,
			      struct vu_vq *vq, uint32_t len, uint16_t flags)
{
	uint16_t a = take(_metadata, vq);
	struct vring_desc *t = itab(vq, a);
	int i;

	for (i = 0; i < VU_MAX_SEGS; i++)
		vu_desc_set(&t[i], slot_iova(vq, a) + 64 * i, 64,
			    i + 1 < VU_MAX_SEGS ? VRING_DESC_F_NEXT : 0, i + 1);
	vu_desc_set(&vq->desc[a], itab_iova(vq, a), len,
		    VRING_DESC_F_INDIRECT | flags, 0);
	return a;
}

static void inj_indirect_nested(struct __test_metadata *_metadata,
				struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = indirect_head(_metadata, vq, 4 * 16, 0);
	uint16_t b = indirect_head(_metadata, vq, 4 * 16, 0);

	vu_desc_set(&itab(vq, a)[1], itab_iova(vq, b), 4 * 16,
		    VRING_DESC_F_INDIRECT, 0);
	vu_vq_publish(vq, a);
	EXPECT_GE(64, trig_tx(_metadata, h, vq, EIO));
}

static void inj_indirect_zero_len(struct __test_metadata *_metadata,
				  struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));

	vu_vq_publish(vq, indirect_head(_metadata, vq, 0, 0));
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

static void inj_indirect_len_odd(struct __test_metadata *_metadata,
				 struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));

	vu_vq_publish(vq, indirect_head(_metadata, vq, 24, 0));
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

static void inj_indirect_with_next(struct __test_metadata *_metadata,
				   struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = indirect_head(_metadata, vq, 2 * 16, VRING_DESC_F_NEXT);

	vq->desc[a].next = take(_metadata, vq);
	vu_vq_publish(vq, a);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

/* A valid table, but the feature was not negotiated (variant). */
static void inj_indirect_not_negotiated(struct __test_metadata *_metadata,
					struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));

	ASSERT_FALSE(h->v.dev->features & VU_F(VIRTIO_RING_F_INDIRECT_DESC));
	vu_vq_publish(vq, indirect_head(_metadata, vq, 2 * 16, 0));
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

static void inj_indirect_too_big(struct __test_metadata *_metadata,
				 struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq);

	/* 1025 entries (in the slots area, all mapped). */
	vu_desc_set(&vq->desc[a], vq->slots_iova, 1025 * 16,
		    VRING_DESC_F_INDIRECT, 0);
	vu_vq_publish(vq, a);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

/* Entries 0 -> 1 -> 0 ...: no more descriptors than the table has. */
static void inj_indirect_loop(struct __test_metadata *_metadata,
			      struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = indirect_head(_metadata, vq, 2 * 16, 0);

	vu_desc_set(&itab(vq, a)[1], slot_iova(vq, a) + 64, 64,
		    VRING_DESC_F_NEXT, 0);
	vu_vq_publish(vq, a);
	EXPECT_GE(2 * 64, trig_tx(_metadata, h, vq, EIO));
}

/* A table at IOVA 0 (unmapped): 0 is an address like any other. */
static void inj_indirect_at_zero(struct __test_metadata *_metadata,
				 struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], 0, 16, VRING_DESC_F_INDIRECT, 0);
	vu_vq_publish(vq, a);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

/* The same on the console, drained in the kick with interrupts off. */
static void inj_console_indirect_at_zero(struct __test_metadata *_metadata,
					 struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(0));
	uint16_t a = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], 0, 16, VRING_DESC_F_INDIRECT, 0);
	vu_vq_publish(vq, a);
	vu_vq_kick(vq);
}

static void inj_indirect_next_oob(struct __test_metadata *_metadata,
				  struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = indirect_head(_metadata, vq, 2 * 16, 0);

	vu_desc_set(&itab(vq, a)[0], slot_iova(vq, a), 64, VRING_DESC_F_NEXT,
		    5);
	vu_vq_publish(vq, a);
	EXPECT_GE(64, trig_tx(_metadata, h, vq, EIO));
}

static void inj_indirect_unmapped(struct __test_metadata *_metadata,
				  struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq);

	vu_desc_set(&vq->desc[a], IOVA_FREE, 4 * 16, VRING_DESC_F_INDIRECT, 0);
	vu_vq_publish(vq, a);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

static void inj_indirect_wraps(struct __test_metadata *_metadata,
			       struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint16_t a = take(_metadata, vq);

	xmap(_metadata, h, 0, VU_PAGE_SIZE, VHOST_ACCESS_RW, true, 0);
	xmap(_metadata, h, IOVA_TOP, VU_PAGE_SIZE, VHOST_ACCESS_RW, true, 0);
	vu_desc_set(&vq->desc[a], ~0ULL - 15, 4 * 16, VRING_DESC_F_INDIRECT, 0);
	vu_vq_publish(vq, a);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

/* -- Ring addresses (changed while suspended, as a VMM may) -- */

static void set_ring(struct __test_metadata *_metadata, struct hctx *h,
		     unsigned int idx, uint64_t desc, uint64_t avail,
		     uint64_t used)
{
	struct vhost_vring_addr a = {
		.index = idx,
		.desc_user_addr = desc,
		.avail_user_addr = avail,
		.used_user_addr = used,
	};

	ASSERT_EQ(0, vu_suspend(h->v.dev)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(0, ioctl(h->v.dev->fd, VHOST_SET_VRING_ADDR, &a)) {
		TH_LOG("VHOST_SET_VRING_ADDR: %s", strerror(errno));
	}
	ASSERT_EQ(0, vu_resume(h->v.dev));
}

static void inj_rings_unmapped(struct __test_metadata *_metadata,
			       struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));

	set_ring(_metadata, h, vq->idx, IOVA_FREE, IOVA_FREE + 0x1000,
		 IOVA_FREE + 0x2000);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

static void inj_desc_misaligned(struct __test_metadata *_metadata,
				struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));

	set_ring(_metadata, h, vq->idx, vq->desc_iova + 8, vq->avail_iova,
		 vq->used_iova);
	vu_port_send(h->v.dev, 1, "abc", 3, 1, false);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

/* The used ring in a read-only mapping: the device cannot return buffers. */
static void inj_used_ring_readonly(struct __test_metadata *_metadata,
				   struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));

	xmap(_metadata, h, IOVA_FREE, VU_PAGE_SIZE, VHOST_ACCESS_RO, true, 0);
	set_ring(_metadata, h, vq->idx, vq->desc_iova, vq->avail_iova,
		 IOVA_FREE);
	ASSERT_LE(0, vu_port_send(h->v.dev, 1, "abcdefgh", 8, 1, false));
	EXPECT_GE(8, trig_tx(_metadata, h, vq, EIO));
}

/* The avail ring in a write-only mapping: the device cannot read it. */
static void inj_avail_ring_writeonly(struct __test_metadata *_metadata,
				     struct hctx *h)
{
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	struct xmap *x;

	x = xmap(_metadata, h, IOVA_FREE, VU_PAGE_SIZE, VHOST_ACCESS_WO, false,
		 0);
	set_ring(_metadata, h, vq->idx, vq->desc_iova, IOVA_FREE,
		 vq->used_iova);
	ASSERT_LE(0, vu_port_send(h->v.dev, 1, "abcdefgh", 8, 1, false));
	memcpy(x->va, vq->avail, 6 + 2 * vq->num);
	EXPECT_EQ(0, trig_tx(_metadata, h, vq, EIO));
}

/* A queue enabled with no ring set up (size 0, addresses 0). */
static void inj_queue_without_ring(struct __test_metadata *_metadata,
				   struct hctx *h)
{
	struct vhost_vring_file f = { .index = vu_port_txq(2) };
	struct vhost_vring_state s = { .index = vu_port_txq(2), .num = 1 };

	/* Port 2 does not exist; its transmit queue is drained on kick. */
	ASSERT_EQ(0, vu_reset(h->v.dev));
	ASSERT_EQ(0, vu_negotiate(h->v.dev, h->features));
	f.fd = eventfd(0, EFD_NONBLOCK);
	ASSERT_LE(0, f.fd);
	ASSERT_EQ(0, ioctl(h->v.dev->fd, VHOST_SET_VRING_KICK, &f));
	ASSERT_EQ(0, ioctl(h->v.dev->fd, VHOST_VDPA_SET_VRING_ENABLE, &s));
	/* The device may find the queue broken as soon as the driver is. */
	h->irq0 = vu_config_irqs(h->v.dev);
	ASSERT_EQ(0, vu_driver_ok(h->v.dev));
	ASSERT_EQ(8, write(f.fd, &(uint64_t){ 1 }, 8));
	close(f.fd);
}

/* -- The IOTLB pulled from under the device -- */

static void inj_iotlb_unmapped(struct __test_metadata *_metadata,
			       struct hctx *h)
{
	struct vu_dev *d = h->v.dev;

	ASSERT_EQ(0, vu_iotlb_invalidate(d, d->arena_iova, d->arena_size));
	d->arena_mapped = false;
	vu_port_send(d, 1, "abc", 3, 1, false);
	EXPECT_EQ(0, trig_tx(_metadata, h, vvq(h, vu_port_txq(1)), EIO));
	ASSERT_EQ(0, vu_remap_arena(d));
}

/* The arena mapped read-only: the device reads, cannot write back. */
static void inj_iotlb_readonly(struct __test_metadata *_metadata,
			       struct hctx *h)
{
	struct vu_dev *d = h->v.dev;
	struct vu_vq *vq = vvq(h, vu_port_txq(1));
	uint8_t used[8 + 8 * H_NUM];

	ASSERT_LE(0, vu_port_send(d, 1, "abcdefgh", 8, 1, false));
	memcpy(used, vq->used, sizeof(used));
	ASSERT_EQ(0, vu_iotlb_invalidate(d, d->arena_iova, d->arena_size));
	ASSERT_EQ(0, vu_iotlb_update(d, d->arena_iova, d->arena_size,
				     d->arena, VHOST_ACCESS_RO));
	EXPECT_GE(8, trig_tx(_metadata, h, vq, EIO));
	EXPECT_EQ(0, memcmp(used, vq->used, sizeof(used)));
	ASSERT_EQ(0, vu_remap_arena(d));
}

/* -- Control messages the device must ignore (no NEEDS_RESET) -- */

static void send_raw_ok(struct __test_metadata *_metadata, struct hctx *h,
			const void *buf, uint32_t len)
{
	ASSERT_EQ(0, vu_ctrl_send_raw(h->v.dev, buf, len)) {
		TH_LOG("%s", vu_error());
	}
}

static void send_ok(struct __test_metadata *_metadata, struct hctx *h,
		    uint32_t id, uint16_t event, uint16_t value)
{
	struct virtio_console_control c = {
		htole32(id), htole16(event), htole16(value)
	};

	send_raw_ok(_metadata, h, &c, sizeof(c));
}

static void inj_ctrl_short(struct __test_metadata *_metadata, struct hctx *h)
{
	static const uint8_t msg[8] = { 1, 0, 0, 0, 6, 0, 0, 0 };
	uint32_t len;

	/* PORT_OPEN 0 for port 1, cut short: must not close the port. */
	for (len = 0; len < 8; len++)
		send_raw_ok(_metadata, h, msg, len);
	expect_quiet(_metadata, &h->v, 150);
	EXPECT_EQ(1, port_attr(VICTIM, 1, "guest_connected"));
}

static void inj_ctrl_unknown_event(struct __test_metadata *_metadata,
				   struct hctx *h)
{
	send_ok(_metadata, h, 1, 8, 1);
	send_ok(_metadata, h, 1, 99, 0);
	send_ok(_metadata, h, 0, 0xffff, 0xffff);
	send_ok(_metadata, h, VIRTIO_CONSOLE_BAD_ID, 0x1234, 1);
	expect_quiet(_metadata, &h->v, 150);
}

static void inj_ctrl_bad_id(struct __test_metadata *_metadata,
			    struct hctx *h)
{
	send_ok(_metadata, h, VU_DEFAULT_MAX_PORTS,
		VIRTIO_CONSOLE_PORT_READY, 1);
	send_ok(_metadata, h, VU_DEFAULT_MAX_PORTS,
		VIRTIO_CONSOLE_PORT_OPEN, 1);
	send_ok(_metadata, h, VIRTIO_CONSOLE_BAD_ID,
		VIRTIO_CONSOLE_PORT_READY, 1);
	send_ok(_metadata, h, VIRTIO_CONSOLE_BAD_ID,
		VIRTIO_CONSOLE_PORT_OPEN, 0);
	send_ok(_metadata, h, 0x80000001, VIRTIO_CONSOLE_PORT_OPEN, 0);
	expect_quiet(_metadata, &h->v, 150);
	EXPECT_EQ(1, port_attr(VICTIM, 1, "guest_connected"));
}

/*
 * PORT_READY/PORT_OPEN for ports in range that were never added: the
 * driver is told the ports are not there; a failed PORT_READY and
 * PORT_OPEN are ignored.
 */
static void inj_ctrl_unknown_port(struct __test_metadata *_metadata,
				  struct hctx *h)
{
	send_ok(_metadata, h, 5, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_msg(_metadata, &h->v, 5, VIRTIO_CONSOLE_PORT_REMOVE, 1, NULL);
	send_ok(_metadata, h, 5, VIRTIO_CONSOLE_PORT_READY, 0);
	send_ok(_metadata, h, 5, VIRTIO_CONSOLE_PORT_OPEN, 1);
	send_ok(_metadata, h, 30, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_msg(_metadata, &h->v, 30, VIRTIO_CONSOLE_PORT_REMOVE, 1, NULL);
	expect_quiet(_metadata, &h->v, 150);
}

static void inj_ctrl_device_ready_twice(struct __test_metadata *_metadata,
					struct hctx *h)
{
	send_ok(_metadata, h, VIRTIO_CONSOLE_BAD_ID,
		VIRTIO_CONSOLE_DEVICE_READY, 1);
	send_ok(_metadata, h, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	send_ok(_metadata, h, VIRTIO_CONSOLE_BAD_ID,
		VIRTIO_CONSOLE_DEVICE_READY, 0);
	expect_quiet(_metadata, &h->v, 150);
}

/* Asked again (as a restored guest does), the device tells again. */
static void inj_ctrl_port_ready_twice(struct __test_metadata *_metadata,
				      struct hctx *h)
{
	struct vu_port_state *p = h->v.con.ports;

	p[0].consoles = p[0].names = p[0].opens = 0;
	p[1].consoles = p[1].names = p[1].opens = 0;
	/* ... and the host end's state either way (a lost PORT_OPEN 0). */
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_NAME, 1, NULL);
	expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_OPEN,
		   port_attr(VICTIM, 1, "host_connected"), NULL);
	send_ok(_metadata, h, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_msg(_metadata, &h->v, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL);
	expect_msg(_metadata, &h->v, 0, VIRTIO_CONSOLE_PORT_OPEN,
		   port_attr(VICTIM, 0, "host_connected"), NULL);
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_READY, 0);
	expect_quiet(_metadata, &h->v, 150);
}

/*
 * PORT_READY before DEVICE_READY, after a reset: what a restored guest
 * does, so the device answers as QEMU does; DEVICE_READY then starts a
 * new session.
 */
static void inj_ctrl_ready_before_device_ready(struct __test_metadata *_metadata,
					       struct hctx *h)
{
	victim_reinit_nofill(_metadata, h);
	ASSERT_EQ(0, vu_ctrl_fill(h->v.dev));
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	h->v.con.ports[1].ready = true;
	expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_NAME, 1, NULL);
	expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	expect_quiet(_metadata, &h->v, 150);
	EXPECT_EQ(1, port_attr(VICTIM, 1, "guest_connected"));
	memset(h->v.con.ports, 0, 2 * sizeof(*h->v.con.ports));
	/* The handshake then runs as usual. */
	ASSERT_EQ(0, vu_ctrl_send(h->v.dev, VIRTIO_CONSOLE_BAD_ID,
				  VIRTIO_CONSOLE_DEVICE_READY, 1));
	expect_msg(_metadata, &h->v, 0, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	h->v.con.ports[1].ready = true;
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_NAME, 1, NULL);
	expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	h->v.con.ports[0].ready = true;
	send_ok(_metadata, h, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_msg(_metadata, &h->v, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL);
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	expect_quiet(_metadata, &h->v, 150);
}

/* Events only the device may send, sent by the driver. */
static void inj_ctrl_device_events(struct __test_metadata *_metadata,
				   struct hctx *h)
{
	uint8_t m[8 + 16] = { 1, 0, 0, 0, VIRTIO_CONSOLE_PORT_NAME, 0, 1, 0 };

	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_ADD, 1);
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_REMOVE, 1);
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_RESIZE, 1);
	memcpy(m + 8, "evil/name", 9);
	send_raw_ok(_metadata, h, m, sizeof(m));
	expect_quiet(_metadata, &h->v, 150);
	EXPECT_EQ(1, port_attr(VICTIM, 1, "guest_connected"));
	EXPECT_EQ(0, port_attr(VICTIM, 1, "console"));
}

/* A header split over two descriptors is still one message. */
static void inj_ctrl_split(struct __test_metadata *_metadata, struct hctx *h)
{
	struct vu_seg segs[2] = {
		{ "\x01\x00\x00", 3, false },
		{ "\x00\x06\x00\x00\x00", 5, false },
	};
	struct vu_vq *vq = vvq(h, VU_CTRL_TXQ);
	uint16_t head;
	uint32_t len;

	ASSERT_LE(0, vu_vq_add(vq, segs, 2, false, 0));
	vu_vq_kick(vq);
	ASSERT_EQ(1, vu_vq_wait_used(vq, 2000));
	ASSERT_EQ(1, vu_vq_get_used(vq, &head, &len));
	EXPECT_EQ(0, port_attr(VICTIM, 1, "guest_connected"));
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	EXPECT_EQ(1, port_attr(VICTIM, 1, "guest_connected"));
	expect_quiet(_metadata, &h->v, 150);
}

/* Trailing bytes after the header are ignored. */
static void inj_ctrl_long(struct __test_metadata *_metadata, struct hctx *h)
{
	uint8_t m[300] = { 1, 0, 0, 0, VIRTIO_CONSOLE_PORT_OPEN, 0, 0, 0 };

	memset(m + 8, 0xff, sizeof(m) - 8);
	send_raw_ok(_metadata, h, m, sizeof(m));
	EXPECT_EQ(0, port_attr(VICTIM, 1, "guest_connected"));
	send_ok(_metadata, h, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	EXPECT_EQ(1, port_attr(VICTIM, 1, "guest_connected"));
	expect_quiet(_metadata, &h->v, 150);
}

/* A full ring of junk in one kick. */
static void inj_ctrl_burst(struct __test_metadata *_metadata, struct hctx *h)
{
	struct vu_vq *vq = vvq(h, VU_CTRL_TXQ);
	uint64_t seed = 1234;
	unsigned int round, i;
	uint16_t head;
	uint32_t len;

	for (round = 0; round < 8; round++) {
		for (i = 0; vq->nfree; i++) {
			uint8_t m[16];
			uint32_t id;
			uint16_t ev;

			vu_fill_random(&seed, m, sizeof(m));
			/* Never PORT_OPEN for the open ports: keep them open. */
			memcpy(&id, m, 4);
			memcpy(&ev, m + 4, 2);
			if (ev == VIRTIO_CONSOLE_PORT_OPEN && id < 2)
				m[4] = 0x42;
			ASSERT_LE(0, vu_vq_add1(vq, m, 1 + i % 16, false));
		}
		vu_vq_kick(vq);
		while (vq->nfree < vq->num) {
			ASSERT_EQ(1, vu_vq_wait_used(vq, 2000));
			vu_vq_get_used(vq, &head, &len);
		}
	}
	expect_quiet(_metadata, &h->v, 150);
	EXPECT_EQ(1, port_attr(VICTIM, 1, "guest_connected"));
}

/* -- The fixture -- */

FIXTURE_SETUP(hostile)
{
	struct hctx *h = &self->h;

	memset(h, 0, sizeof(*h));
	side_clear(&h->v);
	side_clear(&h->o);
	env_setup(_metadata);
	h->features = VU_FEATURES_ALL;
	if (variant->no_indirect)
		h->features &= ~VU_F(VIRTIO_RING_F_INDIRECT_DESC);

	side_create(_metadata, &h->o, OTHER, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	side_up(_metadata, &h->o, VU_FEATURES_ALL, 2, 64, 4096, 2);
	port_connect(_metadata, &h->o, 1);

	side_create(_metadata, &h->v, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	side_up(_metadata, &h->v, h->features, 2, H_NUM, H_SLOT, 2);
	/* Driver side open, no receive buffers: the variants post them. */
	ASSERT_EQ(0, vu_ctrl_send(h->v.dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	h->v.host[1] = host_open(_metadata, VICTIM, 1);
	ASSERT_LE(0, h->v.host[1]);
	expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	h->irq0 = vu_config_irqs(h->v.dev);
}

FIXTURE_TEARDOWN(hostile)
{
	struct hctx *h = &self->h;
	int i;

	side_close(&h->v);	/* closing vhost-vdpa unpins the maps */
	side_close(&h->o);
	for (i = 0; i < h->nx; i++)
		munmap(h->x[i].va, h->x[i].size);
	env_teardown();
}

static bool wait_needs_reset(struct vu_dev *dev, int ms)
{
	uint64_t end = vu_now_ms() + ms;

	do {
		if (vu_needs_reset(dev))
			return true;
		usleep(10000);
	} while (vu_now_ms() < end);
	return false;
}

TEST_F_TIMEOUT(hostile, run, 60)
{
	struct hctx *h = &self->h;
	uint64_t end;
	char buf[16];
	int i;

	variant->inject(_metadata, h);

	if (variant->needs_reset) {
		ASSERT_TRUE(wait_needs_reset(h->v.dev, 3000)) {
			TH_LOG("status 0x%x: NEEDS_RESET not set",
			       dev_status(_metadata, h->v.dev));
		}
		/* ... and a config interrupt tells the driver. */
		end = vu_now_ms() + 2000;
		while (vu_config_irqs(h->v.dev) == h->irq0 &&
		       vu_now_ms() < end)
			vu_poll(h->v.dev->config_fd, POLLIN, 50);
		EXPECT_LT(h->irq0, vu_config_irqs(h->v.dev));
		/* The broken queue's host end reports it. */
		if (variant->broken != H_NONE) {
			int fd = h->v.host[1];
			ssize_t n;

			EXPECT_TRUE(vu_poll(fd, POLLIN, 0) & POLLERR);

			if (variant->broken == H_TX)
				n = read(fd, buf, sizeof(buf));
			else
				n = write(fd, buf, sizeof(buf));
			EXPECT_EQ(-1, n);
			EXPECT_EQ(EIO, errno);
		}
	} else {
		usleep(100000);
		ASSERT_FALSE(vu_needs_reset(h->v.dev)) {
			TH_LOG("status 0x%x", dev_status(_metadata, h->v.dev));
		}
		EXPECT_EQ(0, h->v.con.unexpected) {
			TH_LOG("%s", h->v.con.why);
		}
		/* The protocol goes on: host close and open are announced. */
		close(h->v.host[1]);
		expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_OPEN, 0,
			   NULL);
		h->v.host[1] = host_open(_metadata, VICTIM, 1);
		ASSERT_LE(0, h->v.host[1]);
		expect_msg(_metadata, &h->v, 1, VIRTIO_CONSOLE_PORT_OPEN, 1,
			   NULL);
		roundtrip(_metadata, &h->v, 1, 20000, 1);
	}

	/* The device wrote nothing outside what it was given. */
	EXPECT_TRUE(vu_canaries_ok(h->v.dev));
	for (i = 0; i < h->nx; i++) {
		if (!h->x[i].check)
			continue;
		EXPECT_TRUE(vu_mem_is(h->x[i].va, h->x[i].fill, h->x[i].size)) {
			TH_LOG("mapping at IOVA 0x%llx was written",
			       (unsigned long long)h->x[i].iova);
		}
	}

	/* The other device never noticed. */
	roundtrip(_metadata, &h->o, 1, 40000, 2);
	EXPECT_FALSE(vu_needs_reset(h->o.dev));

	/* Reset and initialise again: the victim works again. */
	h->v.dev->proto_errors = 0;
	side_up(_metadata, &h->v, h->features, 2, H_NUM, H_SLOT, 2);
	EXPECT_EQ(1, h->v.con.ports[1].host_open);
	ASSERT_EQ(0, vu_console_open_port(&h->v.con, 1));
	roundtrip(_metadata, &h->v, 1, 40000, 3);
	EXPECT_EQ(0, dev_status(_metadata, h->v.dev) &
		  VIRTIO_CONFIG_S_NEEDS_RESET);
}

#define HOSTILE(name, reset, dir, ...)					\
	FIXTURE_VARIANT_ADD(hostile, name) {				\
		.inject = inj_##name, .needs_reset = reset,		\
		.broken = dir, __VA_ARGS__				\
	}

HOSTILE(desc_loop, true, H_TX);
HOSTILE(chain_longer_than_ring, true, H_TX);
HOSTILE(ctrl_loop_zero_len, true, H_NONE);
HOSTILE(console_loop, true, H_NONE);
HOSTILE(head_out_of_range, true, H_NONE);
HOSTILE(head_ffff, true, H_TX);
HOSTILE(next_out_of_range, true, H_TX);
HOSTILE(avail_idx_jump, true, H_NONE);
HOSTILE(buf_unmapped_tx, true, H_TX);
HOSTILE(buf_unmapped_rx, true, H_RX);
HOSTILE(buf_straddles_end, true, H_RX);
HOSTILE(rw_into_ro, true, H_RX);
HOSTILE(rx_in_ro, true, H_RX);
HOSTILE(tx_in_wo, true, H_TX);
HOSTILE(len_wraps_rx, true, H_RX);
HOSTILE(len_wraps_tx, true, H_TX);
HOSTILE(write_flag_in_tx, true, H_TX);
HOSTILE(readonly_in_rx, true, H_RX);
HOSTILE(mixed_rx, true, H_RX);
HOSTILE(readonly_in_ctrl_rx, true, H_NONE);
HOSTILE(ctrl_rx_unmapped, true, H_NONE);
HOSTILE(indirect_nested, true, H_TX);
HOSTILE(indirect_zero_len, true, H_TX);
HOSTILE(indirect_len_odd, true, H_TX);
HOSTILE(indirect_with_next, true, H_TX);
HOSTILE(indirect_not_negotiated, true, H_TX, .no_indirect = true);
HOSTILE(indirect_too_big, true, H_TX);
HOSTILE(indirect_loop, true, H_TX);
HOSTILE(indirect_next_oob, true, H_TX);
HOSTILE(indirect_at_zero, true, H_TX);
HOSTILE(console_indirect_at_zero, true, H_NONE);
HOSTILE(indirect_unmapped, true, H_TX);
HOSTILE(indirect_wraps, true, H_TX);
HOSTILE(rings_unmapped, true, H_TX);
HOSTILE(desc_misaligned, true, H_TX);
HOSTILE(used_ring_readonly, true, H_TX);
HOSTILE(avail_ring_writeonly, true, H_TX);
HOSTILE(queue_without_ring, true, H_NONE);
HOSTILE(iotlb_unmapped, true, H_TX);
HOSTILE(iotlb_readonly, true, H_TX);
HOSTILE(ctrl_short, false, H_NONE);
HOSTILE(ctrl_unknown_event, false, H_NONE);
HOSTILE(ctrl_bad_id, false, H_NONE);
HOSTILE(ctrl_unknown_port, false, H_NONE);
HOSTILE(ctrl_device_ready_twice, false, H_NONE);
HOSTILE(ctrl_port_ready_twice, false, H_NONE);
HOSTILE(ctrl_ready_before_device_ready, false, H_NONE);
HOSTILE(ctrl_device_events, false, H_NONE);
HOSTILE(ctrl_split, false, H_NONE);
HOSTILE(ctrl_long, false, H_NONE);
HOSTILE(ctrl_burst, false, H_NONE);

/* ---- Device state: suspend/resume, vring base, interrupts, reset ---- */

FIXTURE(state) {
	struct side s;
};

FIXTURE_SETUP(state)
{
	side_clear(&self->s);
	env_setup(_metadata);
}

FIXTURE_TEARDOWN(state)
{
	side_close(&self->s);
	env_teardown();
}

#define ST_LEN		(200 * 1000)
#define ST_CHAIN	4000

/* Post all of @data as transmit chains of ST_CHAIN bytes on port 1. */
static void post_tx(struct __test_metadata *_metadata, struct side *s,
		    const uint8_t *data, size_t len)
{
	size_t off, n;

	unsigned int i = 0;

	/* Direct chains of 1 and 2 segments, indirect ones of 3. */
	for (off = 0; off < len; off += n, i++) {
		n = len - off < ST_CHAIN ? len - off : ST_CHAIN;
		ASSERT_LE(0, vu_port_send(s->dev, 1, data + off, n, 1 + i % 3,
					  i % 3 == 2));
	}
}

/* Read exactly @len bytes in reads of @chunk (O_NONBLOCK host end). */
static void read_exact(struct __test_metadata *_metadata, int fd,
		       uint8_t *buf, size_t len, size_t chunk)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got < chunk ? len - got : chunk);
		if (n > 0) {
			got += n;
			continue;
		}
		ASSERT_EQ(-1, n) {
			TH_LOG("end of file after %zu of %zu bytes", got, len);
		}
		ASSERT_EQ(EAGAIN, errno) {
			TH_LOG("read: %s after %zu bytes", strerror(errno),
			       got);
		}
		ASSERT_LT(0, vu_poll(fd, POLLIN, 3000)) {
			TH_LOG("stalled after %zu of %zu bytes", got, len);
		}
	}
}

/*
 * Suspend in the middle of a guest->host transfer (a chain half read):
 * nothing moves while suspended, on any queue; the vring base is stable
 * and consistent with the rings; after resume everything arrives once.
 */
static void suspend_mid_transfer(struct __test_metadata *_metadata,
				 struct side *s, bool set_base)
{
	struct vu_vq *txq = &s->dev->vqs[vu_port_txq(1)];
	struct vu_vq *rxq = &s->dev->vqs[vu_port_rxq(1)];
	struct vu_vq *crx = &s->dev->vqs[VU_CTRL_RXQ];
	uint8_t *data = malloc(ST_LEN), *got = malloc(ST_LEN), b;
	uint16_t base, base2, used, crx_used, rx_used, head;
	uint64_t seed = 5;
	uint32_t len;
	size_t part = 3 * ST_CHAIN + 1234, cut;
	long disc0 = port_attr(s->name, 1, "stats/bytes_discarded");
	int i;

	ASSERT_NE(NULL, data);
	ASSERT_NE(NULL, got);
	ASSERT_TRUE(s->dev->backend_features & VU_F(VHOST_BACKEND_F_SUSPEND));
	vu_fill_random(&seed, data, ST_LEN);
	post_tx(_metadata, s, data, ST_LEN);
	read_exact(_metadata, s->host[1], got, part, 1000);

	ASSERT_EQ(0, vu_suspend(s->dev)) {
		TH_LOG("%s", vu_error());
	}
	used = vu_vq_used_idx(txq);
	ASSERT_EQ(0, vu_get_vring_base(s->dev, txq->idx, &base));
	/* used <= base <= avail, in ring arithmetic. */
	EXPECT_GE((uint16_t)(txq->avail_idx - used), (uint16_t)(base - used)) {
		TH_LOG("used %u base %u avail %u", used, base, txq->avail_idx);
	}
	EXPECT_LE(part / ST_CHAIN, used);

	/* Suspended: the host end gets nothing, no ring moves. */
	crx_used = vu_vq_used_idx(crx);
	rx_used = vu_vq_used_idx(rxq);
	vu_vq_kick(txq);
	EXPECT_EQ(-1, read(s->host[1], got + part, ST_LEN - part));
	EXPECT_EQ(EAGAIN, errno);
	/* ... and poll() does not say otherwise: no busy loop on it. */
	EXPECT_EQ(0, vu_poll(s->host[1], POLLIN, 0) & POLLIN);
	ASSERT_LE(0, vu_port_fill_rx(s->dev, 1, 4096));
	EXPECT_EQ(-1, write(s->host[1], "x", 1));
	EXPECT_EQ(EAGAIN, errno);
	/*
	 * The host end closes and opens: owed, not sent while suspended;
	 * the chain it was in the middle of is not returned while
	 * suspended either.
	 */
	close(s->host[1]);
	s->host[1] = host_open(_metadata, s->name, 1);
	ASSERT_LE(0, s->host[1]);
	b = 0;
	ASSERT_EQ(0, vu_set_config(s->dev, VU_CFG_EMERG_WR, &b, 1));
	usleep(200000);
	EXPECT_EQ(used, vu_vq_used_idx(txq));
	EXPECT_EQ(rx_used, vu_vq_used_idx(rxq));
	EXPECT_EQ(crx_used, vu_vq_used_idx(crx));
	ASSERT_EQ(0, vu_get_vring_base(s->dev, txq->idx, &base2));
	EXPECT_EQ(base, base2);

	if (set_base) {
		/* What a VMM restoring the queue state does. */
		ASSERT_EQ(0, vu_set_vring_base(s->dev, txq->idx, base)) {
			TH_LOG("%s", vu_error());
		}
	}
	ASSERT_EQ(0, vu_resume(s->dev));

	/*
	 * Everything arrives, once -- but the rest of the chain the host
	 * end was closed in the middle of: the new host session starts
	 * with the next chain.
	 */
	cut = (part / ST_CHAIN + 1) * ST_CHAIN;
	memmove(data + part, data + cut, ST_LEN - cut);
	read_exact(_metadata, s->host[1], got + part,
		   ST_LEN - cut, 7777);
	EXPECT_EQ(vu_crc32(0, data, ST_LEN - cut + part),
		  vu_crc32(0, got, ST_LEN - cut + part));
	for (i = 0; i < (int)(ST_LEN - cut + part); i++)
		if (data[i] != got[i])
			break;
	EXPECT_EQ(ST_LEN - cut + part, i) {
		TH_LOG("first difference at offset %d", i);
	}
	EXPECT_EQ(cut - part,
		  port_attr(s->name, 1, "stats/bytes_discarded") - disc0);
	EXPECT_EQ(-1, read(s->host[1], got, 1));
	EXPECT_EQ(EAGAIN, errno);
	while (txq->nfree < txq->num && vu_vq_wait_used(txq, 2000))
		vu_vq_get_used(txq, &head, &len);
	EXPECT_EQ(txq->num, txq->nfree) {
		TH_LOG("%u transmit buffers never returned",
		       txq->num - txq->nfree);
	}
	/*
	 * The owed control message now: close and open coalesce into one
	 * PORT_OPEN with the host end's state when it is sent.
	 */
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	expect_quiet(_metadata, s, 150);
	EXPECT_EQ(1, write(s->host[1], "x", 1));
	EXPECT_EQ(0, s->dev->proto_errors) {
		TH_LOG("%s", s->dev->last_proto_error);
	}
	EXPECT_FALSE(vu_needs_reset(s->dev));
	free(data);
	free(got);
}

/* Port 1 of a fresh victim open on both sides, then the transfer. */
static void suspend_test(struct __test_metadata *_metadata, struct side *s,
			 bool set_base)
{
	struct vu_opts opts = { .arena_size = 4 << 20 };

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, &opts);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 128, 4096, 2);
	s->host[1] = host_open(_metadata, s->name, 1);
	ASSERT_LE(0, s->host[1]);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	suspend_mid_transfer(_metadata, s, set_base);
}

TEST_F(state, suspend_resume_mid_transfer)
{
	suspend_test(_metadata, &self->s, false);
}

/*
 * The same, restoring the vring base read while suspended (a VMM saving
 * and restoring queue state) before resuming.
 */
TEST_F(state, suspend_set_vring_base_resume)
{
	suspend_test(_metadata, &self->s, true);
}

/* Console output and control messages posted while suspended wait. */
TEST_F(state, suspend_holds_kicked_queues)
{
	struct side *s = &self->s;
	struct vu_vq *ctx, *con;
	struct virtio_console_control c = {
		htole32(1), htole16(VIRTIO_CONSOLE_PORT_OPEN), htole16(0)
	};
	uint16_t used, cused;
	char buf[64];

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	port_connect(_metadata, s, 0);
	port_connect(_metadata, s, 1);
	drain_console(s->host[0]);
	ctx = &s->dev->vqs[VU_CTRL_TXQ];
	con = &s->dev->vqs[vu_port_txq(0)];

	ASSERT_EQ(0, vu_suspend(s->dev));
	used = vu_vq_used_idx(con);
	cused = vu_vq_used_idx(ctx);
	ASSERT_LE(0, vu_port_send(s->dev, 0, "console!", 8, 1, false));
	ASSERT_LE(0, vu_vq_add1(ctx, &c, sizeof(c), false));
	vu_vq_kick(ctx);
	usleep(200000);
	EXPECT_EQ(used, vu_vq_used_idx(con));
	EXPECT_EQ(cused, vu_vq_used_idx(ctx));
	EXPECT_EQ(-1, read(s->host[0], buf, sizeof(buf)));
	EXPECT_EQ(1, port_attr(s->name, 1, "guest_connected"));

	ASSERT_EQ(0, vu_resume(s->dev));
	EXPECT_EQ(1, vu_vq_wait_used(con, 2000));
	EXPECT_EQ(1, vu_vq_wait_used(ctx, 2000));
	ASSERT_LT(0, vu_poll(s->host[0], POLLIN, 2000));
	EXPECT_EQ(8, read(s->host[0], buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "console!", 8));
	EXPECT_EQ(0, port_attr(s->name, 1, "guest_connected"));
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/*
 * Rings that start at index 0xfff0 (as after a restore): the 16-bit
 * indexes wrap during the transfer; the vring base follows.
 */
TEST_F(state, vring_base_wraps)
{
	struct side *s = &self->s;
	struct vu_qcfg qs[6];
	struct vu_xfer x = { .seed = 77, .max_segs = 2 };
	uint8_t *data = malloc(ST_LEN);
	uint64_t seed = 77;
	uint16_t base;
	unsigned int i;

	ASSERT_NE(NULL, data);
	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	qs[0] = (struct vu_qcfg){ VU_CTRL_RXQ, 16, VU_CTRL_BUF, 0xfffa };
	qs[1] = (struct vu_qcfg){ VU_CTRL_TXQ, 16, VU_CTRL_BUF, 0xfffe };
	qs[2] = (struct vu_qcfg){ vu_port_rxq(0), 16, 1024, 0x8000 };
	qs[3] = (struct vu_qcfg){ vu_port_txq(0), 16, 1024, 0xffff };
	qs[4] = (struct vu_qcfg){ vu_port_rxq(1), 16, 1024, 0xfff0 };
	qs[5] = (struct vu_qcfg){ vu_port_txq(1), 16, 1024, 0xfff1 };
	memset(&s->con, 0, sizeof(s->con));
	s->con.dev = s->dev;
	s->con.nports = VU_DEFAULT_MAX_PORTS;
	s->con.ports = calloc(s->con.nports, sizeof(*s->con.ports));
	ASSERT_NE(NULL, s->con.ports);
	ASSERT_EQ(0, vu_init(s->dev, VU_FEATURES_ALL, qs, 6)) {
		TH_LOG("%s", vu_error());
	}
	for (i = 0; i < 6; i++) {
		ASSERT_EQ(0, vu_get_vring_base(s->dev, qs[i].idx, &base));
		EXPECT_EQ(qs[i].base, base);
	}
	for (i = 0; i < s->dev->nvqs; i++)
		s->dev->vqs[i].event_kick = true;
	ASSERT_EQ(0, vu_console_handshake(&s->con, 2)) {
		TH_LOG("%s", vu_error());
	}
	EXPECT_EQ(0, s->con.unexpected);
	port_connect(_metadata, s, 1);
	vu_fill_random(&seed, data, ST_LEN);
	ASSERT_EQ(0, vu_xfer_g2h(s->dev, 1, s->host[1], data, ST_LEN, &x)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(0, vu_xfer_h2g(s->dev, 1, s->host[1], data, ST_LEN, &x)) {
		TH_LOG("%s", vu_error());
	}
	/* All transmit chains were consumed: the base is the avail index. */
	ASSERT_EQ(0, vu_get_vring_base(s->dev, vu_port_txq(1), &base));
	EXPECT_EQ(s->dev->vqs[vu_port_txq(1)].avail_idx, base);
	EXPECT_LT(0xf, (uint16_t)(base - 0xfff1)) {
		TH_LOG("the index did not wrap: base 0x%x", base);
	}
	EXPECT_EQ(0, s->dev->proto_errors) {
		TH_LOG("%s", s->dev->last_proto_error);
	}
	EXPECT_FALSE(vu_needs_reset(s->dev));
	free(data);
}

/* NO_INTERRUPT (no EVENT_IDX) and used_event (EVENT_IDX) are obeyed. */
TEST_F(state, interrupt_suppression)
{
	struct side *s = &self->s;
	struct vu_vq *rxq;
	uint64_t calls;
	uint16_t used0;
	int i;

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);

	/* Without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT. */
	side_up(_metadata, s, FEATURES_MULTI, 2, 16, 256, 2);
	port_connect(_metadata, s, 1);
	rxq = &s->dev->vqs[vu_port_rxq(1)];
	rxq->avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	calls = vu_vq_calls(rxq);
	used0 = vu_vq_used_idx(rxq);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(1, write(s->host[1], "a", 1));
	usleep(100000);
	EXPECT_EQ((uint16_t)(used0 + 4), vu_vq_used_idx(rxq));
	EXPECT_EQ(calls, vu_vq_calls(rxq));
	rxq->avail->flags = 0;
	EXPECT_EQ(1, write(s->host[1], "b", 1));
	EXPECT_LT(0, vu_poll(rxq->call_fd, POLLIN, 2000));
	EXPECT_LT(calls, vu_vq_calls(rxq));

	/* With EVENT_IDX: an interrupt only once used passes used_event. */
	close(s->host[1]);
	s->host[1] = -1;
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 256, 2);
	port_connect(_metadata, s, 1);
	rxq = &s->dev->vqs[vu_port_rxq(1)];
	/* The first buffer after reset always interrupts. */
	EXPECT_EQ(1, write(s->host[1], "c", 1));
	EXPECT_LT(0, vu_poll(rxq->call_fd, POLLIN, 2000));
	usleep(50000);
	calls = vu_vq_calls(rxq);
	used0 = vu_vq_used_idx(rxq);
	/* Interrupt when used->idx moves past used0 + 3. */
	rxq->avail->ring[rxq->num] = htole16(used0 + 3);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(1, write(s->host[1], "c", 1));
	usleep(100000);
	EXPECT_EQ((uint16_t)(used0 + 3), vu_vq_used_idx(rxq));
	EXPECT_EQ(calls, vu_vq_calls(rxq)) {
		TH_LOG("interrupted before used_event was passed");
	}
	EXPECT_EQ(1, write(s->host[1], "d", 1));
	EXPECT_LT(0, vu_poll(rxq->call_fd, POLLIN, 2000));
	EXPECT_EQ(calls + 1, vu_vq_calls(rxq));

	/* The device asks for a kick when it ran out: avail_event. */
	{
		struct vu_vq *txq = &s->dev->vqs[vu_port_txq(1)];
		char buf[8];

		ASSERT_LE(0, vu_port_send(s->dev, 1, "xyz", 3, 1, false));
		ASSERT_LT(0, vu_poll(s->host[1], POLLIN, 2000));
		EXPECT_EQ(3, read(s->host[1], buf, sizeof(buf)));
		EXPECT_EQ(-1, read(s->host[1], buf, sizeof(buf)));
		EXPECT_EQ(txq->avail_idx, vu_vq_avail_event(txq));
	}
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/*
 * VHOST_BACKEND_F_IOTLB_PERSIST: the device's map survives a reset, so
 * a VMM does not send it again.
 */
TEST_F(state, iotlb_persist_across_reset)
{
	struct side *s = &self->s;
	struct vu_opts opts = { .iotlb_persist = true, .arena_size = 2 << 20 };

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, &opts);
	ASSERT_TRUE(s->dev->backend_offered &
		    VU_F(VHOST_BACKEND_F_IOTLB_PERSIST));
	ASSERT_TRUE(s->dev->backend_features &
		    VU_F(VHOST_BACKEND_F_IOTLB_PERSIST));
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	port_connect(_metadata, s, 1);
	roundtrip(_metadata, s, 1, 10000, 1);
	/* Reset (vu_reset does not map again with PERSIST), then again. */
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	ASSERT_EQ(0, vu_console_open_port(&s->con, 1));
	roundtrip(_metadata, s, 1, 10000, 2);
}

/*
 * The admin guide: when the driver corrupted a queue of a port, the host
 * end's read() and write() both fail with EIO (and poll has POLLERR).
 */
TEST_F(state, broken_port_fails_both_ways)
{
	struct side *s = &self->s;
	struct vu_vq *txq, *rxq;
	char buf[16];
	ssize_t n;

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	port_connect(_metadata, s, 1);
	txq = &s->dev->vqs[vu_port_txq(1)];
	rxq = &s->dev->vqs[vu_port_rxq(1)];
	/* Break the transmit queue: a chain looping on itself. */
	vu_desc_set(&txq->desc[0], txq->slots_iova, 8, VRING_DESC_F_NEXT, 0);
	txq->nfree = 0;
	vu_vq_publish(txq, 0);
	vu_vq_kick(txq);
	while (read(s->host[1], buf, sizeof(buf)) > 0)
		;
	ASSERT_TRUE(vu_needs_reset(s->dev));
	EXPECT_TRUE(vu_poll(s->host[1], POLLIN, 0) & POLLERR);
	EXPECT_EQ(-1, read(s->host[1], buf, sizeof(buf)));
	EXPECT_EQ(EIO, errno);
	/* The receive queue has buffers, the port is open on both sides. */
	EXPECT_LT(0, rxq->num - rxq->nfree);
	n = write(s->host[1], "x", 1);
	EXPECT_EQ(-1, n) {
		TH_LOG("write() on the broken port returned %zd", n);
	}
	EXPECT_EQ(EIO, errno);
}

/* A reader blocked in read() returns when the driver resets the device. */
/*
 * A reset (the driver going away) wakes a blocked reader, which waits on
 * for the next driver: what that one sends arrives.
 */
TEST_F(state, reset_keeps_blocked_reader)
{
	struct side *s = &self->s;
	struct bio b = { 0 };
	char path[64], buf[16];
	pthread_t t;

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	ASSERT_EQ(0, vu_port_path(s->name, 1, path, sizeof(path)));
	b.fd = open(path, O_RDWR);
	ASSERT_LE(0, b.fd);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	b.buf = (uint8_t *)buf;
	b.len = 4;
	ASSERT_EQ(0, pthread_create(&t, NULL, bio_reader, &b));
	usleep(200000);
	ASSERT_EQ(0, vu_reset(s->dev));
	usleep(200000);
	EXPECT_EQ(EBUSY, pthread_tryjoin_np(t, NULL));
	/* The next driver sees the host end open, and is read. */
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	EXPECT_EQ(1, s->con.ports[1].host_open);
	ASSERT_EQ(0, vu_console_open_port(&s->con, 1));
	ASSERT_LE(0, vu_port_send(s->dev, 1, "next", 4, 1, false));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(4, b.done);
	EXPECT_EQ(0, memcmp(buf, "next", 4));
	close(b.fd);
}

static void *reset_thread(void *arg)
{
	struct vu_dev *dev = arg;

	return (void *)(long)vu_reset(dev);
}

/*
 * read() into user memory whose fault takes for ever (userfaultfd) does
 * not hold the device: the reader faults its buffer in without the
 * device's locks, so a reset completes meanwhile.
 */
TEST_F(state, user_fault_does_not_hold_device)
{
	struct side *s = &self->s;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage zero = { .mode = 0 };
	struct uffd_msg msg;
	struct bio b = { 0 };
	pthread_t rt, xt;
	char path[64];
	void *page, *rret;
	int uffd, i;
	bool reset_done = false;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP(return, "no userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	page = mmap(NULL, VU_PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	reg.range.start = (unsigned long)page;
	reg.range.len = VU_PAGE_SIZE;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));

	side_create(_metadata, s, VICTIM, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	ASSERT_EQ(0, vu_port_path(s->name, 1, path, sizeof(path)));
	b.fd = open(path, O_RDWR);
	ASSERT_LE(0, b.fd);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	ASSERT_EQ(0, vu_port_send(s->dev, 1, "hello", 5, 1, false));

	/* The reader faults on its buffer and stays there. */
	b.buf = page;
	b.len = 16;
	ASSERT_EQ(0, pthread_create(&rt, NULL, bio_reader, &b));
	ASSERT_LT(0, vu_poll(uffd, POLLIN, 5000));
	ASSERT_EQ(sizeof(msg), read(uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);

	/* The device is free meanwhile: a reset completes. */
	ASSERT_EQ(0, pthread_create(&xt, NULL, reset_thread, s->dev));
	for (i = 0; i < 500 && !reset_done; i++) {
		reset_done = !pthread_tryjoin_np(xt, &rret);
		usleep(10000);
	}
	EXPECT_TRUE(reset_done) {
		TH_LOG("the reset waited for the reader's page fault");
	}

	zero.range = reg.range;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_ZEROPAGE, &zero));
	if (!reset_done)
		ASSERT_EQ(0, pthread_join(xt, &rret));
	EXPECT_EQ(NULL, rret);
	/*
	 * The reset took the driver's buffers back; the reader waits for
	 * the next driver, and reads what it sends.
	 */
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	ASSERT_EQ(0, vu_console_open_port(&s->con, 1));
	ASSERT_LE(0, vu_port_send(s->dev, 1, "sixteen bytes...", 16, 1,
				  false));
	ASSERT_EQ(0, pthread_join(rt, NULL));
	EXPECT_EQ(0, b.err);
	EXPECT_EQ(16, b.done);
	close(b.fd);
	close(uffd);
	munmap(page, VU_PAGE_SIZE);
}

/*
 * The VMM goes away (vhost-vdpa closed), then the device is deleted,
 * with the host end open and a reader blocked: it waits through the
 * first, and sees end of file at the second; write() fails with ENODEV,
 * poll() reports POLLHUP | POLLERR.
 */
TEST_F(state, delete_with_host_end_open)
{
	struct side *s = &self->s;
	struct bio b = { 0 };
	char path[64], buf[16];
	pthread_t t;
	short ev;

	side_create(_metadata, s, FRESH, VU_DEFAULT_MAX_PORTS,
		    VU_DEFAULT_PORTS, 0, NULL);
	side_up(_metadata, s, VU_FEATURES_ALL, 2, 16, 4096, 2);
	ASSERT_EQ(0, vu_port_path(s->name, 1, path, sizeof(path)));
	b.fd = open(path, O_RDWR);
	ASSERT_LE(0, b.fd);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	b.buf = (uint8_t *)buf;
	b.len = sizeof(buf);
	ASSERT_EQ(0, pthread_create(&t, NULL, bio_reader, &b));
	usleep(100000);
	vu_console_free(&s->con);
	vu_close(s->dev);
	s->dev = NULL;
	usleep(200000);
	EXPECT_EQ(EBUSY, pthread_tryjoin_np(t, NULL));
	ASSERT_EQ(0, vu_dev_del(FRESH)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, b.done);
	EXPECT_EQ(0, b.err);
	EXPECT_EQ(0, read(b.fd, buf, sizeof(buf)));
	EXPECT_EQ(-1, write(b.fd, "x", 1));
	EXPECT_EQ(ENODEV, errno);
	ev = vu_poll(b.fd, POLLIN | POLLOUT, 0);
	EXPECT_EQ(POLLHUP | POLLERR, ev & (POLLHUP | POLLERR));
	close(b.fd);
}

/* ---- Life cycle: pause and resume, guest suspend, VMM exit, ids ---- */

/*
 * What a VMM and a guest do to a device over its life: QEMU resets it
 * on every VM stop and restores the rings on cont behind the guest's
 * back; a Linux guest that suspends resets it and asks again about the
 * ports it knows; a VMM goes away and another comes; ports come and go
 * at the same ids while the driver is slow.  Nothing the guest sent is
 * lost or delivered twice, nothing crosses from one port or session to
 * another.
 */
#define LC_PORTS	"console:,org.qemu.guest_agent.0,lc.a"
#define LC_CFG		"/sys/kernel/config/vdpa_vserial/" FRESH "/ports/"

/* A fresh device with ports 0 (console), 1 and 2 up, 2 open both ways. */
static void lc_up(struct __test_metadata *_metadata, struct side *s)
{
	struct vu_opts opts = { .arena_size = 4 << 20 };

	side_create(_metadata, s, FRESH, 8, LC_PORTS, 0, &opts);
	/* Queues for ports 3 and 4 too, which tests plug in later. */
	side_up(_metadata, s, VU_FEATURES_ALL, 5, 32, 4096, 3);
	ASSERT_EQ(0, vu_console_open_port(&s->con, 2));
	s->host[1] = host_open(_metadata, s->name, 2);
	ASSERT_LE(0, s->host[1]);
	expect_msg(_metadata, s, 2, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	ASSERT_EQ(1, port_attr(s->name, 2, "guest_connected"));
}

/* What lc_cfg_port() does to a configfs port of FRESH. */
enum { LC_PLUG, LC_UNPLUG, LC_RMDIR };

/* Ports the tests make with mkdir; removed before the device goes. */
static const char *const lc_made[] = { "lc.b", "lc.c", "lc.d", "lc.x", "lc.y" };

static int lc_cfg_port(const char *name, int id, int op)
{
	char path[256], val[16];
	int r = 0;

	snprintf(path, sizeof(path), LC_CFG "%s", name);
	if (op == LC_RMDIR)
		return rmdir(path) ? -errno : 0;
	if (op == LC_PLUG && mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	if (op == LC_PLUG && id >= 0) {
		snprintf(path, sizeof(path), LC_CFG "%s/id", name);
		snprintf(val, sizeof(val), "%d", id);
		r = vu_write_file(path, val);
	}
	snprintf(path, sizeof(path), LC_CFG "%s/enable", name);
	if (!r)
		r = vu_write_file(path, op == LC_PLUG ? "1" : "0");
	return r;
}

static void lc_teardown(struct side *s)
{
	unsigned int i;

	for (i = 0; i < sizeof(lc_made) / sizeof(lc_made[0]); i++)
		lc_cfg_port(lc_made[i], -1, LC_RMDIR);
	side_close(s);
	env_teardown();
}

/*
 * The device announces port @name at @id and the driver makes it ready:
 * PORT_ADD, PORT_READY, PORT_NAME.
 */
static void lc_announce(struct __test_metadata *_metadata, struct side *s,
			unsigned int id, const char *name)
{
	struct vu_ctrl_msg m;

	expect_msg(_metadata, s, id, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, id, VIRTIO_CONSOLE_PORT_READY, 1));
	s->con.ports[id].ready = true;
	expect_msg(_metadata, s, id, VIRTIO_CONSOLE_PORT_NAME, 1, &m);
	ASSERT_STREQ(name, m.name);
}

/* Plug port @name in at @id and let the driver make it ready. */
static void lc_plug_ready(struct __test_metadata *_metadata, struct side *s,
			  const char *name, unsigned int id)
{
	ASSERT_EQ(0, lc_cfg_port(name, id, LC_PLUG)) {
		TH_LOG("%s: %s", name, vu_error());
	}
	lc_announce(_metadata, s, id, name);
}

FIXTURE(lifecycle) {
	struct side s;
};

static void lc_setup(struct __test_metadata *_metadata, struct side *s)
{
	side_clear(s);
	env_setup(_metadata);
	vu_system(false, "mountpoint -q /sys/kernel/config || "
		  "mount -t configfs none /sys/kernel/config");
}

FIXTURE_SETUP(lifecycle)
{
	lc_setup(_metadata, &self->s);
}

FIXTURE_TEARDOWN(lifecycle)
{
	lc_teardown(&self->s);
}

/* The VM stops and continues; the VMM suspends the device first, or not. */
FIXTURE(pause) {
	struct side s;
};

FIXTURE_VARIANT(pause) {
	bool suspend;
};

FIXTURE_VARIANT_ADD(pause, suspend) {
	.suspend = true,
};

FIXTURE_VARIANT_ADD(pause, no_suspend) {
	.suspend = false,
};

FIXTURE_SETUP(pause)
{
	lc_setup(_metadata, &self->s);
}

FIXTURE_TEARDOWN(pause)
{
	lc_teardown(&self->s);
}

/* Take back the used transmit buffers; how many are still out. */
static unsigned int lc_tx_outstanding(struct vu_vq *vq, int wait_ms)
{
	uint16_t head;
	uint32_t len;

	while (vq->nfree < vq->num && vu_vq_wait_used(vq, wait_ms))
		while (vu_vq_get_used(vq, &head, &len) > 0)
			;
	return vq->num - vq->nfree;
}

/* Bytes both ways through port @id, whose host end is @fd. */
static void lc_roundtrip(struct __test_metadata *_metadata, struct side *s,
			 unsigned int id, int fd, size_t len, uint64_t seed)
{
	struct vu_xfer x = { .seed = seed, .max_segs = 4, .indirect = true };
	uint8_t *data = malloc(len);

	ASSERT_NE(NULL, data);
	vu_fill_random(&seed, data, len);
	ASSERT_EQ(0, vu_xfer_g2h(s->dev, id, fd, data, len, &x)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(x.crc_sent, x.crc_got);
	memset(&x, 0, sizeof(x));
	x.seed = seed;
	ASSERT_EQ(0, vu_xfer_h2g(s->dev, id, fd, data, len, &x)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(x.crc_sent, x.crc_got);
	free(data);
}

/*
 * QMP stop / cont (virsh suspend / resume) with a guest line half read
 * and more queued both ways: after cont the host reads the rest once,
 * the guest side is still open (no DEVICE_READY, PORT_READY or PORT_OPEN
 * from the guest), a host write reaches the guest, what the host end
 * did meanwhile reaches the driver, nothing is announced again, and the
 * driver is interrupted once for what it may have missed.
 */
TEST_F(pause, vmm_stop_cont)
{
	struct side *s = &self->s;
	struct vu_vq *txq, *rxq, *ctx;
	uint8_t line[211], more[5 * 3000], got[sizeof(line) + sizeof(more)];
	uint8_t in[64];
	uint64_t seed = 42, calls;
	uint16_t cused;
	uint16_t head;
	uint32_t len;
	size_t n, i;

	lc_up(_metadata, s);
	txq = &s->dev->vqs[vu_port_txq(2)];
	rxq = &s->dev->vqs[vu_port_rxq(2)];
	vu_fill_random(&seed, line, sizeof(line));
	vu_fill_random(&seed, more, sizeof(more));
	ASSERT_LE(0, vu_port_send(s->dev, 2, line, sizeof(line), 1, false));
	for (i = 0; i < 5; i++)
		ASSERT_LE(0, vu_port_send(s->dev, 2, more + i * 3000, 3000,
					  1 + i % 3, i % 2));
	ASSERT_EQ(10, host_read_all(s->host[1], got, 10, 2000));
	/* Host bytes on their way in, not yet taken by the guest. */
	ASSERT_EQ(5, write(s->host[1], "early", 5));

	ASSERT_EQ(0, vu_vmm_stop(s->dev, variant->suspend)) {
		TH_LOG("%s", vu_error());
	}
	/* Paused: the guest is still there, but nothing moves. */
	EXPECT_EQ(1, port_attr(s->name, 2, "guest_connected"));
	EXPECT_EQ(-1, read(s->host[1], got + 10, sizeof(got) - 10));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, vu_poll(s->host[1], POLLIN | POLLOUT | POLLRDHUP, 0) &
		  (POLLIN | POLLOUT | POLLRDHUP | POLLHUP));
	/* The host program restarts meanwhile: owed, sent after cont. */
	close(s->host[1]);
	s->host[1] = host_open(_metadata, s->name, 2);
	ASSERT_LE(0, s->host[1]);
	ctx = &s->dev->vqs[VU_CTRL_TXQ];
	calls = vu_vq_calls(ctx);
	cused = vu_vq_used_idx(ctx);

	ASSERT_EQ(0, vu_vmm_cont(s->dev)) {
		TH_LOG("%s", vu_error());
	}
	/* The new host session starts with the next whole buffer. */
	n = host_read_all(s->host[1], got, sizeof(more), 3000);
	EXPECT_EQ(sizeof(more), n);
	EXPECT_EQ(0, memcmp(got, more, n)) {
		TH_LOG("a byte lost or read twice across the pause");
	}
	EXPECT_EQ(sizeof(line) - 10,
		  port_attr(s->name, 2, "stats/bytes_discarded"));
	EXPECT_EQ(-1, read(s->host[1], got, 1));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, lc_tx_outstanding(txq, 2000));

	/* The guest side is open: a write goes through, after "early". */
	EXPECT_EQ(1, port_attr(s->name, 2, "guest_connected"));
	EXPECT_EQ(5, write(s->host[1], "later", 5));
	n = 0;
	while (n < 10 && vu_vq_wait_used(rxq, 2000))
		while (vu_vq_get_used(rxq, &head, &len) > 0)
			n += vu_vq_copy_in(rxq, head, len, in + n,
					   sizeof(in) - n);
	EXPECT_EQ(10, n);
	EXPECT_EQ(0, memcmp(in, "earlylater", 10));

	/* Only what the host end did meanwhile: close and open, coalesced. */
	expect_msg(_metadata, s, 2, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	expect_quiet(_metadata, s, 200);
	/* Nothing new on the control transmit queue, and an interrupt. */
	EXPECT_EQ(cused, vu_vq_used_idx(ctx));
	EXPECT_LT(calls, vu_vq_calls(ctx)) {
		TH_LOG("no interrupt after cont on a queue in use");
	}
	EXPECT_EQ(0, s->dev->proto_errors) {
		TH_LOG("%s", s->dev->last_proto_error);
	}
	EXPECT_FALSE(vu_needs_reset(s->dev));
}

/*
 * A half read line across stop and cont: the host end stays open and
 * reads the rest of the line, once (the report that started it all:
 * "one-from-Lone-from-L2").
 */
TEST_F(pause, half_read_line)
{
	struct side *s = &self->s;
	char line[211], got[400];
	size_t n;
	int i;

	lc_up(_metadata, s);
	for (i = 0; i < (int)sizeof(line) - 1; i++)
		line[i] = i < 13 ? "one-from-L2 0"[i] : '0' + i % 10;
	line[sizeof(line) - 1] = '\n';
	ASSERT_LE(0, vu_port_send(s->dev, 2, line, sizeof(line), 1, false));
	ASSERT_EQ(10, host_read_all(s->host[1], (uint8_t *)got, 10, 2000));
	ASSERT_EQ(0, vu_vmm_stop(s->dev, variant->suspend));
	ASSERT_EQ(0, vu_vmm_cont(s->dev));
	n = host_read_all(s->host[1], (uint8_t *)got + 10, sizeof(got) - 10,
			  1000);
	EXPECT_EQ(sizeof(line), n + 10) {
		TH_LOG("read %.20s...", got);
	}
	EXPECT_EQ(0, memcmp(got, line, sizeof(line)));
	EXPECT_EQ(0, lc_tx_outstanding(&s->dev->vqs[vu_port_txq(2)], 2000));
	expect_quiet(_metadata, s, 150);
}

/*
 * Ports plugged and unplugged while the VM is stopped are announced
 * after cont; the session goes on (the old driver had forgotten it at
 * the reset and announced nothing).
 */
TEST_F(pause, hotplug_while_stopped)
{
	struct side *s = &self->s;
	struct vu_ctrl_msg m;

	lc_up(_metadata, s);
	ASSERT_EQ(0, vu_vmm_stop(s->dev, variant->suspend));
	ASSERT_EQ(0, lc_cfg_port("lc.b", 3, LC_PLUG)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(0, lc_cfg_port("lc.a", -1, LC_UNPLUG));
	usleep(100000);
	ASSERT_EQ(0, vu_vmm_cont(s->dev));
	expect_msg(_metadata, s, 2, VIRTIO_CONSOLE_PORT_REMOVE, 1, NULL);
	lc_announce(_metadata, s, 3, "lc.b");
	expect_quiet(_metadata, s, 150);
	/* The host end of the unplugged port: end of file, no more data. */
	EXPECT_EQ(0, read(s->host[1], m.name, 1));
	EXPECT_EQ(POLLHUP | POLLERR,
		  vu_poll(s->host[1], POLLIN, 0) & (POLLHUP | POLLERR));
}

/*
 * A Linux guest suspends and resumes (virtcons_freeze/restore): new
 * rings, PORT_READY for each port it knows and PORT_OPEN for the open
 * one, no DEVICE_READY.  The device answers as for a new PORT_READY,
 * announces nothing again, and data moves on the new rings.  The new
 * rings are in the same memory as the old ones (the guest's allocator
 * gave the pages back): the chain half read before the suspend is gone,
 * and a new chain in its place is read whole.
 */
TEST_F(lifecycle, guest_freeze_restore)
{
	struct side *s = &self->s;
	uint8_t a[300], b[300], got[600];
	uint64_t seed = 7;
	struct vu_ctrl_msg m;
	bool named = false, opened = false, console = false;
	int r;

	lc_up(_metadata, s);
	vu_fill_random(&seed, a, sizeof(a));
	vu_fill_random(&seed, b, sizeof(b));
	ASSERT_LE(0, vu_port_send(s->dev, 2, a, sizeof(a), 1, false));
	ASSERT_EQ(10, host_read_all(s->host[1], got, 10, 2000));

	ASSERT_EQ(0, vu_console_freeze(&s->con));
	/* Asleep: the guest side is kept, the host end waits. */
	EXPECT_EQ(1, port_attr(s->name, 2, "guest_connected"));
	EXPECT_EQ(-1, read(s->host[1], got, sizeof(got)));
	EXPECT_EQ(EAGAIN, errno);
	/* Same memory, base 0: only PORT_READY tells it is a new ring. */
	for (r = 0; r < (int)s->dev->nvqs; r++)
		s->dev->vqs[r].allocated = s->dev->vqs[r].num != 0;
	ASSERT_EQ(0, vu_console_restore(&s->con)) {
		TH_LOG("%s", vu_error());
	}
	while ((r = vu_ctrl_recv(s->dev, &m, 300)) > 0) {
		EXPECT_TRUE(vu_console_account(&s->con, &m)) {
			TH_LOG("%s", s->con.why);
		}
		EXPECT_NE(VIRTIO_CONSOLE_PORT_ADD, m.event);
		console |= m.event == VIRTIO_CONSOLE_CONSOLE_PORT && m.id == 0;
		named |= m.event == VIRTIO_CONSOLE_PORT_NAME && m.id == 2 &&
			 !strcmp(m.name, "lc.a");
		opened |= m.event == VIRTIO_CONSOLE_PORT_OPEN && m.id == 2 &&
			  m.value == 1;
	}
	EXPECT_TRUE(console);
	EXPECT_TRUE(named);
	EXPECT_TRUE(opened);
	EXPECT_EQ(1, port_attr(s->name, 2, "guest_connected"));

	/* The same buffer, the same head, new bytes: read whole. */
	ASSERT_LE(0, vu_port_send(s->dev, 2, b, sizeof(b), 1, false));
	EXPECT_EQ(sizeof(b), host_read_all(s->host[1], got + 300,
					   sizeof(b), 2000));
	EXPECT_EQ(0, memcmp(got + 300, b, sizeof(b))) {
		TH_LOG("the new chain was taken for the old one");
	}
	lc_roundtrip(_metadata, s, 2, s->host[1], 20000, 3);
}

/*
 * The host end closes, the device sends PORT_OPEN 0, and the guest
 * freezes before it handles it: the message goes with the old rings.
 * After the restore the guest asks again (PORT_READY) and must hear that
 * the host end is closed (found by fuzz_proto; QEMU says nothing then).
 */
TEST_F(lifecycle, port_open_0_lost_across_restore)
{
	struct side *s = &self->s;
	struct vu_ctrl_msg m;
	bool closed = false;
	int r;

	lc_up(_metadata, s);
	ASSERT_EQ(0, close(s->host[1]));
	s->host[1] = -1;
	ASSERT_EQ(0, port_attr(s->name, 2, "host_connected"));
	usleep(300000);			/* sent, not handled */
	ASSERT_EQ(0, vu_console_freeze(&s->con));
	ASSERT_EQ(0, vu_console_restore(&s->con)) {
		TH_LOG("%s", vu_error());
	}
	while ((r = vu_ctrl_recv(s->dev, &m, 300)) > 0) {
		EXPECT_TRUE(vu_console_account(&s->con, &m)) {
			TH_LOG("%s", s->con.why);
		}
		closed |= m.event == VIRTIO_CONSOLE_PORT_OPEN && m.id == 2 &&
			  m.value == 0;
	}
	EXPECT_TRUE(closed) {
		TH_LOG("the guest still takes the host end for open");
	}
	EXPECT_EQ(0, s->con.ports[2].host_open);
}

/*
 * The driver asks about a port the device does not have (it missed the
 * PORT_REMOVE): it is told PORT_REMOVE.
 */
TEST_F(lifecycle, port_ready_for_missing_port)
{
	struct side *s = &self->s;

	lc_up(_metadata, s);
	s->con.ports[5].added = true;
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 5, VIRTIO_CONSOLE_PORT_READY, 1));
	expect_msg(_metadata, s, 5, VIRTIO_CONSOLE_PORT_REMOVE, 1, NULL);
	EXPECT_FALSE(s->con.ports[5].added);
	/* Beyond max_nr_ports: ignored. */
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 8, VIRTIO_CONSOLE_PORT_READY, 1));
	expect_quiet(_metadata, s, 150);
	/* A known port asked again is told again. */
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 2, VIRTIO_CONSOLE_PORT_READY, 1));
	s->con.ports[2].names = s->con.ports[2].opens = 0;
	expect_msg(_metadata, s, 2, VIRTIO_CONSOLE_PORT_NAME, 1, NULL);
	expect_msg(_metadata, s, 2, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
}

/*
 * A port plugged in at the id of one just unplugged, with a driver that
 * is slow to read its control queue: what the driver writes to its old
 * port meanwhile, and the old port's PORT_OPEN, never reach the new
 * port.  Once the driver has the new port, its bytes do.
 */
TEST_F(lifecycle, id_reuse_slow_driver)
{
	struct side *s = &self->s;
	struct vu_vq *txq;
	char buf[64];
	int fd;

	lc_up(_metadata, s);
	lc_plug_ready(_metadata, s, "lc.x", 3);
	ASSERT_EQ(0, vu_console_open_port(&s->con, 3));
	txq = &s->dev->vqs[vu_port_txq(3)];
	/* The driver stops reading control messages; lc.x goes. */
	ASSERT_EQ(0, lc_cfg_port("lc.x", -1, LC_RMDIR));
	ASSERT_LE(0, vu_port_send(s->dev, 3, "OLD-1", 5, 1, false));
	ASSERT_EQ(0, lc_cfg_port("lc.y", 3, LC_PLUG));
	fd = host_open(_metadata, s->name, 3);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, vu_port_send(s->dev, 3, "OLD-2", 5, 1, false));
	/* The old port's open, from a guest that did not hear yet. */
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 3, VIRTIO_CONSOLE_PORT_OPEN, 1));
	usleep(200000);
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, vu_poll(fd, POLLIN, 0) & POLLIN);
	EXPECT_EQ(0, port_attr(s->name, 3, "guest_connected"));
	EXPECT_EQ(-1, write(fd, "x", 1));
	EXPECT_EQ(EAGAIN, errno);

	/* The driver catches up: the old port goes, the new one comes. */
	expect_msg(_metadata, s, 3, VIRTIO_CONSOLE_PORT_REMOVE, 1, NULL);
	lc_announce(_metadata, s, 3, "lc.y");
	expect_msg(_metadata, s, 3, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	ASSERT_EQ(0, vu_console_open_port(&s->con, 3));
	ASSERT_LE(0, vu_port_send(s->dev, 3, "NEW", 3, 1, false));
	EXPECT_EQ(3, host_read_all(fd, (uint8_t *)buf, sizeof(buf), 1000));
	EXPECT_EQ(0, memcmp(buf, "NEW", 3)) {
		TH_LOG("the new port read '%.*s'", 8, buf);
	}
	/* OLD-1 was returned when no port had the id; OLD-2 by the fence. */
	EXPECT_EQ(5, port_attr(s->name, 3, "stats/bytes_discarded"));
	EXPECT_EQ(2, port_attr(s->name, 3, "stats/buffers_from_guest"));
	EXPECT_EQ(0, lc_tx_outstanding(txq, 2000));
	close(fd);
}

/*
 * The same, with the previous port unplugged before the driver answered
 * its PORT_ADD: the driver's late PORT_READY is the previous port's,
 * only the next one is the new port's.
 */
TEST_F(lifecycle, id_reuse_before_ready)
{
	struct side *s = &self->s;
	struct vu_ctrl_msg m;

	lc_up(_metadata, s);
	ASSERT_EQ(0, lc_cfg_port("lc.c", 4, LC_PLUG));
	usleep(100000);
	ASSERT_EQ(0, lc_cfg_port("lc.c", -1, LC_RMDIR));
	ASSERT_EQ(0, lc_cfg_port("lc.d", 4, LC_PLUG));
	usleep(100000);
	expect_msg(_metadata, s, 4, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	/* The driver answers the first PORT_ADD, for lc.c. */
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 4, VIRTIO_CONSOLE_PORT_READY, 1));
	s->con.ports[4].ready = true;
	expect_msg(_metadata, s, 4, VIRTIO_CONSOLE_PORT_REMOVE, 1, NULL);
	expect_msg(_metadata, s, 4, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	expect_quiet(_metadata, s, 200);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 4, VIRTIO_CONSOLE_PORT_READY, 1));
	s->con.ports[4].ready = true;
	expect_msg(_metadata, s, 4, VIRTIO_CONSOLE_PORT_NAME, 1, &m);
	EXPECT_STREQ("lc.d", m.name);
	expect_quiet(_metadata, s, 150);
}

/*
 * The host end closes in the middle of a guest buffer, while the VM runs
 * or is stopped: the rest of it is returned unread and counted; the next
 * session starts with the next buffer.
 */
static void lc_close_mid_buffer(struct __test_metadata *_metadata,
				struct side *s, int pause)
{
	uint8_t a[1000], b[500], got[1500];
	uint64_t seed = 11;

	lc_up(_metadata, s);
	vu_fill_random(&seed, a, sizeof(a));
	vu_fill_random(&seed, b, sizeof(b));
	ASSERT_LE(0, vu_port_send(s->dev, 2, a, sizeof(a), 2, false));
	ASSERT_LE(0, vu_port_send(s->dev, 2, b, sizeof(b), 1, false));
	ASSERT_EQ(10, host_read_all(s->host[1], got, 10, 2000));
	if (pause >= 0)
		ASSERT_EQ(0, vu_vmm_stop(s->dev, pause));
	close(s->host[1]);
	s->host[1] = host_open(_metadata, s->name, 2);
	ASSERT_LE(0, s->host[1]);
	if (pause >= 0)
		ASSERT_EQ(0, vu_vmm_cont(s->dev));
	EXPECT_EQ(sizeof(b), host_read_all(s->host[1], got, sizeof(got),
					   1000));
	EXPECT_EQ(0, memcmp(got, b, sizeof(b)));
	EXPECT_EQ(990, port_attr(s->name, 2, "stats/bytes_discarded"));
	EXPECT_EQ(0, lc_tx_outstanding(&s->dev->vqs[vu_port_txq(2)], 2000));
}

TEST_F(lifecycle, host_close_mid_buffer)
{
	lc_close_mid_buffer(_metadata, &self->s, -1);
}

TEST_F(pause, host_close_mid_buffer)
{
	lc_close_mid_buffer(_metadata, &self->s, variant->suspend);
}

/*
 * A host end opened before the driver opens the port, and kept while it
 * closes and the VMM goes away: read() waits (EAGAIN here), never end
 * of file; poll() says POLLRDHUP while the guest side is away, never
 * POLLHUP.  When a new VMM's guest opens the port, its bytes arrive.
 */
TEST_F(lifecycle, host_end_outlives_guest)
{
	struct side *s = &self->s;
	struct vu_opts opts = { .arena_size = 4 << 20 };
	char buf[16];
	int fd;
	short ev;

	side_create(_metadata, s, FRESH, 8, LC_PORTS, 0, &opts);
	fd = host_open(_metadata, s->name, 2);
	ASSERT_LE(0, fd);
	side_up(_metadata, s, VU_FEATURES_ALL, 3, 32, 4096, 3);
	EXPECT_EQ(1, s->con.ports[2].host_open);
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	ev = vu_poll(fd, POLLIN | POLLRDHUP, 0);
	EXPECT_EQ(POLLRDHUP, ev);

	ASSERT_EQ(0, vu_console_open_port(&s->con, 2));
	EXPECT_EQ(0, vu_poll(fd, POLLIN | POLLRDHUP, 0));
	ASSERT_LE(0, vu_port_send(s->dev, 2, "one", 3, 1, false));
	EXPECT_EQ(3, host_read_all(fd, (uint8_t *)buf, 3, 1000));
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 2, VIRTIO_CONSOLE_PORT_OPEN, 0));
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(POLLRDHUP, vu_poll(fd, POLLIN | POLLRDHUP, 0));

	/* The VMM goes, another comes with a guest that opens the port. */
	vu_console_free(&s->con);
	vu_close(s->dev);
	s->dev = NULL;
	EXPECT_EQ(0, port_attr(s->name, 2, "guest_connected"));
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(POLLRDHUP, vu_poll(fd, POLLIN | POLLRDHUP, 0));
	ASSERT_EQ(0, vu_open(s->name, &opts, &s->dev));
	side_up(_metadata, s, VU_FEATURES_ALL, 3, 32, 4096, 3);
	EXPECT_EQ(1, s->con.ports[2].host_open);
	ASSERT_EQ(0, vu_console_open_port(&s->con, 2));
	ASSERT_LE(0, vu_port_send(s->dev, 2, "two", 3, 1, false));
	EXPECT_EQ(3, host_read_all(fd, (uint8_t *)buf, 3, 1000));
	EXPECT_EQ(0, memcmp(buf, "two", 3));
	close(fd);
}

/*
 * After cont a VMM gives its interrupt eventfds only after DRIVER_OK: a
 * host write in between, on a queue never used before, still
 * interrupts the driver once the eventfd is there.
 */
TEST_F(pause, interrupt_waits_for_callback)
{
	struct side *s = &self->s;
	struct vu_vq *rxq;
	uint64_t calls;

	lc_up(_metadata, s);
	/* Port 1: open on both sides, never written to. */
	ASSERT_EQ(0, vu_console_open_port(&s->con, 1));
	s->host[0] = host_open(_metadata, s->name, 1);
	ASSERT_LE(0, s->host[0]);
	expect_msg(_metadata, s, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
	rxq = &s->dev->vqs[vu_port_rxq(1)];
	ASSERT_EQ(0, vu_vmm_stop(s->dev, variant->suspend));
	ASSERT_EQ(0, vu_vmm_cont_rings(s->dev));
	ASSERT_LT(0, vu_poll(s->host[0], POLLOUT, 2000));
	ASSERT_EQ(4, write(s->host[0], "ping", 4));
	calls = vu_vq_calls(rxq);
	usleep(100000);
	ASSERT_EQ(0, vu_vmm_cont_calls(s->dev));
	EXPECT_EQ(1, vu_vq_wait_used(rxq, 0));
	usleep(300000);
	EXPECT_LT(calls, vu_vq_calls(rxq)) {
		TH_LOG("the driver was never told of the host's write");
	}
}

/*
 * The driver fails to add a port (PORT_READY 0) that is then unplugged:
 * the next port at its id is made ready by its own PORT_READY.
 */
TEST_F(lifecycle, id_reuse_failed_add)
{
	struct side *s = &self->s;

	lc_up(_metadata, s);
	ASSERT_EQ(0, lc_cfg_port("lc.c", 4, LC_PLUG));
	expect_msg(_metadata, s, 4, VIRTIO_CONSOLE_PORT_ADD, 1, NULL);
	ASSERT_EQ(0, vu_ctrl_send(s->dev, 4, VIRTIO_CONSOLE_PORT_READY, 0));
	s->con.ports[4].added = false;
	ASSERT_EQ(0, lc_cfg_port("lc.c", -1, LC_RMDIR));
	ASSERT_EQ(0, lc_cfg_port("lc.d", 4, LC_PLUG));
	expect_msg(_metadata, s, 4, VIRTIO_CONSOLE_PORT_REMOVE, 1, NULL);
	lc_announce(_metadata, s, 4, "lc.d");
}

struct lc_poller {
	int fd;
	short revents;
	uint64_t ms;		/* how long poll() waited */
};

static void *lc_poll_thread(void *arg)
{
	struct lc_poller *p = arg;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN | POLLRDHUP };
	uint64_t t0 = vu_now_ms();

	if (poll(&pfd, 1, 5000) > 0)
		p->revents = pfd.revents;
	p->ms = vu_now_ms() - t0;
	return NULL;
}

/*
 * A guest reboot (a new driver's DEVICE_READY) ends the guest side's
 * session: a poller waiting for the guest side to go away wakes.
 */
TEST_F(lifecycle, new_driver_wakes_poller)
{
	struct side *s = &self->s;
	struct lc_poller p = { 0 };
	pthread_t t;

	lc_up(_metadata, s);
	p.fd = s->host[1];
	ASSERT_EQ(0, pthread_create(&t, NULL, lc_poll_thread, &p));
	usleep(300000);
	/* The guest reboots: reset, new rings, DEVICE_READY. */
	side_up(_metadata, s, VU_FEATURES_ALL, 5, 32, 4096, 3);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(POLLRDHUP, p.revents);
	EXPECT_GT(4000, p.ms) {
		TH_LOG("the poller waited %llu ms", (unsigned long long)p.ms);
	}
	EXPECT_EQ(0, port_attr(s->name, 2, "guest_connected"));
}

/* Count "change" uevents for @devname within @ms; the last value seen. */
static int lc_count_uevents(int sk, const char *devname, int ms, int *last)
{
	uint64_t end = vu_now_ms() + ms;
	int count = 0, val;

	while ((val = uevent_next_connected(sk, devname,
					    end - vu_now_ms())) >= 0) {
		count++;
		*last = val;
	}
	return count;
}

/*
 * A guest that opens and closes its port as fast as it can makes at
 * most VSERIAL_UEVENT_RATE (10) uevents a second, and the last one says
 * how it ended.
 */
TEST_F(lifecycle, uevent_rate)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	struct side *s = &self->s;
	char path[64], devname[32];
	int sk, i, count, last = -1;
	uint64_t t0, ms;

	lc_up(_metadata, s);
	ASSERT_EQ(0, vu_port_path(s->name, 2, path, sizeof(path)));
	snprintf(devname, sizeof(devname), "/%s", strrchr(path, '/') + 1);
	sk = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
		    NETLINK_KOBJECT_UEVENT);
	ASSERT_LE(0, sk);
	ASSERT_EQ(0, bind(sk, (struct sockaddr *)&sa, sizeof(sa)));
	t0 = vu_now_ms();
	for (i = 0; i < 300; i++)
		ASSERT_EQ(0, vu_ctrl_send(s->dev, 2, VIRTIO_CONSOLE_PORT_OPEN,
					  i % 2));
	count = lc_count_uevents(sk, devname, 1500, &last);
	ms = vu_now_ms() - t0;
	TH_LOG("%d uevents in %llu ms for 300 opens and closes", count,
	       (unsigned long long)ms);
	EXPECT_LT(0, count);
	EXPECT_GE(1 + 10 * (ms + 999) / 1000, count);
	EXPECT_EQ(1, last);
	EXPECT_EQ(1, port_attr(s->name, 2, "guest_connected"));
	close(sk);
}

TEST_HARNESS_MAIN
