// SPDX-License-Identifier: GPL-2.0
/*
 * vserial_test - the ports of a vdpa_vserial device, seen from both ends
 *
 * Each test creates a virtio-console device with "vdpa dev add ...
 * mgmtdev vserial".  virtio_vdpa hands it to the kernel's own
 * virtio_console driver, so one machine holds both ends of every port:
 *
 *   host end:   /dev/vserialN, /sys/class/vserial/vserialN/
 *   guest end:  /dev/vportXpID (/dev/virtio-ports/NAME) or, for the
 *               console port, /dev/hvcK
 *
 * and the tests check the device's contract through them: names, open
 * and close on both sides, data both ways (checked byte by byte against
 * a pseudo-random stream), backpressure instead of loss, O_NONBLOCK,
 * poll and epoll, end of file, EBUSY, signals, removal while in use,
 * add/del cycles, single-port mode and the console.
 *
 * Needs root, the module loaded or loadable, virtio_vdpa, udevd, and
 * time: run it in the test VM ("make vm-run CMD=selftests/vserial_test").
 */
#include <limits.h>

#include "kselftest_harness.h"
#include "vserial_lib.h"

FIXTURE(vserial) {
	struct vs_dev dev;
	int kmsg;
};

FIXTURE_SETUP(vserial)
{
	if (getuid())
		SKIP(return, "needs root");
	ASSERT_EQ(0, vs_env_reset());
	ASSERT_EQ(0, vs_class_count())
		TH_LOG("host ends left over from an earlier test");
	self->kmsg = vs_kmsg_open();
}

FIXTURE_TEARDOWN(vserial)
{
	EXPECT_EQ(0, vs_env_reset());
	EXPECT_EQ(0, vs_kmsg_bad(self->kmsg))
		TH_LOG("kernel warnings or errors during the test");
	if (self->kmsg >= 0)
		close(self->kmsg);
}


/* Names, ids and console flags of the device's ports, on both sides. */
static void check_names(struct __test_metadata *_metadata, struct vs_dev *d,
			const char *const *names, const int *ids, int n)
{
	char path[PATH_MAX], buf[300], real[PATH_MAX];
	struct stat st;
	int i;

	ASSERT_EQ(n, d->nports);
	for (i = 0; i < n; i++) {
		struct vs_port *p = vs_port_by_name(d, names[i]);

		ASSERT_NE(NULL, p) TH_LOG("no host end named \"%s\"",
					  names[i]);
		EXPECT_EQ(ids[i], (int)p->id) TH_LOG("port \"%s\"", names[i]);
		EXPECT_EQ(ids[i] == 0, p->console)
			TH_LOG("port \"%s\"", names[i]);
		EXPECT_EQ(p->console ? 1 : 0, vs_attr(p, "console"));
		snprintf(path, sizeof(path), "%s/vdpa_device", p->sys);
		ASSERT_LT(0, vs_read_str(path, buf, sizeof(buf)));
		EXPECT_STREQ(VS_DEV, buf);
		EXPECT_EQ(0, vs_attr(p, "host_connected"));
		/* console_dropped: console ports only. */
		snprintf(path, sizeof(path), "%s/console_dropped", p->sys);
		EXPECT_EQ(p->console, vs_exists(path));
		if (p->console)
			EXPECT_EQ(0, vs_attr(p, "console_dropped"));
		ASSERT_EQ(0, stat(p->host, &st)) TH_LOG("%s", p->host);
		EXPECT_TRUE(S_ISCHR(st.st_mode));
		EXPECT_EQ(0600, st.st_mode & 07777) TH_LOG("%s mode %o",
							   p->host,
							   st.st_mode & 07777);

		if (p->console) {
			/* Console ports are connected from the start. */
			EXPECT_EQ(1, vs_attr(p, "guest_connected"));
			ASSERT_EQ(0, strncmp(p->guest, "/dev/hvc", 8));
			ASSERT_EQ(0, stat(p->guest, &st));
			EXPECT_TRUE(S_ISCHR(st.st_mode));
		} else {
			EXPECT_EQ(0, vs_attr(p, "guest_connected"));
		}
		if (!names[i][0])
			continue;
		snprintf(path, sizeof(path),
			 "/sys/class/virtio-ports/vport%dp%u/name", d->virtio,
			 p->id);
		ASSERT_LT(0, vs_read_str(path, buf, sizeof(buf)))
			TH_LOG("%s", path);
		EXPECT_STREQ(names[i], buf);
		snprintf(path, sizeof(path), "/dev/virtio-ports/%s", names[i]);
		ASSERT_NE(NULL, realpath(path, real)) TH_LOG("%s", path);
		snprintf(buf, sizeof(buf), "/dev/vport%dp%u", d->virtio,
			 p->id);
		EXPECT_STREQ(buf, real);
	}
}

/* Test 1: the default port list, made with the vdpa tool. */
TEST_F_TIMEOUT(vserial, names_default, 120)
{
	static const char *const names[] = { "", "org.qemu.guest_agent.0" };
	static const int ids[] = { 0, 1 };
	unsigned int hvc = vs_hvc_live();

	ASSERT_EQ(0, vs_run("vdpa dev add name " VS_DEV " mgmtdev "
			    VS_MGMTDEV));
	vs_settle();
	ASSERT_EQ(0, vs_dev_wait(&self->dev, VS_DEV, 2, hvc, 60000));
	check_names(_metadata, &self->dev, names, ids, 2);

	ASSERT_EQ(0, vs_run("vdpa dev del " VS_DEV));
	vs_settle();
	EXPECT_EQ(0, vs_dev_scan(&self->dev, VS_DEV));
	EXPECT_FALSE(vs_exists("/dev/virtio-ports/org.qemu.guest_agent.0"));
}

/* Test 1: custom port lists; the first console port takes id 0. */
TEST_F_TIMEOUT(vserial, names_custom, 120)
{
	static const char *const names1[] = { "", "alpha", "beta", "gamma" };
	static const int ids1[] = { 0, 1, 2, 3 };
	static const char *const names2[] = { "alpha", "con0", "beta",
					      "gamma" };
	static const int ids2[] = { 1, 0, 2, 3 };

	ASSERT_EQ(0, vs_create(&self->dev, "console:,alpha,beta,gamma", NULL,
			       4));
	check_names(_metadata, &self->dev, names1, ids1, 4);
	ASSERT_EQ(0, vs_destroy());
	vs_settle();
	EXPECT_EQ(0, vs_class_count());

	ASSERT_EQ(0, vs_create(&self->dev, "alpha,console:con0,beta,gamma",
			       NULL, 4));
	check_names(_metadata, &self->dev, names2, ids2, 4);
}

/* Module parameters and device_features are checked. */
TEST_F_TIMEOUT(vserial, params_and_features, 120)
{
	uint64_t f;

	/* max_ports: 1..511. */
	EXPECT_EQ(-EINVAL, vs_write_str(VS_PARAMS "max_ports", "0"));
	EXPECT_EQ(-EINVAL, vs_write_str(VS_PARAMS "max_ports", "512"));
	EXPECT_EQ(31, vs_read_ll(VS_PARAMS "max_ports"));
	EXPECT_EQ(0, vs_write_str(VS_PARAMS "max_ports", "511"));
	EXPECT_EQ(511, vs_read_ll(VS_PARAMS "max_ports"));
	EXPECT_EQ(0, vs_write_str(VS_PARAMS "max_ports", "1"));
	EXPECT_EQ(1, vs_read_ll(VS_PARAMS "max_ports"));

	/* The default list needs id 1: too many for max_ports 1. */
	EXPECT_NE(0, vs_dev_add(VS_DEV, NULL));
	EXPECT_FALSE(vs_dev_exists(VS_DEV));
	EXPECT_EQ(0, vs_class_count());

	/* Two ports fit max_ports 2, three do not. */
	ASSERT_EQ(0, vs_param_set("max_ports", "2"));
	ASSERT_EQ(0, vs_create(&self->dev, "console:,a", NULL, 2));
	EXPECT_EQ(1, vs_port_by_name(&self->dev, "a")->id);
	ASSERT_EQ(0, vs_destroy());
	ASSERT_EQ(0, vs_param_set("ports", "a,b"));
	EXPECT_NE(0, vs_dev_add(VS_DEV, NULL));
	EXPECT_FALSE(vs_dev_exists(VS_DEV));

	/* Duplicate names. */
	ASSERT_EQ(0, vs_param_set("max_ports", "31"));
	ASSERT_EQ(0, vs_param_set("ports", "a,b,a"));
	EXPECT_NE(0, vs_dev_add(VS_DEV, NULL));
	EXPECT_FALSE(vs_dev_exists(VS_DEV));
	EXPECT_EQ(0, vs_class_count());
	ASSERT_EQ(0, vs_param_set("ports", VS_DEF_PORTS));

	/* Unknown feature bits, or no VERSION_1 / ACCESS_PLATFORM. */
	f = VS_F_ALL | (1ULL << 3);
	EXPECT_EQ(-EINVAL, vs_dev_add(VS_DEV, &f));
	f = VS_F_ALL | VS_F_RING_PACKED;
	EXPECT_EQ(-EINVAL, vs_dev_add(VS_DEV, &f));
	f = VS_F_ALL & ~VS_F_VERSION_1;
	EXPECT_EQ(-EINVAL, vs_dev_add(VS_DEV, &f));
	f = VS_F_ALL & ~VS_F_ACCESS_PLATFORM;
	EXPECT_EQ(-EINVAL, vs_dev_add(VS_DEV, &f));
	EXPECT_FALSE(vs_dev_exists(VS_DEV));
	EXPECT_EQ(0, vs_class_count());
	EXPECT_NE(0, vs_run("vdpa dev add name %s mgmtdev %s %s 2>/dev/null",
			    VS_DEV, VS_MGMTDEV, "device_features 0x130000007"));

	/* The documented single-port mask, through the vdpa tool. */
	ASSERT_EQ(0, vs_run("vdpa dev add name " VS_DEV " mgmtdev "
			    VS_MGMTDEV " device_features 0x330000005"));
	vs_settle();
	ASSERT_EQ(0, vs_dev_wait(&self->dev, VS_DEV, 1, 0, 60000));
	EXPECT_EQ(0, self->dev.port[0].id);
	EXPECT_TRUE(self->dev.port[0].console);
}

/*
 * The largest device, max_nr_ports 511 (1024 queues), bound by the
 * Linux driver through virtio_vdpa: its ports work.
 */
TEST_F_TIMEOUT(vserial, max_ports_511, 180)
{
	char buf[64];
	struct vs_port *p;
	int hfd, gfd;

	ASSERT_EQ(0, vs_param_set("max_ports", "511"));
	ASSERT_EQ(0, vs_create(&self->dev, "console:,big.one", NULL, 2));
	p = vs_port_by_name(&self->dev, "big.one");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));
	ASSERT_EQ(5, write(hfd, "hello", 5));
	ASSERT_EQ(5, vs_read_full(gfd, buf, 5, 10000));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	ASSERT_EQ(6, write(gfd, "world!", 6));
	ASSERT_EQ(6, vs_read_full(hfd, buf, 6, 10000));
	EXPECT_EQ(0, memcmp(buf, "world!", 6));
	close(gfd);
	close(hfd);
}

/* Test 2: open and close, seen from both sides. */
TEST_F_TIMEOUT(vserial, open_close, 120)
{
	struct vs_call call;
	struct vs_port *p;
	int hfd, gfd, r;
	char c;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", NULL, 2));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);
	EXPECT_EQ(0, vs_attr(p, "guest_connected"));
	EXPECT_EQ(0, vs_attr(p, "host_connected"));

	/* Guest first: it sees a closed host end. */
	gfd = open(p->guest, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, gfd) TH_LOG("open %s: %s", p->guest, strerror(errno));
	ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "1", 10000));
	EXPECT_EQ(0, vs_attr(p, "host_connected"));
	EXPECT_TRUE(vs_revents(gfd) & POLLHUP);
	EXPECT_FALSE(vs_revents(gfd) & POLLOUT);
	EXPECT_EQ(0, read(gfd, &c, 1)) TH_LOG("guest read, host closed");
	EXPECT_EQ(-1, write(gfd, "x", 1));
	EXPECT_EQ(EAGAIN, errno) TH_LOG("guest write, host closed");

	/* Host opens: the guest stops seeing a hang-up. */
	hfd = open(p->host, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	EXPECT_EQ(1, vs_attr(p, "host_connected"));
	ASSERT_LE(0, vs_wait_poll(gfd, POLLOUT, POLLHUP, 10000))
		TH_LOG("guest does not see the host open");
	EXPECT_EQ(-1, read(gfd, &c, 1));
	EXPECT_EQ(EAGAIN, errno) TH_LOG("guest read, host open, no data");
	EXPECT_EQ(POLLOUT, vs_revents(hfd) & (POLLOUT | POLLHUP | POLLIN));

	/* A blocking guest read waits, and ends (EOF) at the host close. */
	ASSERT_EQ(0, fcntl(gfd, F_SETFL, 0));
	ASSERT_EQ(0, vs_call_start(&call, gfd, false, &c, 1));
	vs_sleep_ms(500);
	EXPECT_FALSE(vs_call_finished(&call))
		TH_LOG("guest read did not block with the host open");
	ASSERT_EQ(0, close(hfd));
	EXPECT_EQ(0, vs_attr(p, "host_connected"));
	ASSERT_TRUE(vs_call_wait(&call, 10000))
		TH_LOG("guest read still blocked after the host closed");
	EXPECT_EQ(0, call.ret) TH_LOG("guest read: %s", strerror(call.err));
	EXPECT_LE(0, vs_wait_poll(gfd, POLLHUP, 0, 10000));
	EXPECT_EQ(0, vs_read_within(gfd, &c, 1, 5000));

	/*
	 * Host reopens, then the guest closes: the host end says the guest
	 * side is away (POLLRDHUP) and waits; no end of file, no POLLHUP.
	 */
	hfd = open(p->host, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	EXPECT_LE(0, vs_wait_poll(gfd, 0, POLLHUP, 10000));
	EXPECT_EQ(0, vs_revents(hfd) & (POLLHUP | POLLRDHUP));
	ASSERT_EQ(0, close(gfd));
	EXPECT_EQ(0, vs_wait_attr(p, "guest_connected", "0", 10000));
	EXPECT_LE(0, vs_wait_poll(hfd, POLLRDHUP, POLLOUT | POLLHUP, 10000));
	EXPECT_EQ(-1, read(hfd, &c, 1)) TH_LOG("host read, guest closed");
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(1, vs_attr(p, "host_connected"));
	ASSERT_EQ(0, close(hfd));
	EXPECT_EQ(0, vs_attr(p, "host_connected"));

	/* And again, host first this time. */
	hfd = open(p->host, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	EXPECT_EQ(POLLRDHUP, vs_revents(hfd) & (POLLRDHUP | POLLHUP));
	gfd = open(p->guest, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	EXPECT_EQ(0, vs_wait_attr(p, "guest_connected", "1", 10000));
	EXPECT_LE(0, vs_wait_poll(hfd, POLLOUT, POLLHUP | POLLRDHUP, 10000));
	r = vs_wait_poll(gfd, POLLOUT, POLLHUP, 10000);
	EXPECT_LE(0, r) TH_LOG("guest misses a host open done before its own");
}

/* Test 2: writers on either side wait for the other side to open. */
TEST_F_TIMEOUT(vserial, write_waits_for_open, 120)
{
	struct vs_call call;
	struct vs_port *p;
	int hfd, gfd;
	char buf[16];

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", NULL, 2));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);

	/* Host writes first: nothing may go to a guest that is not open. */
	hfd = open(p->host, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	ASSERT_EQ(0, vs_call_start(&call, hfd, true, "hello", 5));
	vs_sleep_ms(500);
	EXPECT_FALSE(vs_call_finished(&call))
		TH_LOG("host write did not wait for the guest to open");
	gfd = open(p->guest, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	ASSERT_TRUE(vs_call_wait(&call, 10000))
		TH_LOG("host write still blocked after the guest opened");
	EXPECT_EQ(5, call.ret) TH_LOG("host write: %s", strerror(call.err));
	EXPECT_EQ(5, vs_read_full(gfd, buf, 5, 10000));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	ASSERT_EQ(0, close(hfd));
	ASSERT_LE(0, vs_wait_poll(gfd, POLLHUP, 0, 10000));

	/* Guest writes first: it waits for the host end to open. */
	ASSERT_EQ(0, vs_call_start(&call, gfd, true, "world", 5));
	vs_sleep_ms(500);
	EXPECT_FALSE(vs_call_finished(&call))
		TH_LOG("guest write did not wait for the host to open");
	hfd = open(p->host, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	ASSERT_TRUE(vs_call_wait(&call, 10000))
		TH_LOG("guest write still blocked after the host opened");
	EXPECT_EQ(5, call.ret);
	EXPECT_EQ(5, vs_read_full(hfd, buf, 5, 10000));
	EXPECT_EQ(0, memcmp(buf, "world", 5));
}

/* Two devices at once: their ports are distinct and do not mix. */
TEST_F_TIMEOUT(vserial, two_devices, 180)
{
	const char *const devs[2] = { VS_DEV, VS_DEV2 };
	struct vs_dev d[2];
	struct vs_port *p[2];
	int hfd[2], gfd[2], i;
	char buf[16];

	ASSERT_EQ(0, vs_param_set("ports", "console:,p1"));
	for (i = 0; i < 2; i++) {
		unsigned int hvc = vs_hvc_live();

		ASSERT_EQ(0, vs_dev_add(devs[i], NULL));
		vs_settle();
		ASSERT_EQ(0, vs_dev_wait(&d[i], devs[i], 2, hvc, 60000));
		p[i] = vs_port_by_name(&d[i], "p1");
		ASSERT_NE(NULL, p[i]);
	}
	EXPECT_EQ(4, vs_class_count());
	EXPECT_NE(d[0].virtio, d[1].virtio);
	EXPECT_STRNE(p[0]->host, p[1]->host);
	EXPECT_STRNE(vs_port_by_id(&d[0], 0)->guest,
		     vs_port_by_id(&d[1], 0)->guest);

	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, vs_connect(p[i], O_NONBLOCK, O_NONBLOCK, &hfd[i],
					&gfd[i]));
	ASSERT_EQ(3, write(hfd[0], "h0g", 3));
	ASSERT_EQ(3, write(hfd[1], "h1g", 3));
	ASSERT_EQ(3, write(gfd[0], "g0h", 3));
	ASSERT_EQ(3, write(gfd[1], "g1h", 3));
	for (i = 0; i < 2; i++) {
		char want[4];

		snprintf(want, sizeof(want), "h%dg", i);
		ASSERT_EQ(3, vs_read_full(gfd[i], buf, sizeof(buf), 2000));
		EXPECT_EQ(0, memcmp(buf, want, 3));
		snprintf(want, sizeof(want), "g%dh", i);
		ASSERT_EQ(3, vs_read_full(hfd[i], buf, sizeof(buf), 2000));
		EXPECT_EQ(0, memcmp(buf, want, 3));
	}

	/* Deleting one leaves the other alone. */
	ASSERT_EQ(0, vs_dev_del(VS_DEV));
	EXPECT_EQ(0, read(hfd[0], buf, 1));
	EXPECT_EQ(2, vs_class_count());
	ASSERT_EQ(2, write(hfd[1], "ok", 2));
	ASSERT_EQ(2, vs_read_full(gfd[1], buf, 2, 10000));
	EXPECT_EQ(0, memcmp(buf, "ok", 2));
}

/* Test 3: 64 MiB each way on three ports at once. */
TEST_F_TIMEOUT(vserial, bulk_3_ports, 600)
{
	static const char *const names[] = { "d1", "d2", "d3" };
	/* host writer io, guest writer io, reader io */
	static const enum vs_io io[3][2] = {
		{ VS_IO_RW, VS_IO_RW },
		{ VS_IO_VEC, VS_IO_VEC },
		{ VS_IO_RW, VS_IO_SPLICE },
	};
	const uint64_t total = 64 * MiB;
	struct vs_xfer x[12];
	int hfd[3], gfd[3], i, n = 0;
	uint64_t t0;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,d1,d2,d3", NULL, 4));
	for (i = 0; i < 3; i++) {
		struct vs_port *p = vs_port_by_name(&self->dev, names[i]);

		ASSERT_NE(NULL, p);
		ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd[i], &gfd[i]));
		/* host -> guest */
		vs_xfer_init(&x[n++], "host write", hfd[i], true, io[i][0],
			     100 + i, total, 256 * 1024, false);
		vs_xfer_init(&x[n++], "guest read", gfd[i], false, io[i][0],
			     100 + i, total, 64 * 1024, false);
		/* guest -> host */
		vs_xfer_init(&x[n++], "guest write", gfd[i], true, io[i][1],
			     200 + i, total, 64 * 1024, false);
		vs_xfer_init(&x[n++], "host read", hfd[i], false, io[i][0],
			     200 + i, total, 256 * 1024, false);
	}
	t0 = vs_ms();
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, vs_xfer_start(&x[i]));
	ASSERT_EQ(0, vs_xfer_wait(x, n, 30000, 500000));
	vs_log("6 x 64 MiB in %llu ms", (unsigned long long)(vs_ms() - t0));
	for (i = 0; i < n; i++)
		EXPECT_EQ(0, vs_xfer_ok(&x[i])) TH_LOG("port %s, %s",
						       names[(i / 4) % 3],
						       x[i].what);

	/* Nothing more than what was sent. */
	for (i = 0; i < 3; i++) {
		char c;

		ASSERT_EQ(0, fcntl(hfd[i], F_SETFL, O_NONBLOCK));
		ASSERT_EQ(0, fcntl(gfd[i], F_SETFL, O_NONBLOCK));
		EXPECT_EQ(-1, read(hfd[i], &c, 1));
		EXPECT_EQ(EAGAIN, errno);
		EXPECT_EQ(-1, read(gfd[i], &c, 1));
		EXPECT_EQ(EAGAIN, errno);
	}
}

/* Data flows without EVENT_IDX, without INDIRECT, without both. */
TEST_F_TIMEOUT(vserial, data_feature_masks, 300)
{
	static const uint64_t masks[] = {
		VS_F_ALL & ~VS_F_EVENT_IDX,
		VS_F_ALL & ~VS_F_INDIRECT,
		VS_F_ALL & ~(VS_F_EVENT_IDX | VS_F_INDIRECT),
	};
	const uint64_t total = 8 * MiB;
	unsigned int m;

	for (m = 0; m < ARRAY_SIZE(masks); m++) {
		struct vs_xfer x[4];
		struct vs_port *p;
		int hfd, gfd, i;

		TH_LOG("device_features 0x%llx", (unsigned long long)masks[m]);
		ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", &masks[m],
				       2));
		p = vs_port_by_name(&self->dev, "p1");
		ASSERT_NE(NULL, p);
		ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));
		vs_xfer_init(&x[0], "host write", hfd, true, VS_IO_VEC, m,
			     total, 128 * 1024, false);
		vs_xfer_init(&x[1], "guest read", gfd, false, VS_IO_RW, m,
			     total, 64 * 1024, false);
		/*
		 * splice: 16-segment chains (one indirect descriptor, or 16
		 * direct ones).  All the same length: without INDIRECT, the
		 * guest driver drops a spliced chain the ring has too few
		 * descriptors left for (see vs_pipe_empty()).
		 */
		vs_xfer_init(&x[2], "guest write", gfd, true, VS_IO_SPLICE,
			     m + 10, total, 64 * 1024, true);
		vs_xfer_init(&x[3], "host read", hfd, false, VS_IO_VEC,
			     m + 10, total, 128 * 1024, false);
		for (i = 0; i < 4; i++)
			ASSERT_EQ(0, vs_xfer_start(&x[i]));
		ASSERT_EQ(0, vs_xfer_wait(x, 4, 30000, 200000))
			TH_LOG("device_features 0x%llx",
			       (unsigned long long)masks[m]);
		for (i = 0; i < 4; i++)
			EXPECT_EQ(0, vs_xfer_ok(&x[i]));
		close(hfd);
		close(gfd);
		ASSERT_EQ(0, vs_destroy());
	}
}

/* Test 4: the host writer waits for a guest that does not read. */
TEST_F_TIMEOUT(vserial, backpressure_host_to_guest, 240)
{
	const uint64_t total = 3 * VS_GUEST_RX_BYTES;
	struct vs_xfer wr, rd;
	struct vs_port *p;
	uint64_t stuck;
	int hfd, gfd;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", NULL, 2));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));

	vs_xfer_init(&wr, "host write", hfd, true, VS_IO_RW, 7, total,
		     64 * 1024, true);
	ASSERT_EQ(0, vs_xfer_start(&wr));
	ASSERT_TRUE(vs_xfer_blocked(&wr, 3000, 120000))
		TH_LOG("host writer did not block (wrote %llu of %llu)",
		       (unsigned long long)vs_xfer_done(&wr),
		       (unsigned long long)total);
	stuck = vs_xfer_done(&wr);
	TH_LOG("host writer blocked after %llu bytes",
	       (unsigned long long)stuck);
	EXPECT_LE(stuck, VS_GUEST_RX_BYTES)
		TH_LOG("more accepted than the guest's receive buffers hold");
	EXPECT_GE(stuck, 128 * 1024);
	EXPECT_EQ(0, vs_revents(hfd) & POLLOUT);
	EXPECT_EQ(1, vs_attr(p, "guest_connected"));

	/* Still blocked a while later: nothing dropped to make room. */
	vs_sleep_ms(1000);
	EXPECT_EQ(stuck, vs_xfer_done(&wr));
	EXPECT_FALSE(vs_xfer_finished(&wr));

	vs_xfer_init(&rd, "guest read", gfd, false, VS_IO_RW, 7, total,
		     64 * 1024, false);
	ASSERT_EQ(0, vs_xfer_start(&rd));
	ASSERT_EQ(0, vs_xfer_wait(&wr, 1, 30000, 120000));
	ASSERT_EQ(0, vs_xfer_wait(&rd, 1, 30000, 120000));
	EXPECT_EQ(0, vs_xfer_ok(&wr));
	EXPECT_EQ(0, vs_xfer_ok(&rd));
}

/* Test 4: the guest writer waits for a host that does not read. */
TEST_F_TIMEOUT(vserial, backpressure_guest_to_host, 240)
{
	const uint64_t total = 2 * VS_GUEST_TX_BUFS * 4096;
	struct vs_xfer wr, rd;
	struct vs_port *p;
	uint64_t stuck;
	int hfd, gfd;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", NULL, 2));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));

	vs_xfer_init(&wr, "guest write", gfd, true, VS_IO_RW, 8, total, 4096,
		     true);
	ASSERT_EQ(0, vs_xfer_start(&wr));
	ASSERT_TRUE(vs_xfer_blocked(&wr, 3000, 120000))
		TH_LOG("guest writer did not block (wrote %llu of %llu)",
		       (unsigned long long)vs_xfer_done(&wr),
		       (unsigned long long)total);
	stuck = vs_xfer_done(&wr);
	TH_LOG("guest writer blocked after %llu bytes",
	       (unsigned long long)stuck);
	EXPECT_LE(stuck, VS_GUEST_TX_BUFS * 4096);
	EXPECT_GE(stuck, 128 * 1024);
	EXPECT_TRUE(vs_revents(hfd) & POLLIN);
	EXPECT_EQ(0, vs_revents(gfd) & POLLOUT);

	vs_sleep_ms(1000);
	EXPECT_EQ(stuck, vs_xfer_done(&wr));
	EXPECT_FALSE(vs_xfer_finished(&wr));

	vs_xfer_init(&rd, "host read", hfd, false, VS_IO_RW, 8, total,
		     64 * 1024, false);
	ASSERT_EQ(0, vs_xfer_start(&rd));
	ASSERT_EQ(0, vs_xfer_wait(&wr, 1, 30000, 120000));
	ASSERT_EQ(0, vs_xfer_wait(&rd, 1, 30000, 120000));
	EXPECT_EQ(0, vs_xfer_ok(&wr));
	EXPECT_EQ(0, vs_xfer_ok(&rd));
}

static int vs_epoll_events(int ep, int timeout_ms)
{
	struct epoll_event ev;
	int n = epoll_wait(ep, &ev, 1, timeout_ms);

	return n == 1 ? (int)ev.events : n;
}

/* Test 5: O_NONBLOCK, poll and epoll on the host end. */
TEST_F_TIMEOUT(vserial, nonblock_poll, 240)
{
	static char buf[256 * 1024];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP };
	uint64_t filled = 0, got = 0;
	struct vs_port *p;
	int hfd, gfd, ep;
	ssize_t n;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", NULL, 2));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);

	/* Guest closed: RDHUP, no OUT, no HUP; reads and writes EAGAIN. */
	hfd = open(p->host, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, hfd, &ev));
	EXPECT_EQ(POLLRDHUP, vs_revents(hfd));
	EXPECT_EQ(EPOLLRDHUP, vs_epoll_events(ep, 0));
	EXPECT_EQ(-1, write(hfd, "x", 1));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, read(hfd, buf, 1));
	EXPECT_EQ(EAGAIN, errno);

	/* Guest open, nothing pending: OUT only, reads EAGAIN. */
	gfd = open(p->guest, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "1", 10000));
	ASSERT_LE(0, vs_wait_poll(hfd, POLLOUT, POLLHUP | POLLRDHUP, 10000));
	EXPECT_EQ(POLLOUT, vs_revents(hfd));
	EXPECT_EQ(EPOLLOUT, vs_epoll_events(ep, 1000));
	EXPECT_EQ(-1, read(hfd, buf, 1));
	EXPECT_EQ(EAGAIN, errno);

	/* Guest writes: IN. */
	ASSERT_LE(0, vs_wait_poll(gfd, POLLOUT, POLLHUP, 10000));
	vs_pattern(1, 0, buf, 100);
	ASSERT_EQ(100, write(gfd, buf, 100));
	ASSERT_LE(0, vs_wait_poll(hfd, POLLIN, 0, 10000));
	EXPECT_EQ(EPOLLIN | EPOLLOUT, vs_epoll_events(ep, 1000));
	memset(buf, 0, 100);
	ASSERT_EQ(100, read(hfd, buf, sizeof(buf)));
	EXPECT_EQ(-1, vs_pattern_check(1, 0, buf, 100));
	EXPECT_EQ(-1, read(hfd, buf, 1));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(POLLOUT, vs_revents(hfd));

	/* Fill the guest's receive buffers: EAGAIN, no OUT. */
	for (;;) {
		vs_pattern(2, filled, buf, 64 * 1024);
		n = write(hfd, buf, 64 * 1024);
		if (n < 0)
			break;
		ASSERT_LT(0, n);
		filled += n;
		ASSERT_GE(VS_GUEST_RX_BYTES, filled)
			TH_LOG("host wrote more than the guest can hold");
	}
	EXPECT_EQ(EAGAIN, errno);
	TH_LOG("guest buffers full after %llu bytes",
	       (unsigned long long)filled);
	EXPECT_LE(128 * 1024, filled);
	EXPECT_EQ(0, vs_revents(hfd) & POLLOUT);
	EXPECT_EQ(0, vs_epoll_events(ep, 300));

	/* The guest reads a little: OUT again (poll and epoll). */
	n = vs_read_full(gfd, buf, 64 * 1024, 10000);
	ASSERT_EQ(64 * 1024, n);
	EXPECT_EQ(-1, vs_pattern_check(2, 0, buf, n));
	got = n;
	EXPECT_LE(0, vs_wait_poll(hfd, POLLOUT, 0, 10000));
	EXPECT_EQ(EPOLLOUT, vs_epoll_events(ep, 1000));

	/* ... and the rest, intact; then nothing. */
	while (got < filled) {
		n = vs_read_full(gfd, buf, sizeof(buf) < filled - got ?
				 sizeof(buf) : filled - got, 10000);
		ASSERT_LT(0, n);
		ASSERT_EQ(-1, vs_pattern_check(2, got, buf, n))
			TH_LOG("at %llu", (unsigned long long)got);
		got += n;
	}
	EXPECT_EQ(-1, read(gfd, buf, 1));
	EXPECT_EQ(EAGAIN, errno);

	/* Guest side O_NONBLOCK writes stop with EAGAIN, host sees IN. */
	filled = 0;
	for (;;) {
		vs_pattern(3, filled, buf, 4096);
		n = write(gfd, buf, 4096);
		if (n < 0)
			break;
		filled += n;
		ASSERT_GE(VS_GUEST_TX_BUFS * 4096, filled);
	}
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_LE(128 * 1024, filled);
	EXPECT_EQ(POLLIN | POLLOUT, vs_revents(hfd) & (POLLIN | POLLOUT));
	EXPECT_EQ(0, vs_revents(gfd) & POLLOUT);
	got = 0;
	while (got < filled) {
		n = vs_read_full(hfd, buf, sizeof(buf) < filled - got ?
				 sizeof(buf) : filled - got, 10000);
		ASSERT_LT(0, n);
		ASSERT_EQ(-1, vs_pattern_check(3, got, buf, n));
		got += n;
	}
	EXPECT_EQ(-1, read(hfd, buf, 1));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, vs_revents(hfd) & POLLIN);
	EXPECT_LE(0, vs_wait_poll(gfd, POLLOUT, 0, 10000))
		TH_LOG("guest writable again after the host read");

	/* Guest closes: RDHUP (poll and epoll); reads wait. */
	ASSERT_EQ(0, close(gfd));
	EXPECT_LE(0, vs_wait_poll(hfd, POLLRDHUP, POLLOUT | POLLHUP, 10000));
	EXPECT_EQ(EPOLLRDHUP, vs_epoll_events(ep, 1000));
	EXPECT_EQ(-1, read(hfd, buf, 1));
	EXPECT_EQ(EAGAIN, errno);
	close(ep);
}

/*
 * Test 6: what is pending is read whatever the other side does; the host
 * end reads end of file only when the port goes, the guest's when the
 * host end closes (the Linux driver's rule).
 */
TEST_F_TIMEOUT(vserial, eof, 120)
{
	static char buf[20000];
	char path[PATH_MAX];
	struct vs_call call;
	struct vs_port *p;
	int hfd, gfd;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", NULL, 2));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);

	/* Guest writes, closes: the host reads it all, then waits. */
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));
	vs_pattern(4, 0, buf, 10000);
	ASSERT_EQ(10000, vs_write_full(gfd, buf, 10000, 10000));
	ASSERT_EQ(0, close(gfd));
	ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "0", 10000));
	EXPECT_EQ(POLLIN | POLLRDHUP,
		  vs_revents(hfd) & (POLLIN | POLLHUP | POLLOUT | POLLRDHUP));
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(10000, vs_read_full(hfd, buf, sizeof(buf), 10000));
	EXPECT_EQ(-1, vs_pattern_check(4, 0, buf, 10000));
	vs_sleep_ms(500);
	EXPECT_EQ(POLLRDHUP, vs_revents(hfd) &
		  (POLLIN | POLLHUP | POLLOUT | POLLRDHUP));

	/*
	 * A host read blocked on an open guest stays blocked when the
	 * guest closes, and gets what the guest writes when it comes back.
	 */
	gfd = open(p->guest, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "1", 10000));
	ASSERT_EQ(0, vs_call_start(&call, hfd, false, buf, 5));
	vs_sleep_ms(500);
	EXPECT_FALSE(vs_call_finished(&call))
		TH_LOG("host read did not block with the guest open");
	ASSERT_EQ(0, close(gfd));
	ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "0", 10000));
	vs_sleep_ms(500);
	EXPECT_FALSE(vs_call_finished(&call))
		TH_LOG("host read ended when the guest closed");
	gfd = open(p->guest, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	ASSERT_EQ(5, vs_write_full(gfd, "again", 5, 10000));
	ASSERT_TRUE(vs_call_wait(&call, 10000));
	EXPECT_EQ(5, call.ret);
	EXPECT_EQ(0, memcmp(buf, "again", 5));
	ASSERT_EQ(0, close(gfd));

	/* The port goes: a blocked host read ends, end of file, POLLHUP. */
	ASSERT_EQ(0, vs_call_start(&call, hfd, false, buf, 5));
	vs_sleep_ms(300);
	snprintf(path, sizeof(path), VS_CFG "/" VS_DEV "/ports/p1/enable");
	ASSERT_EQ(0, vs_write_str(path, "0"));
	ASSERT_TRUE(vs_call_wait(&call, 10000))
		TH_LOG("host read still blocked after the unplug");
	EXPECT_EQ(0, call.ret) TH_LOG("host read: %s", strerror(call.err));
	EXPECT_EQ(POLLIN | POLLHUP, vs_revents(hfd) & (POLLIN | POLLHUP));
	ASSERT_EQ(0, close(hfd));
	/*
	 * The id is plugged in again only after the driver has dropped the
	 * old port: until then the old /dev/vportNp1 is still there.
	 */
	ASSERT_EQ(0, vs_wait_exists(p->guest, false, 10000));
	ASSERT_EQ(0, vs_write_str(path, "1"));
	ASSERT_EQ(0, vs_dev_wait(&self->dev, VS_DEV, 2, 0, 20000));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);

	/* Host writes, closes: the guest reads it all, then 0. */
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));
	vs_pattern(6, 0, buf, 10000);
	ASSERT_EQ(10000, vs_write_full(hfd, buf, 10000, 10000));
	ASSERT_EQ(0, close(hfd));
	EXPECT_EQ(0, vs_attr(p, "host_connected"));
	ASSERT_LE(0, vs_wait_poll(gfd, POLLHUP, 0, 10000));
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(10000, vs_read_full(gfd, buf, sizeof(buf), 10000));
	EXPECT_EQ(-1, vs_pattern_check(6, 0, buf, 10000));
	EXPECT_EQ(0, vs_read_within(gfd, buf, 1, 5000));
}

/* Test 7: one opener at a time; signals interrupt blocked calls. */
TEST_F_TIMEOUT(vserial, ebusy_eintr, 180)
{
	const size_t big = 2 * VS_GUEST_RX_BYTES;
	struct vs_call call;
	uint64_t written;
	struct vs_port *p;
	int hfd, gfd, fd;
	char *buf;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", NULL, 2));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));

	fd = open(p->host, O_RDWR | O_CLOEXEC);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EBUSY, errno);
	fd = open(p->host, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EBUSY, errno);
	/* Console ports too. */
	fd = open(vs_port_by_id(&self->dev, 0)->host, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, open(vs_port_by_id(&self->dev, 0)->host, O_RDWR));
	EXPECT_EQ(EBUSY, errno);
	close(fd);

	vs_catch(SIGUSR1);
	buf = malloc(big);
	ASSERT_NE(NULL, buf);

	/* A blocked read fails with EINTR. */
	ASSERT_EQ(0, vs_call_start(&call, hfd, false, buf, 1));
	vs_sleep_ms(300);
	EXPECT_FALSE(vs_call_finished(&call)) TH_LOG("read did not block");
	ASSERT_TRUE(vs_call_interrupt(&call, SIGUSR1, 100, 10000))
		TH_LOG("read not interrupted");
	EXPECT_EQ(-1, call.ret);
	EXPECT_EQ(EINTR, call.err);

	/* A write blocked after some bytes returns their count... */
	vs_pattern(10, 0, buf, big);
	ASSERT_EQ(0, vs_call_start(&call, hfd, true, buf, big));
	/* (poll waits while the writer copies: its "no OUT" is real) */
	ASSERT_LE(0, vs_wait_poll(hfd, 0, POLLOUT, 60000));
	vs_sleep_ms(300);
	EXPECT_FALSE(vs_call_finished(&call));
	ASSERT_TRUE(vs_call_interrupt(&call, SIGUSR1, 200, 10000))
		TH_LOG("write not interrupted");
	EXPECT_EQ(0, call.err) TH_LOG("write: %s", strerror(call.err));
	EXPECT_LT(0, call.ret);
	EXPECT_GT((ssize_t)big, call.ret);
	written = call.ret > 0 ? call.ret : 0;
	TH_LOG("interrupted write returned %zd", call.ret);

	/* ... or fails with EINTR when it wrote nothing. */
	ASSERT_EQ(0, vs_call_start(&call, hfd, true, buf, 4096));
	vs_sleep_ms(300);
	EXPECT_FALSE(vs_call_finished(&call));
	ASSERT_TRUE(vs_call_interrupt(&call, SIGUSR1, 100, 10000))
		TH_LOG("write not interrupted");
	EXPECT_EQ(-1, call.ret);
	EXPECT_EQ(EINTR, call.err);

	/* The guest gets exactly the interrupted write's bytes. */
	ASSERT_EQ(0, fcntl(gfd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ((ssize_t)written, vs_read_full(gfd, buf, written, 20000));
	EXPECT_EQ(-1, vs_pattern_check(10, 0, buf, written));
	EXPECT_EQ(-1, read(gfd, buf, 1));
	EXPECT_EQ(EAGAIN, errno);
	free(buf);

	/* After the first opener closes, open works again. */
	ASSERT_EQ(0, close(hfd));
	hfd = open(p->host, O_RDWR | O_CLOEXEC);
	EXPECT_LE(0, hfd);
}

/* Test 8: the device goes away under open host ends. */
TEST_F_TIMEOUT(vserial, delete_while_open, 180)
{
	struct vs_port *p1, *p2, *c;
	struct vs_xfer rd, wr;
	int h1, g1, h2, hc, fd, g, r;
	char buf[64], old1[272];
	struct vs_dev d2;
	short ev;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1,p2", NULL, 3));
	p1 = vs_port_by_name(&self->dev, "p1");
	p2 = vs_port_by_name(&self->dev, "p2");
	c = vs_port_by_id(&self->dev, 0);
	ASSERT_NE(NULL, p1);
	ASSERT_NE(NULL, p2);
	ASSERT_EQ(0, vs_connect(p1, 0, 0, &h1, &g1));
	h2 = open(p2->host, O_RDWR | O_CLOEXEC);	/* guest closed */
	ASSERT_LE(0, h2);
	hc = open(c->host, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, hc);
	snprintf(old1, sizeof(old1), "%s", p1->host);

	/* Blocked: a read (guest open, no data), a write (guest closed). */
	vs_xfer_init(&rd, "host read", h1, false, VS_IO_RW, 1, 1, 1, true);
	vs_xfer_init(&wr, "host write", h2, true, VS_IO_RW, 1, 10, 10, true);
	ASSERT_EQ(0, vs_xfer_start(&rd));
	ASSERT_EQ(0, vs_xfer_start(&wr));
	vs_sleep_ms(300);
	EXPECT_FALSE(vs_xfer_finished(&rd));
	EXPECT_FALSE(vs_xfer_finished(&wr));

	ASSERT_EQ(0, vs_destroy());
	EXPECT_EQ(0, vs_xfer_wait(&rd, 1, 10000, 10000));
	EXPECT_EQ(0, vs_xfer_wait(&wr, 1, 10000, 10000));
	EXPECT_TRUE(rd.eof) TH_LOG("blocked read: %zd, %s", rd.last,
				   strerror(rd.err));
	EXPECT_EQ(ENODEV, wr.err) TH_LOG("blocked write: %zd, %s", wr.last,
					 strerror(wr.err));

	EXPECT_EQ(0, vs_read_within(h1, buf, sizeof(buf), 5000));
	EXPECT_EQ(0, vs_read_within(hc, buf, sizeof(buf), 5000));
	EXPECT_EQ(-1, write(h1, "x", 1));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, write(hc, "x", 1));
	EXPECT_EQ(ENODEV, errno);
	ev = vs_revents(h2);
	EXPECT_EQ(POLLHUP | POLLERR, ev & (POLLHUP | POLLERR | POLLOUT));
	EXPECT_FALSE(vs_exists(old1)) TH_LOG("%s still there", old1);
	fd = open(old1, O_RDWR);
	EXPECT_EQ(-1, fd);

	/* The module is in use while a host end is open. */
	r = syscall(__NR_delete_module, VS_MOD, O_NONBLOCK);
	EXPECT_EQ(-1, r);
	TH_LOG("delete_module with a host end open: %s", strerror(errno));
	/* "in use": EWOULDBLOCK from the refcount, EBUSY from rmmod(8) */
	EXPECT_TRUE(errno == EBUSY || errno == EWOULDBLOCK);
	ASSERT_TRUE(vs_module_loaded());

	/* A new device with the same name works; the old files stay dead. */
	ASSERT_EQ(0, vs_create(&d2, VS_DEF_PORTS, NULL, 2));
	p1 = vs_port_by_name(&d2, "org.qemu.guest_agent.0");
	ASSERT_NE(NULL, p1);
	ASSERT_EQ(0, vs_connect(p1, 0, 0, &fd, &g));
	ASSERT_EQ(5, vs_write_full(fd, "hello", 5, 10000));
	ASSERT_EQ(5, vs_read_full(g, buf, 5, 10000));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	ASSERT_EQ(3, vs_write_full(g, "bye", 3, 10000));
	ASSERT_EQ(3, vs_read_full(fd, buf, 3, 10000));
	EXPECT_EQ(0, memcmp(buf, "bye", 3));
	EXPECT_EQ(0, vs_read_within(h1, buf, sizeof(buf), 5000));
	EXPECT_EQ(-1, write(h2, "x", 1));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
	close(g);

	/* Old files close fine; then the module can go. */
	EXPECT_EQ(0, close(h1));
	EXPECT_EQ(0, close(h2));
	EXPECT_EQ(0, close(hc));
	close(g1);
	ASSERT_EQ(0, vs_destroy());
	r = syscall(__NR_delete_module, VS_MOD, O_NONBLOCK);
	EXPECT_EQ(0, r) TH_LOG("delete_module: %s", strerror(errno));
	EXPECT_FALSE(vs_module_loaded());
	ASSERT_EQ(0, vs_run("modprobe " VS_MOD));
}

/* Test 9: 200 add/del cycles with virtio_vdpa bound. */
TEST_F_TIMEOUT(vserial, add_del_cycles, 600)
{
	long long refcnt, mem0, mem1;
	uint64_t t0 = vs_ms();
	int i, ret;

	/* One device first, so that caches and ids are warm. */
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	ASSERT_EQ(0, vs_destroy());
	vs_settle();
	refcnt = vs_read_ll("/sys/module/" VS_MOD "/refcnt");
	mem0 = vs_meminfo_kib("MemAvailable");
	ASSERT_NE(LLONG_MIN, refcnt);
	ASSERT_LE(0, mem0);

	for (i = 0; i < 200; i++) {
		ret = vs_dev_add(VS_DEV, NULL);
		ASSERT_EQ(0, ret) TH_LOG("cycle %d: add: %s", i,
					 strerror(-ret));
		/*
		 * Most cycles delete the device while the guest driver is
		 * still setting up its ports; some wait until it is done.
		 */
		if (i % 4 == 3) {
			ASSERT_EQ(0, vs_dev_wait(&self->dev, VS_DEV, 2, 0,
						 30000))
				TH_LOG("cycle %d", i);
		}
		ret = vs_dev_del(VS_DEV);
		ASSERT_EQ(0, ret) TH_LOG("cycle %d: del: %s", i,
					 strerror(-ret));
	}
	vs_settle();
	TH_LOG("200 cycles in %llu ms", (unsigned long long)(vs_ms() - t0));

	EXPECT_FALSE(vs_dev_exists(VS_DEV));
	EXPECT_EQ(0, vs_class_count());
	EXPECT_EQ(refcnt, vs_read_ll("/sys/module/" VS_MOD "/refcnt"));
	EXPECT_EQ(0, vs_hvc_live());
	mem1 = vs_meminfo_kib("MemAvailable");
	ASSERT_LE(0, mem1);
	TH_LOG("MemAvailable %lld -> %lld KiB", mem0, mem1);
	/* Each device costs the guest ~12 MiB: 200 leaked would be GBs. */
	EXPECT_GT(64 * 1024, mem0 - mem1);

	/* Still works. */
	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
}

/* Test 9: deleting with host and guest ends open, a few times. */
TEST_F_TIMEOUT(vserial, add_del_open_cycles, 300)
{
	long long refcnt = vs_read_ll("/sys/module/" VS_MOD "/refcnt");
	int i, j;

	ASSERT_NE(LLONG_MIN, refcnt);
	for (i = 0; i < 5; i++) {
		int hfd[VS_MAX_PORTS], g, hc;
		struct vs_xfer rd, wr;
		struct vs_port *p;
		char c;

		ASSERT_EQ(0, vs_create(&self->dev, "console:,a,b,c", NULL, 4));
		p = vs_port_by_name(&self->dev, "a");
		ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd[0], &g));
		for (j = 1; j < 3; j++) {
			hfd[j] = open(self->dev.port[j + 1].host, O_RDWR);
			ASSERT_LE(0, hfd[j]);
		}
		hc = open(vs_port_by_id(&self->dev, 0)->host,
			  O_RDWR | O_NONBLOCK);
		ASSERT_LE(0, hc);
		vs_xfer_init(&rd, "host read", hfd[0], false, VS_IO_RW, 1, 1,
			     1, true);
		vs_xfer_init(&wr, "host write", hfd[1], true, VS_IO_RW, 1, 1,
			     1, true);
		ASSERT_EQ(0, vs_xfer_start(&rd));
		ASSERT_EQ(0, vs_xfer_start(&wr));
		/* Vary the time between the opens and the removal. */
		vs_sleep_ms(i * 50);

		ASSERT_EQ(0, vs_destroy()) TH_LOG("cycle %d", i);
		ASSERT_EQ(0, vs_xfer_wait(&rd, 1, 10000, 10000));
		ASSERT_EQ(0, vs_xfer_wait(&wr, 1, 10000, 10000));
		EXPECT_TRUE(rd.eof);
		EXPECT_EQ(ENODEV, wr.err);
		for (j = 0; j < 3; j++) {
			EXPECT_EQ(0, vs_read_within(hfd[j], &c, 1, 5000));
			EXPECT_EQ(-1, write(hfd[j], "x", 1));
			EXPECT_EQ(ENODEV, errno);
			EXPECT_TRUE(vs_revents(hfd[j]) & POLLHUP);
			EXPECT_EQ(0, close(hfd[j]));
		}
		EXPECT_EQ(0, read(hc, &c, 1));
		EXPECT_EQ(0, close(hc));
		close(g);
	}
	vs_settle();
	EXPECT_EQ(0, vs_class_count());
	EXPECT_EQ(refcnt, vs_read_ll("/sys/module/" VS_MOD "/refcnt"));
}

/*
 * Console data both ways through port @p (host end @hfd, raw hvc @gfd):
 * @len bytes each way, the host reading while the guest writes.
 */
static void console_both_ways(struct __test_metadata *_metadata,
			      struct vs_port *p, int hfd, int gfd, size_t len,
			      uint64_t seed)
{
	long long dropped = vs_attr(p, "console_dropped");
	struct vs_xfer x[2];

	/* guest -> host, read as it comes: nothing dropped */
	vs_xfer_init(&x[0], "hvc write", gfd, true, VS_IO_RW, seed, len,
		     4096, false);
	vs_xfer_init(&x[1], "console host read", hfd, false, VS_IO_RW, seed,
		     len, 8192, false);
	ASSERT_EQ(0, vs_xfer_start(&x[1]));
	ASSERT_EQ(0, vs_xfer_start(&x[0]));
	ASSERT_EQ(0, vs_xfer_wait(x, 2, 20000, 60000));
	EXPECT_EQ(0, vs_xfer_ok(&x[0]));
	EXPECT_EQ(0, vs_xfer_ok(&x[1]));
	EXPECT_EQ(dropped, vs_attr(p, "console_dropped"));

	/* host -> guest */
	vs_xfer_init(&x[0], "console host write", hfd, true, VS_IO_RW,
		     seed + 1, len, 8192, false);
	vs_xfer_init(&x[1], "hvc read", gfd, false, VS_IO_RW, seed + 1, len,
		     4096, false);
	ASSERT_EQ(0, vs_xfer_start(&x[1]));
	ASSERT_EQ(0, vs_xfer_start(&x[0]));
	ASSERT_EQ(0, vs_xfer_wait(x, 2, 20000, 60000));
	EXPECT_EQ(0, vs_xfer_ok(&x[0]));
	EXPECT_EQ(0, vs_xfer_ok(&x[1]));
}

/* Test 10: without MULTIPORT there is one console port, and it works. */
TEST_F_TIMEOUT(vserial, single_port, 300)
{
	static const uint64_t masks[] = {
		VS_F_ALL & ~VS_F_MULTIPORT,
		VS_F_ALL & ~(VS_F_MULTIPORT | VS_F_EVENT_IDX),
		VS_F_ALL & ~(VS_F_MULTIPORT | VS_F_INDIRECT),
		VS_F_VERSION_1 | VS_F_ACCESS_PLATFORM,
	};
	unsigned int m;

	ASSERT_EQ(0x330000005ULL, masks[0]);
	/* The ports list does not matter: only port 0 exists. */
	ASSERT_EQ(0, vs_param_set("ports", "a,console:c,b"));
	for (m = 0; m < ARRAY_SIZE(masks); m++) {
		struct vs_port *p;
		char path[PATH_MAX];
		int hfd, gfd;

		TH_LOG("device_features 0x%llx", (unsigned long long)masks[m]);
		ASSERT_EQ(0, vs_create(&self->dev, NULL, &masks[m], 1));
		p = &self->dev.port[0];
		EXPECT_EQ(0, p->id);
		EXPECT_TRUE(p->console);
		EXPECT_EQ(1, vs_attr(p, "console"));
		snprintf(path, sizeof(path), "/dev/vport%dp1",
			 self->dev.virtio);
		EXPECT_FALSE(vs_exists(path));
		ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));
		console_both_ways(_metadata, p, hfd, gfd, 48 * 1024, m * 2);
		close(hfd);
		close(gfd);
		ASSERT_EQ(0, vs_destroy());
	}
}

/* Test 11: the console port of a multiport device. */
TEST_F_TIMEOUT(vserial, console, 240)
{
	const size_t over = VS_CONSOLE_BUF + 36 * 1024;
	struct vs_port *p;
	int hfd, gfd;
	char *buf;
	ssize_t n;

	ASSERT_EQ(0, vs_create(&self->dev, NULL, NULL, 2));
	p = vs_port_by_id(&self->dev, 0);
	ASSERT_NE(NULL, p);
	ASSERT_TRUE(p->console);
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));
	console_both_ways(_metadata, p, hfd, gfd, 60 * 1024, 77);

	/* Output the host does not read: 64 KiB kept, the rest counted. */
	buf = malloc(over);
	ASSERT_NE(NULL, buf);
	vs_pattern(99, 0, buf, over);
	ASSERT_EQ((ssize_t)over, vs_write_full(gfd, buf, over, 30000));
	ASSERT_EQ(0, tcdrain(gfd));
	EXPECT_EQ(0, vs_wait_attr(p, "console_dropped", "36864", 10000));
	ASSERT_EQ(0, fcntl(hfd, F_SETFL, O_NONBLOCK));
	memset(buf, 0, over);
	n = vs_read_full(hfd, buf, over, 3000);
	EXPECT_EQ(VS_CONSOLE_BUF, n);
	EXPECT_EQ(-1, vs_pattern_check(99, 0, buf, n > 0 ? n : 0));
	free(buf);

	/* And the console still works afterwards. */
	ASSERT_EQ(0, fcntl(hfd, F_SETFL, 0));
	console_both_ways(_metadata, p, hfd, gfd, 8 * 1024, 55);
	EXPECT_EQ(36864, vs_attr(p, "console_dropped"));
}

TEST_HARNESS_MAIN
