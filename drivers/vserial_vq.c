// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: the device side of split virtqueues (see vserial_vq.h).
 *
 * Distribution kernels do not build vringh, so the device carries its own
 * ring code.  A malformed ring stops the queue and is reported up
 * (vsq_fail()); it never crashes or hangs the host.
 */

#include <linux/bug.h>
#include <linux/compiler.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/string.h>
#include <linux/uio.h>
#include <uapi/linux/virtio_config.h>
#include <uapi/linux/virtio_ring.h>

#include "vserial_vq.h"

/* Ring entries as the device sees them: virtio 1.x is little endian. */
struct vsq_desc {
	__le64 addr;
	__le32 len;
	__le16 flags;
	__le16 next;
};

struct vsq_used_elem {
	__le32 id;
	__le32 len;
};

#define VSQ_DESC_SIZE	sizeof(struct vsq_desc)
#define VSQ_ELEM_SIZE	sizeof(struct vsq_used_elem)

static bool vsq_has_feature(const struct vsq *vq, unsigned int bit)
{
	return READ_ONCE(vq->host->features) & BIT_ULL(bit);
}

static const struct vsm *vsq_mem(const struct vsq *vq)
{
	return &vq->host->mem;
}

void vsq_init(struct vsq *vq, const struct vsq_host *host, u16 idx)
{
	spin_lock_init(&vq->lock);
	vq->host = host;
	vq->idx = idx;
	/* Even queues (port receive, control receive) are filled by us. */
	vq->device_writes = !(idx & 1);
	vsq_reset(vq);
}

/*
 * Where the driver resumes processing: the next available entry, with a
 * chain in flight (popped, partly consumed, not yet used) counting as not
 * processed.  A device restored from this base pops that chain again, and
 * the rings stay consistent (used index == base).
 */
u16 vsq_base(const struct vsq *vq)
{
	return vq->last_avail_idx - vq->chain_active;
}

/*
 * Let go of the active chain without completing it: it goes back to the
 * ring, and if part of it was consumed, a resume point remembers how
 * much (struct vsq_resume).
 */
static void vsq_park(struct vsq *vq)
{
	struct vsq_chain *c = &vq->chain;

	if (!vq->chain_active)
		return;
	WRITE_ONCE(vq->chain_active, false);
	WRITE_ONCE(vq->last_avail_idx, vq->last_avail_idx - 1);
	if (!c->consumed)
		return;
	vq->resume = (struct vsq_resume) {
		.head_addr = c->head_addr,
		.head_len = c->head_len,
		.head_flags = c->head_flags,
		.head = c->head,
		.pos = c->pos,
		.skip = c->consumed,
		.valid = true,
	};
}

/*
 * Back to the state after device reset.  Called with the vq quiesced.
 * The ring's configuration and base are kept aside, and so is a chain in
 * flight, for a driver that brings the same ring back (vsq_continues()).
 */
void vsq_reset(struct vsq *vq)
{
	if (vq->num) {
		vq->saved = (struct vsq_saved) {
			.desc_addr = vq->desc_addr,
			.avail_addr = vq->avail_addr,
			.used_addr = vq->used_addr,
			.num = vq->num,
			.base = vsq_base(vq),
			.valid = true,
		};
	}
	vsq_park(vq);
	vq->desc_addr = 0;
	vq->avail_addr = 0;
	vq->used_addr = 0;
	vq->num = 0;
	WRITE_ONCE(vq->last_avail_idx, 0);
	WRITE_ONCE(vq->avail_idx, 0);
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->ready = false;
	WRITE_ONCE(vq->broken, false);
	vq->completed = 0;
	vq->discarded = 0;
}

/* Drop what was carried across resets.  Called with the vq quiesced. */
void vsq_forget(struct vsq *vq)
{
	vq->resume.valid = false;
	vq->saved.valid = false;
	atomic_set(&vq->fence, 0);
}

/*
 * After a device reset: did the driver bring back the ring as it was --
 * same addresses, size and base, as a VMM restoring a paused guest's
 * queue does -- or set up a new one (a driver that started over, or a
 * guest that suspended and freed its buffers)?  For a new ring, what was
 * carried over is dropped.  Called with the vq quiesced, when the driver
 * is ready; the answer is given once per reset.
 */
bool vsq_continues(struct vsq *vq)
{
	struct vsq_saved *s = &vq->saved;
	bool same;

	same = s->valid && vq->num == s->num &&
	       vq->desc_addr == s->desc_addr &&
	       vq->avail_addr == s->avail_addr &&
	       vq->used_addr == s->used_addr && vq->last_avail_idx == s->base;
	s->valid = false;
	if (!same)
		vsq_forget(vq);
	return same;
}

/*
 * The driver sets the queue state (the base, see vsq_base()).  Setting
 * the state the queue is in (suspend, get, set, resume) keeps a chain in
 * flight where it is: nothing is read twice.
 */
void vsq_set_base(struct vsq *vq, u16 base)
{
	if (base == vsq_base(vq))
		return;
	vsq_park(vq);
	WRITE_ONCE(vq->last_avail_idx, base);
	WRITE_ONCE(vq->avail_idx, base);
	vq->used_idx = base;
	vq->signalled_valid = false;
}

/*
 * Chains popped from before ring position @pos, from now on, are stale:
 * they are returned to the driver unread, and a resume point is void.
 * May be called by anyone; the consumer honours it when it pops.
 */
void vsq_fence(struct vsq *vq, u16 pos)
{
	atomic_set(&vq->fence, VSQ_FENCE_SET | pos);
}

static int vsq_bad(struct vsq *vq, const char *why)
{
	vsq_fail(vq, why);
	return -EIO;
}

/* The ring's index fields: single 16-bit accesses (vsm_load16()). */
static int vsq_get16(struct vsq *vq, u64 iova, u16 *val)
{
	if (vsm_load16(vsq_mem(vq), iova, val))
		return vsq_bad(vq, "ring index not mapped");
	return 0;
}

static int vsq_put16(struct vsq *vq, u64 iova, u16 val)
{
	if (vsm_store16(vsq_mem(vq), iova, val))
		return vsq_bad(vq, "ring index not mapped");
	return 0;
}

/* Layout offsets of the split ring (virtio 1.x, 2.7). */
static u64 vsq_avail_idx_addr(struct vsq *vq)
{
	return vq->avail_addr + offsetof(struct vring_avail, idx);
}

static u64 vsq_avail_ring_addr(struct vsq *vq, u16 i)
{
	return vq->avail_addr + offsetof(struct vring_avail, ring) +
	       (u64)(i % vq->num) * sizeof(__virtio16);
}

static u64 vsq_used_event_addr(struct vsq *vq)
{
	return vq->avail_addr + offsetof(struct vring_avail, ring) +
	       (u64)vq->num * sizeof(__virtio16);
}

static u64 vsq_used_ring_addr(struct vsq *vq, u16 i)
{
	return vq->used_addr + offsetof(struct vring_used, ring) +
	       (u64)(i % vq->num) * VSQ_ELEM_SIZE;
}

static u64 vsq_avail_event_addr(struct vsq *vq)
{
	return vq->used_addr + offsetof(struct vring_used, ring) +
	       (u64)vq->num * VSQ_ELEM_SIZE;
}

/* The driver's ring configuration must make sense before we touch it. */
static bool vsq_layout_ok(struct vsq *vq)
{
	u64 desc_end, avail_end, used_end;

	if (!vq->num || vq->num > VSERIAL_VQ_NUM_MAX || !is_power_of_2(vq->num))
		return false;
	if (!IS_ALIGNED(vq->desc_addr, 16) || !IS_ALIGNED(vq->avail_addr, 2) ||
	    !IS_ALIGNED(vq->used_addr, 4))
		return false;

	desc_end = vq->desc_addr + (u64)vq->num * VSQ_DESC_SIZE;
	avail_end = vsq_used_event_addr(vq) + sizeof(__virtio16);
	used_end = vsq_avail_event_addr(vq) + sizeof(__virtio16);
	return desc_end > vq->desc_addr && avail_end > vq->avail_addr &&
	       used_end > vq->used_addr;
}

/*
 * Is the queue running: ready, not stopped as malformed, the driver up
 * (DRIVER_OK) and the device not suspended?  Nothing touches a ring that
 * is not.
 */
bool vsq_running(const struct vsq *vq)
{
	return vq->ready && !READ_ONCE(vq->broken) &&
	       !READ_ONCE(vq->host->suspended) && READ_ONCE(vq->host->driver_ok);
}

/* May the queue be worked on now?  Checks the driver's layout once. */
bool vsq_usable(struct vsq *vq)
{
	if (!vsq_running(vq))
		return false;
	if (!vsq_layout_ok(vq)) {
		vsq_fail(vq, "invalid ring size or address");
		return false;
	}
	return true;
}

/*
 * Stop a queue the driver has corrupted, and tell the device core, which
 * asks the driver for a reset and logs @why (a static string) later,
 * rate-limited and holding no lock: the engine prints nothing.
 */
void vsq_fail(struct vsq *vq, const char *why)
{
	if (vq->broken)
		return;
	WRITE_ONCE(vq->why, why);
	WRITE_ONCE(vq->broken, true);
	WRITE_ONCE(vq->chain_active, false);
	if (vq->host->broken)
		vq->host->broken(vq);
}

/*
 * Load the next non-empty segment of the active chain.  Returns 1 when a
 * segment is loaded, 0 at the end of the chain, -EIO if it is malformed.
 */
static int vsq_chain_advance(struct vsq *vq)
{
	struct vsq_chain *c = &vq->chain;
	struct vsq_desc desc;
	u16 dflags;
	u64 addr;
	u32 len;

	c->len = 0;
	while (c->has_next) {
		u32 max = c->indirect ? c->table_num : vq->num;
		u64 base = c->indirect ? c->table : vq->desc_addr;

		if (c->next >= max)
			return vsq_bad(vq, "descriptor index out of range");
		/* No chain visits more descriptors than its table has. */
		if (++c->seen > max)
			return vsq_bad(vq, "descriptor chain loops or exceeds the ring");
		vq->walked++;
		if (vsm_read(vsq_mem(vq), base + (u64)c->next * VSQ_DESC_SIZE,
			     &desc, sizeof(desc)))
			return vsq_bad(vq, "descriptor not mapped");

		dflags = le16_to_cpu(desc.flags);
		addr = le64_to_cpu(desc.addr);
		len = le32_to_cpu(desc.len);
		if (c->seen == 1 && !c->indirect) {
			/* The head descriptor: what a resume point compares. */
			c->head_addr = addr;
			c->head_len = len;
			c->head_flags = dflags;
		}

		if (dflags & VRING_DESC_F_INDIRECT) {
			if (c->indirect)
				return vsq_bad(vq, "nested indirect table");
			if (!vsq_has_feature(vq, VIRTIO_RING_F_INDIRECT_DESC))
				return vsq_bad(vq, "indirect descriptor not negotiated");
			if (dflags & VRING_DESC_F_NEXT)
				return vsq_bad(vq, "indirect descriptor with NEXT");
			if (!len || len % VSQ_DESC_SIZE ||
			    len / VSQ_DESC_SIZE > VSERIAL_CHAIN_MAX ||
			    addr + len < addr)
				return vsq_bad(vq, "bad indirect table");
			c->indirect = true;
			c->table = addr;
			c->table_num = len / VSQ_DESC_SIZE;
			c->next = 0;
			c->seen = 0;
			continue;
		}

		c->has_next = dflags & VRING_DESC_F_NEXT;
		c->next = le16_to_cpu(desc.next);
		if (!!(dflags & VRING_DESC_F_WRITE) != vq->device_writes)
			return vsq_bad(vq, vq->device_writes ?
				       "read-only buffer in a receive queue" :
				       "write-only buffer in a transmit queue");
		if (!len)
			continue;
		if (addr + len - 1 < addr)
			return vsq_bad(vq, "buffer wraps the address space");

		c->addr = addr;
		c->len = len;
		c->write = dflags & VRING_DESC_F_WRITE;
		return 1;
	}
	return 0;
}

/*
 * Pass over @n bytes of the active chain as consumed earlier (a resume
 * point), then, if @discard, over the rest of it, unread: returned to the
 * driver as it is, counted in vq->discarded.
 */
static int vsq_chain_skip(struct vsq *vq, u64 n, bool discard)
{
	struct vsq_chain *c = &vq->chain;
	int r;

	while (c->len && (n || discard)) {
		u32 k = n ? min_t(u64, c->len, n) : c->len;

		c->addr += k;
		c->len -= k;
		c->consumed += k;
		if (n) {
			n -= k;
			if (c->write)
				c->written += k;
		} else {
			vq->discarded += k;
		}
		if (!c->len) {
			r = vsq_chain_advance(vq);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Bytes left in the current segment of the active chain. */
u32 vsq_seg_left(const struct vsq *vq)
{
	return vq->chain_active ? vq->chain.len : 0;
}

/* Pass over @n bytes of the active chain unread, as if consumed. */
int vsq_chain_pass(struct vsq *vq, u64 n)
{
	return vsq_chain_skip(vq, n, false);
}

/*
 * Pass over the rest of the active chain unread: it goes back to the
 * driver as it is when completed; counted in vsq_take_discarded().
 */
int vsq_chain_discard(struct vsq *vq)
{
	return vsq_chain_skip(vq, 0, true);
}

/* Is ring position @pos before @fence, by at most a ring's worth? */
static bool vsq_before(const struct vsq *vq, u16 pos, u16 fence)
{
	return (u16)(fence - pos - 1) < vq->num;
}

/*
 * Before the consumer sees the active chain: a chain from before the
 * fence is passed over whole; a chain popped again where a resume point
 * says (@popped: just popped), the same one, is passed over as far as it
 * was consumed.
 */
static int vsq_recognise(struct vsq *vq, bool popped)
{
	struct vsq_chain *c = &vq->chain;
	struct vsq_resume *rp = &vq->resume;
	int fence = atomic_read(&vq->fence);
	bool same;

	if (fence & VSQ_FENCE_SET) {
		rp->valid = false;
		if (vsq_before(vq, c->pos, fence))
			return vsq_chain_skip(vq, 0, true);
		/* Positions only grow: this fence is behind us for good. */
		atomic_cmpxchg(&vq->fence, fence, 0);
	}
	if (!popped || !rp->valid)
		return 0;

	/* A resume point is good for the first chain popped after it. */
	rp->valid = false;
	same = rp->pos == c->pos && rp->head == c->head &&
	       rp->head_addr == c->head_addr && rp->head_len == c->head_len &&
	       rp->head_flags == c->head_flags;
	if (!same)
		return 0;
	return vsq_chain_skip(vq, rp->skip, rp->discard);
}

/*
 * Fetch the driver's available index into the shadow (struct vsq), and
 * check it: the driver may add at most a ring's worth of entries beyond
 * those the device has not consumed.  The ring entries it covers are read
 * after it (the barrier).
 */
static int vsq_fetch_avail(struct vsq *vq)
{
	u16 avail;
	int r;

	r = vsq_get16(vq, vsq_avail_idx_addr(vq), &avail);
	if (r)
		return r;
	if ((u16)(avail - vq->last_avail_idx) > vq->num)
		return vsq_bad(vq, "available index moved beyond the ring size");
	WRITE_ONCE(vq->avail_idx, avail);
	/* Read the ring entries only after seeing the index that covers them. */
	smp_rmb();
	return 0;
}

/*
 * Make the next available chain the active one.  Returns 1 if there is an
 * active chain (its first segment loaded, or empty), 0 if the ring is
 * empty, -EIO if the queue is unusable or the ring is malformed.
 */
int vsq_next_chain(struct vsq *vq)
{
	struct vsq_chain *c = &vq->chain;
	u16 head;
	int r;

	if (!vsq_usable(vq))
		return -EIO;
	if (vq->chain_active) {
		r = vsq_recognise(vq, false);
		return r < 0 ? r : 1;
	}

	if (vq->avail_idx == vq->last_avail_idx) {
		r = vsq_fetch_avail(vq);
		if (r)
			return r;
		if (vq->avail_idx == vq->last_avail_idx)
			return 0;
	}

	r = vsq_get16(vq, vsq_avail_ring_addr(vq, vq->last_avail_idx), &head);
	if (r)
		return r;
	if (head >= vq->num)
		return vsq_bad(vq, "available ring entry out of range");

	memset(c, 0, sizeof(*c));
	c->pos = vq->last_avail_idx;
	WRITE_ONCE(vq->last_avail_idx, c->pos + 1);
	c->head = head;
	c->next = head;
	c->has_next = true;
	WRITE_ONCE(vq->chain_active, true);

	r = vsq_chain_advance(vq);
	if (r >= 0)
		r = vsq_recognise(vq, true);
	return r < 0 ? r : 1;
}

/*
 * Copy up to @len bytes of the active chain into @buf.  Returns the bytes
 * copied, or -EIO if none were and the ring is malformed (a malformed
 * descriptor after some bytes: those bytes, and the queue is stopped).
 */
int vsq_chain_read(struct vsq *vq, void *buf, size_t len)
{
	struct vsq_chain *c = &vq->chain;
	size_t done = 0;
	int r;

	while (done < len && c->len) {
		size_t n = min_t(size_t, c->len, len - done);

		if (vsm_read(vsq_mem(vq), c->addr, buf + done, n))
			return done ?: vsq_bad(vq, "buffer not mapped");
		c->addr += n;
		c->len -= n;
		c->consumed += n;
		done += n;
		if (!c->len) {
			r = vsq_chain_advance(vq);
			/* What was copied is the caller's; the next call fails. */
			if (r < 0)
				return done ?: r;
		}
	}
	return done;
}

/* Copy up to @len bytes of @buf into the active chain. */
int vsq_chain_write(struct vsq *vq, const void *buf, size_t len)
{
	struct vsq_chain *c = &vq->chain;
	size_t done = 0;
	int r;

	while (done < len && c->len) {
		size_t n = min_t(size_t, c->len, len - done);

		if (vsm_write(vsq_mem(vq), c->addr, buf + done, n))
			return vsq_bad(vq, "buffer not mapped");
		c->addr += n;
		c->len -= n;
		c->consumed += n;
		c->written += n;
		done += n;
		if (!c->len) {
			r = vsq_chain_advance(vq);
			if (r < 0)
				return r;
		}
	}
	return done;
}

/*
 * Return the active chain to the driver (not yet visible: vsq_publish).
 * Nothing is completed on a queue that is not running: the chain stays
 * active (a reset parks it).
 */
void vsq_complete(struct vsq *vq)
{
	struct vsq_used_elem elem = {
		.id = cpu_to_le32(vq->chain.head),
		.len = cpu_to_le32(vq->chain.written),
	};

	if (!vsq_running(vq))
		return;
	WRITE_ONCE(vq->chain_active, false);
	if (vsm_write(vsq_mem(vq), vsq_used_ring_addr(vq, vq->used_idx),
		      &elem, sizeof(elem))) {
		vsq_fail(vq, "used ring not mapped");
		return;
	}
	vq->used_idx++;
	vq->completed++;
}

/* Buffers completed since the last call (for the consumer's counters). */
unsigned int vsq_take_completed(struct vsq *vq)
{
	unsigned int n = vq->completed;

	vq->completed = 0;
	return n;
}

/*
 * Publish completed buffers.  Returns true if the driver wants an
 * interrupt for them (event index or the NO_INTERRUPT flag).
 */
bool vsq_publish(struct vsq *vq)
{
	u16 old, event, aflags;
	bool valid;

	/* Nothing reaches the driver before DRIVER_OK or while suspended. */
	if (!vsq_running(vq))
		return false;
	if (vq->signalled_valid && vq->signalled_used == vq->used_idx)
		return false;

	/* The used elements must be visible before the index. */
	smp_wmb();
	if (vsq_put16(vq, vq->used_addr + offsetof(struct vring_used, idx),
		      vq->used_idx))
		return false;
	/* ... and the index before we look at what the driver asks for. */
	smp_mb();

	if (!vsq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX)) {
		vq->signalled_used = vq->used_idx;
		vq->signalled_valid = true;
		if (vsq_get16(vq, vq->avail_addr, &aflags))
			return false;
		return !(aflags & VRING_AVAIL_F_NO_INTERRUPT);
	}

	old = vq->signalled_used;
	valid = vq->signalled_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	if (vsq_get16(vq, vsq_used_event_addr(vq), &event))
		return false;
	return !valid || vring_need_event(event, vq->used_idx, old);
}

/*
 * The driver's available index, read without consuming anything or
 * failing the queue: for a fence set by someone who is not the queue's
 * consumer.  -EIO if the ring cannot be read.
 */
int vsq_peek_avail(struct vsq *vq, u16 *idx)
{
	if (!vq->ready || !vsq_layout_ok(vq))
		return -EIO;
	return vsm_load16(vsq_mem(vq), vsq_avail_idx_addr(vq), idx) ? -EIO : 0;
}

/*
 * Is there a chain for the consumer to take (not while the queue is
 * stopped)?  For someone who is not the queue's consumer (poll()): it
 * changes nothing and checks nothing, and the answer is a hint that may
 * be stale when it returns: a caller that sleeps on a "no" needs a kick
 * armed (vsq_arm(), by the consumer) or the consumer's word when it is
 * done (see vserial_port_poll()).
 */
bool vsq_has_avail(struct vsq *vq)
{
	u16 last = READ_ONCE(vq->last_avail_idx);
	u16 avail;

	/* A bad layout is the consumer's to report. */
	if (!vsq_running(vq) || !vsq_layout_ok(vq))
		return false;
	if (READ_ONCE(vq->chain_active) || READ_ONCE(vq->avail_idx) != last)
		return true;
	if (vsm_load16(vsq_mem(vq), vsq_avail_idx_addr(vq), &avail))
		return false;
	return avail != last;
}

/*
 * Ask for a kick when the driver adds the next buffer.  Returns true if
 * a buffer arrived meanwhile, so that the caller does not go to sleep;
 * the next vsq_next_chain() then pops it without reading the index
 * again.  Each such retry counts as a walk, for the callers' budgets.
 * Only the consumer arms.
 */
bool vsq_arm(struct vsq *vq)
{
	if (!vsq_usable(vq))
		return false;
	if (vq->chain_active || vq->avail_idx != vq->last_avail_idx)
		return true;
	if (vsq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX) &&
	    vsq_put16(vq, vsq_avail_event_addr(vq), vq->last_avail_idx))
		return false;
	/* Publish avail_event before reading the driver's index again. */
	smp_mb();
	if (vsq_fetch_avail(vq) || vq->avail_idx == vq->last_avail_idx)
		return false;
	vq->walked++;
	return true;
}

/*
 * Move bytes between user memory and the queue's buffers: out of the
 * transmit buffers (read(2)) or into the receive buffers (write(2)).
 * A transmit buffer is returned once it is consumed; a receive buffer
 * once it is full or the data ends.  Returns the bytes moved; if none
 * moved, -EAGAIN when the ring was left empty with a kick armed (the
 * caller waits), 0 when it was not (the walk budget ran out on empty
 * buffers, or a buffer came while arming: the caller retries at once),
 * or an error: -EIO if the queue stopped (arming too may find the ring
 * malformed), -EFAULT if user memory faulted.
 */
static ssize_t vsq_xfer_iter(struct vsq *vq, struct iov_iter *iter)
{
	struct vsq_chain *c = &vq->chain;
	bool to_guest = vq->device_writes;
	u32 start = vq->walked;
	ssize_t total = 0;
	int r = 0;

	/* Bounded: empty buffers move no bytes, but cost a walk each. */
	while (iov_iter_count(iter) && vq->walked - start < VSERIAL_XFER_WALK) {
		bool unmapped;
		size_t want;
		ssize_t n;

		r = vsq_next_chain(vq);
		if (r <= 0)
			break;

		if (c->len) {
			want = min_t(size_t, c->len, iov_iter_count(iter));
			n = vsm_xfer(vsq_mem(vq), c->addr, want, to_guest,
				     NULL, iter, &unmapped);
			if (n < 0) {
				r = vsq_bad(vq, "buffer not mapped");
				break;
			}
			/* What moved is the caller's, even if the rest faults. */
			c->addr += n;
			c->len -= n;
			c->consumed += n;
			if (to_guest)
				c->written += n;
			total += n;
			if (unmapped) {
				r = vsq_bad(vq, "buffer not mapped");
				break;
			}
			if (n < want) {
				r = -EFAULT;
				break;
			}
			if (!c->len) {
				r = vsq_chain_advance(vq);
				if (r < 0)
					break;
			}
		}
		if (!c->len)
			vsq_complete(vq);
	}

	/* A receive buffer holding data goes to the driver now. */
	if (to_guest && vq->chain_active && c->written)
		vsq_complete(vq);
	/*
	 * Left the ring empty: ask for a kick now, so that whoever waits
	 * without consuming (poll()) hears of the next buffer.
	 */
	if (r >= 0 && !vq->chain_active && vq->avail_idx == vq->last_avail_idx &&
	    !vsq_arm(vq) && !total)
		return READ_ONCE(vq->broken) ? -EIO : -EAGAIN;

	return total ?: min(r, 0);
}

ssize_t vsq_read_iter(struct vsq *vq, struct iov_iter *to)
{
	return vsq_xfer_iter(vq, to);
}

ssize_t vsq_write_iter(struct vsq *vq, struct iov_iter *from)
{
	return vsq_xfer_iter(vq, from);
}

/* Bytes returned unread since the last call (for the port's counters). */
u64 vsq_take_discarded(struct vsq *vq)
{
	u64 n = vq->discarded;

	vq->discarded = 0;
	return n;
}

/*
 * The consumer gives up on a chain it has half taken (the host end
 * closed in the middle of a guest buffer): the rest of the active chain
 * is returned unread, and so is the rest of a chain parked by a reset,
 * when it comes back.  A chain nothing was taken from stays for the next
 * consumer.  Returns true if a chain was completed (publish it).
 */
bool vsq_abandon(struct vsq *vq)
{
	if (vq->chain_active && vq->chain.consumed && !vsq_usable(vq))
		vsq_park(vq);	/* no ring access while paused */
	if (vq->resume.valid)
		vq->resume.discard = true;
	if (!vq->chain_active || !vq->chain.consumed)
		return false;
	if (vsq_chain_skip(vq, 0, true) < 0)
		return false;
	vsq_complete(vq);
	return true;
}

/*
 * The driver moved the ring: give back the chain popped from the old one
 * (it is popped again from the new ring, and continued where it stopped
 * if it is the same chain), keeping the ring state that get_vq_state
 * reports.
 */
void vsq_unpop(struct vsq *vq)
{
	vsq_park(vq);
	/* The new ring's index is fetched and checked afresh. */
	WRITE_ONCE(vq->avail_idx, vq->last_avail_idx);
}
