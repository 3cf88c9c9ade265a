/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace shim of the kernel's vhost_iotlb (drivers/vhost/iotlb.c):
 * the same API and lookup order (by start address), over a sorted list.
 */
#ifndef _VS_SHIM_VHOST_IOTLB_H
#define _VS_SHIM_VHOST_IOTLB_H

#include "../vs_shim.h"

#define VHOST_MAP_RO	0x1
#define VHOST_MAP_WO	0x2
#define VHOST_MAP_RW	0x3
#define VHOST_IOTLB_FLAG_RETIRE	0x1	/* not implemented by the shim */

struct vhost_iotlb_map {
	u64 start;
	u64 last;
	u64 size;
	u64 addr;
	u32 perm;
	void *opaque;
	struct vhost_iotlb_map *next;	/* by start */
};

struct vhost_iotlb {
	struct vhost_iotlb_map *maps;
	unsigned int nmaps;
	unsigned int limit;
	unsigned int flags;
};

struct vhost_iotlb *vhost_iotlb_alloc(unsigned int limit, unsigned int flags);
void vhost_iotlb_free(struct vhost_iotlb *iotlb);
int vhost_iotlb_add_range_ctx(struct vhost_iotlb *iotlb, u64 start, u64 last,
			      u64 addr, unsigned int perm, void *opaque);
struct vhost_iotlb_map *vhost_iotlb_itree_first(struct vhost_iotlb *iotlb,
						u64 start, u64 last);
struct vhost_iotlb_map *vhost_iotlb_itree_next(struct vhost_iotlb_map *map,
					       u64 start, u64 last);

#endif
