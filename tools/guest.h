/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The driver's side of a split ring, in the guest's view of the arena:
 * what the unit tests and the fuzzer play against the engine.  Plain
 * stores, as a driver makes them; the engine must cope with anything.
 */
#ifndef _VS_GUEST_H
#define _VS_GUEST_H

#include "arena.h"

struct guest_ring {
	u64 desc;
	u64 avail;
	u64 used;
	u32 num;
	u16 avail_idx;		/* the driver's next available entry */
};

static inline void gw16(u64 pa, u16 v)
{
	memcpy(arena_guest(pa), &v, sizeof(v));
}

static inline void gw32(u64 pa, u32 v)
{
	memcpy(arena_guest(pa), &v, sizeof(v));
}

static inline void gw64(u64 pa, u64 v)
{
	memcpy(arena_guest(pa), &v, sizeof(v));
}

/* What the device wrote at @pa (its view: a write-only page's sink). */
static inline u16 dr16(u64 pa)
{
	u16 v;

	memcpy(&v, arena_device(pa), sizeof(v));
	return v;
}

static inline u32 dr32(u64 pa)
{
	u32 v;

	memcpy(&v, arena_device(pa), sizeof(v));
	return v;
}

/* The standard layout at @base: descriptors, available ring, used ring. */
static inline void gr_layout(struct guest_ring *r, u64 base, u32 num)
{
	r->num = num;
	r->desc = base;
	r->avail = base + 16ULL * num;
	r->used = (r->avail + 6 + 2ULL * num + 3) & ~3ULL;
	r->avail_idx = 0;
}

static inline u64 gr_end(const struct guest_ring *r)
{
	return r->used + 6 + 8ULL * r->num;
}

static inline void gr_desc(struct guest_ring *r, u64 table, u16 i, u64 addr,
			   u32 len, u16 flags, u16 next)
{
	u64 d = (table ? table : r->desc) + 16ULL * i;

	gw64(d, addr);
	gw32(d + 8, len);
	gw16(d + 12, flags);
	gw16(d + 14, next);
}

/* Make chain @head available. */
static inline void gr_post(struct guest_ring *r, u16 head)
{
	gw16(r->avail + 4 + 2ULL * (r->avail_idx % r->num), head);
	r->avail_idx++;
	gw16(r->avail + 2, r->avail_idx);
}

static inline void gr_avail_flags(struct guest_ring *r, u16 flags)
{
	gw16(r->avail, flags);
}

static inline void gr_used_event(struct guest_ring *r, u16 v)
{
	gw16(r->avail + 4 + 2ULL * r->num, v);
}

static inline u16 gr_used_idx(const struct guest_ring *r)
{
	return dr16(r->used + 2);
}

static inline u32 gr_used_id(const struct guest_ring *r, u16 i)
{
	return dr32(r->used + 4 + 8ULL * (i % r->num));
}

static inline u32 gr_used_len(const struct guest_ring *r, u16 i)
{
	return dr32(r->used + 8 + 8ULL * (i % r->num));
}

static inline u16 gr_avail_event(const struct guest_ring *r)
{
	return dr16(r->used + 4 + 8ULL * r->num);
}

#endif
