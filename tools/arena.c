// SPDX-License-Identifier: GPL-2.0-only
/*
 * The userspace shim's guest memory (arena.h), page references, the
 * host-side iov_iter and vhost_iotlb.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "arena.h"

void (*arena_hook)(void *arg);
void *arena_hook_arg;
unsigned long arena_kmaps;

static int arena_fd;
static u8 *guest_base;		/* ARENA_PAGES real pages */
static u8 *sink_base;		/* ARENA_PAGES sinks, in the same file */
static u8 *dev_base;		/* device view, a guard page each side */
static unsigned int dev_state[ARENA_PAGES];
static struct page pages[ARENA_PAGES];
static u64 secret;

static void arena_map_page(unsigned long pfn, unsigned int perm)
{
	off_t off = (perm == VHOST_MAP_WO ? ARENA_PAGES + pfn : pfn) * PAGE_SIZE;
	int prot = perm == VHOST_MAP_RO ? PROT_READ :
		   perm ? PROT_READ | PROT_WRITE : PROT_NONE;
	void *p;

	p = mmap(dev_base + (pfn + 1) * PAGE_SIZE, PAGE_SIZE, prot,
		 MAP_SHARED | MAP_FIXED, arena_fd, off);
	if (p == MAP_FAILED) {
		perror("arena: mmap");
		abort();
	}
	dev_state[pfn] = perm;
}

void arena_init(void)
{
	unsigned long i;

	if (dev_base)
		return;
	vs_shim_debug = !!getenv("VS_SHIM_DEBUG");
	if (getrandom(&secret, sizeof(secret), 0) != sizeof(secret))
		abort();
	secret |= 0x8080808080808080ULL;
	arena_fd = memfd_create("vserial-arena", 0);
	if (arena_fd < 0 || ftruncate(arena_fd, 2 * ARENA_SIZE))
		abort();
	guest_base = mmap(NULL, 2 * ARENA_SIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED, arena_fd, 0);
	dev_base = mmap(NULL, ARENA_SIZE + 2 * PAGE_SIZE, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guest_base == MAP_FAILED || dev_base == MAP_FAILED)
		abort();
	sink_base = guest_base + ARENA_SIZE;
	for (i = 0; i < ARENA_PAGES; i++)
		arena_map_page(i, 0);
	arena_reset();	/* page references are never reset: they must balance */
}

void arena_reset(void)
{
	unsigned long i;

	static u64 sink_page[PAGE_SIZE / sizeof(u64)];

	if (!sink_page[0])
		for (i = 0; i < ARRAY_SIZE(sink_page); i++)
			sink_page[i] = secret;
	memset(guest_base, 0, ARENA_SIZE);
	for (i = 0; i < ARENA_PAGES; i++)
		memcpy(sink_base + i * PAGE_SIZE, sink_page, PAGE_SIZE);

	arena_hook = NULL;
	arena_kmaps = 0;
}

void arena_protect(unsigned long pfn, unsigned int perm)
{
	if (pfn < ARENA_PAGES && dev_state[pfn] != perm)
		arena_map_page(pfn, perm);
}

void arena_protect_all(unsigned int perm)
{
	unsigned long i;

	for (i = 0; i < ARENA_PAGES; i++)
		arena_protect(i, perm);
}

void *arena_guest(u64 pa)
{
	if (pa >= ARENA_SIZE)
		abort();
	return guest_base + pa;
}

void *arena_device(u64 pa)
{
	if (pa >= ARENA_SIZE)
		abort();
	if (dev_state[PHYS_PFN(pa)] == VHOST_MAP_WO)
		return sink_base + pa;
	return guest_base + pa;
}

bool arena_leaks(const void *buf, size_t len)
{
	const u8 *p = buf;
	size_t i;
	int r;

	for (i = 0; i + sizeof(u64) <= len; i++) {
		u64 w;

		memcpy(&w, p + i, sizeof(w));
		for (r = 0; r < 64; r += 8)
			if (w == (secret >> r | secret << (64 - r) % 64))
				return true;
	}
	return false;
}

long arena_refs(void)
{
	long n = 0;
	int i;

	for (i = 0; i < ARENA_PAGES; i++)
		n += pages[i].refcount;
	return n;
}

bool pfn_valid(unsigned long pfn)
{
	return pfn < ARENA_PAGES;
}

struct page *pfn_to_page(unsigned long pfn)
{
	if (pfn >= ARENA_PAGES)
		abort();	/* the kernel would map something else */
	return &pages[pfn];
}

void *kmap_local_page(struct page *page)
{
	arena_kmaps++;
	if (arena_hook)
		arena_hook(arena_hook_arg);
	return dev_base + (page - pages + 1) * PAGE_SIZE;
}

void kunmap_local(const void *addr)
{
	(void)addr;
}

void get_page(struct page *page)
{
	page->refcount++;
}

void put_page(struct page *page)
{
	if (--page->refcount < 0) {
		fprintf(stderr, "put_page: page %ld has no reference\n",
			(long)(page - pages));
		abort();
	}
}

static size_t iter_take(struct iov_iter *i, size_t bytes)
{
	size_t n = min(bytes, i->count);

	return min(n, i->fault_after);
}

size_t copy_to_iter(const void *addr, size_t bytes, struct iov_iter *i)
{
	size_t n = iter_take(i, bytes);

	memcpy(i->base, addr, n);
	i->base += n;
	i->count -= n;
	i->fault_after -= n;
	return n;
}

size_t copy_from_iter(void *addr, size_t bytes, struct iov_iter *i)
{
	size_t n = iter_take(i, bytes);

	memcpy(addr, i->base, n);
	i->base += n;
	i->count -= n;
	i->fault_after -= n;
	return n;
}

/* vhost_iotlb, as drivers/vhost/iotlb.c behaves for these calls. */
struct vhost_iotlb *vhost_iotlb_alloc(unsigned int limit, unsigned int flags)
{
	struct vhost_iotlb *iotlb = calloc(1, sizeof(*iotlb));

	if (iotlb) {
		iotlb->limit = limit;
		iotlb->flags = flags;
	}
	return iotlb;
}

void vhost_iotlb_free(struct vhost_iotlb *iotlb)
{
	struct vhost_iotlb_map *m, *n;

	if (!iotlb)
		return;
	for (m = iotlb->maps; m; m = n) {
		n = m->next;
		free(m);
	}
	free(iotlb);
}

int vhost_iotlb_add_range_ctx(struct vhost_iotlb *iotlb, u64 start, u64 last,
			      u64 addr, unsigned int perm, void *opaque)
{
	struct vhost_iotlb_map *map, **pp;

	if (last < start)
		return -EFAULT;
	/* As the kernel: [0, U64_MAX] is two maps (its size would be 0). */
	if (start == 0 && last == U64_MAX) {
		u64 mid = U64_MAX / 2;
		int r = vhost_iotlb_add_range_ctx(iotlb, 0, mid, addr, perm,
						  opaque);

		if (r)
			return r;
		addr += mid + 1;
		start = mid + 1;
	}
	/*
	 * As the kernel: the entry limit only retires the oldest entry with
	 * VHOST_IOTLB_FLAG_RETIRE; without it, nothing is enforced.
	 */
	map = calloc(1, sizeof(*map));
	if (!map)
		return -ENOMEM;
	map->start = start;
	map->last = last;
	map->size = last - start + 1;
	map->addr = addr;
	map->perm = perm;
	map->opaque = opaque;
	for (pp = &iotlb->maps; *pp && (*pp)->start <= start; pp = &(*pp)->next)
		;
	map->next = *pp;
	*pp = map;
	iotlb->nmaps++;
	return 0;
}

static struct vhost_iotlb_map *iotlb_from(struct vhost_iotlb_map *m,
					  u64 start, u64 last)
{
	for (; m && m->start <= last; m = m->next)
		if (m->last >= start)
			return m;
	return NULL;
}

struct vhost_iotlb_map *vhost_iotlb_itree_first(struct vhost_iotlb *iotlb,
						u64 start, u64 last)
{
	return iotlb_from(iotlb->maps, start, last);
}

struct vhost_iotlb_map *vhost_iotlb_itree_next(struct vhost_iotlb_map *map,
					       u64 start, u64 last)
{
	return iotlb_from(map->next, start, last);
}
