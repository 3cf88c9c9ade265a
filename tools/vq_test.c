// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the guest-memory layer and the ring engine, compiled from
 * the driver's own drivers/vserial_mem.c and drivers/vserial_vq.c (see
 * tools/Makefile).  Each test plays a driver in the arena and checks what
 * the engine does: every check design.rst lists for a ring, and the state
 * kept across suspend, reset and restore.  Prints TAP.
 */
#include <linux/uio.h>
#include <uapi/linux/virtio_config.h>
#include <uapi/linux/virtio_ring.h>

#include "vserial_vq.h"
#include "guest.h"
#include "unit.h"

UNIT_GLOBALS;

struct fx {
	struct vsq_host host;
	struct vsq vq;
	struct guest_ring r;
	int broken;
};

static struct fx *broken_fx;

static void fx_broken(struct vsq *vq)
{
	broken_fx->broken++;
}

#define RING_BASE	0x1000ULL	/* page 1: page 0 stays for null tests */
#define DATA		0x20000ULL	/* page 32 on: buffers */

/* A queue of @num entries, identity-mapped, the driver ready. */
static void fx_init(struct fx *f, u16 idx, u32 num, u64 features)
{
	arena_reset();
	arena_protect_all(VHOST_MAP_RW);
	memset(f, 0, sizeof(*f));
	broken_fx = f;
	f->host.mem.pt_ok = true;
	f->host.features = features | BIT_ULL(VIRTIO_F_VERSION_1);
	f->host.driver_ok = true;
	f->host.broken = fx_broken;
	vsq_init(&f->vq, &f->host, idx);
	gr_layout(&f->r, RING_BASE, num);
	f->vq.num = num;
	f->vq.desc_addr = f->r.desc;
	f->vq.avail_addr = f->r.avail;
	f->vq.used_addr = f->r.used;
	f->vq.ready = true;
}

/* One-descriptor chain at descriptor @i holding @len bytes at @addr. */
static void post1(struct fx *f, u16 i, u64 addr, u32 len, u16 flags)
{
	gr_desc(&f->r, 0, i, addr, len, flags, 0);
	gr_post(&f->r, i);
}

static void fill(u64 pa, const char *s)
{
	memcpy(arena_guest(pa), s, strlen(s));
}

static void test_tx_read(void)
{
	struct fx f;
	char buf[32] = {};

	fx_init(&f, 3, 8, 0);
	fill(DATA, "hello, world");
	post1(&f, 5, DATA, 12, 0);
	CHECK(vsq_has_avail(&f.vq));
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_seg_left(&f.vq) == 12);
	CHECK(vsq_chain_read(&f.vq, buf, 5) == 5);
	CHECK(!memcmp(buf, "hello", 5));
	CHECK(vsq_base(&f.vq) == 0);	/* in flight counts as unread */
	CHECK(vsq_chain_read(&f.vq, buf, sizeof(buf)) == 7);
	CHECK(!memcmp(buf, ", world", 7));
	vsq_complete(&f.vq);
	CHECK(vsq_base(&f.vq) == 1);
	CHECK(vsq_publish(&f.vq));
	CHECK(gr_used_idx(&f.r) == 1);
	CHECK(gr_used_id(&f.r, 0) == 5 && gr_used_len(&f.r, 0) == 0);
	CHECK(vsq_take_completed(&f.vq) == 1);
	CHECK(vsq_next_chain(&f.vq) == 0);
	CHECK(!vsq_has_avail(&f.vq));
	CHECK(!f.broken);
}

static void test_rx_write_chain(void)
{
	struct fx f;

	fx_init(&f, 0, 4, 0);
	/* Two segments and an empty one between. */
	gr_desc(&f.r, 0, 0, DATA, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	gr_desc(&f.r, 0, 1, DATA + 100, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	gr_desc(&f.r, 0, 2, DATA + 200, 8, VRING_DESC_F_WRITE, 0);
	gr_post(&f.r, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_write(&f.vq, "abcdefghijkl", 12) == 12);
	CHECK(vsq_chain_write(&f.vq, "x", 1) == 0);	/* full */
	vsq_complete(&f.vq);
	vsq_publish(&f.vq);
	CHECK(gr_used_len(&f.r, 0) == 12);
	CHECK(!memcmp(arena_guest(DATA), "abcd", 4));
	CHECK(!memcmp(arena_guest(DATA + 200), "efghijkl", 8));
	CHECK(!f.broken);
}

static void test_ring_size_and_alignment(void)
{
	static const u32 bad_num[] = { 0, 3, 2048 };
	struct fx f;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad_num); i++) {
		fx_init(&f, 3, 8, 0);
		f.vq.num = bad_num[i];
		CHECK(!vsq_usable(&f.vq) && f.broken == 1);
		CHECK(vsq_next_chain(&f.vq) == -EIO);
	}
	fx_init(&f, 3, 8, 0);
	f.vq.desc_addr += 8;
	CHECK(!vsq_usable(&f.vq) && f.broken == 1);
	fx_init(&f, 3, 8, 0);
	f.vq.avail_addr += 1;
	CHECK(!vsq_usable(&f.vq) && f.broken == 1);
	fx_init(&f, 3, 8, 0);
	f.vq.used_addr += 2;
	CHECK(!vsq_usable(&f.vq) && f.broken == 1);
	fx_init(&f, 3, 8, 0);
	f.vq.used_addr = ~0ULL - 63;	/* aligned, wraps the address space */
	CHECK(!vsq_usable(&f.vq) && f.broken == 1);
	/* Not ready, suspended, no DRIVER_OK: not usable, not broken. */
	fx_init(&f, 3, 8, 0);
	f.vq.ready = false;
	CHECK(!vsq_usable(&f.vq) && !f.broken);
	f.vq.ready = true;
	f.host.suspended = true;
	CHECK(!vsq_usable(&f.vq) && !f.broken);
	CHECK(!vsq_publish(&f.vq));
	f.host.suspended = false;
	f.host.driver_ok = false;
	CHECK(!vsq_usable(&f.vq) && !f.broken);
	post1(&f, 0, DATA, 4, 0);	/* a buffer, seen only at DRIVER_OK */
	CHECK(!vsq_has_avail(&f.vq) && !vsq_arm(&f.vq));
	/* Nothing reaches the driver before DRIVER_OK (fuzz_vq). */
	arena_kmaps = 0;
	CHECK(!vsq_publish(&f.vq) && !arena_kmaps);
	/* A chain held while the device stops is not completed. */
	f.host.driver_ok = true;
	CHECK(vsq_next_chain(&f.vq) == 1);
	f.host.suspended = true;
	arena_kmaps = 0;
	vsq_complete(&f.vq);
	CHECK(f.vq.chain_active && !arena_kmaps && f.vq.used_idx == 0);
}

static void test_avail_checks(void)
{
	struct fx f;

	fx_init(&f, 3, 8, 0);
	gw16(f.r.avail + 2, 9);		/* 9 entries in an 8-entry ring */
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	/* Broken stays broken, reported once. */
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);

	fx_init(&f, 3, 8, 0);
	gr_post(&f.r, 8);		/* head out of range */
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);

	fx_init(&f, 3, 8, 0);
	fill(DATA, "abcd");
	gr_desc(&f.r, 0, 0, DATA, 4, VRING_DESC_F_NEXT, 8);
	gr_post(&f.r, 0);		/* next out of range */
	CHECK(vsq_next_chain(&f.vq) == 1);
	/* The bytes before the bad descriptor are the caller's. */
	{
		char b[8] = {};

		CHECK(vsq_chain_read(&f.vq, b, 8) == 4 && !memcmp(b, "abcd", 4));
	}
	CHECK(f.broken == 1);
	CHECK(vsq_chain_read(&f.vq, (char[8]){}, 8) == 0);
	CHECK(vsq_next_chain(&f.vq) == -EIO);
	vsq_complete(&f.vq);		/* nothing completes on a stopped queue */
	CHECK(f.vq.used_idx == 0 && vsq_take_completed(&f.vq) == 0);

	fx_init(&f, 3, 8, 0);
	gr_desc(&f.r, 0, 0, DATA, 0, VRING_DESC_F_NEXT, 1);
	gr_desc(&f.r, 0, 1, DATA, 0, VRING_DESC_F_NEXT, 0);
	gr_post(&f.r, 0);		/* a loop of empty descriptors */
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	CHECK(f.vq.walked <= 9);	/* bounded: at most the ring's size */
}

static void test_indirect(void)
{
	const u64 table = DATA + 0x1000;
	char buf[16] = {};
	struct fx f;

	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC));
	fill(DATA, "indirect");
	gr_desc(&f.r, table, 0, DATA, 3, VRING_DESC_F_NEXT, 1);
	gr_desc(&f.r, table, 1, DATA + 3, 5, 0, 0);
	post1(&f, 2, table, 32, VRING_DESC_F_INDIRECT);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, sizeof(buf)) == 8);
	CHECK(!memcmp(buf, "indirect", 8));
	vsq_complete(&f.vq);
	vsq_publish(&f.vq);
	CHECK(gr_used_id(&f.r, 0) == 2 && !f.broken);

	/* Not negotiated. */
	fx_init(&f, 3, 8, 0);
	post1(&f, 0, table, 32, VRING_DESC_F_INDIRECT);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	/* With NEXT. */
	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC));
	post1(&f, 0, table, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	/* Table length not a multiple of a descriptor, empty, too long. */
	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC));
	post1(&f, 0, table, 24, VRING_DESC_F_INDIRECT);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC));
	post1(&f, 0, table, 0, VRING_DESC_F_INDIRECT);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC));
	post1(&f, 0, table, 16 * (VSERIAL_CHAIN_MAX + 1), VRING_DESC_F_INDIRECT);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	/* Nested. */
	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC));
	gr_desc(&f.r, table, 0, table, 16, VRING_DESC_F_INDIRECT, 0);
	post1(&f, 0, table, 16, VRING_DESC_F_INDIRECT);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	/* A loop inside the table is bounded by its size. */
	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC));
	gr_desc(&f.r, table, 0, DATA, 0, VRING_DESC_F_NEXT, 1);
	gr_desc(&f.r, table, 1, DATA, 0, VRING_DESC_F_NEXT, 0);
	post1(&f, 0, table, 32, VRING_DESC_F_INDIRECT);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	/* Index beyond the table. */
	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC));
	gr_desc(&f.r, table, 0, DATA, 0, VRING_DESC_F_NEXT, 2);
	post1(&f, 0, table, 32, VRING_DESC_F_INDIRECT);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	/* Table address wrapping. */
	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC));
	post1(&f, 0, ~0ULL - 15, 32, VRING_DESC_F_INDIRECT);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
}

static void test_direction_and_wrap(void)
{
	struct fx f;

	fx_init(&f, 3, 8, 0);
	post1(&f, 0, DATA, 4, VRING_DESC_F_WRITE);	/* tx: write-only */
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	fx_init(&f, 2, 8, 0);
	post1(&f, 0, DATA, 4, 0);			/* rx: read-only */
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	fx_init(&f, 3, 8, 0);
	post1(&f, 0, ~0ULL - 1, 4, 0);			/* wraps */
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
	/* Not mapped at all (identity map beyond memory). */
	fx_init(&f, 3, 8, 0);
	post1(&f, 0, ARENA_SIZE + 64, 4, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, (char[4]){}, 4) == -EIO && f.broken == 1);
}

/* The 16-bit indexes wrap: 65535 -> 0 on both rings. */
static void test_index_wrap(void)
{
	char c;
	struct fx f;
	int i;

	fx_init(&f, 3, 4, 0);
	f.r.avail_idx = 65534;
	gw16(f.r.avail + 2, 65534);
	vsq_set_base(&f.vq, 65534);
	fill(DATA, "0123");
	for (i = 0; i < 4; i++) {
		post1(&f, i, DATA + i, 1, 0);
		CHECK(vsq_next_chain(&f.vq) == 1);
		CHECK(vsq_chain_read(&f.vq, &c, 1) == 1 && c == '0' + i);
		vsq_complete(&f.vq);
		vsq_publish(&f.vq);
	}
	CHECK(gr_used_idx(&f.r) == 2 && vsq_base(&f.vq) == 2);
	CHECK(gr_used_id(&f.r, 65535) == 1 && gr_used_id(&f.r, 0) == 2);
	CHECK(!f.broken);
}

static void test_iotlb_permissions(void)
{
	struct vhost_iotlb *src, *copy;
	char buf[8] = {};
	struct fx f;

	fx_init(&f, 3, 8, 0);
	arena_protect_all(0);
	src = vhost_iotlb_alloc(16, 0);
	/* IOVA 1 MiB.. maps the ring pages, read-write; the data read-only. */
	vhost_iotlb_add_range_ctx(src, 0x100000, 0x100000 + 0x3fff, RING_BASE,
				  VHOST_MAP_RW, NULL);
	vhost_iotlb_add_range_ctx(src, 0x200000, 0x200fff, DATA, VHOST_MAP_RO,
				  NULL);
	vhost_iotlb_add_range_ctx(src, 0x300000, 0x300fff, DATA + 0x1000,
				  VHOST_MAP_WO, NULL);
	/* An entry wrapping the physical address space is left out. */
	vhost_iotlb_add_range_ctx(src, 0x400000, 0x401fff, ~0ULL - 0xfff,
				  VHOST_MAP_RW, NULL);
	copy = vsm_map_copy(src);
	CHECK(!IS_ERR(copy) && copy->nmaps == 3);
	arena_protect_all(0);
	CHECK(arena_refs() == 4 + 1 + 1);
	arena_protect(1, VHOST_MAP_RW);
	arena_protect(2, VHOST_MAP_RW);
	arena_protect(3, VHOST_MAP_RW);
	arena_protect(4, VHOST_MAP_RW);
	arena_protect(PHYS_PFN(DATA), VHOST_MAP_RO);
	arena_protect(PHYS_PFN(DATA) + 1, VHOST_MAP_WO);
	f.host.mem.iotlb = copy;
	f.vq.desc_addr = 0x100000;
	f.vq.avail_addr = f.r.avail - RING_BASE + 0x100000;
	f.vq.used_addr = f.r.used - RING_BASE + 0x100000;

	fill(DATA, "readonly");
	post1(&f, 0, 0x200000, 8, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 8) == 8 && !memcmp(buf, "readonly", 8));
	vsq_complete(&f.vq);
	CHECK(vsq_publish(&f.vq) && gr_used_idx(&f.r) == 1);
	/* A transmit buffer in write-only memory must not be read. */
	post1(&f, 1, 0x300000, 8, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 8) == -EIO && f.broken == 1);
	CHECK(!arena_leaks(buf, sizeof(buf)));

	/* A receive buffer in read-only memory must not be written. */
	f.broken = 0;
	fx_init(&f, 2, 8, 0);
	arena_protect_all(0);
	arena_protect(1, VHOST_MAP_RW);
	arena_protect(2, VHOST_MAP_RW);
	arena_protect(3, VHOST_MAP_RW);
	arena_protect(4, VHOST_MAP_RW);
	arena_protect(PHYS_PFN(DATA), VHOST_MAP_RO);
	f.host.mem.iotlb = copy;
	f.vq.desc_addr = 0x100000;
	f.vq.avail_addr = f.r.avail - RING_BASE + 0x100000;
	f.vq.used_addr = f.r.used - RING_BASE + 0x100000;
	post1(&f, 0, 0x200000, 8, VRING_DESC_F_WRITE);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_write(&f.vq, "12345678", 8) == -EIO && f.broken == 1);
	/* Crossing from a mapped range into an unmapped one. */
	CHECK(vsm_read(&f.host.mem, 0x200ff8, buf, 16) == -EFAULT);
	CHECK(vsm_read(&f.host.mem, 0x200ff8, buf, 8) == 0);
	/* Ring indexes: aligned, mapped, single loads. */
	{
		u16 v;

		CHECK(vsm_load16(&f.host.mem, 0x200001, &v) == -EFAULT);
		CHECK(vsm_load16(&f.host.mem, 0x500000, &v) == -EFAULT);
		CHECK(vsm_store16(&f.host.mem, 0x200000, 1) == -EFAULT);
		CHECK(vsm_load16(&f.host.mem, 0x300000, &v) == -EFAULT);
	}
	vsm_map_free(copy);
	vhost_iotlb_free(src);
	CHECK(arena_refs() == 0);

	/* No map and the driver not in the kernel: nothing is mapped. */
	fx_init(&f, 3, 8, 0);
	f.host.mem.pt_ok = false;
	post1(&f, 0, DATA, 8, 0);
	CHECK(vsq_next_chain(&f.vq) == -EIO && f.broken == 1);
}

static void test_event_idx(void)
{
	struct fx f;
	int i;

	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_EVENT_IDX));
	for (i = 0; i < 3; i++)
		post1(&f, i, DATA, 0, 0);
	gr_used_event(&f.r, 1);		/* interrupt when used passes 1 */
	CHECK(vsq_next_chain(&f.vq) == 1);
	vsq_complete(&f.vq);
	CHECK(vsq_publish(&f.vq));	/* first publish always signals */
	CHECK(!vsq_publish(&f.vq));	/* nothing new */
	CHECK(vsq_next_chain(&f.vq) == 1);
	vsq_complete(&f.vq);
	CHECK(vsq_publish(&f.vq));	/* used 1 -> 2 crosses event 1 */
	CHECK(vsq_next_chain(&f.vq) == 1);
	vsq_complete(&f.vq);
	CHECK(!vsq_publish(&f.vq));	/* 2 -> 3 does not */
	CHECK(!vsq_arm(&f.vq));
	CHECK(gr_avail_event(&f.r) == 3);
	post1(&f, 3, DATA, 0, 0);
	CHECK(vsq_arm(&f.vq));		/* arrived meanwhile */

	fx_init(&f, 3, 8, 0);
	post1(&f, 0, DATA, 0, 0);
	gr_avail_flags(&f.r, VRING_AVAIL_F_NO_INTERRUPT);
	CHECK(vsq_next_chain(&f.vq) == 1);
	vsq_complete(&f.vq);
	CHECK(!vsq_publish(&f.vq) && gr_used_idx(&f.r) == 1);
	CHECK(!f.broken);
}

/* A chain half read across suspend, reset and a restored ring. */
static void test_reset_continue(void)
{
	char buf[16] = {};
	struct fx f;

	fx_init(&f, 3, 8, 0);
	fill(DATA, "0123456789");
	post1(&f, 4, DATA, 10, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 4) == 4);
	/* Suspend, get state: the chain counts as not processed. */
	CHECK(vsq_base(&f.vq) == 0);
	vsq_set_base(&f.vq, 0);		/* the same state: nothing moves */
	CHECK(f.vq.chain_active);
	vsq_reset(&f.vq);
	CHECK(!f.vq.chain_active && f.vq.resume.valid);
	/* The VMM restores the same ring and base. */
	f.vq.num = 8;
	f.vq.desc_addr = f.r.desc;
	f.vq.avail_addr = f.r.avail;
	f.vq.used_addr = f.r.used;
	vsq_set_base(&f.vq, 0);
	f.vq.ready = true;
	CHECK(vsq_continues(&f.vq));
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, sizeof(buf)) == 6);
	CHECK(!memcmp(buf, "456789", 6));	/* not "0123" again */
	vsq_complete(&f.vq);

	/* A new ring after reset: nothing carried over. */
	post1(&f, 5, DATA, 10, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 2) == 2);
	vsq_reset(&f.vq);
	f.vq.num = 8;
	f.vq.desc_addr = f.r.desc;
	f.vq.avail_addr = f.r.avail + 0;
	f.vq.used_addr = f.r.used;
	f.vq.ready = true;
	CHECK(!vsq_continues(&f.vq));		/* base 0, not 1 */
	CHECK(!f.vq.resume.valid);

	/* set_base elsewhere parks the chain; popped again, it continues. */
	fx_init(&f, 3, 8, 0);
	fill(DATA, "abcdef");
	post1(&f, 1, DATA, 6, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 3) == 3);
	vsq_unpop(&f.vq);
	CHECK(vsq_base(&f.vq) == 0 && !f.vq.chain_active);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 8) == 3 && !memcmp(buf, "def", 3));
	vsq_complete(&f.vq);
	/* A different chain at the resume position is read whole. */
	post1(&f, 2, DATA, 6, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 3) == 3);
	vsq_unpop(&f.vq);
	gr_desc(&f.r, 0, 2, DATA + 1, 5, 0, 0);	/* the driver changed it */
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 8) == 5 && !memcmp(buf, "bcdef", 5));
	vsq_set_base(&f.vq, 7);
	CHECK(vsq_base(&f.vq) == 7 && f.vq.used_idx == 7);
	vsq_forget(&f.vq);
	CHECK(!f.broken);
}

static void test_fence_and_abandon(void)
{
	char buf[8];
	struct fx f;
	u16 avail;

	fx_init(&f, 3, 8, 0);
	fill(DATA, "oldnew");
	post1(&f, 0, DATA, 3, 0);
	post1(&f, 1, DATA + 3, 3, 0);
	CHECK(vsq_peek_avail(&f.vq, &avail) == 0 && avail == 2);
	vsq_fence(&f.vq, 1);		/* position 0 is stale */
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_seg_left(&f.vq) == 0);	/* passed over unread */
	vsq_complete(&f.vq);
	CHECK(vsq_take_discarded(&f.vq) == 3);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 8) == 3 && !memcmp(buf, "new", 3));
	vsq_complete(&f.vq);
	CHECK(atomic_read(&f.vq.fence) == 0);

	/* Abandon a half-taken chain: the rest goes back unread. */
	post1(&f, 2, DATA, 6, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_read(&f.vq, buf, 2) == 2);
	CHECK(vsq_abandon(&f.vq));
	CHECK(vsq_take_discarded(&f.vq) == 4);
	vsq_publish(&f.vq);
	CHECK(gr_used_idx(&f.r) == 3 && gr_used_id(&f.r, 2) == 2);
	/* Nothing taken: the chain stays for the next consumer. */
	post1(&f, 3, DATA, 6, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(!vsq_abandon(&f.vq) && f.vq.chain_active);
	/* Abandoned while paused: discarded when it comes back. */
	CHECK(vsq_chain_read(&f.vq, buf, 1) == 1);
	f.host.suspended = true;
	CHECK(!vsq_abandon(&f.vq) && !f.vq.chain_active);
	f.host.suspended = false;
	CHECK(vsq_next_chain(&f.vq) == 1 && vsq_seg_left(&f.vq) == 0);
	CHECK(vsq_take_discarded(&f.vq) == 5);
	/* discard and pass */
	vsq_complete(&f.vq);
	post1(&f, 4, DATA, 6, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	CHECK(vsq_chain_pass(&f.vq, 2) == 0 && vsq_seg_left(&f.vq) == 4);
	CHECK(vsq_chain_discard(&f.vq) == 0 && vsq_seg_left(&f.vq) == 0);
	CHECK(vsq_take_discarded(&f.vq) == 4);
	CHECK(!f.broken);
	f.vq.ready = false;
	CHECK(vsq_peek_avail(&f.vq, &avail) == -EIO);
}

static void test_iter(void)
{
	char out[32] = {};
	struct iov_iter it;
	struct fx f;

	fx_init(&f, 3, 8, 0);
	fill(DATA, "abcdefgh");
	post1(&f, 0, DATA, 4, 0);
	post1(&f, 1, DATA + 4, 4, 0);
	it = (struct iov_iter) { .base = (u8 *)out, .count = 6,
				 .fault_after = ~0UL };
	CHECK(vsq_read_iter(&f.vq, &it) == 6 && !memcmp(out, "abcdef", 6));
	CHECK(f.vq.chain_active && vsq_take_completed(&f.vq) == 1);
	/* A host buffer that faults after one byte. */
	it = (struct iov_iter) { .base = (u8 *)out, .count = 8,
				 .fault_after = 1 };
	CHECK(vsq_read_iter(&f.vq, &it) == 1 && out[0] == 'g');
	it = (struct iov_iter) { .base = (u8 *)out, .count = 8,
				 .fault_after = 0 };
	CHECK(vsq_read_iter(&f.vq, &it) == -EFAULT);

	/* Receive: a buffer holding data goes to the driver at once. */
	fx_init(&f, 2, 8, 0);
	post1(&f, 0, DATA, 16, VRING_DESC_F_WRITE);
	it = (struct iov_iter) { .base = (u8 *)"xyz", .count = 3,
				 .fault_after = ~0UL };
	CHECK(vsq_write_iter(&f.vq, &it) == 3);
	vsq_publish(&f.vq);
	CHECK(gr_used_idx(&f.r) == 1 && gr_used_len(&f.r, 0) == 3);
	CHECK(!memcmp(arena_guest(DATA), "xyz", 3));
	/* Nothing to fill: the ring is left armed, the caller waits. */
	it = (struct iov_iter) { .base = (u8 *)"xyz", .count = 3,
				 .fault_after = ~0UL };
	CHECK(vsq_write_iter(&f.vq, &it) == -EAGAIN);
	/*
	 * A long run of empty buffers ends the call (budget): 1024 chains of
	 * 8 empty descriptors each, 8192 walks, more than VSERIAL_XFER_WALK.
	 */
	fx_init(&f, 2, 1024, 0);
	for (int i = 0; i < 8; i++)
		gr_desc(&f.r, 0, i, DATA, 0, VRING_DESC_F_WRITE |
			(i < 7 ? VRING_DESC_F_NEXT : 0), i + 1);
	for (int i = 0; i < 1024; i++)
		gr_post(&f.r, 0);
	f.vq.walked = 0;
	it = (struct iov_iter) { .base = (u8 *)"xyz", .count = 3,
				 .fault_after = ~0UL };
	CHECK(vsq_write_iter(&f.vq, &it) == 0);
	CHECK(f.vq.walked >= VSERIAL_XFER_WALK &&
	      f.vq.walked <= VSERIAL_XFER_WALK + 8);
	CHECK(f.vq.used_idx == VSERIAL_XFER_WALK / 8);
	CHECK(!f.broken);
	/* An unmapped buffer breaks the queue. */
	fx_init(&f, 3, 8, 0);
	post1(&f, 0, ARENA_SIZE, 4, 0);
	it = (struct iov_iter) { .base = (u8 *)out, .count = 8,
				 .fault_after = ~0UL };
	CHECK(vsq_read_iter(&f.vq, &it) == -EIO && f.broken == 1);
	/* A used ring that is not writable breaks it too. */
	fx_init(&f, 3, 8, 0);
	post1(&f, 0, DATA, 0, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	f.vq.used_addr = ARENA_SIZE;	/* beyond memory */
	vsq_complete(&f.vq);
	CHECK(f.broken == 1 && vsq_take_completed(&f.vq) == 0);
}

/*
 * The available index is fetched once into the shadow and checked there:
 * a driver that moves it back and forth cannot make the engine see an
 * entry it then does not pop, nor skip the check (issue: every retry is
 * charged, every value checked once).
 */
static void test_avail_shadow(void)
{
	struct fx f;
	u32 walked;

	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_EVENT_IDX));
	post1(&f, 0, DATA, 0, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	vsq_complete(&f.vq);
	/* Empty: arm; the driver adds one, then takes the index back. */
	CHECK(!vsq_arm(&f.vq));
	post1(&f, 1, DATA, 0, 0);
	walked = f.vq.walked;
	CHECK(vsq_arm(&f.vq));		/* arrived: the retry costs a walk */
	CHECK(f.vq.walked == walked + 1);
	gw16(f.r.avail + 2, 1);		/* avail->idx back to 1 */
	CHECK(vsq_next_chain(&f.vq) == 1 && f.vq.chain.head == 1);
	vsq_complete(&f.vq);
	CHECK(!f.broken);
	/* A jump is checked where it is fetched, by arm as by pop. */
	fx_init(&f, 3, 8, 0);
	gw16(f.r.avail + 2, 9);
	CHECK(!vsq_arm(&f.vq) && f.broken == 1);
	/* The non-consumer's look changes nothing and reports nothing. */
	fx_init(&f, 3, 8, 0);
	gw16(f.r.avail + 2, 9);
	CHECK(vsq_has_avail(&f.vq) && !f.broken && f.vq.avail_idx == 0);
	fx_init(&f, 3, 8, 0);
	post1(&f, 0, DATA, 4, 0);
	f.vq.num = 3;
	CHECK(!vsq_has_avail(&f.vq) && !f.broken);
}

/*
 * A transfer that leaves the ring empty arms it: a poller that saw no
 * buffer is kicked for the next one.
 */
static void test_xfer_arms(void)
{
	struct iov_iter it;
	char out[16];
	struct fx f;

	fx_init(&f, 3, 8, BIT_ULL(VIRTIO_RING_F_EVENT_IDX));
	post1(&f, 0, DATA, 8, 0);
	post1(&f, 1, DATA, 8, 0);
	/* The user buffer ends with the ring's last byte: armed all the same. */
	it = (struct iov_iter) { .base = (u8 *)out, .count = 16,
				 .fault_after = ~0UL };
	CHECK(vsq_read_iter(&f.vq, &it) == 16);
	CHECK(gr_avail_event(&f.r) == 2);
	CHECK(!f.broken);
}

/*
 * The driver adds a buffer while the consumer arms: after avail_event is
 * written, before the index is read again (the hook runs at that read's
 * kmap).  @jump: it moves the index beyond the ring size instead.
 */
static bool race_jump;

static void add_when_armed(void *arg)
{
	struct fx *f = arg;

	if (gr_avail_event(&f->r) != f->vq.last_avail_idx)
		return;
	arena_hook = NULL;
	if (race_jump) {
		gw16(f->r.avail + 2, 9);
		return;
	}
	fill(DATA, "late");
	post1(f, 0, DATA, 4, 0);
}

static void arm_race(struct fx *f, bool jump)
{
	fx_init(f, 3, 8, BIT_ULL(VIRTIO_RING_F_EVENT_IDX));
	gw16(f->r.used + 4 + 8ULL * f->r.num, 0xffff);	/* not armed yet */
	race_jump = jump;
	arena_hook = add_when_armed;
	arena_hook_arg = f;
}

/*
 * Nothing moved, but the caller must not sleep on a buffer that came
 * while arming (0: retry, and the retry takes it); and a ring found
 * malformed while arming stops the queue (-EIO, not a wait).
 */
static void test_xfer_arm_race(void)
{
	struct iov_iter it;
	char out[8] = {};
	struct fx f;

	arm_race(&f, false);
	it = (struct iov_iter) { .base = (u8 *)out, .count = 8,
				 .fault_after = ~0UL };
	CHECK(vsq_read_iter(&f.vq, &it) == 0);
	CHECK(!arena_hook);		/* the driver did add it meanwhile */
	CHECK(vsq_read_iter(&f.vq, &it) == 4 && !memcmp(out, "late", 4));
	CHECK(!f.broken);

	arm_race(&f, true);
	it = (struct iov_iter) { .base = (u8 *)out, .count = 8,
				 .fault_after = ~0UL };
	CHECK(vsq_read_iter(&f.vq, &it) == -EIO);
	CHECK(f.broken == 1);
}

/*
 * A buffer whose end is not mapped: the bytes before it are the caller's
 * (the iterator moved past them), and the queue stops.
 */
static void test_xfer_partial_fault(void)
{
	struct iov_iter it;
	char out[8] = {};
	struct fx f;

	fx_init(&f, 3, 8, 0);
	fill(ARENA_SIZE - 4, "tail");
	post1(&f, 0, ARENA_SIZE - 4, 8, 0);
	it = (struct iov_iter) { .base = (u8 *)out, .count = 8,
				 .fault_after = ~0UL };
	CHECK(vsq_read_iter(&f.vq, &it) == 4);
	CHECK(!memcmp(out, "tail", 4) && it.count == 4);
	/* The rest is not mapped: the guest's fault stops the queue. */
	CHECK(f.broken == 1);
	CHECK(vsq_read_iter(&f.vq, &it) == -EIO && f.broken == 1);
}

/*
 * The driver moves the ring (set_vq_address while running): the chain
 * popped from the old one goes back, and the new ring's index is fetched
 * and checked afresh, not taken from the old ring's shadow.
 */
static void test_unpop_refetch(void)
{
	struct guest_ring r2;
	struct fx f;

	fx_init(&f, 3, 8, 0);
	post1(&f, 0, DATA, 4, 0);
	post1(&f, 1, DATA, 4, 0);
	post1(&f, 2, DATA, 4, 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	/* The new ring holds one entry. */
	gr_layout(&r2, RING_BASE + 0x4000, 8);
	gr_desc(&r2, 0, 0, DATA, 4, 0, 0);
	gr_post(&r2, 0);
	f.vq.desc_addr = r2.desc;
	f.vq.avail_addr = r2.avail;
	f.vq.used_addr = r2.used;
	vsq_unpop(&f.vq);
	CHECK(vsq_base(&f.vq) == 0);
	CHECK(vsq_next_chain(&f.vq) == 1);
	vsq_complete(&f.vq);
	CHECK(vsq_next_chain(&f.vq) == 0);
	CHECK(!f.broken);
}

int main(void)
{
	static const struct unit_test tests[] = {
		{ "tx_read", test_tx_read },
		{ "rx_write_chain", test_rx_write_chain },
		{ "ring_size_and_alignment", test_ring_size_and_alignment },
		{ "avail_checks", test_avail_checks },
		{ "indirect", test_indirect },
		{ "direction_and_wrap", test_direction_and_wrap },
		{ "index_wrap", test_index_wrap },
		{ "iotlb_permissions", test_iotlb_permissions },
		{ "event_idx", test_event_idx },
		{ "reset_continue", test_reset_continue },
		{ "fence_and_abandon", test_fence_and_abandon },
		{ "iter", test_iter },
		{ "avail_shadow", test_avail_shadow },
		{ "xfer_arms", test_xfer_arms },
		{ "xfer_arm_race", test_xfer_arm_race },
		{ "xfer_partial_fault", test_xfer_partial_fault },
		{ "unpop_refetch", test_unpop_refetch },
	};
	int r;

	arena_init();
	r = unit_run("vq_test", tests, ARRAY_SIZE(tests));
	return r;
}
