// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_fuzz - random hostile drivers for vdpa_vserial over vhost-vdpa
 *
 * Usage: vhost_fuzz [SECONDS [SEED]] [kselftest harness options]
 *
 * Runs episodes for SECONDS (default 20, or $VHOST_FUZZ_SECONDS) with
 * SEED (default: time based, or $VHOST_FUZZ_SEED; printed, so a run can
 * be repeated).  Each episode resets and initialises the victim device
 * (vsf0) with random features, ring sizes, buffer sizes and ring start
 * indexes, runs the control handshake and a small transfer (the device
 * must always recover), then a random mix of:
 *
 *   valid transmit chains and receive buffers, host reads and writes;
 *   mutated descriptors (addresses at the edges of, outside and across
 *   mappings, in a read-only canary page and a write-only secret page,
 *   wrapping lengths, random flags and next indexes, indirect tables),
 *   random avail entries and avail index jumps, garbage descriptor
 *   tables, random and malformed control messages;
 *   IOTLB pages invalidated or remapped read-only/write-only;
 *   kicks, suspend/resume, vring base reads, config space accesses,
 *   status writes, host end open/close, resets.
 *
 * After every episode it checks what must hold whatever the driver does:
 * no kernel warning or oops, NEEDS_RESET only after a malformed request,
 * no unexpected status bit, no used id beyond the ring, guard pages and
 * the read-only canary unchanged, the write-only secret never read, host
 * ends failing only with EAGAIN or EIO and POLLERR only with NEEDS_RESET,
 * nothing moving while suspended, the control protocol kept, and a second
 * device (vsf1) moving data all along.  It prints the episode count.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "vdpa_user.h"

#define VICTIM		"vsf0"
#define OTHER		"vsf1"
#define VPORTS		"console:,fz.one,fz.two"
#define NPORTS		3
/* The victim's max_nr_ports: ids NPORTS.. exist in config space only. */
#define MAX_PORTS	8
#define MAX_NUM		64
#define MAX_SLOT	4096
#define ARENA		(4 << 20)
#define RO_IOVA		0x20000000ULL	/* canary page, read-only */
#define WO_IOVA		0x20001000ULL	/* secret page, write-only */
#define HOLE_IOVA	0x30000000ULL	/* nothing mapped */
#define SECRET		"FUZZ-SECRET-WO!!"
#define NLOG		24

static unsigned int fuzz_seconds = 20;
static uint64_t fuzz_seed;

struct fz {
	struct vu_dev *v, *o;
	struct vu_console vc, oc;
	int host[NPORTS];		/* victim's host ends, O_NONBLOCK */
	int ohost;			/* bystander's port 1 */
	uint8_t *ro, *wo;		/* canary and secret pages */
	int kmsg;
	uint64_t rng;
	uint64_t features;
	unsigned int nports;		/* ports with queues this episode */
	bool dirty;			/* a malformed request was made */
	bool ctrl_dirty;		/* control receive ring tampered */
	bool rings_exposed;		/* a buffer may cover a ring */
	bool ended;			/* the device was reset mid-episode */
	char log[NLOG][160];
	unsigned int nlog;
	/* Statistics. */
	unsigned long episodes, actions, needs_reset, host_bytes;
	unsigned long eio, bystander;
	/* Concurrent host end I/O, paused by holding io_lock. */
	pthread_t io_thread;
	pthread_mutex_t io_lock;
	bool io_running;
	volatile bool io_stop;
	volatile int io_error;		/* errno the thread saw, or -1 */
	unsigned long io_ops;
};

__attribute__((format(printf, 2, 3)))
static void fz_log(struct fz *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->log[f->nlog % NLOG], sizeof(f->log[0]), fmt, ap);
	va_end(ap);
	f->nlog++;
}

static void fz_dump(struct fz *f)
{
	unsigned int i = f->nlog > NLOG ? f->nlog - NLOG : 0;

	ksft_print_msg("seed %llu, episode %lu; last actions:\n",
		       (unsigned long long)fuzz_seed, f->episodes);
	for (; i < f->nlog; i++)
		ksft_print_msg("  %s\n", f->log[i % NLOG]);
}

static uint32_t rnd(struct fz *f, uint32_t n)
{
	return n ? vu_rand(&f->rng) % n : 0;
}

static bool chance(struct fz *f, unsigned int percent)
{
	return rnd(f, 100) < percent;
}

/*
 * Do 8 bytes of @b, at any offset, come from the write-only page (the
 * secret repeated)?  A leak may be short and need not be aligned.
 */
static bool leaks_secret(const void *b, size_t n)
{
	static const char pat[] = SECRET SECRET;
	size_t i;

	for (i = 0; i + 8 <= n; i++)
		if (memmem(pat, sizeof(pat) - 1, (const char *)b + i, 8))
			return true;
	return false;
}

/* Kernel log lines that mean the host is not healthy. */
static const char *const bad_kmsg[] = {
	"WARNING:", "BUG:", "Oops", "general protection", "Call Trace",
	"UBSAN", "KASAN", "refcount_t", "list_add corruption",
	"list_del corruption", "soft lockup", "hung_task", "stall",
};

static const char *kmsg_bad(struct fz *f)
{
	static char rec[8192];
	ssize_t n;
	size_t i;

	for (;;) {
		n = read(f->kmsg, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n < 0 && errno != EAGAIN)
			return "the kernel log cannot be read";
		if (n <= 0)
			return NULL;
		rec[n] = '\0';
		for (i = 0; i < sizeof(bad_kmsg) / sizeof(bad_kmsg[0]); i++)
			if (strstr(rec, bad_kmsg[i]))
				return strchr(rec, ';') ?: rec;
	}
}

/* ---- Addresses a mutated descriptor may point at ---- */

static uint64_t fz_addr(struct fz *f, struct vu_vq *vq)
{
	struct vu_dev *d = f->v;

	switch (rnd(f, 12)) {
	case 0:
		return RO_IOVA + rnd(f, VU_PAGE_SIZE);
	case 1:
		return WO_IOVA + rnd(f, VU_PAGE_SIZE);
	case 2:
		return HOLE_IOVA + rnd(f, 1 << 20);
	case 3:
		return d->arena_iova + d->arena_size - rnd(f, 64);
	case 4:
		return d->arena_iova - rnd(f, 64);
	case 5:
		return ~0ULL - rnd(f, 64);
	case 6:
		return rnd(f, 4096);
	case 7:
		return vu_rand(&f->rng);
	case 8:
		/* The device may then write over the rings themselves. */
		f->rings_exposed = true;
		return vq->desc_iova + rnd(f, 16 * vq->num);
	default:
		return vq->slots_iova + rnd(f, vq->num) * vq->slot_stride +
		       rnd(f, 64);
	}
}

static uint32_t fz_len(struct fz *f, struct vu_vq *vq)
{
	switch (rnd(f, 8)) {
	case 0:
		return 0;
	case 1:
		return 0xffffffff - rnd(f, 16);
	case 2:
		return vu_rand(&f->rng);
	case 3:
		return 16 * (1 + rnd(f, 1100));
	default:
		return 1 + rnd(f, vq->slot_size);
	}
}

/* ---- Actions ---- */

static struct vu_vq *fz_port_vq(struct fz *f, bool tx)
{
	unsigned int id = rnd(f, f->nports);

	return &f->v->vqs[tx ? vu_port_txq(id) : vu_port_rxq(id)];
}

static struct vu_vq *fz_any_vq(struct fz *f)
{
	unsigned int n = 2 * f->nports;
	unsigned int i = rnd(f, n + ((f->features &
				     VU_F(VIRTIO_CONSOLE_F_MULTIPORT)) ? 2 : 0));

	if (i >= n)
		return &f->v->vqs[VU_CTRL_RXQ + i - n];
	return &f->v->vqs[i < 2 ? i : i + 2];
}

static void fz_valid_tx(struct fz *f)
{
	struct vu_vq *vq = fz_port_vq(f, true);
	unsigned int id = vq->idx < 2 ? 0 : vq->idx / 2 - 1;
	unsigned int segs = 1 + rnd(f, 4);
	bool ind = (f->features & VU_F(VIRTIO_RING_F_INDIRECT_DESC)) &&
		   chance(f, 40);
	uint8_t buf[4 * MAX_SLOT];
	size_t len = segs + rnd(f, (ind ? 1 : segs) * vq->slot_size - segs);
	int r;

	vu_fill_random(&f->rng, buf, len);
	r = vu_port_send(f->v, id, buf, len, segs, ind);
	fz_log(f, "tx port %u: %zu bytes, %u segs%s: %d", id, len, segs,
	       ind ? " indirect" : "", r);
}

static void fz_valid_rx(struct fz *f)
{
	struct vu_vq *vq = fz_port_vq(f, false);
	int n = 0;

	while (vq->nfree && n < 8 &&
	       vu_vq_add1(vq, NULL, 1 + rnd(f, vq->slot_size), true) >= 0)
		n++;
	vu_vq_kick(vq);
	fz_log(f, "rx queue %u: %d buffers", vq->idx, n);
}

/* A chain whose descriptors are mutated one field at a time. */
static void fz_mutated_chain(struct fz *f)
{
	struct vu_vq *vq = chance(f, 80) ? fz_port_vq(f, chance(f, 50)) :
		       fz_any_vq(f);
	uint16_t d[4], flags;
	unsigned int n, i, which;
	bool ind = chance(f, 25);
	struct vring_desc *t;

	if (vq->nfree < 4)
		return;
	n = 1 + rnd(f, 4);
	for (i = 0; i < n; i++)
		d[i] = vq->free[--vq->nfree];
	flags = vq->idx & 1 ? 0 : VRING_DESC_F_WRITE;
	for (i = 0; i < n; i++)
		vu_desc_set(&vq->desc[d[i]],
			    vq->slots_iova + (uint64_t)d[i] * vq->slot_stride,
			    1 + rnd(f, vq->slot_size),
			    flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			    i + 1 < n ? d[i + 1] : 0);
	if (ind) {
		/* The chain moves into an indirect table of the head. */
		t = vq->itabs + (size_t)d[0] * VU_MAX_SEGS;
		for (i = 0; i < n; i++) {
			t[i] = vq->desc[d[i]];
			t[i].next = htole16(i + 1);
		}
		vu_desc_set(&vq->desc[d[0]],
			    vq->itabs_iova + (uint64_t)d[0] * VU_MAX_SEGS * 16,
			    n * 16, VRING_DESC_F_INDIRECT, 0);
	} else {
		t = vq->desc;
	}
	which = ind ? rnd(f, n) : d[rnd(f, n)];
	switch (rnd(f, 6)) {
	case 0:
		t[which].addr = htole64(fz_addr(f, vq));
		break;
	case 1:
		t[which].len = htole32(fz_len(f, vq));
		break;
	case 2:
		t[which].flags = htole16(rnd(f, 8) | (chance(f, 10) ?
					 vu_rand(&f->rng) : 0));
		break;
	case 3:
		t[which].next = htole16(chance(f, 50) ? rnd(f, vq->num + 2) :
					vu_rand(&f->rng));
		t[which].flags |= htole16(VRING_DESC_F_NEXT);
		break;
	case 4:
		/* The indirect descriptor itself. */
		vq->desc[d[0]].len = htole32(fz_len(f, vq));
		if (chance(f, 30))
			vq->desc[d[0]].flags |= htole16(VRING_DESC_F_NEXT |
							VRING_DESC_F_INDIRECT);
		break;
	default:
		t[which].addr = htole64(fz_addr(f, vq));
		t[which].len = htole32(fz_len(f, vq));
		break;
	}
	vu_vq_publish(vq, d[0]);
	vu_vq_kick(vq);
	f->dirty = true;
	if (vq->idx == VU_CTRL_RXQ)
		f->ctrl_dirty = true;
	fz_log(f, "mutated chain on queue %u: %u descs%s, head %u", vq->idx,
	       n, ind ? " indirect" : "", d[0]);
}

/* Random bytes in descriptors, random heads, an avail index jump. */
static void fz_garbage(struct fz *f)
{
	struct vu_vq *vq = fz_any_vq(f);
	unsigned int i, n;

	switch (rnd(f, 3)) {
	case 0:
		n = 1 + rnd(f, 4);
		for (i = 0; i < n && vq->nfree; i++) {
			uint16_t h = vq->free[--vq->nfree];

			vu_fill_random(&f->rng, &vq->desc[h], 16);
			vu_vq_publish(vq, h);
		}
		fz_log(f, "garbage descriptors on queue %u", vq->idx);
		break;
	case 1:
		vu_vq_publish(vq, chance(f, 50) ? vq->num + rnd(f, 8) :
			      vu_rand(&f->rng));
		fz_log(f, "bad head on queue %u", vq->idx);
		break;
	default:
		vq->avail_idx += vq->num + 1 + rnd(f, 0x8000);
		__atomic_store_n(&vq->avail->idx, htole16(vq->avail_idx),
				 __ATOMIC_RELEASE);
		fz_log(f, "avail index of queue %u jumps to %u", vq->idx,
		       vq->avail_idx);
		break;
	}
	vu_vq_kick(vq);
	f->dirty = true;
	if (vq->idx == VU_CTRL_RXQ)
		f->ctrl_dirty = true;
}

/* Control messages: random events, ids, values, lengths. */
static void fz_ctrl(struct fz *f)
{
	struct vu_vq *vq = &f->v->vqs[VU_CTRL_TXQ];
	uint8_t m[32];
	uint32_t id, len;
	uint16_t ev, val;

	if (!(f->features & VU_F(VIRTIO_CONSOLE_F_MULTIPORT)) || !vq->nfree)
		return;
	id = chance(f, 60) ? rnd(f, NPORTS + 2) :
	     chance(f, 50) ? VIRTIO_CONSOLE_BAD_ID : vu_rand(&f->rng);
	ev = chance(f, 80) ? rnd(f, 9) : vu_rand(&f->rng);
	val = chance(f, 80) ? rnd(f, 2) : vu_rand(&f->rng);
	vu_fill_random(&f->rng, m, sizeof(m));
	id = htole32(id);
	ev = htole16(ev);
	val = htole16(val);
	memcpy(m, &id, 4);
	memcpy(m + 4, &ev, 2);
	memcpy(m + 6, &val, 2);
	len = chance(f, 70) ? 8 : rnd(f, sizeof(m) + 1);
	/* The device answers every PORT_READY, as often as it is asked. */
	if (len >= 8 && le16toh(ev) == VIRTIO_CONSOLE_PORT_READY)
		f->vc.lenient = true;
	vu_vq_add1(vq, m, len, false);
	vu_vq_kick(vq);
	fz_log(f, "control message id %u event %u value %u, %u bytes",
	       le32toh(id), le16toh(ev), le16toh(val), len);
}

/* Take what the device returned; control messages are checked. */
static void fz_reap(struct fz *f)
{
	struct vu_ctrl_msg m;
	unsigned int i;
	uint16_t head;
	uint32_t len;

	for (i = 0; i < 2 * f->nports; i++) {
		struct vu_vq *vq = &f->v->vqs[i < 2 ? i : i + 2];

		while (vu_vq_get_used(vq, &head, &len))
			;
	}
	if (!(f->features & VU_F(VIRTIO_CONSOLE_F_MULTIPORT)))
		return;
	while (vu_vq_get_used(&f->v->vqs[VU_CTRL_TXQ], &head, &len))
		;
	if (f->ctrl_dirty)
		return;
	while (vu_ctrl_recv(f->v, &m, 0) > 0)
		vu_console_account(&f->vc, &m);
}

/* Host end I/O on a random port: only EAGAIN and EIO are acceptable. */
static int fz_host_io(struct __test_metadata *_metadata, struct fz *f)
{
	static uint8_t buf[65536];
	unsigned int id = rnd(f, f->nports);
	size_t len = 1 + rnd(f, sizeof(buf));
	bool rd = chance(f, 60);
	ssize_t n;

	if (f->host[id] < 0)
		return 0;

	if (rd) {
		n = read(f->host[id], buf, len);
		if (n > 0) {
			f->host_bytes += n;
			if (leaks_secret(buf, n)) {
				TH_LOG("host end of port %u read the write-only page",
				       id);
				return -1;
			}
		}
	} else {
		vu_fill_random(&f->rng, buf, len);
		n = write(f->host[id], buf, len);
	}
	fz_log(f, "host %s port %u, %zu bytes: %zd (%s)", rd ? "read" : "write",
	       id, len, n, n < 0 ? strerror(errno) : "ok");
	if (n < 0 && errno == EIO)
		f->eio++;
	if (n < 0 && errno != EAGAIN && errno != EIO) {
		TH_LOG("host end of port %u: %s", id, strerror(errno));
		return -1;
	}
	return 0;
}

/* Pages of the arena unmapped, or mapped read-only or write-only. */
static void fz_iotlb(struct fz *f)
{
	struct vu_dev *d = f->v;
	uint64_t off = rnd(f, d->arena_size / VU_PAGE_SIZE) * VU_PAGE_SIZE;
	uint64_t len = (1 + rnd(f, 8)) * VU_PAGE_SIZE;
	uint8_t perm = 1 + rnd(f, 3);

	if (off + len > d->arena_size)
		len = d->arena_size - off;
	vu_iotlb_invalidate(d, d->arena_iova + off, len);
	if (chance(f, 60))
		vu_iotlb_update(d, d->arena_iova + off, len, d->arena + off,
				perm);
	d->arena_mapped = true;	/* vu_remap_arena() invalidates it all */
	f->dirty = true;
	fz_log(f, "IOTLB: arena +0x%llx, 0x%llx bytes, perm %u",
	       (unsigned long long)off, (unsigned long long)len, perm);
}

/* Suspended, nothing moves; then resume. */
static int fz_suspend(struct __test_metadata *_metadata, struct fz *f)
{
	uint16_t used[2 * NPORTS + 2], base;
	unsigned int i, n = 2 * f->nports + 2;
	int k;

	if (vu_suspend(f->v)) {
		TH_LOG("%s", vu_error());
		return -1;
	}
	for (i = 0; i < n; i++)
		used[i] = vu_vq_used_idx(&f->v->vqs[i]);
	for (k = 0; k < 4; k++) {
		switch (rnd(f, 3)) {
		case 0:
			fz_valid_tx(f);
			break;
		case 1:
			fz_valid_rx(f);
			break;
		default:
			if (fz_host_io(_metadata, f))
				return -1;
		}
	}
	vu_get_vring_base(f->v, rnd(f, n), &base);
	usleep(20000);
	for (i = 0; i < n; i++) {
		if (f->v->vqs[i].num && used[i] != vu_vq_used_idx(&f->v->vqs[i])) {
			TH_LOG("queue %u moved while suspended", i);
			return -1;
		}
	}
	fz_log(f, "suspended and resumed");
	return vu_resume(f->v) ? -1 : 0;
}

static void fz_config(struct fz *f)
{
	uint8_t buf[16];
	unsigned int off = rnd(f, 14), len = 1 + rnd(f, 13);

	vu_fill_random(&f->rng, buf, sizeof(buf));
	if (chance(f, 50))
		vu_get_config(f->v, off, buf, len);
	else
		vu_set_config(f->v, off, buf, len);
	fz_log(f, "config access at %u, %u bytes", off, len);
}

static void fz_host_reopen(struct fz *f)
{
	unsigned int id = rnd(f, NPORTS);
	char path[64];

	pthread_mutex_lock(&f->io_lock);
	if (f->host[id] >= 0)
		close(f->host[id]);
	f->host[id] = -1;
	if (!vu_port_path(VICTIM, id, path, sizeof(path)))
		f->host[id] = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	pthread_mutex_unlock(&f->io_lock);
	fz_log(f, "host end of port %u reopened: %d", id, f->host[id]);
}

static void fz_status(struct fz *f)
{
	uint8_t st = vu_rand(&f->rng);

	if (chance(f, 50)) {
		vu_reset(f->v);
		f->ended = true;
		fz_log(f, "reset");
		return;
	}
	vu_set_status(f->v, st);
	f->dirty = true;
	f->ended = !st;
	fz_log(f, "status 0x%x written", st);
}

/*
 * A second thread on the host ends, racing the driver's resets, IOTLB
 * changes and suspends: reads, writes and polls, all non-blocking.
 */
static void *fz_io_thread(void *arg)
{
	struct fz *f = arg;
	static uint8_t buf[16384];
	uint64_t rng = fuzz_seed ^ 0x5555;
	unsigned int id;
	ssize_t n;
	int fd;

	while (!f->io_stop) {
		pthread_mutex_lock(&f->io_lock);
		id = vu_rand(&rng) % NPORTS;
		fd = f->host[id];
		if (fd >= 0) {
			switch (vu_rand(&rng) % 3) {
			case 0:
				n = read(fd, buf, 1 + vu_rand(&rng) % sizeof(buf));
				if (n > 0 && leaks_secret(buf, n))
					f->io_error = -1;
				break;
			case 1:
				n = write(fd, buf,
					  1 + vu_rand(&rng) % sizeof(buf));
				break;
			default:
				n = vu_poll(fd, POLLIN | POLLOUT, 1) < 0 ?
				    -1 : 0;
				break;
			}
			if (n < 0 && errno != EAGAIN && errno != EIO &&
			    errno != EBADF && !f->io_error)
				f->io_error = errno;
			f->io_ops++;
		}
		pthread_mutex_unlock(&f->io_lock);
		if (!(vu_rand(&rng) % 8))
			usleep(100);
	}
	return NULL;
}

/* ---- Episodes ---- */

static unsigned int pow2(struct fz *f, unsigned int max)
{
	unsigned int n = 1;

	while (n < max && chance(f, 70))
		n <<= 1;
	return n;
}

/* A small transfer through port @id; the device must be healthy. */
static int fz_transfer(struct __test_metadata *_metadata, struct fz *f,
		       struct vu_dev *d, int fd, unsigned int id, size_t len)
{
	struct vu_xfer x = { .seed = vu_rand(&f->rng), .max_segs = 2 };
	uint8_t buf[4096];
	int r;

	vu_fill_random(&f->rng, buf, len);
	/* The I/O thread would take the bytes: hold it off. */
	pthread_mutex_lock(&f->io_lock);
	r = vu_xfer_g2h(d, id, fd, buf, len, &x);
	if (!r)
		r = vu_xfer_h2g(d, id, fd, buf, len, &x);
	pthread_mutex_unlock(&f->io_lock);
	if (r) {
		TH_LOG("%s port %u: %s", d->name, id, vu_error());
		return -1;
	}
	return 0;
}

static int fz_episode(struct __test_metadata *_metadata, struct fz *f)
{
	static const unsigned int slots[] = { 16, 64, 512, 4096 };
	bool multi = chance(f, 90);
	struct vu_qcfg qs[2 * NPORTS + 2];
	unsigned int nq = 0, i, nact, pollerr;
	uint8_t st, allowed;
	const char *bad;

	f->dirty = f->ctrl_dirty = f->ended = f->rings_exposed = false;
	f->features = VU_FEATURES_BASE | (multi ?
		      VU_F(VIRTIO_CONSOLE_F_MULTIPORT) : 0);
	if (chance(f, 50))
		f->features |= VU_F(VIRTIO_RING_F_INDIRECT_DESC);
	if (chance(f, 50))
		f->features |= VU_F(VIRTIO_RING_F_EVENT_IDX);
	if (chance(f, 50))
		f->features |= VU_F(VIRTIO_CONSOLE_F_EMERG_WRITE);
	f->nports = multi ? NPORTS : 1;
	for (i = 0; i < 2 * f->nports; i++) {
		qs[nq].idx = i < 2 ? i : i + 2;
		qs[nq].num = pow2(f, MAX_NUM);
		qs[nq].slot_size = slots[rnd(f, 4)];
		qs[nq].base = chance(f, 30) ? vu_rand(&f->rng) : 0;
		nq++;
	}
	if (multi) {
		for (i = 0; i < 2; i++) {
			qs[nq].idx = VU_CTRL_RXQ + i;
			qs[nq].num = 1 << rnd(f, 7);
			qs[nq].slot_size = VU_CTRL_BUF;
			qs[nq].base = chance(f, 30) ? vu_rand(&f->rng) : 0;
			nq++;
		}
	}
	fz_log(f, "episode %lu: features 0x%llx", f->episodes,
	       (unsigned long long)f->features);
	if (vu_init(f->v, f->features, qs, nq)) {
		TH_LOG("init: %s", vu_error());
		return -1;
	}
	for (i = 0; i < f->v->nvqs; i++)
		f->v->vqs[i].event_kick = chance(f, 50);
	vu_console_free(&f->vc);
	memset(&f->vc, 0, sizeof(f->vc));
	f->vc.dev = f->v;
	f->vc.nports = multi ? MAX_PORTS : 1;
	f->vc.ports = calloc(f->vc.nports, sizeof(*f->vc.ports));
	if (multi) {
		if (vu_console_handshake(&f->vc, NPORTS) || f->vc.unexpected) {
			TH_LOG("handshake: %s %s", vu_error(), f->vc.why);
			return -1;
		}
		for (i = 0; i < NPORTS; i++)
			vu_ctrl_send(f->v, i, VIRTIO_CONSOLE_PORT_OPEN, 1);
	}
	/* The device is healthy again: a clean transfer. */
	i = multi ? 1 + rnd(f, 2) : 0;
	if (!i && f->host[0] >= 0) {
		uint8_t junk[4096];

		/* Console output of earlier episodes, kept for the host. */
		while (read(f->host[0], junk, sizeof(junk)) > 0)
			;
	}
	if (f->host[i] >= 0 &&
	    fz_transfer(_metadata, f, f->v, f->host[i], i, 1 + rnd(f, 4096)))
		return -1;

	nact = 5 + rnd(f, 40);
	for (i = 0; i < nact && !f->ended; i++) {
		unsigned int a = rnd(f, 100);

		f->actions++;
		if (a < 15)
			fz_valid_tx(f);
		else if (a < 25)
			fz_valid_rx(f);
		else if (a < 45) {
			if (fz_host_io(_metadata, f))
				return -1;
		} else if (a < 60)
			fz_mutated_chain(f);
		else if (a < 66)
			fz_garbage(f);
		else if (a < 78)
			fz_ctrl(f);
		else if (a < 81)
			fz_iotlb(f);
		else if (a < 85) {
			if (fz_suspend(_metadata, f))
				return -1;
		} else if (a < 89)
			fz_config(f);
		else if (a < 92)
			fz_host_reopen(f);
		else if (a < 93)
			fz_status(f);
		else {
			struct vu_vq *vq = fz_any_vq(f);

			vu_vq_kick(vq);
			fz_log(f, "kick queue %u", vq->idx);
		}
		fz_reap(f);
	}
	usleep(1000);
	fz_reap(f);

	/* What must hold whatever the driver did. */
	bad = kmsg_bad(f);
	if (bad) {
		TH_LOG("kernel: %s", bad);
		return -1;
	}
	/* POLLERR (a broken queue) comes with NEEDS_RESET. */
	pollerr = 0;
	for (i = 0; i < NPORTS; i++)
		if (f->host[i] >= 0 &&
		    (vu_poll(f->host[i], POLLIN | POLLOUT, 0) & POLLERR))
			pollerr |= 1 << i;
	if (vu_get_status(f->v, &st))
		return -1;
	if (pollerr && !(st & VIRTIO_CONFIG_S_NEEDS_RESET) && !f->ended) {
		/* The device marks the queue, then the status: wait. */
		usleep(20000);
		if (vu_get_status(f->v, &st))
			return -1;
		if (!(st & VIRTIO_CONFIG_S_NEEDS_RESET)) {
			TH_LOG("POLLERR on ports 0x%x without NEEDS_RESET",
			       pollerr);
			return -1;
		}
	}
	if (st & VIRTIO_CONFIG_S_NEEDS_RESET)
		f->needs_reset++;
	allowed = 0xff;
	if (!f->dirty)
		allowed = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			  VIRTIO_CONFIG_S_FEATURES_OK |
			  VIRTIO_CONFIG_S_DRIVER_OK;
	if (f->ended)
		allowed = 0;
	if (st & ~allowed) {
		TH_LOG("status 0x%x after a%s episode", st,
		       f->dirty ? "" : " well-formed");
		return -1;
	}
	if (f->io_error) {
		TH_LOG("host end I/O thread: %s", f->io_error < 0 ?
		       "read the write-only page" : strerror(f->io_error));
		return -1;
	}
	/*
	 * Used ids the driver never made available: the device's doing,
	 * unless the driver gave it a buffer over its own rings.
	 */
	if (f->v->used_oob && !f->rings_exposed) {
		TH_LOG("the device returned %u used ids beyond its rings (%s)",
		       f->v->used_oob, f->v->last_proto_error);
		return -1;
	}
	if (!f->dirty && !f->ended && f->v->proto_errors) {
		TH_LOG("well-formed episode: %s", f->v->last_proto_error);
		return -1;
	}
	if (!f->ctrl_dirty && !f->ended && f->vc.unexpected) {
		TH_LOG("control protocol: %s", f->vc.why);
		return -1;
	}
	if (!vu_canaries_ok(f->v)) {
		TH_LOG("a guard page around the arena was written");
		return -1;
	}
	if (!vu_mem_is(f->ro, VU_CANARY, VU_PAGE_SIZE)) {
		TH_LOG("the read-only canary page was written");
		return -1;
	}
	/* Back to a clean mapping for the next episode. */
	f->v->proto_errors = 0;
	f->v->used_oob = 0;
	if (vu_remap_arena(f->v)) {
		TH_LOG("%s", vu_error());
		return -1;
	}
	return 0;
}

FIXTURE(fuzz) {
	struct fz f;
};

static int fz_side(struct __test_metadata *_metadata, const char *name,
		   const char *ports, struct vu_dev **d)
{
	struct vu_opts opts = { .arena_size = ARENA };

	vu_dev_del(name);
	if (vu_set_params(MAX_PORTS, ports) ||
	    vu_dev_add(name, 0, "vhost_vdpa") ||
	    vu_set_params(VU_DEFAULT_MAX_PORTS, VU_DEFAULT_PORTS) ||
	    vu_open(name, &opts, d)) {
		TH_LOG("%s: %s", name, vu_error());
		return -1;
	}
	return 0;
}

FIXTURE_SETUP(fuzz)
{
	struct fz *f = &self->f;
	struct vu_qcfg qs[2 * NPORTS + 2];
	unsigned int i;
	char path[64];

	memset(f, 0, sizeof(*f));
	for (i = 0; i < NPORTS; i++)
		f->host[i] = -1;
	f->ohost = -1;
	f->kmsg = -1;
	ASSERT_EQ(0, vu_load_modules()) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(0, fz_side(_metadata, VICTIM, VPORTS, &f->v));
	ASSERT_EQ(0, fz_side(_metadata, OTHER, VU_DEFAULT_PORTS, &f->o));

	/* Carve every queue at its largest once; the rest is scratch. */
	for (i = 0; i < 2 * NPORTS + 2; i++)
		qs[i] = (struct vu_qcfg){ i, MAX_NUM, MAX_SLOT, 0 };
	ASSERT_EQ(0, vu_init(f->v, VU_FEATURES_ALL, qs, 2 * NPORTS + 2)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_NE(NULL, vu_alloc(f->v, f->v->arena_size - f->v->arena_used,
				 NULL));
	ASSERT_TRUE(vu_canaries_ok(f->v));

	/* A read-only canary page and a write-only secret page. */
	f->ro = mmap(NULL, 2 * VU_PAGE_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, f->ro);
	f->wo = f->ro + VU_PAGE_SIZE;
	memset(f->ro, VU_CANARY, VU_PAGE_SIZE);
	for (i = 0; i < VU_PAGE_SIZE; i += sizeof(SECRET) - 1)
		memcpy(f->wo + i, SECRET, sizeof(SECRET) - 1);
	ASSERT_EQ(0, vu_iotlb_update(f->v, RO_IOVA, VU_PAGE_SIZE, f->ro,
				     VHOST_ACCESS_RO));
	ASSERT_EQ(0, vu_iotlb_update(f->v, WO_IOVA, VU_PAGE_SIZE, f->wo,
				     VHOST_ACCESS_WO));

	for (i = 0; i < NPORTS; i++) {
		ASSERT_EQ(0, vu_port_path(VICTIM, i, path, sizeof(path)));
		f->host[i] = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		ASSERT_LE(0, f->host[i]);
	}

	/* The bystander, port 1 open on both sides. */
	ASSERT_EQ(0, vu_console_init(&f->oc, f->o, VU_FEATURES_ALL, 2, 32,
				     4096));
	ASSERT_EQ(0, vu_console_handshake(&f->oc, 2)) {
		TH_LOG("%s", vu_error());
	}
	ASSERT_EQ(0, vu_port_path(OTHER, 1, path, sizeof(path)));
	f->ohost = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, f->ohost);
	ASSERT_EQ(0, vu_console_open_port(&f->oc, 1));

	f->kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, f->kmsg);
	if (f->kmsg >= 0)
		lseek(f->kmsg, 0, SEEK_END);

	pthread_mutex_init(&f->io_lock, NULL);
	ASSERT_EQ(0, pthread_create(&f->io_thread, NULL, fz_io_thread, f));
	f->io_running = true;
}

FIXTURE_TEARDOWN(fuzz)
{
	struct fz *f = &self->f;
	unsigned int i;

	if (f->io_running) {
		f->io_stop = true;
		pthread_join(f->io_thread, NULL);
	}
	for (i = 0; i < NPORTS; i++)
		if (f->host[i] >= 0)
			close(f->host[i]);
	if (f->ohost >= 0)
		close(f->ohost);
	if (f->kmsg >= 0)
		close(f->kmsg);
	vu_console_free(&f->vc);
	vu_console_free(&f->oc);
	vu_close(f->v);
	vu_close(f->o);
	if (f->ro && f->ro != MAP_FAILED)
		munmap(f->ro, 2 * VU_PAGE_SIZE);
	vu_dev_del(VICTIM);
	vu_dev_del(OTHER);
	vu_set_params(VU_DEFAULT_MAX_PORTS, VU_DEFAULT_PORTS);
}

TEST_F_TIMEOUT(fuzz, random, 120)
{
	struct fz *f = &self->f;
	uint64_t start = vu_now_ms(), end = start + fuzz_seconds * 1000ULL;
	uint64_t last_other = 0;

	ksft_print_msg("fuzzing for %u s, seed %llu\n", fuzz_seconds,
		       (unsigned long long)fuzz_seed);
	while (vu_now_ms() < end) {
		f->rng = fuzz_seed ^ (0x9e3779b97f4a7c15ULL * (f->episodes + 1));
		if (fz_episode(_metadata, f)) {
			fz_dump(f);
			ASSERT_TRUE(false) {
				TH_LOG("episode %lu failed (repeat with: vhost_fuzz %u %llu)",
				       f->episodes, fuzz_seconds,
				       (unsigned long long)fuzz_seed);
			}
		}
		f->episodes++;
		/* The other device keeps working, every half second. */
		if (vu_now_ms() - last_other > 500) {
			ASSERT_EQ(0, fz_transfer(_metadata, f, f->o, f->ohost,
						 1, 2048)) {
				fz_dump(f);
			}
			f->bystander++;
			last_other = vu_now_ms();
		}
	}
	ksft_print_msg("%lu episodes, %lu actions in %llu ms: %lu ended in NEEDS_RESET, %lu EIO on host ends, %lu host bytes read, %lu concurrent host I/O ops, %lu bystander transfers\n",
		       f->episodes, f->actions,
		       (unsigned long long)(vu_now_ms() - start),
		       f->needs_reset, f->eio, f->host_bytes, f->io_ops,
		       f->bystander);
	ASSERT_LT(0, f->episodes);
	/* Long enough to have hit a malformed ring: the fuzzer works. */
	if (f->episodes >= 50)
		ASSERT_LT(0, f->needs_reset);
}

int main(int argc, char **argv)
{
	const char *env;
	char *end;

	env = getenv("VHOST_FUZZ_SECONDS");
	if (env)
		fuzz_seconds = strtoul(env, NULL, 0);
	env = getenv("VHOST_FUZZ_SEED");
	fuzz_seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
	/* Leading numbers: seconds, then seed; the rest is the harness'. */
	if (argc > 1 && strtoul(argv[1], &end, 0) && !*end) {
		fuzz_seconds = strtoul(argv[1], NULL, 0);
		argv[1] = argv[0];
		argc--;
		argv++;
		if (argc > 1 && (strtoull(argv[1], &end, 0) || argv[1][0] == '0') &&
		    !*end) {
			fuzz_seed = strtoull(argv[1], NULL, 0);
			argv[1] = argv[0];
			argc--;
			argv++;
		}
	}
	_fuzz_random_object->timeout = fuzz_seconds + 120;
	return test_harness_run(argc, argv);
}
