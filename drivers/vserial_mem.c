// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: guest memory (see vserial_mem.h).
 *
 * vhost_vdpa unpins the pages of a range it unmaps before it hands us the
 * new map -- within a batch, long before.  So the device's copy of the
 * map holds a reference on every page it maps (map->opaque set): a page
 * the device may still reach is never freed and reused under it, in
 * whatever order a VMM unmaps and frees its memory.  vhost_vdpa maps only
 * pages it has pinned, so the references are bounded by the VMM's locked
 * memory limit.
 */

#include <linux/err.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/uio.h>
#include <linux/vhost_iotlb.h>

#include "vserial_mem.h"

/* Translate @iova; return the physical address and the contiguous length. */
static int vsm_translate(const struct vsm *m, u64 iova, u64 len, bool write,
			 phys_addr_t *pa, u64 *seg)
{
	struct vhost_iotlb_map *map;

	if (!m->iotlb) {
		if (!m->pt_ok)
			return -EFAULT;
		*pa = iova;
		*seg = len;
		return 0;
	}

	map = vhost_iotlb_itree_first(m->iotlb, iova, iova);
	if (!map || !(map->perm & (write ? VHOST_MAP_WO : VHOST_MAP_RO)))
		return -EFAULT;

	*pa = map->addr + (iova - map->start);
	*seg = map->last - iova >= len - 1 ? len : map->last - iova + 1;
	return 0;
}

ssize_t vsm_xfer(const struct vsm *m, u64 iova, size_t len, bool to_guest,
		 void *kbuf, struct iov_iter *iter, bool *unmapped)
{
	size_t done = 0;

	*unmapped = false;

	while (done < len) {
		phys_addr_t pa;
		u64 seg;

		/* What was copied is the caller's: the iterator moved. */
		if (vsm_translate(m, iova + done, len - done, to_guest,
				  &pa, &seg))
			goto unmapped;

		while (seg) {
			unsigned long pfn = PHYS_PFN(pa);
			size_t off = offset_in_page(pa);
			size_t n = min_t(u64, seg, PAGE_SIZE - off);
			size_t copied = n;
			void *p;

			if (!pfn_valid(pfn))
				goto unmapped;

			p = kmap_local_page(pfn_to_page(pfn)) + off;
			if (iter && to_guest)
				copied = copy_from_iter(p, n, iter);
			else if (iter)
				copied = copy_to_iter(p, n, iter);
			else if (to_guest)
				memcpy(p, kbuf + done, n);
			else
				memcpy(kbuf + done, p, n);
			kunmap_local(p);

			done += copied;
			if (copied < n)
				return done;
			pa += n;
			seg -= n;
		}
	}
	return done;

unmapped:
	*unmapped = true;
	return done ?: -EFAULT;
}

int vsm_read(const struct vsm *m, u64 iova, void *buf, size_t len)
{
	bool unmapped;

	return vsm_xfer(m, iova, len, false, buf, NULL, &unmapped) == len ?
	       0 : -EFAULT;
}

int vsm_write(const struct vsm *m, u64 iova, const void *buf, size_t len)
{
	bool unmapped;

	return vsm_xfer(m, iova, len, true, (void *)buf, NULL, &unmapped) ==
	       len ? 0 : -EFAULT;
}

/*
 * The ring's index fields are written by the other side concurrently:
 * they are accessed with single, naturally aligned 16-bit loads and
 * stores, never copied bytewise.
 */
static __le16 *vsm_map16(const struct vsm *m, u64 iova, bool write)
{
	phys_addr_t pa;
	u64 seg;

	if (vsm_translate(m, iova, sizeof(__le16), write, &pa, &seg) ||
	    seg < sizeof(__le16) || !IS_ALIGNED(pa, sizeof(__le16)) ||
	    !pfn_valid(PHYS_PFN(pa)))
		return NULL;
	return kmap_local_page(pfn_to_page(PHYS_PFN(pa))) + offset_in_page(pa);
}

int vsm_load16(const struct vsm *m, u64 iova, u16 *val)
{
	__le16 *p = vsm_map16(m, iova, false);

	if (!p)
		return -EFAULT;
	*val = le16_to_cpu(READ_ONCE(*p));
	kunmap_local(p);
	return 0;
}

int vsm_store16(const struct vsm *m, u64 iova, u16 val)
{
	__le16 *p = vsm_map16(m, iova, true);

	if (!p)
		return -EFAULT;
	WRITE_ONCE(*p, cpu_to_le16(val));
	kunmap_local(p);
	return 0;
}

/* Take (@get) or drop the references of the pages @map reaches. */
static bool vsm_map_pages(struct vhost_iotlb_map *map, bool get)
{
	unsigned long pfn = PHYS_PFN(map->addr);
	unsigned long last;

	/* A range that wraps the physical address space maps nothing. */
	if (map->addr + (map->last - map->start) < map->addr)
		return false;
	last = PHYS_PFN(map->addr + (map->last - map->start));
	for (; pfn <= last; pfn++) {
		if (pfn_valid(pfn)) {
			if (get)
				get_page(pfn_to_page(pfn));
			else
				put_page(pfn_to_page(pfn));
		}
		if (!(pfn % 4096))
			cond_resched();
	}
	return true;
}

void vsm_map_free(struct vhost_iotlb *iotlb)
{
	struct vhost_iotlb_map *map;

	if (!iotlb)
		return;
	for (map = vhost_iotlb_itree_first(iotlb, 0, U64_MAX); map;
	     map = vhost_iotlb_itree_next(map, 0, U64_MAX))
		if (map->opaque)
			vsm_map_pages(map, false);
	vhost_iotlb_free(iotlb);
}

struct vhost_iotlb *vsm_map_copy(struct vhost_iotlb *src)
{
	struct vhost_iotlb_map *map;
	struct vhost_iotlb *new;
	int ret;

	new = vhost_iotlb_alloc(max(src->limit, src->nmaps), 0);
	if (!new)
		return ERR_PTR(-ENOMEM);
	for (map = vhost_iotlb_itree_first(src, 0, U64_MAX); map;
	     map = vhost_iotlb_itree_next(map, 0, U64_MAX)) {
		if (!vsm_map_pages(map, true)) {
			pr_debug("vdpa_vserial: IOTLB entry %#llx wraps\n",
				 map->start);
			continue;
		}
		/* opaque: this entry holds page references. */
		ret = vhost_iotlb_add_range_ctx(new, map->start, map->last,
						map->addr, map->perm, new);
		if (ret) {
			vsm_map_pages(map, false);
			vsm_map_free(new);
			return ERR_PTR(ret);
		}
	}
	return new;
}
