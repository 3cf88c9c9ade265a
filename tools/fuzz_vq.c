// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the ring engine (drivers/vserial_vq.c) over the
 * guest-memory layer (drivers/vserial_mem.c), both compiled unmodified.
 *
 * The input chooses a queue (direction, size, features), how the device
 * reaches memory (identity map, none, or up to 8 IOTLB entries with
 * their permissions), where the rings are, and then a sequence of
 * operations: the driver posting chains or scribbling anywhere, the
 * consumer taking, filling and completing chains through every entry
 * point, interrupts, suspend, reset and restore, fences, and memory
 * changing under a copy (arena_hook).
 *
 * Checked by the harness, beyond "no crash": no access outside the map
 * or against its permissions (the MMU, see arena.h, and the write-only
 * secret never reaching the host), used ids are the heads the driver
 * posted at those positions and below the ring size, the device never
 * completes more than it popped, every call walks a bounded number of
 * descriptors, "broken" is reported once per failure, and page
 * references balance.
 */
#include <linux/uio.h>
#include <uapi/linux/virtio_config.h>
#include <uapi/linux/virtio_ring.h>

#include "vserial_vq.h"
#include "guest.h"

struct in {
	const u8 *p;
	size_t n;
};

static u64 get(struct in *in, int bytes)
{
	u64 v = 0;
	int i;

	for (i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (u64)*in->p << (8 * i);
	return v;
}

#define get8(in)	((u8)get(in, 1))
#define get16(in)	((u16)get(in, 2))
#define get32(in)	((u32)get(in, 4))
#define get64(in)	get(in, 8)

#define FAIL(...) do {							\
	fprintf(stderr, "fuzz_vq: " __VA_ARGS__);			\
	fprintf(stderr, "\n");						\
	abort();							\
} while (0)

struct map {
	u64 iova;
	u64 pa;
	u64 len;
	u32 perm;
};

static struct {
	struct vsq_host host;
	struct vsq vq;
	struct map maps[8];
	int nmaps;
	bool identity;		/* IOVA == PA */
	struct guest_ring r;	/* ring IOVAs; ring_pa: where it is */
	u64 ring_pa;
	bool ring_ok;		/* the ring lies in mapped memory at ring_pa */
	u16 posted[1024];	/* head posted at each position, by the harness */
	bool shadow_ok;		/* ... and nobody changed the avail ring since */
	int broken_calls;
	u16 hook_countdown;
	u64 hook_pa;
	u16 hook_val;
} s;

static void on_broken(struct vsq *vq)
{
	if (++s.broken_calls > 1)
		FAIL("broken reported twice without a reset");
	if (!vq->broken)
		FAIL("broken reported for a running queue");
}

/* The harness's own translation, to play the driver at ring IOVAs. */
static bool to_pa(u64 iova, u64 len, u64 *pa)
{
	int i;

	if (s.identity) {
		*pa = iova;
		return iova < ARENA_SIZE && len <= ARENA_SIZE - iova;
	}
	for (i = 0; i < s.nmaps; i++) {
		struct map *m = &s.maps[i];

		if (iova >= m->iova && iova - m->iova < m->len &&
		    len <= m->len - (iova - m->iova)) {
			*pa = m->pa + (iova - m->iova);
			return *pa < ARENA_SIZE && len <= ARENA_SIZE - *pa;
		}
	}
	return false;
}

/*
 * The driver wrote [@pa, @pa + @len): if that is in its rings (where a
 * descriptor may now point a buffer at the used ring), what the harness
 * knows of them no longer holds.
 */
static void guest_wrote(u64 pa, u64 len)
{
	u64 avail = s.ring_pa;
	u64 end = s.ring_pa + (s.r.used - s.r.desc) + 6 + 8ULL * s.r.num;

	if (pa < end && pa + len > avail)
		s.shadow_ok = false;
}

static void hook(void *arg)
{
	if (s.hook_countdown && !--s.hook_countdown) {
		gw16(s.hook_pa, s.hook_val);
		guest_wrote(s.hook_pa, 2);
	}
}

static void setup_memory(struct in *in)
{
	struct vhost_iotlb *src;
	unsigned int perm[ARENA_PAGES] = {};
	u8 mode = get8(in);
	int i;

	s.identity = false;
	s.nmaps = 0;
	s.host.mem.iotlb = NULL;
	s.host.mem.pt_ok = false;
	if (mode < 160) {
		s.identity = true;
		s.host.mem.pt_ok = true;
		arena_protect_all(VHOST_MAP_RW);
		return;
	}
	if (mode < 176) {	/* no map, driver not in the kernel */
		arena_protect_all(0);
		return;
	}

	s.nmaps = 1 + get8(in) % 8;
	src = vhost_iotlb_alloc(16, 0);
	for (i = 0; i < s.nmaps; i++) {
		struct map *m = &s.maps[i];
		u64 p, last;

		/* Past the rings' IOVAs: a lookup there finds the rings' map. */
		m->iova = 0x40000000ULL + (u64)(8 + get8(in) % 64) * PAGE_SIZE;
		m->len = (1 + get8(in) % 8) * PAGE_SIZE;
		/* Buffers apart from the rings (pages 0-7), but for a few. */
		m->pa = (u64)(8 + get8(in) % (ARENA_PAGES - 8)) * PAGE_SIZE;
		if (get8(in) >= 248) {
			m->pa = (u64)(get8(in) % 8) * PAGE_SIZE;
			s.shadow_ok = false;
		}
		m->perm = 1 + get8(in) % 3;
		if (i == 0) {	/* the rings' map, mostly read-write */
			m->iova = 0x40000000ULL;
			m->len = 8 * PAGE_SIZE;
			m->pa = 0;
			if (get8(in) < 224)
				m->perm = VHOST_MAP_RW;
		}
		if (vhost_iotlb_add_range_ctx(src, m->iova, m->iova + m->len - 1,
					      m->pa, m->perm, NULL))
			FAIL("iotlb add");
		last = min(m->pa + m->len, (u64)ARENA_SIZE);
		for (p = m->pa; p < last; p += PAGE_SIZE)
			perm[PHYS_PFN(p)] |= m->perm;
	}
	s.host.mem.iotlb = vsm_map_copy(src);
	vhost_iotlb_free(src);
	if (IS_ERR(s.host.mem.iotlb))
		FAIL("map copy");
	for (i = 0; i < ARENA_PAGES; i++)
		arena_protect(i, perm[i]);
}

static void setup_ring(struct in *in)
{
	u8 n = get8(in);
	u32 num = 1U << (n % 11);
	u64 base;

	if (n >= 240)
		num = get16(in);	/* anything, checked by the engine */
	base = s.identity ? (u64)(get8(in) % 8) * PAGE_SIZE : 0x40000000ULL;
	gr_layout(&s.r, base, num ? num : 1);
	s.r.num = num;
	if (get8(in) >= 248) {	/* a hostile layout */
		s.r.desc = get64(in);
		s.r.avail = get64(in);
		s.r.used = get64(in);
		s.shadow_ok = false;
	}
	s.vq.num = num;
	s.vq.desc_addr = s.r.desc;
	s.vq.avail_addr = s.r.avail;
	s.vq.used_addr = s.r.used;
	s.vq.ready = true;
	s.ring_ok = num && num <= 1024 && to_pa(s.r.desc, 16ULL * num, &s.ring_pa) &&
		    to_pa(s.r.avail, 6 + 2ULL * num, &(u64){0}) &&
		    to_pa(s.r.used, 6 + 8ULL * num, &(u64){0});
}

/* Guest-view address of ring IOVA @iova (the ring is in one map). */
static u64 ring_pa(u64 iova)
{
	return s.ring_pa + (iova - s.r.desc);
}

static void scribble(struct in *in)
{
	u64 pa = get16(in) % ARENA_SIZE & ~1ULL;
	u8 len = 2 + get8(in) % 15;
	u8 *p = arena_guest(pa);

	if (len > ARENA_SIZE - pa)
		len = ARENA_SIZE - pa;
	guest_wrote(pa, len);
	while (len--)
		*p++ = get8(in);
}

static void post_chain(struct in *in)
{
	u8 ndesc = 1 + get8(in) % 4;
	u16 wflag = s.vq.device_writes ? VRING_DESC_F_WRITE : 0;
	u16 head, i;
	int k, m;

	if (!s.ring_ok)		/* nowhere to post: the driver scribbles */
		return scribble(in);
	/* A driver does not post more than the ring holds. */
	if ((u16)(s.r.avail_idx - s.vq.used_idx) >= s.r.num)
		return;
	head = get16(in) % s.r.num;
	i = head;

	for (k = 0; k < ndesc; k++) {
		u8 kind = get8(in);
		u64 addr;
		u32 len = get16(in) % 700;
		u16 flags = wflag, next = (i + 1) % s.r.num;
		u64 d = ring_pa(s.r.desc) + 16ULL * i;

		if (s.identity || !s.nmaps)
			addr = 0x10000 + get16(in) * 4ULL;
		else if ((m = get8(in) % s.nmaps))
			addr = s.maps[m].iova + get16(in) % 0x9000;
		else	/* the rings' map, past the rings */
			addr = s.maps[0].iova + 0x7000 + get16(in) % 0x1000;
		if (kind >= 250) {
			addr = get64(in);	/* maybe a ring */
			s.shadow_ok = false;
		}
		if (kind >= 240 && kind < 250)
			flags ^= VRING_DESC_F_WRITE;
		if (kind >= 230 && kind < 240) {
			flags = VRING_DESC_F_INDIRECT;
			len = 16 * (1 + get8(in) % 8);
		}
		if (kind >= 224 && kind < 230)
			next = get16(in);
		if (k + 1 < ndesc)
			flags |= VRING_DESC_F_NEXT;
		gw64(d, addr);
		gw32(d + 8, len);
		gw16(d + 12, flags);
		gw16(d + 14, next);
		i = next % s.r.num;
	}
	s.posted[s.r.avail_idx % s.r.num] = head;
	gw16(ring_pa(s.r.avail) + 4 + 2ULL * (s.r.avail_idx % s.r.num), head);
	s.r.avail_idx++;
	if (get8(in) >= 16)	/* else a driver that forgets the index */
		gw16(ring_pa(s.r.avail) + 2, s.r.avail_idx);
}

/* Everything the device completed since @from is what was posted. */
static void check_used(u16 from)
{
	u16 i;

	if ((u16)(s.vq.last_avail_idx - s.vq.used_idx) > s.vq.num)
		FAIL("used %u beyond avail %u", s.vq.used_idx,
		     s.vq.last_avail_idx);
	if (!s.ring_ok || !s.shadow_ok || s.vq.broken)
		return;
	for (i = from; i != s.vq.used_idx; i++) {
		u32 id = dr32(ring_pa(s.r.used) + 4 + 8ULL * (i % s.r.num));

		if (id >= s.vq.num)
			FAIL("used id %u >= %u", id, s.vq.num);
		if (id != s.posted[i % s.r.num])
			FAIL("used[%u] = %u, posted %u", i, id,
			     s.posted[i % s.r.num]);
	}
}

static void check_out(const void *buf, ssize_t n)
{
	if (n > 0 && arena_leaks(buf, n))
		FAIL("write-only memory read back");
}

static void restore(struct in *in)
{
	u16 base = vsq_base(&s.vq);
	u8 how = get8(in);

	vsq_reset(&s.vq);
	s.broken_calls = 0;
	s.vq.num = s.r.num;
	s.vq.desc_addr = s.r.desc;
	s.vq.avail_addr = s.r.avail;
	s.vq.used_addr = s.r.used;
	if (how & 1) {
		base = get16(in);	/* not the state it had */
		s.shadow_ok = false;
	}
	vsq_set_base(&s.vq, base);
	s.vq.ready = true;
	vsq_continues(&s.vq);
}

static void one_op(struct in *in)
{
	static u8 buf[4096];
	u8 op = get8(in) % 16;
	u32 walked = s.vq.walked;
	u16 used = s.vq.used_idx;
	bool stopped = s.host.suspended || !s.host.driver_ok;
	unsigned long kmaps = arena_kmaps;
	struct iov_iter it;
	ssize_t n;
	u16 v;

	if (vs_shim_debug)
		fprintf(stderr, "op %u: avail %u used %u active %d broken %d\n",
			op, s.vq.last_avail_idx, s.vq.used_idx,
			s.vq.chain_active, s.vq.broken);
	switch (op) {
	case 0:
	case 1:
		post_chain(in);
		break;
	case 2:
		scribble(in);
		break;
	case 3:
		if (vsq_next_chain(&s.vq) == 1) {
			n = get16(in) % sizeof(buf);
			if (s.vq.device_writes) {
				memset(buf, 'w', n);
				vsq_chain_write(&s.vq, buf, n);
			} else {
				check_out(buf, vsq_chain_read(&s.vq, buf, n));
			}
		}
		break;
	case 4:
		if (s.vq.chain_active)
			vsq_complete(&s.vq);
		break;
	case 5:
		vsq_publish(&s.vq);
		break;
	case 6:
		vsq_arm(&s.vq);
		vsq_has_avail(&s.vq);
		break;
	case 7:
		it = (struct iov_iter) { .base = buf,
					 .count = get16(in) % sizeof(buf),
					 .fault_after = get16(in) };
		if (s.vq.device_writes) {
			memset(buf, 'x', sizeof(buf));
			vsq_write_iter(&s.vq, &it);
		} else {
			n = vsq_read_iter(&s.vq, &it);
			check_out(buf, n);
		}
		if (s.vq.walked - walked > VSERIAL_XFER_WALK + 2 * VSERIAL_CHAIN_MAX)
			FAIL("xfer walked %u", s.vq.walked - walked);
		break;
	case 8:
		restore(in);
		used = s.vq.used_idx;
		break;
	case 9:
		vsq_fence(&s.vq, get16(in));
		vsq_peek_avail(&s.vq, &v);
		break;
	case 10:
		vsq_abandon(&s.vq);
		break;
	case 11:
		vsq_unpop(&s.vq);
		break;
	case 12:
		s.host.suspended = !s.host.suspended;
		break;
	case 13:
		s.hook_countdown = 1 + get8(in) % 8;
		s.hook_pa = get16(in) % ARENA_SIZE & ~1ULL;
		s.hook_val = get16(in);
		break;
	case 14:
		if (vsq_next_chain(&s.vq) == 1)
			get8(in) & 1 ? vsq_chain_pass(&s.vq, get16(in)) :
				       vsq_chain_discard(&s.vq);
		break;
	case 15:
		vsq_take_completed(&s.vq);
		vsq_take_discarded(&s.vq);
		s.host.driver_ok = get8(in) >= 8;
		break;
	}
	/* A suspended device, or one before DRIVER_OK, touches no ring. */
	if (stopped && arena_kmaps != kmaps &&
	    (op == 3 || op == 5 || op == 6 || op == 7 || op == 14))
		FAIL("op %u touched guest memory while stopped", op);
	if (op != 7 && s.vq.walked - walked > 2 * VSERIAL_CHAIN_MAX + 2)
		FAIL("op %u walked %u descriptors", op, s.vq.walked - walked);
	check_used(used);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct in in = { data, size };
	int ops = 0;
	u8 qsel;

	arena_init();
	arena_reset();
	memset(&s, 0, sizeof(s));
	s.shadow_ok = true;
	qsel = get8(&in);
	s.host.features = BIT_ULL(VIRTIO_F_VERSION_1);
	if (qsel & 4)
		s.host.features |= BIT_ULL(VIRTIO_RING_F_EVENT_IDX);
	if (qsel & 8)
		s.host.features |= BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC);
	s.host.driver_ok = true;
	s.host.broken = on_broken;
	vsq_init(&s.vq, &s.host, qsel & 3);
	setup_memory(&in);
	setup_ring(&in);
	arena_hook = hook;

	while (in.n && ops++ < 512)
		one_op(&in);

	arena_hook = NULL;
	vsm_map_free(s.host.mem.iotlb);
	if (arena_refs())
		FAIL("%ld page references left", arena_refs());
	return 0;
}
