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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>

#include "kselftest_harness.h"

#define VS_MOD			"vdpa_vserial"
#define VS_MGMTDEV		"vserial"
#define VS_DEV			"vs0"
#define VS_DEV2			"vs1"
#define VS_PARAMS		"/sys/module/" VS_MOD "/parameters/"
#define VS_DEF_PORTS		"console:,org.qemu.guest_agent.0"
#define VS_DEF_MAX_PORTS	"31"
#define VS_CLASS		"/sys/class/vserial"
#define VS_VDPA_BUS		"/sys/bus/vdpa/devices"

/* Feature bits of the device (virtio console and transport). */
#define VS_F_SIZE		(1ULL << 0)
#define VS_F_MULTIPORT		(1ULL << 1)
#define VS_F_EMERG_WRITE	(1ULL << 2)
#define VS_F_INDIRECT		(1ULL << 28)
#define VS_F_EVENT_IDX		(1ULL << 29)
#define VS_F_VERSION_1		(1ULL << 32)
#define VS_F_ACCESS_PLATFORM	(1ULL << 33)
#define VS_F_RING_PACKED	(1ULL << 34)
#define VS_F_ALL		(VS_F_VERSION_1 | VS_F_ACCESS_PLATFORM | \
				 VS_F_EVENT_IDX | VS_F_INDIRECT | VS_F_SIZE | \
				 VS_F_MULTIPORT | VS_F_EMERG_WRITE)

/*
 * The Linux guest driver fills a port's receive queue with one page per
 * entry, and its transmit queue holds one buffer per entry; queues have
 * at most 1024 entries (the device's get_vq_num_max).
 */
#define VS_VQ_MAX		1024
#define VS_GUEST_RX_BYTES	(VS_VQ_MAX * 4096)
#define VS_GUEST_TX_BUFS	VS_VQ_MAX
/* Console output buffered per console port (uapi VSERIAL_CONSOLE_BUF_SIZE). */
#define VS_CONSOLE_BUF		65536

#define VS_MAX_PORTS		32
#define VS_HVC_MAX		8
#define MiB			(1024 * 1024)

/*
 * Helpers below never use the harness' ASSERT macros (some run in
 * threads): they return an error and say why on stderr.
 */
#define vs_log(fmt, ...) \
	fprintf(stderr, "# " fmt "\n", ##__VA_ARGS__)

/* ---- time, files, commands ---- */

static inline uint64_t vs_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static inline void vs_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Read a small file without its trailing newline; length or -errno. */
static int vs_read_str(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return n;
}

/* Integer value of a sysfs file, or LLONG_MIN. */
static long long vs_read_ll(const char *path)
{
	char buf[64], *end;
	long long v;

	if (vs_read_str(path, buf, sizeof(buf)) <= 0)
		return LLONG_MIN;
	v = strtoll(buf, &end, 0);
	return *end ? LLONG_MIN : v;
}

/* Write a string in one write(2); 0 or -errno. */
static int vs_write_str(const char *path, const char *s)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

static bool vs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Run a shell command; its exit status, or -1. */
static int __attribute__((format(printf, 1, 2)))
vs_run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fflush(stderr);
	status = system(cmd);
	if (status == -1 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void vs_settle(void)
{
	vs_run("udevadm settle --timeout=60 >/dev/null 2>&1");
}

/* Wait until the file at @path reads @want; 0, or -1 after @timeout_ms. */
static int vs_wait_str(const char *path, const char *want, int timeout_ms)
{
	uint64_t end = vs_ms() + timeout_ms;
	char buf[300];

	for (;;) {
		if (vs_read_str(path, buf, sizeof(buf)) >= 0 &&
		    !strcmp(buf, want))
			return 0;
		if (vs_ms() > end) {
			vs_log("%s reads \"%s\", not \"%s\" after %d ms", path,
			       buf, want, timeout_ms);
			return -1;
		}
		vs_sleep_ms(10);
	}
}

static int vs_wait_exists(const char *path, bool exists, int timeout_ms)
{
	uint64_t end = vs_ms() + timeout_ms;

	while (vs_exists(path) != exists) {
		if (vs_ms() > end) {
			vs_log("%s %s after %d ms", path,
			       exists ? "missing" : "still there", timeout_ms);
			return -1;
		}
		vs_sleep_ms(10);
	}
	return 0;
}

/* ---- vDPA devices over generic netlink ("vdpa dev add/del") ---- */

struct vs_nlmsg {
	struct nlmsghdr n;
	struct genlmsghdr g;
	char buf[512];
};

static void vs_nla_put(struct vs_nlmsg *m, int type, const void *data,
		       int len)
{
	struct nlattr *a = (void *)((char *)m + NLMSG_ALIGN(m->n.nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	m->n.nlmsg_len = NLMSG_ALIGN(m->n.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* CTRL_ATTR_FAMILY_ID of a generic netlink controller answer. */
static void vs_nl_family_id(struct nlmsghdr *h, int *family)
{
	struct nlattr *a = (void *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);
	int len = h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;

	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN) {
		if (a->nla_type == CTRL_ATTR_FAMILY_ID)
			*family = *(uint16_t *)((char *)a + NLA_HDRLEN);
		len -= NLA_ALIGN(a->nla_len);
		a = (void *)((char *)a + NLA_ALIGN(a->nla_len));
	}
}

/*
 * Send @m and wait for the answer.  For a family lookup, *@family gets
 * the id.  Returns 0 or -errno.
 */
static int vs_nl_talk(struct vs_nlmsg *m, int *family)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 60 };
	char rbuf[8192];
	struct nlmsghdr *h;
	int fd, ret = -EPROTO;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	m->n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	m->n.nlmsg_seq = 1;
	if (sendto(fd, m, m->n.nlmsg_len, 0, (void *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		n = recv(fd, rbuf, sizeof(rbuf), 0);
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		for (h = (void *)rbuf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				ret = e->error;
				goto out;
			}
			if (family && h->nlmsg_type == GENL_ID_CTRL)
				vs_nl_family_id(h, family);
		}
	}
out:
	close(fd);
	return ret;
}

static void vs_nl_init(struct vs_nlmsg *m, int type, int cmd, int version)
{
	memset(m, 0, sizeof(*m));
	m->n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	m->n.nlmsg_type = type;
	m->g.cmd = cmd;
	m->g.version = version;
}

static int vs_vdpa_family(void)
{
	static int family;
	struct vs_nlmsg m;
	int ret;

	if (family)
		return family;
	vs_nl_init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	vs_nla_put(&m, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME,
		   sizeof(VDPA_GENL_NAME));
	ret = vs_nl_talk(&m, &family);
	if (ret || !family) {
		vs_log("no \"vdpa\" generic netlink family: %s",
		       strerror(ret ? -ret : ENOENT));
		return ret ?: -ENOENT;
	}
	return family;
}

/* "vdpa dev add name @name mgmtdev vserial [device_features *@features]" */
static int vs_dev_add(const char *name, const uint64_t *features)
{
	int family = vs_vdpa_family();
	struct vs_nlmsg m;

	if (family < 0)
		return family;
	vs_nl_init(&m, family, VDPA_CMD_DEV_NEW, VDPA_GENL_VERSION);
	vs_nla_put(&m, VDPA_ATTR_MGMTDEV_DEV_NAME, VS_MGMTDEV,
		   sizeof(VS_MGMTDEV));
	vs_nla_put(&m, VDPA_ATTR_DEV_NAME, name, strlen(name) + 1);
	if (features)
		vs_nla_put(&m, VDPA_ATTR_DEV_FEATURES, features,
			   sizeof(*features));
	return vs_nl_talk(&m, NULL);
}

/* "vdpa dev del @name" */
static int vs_dev_del(const char *name)
{
	int family = vs_vdpa_family();
	struct vs_nlmsg m;

	if (family < 0)
		return family;
	vs_nl_init(&m, family, VDPA_CMD_DEV_DEL, VDPA_GENL_VERSION);
	vs_nla_put(&m, VDPA_ATTR_DEV_NAME, name, strlen(name) + 1);
	return vs_nl_talk(&m, NULL);
}

static bool vs_dev_exists(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), VS_VDPA_BUS "/%s", name);
	return vs_exists(path);
}

static int vs_param_set(const char *param, const char *value)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), VS_PARAMS "%s", param);
	ret = vs_write_str(path, value);
	if (ret)
		vs_log("writing \"%s\" to %s: %s", value, path,
		       strerror(-ret));
	return ret;
}

/* ---- the two ends of the ports ---- */

struct vs_port {
	unsigned int id;
	bool console;
	char name[256];
	char sys[320];		/* /sys/class/vserial/vserialN */
	char host[272];		/* /dev/vserialN */
	char guest[64];		/* /dev/vportXpID, or /dev/hvcK */
};

struct vs_dev {
	char name[32];
	int virtio;		/* the guest's virtio device: virtioX */
	int nports;
	struct vs_port port[VS_MAX_PORTS];
};

static int vs_port_cmp(const void *a, const void *b)
{
	const struct vs_port *pa = a, *pb = b;

	return (int)pa->id - (int)pb->id;
}

static long long vs_attr(const struct vs_port *p, const char *attr)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", p->sys, attr);
	return vs_read_ll(path);
}

static int vs_wait_attr(const struct vs_port *p, const char *attr,
			const char *want, int timeout_ms)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", p->sys, attr);
	return vs_wait_str(path, want, timeout_ms);
}

/* Host ends of device @name, sorted by port id; their number. */
static int vs_dev_scan(struct vs_dev *d, const char *name)
{
	char path[400], buf[300];
	struct dirent *de;
	DIR *dir;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->virtio = -1;
	dir = opendir(VS_CLASS);
	if (!dir)
		return 0;
	while ((de = readdir(dir)) && d->nports < VS_MAX_PORTS) {
		struct vs_port *p = &d->port[d->nports];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p->sys, sizeof(p->sys), VS_CLASS "/%s", de->d_name);
		snprintf(path, sizeof(path), "%s/vdpa_device", p->sys);
		if (vs_read_str(path, buf, sizeof(buf)) < 0 ||
		    strcmp(buf, name))
			continue;
		snprintf(path, sizeof(path), "%s/name", p->sys);
		vs_read_str(path, p->name, sizeof(p->name));
		p->id = vs_attr(p, "port_id");
		p->console = vs_attr(p, "console") == 1;
		snprintf(p->host, sizeof(p->host), "/dev/%s", de->d_name);
		d->nports++;
	}
	closedir(dir);
	qsort(d->port, d->nports, sizeof(d->port[0]), vs_port_cmp);
	return d->nports;
}

/* Number of /sys/class/vserial entries (all devices). */
static int vs_class_count(void)
{
	struct dirent *de;
	int n = 0;
	DIR *dir;

	dir = opendir(VS_CLASS);
	if (!dir)
		return 0;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* Index of the virtio device virtio_vdpa made of @name, or -1. */
static int vs_dev_virtio(const char *name)
{
	char path[PATH_MAX];
	struct dirent *de;
	int idx = -1;
	DIR *dir;

	snprintf(path, sizeof(path), VS_VDPA_BUS "/%s", name);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir)))
		if (sscanf(de->d_name, "virtio%d", &idx) == 1)
			break;
	closedir(dir);
	return idx;
}

/* Bit K set: /dev/hvcK is backed by a live console (it opens). */
static unsigned int vs_hvc_live(void)
{
	unsigned int mask = 0;
	char path[32];
	int i, fd;

	for (i = 0; i < VS_HVC_MAX; i++) {
		snprintf(path, sizeof(path), "/dev/hvc%d", i);
		fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			mask |= 1U << i;
			close(fd);
		}
	}
	return mask;
}

static struct vs_port *vs_port_by_name(struct vs_dev *d, const char *name)
{
	int i;

	for (i = 0; i < d->nports; i++)
		if (!strcmp(d->port[i].name, name))
			return &d->port[i];
	return NULL;
}

static struct vs_port *vs_port_by_id(struct vs_dev *d, unsigned int id)
{
	int i;

	for (i = 0; i < d->nports; i++)
		if (d->port[i].id == id)
			return &d->port[i];
	return NULL;
}

/*
 * Wait until device @name has @nports host ends and the guest driver has
 * set up every port: data ports have their /dev/vportXpID (and, if
 * named, their name and udev link), console ports are connected and
 * port 0's console is a new /dev/hvcK (not in @hvc_before).
 */
static int vs_dev_wait(struct vs_dev *d, const char *name, int nports,
		       unsigned int hvc_before, int timeout_ms)
{
	uint64_t end = vs_ms() + timeout_ms;
	char path[PATH_MAX + 300];
	struct stat st;
	int i, n;

	for (;;) {
		n = vs_dev_scan(d, name);
		for (i = 0; i < n; i++)
			if (stat(d->port[i].host, &st) || !S_ISCHR(st.st_mode))
				break;
		if (n == nports && i == n)
			break;
		if (vs_ms() > end) {
			vs_log("%s: %d host ends (%d with a node), want %d",
			       name, n, i, nports);
			return -1;
		}
		vs_sleep_ms(10);
	}
	while ((d->virtio = vs_dev_virtio(name)) < 0) {
		if (vs_ms() > end) {
			vs_log("%s: no virtio device bound", name);
			return -1;
		}
		vs_sleep_ms(10);
	}

	for (i = 0; i < d->nports; i++) {
		struct vs_port *p = &d->port[i];
		int left = end - vs_ms();

		if (left < 1)
			left = 1;
		if (p->console) {
			if (vs_wait_attr(p, "guest_connected", "1", left))
				return -1;
			continue;
		}
		snprintf(p->guest, sizeof(p->guest), "/dev/vport%dp%u",
			 d->virtio, p->id);
		if (vs_wait_exists(p->guest, true, left))
			return -1;
		if (!p->name[0])
			continue;
		snprintf(path, sizeof(path),
			 "/sys/class/virtio-ports/vport%dp%u/name", d->virtio,
			 p->id);
		if (vs_wait_str(path, p->name, left))
			return -1;
		snprintf(path, sizeof(path), "/dev/virtio-ports/%s", p->name);
		if (vs_wait_exists(path, true, left))
			return -1;
	}

	if (vs_port_by_id(d, 0) && vs_port_by_id(d, 0)->console) {
		struct vs_port *p = vs_port_by_id(d, 0);
		unsigned int mask;

		while (!(mask = vs_hvc_live() & ~hvc_before)) {
			if (vs_ms() > end) {
				vs_log("%s: console port 0 got no hvc", name);
				return -1;
			}
			vs_sleep_ms(20);
		}
		snprintf(p->guest, sizeof(p->guest), "/dev/hvc%d",
			 __builtin_ctz(mask));
	}
	return 0;
}

/*
 * Set the "ports" parameter (unless NULL), add device VS_DEV (features
 * unless NULL) and wait for its @nports ports on both sides.
 */
static int vs_create(struct vs_dev *d, const char *ports,
		     const uint64_t *features, int nports)
{
	unsigned int hvc = vs_hvc_live();
	int ret;

	if (ports && vs_param_set("ports", ports))
		return -1;
	ret = vs_dev_add(VS_DEV, features);
	if (ret) {
		vs_log("vdpa dev add %s: %s", VS_DEV, strerror(-ret));
		return -1;
	}
	vs_settle();
	return vs_dev_wait(d, VS_DEV, nports, hvc, 60000);
}

static int vs_destroy(void)
{
	int ret = vs_dev_del(VS_DEV);

	if (ret)
		vs_log("vdpa dev del %s: %s", VS_DEV, strerror(-ret));
	return ret;
}

/* Close every file of this process that is an end of some port. */
static void vs_close_port_fds(void)
{
	char path[64], target[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	ssize_t n;
	int fd;

	dir = opendir("/proc/self/fd");
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		fd = atoi(de->d_name);
		if (fd <= 2 || fd == dirfd(dir))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (!strncmp(target, "/dev/vserial", 12) ||
		    !strncmp(target, "/dev/vport", 10) ||
		    !strncmp(target, "/dev/hvc", 8))
			close(fd);
	}
	closedir(dir);
}

static bool vs_module_loaded(void)
{
	return vs_exists("/sys/module/" VS_MOD "/parameters");
}

/*
 * Back to a known state: module and virtio_vdpa loaded, no device,
 * default parameters.  Used before and after every test (a test killed
 * by its timeout leaves its device behind).
 */
static int vs_env_reset(void)
{
	int ret = 0;

	vs_close_port_fds();
	if (!vs_module_loaded() && vs_run("modprobe " VS_MOD)) {
		vs_log("modprobe %s failed", VS_MOD);
		return -1;
	}
	if (vs_run("modprobe virtio_vdpa")) {
		vs_log("modprobe virtio_vdpa failed");
		return -1;
	}
	/*
	 * These tests are about the Linux driver: new devices must go to
	 * virtio_vdpa, not to vhost_vdpa (another test program may have
	 * loaded it).
	 */
	if (vs_exists("/sys/module/vhost_vdpa") &&
	    vs_run("modprobe -r vhost_vdpa")) {
		vs_log("cannot unload vhost_vdpa");
		return -1;
	}
	if (vs_dev_exists(VS_DEV) && vs_dev_del(VS_DEV))
		ret = -1;
	if (vs_dev_exists(VS_DEV2) && vs_dev_del(VS_DEV2))
		ret = -1;
	if (vs_param_set("max_ports", VS_DEF_MAX_PORTS) ||
	    vs_param_set("ports", VS_DEF_PORTS))
		ret = -1;
	return ret;
}

/* ---- waiting on file descriptors ---- */

/*
 * Poll @fd until its events include all of @set and none of @clear;
 * returns the last revents, or -1 if that did not happen in @timeout_ms
 * (after saying what was seen).
 */
static int vs_wait_poll(int fd, short set, short clear, int timeout_ms)
{
	uint64_t end = vs_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = set | POLLIN | POLLOUT };
	int r;

	for (;;) {
		pfd.revents = 0;
		r = poll(&pfd, 1, 20);
		if (r < 0 && errno != EINTR)
			return -1;
		if ((pfd.revents & set) == set && !(pfd.revents & clear))
			return pfd.revents;
		if (vs_ms() > end) {
			vs_log("poll: revents 0x%x, want 0x%x set 0x%x clear",
			       pfd.revents, set, clear);
			return -1;
		}
		/* A level that does not change returns at once: pace it. */
		if (r > 0)
			vs_sleep_ms(10);
	}
}

/* Current poll events of @fd, without waiting. */
static short vs_revents(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };

	if (poll(&pfd, 1, 0) < 0)
		return -1;
	return pfd.revents;
}

/*
 * Read up to @len bytes within @timeout_ms, waiting with poll; stops at
 * end of file.  Returns the bytes read, or -1 on an error.
 */
static ssize_t vs_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint64_t end = vs_ms() + timeout_ms;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = end - vs_ms();

		if (left <= 0)
			break;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = read(fd, (char *)buf + done, len - done);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		done += n;
	}
	return done;
}

/* Write @len bytes within @timeout_ms; returns the bytes written or -1. */
static ssize_t vs_write_full(int fd, const void *buf, size_t len,
			     int timeout_ms)
{
	uint64_t end = vs_ms() + timeout_ms;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int left = end - vs_ms();

		if (left <= 0)
			break;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		done += n;
	}
	return done;
}

static int vs_tty_raw(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &t))
		return -1;
	cfmakeraw(&t);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t))
		return -1;
	return tcflush(fd, TCIOFLUSH);
}

/* ---- pseudo-random data: byte @off of stream @seed ---- */

static inline uint64_t vs_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void vs_pattern(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		uint64_t v = vs_mix(seed ^ vs_mix(off / 8));
		unsigned int i = off % 8;

		if (!i && len >= 8) {
			memcpy(p, &v, 8);	/* little endian */
			p += 8;
			off += 8;
			len -= 8;
			continue;
		}
		for (; i < 8 && len; i++, len--, off++)
			*p++ = v >> (8 * i);
	}
}

/* Offset of the first byte of @buf that is not stream @seed at @off, or -1. */
static int64_t vs_pattern_check(uint64_t seed, uint64_t off, const void *buf,
				size_t len)
{
	unsigned char want[4096];
	const unsigned char *p = buf;
	size_t n, i;

	while (len) {
		n = len < sizeof(want) ? len : sizeof(want);
		vs_pattern(seed, off, want, n);
		if (memcmp(want, p, n)) {
			for (i = 0; want[i] == p[i]; i++)
				;
			return off + i;
		}
		p += n;
		off += n;
		len -= n;
	}
	return -1;
}

/* ---- transfer threads ---- */

enum vs_io {
	VS_IO_RW,	/* read(2) / write(2) */
	VS_IO_VEC,	/* readv(2) / writev(2) with three segments */
	VS_IO_SPLICE,	/* writer: write(2) to a pipe, splice(2) to @fd */
};

struct vs_xfer {
	/* Set by the caller. */
	const char *what;
	int fd;
	bool writer;
	enum vs_io io;
	uint64_t seed;
	uint64_t total;
	size_t chunk;		/* largest read or write */
	bool fixed;		/* always @chunk bytes, else 1..@chunk */

	/* Results. */
	uint64_t done;		/* bytes so far (atomic) */
	int finished;		/* atomic */
	int err;		/* errno of a failed call, or 0 */
	bool eof;		/* reader: end of file before @total */
	int64_t bad;		/* reader: offset of the first wrong byte */
	ssize_t last;		/* result of the last call */
	pthread_t thread;
	bool started;
};

static size_t vs_xfer_len(struct vs_xfer *x, uint64_t *rnd)
{
	uint64_t left = x->total - x->done;
	size_t n = x->chunk;

	if (!x->fixed) {
		*rnd = vs_mix(*rnd);
		/* Mostly large, sometimes tiny. */
		n = (*rnd & 7) ? 1 + (*rnd >> 8) % x->chunk :
				 1 + (*rnd >> 8) % 64;
	}
	return n < left ? n : left;
}

static ssize_t vs_xfer_vec(struct vs_xfer *x, char *buf, size_t n)
{
	struct iovec iov[3];
	size_t a = n / 3, b = n / 2;

	iov[0].iov_base = buf;
	iov[0].iov_len = a;
	iov[1].iov_base = buf + a;
	iov[1].iov_len = b - a;
	iov[2].iov_base = buf + b;
	iov[2].iov_len = n - b;
	return x->writer ? writev(x->fd, iov, 3) : readv(x->fd, iov, 3);
}

/*
 * splice(2) to a vport returning 0 with data left in the pipe means
 * "retry".  With an empty pipe, the guest driver took the pages and
 * dropped them: virtio_console's splice_write frees its buffer when the
 * ring lacks descriptors for the chain (-ENOSPC, possible without
 * INDIRECT when chains differ in length).  That is a guest driver bug,
 * reported as EPIPE.
 */
static bool vs_pipe_empty(int fd)
{
	int n = 0;

	return !ioctl(fd, FIONREAD, &n) && !n;
}

/*
 * Write @n bytes of @buf to the pipe, then splice them all to @x->fd,
 * counting progress as it goes.  Returns @n, or -1 with errno set.
 */
static ssize_t vs_xfer_splice(struct vs_xfer *x, int pipefd[2],
			      const char *buf, size_t n)
{
	size_t left = n;
	ssize_t r;

	r = write(pipefd[1], buf, n);
	if (r < 0)
		return -1;
	if (r != (ssize_t)n) {
		errno = EIO;	/* the pipe is empty and big enough */
		return -1;
	}
	while (left) {
		r = splice(pipefd[0], NULL, x->fd, NULL, left, 0);
		if (r < 0)
			return -1;
		if (!r) {
			if (vs_pipe_empty(pipefd[0])) {
				errno = EPIPE;	/* see vs_pipe_empty() */
				return -1;
			}
			vs_sleep_ms(1);
			continue;
		}
		left -= r;
		__atomic_add_fetch(&x->done, r, __ATOMIC_RELAXED);
	}
	return n;
}

static void *vs_xfer_thread(void *arg)
{
	struct vs_xfer *x = arg;
	uint64_t rnd = x->seed ^ 0x5eed;
	int pipefd[2] = { -1, -1 };
	char *buf;
	ssize_t r;

	buf = malloc(x->chunk);
	if (!buf) {
		x->err = ENOMEM;
		goto out;
	}
	if (x->io == VS_IO_SPLICE && pipe(pipefd)) {
		x->err = errno;
		goto out;
	}
	if (x->io == VS_IO_SPLICE)
		fcntl(pipefd[1], F_SETPIPE_SZ, (int)(x->chunk < 65536 ?
						     65536 : x->chunk));

	while (__atomic_load_n(&x->done, __ATOMIC_RELAXED) < x->total) {
		size_t n = vs_xfer_len(x, &rnd);

		if (x->writer) {
			vs_pattern(x->seed, x->done, buf, n);
			if (x->io == VS_IO_SPLICE) {
				r = vs_xfer_splice(x, pipefd, buf, n);
			} else if (x->io == VS_IO_VEC && n >= 3) {
				r = vs_xfer_vec(x, buf, n);
			} else {
				r = write(x->fd, buf, n);
			}
		} else {
			if (x->io == VS_IO_VEC && n >= 3)
				r = vs_xfer_vec(x, buf, n);
			else
				r = read(x->fd, buf, n);
		}
		x->last = r;
		if (r < 0) {
			x->err = errno;
			break;
		}
		if (r == 0) {
			if (x->writer)
				x->err = EIO;	/* write(2) returned 0 */
			else
				x->eof = true;
			break;
		}
		if (!x->writer) {
			x->bad = vs_pattern_check(x->seed, x->done, buf, r);
			if (x->bad >= 0)
				break;
		}
		if (x->io != VS_IO_SPLICE || !x->writer)
			__atomic_add_fetch(&x->done, r, __ATOMIC_RELAXED);
	}
out:
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
		close(pipefd[1]);
	}
	free(buf);
	__atomic_store_n(&x->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void vs_xfer_init(struct vs_xfer *x, const char *what, int fd,
			 bool writer, enum vs_io io, uint64_t seed,
			 uint64_t total, size_t chunk, bool fixed)
{
	memset(x, 0, sizeof(*x));
	x->what = what;
	x->fd = fd;
	x->writer = writer;
	x->io = io;
	x->seed = seed;
	x->total = total;
	x->chunk = chunk;
	x->fixed = fixed;
	x->bad = -1;
}

static int vs_xfer_start(struct vs_xfer *x)
{
	int ret = pthread_create(&x->thread, NULL, vs_xfer_thread, x);

	if (ret) {
		vs_log("pthread_create: %s", strerror(ret));
		return -1;
	}
	x->started = true;
	return 0;
}

static uint64_t vs_xfer_done(struct vs_xfer *x)
{
	return __atomic_load_n(&x->done, __ATOMIC_RELAXED);
}

static bool vs_xfer_finished(struct vs_xfer *x)
{
	return __atomic_load_n(&x->finished, __ATOMIC_ACQUIRE);
}

static void vs_xfer_report(struct vs_xfer *x)
{
	vs_log("%s: %s %llu of %llu bytes%s%s%s, last call %zd%s%s", x->what,
	       x->writer ? "wrote" : "read",
	       (unsigned long long)vs_xfer_done(x),
	       (unsigned long long)x->total,
	       vs_xfer_finished(x) ? ", ended" : ", still running",
	       x->err ? ", error: " : "", x->err ? strerror(x->err) : "",
	       x->last, x->eof ? ", early end of file" : "",
	       x->bad >= 0 ? ", WRONG DATA" : "");
	if (x->bad >= 0)
		vs_log("%s: first wrong byte at offset %lld", x->what,
		       (long long)x->bad);
}

/* Print every line of a small file, prefixed. */
static void vs_dump_file(const char *path, const char *prefix)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		vs_log("%s%s", prefix, line);
	}
	fclose(f);
}

/*
 * After a stall: where our threads sleep in the kernel, and what the
 * guest driver thinks of its ports (debugfs).
 */
static void vs_dump_state(void)
{
	char path[PATH_MAX], prefix[300];
	struct dirent *de;
	DIR *dir;

	dir = opendir("/proc/self/task");
	while (dir && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stack",
			 de->d_name);
		snprintf(prefix, sizeof(prefix), "task %s: ", de->d_name);
		vs_dump_file(path, prefix);
	}
	if (dir)
		closedir(dir);
	dir = opendir("/sys/kernel/debug/virtio-ports");
	while (dir && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path),
			 "/sys/kernel/debug/virtio-ports/%s", de->d_name);
		snprintf(prefix, sizeof(prefix), "%s: ", de->d_name);
		vs_dump_file(path, prefix);
	}
	if (dir)
		closedir(dir);
}

/*
 * Wait for transfers @x[0..@n-1] to end.  Gives up when none has made
 * progress for @stall_ms, or after @max_ms.  Returns 0 if all ended.
 */
static int vs_xfer_wait(struct vs_xfer *x, int n, int stall_ms, int max_ms)
{
	uint64_t start = vs_ms(), moved = start, sum, last = ~0ULL;
	int i, running;

	for (;;) {
		running = 0;
		sum = 0;
		for (i = 0; i < n; i++) {
			sum += vs_xfer_done(&x[i]);
			running += !vs_xfer_finished(&x[i]);
		}
		if (!running)
			break;
		if (sum != last) {
			last = sum;
			moved = vs_ms();
		}
		if (vs_ms() - moved > (uint64_t)stall_ms ||
		    vs_ms() - start > (uint64_t)max_ms) {
			vs_log("transfers %s after %llu ms:",
			       vs_ms() - moved > (uint64_t)stall_ms ?
			       "STALLED" : "too slow",
			       (unsigned long long)(vs_ms() - start));
			for (i = 0; i < n; i++)
				vs_xfer_report(&x[i]);
			vs_dump_state();
			return -1;
		}
		vs_sleep_ms(20);
	}
	for (i = 0; i < n; i++)
		if (x[i].started) {
			pthread_join(x[i].thread, NULL);
			x[i].started = false;
		}
	return 0;
}

/* An ended transfer moved all its bytes, correctly: 0, else -1. */
static int vs_xfer_ok(struct vs_xfer *x)
{
	if (vs_xfer_finished(x) && !x->err && !x->eof && x->bad < 0 &&
	    vs_xfer_done(x) == x->total)
		return 0;
	vs_xfer_report(x);
	return -1;
}

/*
 * Wait until @x has made no progress for @quiet_ms (at most @max_ms).
 * Returns true if it is then still running, i.e. blocked.
 */
static bool vs_xfer_blocked(struct vs_xfer *x, int quiet_ms, int max_ms)
{
	uint64_t start = vs_ms(), moved = start, last = vs_xfer_done(x);

	while (!vs_xfer_finished(x) && vs_ms() - start < (uint64_t)max_ms) {
		if (vs_xfer_done(x) != last) {
			last = vs_xfer_done(x);
			moved = vs_ms();
		} else if (vs_ms() - moved >= (uint64_t)quiet_ms) {
			return true;
		}
		vs_sleep_ms(10);
	}
	return false;
}

/* ---- one read(2) or write(2) in a thread ---- */

struct vs_call {
	int fd;
	bool write;
	void *buf;
	size_t len;
	ssize_t ret;
	int err;
	int finished;	/* atomic */
	pthread_t thread;
};

static void *vs_call_thread(void *arg)
{
	struct vs_call *c = arg;

	c->ret = c->write ? write(c->fd, c->buf, c->len) :
			    read(c->fd, c->buf, c->len);
	c->err = c->ret < 0 ? errno : 0;
	__atomic_store_n(&c->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int vs_call_start(struct vs_call *c, int fd, bool write,
			 const void *buf, size_t len)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->write = write;
	c->buf = (void *)buf;	/* only read from when @write */
	c->len = len;
	ret = pthread_create(&c->thread, NULL, vs_call_thread, c);
	if (ret)
		vs_log("pthread_create: %s", strerror(ret));
	return ret ? -1 : 0;
}

static bool vs_call_finished(struct vs_call *c)
{
	return __atomic_load_n(&c->finished, __ATOMIC_ACQUIRE);
}

/* Wait up to @max_ms for @c's call to return; true, joined, if it did. */
static bool vs_call_wait(struct vs_call *c, int max_ms)
{
	uint64_t start = vs_ms();

	while (!vs_call_finished(c) && vs_ms() - start < (uint64_t)max_ms)
		vs_sleep_ms(10);
	if (!vs_call_finished(c))
		return false;
	pthread_join(c->thread, NULL);
	return true;
}

/*
 * read(2) that must return soon: its result (errno set), or -2 if it is
 * still blocked after @ms (the thread is then left behind, blocked).
 */
static ssize_t vs_read_within(int fd, void *buf, size_t len, int ms)
{
	/* Never freed if the call stays blocked: it may still write here. */
	void *tmp = malloc(len);
	struct vs_call *c = malloc(sizeof(*c));
	ssize_t ret;

	if (!tmp || !c || vs_call_start(c, fd, false, tmp, len)) {
		free(tmp);
		free(c);
		return -1;
	}
	if (!vs_call_wait(c, ms)) {
		vs_log("read(%d) still blocked after %d ms", fd, ms);
		return -2;
	}
	ret = c->ret;
	if (ret > 0)
		memcpy(buf, tmp, ret);
	errno = c->err;
	free(tmp);
	free(c);
	return ret;
}

/*
 * Send @sig to @c's thread every @period_ms until its call returns, at
 * most for @max_ms (the first signal may come before the call blocks).
 * Returns true, with the thread joined, if the call returned.
 */
static bool vs_call_interrupt(struct vs_call *c, int sig, int period_ms,
			      int max_ms)
{
	uint64_t start = vs_ms();

	while (!vs_call_finished(c) && vs_ms() - start < (uint64_t)max_ms) {
		pthread_kill(c->thread, sig);
		vs_sleep_ms(period_ms);
	}
	if (!vs_call_finished(c))
		return false;
	pthread_join(c->thread, NULL);
	return true;
}

/* ---- kernel log ---- */

static const char *const vs_bad_kmsg[] = {
	"Oops", "BUG:", "kernel BUG at", "WARNING:", "circular locking",
	"inconsistent lock state", "recursive locking", "detected stall",
	"blocked for more than", "soft lockup", "hard LOCKUP",
	"general protection fault", "Kernel panic", "UBSAN:", "KASAN:",
	"KFENCE:", "unreferenced object", "refcount_t:", "list_add corruption",
	"list_del corruption", "Unable to handle kernel", "stack overflow",
	"Call Trace",
};

/* /dev/kmsg, positioned after the messages already logged. */
static int vs_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Print and count the kernel's bad news since vs_kmsg_open(). */
static int vs_kmsg_bad(int fd)
{
	char rec[8192];
	unsigned int i;
	int bad = 0;
	ssize_t n;

	if (fd < 0)
		return 0;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EPIPE)	/* overwritten: go on */
				continue;
			break;
		}
		rec[n] = '\0';
		for (i = 0; i < ARRAY_SIZE(vs_bad_kmsg); i++) {
			if (strstr(rec, vs_bad_kmsg[i])) {
				char *msg = strchr(rec, ';');

				vs_log("kernel: %s", msg ? msg + 1 : rec);
				bad++;
				break;
			}
		}
	}
	return bad;
}

/* ---- signals ---- */

static void vs_on_signal(int sig)
{
}

/* A handler without SA_RESTART: blocked calls fail with EINTR. */
static void vs_catch(int sig)
{
	struct sigaction sa = { .sa_handler = vs_on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

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

/*
 * Open the host end of @p, then the guest end, and wait until each side
 * sees the other.  Returns 0 with the two descriptors, or -1.
 */
static int vs_connect(struct vs_port *p, int hflags, int gflags, int *hfd,
		      int *gfd)
{
	*gfd = -1;
	*hfd = open(p->host, O_RDWR | O_CLOEXEC | hflags);
	if (*hfd < 0) {
		vs_log("open %s: %s", p->host, strerror(errno));
		return -1;
	}
	*gfd = open(p->guest, O_RDWR | O_NOCTTY | O_CLOEXEC | gflags);
	if (*gfd < 0) {
		vs_log("open %s: %s", p->guest, strerror(errno));
		return -1;
	}
	if (p->console && vs_tty_raw(*gfd)) {
		vs_log("%s: cannot set raw mode", p->guest);
		return -1;
	}
	if (vs_wait_attr(p, "guest_connected", "1", 10000))
		return -1;
	if (!p->console && vs_wait_poll(*gfd, 0, POLLHUP, 10000) < 0) {
		vs_log("%s: guest does not see the host end open", p->guest);
		return -1;
	}
	return 0;
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
		EXPECT_EQ(p->console, vs_attr(p, "console") == 1);
		snprintf(path, sizeof(path), "%s/vdpa_device", p->sys);
		ASSERT_LT(0, vs_read_str(path, buf, sizeof(buf)));
		EXPECT_STREQ(VS_DEV, buf);
		EXPECT_EQ(0, vs_attr(p, "host_connected"));
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

	/* Host reopens, then the guest closes. */
	hfd = open(p->host, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	EXPECT_LE(0, vs_wait_poll(gfd, 0, POLLHUP, 10000));
	EXPECT_EQ(0, vs_revents(hfd) & POLLHUP);
	ASSERT_EQ(0, close(gfd));
	EXPECT_EQ(0, vs_wait_attr(p, "guest_connected", "0", 10000));
	EXPECT_LE(0, vs_wait_poll(hfd, POLLHUP, POLLOUT, 10000));
	EXPECT_EQ(0, read(hfd, &c, 1)) TH_LOG("host read, guest closed");
	EXPECT_EQ(1, vs_attr(p, "host_connected"));
	ASSERT_EQ(0, close(hfd));
	EXPECT_EQ(0, vs_attr(p, "host_connected"));

	/* And again, host first this time. */
	hfd = open(p->host, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	EXPECT_TRUE(vs_revents(hfd) & POLLHUP);
	gfd = open(p->guest, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	EXPECT_EQ(0, vs_wait_attr(p, "guest_connected", "1", 10000));
	EXPECT_LE(0, vs_wait_poll(hfd, POLLOUT, POLLHUP, 10000));
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
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
	uint64_t filled = 0, got = 0;
	struct vs_port *p;
	int hfd, gfd, ep;
	ssize_t n;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", NULL, 2));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);

	/* Guest closed: HUP, no OUT, writes EAGAIN, reads EOF. */
	hfd = open(p->host, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, hfd);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, hfd, &ev));
	EXPECT_EQ(POLLHUP, vs_revents(hfd));
	EXPECT_EQ(EPOLLHUP, vs_epoll_events(ep, 0));
	EXPECT_EQ(-1, write(hfd, "x", 1));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, read(hfd, buf, 1));

	/* Guest open, nothing pending: OUT only, reads EAGAIN. */
	gfd = open(p->guest, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "1", 10000));
	ASSERT_LE(0, vs_wait_poll(hfd, POLLOUT, POLLHUP, 10000));
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

	/* Guest closes: HUP. */
	ASSERT_EQ(0, close(gfd));
	EXPECT_LE(0, vs_wait_poll(hfd, POLLHUP, POLLOUT, 10000));
	EXPECT_TRUE(vs_epoll_events(ep, 1000) & EPOLLHUP);
	EXPECT_EQ(0, read(hfd, buf, 1));
	close(ep);
}

/* Test 6: end of file comes after what is pending, on both sides. */
TEST_F_TIMEOUT(vserial, eof, 120)
{
	static char buf[20000];
	struct vs_xfer rd;
	struct vs_port *p;
	int hfd, gfd;

	ASSERT_EQ(0, vs_create(&self->dev, "console:,p1", NULL, 2));
	p = vs_port_by_name(&self->dev, "p1");
	ASSERT_NE(NULL, p);

	/* Guest writes, closes: the host reads it all, then 0. */
	ASSERT_EQ(0, vs_connect(p, 0, 0, &hfd, &gfd));
	vs_pattern(4, 0, buf, 10000);
	ASSERT_EQ(10000, vs_write_full(gfd, buf, 10000, 10000));
	ASSERT_EQ(0, close(gfd));
	ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "0", 10000));
	EXPECT_EQ(POLLIN | POLLHUP,
		  vs_revents(hfd) & (POLLIN | POLLHUP | POLLOUT));
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(10000, vs_read_full(hfd, buf, sizeof(buf), 10000));
	EXPECT_EQ(-1, vs_pattern_check(4, 0, buf, 10000));
	EXPECT_EQ(0, vs_read_within(hfd, buf, 1, 5000));
	EXPECT_EQ(POLLHUP, vs_revents(hfd) & (POLLIN | POLLHUP | POLLOUT));

	/* A host read blocked on an open guest ends when it closes. */
	gfd = open(p->guest, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	ASSERT_EQ(0, vs_wait_attr(p, "guest_connected", "1", 10000));
	vs_xfer_init(&rd, "host read", hfd, false, VS_IO_RW, 5, 1, 1, true);
	ASSERT_EQ(0, vs_xfer_start(&rd));
	vs_sleep_ms(500);
	EXPECT_FALSE(vs_xfer_finished(&rd))
		TH_LOG("host read did not block with the guest open");
	ASSERT_EQ(0, close(gfd));
	ASSERT_EQ(0, vs_xfer_wait(&rd, 1, 10000, 10000));
	EXPECT_TRUE(rd.eof) TH_LOG("host read: %zd, %s", rd.last,
				   strerror(rd.err));
	ASSERT_EQ(0, close(hfd));

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

static long long vs_mem_available_kib(void)
{
	char line[256];
	long long kib = -1;
	FILE *f;

	vs_write_str("/proc/sys/vm/drop_caches", "3");
	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %lld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
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
	mem0 = vs_mem_available_kib();

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
	mem1 = vs_mem_available_kib();
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
