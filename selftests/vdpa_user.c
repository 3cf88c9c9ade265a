// SPDX-License-Identifier: GPL-2.0
/*
 * vdpa_user - a small user-space vhost-vdpa driver for the selftests
 *
 * See vdpa_user.h.  The order of operations follows what QEMU's
 * vhost-vdpa backend does with a device: owner, backend features,
 * IOTLB (batched), reset, features, FEATURES_OK, vrings (num, addr,
 * base, kick, call, enable), DRIVER_OK.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "vdpa_user.h"

static char vu_errbuf[512];

const char *vu_error(void)
{
	return vu_errbuf;
}

__attribute__((format(printf, 2, 3)))
static int vu_fail(int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(vu_errbuf, sizeof(vu_errbuf), fmt, ap);
	va_end(ap);
	if (err && n >= 0 && (size_t)n < sizeof(vu_errbuf))
		snprintf(vu_errbuf + n, sizeof(vu_errbuf) - n, ": %s",
			 strerror(err));
	return err ? -err : -EINVAL;
}

uint64_t vu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- System helpers ---- */

int vu_system(bool verbose, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int status;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	n = strlen(cmd);
	if (!verbose && n + 20 < sizeof(cmd))
		strcat(cmd, " >/dev/null 2>&1");
	fflush(stdout);
	fflush(stderr);
	status = system(cmd);
	if (status == -1 || !WIFEXITED(status))
		return vu_fail(0, "'%s' did not run", cmd), -1;
	if (WEXITSTATUS(status))
		vu_fail(0, "'%s' exited with %d", cmd, WEXITSTATUS(status));
	return WEXITSTATUS(status);
}

int vu_write_file(const char *path, const char *val)
{
	size_t len = strlen(val);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return vu_fail(errno, "open %s", path);
	n = write(fd, val, len);
	if (n != (ssize_t)len) {
		int err = n < 0 ? errno : EIO;

		close(fd);
		return vu_fail(err, "write '%.40s' to %s", val, path);
	}
	close(fd);
	return 0;
}

int vu_read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return vu_fail(errno, "open %s", path);
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return vu_fail(errno, "read %s", path);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return n;
}

int vu_load_modules(void)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	/* vhost-vdpa pins what the IOTLB maps. */
	struct stat st;

	setrlimit(RLIMIT_MEMLOCK, &rl);
	if (stat("/sys/module/vdpa_vserial", &st) &&
	    vu_system(false, "modprobe vdpa_vserial"))
		return -ENOENT;
	if (stat("/sys/module/vhost_vdpa", &st) &&
	    vu_system(false, "modprobe vhost_vdpa"))
		return -ENOENT;
	return 0;
}

int vu_set_params(unsigned int max_ports, const char *ports)
{
	char val[32];
	int r;

	snprintf(val, sizeof(val), "%u", max_ports);
	r = vu_write_file("/sys/module/vdpa_vserial/parameters/max_ports", val);
	if (r)
		return r;
	return vu_write_file("/sys/module/vdpa_vserial/parameters/ports",
			     ports);
}

static int vu_dev_driver(const char *name, char *drv, size_t size)
{
	char link[256], target[256];
	ssize_t n;
	char *base;

	snprintf(link, sizeof(link), "/sys/bus/vdpa/devices/%s/driver", name);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		drv[0] = '\0';
		return -errno;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	snprintf(drv, size, "%s", base ? base + 1 : target);
	return 0;
}

int vu_dev_add(const char *name, uint64_t features, const char *driver)
{
	char path[256], feat[64] = "", drv[256];
	int r, r2;

	if (features)
		snprintf(feat, sizeof(feat), " device_features 0x%llx",
			 (unsigned long long)features);
	/*
	 * Add the device unbound, then bind it to the driver asked for,
	 * whichever vDPA bus drivers are loaded.
	 */
	r = vu_write_file("/sys/bus/vdpa/drivers_autoprobe", "0");
	if (r)
		return r;
	r = vu_system(false, "vdpa dev add name %s mgmtdev vserial%s",
		      name, feat);
	r2 = vu_write_file("/sys/bus/vdpa/drivers_autoprobe", "1");
	if (r)
		return r < 0 ? r : -EIO;
	if (r2)
		return r2;

	snprintf(path, sizeof(path), "/sys/bus/vdpa/devices/%s/driver_override",
		 name);
	r = vu_write_file(path, driver);
	if (r)
		return r;
	r = vu_write_file("/sys/bus/vdpa/drivers_probe", name);
	if (r)
		return r;
	if (vu_dev_driver(name, drv, sizeof(drv)) || strcmp(drv, driver))
		return vu_fail(0, "%s is bound to '%s', not %s", name, drv,
			       driver);
	return 0;
}

int vu_dev_del(const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/bus/vdpa/devices/%s", name);
	if (stat(path, &st))
		return 0;
	vu_system(false, "vdpa dev del %s", name);
	if (!stat(path, &st))
		return vu_fail(0, "vdpa dev del %s failed", name);
	return 0;
}

int vu_vhost_path(const char *name, char *path, size_t size)
{
	char dir[256];
	struct dirent *de;
	int r = -ENOENT;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/vdpa/devices/%s", name);
	d = opendir(dir);
	if (!d)
		return vu_fail(errno, "opendir %s", dir);
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, "vhost-vdpa-", 11)) {
			snprintf(path, size, "/dev/%s", de->d_name);
			r = 0;
			break;
		}
	}
	closedir(d);
	if (r)
		return vu_fail(ENOENT, "no vhost-vdpa device under %s", dir);
	return 0;
}

int vu_port_path(const char *name, unsigned int id, char *path, size_t size)
{
	char attr[512], val[128];
	struct dirent *de;
	DIR *d;

	d = opendir("/sys/class/vserial");
	if (!d)
		return vu_fail(errno, "opendir /sys/class/vserial");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(attr, sizeof(attr), "/sys/class/vserial/%s/vdpa_device",
			 de->d_name);
		if (vu_read_file(attr, val, sizeof(val)) < 0 ||
		    strcmp(val, name))
			continue;
		snprintf(attr, sizeof(attr), "/sys/class/vserial/%s/port_id",
			 de->d_name);
		if (vu_read_file(attr, val, sizeof(val)) < 0 ||
		    strtoul(val, NULL, 0) != id)
			continue;
		snprintf(path, size, "/dev/%s", de->d_name);
		closedir(d);
		return 0;
	}
	closedir(d);
	return vu_fail(ENOENT, "no host end for port %u of %s", id, name);
}

long vu_port_attr(const char *path, const char *attr)
{
	const char *base = strrchr(path, '/');
	char p[512], val[64];

	snprintf(p, sizeof(p), "/sys/class/vserial/%s/%s",
		 base ? base + 1 : path, attr);
	if (vu_read_file(p, val, sizeof(val)) < 0)
		return -1;
	return strtol(val, NULL, 0);
}

int vu_poll(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	r = poll(&pfd, 1, timeout_ms);
	if (r < 0)
		return -errno;
	return r ? pfd.revents : 0;
}

/* ---- Checksums and random data ---- */

uint32_t vu_crc32(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	const uint8_t *p = buf;
	uint32_t c;
	int i, k;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			c = i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint64_t vu_rand(uint64_t *state)
{
	uint64_t x = *state ?: 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

void vu_fill_random(uint64_t *state, void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t r = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 7))
			r = vu_rand(state);
		p[i] = r;
		r >>= 8;
	}
}

bool vu_mem_is(const void *p, int c, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != (uint8_t)c)
			return false;
	return true;
}

/* ---- The device ---- */

static void vu_proto_error(struct vu_dev *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void vu_proto_error(struct vu_dev *dev, const char *fmt, ...)
{
	va_list ap;

	dev->proto_errors++;
	va_start(ap, fmt);
	vsnprintf(dev->last_proto_error, sizeof(dev->last_proto_error), fmt,
		  ap);
	va_end(ap);
}

void *vu_alloc(struct vu_dev *dev, size_t size, uint64_t *iova)
{
	size_t sz = (size + VU_PAGE_SIZE - 1) & ~(VU_PAGE_SIZE - 1);
	uint8_t *p;

	if (sz > dev->arena_size - dev->arena_used) {
		vu_fail(ENOMEM, "arena of %zu bytes full", dev->arena_size);
		return NULL;
	}
	p = dev->arena + dev->arena_used;
	dev->arena_used += sz;
	memset(p, 0, sz);
	if (iova)
		*iova = dev->arena_iova + (p - dev->arena);
	return p;
}

uint64_t vu_iova(struct vu_dev *dev, const void *va)
{
	return dev->arena_iova + ((const uint8_t *)va - dev->arena);
}

void *vu_va(struct vu_dev *dev, uint64_t iova)
{
	if (iova < dev->arena_iova || iova >= dev->arena_iova + dev->arena_size)
		return NULL;
	return dev->arena + (iova - dev->arena_iova);
}

bool vu_canaries_ok(struct vu_dev *dev)
{
	if (!vu_mem_is(dev->map, VU_CANARY, VU_PAGE_SIZE) ||
	    !vu_mem_is(dev->arena + dev->arena_size, VU_CANARY, VU_PAGE_SIZE))
		return false;
	return vu_mem_is(dev->arena + dev->arena_used, VU_CANARY,
			 dev->arena_size - dev->arena_used);
}

int vu_iotlb_msg(struct vu_dev *dev, const struct vhost_iotlb_msg *msg)
{
	struct vhost_msg_v2 m;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.type = VHOST_IOTLB_MSG_V2;
	m.iotlb = *msg;
	n = write(dev->fd, &m, sizeof(m));
	if (n != sizeof(m))
		return vu_fail(n < 0 ? errno : EIO,
			       "IOTLB message type %u iova 0x%llx size 0x%llx",
			       msg->type, (unsigned long long)msg->iova,
			       (unsigned long long)msg->size);
	return 0;
}

int vu_iotlb_update(struct vu_dev *dev, uint64_t iova, uint64_t size,
		    const void *uaddr, uint8_t perm)
{
	struct vhost_iotlb_msg msg = {
		.iova = iova,
		.size = size,
		.uaddr = (uint64_t)(uintptr_t)uaddr,
		.perm = perm,
		.type = VHOST_IOTLB_UPDATE,
	};

	return vu_iotlb_msg(dev, &msg);
}

int vu_iotlb_invalidate(struct vu_dev *dev, uint64_t iova, uint64_t size)
{
	struct vhost_iotlb_msg msg = {
		.iova = iova,
		.size = size,
		.type = VHOST_IOTLB_INVALIDATE,
	};

	return vu_iotlb_msg(dev, &msg);
}

int vu_iotlb_batch(struct vu_dev *dev, bool begin)
{
	struct vhost_iotlb_msg msg = {
		.type = begin ? VHOST_IOTLB_BATCH_BEGIN : VHOST_IOTLB_BATCH_END,
	};

	if (!(dev->backend_features & VU_F(VHOST_BACKEND_F_IOTLB_BATCH)))
		return 0;
	return vu_iotlb_msg(dev, &msg);
}

int vu_remap_arena(struct vu_dev *dev)
{
	int r;

	if (dev->arena_mapped) {
		r = vu_iotlb_invalidate(dev, dev->arena_iova, dev->arena_size);
		if (r)
			return r;
		dev->arena_mapped = false;
	}
	r = vu_iotlb_batch(dev, true);
	if (!r)
		r = vu_iotlb_update(dev, dev->arena_iova, dev->arena_size,
				    dev->arena, VHOST_ACCESS_RW);
	if (!r)
		r = vu_iotlb_batch(dev, false);
	if (!r)
		dev->arena_mapped = true;
	return r;
}

int vu_open(const char *name, const struct vu_opts *opts,
	    struct vu_dev **devp)
{
	static const struct vu_opts defaults;
	struct vu_dev *dev;
	uint64_t bf;
	int r;

	if (!opts)
		opts = &defaults;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->fd = -1;
	dev->config_fd = -1;
	snprintf(dev->name, sizeof(dev->name), "%s", name);

	r = vu_vhost_path(name, dev->path, sizeof(dev->path));
	if (r)
		goto err;
	dev->fd = open(dev->path, O_RDWR);
	if (dev->fd < 0) {
		r = vu_fail(errno, "open %s", dev->path);
		goto err;
	}
	if (ioctl(dev->fd, VHOST_SET_OWNER)) {
		r = vu_fail(errno, "VHOST_SET_OWNER");
		goto err;
	}
	if (ioctl(dev->fd, VHOST_VDPA_GET_DEVICE_ID, &dev->device_id) ||
	    ioctl(dev->fd, VHOST_GET_FEATURES, &dev->dev_features) ||
	    ioctl(dev->fd, VHOST_GET_BACKEND_FEATURES, &dev->backend_offered) ||
	    ioctl(dev->fd, VHOST_VDPA_GET_VQS_COUNT, &dev->nvqs) ||
	    ioctl(dev->fd, VHOST_VDPA_GET_VRING_NUM, &dev->vq_num_max)) {
		r = vu_fail(errno, "%s: device information ioctls", dev->path);
		goto err;
	}

	bf = VU_F(VHOST_BACKEND_F_IOTLB_MSG_V2);
	if (!opts->no_batch)
		bf |= VU_F(VHOST_BACKEND_F_IOTLB_BATCH);
	if (opts->iotlb_persist)
		bf |= VU_F(VHOST_BACKEND_F_IOTLB_PERSIST);
	bf |= VU_F(VHOST_BACKEND_F_SUSPEND) | VU_F(VHOST_BACKEND_F_RESUME);
	bf &= dev->backend_offered;
	if (ioctl(dev->fd, VHOST_SET_BACKEND_FEATURES, &bf)) {
		r = vu_fail(errno, "VHOST_SET_BACKEND_FEATURES 0x%llx",
			    (unsigned long long)bf);
		goto err;
	}
	dev->backend_features = bf;

	dev->config_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->config_fd < 0 ||
	    ioctl(dev->fd, VHOST_VDPA_SET_CONFIG_CALL, &dev->config_fd)) {
		r = vu_fail(errno, "config eventfd");
		goto err;
	}

	dev->vqs = calloc(dev->nvqs, sizeof(*dev->vqs));
	if (!dev->vqs) {
		r = -ENOMEM;
		goto err;
	}
	for (unsigned int i = 0; i < dev->nvqs; i++) {
		dev->vqs[i].dev = dev;
		dev->vqs[i].idx = i;
		dev->vqs[i].kick_fd = -1;
		dev->vqs[i].call_fd = -1;
	}

	dev->arena_size = opts->arena_size ?: VU_ARENA_SIZE;
	dev->arena_size = (dev->arena_size + VU_PAGE_SIZE - 1) &
			  ~(VU_PAGE_SIZE - 1);
	dev->map_size = dev->arena_size + 2 * VU_PAGE_SIZE;
	dev->map = mmap(NULL, dev->map_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (dev->map == MAP_FAILED) {
		dev->map = NULL;
		r = vu_fail(errno, "mmap arena");
		goto err;
	}
	memset(dev->map, VU_CANARY, dev->map_size);
	dev->arena = dev->map + VU_PAGE_SIZE;
	dev->arena_iova = VU_ARENA_IOVA;
	r = vu_remap_arena(dev);
	if (r)
		goto err;

	*devp = dev;
	return 0;
err:
	vu_close(dev);
	return r;
}

void vu_close(struct vu_dev *dev)
{
	unsigned int i;

	if (!dev)
		return;
	if (dev->fd >= 0)
		close(dev->fd);	/* resets the device, drops the IOTLB */
	for (i = 0; dev->vqs && i < dev->nvqs; i++) {
		if (dev->vqs[i].kick_fd >= 0)
			close(dev->vqs[i].kick_fd);
		if (dev->vqs[i].call_fd >= 0)
			close(dev->vqs[i].call_fd);
		free(dev->vqs[i].free);
		free(dev->vqs[i].bufs);
	}
	if (dev->config_fd >= 0)
		close(dev->config_fd);
	if (dev->map)
		munmap(dev->map, dev->map_size);
	free(dev->vqs);
	free(dev);
}

int vu_get_status(struct vu_dev *dev, uint8_t *status)
{
	if (ioctl(dev->fd, VHOST_VDPA_GET_STATUS, status))
		return vu_fail(errno, "VHOST_VDPA_GET_STATUS");
	return 0;
}

int vu_set_status(struct vu_dev *dev, uint8_t status)
{
	if (ioctl(dev->fd, VHOST_VDPA_SET_STATUS, &status))
		return vu_fail(errno, "VHOST_VDPA_SET_STATUS 0x%x", status);
	return 0;
}

bool vu_needs_reset(struct vu_dev *dev)
{
	uint8_t s = 0;

	return !vu_get_status(dev, &s) &&
	       (s & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static int vu_config_rw(struct vu_dev *dev, unsigned long cmd,
			unsigned int off, void *buf, unsigned int len)
{
	struct vhost_vdpa_config *c;
	int r = 0;

	c = calloc(1, sizeof(*c) + len);
	if (!c)
		return -ENOMEM;
	c->off = off;
	c->len = len;
	if (cmd == VHOST_VDPA_SET_CONFIG)
		memcpy(c->buf, buf, len);
	if (ioctl(dev->fd, cmd, c))
		r = vu_fail(errno, "%s_CONFIG off %u len %u",
			    cmd == VHOST_VDPA_SET_CONFIG ? "SET" : "GET",
			    off, len);
	else if (cmd == VHOST_VDPA_GET_CONFIG)
		memcpy(buf, c->buf, len);
	free(c);
	return r;
}

int vu_get_config(struct vu_dev *dev, unsigned int off, void *buf,
		  unsigned int len)
{
	return vu_config_rw(dev, VHOST_VDPA_GET_CONFIG, off, buf, len);
}

int vu_set_config(struct vu_dev *dev, unsigned int off, const void *buf,
		  unsigned int len)
{
	return vu_config_rw(dev, VHOST_VDPA_SET_CONFIG, off, (void *)buf, len);
}

int vu_suspend(struct vu_dev *dev)
{
	if (ioctl(dev->fd, VHOST_VDPA_SUSPEND))
		return vu_fail(errno, "VHOST_VDPA_SUSPEND");
	return 0;
}

int vu_resume(struct vu_dev *dev)
{
	if (ioctl(dev->fd, VHOST_VDPA_RESUME))
		return vu_fail(errno, "VHOST_VDPA_RESUME");
	return 0;
}

int vu_get_vring_base(struct vu_dev *dev, unsigned int idx, uint16_t *base)
{
	struct vhost_vring_state s = { .index = idx };

	if (ioctl(dev->fd, VHOST_GET_VRING_BASE, &s))
		return vu_fail(errno, "VHOST_GET_VRING_BASE %u", idx);
	*base = s.num;
	return 0;
}

int vu_set_vring_base(struct vu_dev *dev, unsigned int idx, uint16_t base)
{
	struct vhost_vring_state s = { .index = idx, .num = base };

	if (ioctl(dev->fd, VHOST_SET_VRING_BASE, &s))
		return vu_fail(errno, "VHOST_SET_VRING_BASE %u", idx);
	return 0;
}

uint64_t vu_config_irqs(struct vu_dev *dev)
{
	uint64_t v;

	while (read(dev->config_fd, &v, sizeof(v)) == sizeof(v))
		dev->config_irqs += v;
	return dev->config_irqs;
}

int vu_reset(struct vu_dev *dev)
{
	unsigned int i;
	int r;

	r = vu_set_status(dev, 0);
	if (r)
		return r;
	for (i = 0; i < dev->nvqs; i++)
		dev->vqs[i].enabled = false;
	dev->features = 0;
	/* Without IOTLB_PERSIST the reset dropped the device's map. */
	if (!(dev->backend_features & VU_F(VHOST_BACKEND_F_IOTLB_PERSIST)))
		return vu_remap_arena(dev);
	return 0;
}

int vu_negotiate(struct vu_dev *dev, uint64_t features)
{
	const uint8_t ad = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	uint8_t s = 0;
	int r;

	/* A VMM that stopped its device left ACKNOWLEDGE | DRIVER set. */
	r = vu_get_status(dev, &s);
	if (!r && s != ad)
		r = vu_set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	if (!r && s != ad)
		r = vu_set_status(dev, ad);
	if (r)
		return r;
	if (ioctl(dev->fd, VHOST_SET_FEATURES, &features))
		return vu_fail(errno, "VHOST_SET_FEATURES 0x%llx",
			       (unsigned long long)features);
	r = vu_set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE |
			  VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	if (!r)
		r = vu_get_status(dev, &s);
	if (r)
		return r;
	if (!(s & VIRTIO_CONFIG_S_FEATURES_OK))
		return vu_fail(0, "device refused features 0x%llx",
			       (unsigned long long)features);
	dev->features = features;
	return 0;
}

static bool vu_has(struct vu_dev *dev, unsigned int bit)
{
	return dev->features & VU_F(bit);
}

static uint16_t *vu_used_event(struct vu_vq *vq)
{
	return &vq->avail->ring[vq->num];
}

static uint16_t *vu_avail_event(struct vu_vq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->num];
}

static int vu_vq_alloc(struct vu_vq *vq, unsigned int num,
		       unsigned int slot_size)
{
	struct vu_dev *dev = vq->dev;

	if (vq->allocated && vq->alloc_num >= num &&
	    vq->slot_stride >= slot_size) {
		vq->slot_size = slot_size;
		return 0;
	}
	vq->desc = vu_alloc(dev, 16 * num, &vq->desc_iova);
	vq->avail = vu_alloc(dev, 6 + 2 * num, &vq->avail_iova);
	vq->used = vu_alloc(dev, 6 + 8 * num, &vq->used_iova);
	vq->slots = vu_alloc(dev, (size_t)num * slot_size, &vq->slots_iova);
	vq->itabs = vu_alloc(dev, (size_t)num * VU_MAX_SEGS * 16,
			     &vq->itabs_iova);
	if (!vq->desc || !vq->avail || !vq->used || !vq->slots || !vq->itabs)
		return -ENOMEM;
	free(vq->free);
	free(vq->bufs);
	vq->free = calloc(num, sizeof(*vq->free));
	vq->bufs = calloc(num, sizeof(*vq->bufs));
	if (!vq->free || !vq->bufs)
		return -ENOMEM;
	vq->alloc_num = num;
	vq->slot_size = slot_size;
	vq->slot_stride = slot_size;
	vq->allocated = true;
	return 0;
}

/* The ring's size, base, addresses and kick eventfd, in QEMU's order. */
static int vu_vq_program(struct vu_vq *vq, uint16_t base)
{
	struct vhost_vring_state s = { .index = vq->idx, .num = vq->num };
	struct vhost_vring_addr a = { .index = vq->idx };
	struct vhost_vring_file f = { .index = vq->idx };
	struct vu_dev *dev = vq->dev;

	if (ioctl(dev->fd, VHOST_SET_VRING_NUM, &s))
		return vu_fail(errno, "VHOST_SET_VRING_NUM %u %u", vq->idx,
			       vq->num);
	s.num = base;
	if (ioctl(dev->fd, VHOST_SET_VRING_BASE, &s))
		return vu_fail(errno, "VHOST_SET_VRING_BASE %u", vq->idx);
	a.desc_user_addr = vq->desc_iova;
	a.avail_user_addr = vq->avail_iova;
	a.used_user_addr = vq->used_iova;
	if (ioctl(dev->fd, VHOST_SET_VRING_ADDR, &a))
		return vu_fail(errno, "VHOST_SET_VRING_ADDR %u", vq->idx);
	f.fd = vq->kick_fd;
	if (ioctl(dev->fd, VHOST_SET_VRING_KICK, &f))
		return vu_fail(errno, "VHOST_SET_VRING_KICK %u", vq->idx);
	return 0;
}

static int vu_vq_set_call(struct vu_vq *vq)
{
	struct vhost_vring_file f = { .index = vq->idx, .fd = vq->call_fd };

	if (ioctl(vq->dev->fd, VHOST_SET_VRING_CALL, &f))
		return vu_fail(errno, "VHOST_SET_VRING_CALL %u", vq->idx);
	return 0;
}

int vu_vq_setup(struct vu_dev *dev, unsigned int idx, unsigned int num,
		unsigned int slot_size, uint16_t base)
{
	struct vu_vq *vq;
	unsigned int i;
	int r;

	if (idx >= dev->nvqs)
		return vu_fail(EINVAL, "queue %u of %u", idx, dev->nvqs);
	vq = &dev->vqs[idx];
	r = vu_vq_alloc(vq, num, slot_size);
	if (r)
		return vu_fail(-r, "queue %u: memory", idx);

	vq->num = num;
	memset(vq->desc, 0, 16 * num);
	memset(vq->avail, 0, 6 + 2 * num);
	memset(vq->used, 0, 6 + 8 * num);
	memset(vq->bufs, 0, num * sizeof(*vq->bufs));
	for (i = 0; i < num; i++)
		vq->free[i] = num - 1 - i;
	vq->nfree = num;
	/* As if restored: both sides start at @base. */
	vq->avail_idx = base;
	vq->last_used = base;
	vq->kicked_idx = base;
	vq->avail->idx = htole16(base);
	vq->used->idx = htole16(base);
	*vu_used_event(vq) = htole16(base);

	if (vq->kick_fd < 0)
		vq->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vq->call_fd < 0)
		vq->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vq->kick_fd < 0 || vq->call_fd < 0)
		return vu_fail(errno, "eventfd");

	r = vu_vq_program(vq, base);
	if (!r)
		r = vu_vq_set_call(vq);
	return r ?: vu_vq_enable(vq, true);
}

int vu_vq_enable(struct vu_vq *vq, bool enable)
{
	struct vhost_vring_state s = { .index = vq->idx, .num = enable };

	if (ioctl(vq->dev->fd, VHOST_VDPA_SET_VRING_ENABLE, &s))
		return vu_fail(errno, "VHOST_VDPA_SET_VRING_ENABLE %u", vq->idx);
	vq->enabled = enable;
	return 0;
}

int vu_driver_ok(struct vu_dev *dev)
{
	uint8_t s;
	int r;

	r = vu_get_status(dev, &s);
	if (!r)
		r = vu_set_status(dev, s | VIRTIO_CONFIG_S_DRIVER_OK);
	if (!r)
		r = vu_get_status(dev, &s);
	if (!r && !(s & VIRTIO_CONFIG_S_DRIVER_OK))
		return vu_fail(0, "DRIVER_OK not set (status 0x%x)", s);
	return r;
}

int vu_init(struct vu_dev *dev, uint64_t features,
	    const struct vu_qcfg *qs, unsigned int nqs)
{
	unsigned int i;
	int r;

	r = vu_reset(dev);
	if (!r)
		r = vu_negotiate(dev, features);
	for (i = 0; !r && i < nqs; i++)
		r = vu_vq_setup(dev, qs[i].idx, qs[i].num, qs[i].slot_size,
				qs[i].base);
	if (!r)
		r = vu_driver_ok(dev);
	vu_config_irqs(dev);
	dev->config_irqs = 0;
	return r;
}

int vu_vmm_stop(struct vu_dev *dev, bool suspend)
{
	bool suspended = false;
	struct vu_vq *vq;
	unsigned int i;
	int r;

	if (suspend && (dev->backend_features & VU_F(VHOST_BACKEND_F_SUSPEND))) {
		r = vu_suspend(dev);
		if (r)
			return r;
		suspended = true;
	}
	for (i = 0; i < dev->nvqs; i++) {
		vq = &dev->vqs[i];
		vq->stopped = vq->enabled;
		if (!vq->stopped || !suspended)
			continue;
		/* A suspended device's word is trusted. */
		r = vu_get_vring_base(dev, i, &vq->saved_base);
		if (r)
			return r;
	}
	dev->stopped_features = dev->features;
	r = vu_set_status(dev, 0);
	if (!r)
		r = vu_set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE |
				  VIRTIO_CONFIG_S_DRIVER);
	if (r)
		return r;
	for (i = 0; i < dev->nvqs; i++) {
		vq = &dev->vqs[i];
		vq->enabled = false;
		/* Without SUSPEND: what the device last used, in memory. */
		if (vq->stopped && !suspended)
			vq->saved_base = le16toh(vq->used->idx);
	}
	/* QEMU's memory listener goes with the stopped device. */
	if (dev->arena_mapped) {
		r = vu_iotlb_batch(dev, true);
		if (!r)
			r = vu_iotlb_invalidate(dev, dev->arena_iova,
						dev->arena_size);
		if (!r)
			r = vu_iotlb_batch(dev, false);
		if (r)
			return r;
		dev->arena_mapped = false;
	}
	return 0;
}

int vu_vmm_cont_rings(struct vu_dev *dev)
{
	struct vu_vq *vq;
	unsigned int i;
	int r;

	r = vu_negotiate(dev, dev->stopped_features);
	for (i = 0; !r && i < dev->nvqs; i++) {
		vq = &dev->vqs[i];
		if (!vq->stopped)
			continue;
		r = vu_vq_program(vq, vq->saved_base);
		if (!r)
			r = vu_vq_enable(vq, true);
	}
	if (!r)
		r = vu_remap_arena(dev);
	return r ?: vu_driver_ok(dev);
}

int vu_vmm_cont_calls(struct vu_dev *dev)
{
	struct vu_vq *vq;
	unsigned int i;
	int r = 0;

	for (i = 0; !r && i < dev->nvqs; i++) {
		vq = &dev->vqs[i];
		if (vq->stopped)
			r = vu_vq_set_call(vq);
		vq->stopped = false;
	}
	return r;
}

int vu_vmm_cont(struct vu_dev *dev)
{
	return vu_vmm_cont_rings(dev) ?: vu_vmm_cont_calls(dev);
}

/* ---- Virtqueues ---- */

void vu_desc_set(struct vring_desc *d, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

void vu_vq_publish(struct vu_vq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx % vq->num] = htole16(head);
	vq->avail_idx++;
	/* The entry before the index (virtio_wmb). */
	__atomic_store_n(&vq->avail->idx, htole16(vq->avail_idx),
			 __ATOMIC_RELEASE);
}

int vu_vq_add(struct vu_vq *vq, const struct vu_seg *segs,
	      unsigned int nsegs, bool indirect, uint64_t cookie)
{
	struct vu_buf *b;
	uint16_t head, d[VU_MAX_SEGS];
	uint32_t total = 0;
	unsigned int i;
	uint8_t *va;

	if (!nsegs || nsegs > VU_MAX_SEGS)
		return -EINVAL;
	for (i = 0; i < nsegs; i++) {
		total += segs[i].len;
		if (!indirect && segs[i].len > vq->slot_size)
			return -EINVAL;
	}
	if (indirect && total > vq->slot_size)
		return -EINVAL;
	if (vq->nfree < (indirect ? 1 : nsegs))
		return -ENOSPC;

	head = vq->free[--vq->nfree];
	b = &vq->bufs[head];
	memset(b, 0, sizeof(*b));
	b->indirect = indirect;
	b->nsegs = nsegs;
	b->cookie = cookie;
	d[0] = head;
	for (i = 1; !indirect && i < nsegs; i++)
		d[i] = vq->free[--vq->nfree];

	va = vq->slots + (size_t)head * vq->slot_stride;
	for (i = 0; i < nsegs; i++) {
		if (!indirect)
			va = vq->slots + (size_t)d[i] * vq->slot_stride;
		b->descs[i] = indirect ? head : d[i];
		b->va[i] = va;
		b->iova[i] = vu_iova(vq->dev, va);
		b->len[i] = segs[i].len;
		b->write[i] = segs[i].write;
		if (segs[i].write) {
			memset(va, 0, segs[i].len);
			b->in_len += segs[i].len;
		} else if (segs[i].data) {
			memcpy(va, segs[i].data, segs[i].len);
		} else {
			memset(va, 0, segs[i].len);
		}
		if (indirect) {
			struct vring_desc *t = vq->itabs + head * VU_MAX_SEGS;

			vu_desc_set(&t[i], b->iova[i], segs[i].len,
				    (segs[i].write ? VRING_DESC_F_WRITE : 0) |
				    (i + 1 < nsegs ? VRING_DESC_F_NEXT : 0),
				    i + 1 < nsegs ? i + 1 : 0);
			va += segs[i].len;
		} else {
			vu_desc_set(&vq->desc[d[i]], b->iova[i], segs[i].len,
				    (segs[i].write ? VRING_DESC_F_WRITE : 0) |
				    (i + 1 < nsegs ? VRING_DESC_F_NEXT : 0),
				    i + 1 < nsegs ? d[i + 1] : 0);
			/* What the device must not write: the slot's tail. */
			memset(va + segs[i].len, VU_CANARY,
			       vq->slot_stride - segs[i].len);
		}
	}
	if (indirect) {
		uint8_t *slot = vq->slots + (size_t)head * vq->slot_stride;

		memset(slot + total, VU_CANARY, vq->slot_stride - total);
		vu_desc_set(&vq->desc[head],
			    vq->itabs_iova + (uint64_t)head * VU_MAX_SEGS * 16,
			    nsegs * 16, VRING_DESC_F_INDIRECT, 0);
	}
	b->posted = true;
	vu_vq_publish(vq, head);
	return head;
}

int vu_vq_add1(struct vu_vq *vq, const void *data, uint32_t len, bool write)
{
	struct vu_seg s = { .data = data, .len = len, .write = write };

	return vu_vq_add(vq, &s, 1, false, 0);
}

int vu_vq_kick(struct vu_vq *vq)
{
	uint64_t one = 1;
	uint16_t old = vq->kicked_idx;

	/* Publish the ring before looking at avail_event (virtio_mb). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_kick && vu_has(vq->dev, VIRTIO_RING_F_EVENT_IDX) &&
	    !vring_need_event(le16toh(*(volatile uint16_t *)vu_avail_event(vq)),
			      vq->avail_idx, old))
		return 0;
	vq->kicked_idx = vq->avail_idx;
	if (write(vq->kick_fd, &one, sizeof(one)) != sizeof(one))
		return vu_fail(errno, "kick queue %u", vq->idx);
	vq->kicks++;
	return 1;
}

uint16_t vu_vq_avail_event(struct vu_vq *vq)
{
	return le16toh(*(volatile uint16_t *)vu_avail_event(vq));
}

uint16_t vu_vq_used_idx(struct vu_vq *vq)
{
	return le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
}

uint16_t vu_vq_pending(struct vu_vq *vq)
{
	return vu_vq_used_idx(vq) - vq->last_used;
}

int vu_vq_get_used(struct vu_vq *vq, uint16_t *headp, uint32_t *lenp)
{
	struct vu_dev *dev = vq->dev;
	uint16_t idx = vu_vq_used_idx(vq), head;
	struct vring_used_elem e;
	struct vu_buf *b;
	unsigned int i;
	uint32_t len;

	if (idx == vq->last_used)
		return 0;
	if ((uint16_t)(idx - vq->last_used) > vq->num)
		vu_proto_error(dev, "queue %u: used index moved from %u to %u",
			       vq->idx, vq->last_used, idx);
	e = vq->used->ring[vq->last_used % vq->num];
	vq->last_used++;
	if (vu_has(dev, VIRTIO_RING_F_EVENT_IDX))
		__atomic_store_n(vu_used_event(vq), htole16(vq->last_used),
				 __ATOMIC_SEQ_CST);
	head = le32toh(e.id);
	len = le32toh(e.len);
	*headp = head;
	*lenp = len;
	if (le32toh(e.id) >= vq->num)
		dev->used_oob++;
	if (le32toh(e.id) >= vq->num || !vq->bufs[head].posted) {
		vu_proto_error(dev, "queue %u: used id %u was not available",
			       vq->idx, le32toh(e.id));
		return -EPROTO;
	}
	b = &vq->bufs[head];
	b->posted = false;
	if (len > b->in_len)
		vu_proto_error(dev, "queue %u: used len %u > %u writable bytes",
			       vq->idx, len, b->in_len);
	/* The device may write the buffers, not beyond them. */
	if (b->indirect) {
		uint32_t total = 0;

		for (i = 0; i < b->nsegs; i++)
			total += b->len[i];
		if (!vu_mem_is(b->va[0] + total, VU_CANARY,
			       vq->slot_stride - total))
			vu_proto_error(dev, "queue %u: write beyond buffer %u",
				       vq->idx, head);
		vq->free[vq->nfree++] = head;
	} else {
		for (i = 0; i < b->nsegs; i++) {
			if (!vu_mem_is(b->va[i] + b->len[i], VU_CANARY,
				       vq->slot_stride - b->len[i]))
				vu_proto_error(dev,
					       "queue %u: write beyond buffer %u",
					       vq->idx, head);
			vq->free[vq->nfree++] = b->descs[i];
		}
	}
	return 1;
}

size_t vu_vq_copy_in(struct vu_vq *vq, uint16_t head, uint32_t len,
		     void *out, size_t size)
{
	struct vu_buf *b = &vq->bufs[head];
	size_t done = 0, n;
	unsigned int i;

	for (i = 0; i < b->nsegs && done < len && done < size; i++) {
		if (!b->write[i])
			continue;
		n = b->len[i];
		if (n > len - done)
			n = len - done;
		if (n > size - done)
			n = size - done;
		memcpy((uint8_t *)out + done, b->va[i], n);
		done += n;
	}
	return done;
}

uint64_t vu_vq_calls(struct vu_vq *vq)
{
	uint64_t v;

	while (vq->call_fd >= 0 && read(vq->call_fd, &v, sizeof(v)) == sizeof(v))
		vq->calls += v;
	return vq->calls;
}

int vu_vq_wait_used(struct vu_vq *vq, int timeout_ms)
{
	uint64_t end = vu_now_ms() + timeout_ms;
	uint64_t now;

	for (;;) {
		if (vu_vq_pending(vq))
			return 1;
		now = vu_now_ms();
		if (now >= end)
			return 0;
		/* Poll the ring too: interrupts may be suppressed. */
		if (vu_poll(vq->call_fd, POLLIN,
			    end - now > 20 ? 20 : end - now) > 0)
			vu_vq_calls(vq);
	}
}

/* ---- The virtio-console driver ---- */

const char *vu_event_name(uint16_t event)
{
	static const char *const names[] = {
		"DEVICE_READY", "PORT_ADD", "PORT_REMOVE", "PORT_READY",
		"CONSOLE_PORT", "RESIZE", "PORT_OPEN", "PORT_NAME",
	};

	return event < 8 ? names[event] : "UNKNOWN";
}

int vu_ctrl_fill(struct vu_dev *dev)
{
	struct vu_vq *vq = &dev->vqs[VU_CTRL_RXQ];
	int r;

	while (vq->nfree) {
		r = vu_vq_add1(vq, NULL, VU_CTRL_BUF, true);
		if (r < 0)
			return r;
	}
	r = vu_vq_kick(vq);
	return r < 0 ? r : 0;
}

int vu_ctrl_send_raw(struct vu_dev *dev, const void *buf, uint32_t len)
{
	struct vu_vq *vq = &dev->vqs[VU_CTRL_TXQ];
	uint16_t head;
	uint32_t ulen;
	int r;

	r = vu_vq_add1(vq, buf, len, false);
	if (r < 0)
		return vu_fail(-r, "control queue add");
	r = vu_vq_kick(vq);
	if (r < 0)
		return r;
	/* The device takes control messages in the kick itself. */
	if (!vu_vq_wait_used(vq, 2000)) {
		uint8_t st = 0;

		vu_get_status(dev, &st);
		return vu_fail(ETIMEDOUT,
			       "control message not taken (status 0x%x, used %u, avail %u)",
			       st, vu_vq_used_idx(vq), vq->avail_idx);
	}
	while ((r = vu_vq_get_used(vq, &head, &ulen)) > 0)
		;
	return r;
}

int vu_ctrl_send(struct vu_dev *dev, uint32_t id, uint16_t event,
		 uint16_t value)
{
	struct virtio_console_control c = {
		.id = htole32(id),
		.event = htole16(event),
		.value = htole16(value),
	};

	return vu_ctrl_send_raw(dev, &c, sizeof(c));
}

int vu_ctrl_recv(struct vu_dev *dev, struct vu_ctrl_msg *msg, int timeout_ms)
{
	struct vu_vq *vq = &dev->vqs[VU_CTRL_RXQ];
	uint8_t buf[VU_CTRL_BUF];
	struct virtio_console_control c;
	uint16_t head;
	uint32_t len;
	size_t n;
	int r;

	if (!vu_vq_wait_used(vq, timeout_ms))
		return 0;
	r = vu_vq_get_used(vq, &head, &len);
	if (r <= 0)
		return r < 0 ? r : 0;
	memset(msg, 0, sizeof(*msg));
	n = vu_vq_copy_in(vq, head, len, buf, sizeof(buf));
	msg->len = len;
	if (n >= sizeof(c)) {
		memcpy(&c, buf, sizeof(c));
		msg->id = le32toh(c.id);
		msg->event = le16toh(c.event);
		msg->value = le16toh(c.value);
		memcpy(msg->name, buf + sizeof(c), n - sizeof(c));
	}
	/* Give the buffer back, as the Linux driver does. */
	r = vu_vq_add1(vq, NULL, VU_CTRL_BUF, true);
	if (r >= 0)
		r = vu_vq_kick(vq);
	return r < 0 ? r : 1;
}

/* Reset the device and set up the console's queues, fresh. */
static int vu_console_setup(struct vu_console *con)
{
	bool multi = con->features & VU_F(VIRTIO_CONSOLE_F_MULTIPORT);
	unsigned int num = con->num, slot = con->slot, n = 0, i;
	struct vu_qcfg *qs;
	int r;

	qs = calloc(2 * con->nqports + 2, sizeof(*qs));
	if (!qs)
		return -ENOMEM;
	if (multi) {
		qs[n++] = (struct vu_qcfg){ VU_CTRL_RXQ, num, VU_CTRL_BUF, 0 };
		qs[n++] = (struct vu_qcfg){ VU_CTRL_TXQ, num, VU_CTRL_BUF, 0 };
	}
	for (i = 0; i < con->nqports; i++) {
		qs[n++] = (struct vu_qcfg){ vu_port_rxq(i), num, slot, 0 };
		qs[n++] = (struct vu_qcfg){ vu_port_txq(i), num, slot, 0 };
	}
	r = vu_init(con->dev, con->features, qs, n);
	free(qs);
	return r;
}

int vu_console_init(struct vu_console *con, struct vu_dev *dev,
		    uint64_t features, unsigned int nports, unsigned int num,
		    unsigned int slot_size)
{
	bool multi = features & VU_F(VIRTIO_CONSOLE_F_MULTIPORT);
	uint32_t max = 1;
	int r;

	memset(con, 0, sizeof(*con));
	con->dev = dev;
	con->features = features;
	con->nqports = nports;
	con->num = num;
	con->slot = slot_size;
	if (multi) {
		r = vu_get_config(dev, VU_CFG_MAX_NR_PORTS, &max, sizeof(max));
		if (r)
			return r;
		max = le32toh(max);
	}
	if (!multi)
		nports = 1;
	con->nqports = nports;
	con->nports = max;
	con->ports = calloc(max, sizeof(*con->ports));
	if (!con->ports)
		return -ENOMEM;
	return vu_console_setup(con);
}

void vu_console_free(struct vu_console *con)
{
	free(con->ports);
	con->ports = NULL;
}

__attribute__((format(printf, 2, 3)))
static bool vu_console_bad(struct vu_console *con, const char *fmt, ...)
{
	va_list ap;

	con->unexpected++;
	va_start(ap, fmt);
	vsnprintf(con->why, sizeof(con->why), fmt, ap);
	va_end(ap);
	return false;
}

bool vu_console_account(struct vu_console *con, const struct vu_ctrl_msg *m)
{
	struct vu_port_state *p;

	if (m->len < sizeof(struct virtio_console_control))
		return vu_console_bad(con, "control message of %u bytes",
				      m->len);
	if (m->id >= con->nports)
		return vu_console_bad(con, "%s for port %u >= max_nr_ports %u",
				      vu_event_name(m->event), m->id,
				      con->nports);
	p = &con->ports[m->id];
	switch (m->event) {
	case VIRTIO_CONSOLE_PORT_ADD:
		p->adds++;
		if (p->added)
			return vu_console_bad(con, "port %u added twice", m->id);
		p->added = true;
		return true;
	case VIRTIO_CONSOLE_CONSOLE_PORT:
		p->consoles++;
		if (con->lenient)
			return true;
		if (!p->ready)
			return vu_console_bad(con,
					      "CONSOLE_PORT for port %u before PORT_READY",
					      m->id);
		if (p->names || p->opens || p->consoles > 1)
			return vu_console_bad(con,
					      "CONSOLE_PORT for port %u out of order",
					      m->id);
		p->console = true;
		return true;
	case VIRTIO_CONSOLE_PORT_NAME:
		p->names++;
		snprintf(p->name, sizeof(p->name), "%s", m->name);
		if (!p->ready && !con->lenient)
			return vu_console_bad(con,
					      "PORT_NAME for port %u before PORT_READY",
					      m->id);
		if ((p->opens || p->names > 1) && !con->lenient)
			return vu_console_bad(con,
					      "PORT_NAME for port %u out of order",
					      m->id);
		if (m->len != sizeof(struct virtio_console_control) +
			      strlen(m->name))
			return vu_console_bad(con,
					      "PORT_NAME for port %u: %u bytes for '%s'",
					      m->id, m->len, m->name);
		return true;
	case VIRTIO_CONSOLE_PORT_REMOVE:
		if (m->len != sizeof(struct virtio_console_control))
			return vu_console_bad(con, "PORT_REMOVE for port %u of %u bytes",
					      m->id, m->len);
		if (m->value != 1)
			return vu_console_bad(con, "PORT_REMOVE value %u",
					      m->value);
		/* For a port it does not have, the driver drops it. */
		if (!p->added)
			return true;
		memset(p, 0, sizeof(*p));
		p->removes = 1;
		return true;
	case VIRTIO_CONSOLE_RESIZE:
		p->resizes++;
		if (m->len != sizeof(struct virtio_console_control) + 4)
			return vu_console_bad(con, "RESIZE for port %u of %u bytes",
					      m->id, m->len);
		if ((!p->ready || !p->console) && !con->lenient)
			return vu_console_bad(con,
					      "RESIZE for port %u, not a ready console",
					      m->id);
		memcpy(p->size, m->name, sizeof(p->size));
		p->size[0] = le16toh(p->size[0]);
		p->size[1] = le16toh(p->size[1]);
		return true;
	case VIRTIO_CONSOLE_PORT_OPEN:
		p->opens++;
		p->host_open = m->value;
		if (!p->ready && !con->lenient)
			return vu_console_bad(con,
					      "PORT_OPEN for port %u before PORT_READY",
					      m->id);
		if (m->value > 1)
			return vu_console_bad(con, "PORT_OPEN value %u",
					      m->value);
		return true;
	default:
		return vu_console_bad(con, "unexpected %s (%u) for port %u",
				      vu_event_name(m->event), m->event, m->id);
	}
}

int vu_console_drain(struct vu_console *con, int quiet_ms)
{
	struct vu_ctrl_msg m;
	int n = 0, r;

	while ((r = vu_ctrl_recv(con->dev, &m, quiet_ms)) > 0) {
		vu_console_account(con, &m);
		n++;
	}
	return r < 0 ? r : n;
}

int vu_console_handshake(struct vu_console *con, unsigned int nadd)
{
	unsigned int adds = 0, i;
	struct vu_ctrl_msg m;
	int r;

	r = vu_ctrl_fill(con->dev);
	if (!r)
		r = vu_ctrl_send(con->dev, VIRTIO_CONSOLE_BAD_ID,
				 VIRTIO_CONSOLE_DEVICE_READY, 1);
	if (r)
		return r;
	while (adds < nadd) {
		r = vu_ctrl_recv(con->dev, &m, 5000);
		if (r < 0)
			return r;
		if (!r)
			return vu_fail(ETIMEDOUT, "%u of %u PORT_ADDs", adds,
				       nadd);
		vu_console_account(con, &m);
		if (m.event == VIRTIO_CONSOLE_PORT_ADD)
			adds++;
	}
	for (i = 0; i < con->nports; i++) {
		if (!con->ports[i].added)
			continue;
		con->ports[i].ready = true;
		r = vu_ctrl_send(con->dev, i, VIRTIO_CONSOLE_PORT_READY, 1);
		if (r)
			return r;
	}
	r = vu_console_drain(con, 150);
	return r < 0 ? r : 0;
}

int vu_port_fill_rx(struct vu_dev *dev, unsigned int id, uint32_t len)
{
	struct vu_vq *vq = &dev->vqs[vu_port_rxq(id)];
	int r, n = 0;

	while (vq->nfree) {
		r = vu_vq_add1(vq, NULL, len, true);
		if (r < 0)
			return r;
		n++;
	}
	r = vu_vq_kick(vq);
	return r < 0 ? r : n;
}

int vu_console_open_port(struct vu_console *con, unsigned int id)
{
	struct vu_vq *vq = &con->dev->vqs[vu_port_rxq(id)];
	int r;

	r = vu_port_fill_rx(con->dev, id, vq->slot_size);
	if (r < 0)
		return r;
	if (id < con->nports)
		con->ports[id].guest_open = true;
	return vu_ctrl_send(con->dev, id, VIRTIO_CONSOLE_PORT_OPEN, 1);
}

int vu_console_freeze(struct vu_console *con)
{
	struct vu_dev *dev = con->dev;
	unsigned int i;
	int r;

	r = vu_set_status(dev, 0);
	/* Every buffer is gone; the rings are made anew on restore. */
	for (i = 0; i < dev->nvqs; i++) {
		dev->vqs[i].allocated = false;
		dev->vqs[i].enabled = false;
	}
	return r;
}

int vu_console_restore(struct vu_console *con)
{
	struct vu_port_state *p;
	unsigned int i;
	int r;

	r = vu_console_setup(con);
	if (!r && (con->features & VU_F(VIRTIO_CONSOLE_F_MULTIPORT)))
		r = vu_ctrl_fill(con->dev);
	for (i = 0; !r && i < con->nports; i++) {
		p = &con->ports[i];
		if (!p->added)
			continue;
		if (i < con->nqports)
			vu_port_fill_rx(con->dev, i, con->slot);
		/* What follows PORT_READY is told again. */
		p->consoles = p->names = p->opens = 0;
		p->host_open = false;
		r = vu_ctrl_send(con->dev, i, VIRTIO_CONSOLE_PORT_READY, 1);
		if (!r && p->guest_open)
			r = vu_ctrl_send(con->dev, i, VIRTIO_CONSOLE_PORT_OPEN,
					 1);
	}
	return r;
}

int vu_port_send(struct vu_dev *dev, unsigned int id, const void *buf,
		 size_t len, unsigned int segs, bool indirect)
{
	struct vu_vq *vq = &dev->vqs[vu_port_txq(id)];
	struct vu_seg s[VU_MAX_SEGS];
	size_t off = 0, n;
	unsigned int i;
	int r;

	if (!segs || segs > VU_MAX_SEGS)
		return -EINVAL;
	for (i = 0; i < segs; i++) {
		n = len / segs + (i < len % segs);
		s[i] = (struct vu_seg){ (const uint8_t *)buf + off, n, false };
		off += n;
	}
	r = vu_vq_add(vq, s, segs, indirect, 0);
	if (r < 0)
		return r;
	vu_vq_kick(vq);
	return r;
}

static unsigned int vu_rand_upto(uint64_t *seed, unsigned int max)
{
	return max <= 1 ? 1 : 1 + vu_rand(seed) % max;
}

static void vu_xfer_defaults(struct vu_vq *vq, struct vu_xfer *x)
{
	if (!x->max_chunk)
		x->max_chunk = vq->slot_size;
	if (!x->max_segs)
		x->max_segs = 1;
	if (x->max_segs > VU_MAX_SEGS)
		x->max_segs = VU_MAX_SEGS;
	if (!x->max_io)
		x->max_io = 65536;
	if (!x->timeout_ms)
		x->timeout_ms = 5000;
	x->done = 0;
	x->chains = 0;
}

/* Shape of the next chain: segment count, total length, indirect. */
static uint32_t vu_xfer_shape(struct vu_vq *vq, struct vu_xfer *x,
			      size_t left, unsigned int *segs, bool *indirect)
{
	uint32_t len = vu_rand_upto(&x->seed, x->max_chunk);

	*indirect = x->indirect &&
		    (vq->dev->features & VU_F(VIRTIO_RING_F_INDIRECT_DESC)) &&
		    (vu_rand(&x->seed) & 1);
	*segs = vu_rand_upto(&x->seed, x->max_segs);
	if (*indirect) {
		if (len > vq->slot_size)
			len = vq->slot_size;
	} else {
		if (*segs > vq->nfree)
			*segs = vq->nfree;
		if (len > *segs * vq->slot_size)
			len = *segs * vq->slot_size;
	}
	if (len > left)
		len = left;
	if (*segs > len)
		*segs = len;
	return len;
}

int vu_xfer_g2h(struct vu_dev *dev, unsigned int id, int hostfd,
		const void *data, size_t len, struct vu_xfer *x)
{
	struct vu_vq *vq = &dev->vqs[vu_port_txq(id)];
	const uint8_t *src = data;
	size_t sent = 0, got = 0;
	uint64_t last = vu_now_ms();
	uint8_t *buf;
	uint16_t head;
	uint32_t ulen;
	int r = 0;

	vu_xfer_defaults(vq, x);
	buf = malloc(x->max_io);
	if (!buf)
		return -ENOMEM;
	x->crc_sent = vu_crc32(0, data, len);
	x->crc_got = 0;
	while (got < len) {
		bool progress = false;

		while (sent < len && vq->nfree) {
			unsigned int segs;
			bool ind;
			uint32_t n = vu_xfer_shape(vq, x, len - sent, &segs,
						   &ind);

			if (!ind && vq->nfree < segs)
				break;
			r = vu_port_send(dev, id, src + sent, n, segs, ind);
			if (r < 0) {
				r = vu_fail(-r, "port %u: posting %u bytes", id,
					    n);
				goto out;
			}
			sent += n;
			x->chains++;
			progress = true;
		}

		ssize_t want = vu_rand_upto(&x->seed, x->max_io);
		ssize_t n;

		if ((size_t)want > len - got)
			want = len - got;
		n = read(hostfd, buf, want);
		if (n > 0) {
			x->crc_got = vu_crc32(x->crc_got, buf, n);
			if (memcmp(buf, src + got, n)) {
				r = vu_fail(0, "port %u: host read wrong bytes at offset %zu",
					    id, got);
				goto out;
			}
			got += n;
			progress = true;
		} else if (n == 0) {
			r = vu_fail(0, "port %u: host read end of file after %zu of %zu bytes",
				    id, got, len);
			goto out;
		} else if (errno != EAGAIN) {
			r = vu_fail(errno, "port %u: host read after %zu of %zu bytes",
				    id, got, len);
			goto out;
		}
		while ((r = vu_vq_get_used(vq, &head, &ulen)) > 0)
			progress = true;
		if (r < 0) {
			r = vu_fail(EPROTO, "port %u: %s", id,
				    dev->last_proto_error);
			goto out;
		}
		if (progress) {
			last = vu_now_ms();
		} else {
			if (vu_now_ms() - last > (uint64_t)x->timeout_ms) {
				r = vu_fail(ETIMEDOUT, "port %u: guest to host stalled at %zu of %zu bytes",
					    id, got, len);
				goto out;
			}
			vu_poll(hostfd, POLLIN, 20);
		}
	}
	/* Every chain comes back once it is read. */
	while (vq->nfree < vq->num && vu_vq_wait_used(vq, x->timeout_ms)) {
		r = vu_vq_get_used(vq, &head, &ulen);
		if (r < 0)
			break;
	}
	if (vq->nfree < vq->num)
		r = vu_fail(ETIMEDOUT, "port %u: %u transmit buffers not returned",
			    id, vq->num - vq->nfree);
	else
		r = 0;
out:
	x->done = got;
	free(buf);
	return r;
}

int vu_xfer_h2g(struct vu_dev *dev, unsigned int id, int hostfd,
		const void *data, size_t len, struct vu_xfer *x)
{
	struct vu_vq *vq = &dev->vqs[vu_port_rxq(id)];
	const uint8_t *src = data;
	size_t written = 0, got = 0;
	uint64_t last = vu_now_ms();
	uint8_t *buf;
	uint16_t head;
	uint32_t ulen;
	int r = 0;

	vu_xfer_defaults(vq, x);
	buf = malloc(VU_MAX_SEGS * (size_t)vq->slot_size);
	if (!buf)
		return -ENOMEM;
	x->crc_sent = vu_crc32(0, data, len);
	x->crc_got = 0;
	while (got < len) {
		bool progress = false, posted = false;

		while (vq->nfree) {
			struct vu_seg segs[VU_MAX_SEGS];
			unsigned int nsegs, i;
			bool ind;
			uint32_t n = vu_xfer_shape(vq, x, (size_t)-1, &nsegs,
						   &ind);

			for (i = 0; i < nsegs; i++) {
				segs[i].data = NULL;
				segs[i].write = true;
				segs[i].len = n / nsegs + (i < n % nsegs);
			}
			r = vu_vq_add(vq, segs, nsegs, ind, 0);
			if (r < 0)
				break;
			x->chains++;
			posted = true;
		}
		if (posted)
			vu_vq_kick(vq);

		if (written < len) {
			ssize_t want = vu_rand_upto(&x->seed, x->max_io);
			ssize_t n;

			if ((size_t)want > len - written)
				want = len - written;
			n = write(hostfd, src + written, want);
			if (n > 0) {
				written += n;
				progress = true;
			} else if (n == 0 || errno != EAGAIN) {
				r = vu_fail(n ? errno : EIO,
					    "port %u: host write after %zu of %zu bytes",
					    id, written, len);
				goto out;
			}
		}
		while ((r = vu_vq_get_used(vq, &head, &ulen)) > 0) {
			size_t n = vu_vq_copy_in(vq, head, ulen, buf,
						 VU_MAX_SEGS * (size_t)vq->slot_size);

			if (n != ulen || got + n > written) {
				r = vu_fail(0, "port %u: used length %u (copied %zu) at %zu, host wrote %zu",
					    id, ulen, n, got, written);
				goto out;
			}
			x->crc_got = vu_crc32(x->crc_got, buf, n);
			if (memcmp(buf, src + got, n)) {
				r = vu_fail(0, "port %u: guest received wrong bytes at offset %zu",
					    id, got);
				goto out;
			}
			got += n;
			progress = true;
		}
		if (r < 0) {
			r = vu_fail(EPROTO, "port %u: %s", id,
				    dev->last_proto_error);
			goto out;
		}
		if (progress) {
			last = vu_now_ms();
		} else {
			if (vu_now_ms() - last > (uint64_t)x->timeout_ms) {
				r = vu_fail(ETIMEDOUT, "port %u: host to guest stalled at %zu of %zu bytes (%zu written)",
					    id, got, len, written);
				goto out;
			}
			if (written < len)
				vu_poll(hostfd, POLLOUT, 20);
			else
				vu_vq_wait_used(vq, 20);
		}
	}
	r = 0;
out:
	x->done = got;
	free(buf);
	return r;
}
