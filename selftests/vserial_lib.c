// SPDX-License-Identifier: GPL-2.0
/*
 * vserial_lib.c - helpers of the vdpa_vserial selftests (vserial_lib.h).
 */
#include "vserial_lib.h"

int vs_read_str(const char *path, char *buf, size_t size)
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

long long vs_read_ll(const char *path)
{
	char buf[64], *end;
	long long v;

	if (vs_read_str(path, buf, sizeof(buf)) <= 0)
		return LLONG_MIN;
	v = strtoll(buf, &end, 0);
	return *end ? LLONG_MIN : v;
}

int vs_write_str(const char *path, const char *s)
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

bool vs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Run a shell command; its exit status, or -1. */
int vs_run(const char *fmt, ...)
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

void vs_settle(void)
{
	vs_run("udevadm settle --timeout=60 >/dev/null 2>&1");
}

/* Wait until the file at @path reads @want; 0, or -1 after @timeout_ms. */
int vs_wait_str(const char *path, const char *want, int timeout_ms)
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

int vs_wait_exists(const char *path, bool exists, int timeout_ms)
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

int vs_dev_add(const char *name, const uint64_t *features)
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

int vs_dev_del(const char *name)
{
	int family = vs_vdpa_family();
	struct vs_nlmsg m;

	if (family < 0)
		return family;
	vs_nl_init(&m, family, VDPA_CMD_DEV_DEL, VDPA_GENL_VERSION);
	vs_nla_put(&m, VDPA_ATTR_DEV_NAME, name, strlen(name) + 1);
	return vs_nl_talk(&m, NULL);
}

bool vs_dev_exists(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), VS_VDPA_BUS "/%s", name);
	return vs_exists(path);
}

int vs_param_set(const char *param, const char *value)
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

static int vs_port_cmp(const void *a, const void *b)
{
	const struct vs_port *pa = a, *pb = b;

	return (int)pa->id - (int)pb->id;
}

long long vs_attr(const struct vs_port *p, const char *attr)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", p->sys, attr);
	return vs_read_ll(path);
}

int vs_wait_attr(const struct vs_port *p, const char *attr,
		 const char *want, int timeout_ms)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", p->sys, attr);
	return vs_wait_str(path, want, timeout_ms);
}

int vs_dev_scan(struct vs_dev *d, const char *name)
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

int vs_class_count(void)
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
int vs_dev_virtio(const char *name)
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

unsigned int vs_hvc_live(void)
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

struct vs_port *vs_port_by_name(struct vs_dev *d, const char *name)
{
	int i;

	for (i = 0; i < d->nports; i++)
		if (!strcmp(d->port[i].name, name))
			return &d->port[i];
	return NULL;
}

struct vs_port *vs_port_by_id(struct vs_dev *d, unsigned int id)
{
	int i;

	for (i = 0; i < d->nports; i++)
		if (d->port[i].id == id)
			return &d->port[i];
	return NULL;
}

int vs_dev_wait(struct vs_dev *d, const char *name, int nports,
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

int vs_create(struct vs_dev *d, const char *ports,
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

int vs_destroy(void)
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

/*
 * Remove the configfs directories made with mkdir (templates and their
 * ports, ports left in kernel-made directories) and wait until the
 * kernel-made directories without a device are gone.
 */
int vs_cfg_reset(void)
{
	char path[PATH_MAX];
	struct dirent *de, *pe;
	uint64_t end;
	DIR *dir, *pdir;
	bool left;

	if (!vs_exists(VS_CFG) && vs_run("mount -t configfs none /sys/kernel/config"))
		return -1;
	dir = opendir(VS_CFG);
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || vs_dev_exists(de->d_name))
			continue;
		snprintf(path, sizeof(path), VS_CFG "/%s/ports", de->d_name);
		pdir = opendir(path);
		while (pdir && (pe = readdir(pdir))) {
			char port[PATH_MAX + 300];

			if (pe->d_name[0] == '.')
				continue;
			snprintf(port, sizeof(port), "%s/%s", path, pe->d_name);
			rmdir(port);	/* EPERM: made by the kernel */
		}
		if (pdir)
			closedir(pdir);
		snprintf(path, sizeof(path), VS_CFG "/%s", de->d_name);
		rmdir(path);
	}
	closedir(dir);

	/* Kernel-made directories go asynchronously. */
	for (end = vs_ms() + 10000;; vs_sleep_ms(20)) {
		left = false;
		dir = opendir(VS_CFG);
		if (!dir)
			return -1;
		while ((de = readdir(dir)))
			if (de->d_name[0] != '.' && !vs_dev_exists(de->d_name))
				left = true;
		closedir(dir);
		if (!left)
			return 0;
		if (vs_ms() > end) {
			vs_log("configfs directories left in " VS_CFG);
			return -1;
		}
	}
}

bool vs_module_loaded(void)
{
	return vs_exists("/sys/module/" VS_MOD "/parameters");
}

int vs_env_reset(void)
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
	if (vs_cfg_reset())
		ret = -1;
	if (vs_param_set("max_ports", VS_DEF_MAX_PORTS) ||
	    vs_param_set("ports", VS_DEF_PORTS))
		ret = -1;
	return ret;
}

int vs_wait_poll(int fd, short set, short clear, int timeout_ms)
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

short vs_revents(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP };

	/* Not -1: that has every bit set, and would pass any check. */
	if (poll(&pfd, 1, 0) < 0) {
		vs_log("poll(%d): %s", fd, strerror(errno));
		return POLLNVAL;
	}
	return pfd.revents;
}

/* Read or write @len bytes of @buf within @timeout_ms, waiting with poll. */
static ssize_t vs_io_full(int fd, void *buf, size_t len, int timeout_ms,
			  bool write_)
{
	uint64_t end = vs_ms() + timeout_ms;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		struct pollfd pfd = {
			.fd = fd,
			.events = write_ ? POLLOUT : POLLIN,
		};
		int left = end - vs_ms();

		if (left <= 0)
			break;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = write_ ? write(fd, (char *)buf + done, len - done) :
			     read(fd, (char *)buf + done, len - done);
		if (n == 0 && !write_)
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

ssize_t vs_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	return vs_io_full(fd, buf, len, timeout_ms, false);
}

ssize_t vs_write_full(int fd, const void *buf, size_t len, int timeout_ms)
{
	return vs_io_full(fd, (void *)buf, len, timeout_ms, true);
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

void vs_pattern(uint64_t seed, uint64_t off, void *buf, size_t len)
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

int64_t vs_pattern_check(uint64_t seed, uint64_t off, const void *buf,
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

bool vs_pipe_empty(int fd)
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

void vs_xfer_init(struct vs_xfer *x, const char *what, int fd,
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

int vs_xfer_start(struct vs_xfer *x)
{
	int ret = pthread_create(&x->thread, NULL, vs_xfer_thread, x);

	if (ret) {
		vs_log("pthread_create: %s", strerror(ret));
		return -1;
	}
	x->started = true;
	return 0;
}

uint64_t vs_xfer_done(struct vs_xfer *x)
{
	return __atomic_load_n(&x->done, __ATOMIC_RELAXED);
}

bool vs_xfer_finished(struct vs_xfer *x)
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

int vs_xfer_wait(struct vs_xfer *x, int n, int stall_ms, int max_ms)
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

int vs_xfer_ok(struct vs_xfer *x)
{
	if (vs_xfer_finished(x) && !x->err && !x->eof && x->bad < 0 &&
	    vs_xfer_done(x) == x->total)
		return 0;
	vs_xfer_report(x);
	return -1;
}

bool vs_xfer_blocked(struct vs_xfer *x, int quiet_ms, int max_ms)
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

static void *vs_call_thread(void *arg)
{
	struct vs_call *c = arg;

	c->ret = c->write ? write(c->fd, c->buf, c->len) :
			    read(c->fd, c->buf, c->len);
	c->err = c->ret < 0 ? errno : 0;
	__atomic_store_n(&c->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

int vs_call_start(struct vs_call *c, int fd, bool write,
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

bool vs_call_finished(struct vs_call *c)
{
	return __atomic_load_n(&c->finished, __ATOMIC_ACQUIRE);
}

bool vs_call_wait(struct vs_call *c, int max_ms)
{
	uint64_t start = vs_ms();

	while (!vs_call_finished(c) && vs_ms() - start < (uint64_t)max_ms)
		vs_sleep_ms(10);
	if (!vs_call_finished(c))
		return false;
	pthread_join(c->thread, NULL);
	return true;
}

ssize_t vs_read_within(int fd, void *buf, size_t len, int ms)
{
	/* Never freed if the call stays blocked: it may still write here. */
	void *tmp = calloc(1, len);
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

bool vs_call_interrupt(struct vs_call *c, int sig, int period_ms,
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

int vs_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

int vs_kmsg_bad(int fd)
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

void vs_catch(int sig)
{
	struct sigaction sa = { .sa_handler = vs_on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

int vs_connect(struct vs_port *p, int hflags, int gflags, int *hfd,
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

long long vs_meminfo_kib(const char *field)
{
	char line[256], name[64];
	long long kib = -1, v;
	FILE *f;

	vs_write_str("/proc/sys/vm/drop_caches", "3");
	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63[^:]: %lld kB", name, &v) == 2 &&
		    !strcmp(name, field)) {
			kib = v;
			break;
		}
	}
	fclose(f);
	return kib;
}
