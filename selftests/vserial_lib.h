/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vserial_lib.h - helpers of the vdpa_vserial selftests that drive a
 * device through virtio_vdpa and the kernel's own virtio_console driver
 * (vserial_test, port_test): devices, both ends of their ports, data
 * streams, blocking calls, the kernel log.
 */
#ifndef VSERIAL_LIB_H
#define VSERIAL_LIB_H

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

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

#define VS_MOD			"vdpa_vserial"
#define VS_MGMTDEV		"vserial"
#define VS_DEV			"vs0"
#define VS_DEV2			"vs1"
#define VS_PARAMS		"/sys/module/" VS_MOD "/parameters/"
#define VS_DEF_PORTS		"console:,org.qemu.guest_agent.0"
#define VS_DEF_MAX_PORTS	"31"
#define VS_CLASS		"/sys/class/vserial"
#define VS_VDPA_BUS		"/sys/bus/vdpa/devices"
#define VS_CFG			"/sys/kernel/config/" VS_MOD

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
int vs_read_str(const char *path, char *buf, size_t size);

/* Integer value of a sysfs file, or LLONG_MIN. */
long long vs_read_ll(const char *path);

/* Write a string in one write(2); 0 or -errno. */
int vs_write_str(const char *path, const char *s);

bool vs_exists(const char *path);

/* Run a shell command; its exit status, or -1. */
int __attribute__((format(printf, 1, 2))) vs_run(const char *fmt, ...);

/* Wait until the file at @path reads @want; 0, or -1 after @timeout_ms. */
int vs_wait_str(const char *path, const char *want, int timeout_ms);

/* Wait until @path exists (or, !@exists, is gone); 0, or -1. */
int vs_wait_exists(const char *path, bool exists, int timeout_ms);

/* Index of the virtio device virtio_vdpa made of @name, or -1. */
int vs_dev_virtio(const char *name);

void vs_settle(void);

/* ---- vDPA devices over generic netlink ("vdpa dev add/del") ---- */

struct vs_nlmsg {
	struct nlmsghdr n;
	struct genlmsghdr g;
	char buf[512];
};

/* "vdpa dev add name @name mgmtdev vserial [device_features *@features]" */
int vs_dev_add(const char *name, const uint64_t *features);

/* "vdpa dev del @name" */
int vs_dev_del(const char *name);

bool vs_dev_exists(const char *name);

int vs_param_set(const char *param, const char *value);

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

long long vs_attr(const struct vs_port *p, const char *attr);

int vs_wait_attr(const struct vs_port *p, const char *attr,
		 const char *want, int timeout_ms);

/* Host ends of device @name, sorted by port id; their number. */
int vs_dev_scan(struct vs_dev *d, const char *name);

/* Number of /sys/class/vserial entries (all devices). */
int vs_class_count(void);

/* Bit K set: /dev/hvcK is backed by a live console (it opens). */
unsigned int vs_hvc_live(void);

struct vs_port *vs_port_by_name(struct vs_dev *d, const char *name);

struct vs_port *vs_port_by_id(struct vs_dev *d, unsigned int id);

/*
 * Wait until device @name has @nports host ends and the guest driver has
 * set up every port: data ports have their /dev/vportXpID (and, if
 * named, their name and udev link), console ports are connected and
 * port 0's console is a new /dev/hvcK (not in @hvc_before).
 */
int vs_dev_wait(struct vs_dev *d, const char *name, int nports,
		unsigned int hvc_before, int timeout_ms);

/*
 * Set the "ports" parameter (unless NULL), add device VS_DEV (features
 * unless NULL) and wait for its @nports ports on both sides.
 */
int vs_create(struct vs_dev *d, const char *ports,
	      const uint64_t *features, int nports);

int vs_destroy(void);

bool vs_module_loaded(void);

/*
 * Remove what mkdir made in configfs (templates, ports) and wait until
 * no device-less directory is left; 0 or -1.
 */
int vs_cfg_reset(void);

/*
 * Back to a known state: module and virtio_vdpa loaded, no device,
 * default parameters.  Used before and after every test (a test killed
 * by its timeout leaves its device behind).
 */
int vs_env_reset(void);

/* ---- waiting on file descriptors ---- */

/*
 * Poll @fd until its events include all of @set and none of @clear;
 * returns the last revents, or -1 if that did not happen in @timeout_ms
 * (after saying what was seen).
 */
int vs_wait_poll(int fd, short set, short clear, int timeout_ms);

/* Current poll events of @fd, without waiting. */
short vs_revents(int fd);

/*
 * Read up to @len bytes within @timeout_ms, waiting with poll; stops at
 * end of file.  Returns the bytes read, or -1 on an error.
 */
ssize_t vs_read_full(int fd, void *buf, size_t len, int timeout_ms);

/* Write @len bytes within @timeout_ms; returns the bytes written or -1. */
ssize_t vs_write_full(int fd, const void *buf, size_t len,
		      int timeout_ms);

/* ---- pseudo-random data: byte @off of stream @seed ---- */

static inline uint64_t vs_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void vs_pattern(uint64_t seed, uint64_t off, void *buf, size_t len);

/* Offset of the first byte of @buf that is not stream @seed at @off, or -1. */
int64_t vs_pattern_check(uint64_t seed, uint64_t off, const void *buf,
			 size_t len);

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

/*
 * splice(2) to a vport returning 0 with data left in the pipe means
 * "retry".  With an empty pipe, the guest driver took the pages and
 * dropped them: virtio_console's splice_write frees its buffer when the
 * ring lacks descriptors for the chain (-ENOSPC, possible without
 * INDIRECT when chains differ in length).  That is a guest driver bug,
 * reported as EPIPE.
 */
bool vs_pipe_empty(int fd);

void vs_xfer_init(struct vs_xfer *x, const char *what, int fd,
		  bool writer, enum vs_io io, uint64_t seed,
		  uint64_t total, size_t chunk, bool fixed);

int vs_xfer_start(struct vs_xfer *x);

uint64_t vs_xfer_done(struct vs_xfer *x);

bool vs_xfer_finished(struct vs_xfer *x);

/*
 * Wait for transfers @x[0..@n-1] to end.  Gives up when none has made
 * progress for @stall_ms, or after @max_ms.  Returns 0 if all ended.
 */
int vs_xfer_wait(struct vs_xfer *x, int n, int stall_ms, int max_ms);

/* An ended transfer moved all its bytes, correctly: 0, else -1. */
int vs_xfer_ok(struct vs_xfer *x);

/*
 * Wait until @x has made no progress for @quiet_ms (at most @max_ms).
 * Returns true if it is then still running, i.e. blocked.
 */
bool vs_xfer_blocked(struct vs_xfer *x, int quiet_ms, int max_ms);

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

int vs_call_start(struct vs_call *c, int fd, bool write,
		  const void *buf, size_t len);

bool vs_call_finished(struct vs_call *c);

/* Wait up to @max_ms for @c's call to return; true, joined, if it did. */
bool vs_call_wait(struct vs_call *c, int max_ms);

/*
 * read(2) that must return soon: its result (errno set), or -2 if it is
 * still blocked after @ms (the thread is then left behind, blocked).
 */
ssize_t vs_read_within(int fd, void *buf, size_t len, int ms);

/*
 * Send @sig to @c's thread every @period_ms until its call returns, at
 * most for @max_ms (the first signal may come before the call blocks).
 * Returns true, with the thread joined, if the call returned.
 */
bool vs_call_interrupt(struct vs_call *c, int sig, int period_ms,
		       int max_ms);

/* Field @field of /proc/meminfo in KiB, after dropping caches; or -1. */
long long vs_meminfo_kib(const char *field);

/* /dev/kmsg, positioned after the messages already logged. */
int vs_kmsg_open(void);

/* Print and count the kernel's bad news since vs_kmsg_open(). */
int vs_kmsg_bad(int fd);

/* A handler without SA_RESTART: blocked calls fail with EINTR. */
void vs_catch(int sig);

/*
 * Open the host end of @p, then the guest end, and wait until each side
 * sees the other.  Returns 0 with the two descriptors, or -1.
 */
int vs_connect(struct vs_port *p, int hflags, int gflags, int *hfd,
	       int *gfd);

#endif /* VSERIAL_LIB_H */
