/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace shim for the layers of vdpa_vserial that tools/ compiles
 * unmodified (in the manner of tools/virtio for vringh): just enough of
 * the kernel's API, with guest memory in one arena (see arena.h).  Every
 * header under tools/include/linux includes this one file.
 */
#ifndef _VS_SHIM_H
#define _VS_SHIM_H

#include <linux/types.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define __acquires(x)
#define __releases(x)
#define __must_check	__attribute__((warn_unused_result))
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define READ_ONCE(x)	(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define smp_rmb()	__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_wmb()	__atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_mb()	__atomic_thread_fence(__ATOMIC_SEQ_CST)

#define BIT(n)		(1UL << (n))
#define BIT_ULL(n)	(1ULL << (n))
#define U64_MAX		UINT64_MAX
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define BUILD_BUG_ON(c)	_Static_assert(!(c), #c)
#define WARN_ON(c)	({ int __c = !!(c); if (__c) vs_shim_warn(__FILE__, __LINE__); __c; })
#define WARN_ON_ONCE(c)	WARN_ON(c)
#define BUG_ON(c)	do { if (c) abort(); } while (0)

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

#define min(a, b)	((a) < (b) ? (a) : (b))
#define max(a, b)	((a) > (b) ? (a) : (b))
#define min_t(t, a, b)	((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define max_t(t, a, b)	((t)(a) > (t)(b) ? (t)(a) : (t)(b))
#define min3(a, b, c)	min(min(a, b), c)

static inline bool is_power_of_2(unsigned long n)
{
	return n && !(n & (n - 1));
}

/* x86 and arm64 userspace: little endian, like virtio 1.x. */
#define le16_to_cpu(x)	((u16)(x))
#define le32_to_cpu(x)	((u32)(x))
#define le64_to_cpu(x)	((u64)(x))
#define cpu_to_le16(x)	((__le16)(x))
#define cpu_to_le32(x)	((__le32)(x))
#define cpu_to_le64(x)	((__le64)(x))

/* Debug messages: printed with VS_SHIM_DEBUG=1 in the environment. */
struct device {
	const char *name;
};
extern int vs_shim_debug;
#define dev_dbg(dev, fmt, ...) \
	do { if (vs_shim_debug) fprintf(stderr, fmt, ##__VA_ARGS__); } while (0)
#define pr_debug(fmt, ...) dev_dbg(NULL, fmt, ##__VA_ARGS__)
void vs_shim_warn(const char *file, int line);

#define MAX_ERRNO	4095
static inline void *ERR_PTR(long e) { return (void *)e; }
static inline long PTR_ERR(const void *p) { return (long)p; }
static inline bool IS_ERR(const void *p)
{
	return (unsigned long)p >= (unsigned long)-MAX_ERRNO;
}

/* One thread: locks only have to exist. */
typedef struct { int unused; } spinlock_t;
#define spin_lock_init(l)	((void)(l))
typedef struct { int counter; } atomic_t;
#define atomic_read(a)		READ_ONCE((a)->counter)
#define atomic_set(a, v)	WRITE_ONCE((a)->counter, (v))
static inline int atomic_cmpxchg(atomic_t *a, int old, int new)
{
	__atomic_compare_exchange_n(&a->counter, &old, new, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return old;
}

static inline void cond_resched(void) { }

/* Guest memory: pages of the arena (arena.c). */
#define PAGE_SHIFT	12
#define PAGE_SIZE	(1UL << PAGE_SHIFT)
#define PHYS_PFN(x)	((unsigned long)((x) >> PAGE_SHIFT))
#define offset_in_page(p) ((unsigned long)(p) & (PAGE_SIZE - 1))
struct page {
	long refcount;
};
bool pfn_valid(unsigned long pfn);
struct page *pfn_to_page(unsigned long pfn);
void *kmap_local_page(struct page *page);
void kunmap_local(const void *addr);
void get_page(struct page *page);
void put_page(struct page *page);

/* A host program's buffer: one iovec, possibly faulting part way. */
struct iov_iter {
	u8 *base;
	size_t count;		/* bytes left */
	size_t fault_after;	/* bytes that copy before a "fault" */
};
static inline size_t iov_iter_count(const struct iov_iter *i)
{
	return i->count;
}
size_t copy_to_iter(const void *addr, size_t bytes, struct iov_iter *i);
size_t copy_from_iter(void *addr, size_t bytes, struct iov_iter *i);

/* Bits, bitmaps and lists, for the control protocol. */
#define U16_MAX		0xffff
#define __force
#define __packed	__attribute__((packed))
#define BITS_PER_LONG	(8 * sizeof(long))
#define BITS_TO_LONGS(n) (((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
static inline bool test_bit(unsigned long nr, const unsigned long *addr)
{
	return addr[nr / BITS_PER_LONG] & (1UL << (nr % BITS_PER_LONG));
}
static inline void __set_bit(unsigned long nr, unsigned long *addr)
{
	addr[nr / BITS_PER_LONG] |= 1UL << (nr % BITS_PER_LONG);
}
static inline void __clear_bit(unsigned long nr, unsigned long *addr)
{
	addr[nr / BITS_PER_LONG] &= ~(1UL << (nr % BITS_PER_LONG));
}
static inline bool __test_and_set_bit(unsigned long nr, unsigned long *addr)
{
	bool old = test_bit(nr, addr);

	__set_bit(nr, addr);
	return old;
}
static inline unsigned long find_first_bit(const unsigned long *addr,
					   unsigned long size)
{
	unsigned long i;

	for (i = 0; i < size; i++)
		if (test_bit(i, addr))
			return i;
	return size;
}
static inline bool bitmap_empty(const unsigned long *addr, unsigned long n)
{
	return find_first_bit(addr, n) >= n;
}
static inline void bitmap_zero(unsigned long *addr, unsigned long n)
{
	memset(addr, 0, BITS_TO_LONGS(n) * sizeof(long));
}

#define GFP_KERNEL	0
void *vs_shim_alloc(size_t n);
#define kcalloc(n, size, gfp)	vs_shim_alloc((n) * (size))
#define kfree(p)		free(p)
#define bitmap_zalloc(n, gfp)	vs_shim_alloc(BITS_TO_LONGS(n) * sizeof(long))
#define bitmap_free(p)		free(p)

typedef struct { long long counter; } atomic64_t;
#define atomic64_inc(a)		((a)->counter++)
#define atomic64_read(a)	((a)->counter)
#define smp_store_release(p, v)	__atomic_store_n(p, v, __ATOMIC_RELEASE)
#define smp_load_acquire(p)	__atomic_load_n(p, __ATOMIC_ACQUIRE)
#define strnlen(s, n)		strnlen(s, n)

struct list_head {
	struct list_head *next, *prev;
};
static inline void INIT_LIST_HEAD(struct list_head *l)
{
	l->next = l;
	l->prev = l;
}
static inline bool list_empty(const struct list_head *l)
{
	return l->next == l;
}
static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}
static inline void list_del_init(struct list_head *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	INIT_LIST_HEAD(n);
}
#define list_entry(p, type, member)	container_of(p, type, member)
/* list_for_each_entry() over struct vsp_port.node, for the harnesses. */
#define list_for_each_entry_shim(pos, head)				\
	for (pos = list_entry((head)->next, __typeof__(*pos), node);	\
	     &pos->node != (head);					\
	     pos = list_entry(pos->node.next, __typeof__(*pos), node))
#define list_first_entry_or_null(h, type, member) \
	(list_empty(h) ? NULL : list_entry((h)->next, type, member))

/* Strings, for the parsers. */
#include <ctype.h>
/*
 * The kernel's isgraph() (lib/ctype.c) takes Latin-1 too: 0xa1-0xff are
 * graphic there, not in the C library's "C" locale.
 */
static inline int vs_shim_isgraph(int c)
{
	c = (unsigned char)c;
	return (c > 0x20 && c < 0x7f) || c > 0xa0;
}
#undef isgraph
#define isgraph(c)	vs_shim_isgraph(c)
/* ... and its isspace() takes 0xa0 (no-break space) too. */
static inline int vs_shim_isspace(int c)
{
	c = (unsigned char)c;
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}
#undef isspace
#define isspace(c)	vs_shim_isspace(c)
char *strim(char *s);
static inline size_t str_has_prefix(const char *str, const char *prefix)
{
	size_t len = strlen(prefix);

	return strncmp(str, prefix, len) == 0 ? len : 0;
}

#endif /* _VS_SHIM_H */
