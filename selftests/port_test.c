// SPDX-License-Identifier: GPL-2.0
/*
 * port_test - vdpa_vserial ports as first-class objects
 *
 * Through configfs (/sys/kernel/config/vdpa_vserial/DEV/ports/PORT/) and
 * the kernel's own virtio_console driver bound with virtio_vdpa: the
 * kernel-made tree, hot-plug and unplug (PORT_ADD/PORT_REMOVE) seen by
 * the driver, errors, unplug with the host end open, plug and unplug
 * while other ports carry traffic, templates, RESIZE (TIOCSWINSZ) seen on
 * the driver's hvc, udev links, counters and tracepoints; host ends that
 * outlive the guest's sessions (a log collector across guest restarts,
 * socat), guest_connected uevents.
 *
 * Needs root, the module, virtio_vdpa, udevd with the project's rule:
 * run it in the test VM ("make vm-run CMD=selftests/port_test").
 */
#include <time.h>
#include <linux/netlink.h>

#include "kselftest_harness.h"
#include "uevent.h"
#include "vserial_lib.h"

#define DEV_DIR		VS_CFG "/" VS_DEV
#define TRACING		"/sys/kernel/tracing"

/* Path of DEV's PORT's ATTR in configfs (PORT, ATTR may be NULL). */
static const char *cfg(const char *dev, const char *port, const char *attr)
{
	static char path[4][PATH_MAX];
	static int n;
	char *p = path[n++ % 4];

	snprintf(p, PATH_MAX, VS_CFG "/%s%s%s%s%s", dev,
		 port ? "/ports/" : "", port ?: "", attr ? "/" : "",
		 attr ?: "");
	return p;
}

/* Write @val to DEV/ports/PORT/ATTR: 0 or -errno. */
static int cfg_set(const char *dev, const char *port, const char *attr,
		   const char *val)
{
	return vs_write_str(cfg(dev, port, attr), val);
}

static int cfg_mkdir(const char *path)
{
	return mkdir(path, 0755) ? -errno : 0;
}

static int cfg_rmdir(const char *path)
{
	return rmdir(path) ? -errno : 0;
}

static long long cfg_ll(const char *dev, const char *port, const char *attr)
{
	return vs_read_ll(cfg(dev, port, attr));
}

/* mkdir DEV/ports/PORT, set NAME=VALUE pairs, enable: 0 or -errno. */
static int cfg_port_add(const char *dev, const char *port, bool console)
{
	int ret = cfg_mkdir(cfg(dev, port, NULL));

	if (!ret && console)
		ret = cfg_set(dev, port, "console", "1");
	if (!ret)
		ret = cfg_set(dev, port, "enable", "1");
	return ret;
}

/*
 * Wait until the driver side of port @name of device @d is there (or,
 * !@present, gone): its /dev/virtio-ports link and vport device.
 */
static int guest_port_wait(struct vs_dev *d, const char *name, bool present)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/dev/virtio-ports/%s", name);
	return vs_wait_exists(path, present, 20000);
}

/* The host end of port @name of VS_DEV, scanned into @d; NULL if none. */
static struct vs_port *host_port(struct vs_dev *d, const char *name)
{
	vs_dev_scan(d, VS_DEV);
	return vs_port_by_name(d, name);
}

/*
 * Host end of port @name and its guest end, both open and connected,
 * after the port was hot-plugged.
 */
static struct vs_port *connect_port(struct vs_dev *d, const char *name,
				    int *hfd, int *gfd)
{
	struct vs_port *p;

	if (guest_port_wait(d, name, true))
		return NULL;
	p = host_port(d, name);
	if (!p)
		return NULL;
	d->virtio = vs_dev_virtio(VS_DEV);
	snprintf(p->guest, sizeof(p->guest), "/dev/vport%dp%u", d->virtio,
		 p->id);
	return vs_connect(p, 0, 0, hfd, gfd) ? NULL : p;
}

/* @len bytes each way between @hfd and @gfd, checked. */
static int exchange(int hfd, int gfd, size_t len, uint64_t seed)
{
	char *out = malloc(len), *in = malloc(len);
	int ret = -1;

	if (!out || !in)
		goto out;
	vs_pattern(seed, 0, out, len);
	if (vs_write_full(hfd, out, len, 10000) != (ssize_t)len ||
	    vs_read_full(gfd, in, len, 10000) != (ssize_t)len ||
	    memcmp(in, out, len))
		goto out;
	vs_pattern(seed + 1, 0, out, len);
	if (vs_write_full(gfd, out, len, 10000) != (ssize_t)len ||
	    vs_read_full(hfd, in, len, 10000) != (ssize_t)len ||
	    memcmp(in, out, len))
		goto out;
	ret = 0;
out:
	free(out);
	free(in);
	return ret;
}

FIXTURE(ports) {
	struct vs_dev dev;
	int kmsg;
};

FIXTURE_SETUP(ports)
{
	if (getuid())
		SKIP(return, "needs root");
	ASSERT_EQ(0, vs_env_reset());
	self->kmsg = vs_kmsg_open();
}

FIXTURE_TEARDOWN(ports)
{
	EXPECT_EQ(0, vs_env_reset());
	EXPECT_EQ(0, vs_kmsg_bad(self->kmsg))
		TH_LOG("kernel warnings or errors during the test");
	if (self->kmsg >= 0)
		close(self->kmsg);
}

/* "vdpa dev add" makes DEV/ with the ports of the module parameters. */
TEST_F_TIMEOUT(ports, kernel_made_tree, 120)
{
	struct vs_port *agent;
	char buf[300];

	ASSERT_FALSE(vs_exists(DEV_DIR));
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	ASSERT_TRUE(vs_exists(DEV_DIR));
	EXPECT_EQ(31, cfg_ll(VS_DEV, NULL, "max_ports"));
	ASSERT_LT(0, vs_read_str(cfg(VS_DEV, NULL, "resize_order"), buf,
				 sizeof(buf)));
	EXPECT_STREQ("cols_rows", buf);

	/* Console port 0, unnamed: directory "port0". */
	EXPECT_EQ(0, cfg_ll(VS_DEV, "port0", "id"));
	EXPECT_EQ(1, cfg_ll(VS_DEV, "port0", "console"));
	EXPECT_EQ(1, cfg_ll(VS_DEV, "port0", "enable"));
	ASSERT_LE(0, vs_read_str(cfg(VS_DEV, "port0", "name"), buf,
				 sizeof(buf)));
	EXPECT_STREQ("", buf);
	ASSERT_LT(0, vs_read_str(cfg(VS_DEV, "port0", "dev"), buf,
				 sizeof(buf)));
	EXPECT_STREQ(vs_port_by_id(&self->dev, 0)->host, buf);

	agent = vs_port_by_name(&self->dev, "org.qemu.guest_agent.0");
	ASSERT_NE(NULL, agent);
	EXPECT_EQ(1, cfg_ll(VS_DEV, "org.qemu.guest_agent.0", "id"));
	EXPECT_EQ(0, cfg_ll(VS_DEV, "org.qemu.guest_agent.0", "console"));
	ASSERT_LT(0, vs_read_str(cfg(VS_DEV, "org.qemu.guest_agent.0", "dev"),
				 buf, sizeof(buf)));
	EXPECT_STREQ(agent->host, buf);

	/* The kernel's directories are not rmdir's to remove. */
	EXPECT_EQ(-EPERM, cfg_rmdir(cfg(VS_DEV, "port0", NULL)));
	EXPECT_EQ(-EPERM, cfg_rmdir(DEV_DIR));
	/* max_ports is fixed while the device exists. */
	EXPECT_EQ(-EBUSY, cfg_set(VS_DEV, NULL, "max_ports", "8"));

	ASSERT_EQ(0, vs_destroy());
	EXPECT_EQ(0, vs_wait_exists(DEV_DIR, false, 5000));
}

/*
 * mkdir + enable plugs a port in: the Linux driver gets PORT_ADD and
 * PORT_NAME (its /dev/virtio-ports link), the host end appears, data
 * flows; enable 0 unplugs it (PORT_REMOVE): both ends go.  Again, for
 * the same id; then rmdir.
 */
TEST_F_TIMEOUT(ports, hotplug_named_port, 180)
{
	struct vs_port *p;
	char buf[300], host[300];
	int hfd, gfd, round;

	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, "hot.one", NULL)));
	EXPECT_EQ(0, cfg_ll(VS_DEV, "hot.one", "enable"));
	EXPECT_EQ(0, cfg_ll(VS_DEV, "hot.one", "console"));
	ASSERT_LT(0, vs_read_str(cfg(VS_DEV, "hot.one", "id"), buf,
				 sizeof(buf)));
	EXPECT_STREQ("auto", buf);
	ASSERT_LT(0, vs_read_str(cfg(VS_DEV, "hot.one", "name"), buf,
				 sizeof(buf)));
	EXPECT_STREQ("hot.one", buf);
	ASSERT_LE(0, vs_read_str(cfg(VS_DEV, "hot.one", "dev"), buf,
				 sizeof(buf)));
	EXPECT_STREQ("", buf);
	EXPECT_EQ(NULL, host_port(&self->dev, "hot.one"));

	for (round = 0; round < 2; round++) {
		ASSERT_EQ(0, cfg_set(VS_DEV, "hot.one", "enable", "1"));
		/* The lowest free id: 0 is the console's, 1 the agent's. */
		EXPECT_EQ(2, cfg_ll(VS_DEV, "hot.one", "id"));
		p = connect_port(&self->dev, "hot.one", &hfd, &gfd);
		ASSERT_NE(NULL, p);
		EXPECT_EQ(2, p->id);
		ASSERT_LT(0, vs_read_str(cfg(VS_DEV, "hot.one", "dev"), buf,
					 sizeof(buf)));
		EXPECT_STREQ(p->host, buf);
		snprintf(host, sizeof(host), "%s", p->host);
		EXPECT_EQ(0, exchange(hfd, gfd, 100000, 7 + round));
		close(gfd);
		close(hfd);

		ASSERT_EQ(0, cfg_set(VS_DEV, "hot.one", "enable", "0"));
		EXPECT_EQ(0, guest_port_wait(&self->dev, "hot.one", false));
		EXPECT_FALSE(vs_exists(host));
		EXPECT_EQ(NULL, host_port(&self->dev, "hot.one"));
		ASSERT_LE(0, vs_read_str(cfg(VS_DEV, "hot.one", "dev"), buf,
					 sizeof(buf)));
		EXPECT_STREQ("", buf);
		ASSERT_LT(0, vs_read_str(cfg(VS_DEV, "hot.one", "id"), buf,
					 sizeof(buf)));
		EXPECT_STREQ("auto", buf);
	}

	/* The other ports are untouched. */
	p = host_port(&self->dev, "org.qemu.guest_agent.0");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vs_dev_wait(&self->dev, VS_DEV, 2, 0, 10000));
	p = vs_port_by_name(&self->dev, "org.qemu.guest_agent.0");
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));
	EXPECT_EQ(0, exchange(hfd, gfd, 10000, 3));
	close(gfd);
	close(hfd);

	/* rmdir of an enabled port unplugs it. */
	ASSERT_EQ(0, cfg_set(VS_DEV, "hot.one", "enable", "1"));
	ASSERT_EQ(0, guest_port_wait(&self->dev, "hot.one", true));
	ASSERT_EQ(0, cfg_rmdir(cfg(VS_DEV, "hot.one", NULL)));
	EXPECT_EQ(0, guest_port_wait(&self->dev, "hot.one", false));
	EXPECT_EQ(NULL, host_port(&self->dev, "hot.one"));
}

/* What configfs refuses, and with which error. */
TEST_F_TIMEOUT(ports, errors, 120)
{
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));

	/* Duplicate names: the directory name is the default name. */
	EXPECT_EQ(-EEXIST, cfg_mkdir(cfg(VS_DEV, "org.qemu.guest_agent.0",
					 NULL)));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, "a", NULL)));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, "b", NULL)));
	EXPECT_EQ(-EEXIST, cfg_set(VS_DEV, "b", "name", "a"));
	EXPECT_EQ(-EEXIST, cfg_set(VS_DEV, "b", "name",
				   "org.qemu.guest_agent.0"));
	EXPECT_EQ(0, cfg_set(VS_DEV, "b", "name", "b2"));
	/* Names are printable ASCII without '/'. */
	EXPECT_EQ(-EINVAL, cfg_set(VS_DEV, "b", "name", "with space"));
	EXPECT_EQ(-EINVAL, cfg_mkdir(cfg(VS_DEV, "bad\tname", NULL)));
	/* ASCII only: the kernel's isgraph() takes Latin-1 (fuzz_parse). */
	EXPECT_EQ(-EINVAL, cfg_set(VS_DEV, "b", "name", "caf\xe9"));
	EXPECT_EQ(-EINVAL, cfg_mkdir(cfg(VS_DEV, "caf\xe9", NULL)));

	/* Ids: unique, below max_nr_ports, "auto". */
	EXPECT_EQ(-EEXIST, cfg_set(VS_DEV, "a", "id", "1"));
	EXPECT_EQ(-ERANGE, cfg_set(VS_DEV, "a", "id", "31"));
	EXPECT_EQ(-EINVAL, cfg_set(VS_DEV, "a", "id", "x"));
	EXPECT_EQ(0, cfg_set(VS_DEV, "a", "id", "30"));
	EXPECT_EQ(-EEXIST, cfg_set(VS_DEV, "b", "id", "30"));
	EXPECT_EQ(0, cfg_set(VS_DEV, "a", "id", "auto"));
	EXPECT_EQ(0, cfg_set(VS_DEV, "a", "id", "30"));

	/* Enabled: id, name and console are fixed. */
	ASSERT_EQ(0, cfg_set(VS_DEV, "a", "enable", "1"));
	EXPECT_EQ(0, guest_port_wait(&self->dev, "a", true));
	EXPECT_EQ(-EBUSY, cfg_set(VS_DEV, "a", "id", "29"));
	EXPECT_EQ(-EBUSY, cfg_set(VS_DEV, "a", "name", "z"));
	EXPECT_EQ(-EBUSY, cfg_set(VS_DEV, "a", "console", "1"));
	EXPECT_EQ(0, cfg_set(VS_DEV, "a", "enable", "1"));	/* no-op */
	EXPECT_EQ(-EINVAL, cfg_set(VS_DEV, "a", "enable", "maybe"));
	EXPECT_EQ(-EINVAL, cfg_set(VS_DEV, NULL, "resize_order", "up"));
	EXPECT_EQ(-EBUSY, cfg_set(VS_DEV, NULL, "max_ports", "31"));
	ASSERT_EQ(0, cfg_set(VS_DEV, "a", "enable", "0"));
	EXPECT_EQ(0, cfg_set(VS_DEV, "a", "name", "z"));

	/* Templates: max_ports 1..511; ids must stay below it. */
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV2, NULL, NULL)));
	EXPECT_EQ(-EINVAL, cfg_set(VS_DEV2, NULL, "max_ports", "0"));
	EXPECT_EQ(-EINVAL, cfg_set(VS_DEV2, NULL, "max_ports", "512"));
	EXPECT_EQ(0, cfg_set(VS_DEV2, NULL, "max_ports", "4"));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV2, "p", NULL)));
	EXPECT_EQ(-ERANGE, cfg_set(VS_DEV2, "p", "id", "4"));
	EXPECT_EQ(0, cfg_set(VS_DEV2, "p", "id", "3"));
	EXPECT_EQ(-ERANGE, cfg_set(VS_DEV2, NULL, "max_ports", "3"));
	/* A template with ports cannot go before them. */
	EXPECT_EQ(-ENOTEMPTY, cfg_rmdir(cfg(VS_DEV2, NULL, NULL)));
	/* A template's name is taken until it goes. */
	EXPECT_EQ(-EEXIST, cfg_mkdir(cfg(VS_DEV2, NULL, NULL)));

	/* Without MULTIPORT only console port 0 can be plugged. */
	ASSERT_EQ(0, vs_destroy());
	{
		uint64_t f = VS_F_ALL & ~VS_F_MULTIPORT;

		ASSERT_EQ(0, vs_create(&self->dev, NULL, &f, 1));
	}
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, "c", NULL)));
	EXPECT_EQ(-EOPNOTSUPP, cfg_set(VS_DEV, "c", "enable", "1"));
}

/*
 * What configfs and "vdpa dev add" refuse besides: names that cannot be
 * directories, two ports wanting one directory, template ports that
 * would not fit their device; names lose surrounding blanks.
 */
TEST_F_TIMEOUT(ports, names_and_ids, 120)
{
	char buf[300];

	/* A device's name is its configfs directory's. */
	EXPECT_EQ(-EINVAL, vs_dev_add("..", NULL));
	EXPECT_EQ(-EINVAL, vs_dev_add("a/b", NULL));
	/* (the driver core would have named it a!b) */
	EXPECT_FALSE(vs_dev_exists("a!b"));

	/* Console port 0 is directory port0: no port may be named so. */
	ASSERT_EQ(0, vs_param_set("ports", "console:,port0"));
	EXPECT_EQ(-EEXIST, vs_dev_add(VS_DEV, NULL));
	EXPECT_FALSE(vs_dev_exists(VS_DEV));
	ASSERT_EQ(0, vs_create(&self->dev, "console:,org.qemu.guest_agent.0",
			       NULL, 2));
	EXPECT_EQ(-EEXIST, cfg_mkdir(cfg(VS_DEV, "port0", NULL)));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, "p", NULL)));
	EXPECT_EQ(0, cfg_set(VS_DEV, "p", "name", "  padded\n"));
	ASSERT_LT(0, vs_read_str(cfg(VS_DEV, "p", "name"), buf, sizeof(buf)));
	EXPECT_STREQ("padded", buf);
	ASSERT_EQ(0, vs_destroy());

	/*
	 * Template, max_ports 2: ids 0 (a console's) and 1.  One data port
	 * with an automatic id fits, a second does not; nor does a smaller
	 * max_ports once they are enabled.
	 */
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV2, NULL, NULL)));
	ASSERT_EQ(0, cfg_set(VS_DEV2, NULL, "max_ports", "2"));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV2, "a", NULL)));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV2, "b", NULL)));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV2, "c", NULL)));
	ASSERT_EQ(0, cfg_set(VS_DEV2, "a", "enable", "1"));
	EXPECT_EQ(-ENOSPC, cfg_set(VS_DEV2, "b", "enable", "1"));
	ASSERT_EQ(0, cfg_set(VS_DEV2, "c", "console", "1"));
	EXPECT_EQ(0, cfg_set(VS_DEV2, "c", "enable", "1"));
	EXPECT_EQ(-ENOSPC, cfg_set(VS_DEV2, NULL, "max_ports", "1"));
	ASSERT_EQ(0, cfg_set(VS_DEV2, NULL, "max_ports", "3"));
	EXPECT_EQ(0, cfg_set(VS_DEV2, "b", "enable", "1"));
	EXPECT_EQ(-ENOSPC, cfg_set(VS_DEV2, NULL, "max_ports", "2"));
	/* ... and the device it makes has them all. */
	ASSERT_EQ(0, vs_dev_add(VS_DEV2, NULL));
	vs_settle();
	ASSERT_EQ(0, vs_dev_wait(&self->dev, VS_DEV2, 3, 0, 60000));
	ASSERT_EQ(0, vs_dev_del(VS_DEV2));
}

/*
 * Without MULTIPORT, console port 0 unplugged and plugged again while the
 * driver runs is open at once, as at start: data flows to its hvc.
 */
TEST_F_TIMEOUT(ports, replug_single_port, 120)
{
	uint64_t f = VS_F_ALL & ~VS_F_MULTIPORT;
	char guest[sizeof(self->dev.port[0].guest)];
	struct vs_port *p;
	int hfd, gfd;

	ASSERT_EQ(0, vs_create(&self->dev, NULL, &f, 1));
	p = vs_port_by_id(&self->dev, 0);
	ASSERT_NE(NULL, p);
	snprintf(guest, sizeof(guest), "%s", p->guest);
	ASSERT_EQ(0, cfg_set(VS_DEV, "port0", "enable", "0"));
	ASSERT_EQ(0, vs_wait_exists(p->sys, false, 5000));
	ASSERT_EQ(0, cfg_set(VS_DEV, "port0", "enable", "1"));
	vs_settle();
	ASSERT_EQ(1, vs_dev_scan(&self->dev, VS_DEV));
	p = vs_port_by_id(&self->dev, 0);
	ASSERT_NE(NULL, p);
	snprintf(p->guest, sizeof(p->guest), "%s", guest);
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));
	EXPECT_EQ(0, exchange(hfd, gfd, 4096, 7));
	close(gfd);
	close(hfd);
}

/*
 * Unplugging a port whose host end is open: a blocked reader gets end of
 * file, writes fail with ENODEV, poll says POLLHUP | POLLERR; closing is
 * fine and frees the port.
 */
TEST_F_TIMEOUT(ports, unplug_while_open, 120)
{
	struct vs_call rd;
	struct vs_port *p;
	int hfd, gfd, n;
	ssize_t rr;
	char buf[64], host[300], sys[400];

	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	ASSERT_EQ(0, cfg_port_add(VS_DEV, "busy", false));
	p = connect_port(&self->dev, "busy", &hfd, &gfd);
	ASSERT_NE(NULL, p);
	snprintf(host, sizeof(host), "%s", p->host);
	snprintf(sys, sizeof(sys), "%s", p->sys);
	n = vs_class_count();

	ASSERT_EQ(0, vs_call_start(&rd, hfd, false, buf, sizeof(buf)));
	vs_sleep_ms(200);
	EXPECT_FALSE(vs_call_finished(&rd));
	ASSERT_EQ(0, cfg_set(VS_DEV, "busy", "enable", "0"));
	ASSERT_TRUE(vs_call_wait(&rd, 10000));
	EXPECT_EQ(0, rd.ret) TH_LOG("blocked read: %s", strerror(rd.err));
	EXPECT_EQ(0, read(hfd, buf, sizeof(buf)));
	EXPECT_EQ(-1, write(hfd, "x", 1));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(POLLHUP | POLLERR, vs_revents(hfd) & (POLLHUP | POLLERR));
	EXPECT_FALSE(vs_exists(host));
	EXPECT_EQ(0, guest_port_wait(&self->dev, "busy", false));
	/*
	 * The driver side learns too: its reads end, at end of file or with
	 * ENODEV (virtio_console's port_fops_read(); -2 is still blocked).
	 */
	rr = vs_read_within(gfd, buf, sizeof(buf), 5000);
	EXPECT_TRUE(rr == 0 || (rr == -1 && errno == ENODEV)) {
		TH_LOG("guest read of the unplugged port: %zd (%s)", rr,
		       strerror(errno));
	}
	EXPECT_EQ(0, close(hfd));
	close(gfd);
	EXPECT_EQ(n - 1, vs_class_count());
	EXPECT_FALSE(vs_exists(sys));

	/* The same port again, with a fresh host end. */
	ASSERT_EQ(0, cfg_set(VS_DEV, "busy", "enable", "1"));
	p = connect_port(&self->dev, "busy", &hfd, &gfd);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(0, exchange(hfd, gfd, 50000, 11));
	close(gfd);
	close(hfd);
}

/*
 * Ports come and go while another port streams both ways: nothing is
 * lost or reordered on the streaming port.
 */
TEST_F_TIMEOUT(ports, plug_under_traffic, 300)
{
	const uint64_t total = 16 * MiB;
	struct vs_xfer x[4];
	struct vs_port *p;
	int hfd, gfd, i, round;
	char name[32];

	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	ASSERT_EQ(0, cfg_port_add(VS_DEV, "stream", false));
	p = connect_port(&self->dev, "stream", &hfd, &gfd);
	ASSERT_NE(NULL, p);
	vs_xfer_init(&x[0], "host write", hfd, true, VS_IO_RW, 31, total,
		     64 * 1024, false);
	vs_xfer_init(&x[1], "guest read", gfd, false, VS_IO_RW, 31, total,
		     64 * 1024, false);
	vs_xfer_init(&x[2], "guest write", gfd, true, VS_IO_RW, 32, total,
		     64 * 1024, false);
	vs_xfer_init(&x[3], "host read", hfd, false, VS_IO_RW, 32, total,
		     64 * 1024, false);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, vs_xfer_start(&x[i]));

	for (round = 0; round < 10; round++) {
		snprintf(name, sizeof(name), "churn%d", round % 3);
		if (!vs_exists(cfg(VS_DEV, name, NULL)))
			ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, name, NULL)));
		ASSERT_EQ(0, cfg_set(VS_DEV, name, "enable", "1"));
		EXPECT_EQ(0, guest_port_wait(&self->dev, name, true));
		ASSERT_EQ(0, cfg_set(VS_DEV, name, "enable", "0"));
		EXPECT_EQ(0, guest_port_wait(&self->dev, name, false));
	}

	ASSERT_EQ(0, vs_xfer_wait(x, 4, 30000, 250000));
	for (i = 0; i < 4; i++) {
		const char *what = x[i].what;

		EXPECT_EQ(0, vs_xfer_ok(&x[i])) TH_LOG("%s", what);
	}
	close(gfd);
	close(hfd);
}

/*
 * A directory made before the device is its template: max_ports, resize
 * order and the enabled ports, with their ids.  It is pinned while the
 * device exists and stays afterwards.
 */
TEST_F_TIMEOUT(ports, template, 180)
{
	char buf[300], path[PATH_MAX];
	struct vs_port *p;

	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, NULL, NULL)));
	ASSERT_EQ(0, cfg_set(VS_DEV, NULL, "max_ports", "8"));
	ASSERT_EQ(0, cfg_set(VS_DEV, NULL, "resize_order", "rows_cols"));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, "alpha", NULL)));
	ASSERT_EQ(0, cfg_set(VS_DEV, "alpha", "id", "5"));
	ASSERT_EQ(0, cfg_set(VS_DEV, "alpha", "enable", "1"));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, "con", NULL)));
	/* (configfs takes no empty write: a newline is the empty name) */
	ASSERT_EQ(0, cfg_set(VS_DEV, "con", "name", "\n"));
	ASSERT_EQ(0, cfg_port_add(VS_DEV, "beta", false));
	ASSERT_EQ(0, cfg_set(VS_DEV, "con", "console", "1"));
	ASSERT_EQ(0, cfg_set(VS_DEV, "con", "enable", "1"));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, "gamma", NULL)));
	/* A template records; nothing is plugged. */
	ASSERT_LE(0, vs_read_str(cfg(VS_DEV, "alpha", "dev"), buf,
				 sizeof(buf)));
	EXPECT_STREQ("", buf);

	/* The module parameters do not apply. */
	ASSERT_EQ(0, vs_param_set("max_ports", "2"));
	ASSERT_EQ(0, vs_create(&self->dev, "x,y,z", NULL, 3));
	EXPECT_EQ(5, vs_port_by_name(&self->dev, "alpha")->id);
	EXPECT_TRUE(vs_port_by_id(&self->dev, 0)->console);
	EXPECT_EQ(1, vs_port_by_name(&self->dev, "beta")->id);
	EXPECT_EQ(NULL, vs_port_by_name(&self->dev, "gamma"));
	EXPECT_EQ(NULL, vs_port_by_name(&self->dev, "x"));
	snprintf(path, sizeof(path), "/sys/class/virtio-ports/vport%dp5/name",
		 self->dev.virtio);
	ASSERT_LT(0, vs_read_str(path, buf, sizeof(buf)));
	EXPECT_STREQ("alpha", buf);
	EXPECT_EQ(5, cfg_ll(VS_DEV, "alpha", "id"));
	EXPECT_EQ(1, cfg_ll(VS_DEV, "beta", "id"));

	/* Pinned while the device exists; max_ports fixed. */
	EXPECT_EQ(-EBUSY, cfg_rmdir(cfg(VS_DEV, NULL, NULL)));
	EXPECT_EQ(-EBUSY, cfg_set(VS_DEV, NULL, "max_ports", "9"));
	/* Ids of a max_nr_ports 8 device. */
	EXPECT_EQ(-ERANGE, cfg_set(VS_DEV, "gamma", "id", "8"));
	ASSERT_EQ(0, cfg_set(VS_DEV, "gamma", "id", "7"));
	ASSERT_EQ(0, cfg_set(VS_DEV, "gamma", "enable", "1"));
	EXPECT_EQ(0, guest_port_wait(&self->dev, "gamma", true));
	p = host_port(&self->dev, "gamma");
	ASSERT_NE(NULL, p);
	EXPECT_EQ(7, p->id);

	/* After the device, the template is as it was, and works again. */
	ASSERT_EQ(0, vs_destroy());
	EXPECT_TRUE(vs_exists(cfg(VS_DEV, "gamma", NULL)));
	EXPECT_EQ(1, cfg_ll(VS_DEV, "gamma", "enable"));
	ASSERT_LE(0, vs_read_str(cfg(VS_DEV, "gamma", "dev"), buf,
				 sizeof(buf)));
	EXPECT_STREQ("", buf);
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 4));
	EXPECT_EQ(7, vs_port_by_name(&self->dev, "gamma")->id);
	ASSERT_EQ(0, vs_destroy());

	/* Then it goes with rmdir, ports first. */
	ASSERT_EQ(0, cfg_rmdir(cfg(VS_DEV, "alpha", NULL)));
	ASSERT_EQ(0, cfg_rmdir(cfg(VS_DEV, "beta", NULL)));
	ASSERT_EQ(0, cfg_rmdir(cfg(VS_DEV, "con", NULL)));
	ASSERT_EQ(0, cfg_rmdir(cfg(VS_DEV, "gamma", NULL)));
	ASSERT_EQ(0, cfg_rmdir(cfg(VS_DEV, NULL, NULL)));
}

/*
 * A kernel-made directory that holds ports made with mkdir outlives its
 * device as the template of the next one, until those ports go.
 */
TEST_F_TIMEOUT(ports, kernel_made_dir_outlives_device, 180)
{
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	ASSERT_EQ(0, cfg_port_add(VS_DEV, "extra", false));
	EXPECT_EQ(0, guest_port_wait(&self->dev, "extra", true));
	ASSERT_EQ(0, vs_destroy());
	ASSERT_TRUE(vs_exists(cfg(VS_DEV, "extra", NULL)));
	ASSERT_TRUE(vs_exists(cfg(VS_DEV, "port0", NULL)));

	/* The next device of that name has the same three ports. */
	ASSERT_EQ(0, vs_param_set("ports", "other"));
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 3));
	EXPECT_NE(NULL, vs_port_by_name(&self->dev, "extra"));
	EXPECT_NE(NULL, vs_port_by_name(&self->dev, "org.qemu.guest_agent.0"));
	EXPECT_EQ(NULL, vs_port_by_name(&self->dev, "other"));
	ASSERT_EQ(0, vs_destroy());

	ASSERT_EQ(0, cfg_rmdir(cfg(VS_DEV, "extra", NULL)));
	EXPECT_EQ(0, vs_wait_exists(DEV_DIR, false, 10000));
	/* Gone: the parameters apply again. */
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 1));
	EXPECT_NE(NULL, vs_port_by_name(&self->dev, "other"));
}

/* TIOCSWINSZ on the host end of console port 0; the driver's hvc size. */
static int hvc_size_wait(int gfd, unsigned short rows, unsigned short cols)
{
	struct winsize ws = {};
	uint64_t end = vs_ms() + 10000;

	do {
		if (ioctl(gfd, TIOCGWINSZ, &ws))
			return -1;
		if (ws.ws_row == rows && ws.ws_col == cols)
			return 0;
		vs_sleep_ms(20);
	} while (vs_ms() < end);
	vs_log("hvc is %ux%u, not %ux%u", ws.ws_row, ws.ws_col, rows, cols);
	return -1;
}

static void resize_check(struct __test_metadata *_metadata,
			 struct vs_port *con, struct vs_port *data)
{
	struct winsize ws = { .ws_row = 40, .ws_col = 132 }, got = {};
	int hfd, gfd, dfd;

	ASSERT_EQ(0, vs_connect(con, 0, 0, &hfd, &gfd));
	ASSERT_EQ(0, ioctl(hfd, TIOCSWINSZ, &ws));
	ASSERT_EQ(0, ioctl(hfd, TIOCGWINSZ, &got));
	EXPECT_EQ(40, got.ws_row);
	EXPECT_EQ(132, got.ws_col);
	/* The guest sees the size the host end set (stty size). */
	EXPECT_EQ(0, hvc_size_wait(gfd, 40, 132));
	ws.ws_row = 25;
	ws.ws_col = 80;
	ASSERT_EQ(0, ioctl(hfd, TIOCSWINSZ, &ws));
	EXPECT_EQ(0, hvc_size_wait(gfd, 25, 80));

	/* Data ports are not terminals. */
	if (data) {
		dfd = open(data->host, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, dfd);
		EXPECT_EQ(-1, ioctl(dfd, TIOCSWINSZ, &ws));
		EXPECT_EQ(ENOTTY, errno);
		EXPECT_EQ(-1, ioctl(dfd, TIOCGWINSZ, &ws));
		EXPECT_EQ(ENOTTY, errno);
		close(dfd);
	}
	close(gfd);
	close(hfd);
}

/*
 * With MULTIPORT: a RESIZE message, in the field order the kernel under
 * test reads (the default); the other order shows swapped.
 */
TEST_F_TIMEOUT(ports, resize_multiport, 120)
{
	struct winsize ws = { .ws_row = 30, .ws_col = 100 };
	int hfd, gfd;

	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	resize_check(_metadata, vs_port_by_id(&self->dev, 0),
		     vs_port_by_name(&self->dev, "org.qemu.guest_agent.0"));

	ASSERT_EQ(0, cfg_set(VS_DEV, NULL, "resize_order", "rows_cols"));
	ASSERT_EQ(0, vs_connect(vs_port_by_id(&self->dev, 0), 0, 0, &hfd,
				&gfd));
	ASSERT_EQ(0, ioctl(hfd, TIOCSWINSZ, &ws));
	EXPECT_EQ(0, hvc_size_wait(gfd, 100, 30));
	close(gfd);
	close(hfd);
}

/* Without MULTIPORT: config space cols/rows and a config interrupt. */
TEST_F_TIMEOUT(ports, resize_single_port, 120)
{
	uint64_t f = VS_F_ALL & ~VS_F_MULTIPORT;

	ASSERT_EQ(0, vs_create(&self->dev, NULL, &f, 1));
	resize_check(_metadata, vs_port_by_id(&self->dev, 0), NULL);
}

/* The project's udev rule: /dev/vserial/DEV/NAME, with hot-plug. */
TEST_F_TIMEOUT(ports, udev_links, 120)
{
	char real[PATH_MAX];
	struct vs_port *p;
	const char *link = "/dev/vserial/" VS_DEV "/org.qemu.guest_agent.0";

	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	p = vs_port_by_name(&self->dev, "org.qemu.guest_agent.0");
	ASSERT_EQ(0, vs_wait_exists(link, true, 10000));
	ASSERT_NE(NULL, realpath(link, real));
	EXPECT_STREQ(p->host, real);

	ASSERT_EQ(0, cfg_port_add(VS_DEV, "hot.link", false));
	ASSERT_EQ(0, vs_wait_exists("/dev/vserial/" VS_DEV "/hot.link", true,
				    10000));
	ASSERT_EQ(0, cfg_set(VS_DEV, "hot.link", "enable", "0"));
	EXPECT_EQ(0, vs_wait_exists("/dev/vserial/" VS_DEV "/hot.link", false,
				    10000));
	ASSERT_EQ(0, vs_destroy());
	EXPECT_EQ(0, vs_wait_exists(link, false, 10000));
}

/* stats/: bytes and buffers each way, blocked writers, control messages. */
TEST_F_TIMEOUT(ports, stats, 120)
{
	const size_t len = 300000;
	struct vs_call wr;
	struct vs_port *p;
	int hfd, gfd;
	char *buf;

	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	p = vs_port_by_name(&self->dev, "org.qemu.guest_agent.0");
	EXPECT_EQ(0, vs_attr(p, "stats/bytes_to_guest"));
	EXPECT_EQ(0, vs_attr(p, "stats/writer_blocked"));

	/* The host writes before the guest opens: the writer blocks. */
	hfd = open(p->host, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	vs_pattern(5, 0, buf, len);
	ASSERT_EQ(0, vs_call_start(&wr, hfd, true, buf, len));
	vs_sleep_ms(300);
	EXPECT_FALSE(vs_call_finished(&wr));
	gfd = open(p->guest, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	{
		char *in = malloc(len);

		ASSERT_NE(NULL, in);
		ASSERT_EQ((ssize_t)len, vs_read_full(gfd, in, len, 20000));
		EXPECT_EQ(0, memcmp(in, buf, len));
		free(in);
	}
	ASSERT_TRUE(vs_call_wait(&wr, 10000));
	EXPECT_EQ((ssize_t)len, wr.ret);
	EXPECT_EQ((long long)len, vs_attr(p, "stats/bytes_to_guest"));
	/* The driver posts page-sized receive buffers. */
	EXPECT_LE((long long)(len / 4096), vs_attr(p, "stats/buffers_to_guest"));
	EXPECT_LE(1, vs_attr(p, "stats/writer_blocked"));

	ASSERT_EQ((ssize_t)len, vs_write_full(gfd, buf, len, 10000));
	ASSERT_EQ((ssize_t)len, vs_read_full(hfd, buf, len, 10000));
	EXPECT_EQ((long long)len, vs_attr(p, "stats/bytes_from_guest"));
	EXPECT_LE(1, vs_attr(p, "stats/buffers_from_guest"));
	/* PORT_ADD, PORT_NAME, PORT_OPEN at least. */
	EXPECT_LE(3, vs_attr(p, "stats/ctrl_queued"));
	close(gfd);
	close(hfd);
	free(buf);
}

/* Tracepoints: control messages and port state changes. */
TEST_F_TIMEOUT(ports, tracepoints, 120)
{
	char *trace;
	int fd, n;

	if (!vs_exists(TRACING "/events") &&
	    vs_run("mount -t tracefs nodev " TRACING))
		SKIP(return, "no tracefs");
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	ASSERT_EQ(0, vs_write_str(TRACING "/trace", ""));
	ASSERT_EQ(0, vs_write_str(TRACING "/events/vdpa_vserial/enable", "1"));
	ASSERT_EQ(0, cfg_port_add(VS_DEV, "traced", false));
	EXPECT_EQ(0, guest_port_wait(&self->dev, "traced", true));
	ASSERT_EQ(0, cfg_set(VS_DEV, "traced", "enable", "0"));
	EXPECT_EQ(0, guest_port_wait(&self->dev, "traced", false));
	ASSERT_EQ(0, vs_write_str(TRACING "/events/vdpa_vserial/enable", "0"));

	trace = calloc(1, 1 << 20);
	ASSERT_NE(NULL, trace);
	fd = open(TRACING "/trace", O_RDONLY);
	ASSERT_LE(0, fd);
	n = read(fd, trace, (1 << 20) - 1);
	close(fd);
	ASSERT_LT(0, n);
	EXPECT_NE(NULL, strstr(trace, "vserial_port: vs0 port 2 \"traced\" plug"));
	EXPECT_NE(NULL, strstr(trace, "vserial_ctrl_send: vs0 port 2 PORT_ADD"));
	EXPECT_NE(NULL, strstr(trace, "vserial_ctrl_recv: vs0 port 2 PORT_READY value 1"));
	EXPECT_NE(NULL, strstr(trace, "vserial_ctrl_send: vs0 port 2 PORT_NAME"));
	EXPECT_NE(NULL, strstr(trace, "vserial_port: vs0 port 2 \"traced\" guest_ready"));
	EXPECT_NE(NULL, strstr(trace, "vserial_port: vs0 port 2 \"traced\" unplug"));
	EXPECT_NE(NULL, strstr(trace, "vserial_ctrl_send: vs0 port 2 PORT_REMOVE"));
	if (_metadata->exit_code)
		TH_LOG("trace:\n%s", trace);
	free(trace);
}

/*
 * The largest device: port 510 (queues 1022 and 1023), hot-plugged with
 * its id, carries data; 100 ports hot-plugged at once all reach the
 * driver (the time it took is printed).
 */
TEST_F_TIMEOUT(ports, many_ports, 300)
{
	struct vs_port *p;
	char name[32];
	int hfd, gfd, i;
	uint64_t t0;

	ASSERT_EQ(0, vs_param_set("max_ports", "511"));
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, "last", NULL)));
	ASSERT_EQ(0, cfg_set(VS_DEV, "last", "id", "510"));
	ASSERT_EQ(0, cfg_set(VS_DEV, "last", "enable", "1"));
	p = connect_port(&self->dev, "last", &hfd, &gfd);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(510, p->id);
	EXPECT_EQ(0, exchange(hfd, gfd, 100000, 510));
	close(gfd);
	close(hfd);

	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "m%03d", i);
		ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, name, NULL)));
	}
	t0 = vs_ms();
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "m%03d", i);
		ASSERT_EQ(0, cfg_set(VS_DEV, name, "enable", "1"));
	}
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "m%03d", i);
		ASSERT_EQ(0, guest_port_wait(&self->dev, name, true));
	}
	vs_log("100 ports hot-plugged and set up by the driver in %llu ms",
	       (unsigned long long)(vs_ms() - t0));
	EXPECT_EQ(103, vs_class_count());

	t0 = vs_ms();
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "m%03d", i);
		ASSERT_EQ(0, cfg_rmdir(cfg(VS_DEV, name, NULL)));
	}
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "m%03d", i);
		ASSERT_EQ(0, guest_port_wait(&self->dev, name, false));
	}
	vs_log("100 ports unplugged in %llu ms",
	       (unsigned long long)(vs_ms() - t0));
}

/*
 * Host memory of an idle port, the device's side alone (no driver bound,
 * so no driver buffers): slab and the rest of the kernel's memory per
 * port, for 200 ports.  The admin guide's bound is a few KiB; this fails
 * only at ten times that.
 */
TEST_F_TIMEOUT(ports, idle_port_memory, 180)
{
	long long slab0, slab1, avail0, avail1;
	char name[32];
	int i;

	ASSERT_EQ(0, vs_run("modprobe -r virtio_vdpa"));
	ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, NULL, NULL)));
	ASSERT_EQ(0, cfg_set(VS_DEV, NULL, "max_ports", "511"));
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "idle%03d", i);
		ASSERT_EQ(0, cfg_mkdir(cfg(VS_DEV, name, NULL)));
	}
	ASSERT_EQ(0, vs_dev_add(VS_DEV, NULL));
	vs_settle();

	slab0 = vs_meminfo_kib("Slab");
	avail0 = vs_meminfo_kib("MemAvailable");
	ASSERT_LE(0, slab0);
	ASSERT_LE(0, avail0);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "idle%03d", i);
		ASSERT_EQ(0, cfg_set(VS_DEV, name, "enable", "1"));
	}
	vs_settle();
	slab1 = vs_meminfo_kib("Slab");
	avail1 = vs_meminfo_kib("MemAvailable");
	ASSERT_LE(0, slab1);
	ASSERT_LE(0, avail1);
	EXPECT_EQ(200, vs_class_count());
	vs_log("idle port: %lld bytes of slab, %lld bytes of MemAvailable",
	       (slab1 - slab0) * 1024 / 200, (avail0 - avail1) * 1024 / 200);
	EXPECT_GT(80 * 1024, (slab1 - slab0) * 1024 / 200);
	ASSERT_EQ(0, vs_dev_del(VS_DEV));
	ASSERT_EQ(0, vs_run("modprobe virtio_vdpa"));
}

/* ---- Host sessions across the guest's: the kernel's own driver ---- */

#define LOG_PORT	"com.example.log"
#define VDPA_DRV	"/sys/bus/vdpa/drivers/virtio_vdpa/"

/*
 * A log collector on the host end: blocking reads into one buffer until
 * @want bytes or end of file, its own CPU time measured.
 */
struct collector {
	int fd;
	char *buf;
	size_t want;
	size_t got;		/* atomic */
	int reads_zero;		/* read() returned 0 (end of file) */
	int err;
	pthread_t thread;
};

static void *collector_run(void *arg)
{
	struct collector *c = arg;
	ssize_t n;

	while (__atomic_load_n(&c->got, __ATOMIC_ACQUIRE) < c->want) {
		n = read(c->fd, c->buf + c->got, c->want - c->got);
		if (n == 0) {
			c->reads_zero++;
			break;
		}
		if (n < 0) {
			c->err = errno;
			break;
		}
		__atomic_add_fetch(&c->got, n, __ATOMIC_RELEASE);
	}
	return NULL;
}

static uint64_t thread_cpu_ns(pthread_t t)
{
	struct timespec ts;
	clockid_t cid;

	if (pthread_getcpuclockid(t, &cid) || clock_gettime(cid, &ts))
		return 0;
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Wait until the collector has @n bytes. */
static int collector_wait(struct collector *c, size_t n, int timeout_ms)
{
	uint64_t end = vs_ms() + timeout_ms;

	while (__atomic_load_n(&c->got, __ATOMIC_ACQUIRE) < n) {
		if (vs_ms() > end || c->reads_zero || c->err)
			return -1;
		vs_sleep_ms(20);
	}
	return 0;
}

/* The driver side goes (unbind) or comes back (bind). */
static int guest_bind(bool bind)
{
	return vs_write_str(bind ? VDPA_DRV "bind" : VDPA_DRV "unbind",
			    VS_DEV);
}

/*
 * A log collector started before the guest's driver is there, kept
 * across two guest restarts (the driver unbound and bound again, as a
 * reboot resets and re-probes the device): it captures every byte the
 * guest writes in each session, never sees end of file, and uses next
 * to no CPU while the guest is away.  guest_connected and its uevent
 * follow the guest.
 */
TEST_F_TIMEOUT(ports, log_collector_across_guest_restarts, 240)
{
	const size_t per = 100000;
	struct collector c = { .want = 3 * per };
	char *expect = malloc(3 * per), gpath[64];
	uint64_t cpu0, cpu1;
	struct vs_port *p;
	int gfd, round;

	ASSERT_NE(NULL, expect);
	c.buf = calloc(1, c.want);
	ASSERT_NE(NULL, c.buf);
	ASSERT_EQ(0, vs_create(&self->dev, "console:," LOG_PORT, NULL, 2));
	/* The guest is not up yet. */
	ASSERT_EQ(0, guest_bind(false));
	p = host_port(&self->dev, LOG_PORT);
	ASSERT_NE(NULL, p);
	c.fd = open(p->host, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, c.fd);
	ASSERT_EQ(0, pthread_create(&c.thread, NULL, collector_run, &c));

	for (round = 0; round < 3; round++) {
		/* The guest is down: the collector waits and does not spin. */
		cpu0 = thread_cpu_ns(c.thread);
		vs_sleep_ms(1500);
		cpu1 = thread_cpu_ns(c.thread);
		EXPECT_GT(20000000ULL, cpu1 - cpu0)
			TH_LOG("round %d: collector used %llu us of CPU while the guest was down",
			       round, (unsigned long long)(cpu1 - cpu0) / 1000);
		EXPECT_EQ(0, vs_attr(p, "guest_connected"));
		EXPECT_EQ(0, c.reads_zero);

		ASSERT_EQ(0, guest_bind(true));
		ASSERT_EQ(0, guest_port_wait(&self->dev, LOG_PORT, true));
		snprintf(gpath, sizeof(gpath), "/dev/virtio-ports/%s",
			 LOG_PORT);
		gfd = open(gpath, O_WRONLY | O_CLOEXEC);
		ASSERT_LE(0, gfd);
		ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "1", 10000));
		vs_pattern(100 + round, 0, expect + round * per, per);
		ASSERT_EQ(per, vs_write_full(gfd, expect + round * per, per,
					     20000));
		ASSERT_EQ(0, collector_wait(&c, (round + 1) * per, 20000))
			TH_LOG("round %d: collector has %zu bytes, eof %d, %s",
			       round, c.got, c.reads_zero, strerror(c.err));
		close(gfd);
		ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "0", 10000));
		if (round < 2) {
			/* The guest restarts. */
			ASSERT_EQ(0, guest_bind(false));
		}
	}
	ASSERT_EQ(0, pthread_join(c.thread, NULL));
	EXPECT_EQ(c.want, c.got);
	EXPECT_EQ(0, memcmp(c.buf, expect, c.want));
	EXPECT_EQ(0, c.reads_zero);
	EXPECT_EQ(0, c.err);
	close(c.fd);
	free(c.buf);
	free(expect);
}

/* Read uevents until one for @devname says guest_connected is @want. */
static int uevent_expect(int sk, const char *devname, int want,
			 int timeout_ms)
{
	uint64_t end = vs_ms() + timeout_ms;
	int val;

	do {
		val = uevent_next_connected(sk, devname, end - vs_ms());
		if (val == want)
			return 0;
	} while (val >= 0);
	return -1;
}

/*
 * The guest side opening and closing is told: a "change" uevent with
 * VSERIAL_GUEST_CONNECTED, and poll(POLLPRI) on guest_connected.
 */
TEST_F_TIMEOUT(ports, guest_connected_uevent, 120)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	struct vs_port *p;
	char path[PATH_MAX], c;
	const char *devname;
	struct pollfd pfd;
	int sk, gfd, afd;

	ASSERT_EQ(0, vs_create(&self->dev, "console:," LOG_PORT, NULL, 2));
	p = vs_port_by_name(&self->dev, LOG_PORT);
	ASSERT_NE(NULL, p);
	devname = strrchr(p->sys, '/');
	sk = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
		    NETLINK_KOBJECT_UEVENT);
	ASSERT_LE(0, sk);
	ASSERT_EQ(0, bind(sk, (struct sockaddr *)&sa, sizeof(sa)));
	snprintf(path, sizeof(path), "%s/guest_connected", p->sys);
	afd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, afd);
	ASSERT_EQ(1, pread(afd, &c, 1, 0));
	EXPECT_EQ('0', c);

	gfd = open(p->guest, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	EXPECT_EQ(0, uevent_expect(sk, devname, 1, 10000));
	pfd = (struct pollfd){ .fd = afd, .events = POLLPRI };
	EXPECT_EQ(1, poll(&pfd, 1, 0)) TH_LOG("guest_connected not notified");
	ASSERT_EQ(1, pread(afd, &c, 1, 0));
	EXPECT_EQ('1', c);
	close(gfd);
	EXPECT_EQ(0, uevent_expect(sk, devname, 0, 10000));
	EXPECT_EQ(1, poll(&pfd, 1, 1000));
	ASSERT_EQ(1, pread(afd, &c, 1, 0));
	EXPECT_EQ('0', c);
	/* The driver going away says so too. */
	gfd = open(p->guest, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	EXPECT_EQ(0, uevent_expect(sk, devname, 1, 10000));
	close(gfd);
	EXPECT_EQ(0, uevent_expect(sk, devname, 0, 10000));
	close(afd);
	close(sk);
}

/*
 * socat, started on the host end before the guest opens the port, stays
 * while the guest closes and reopens it, and passes everything on.
 */
TEST_F_TIMEOUT(ports, socat_outlives_guest, 120)
{
	const char *out = "/tmp/port_test.socat";
	struct vs_port *p;
	char buf[64] = "";
	int gfd, status, i;
	pid_t pid;

	ASSERT_EQ(0, vs_create(&self->dev, "console:," LOG_PORT, NULL, 2));
	p = vs_port_by_name(&self->dev, LOG_PORT);
	ASSERT_NE(NULL, p);
	unlink(out);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		execlp("socat", "socat", "-u", p->host, "CREATE:/tmp/port_test.socat",
		       (char *)NULL);
		_exit(127);
	}
	/* Before the guest opens, and after each time it closes. */
	for (i = 0; i < 2; i++) {
		vs_sleep_ms(1000);
		EXPECT_EQ(0, waitpid(pid, &status, WNOHANG))
			TH_LOG("socat exited %s", i ? "when the guest closed the port" :
			       "before the guest opened the port");
		gfd = open(p->guest, O_WRONLY | O_CLOEXEC);
		ASSERT_LE(0, gfd);
		ASSERT_EQ(4, vs_write_full(gfd, i ? "two\n" : "one\n", 4, 10000));
		close(gfd);
	}
	vs_sleep_ms(1000);
	EXPECT_LT(0, vs_read_str(out, buf, sizeof(buf)));
	EXPECT_STREQ("one\ntwo", buf);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	unlink(out);
}

TEST_HARNESS_MAIN
