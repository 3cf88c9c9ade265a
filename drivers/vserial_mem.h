/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: guest memory.
 *
 * The lowest layer: how the device reaches the memory a driver gives it.
 * An IOVA is translated through the device's copy of the IOTLB (set by
 * vhost-vdpa: IOVA to pinned physical pages, each page held by a
 * reference of ours), or, while no map is set, taken as a physical
 * address (the identity map, for virtio_vdpa).  This is the only file
 * that looks into a vhost_iotlb or uses pfn_valid() and
 * kmap_local_page(); the device core only hands maps over.
 *
 * It knows nothing above it: no queue, no device, no lock.  The caller
 * keeps the map from changing while it copies (the device core's
 * quiesce, see vserial_vdpa.c).
 */
#ifndef _VSERIAL_MEM_H
#define _VSERIAL_MEM_H

#include <linux/types.h>

struct iov_iter;
struct vhost_iotlb;

/**
 * struct vsm - the guest memory a device reaches
 * @iotlb: the device's copy of the map, NULL for the identity map
 * @pt_ok: the identity map may be used (the driver is in the kernel);
 *	without it and without @iotlb, no IOVA is mapped at all
 */
struct vsm {
	struct vhost_iotlb *iotlb;
	bool pt_ok;
};

/**
 * vsm_xfer() - copy between guest memory and a kernel buffer or an iterator
 * @m: guest memory
 * @iova: where in guest memory
 * @len: bytes to copy
 * @to_guest: direction: into guest memory (a device-writable buffer)
 * @kbuf: the kernel buffer, used when @iter is NULL
 * @iter: the iterator, or NULL
 * @unmapped: set if the copy stopped where the guest range stops being
 *	mapped for the access (the guest's fault, not @iter's)
 *
 * Every byte must be mapped with the permission the direction needs.
 *
 * Return: the bytes copied, short when @iter faults or the guest range
 * stops being mapped for the access part-way (the bytes before are
 * copied, and @iter has moved past them); -EFAULT if its first byte is
 * not mapped.
 */
ssize_t vsm_xfer(const struct vsm *m, u64 iova, size_t len, bool to_guest,
		 void *kbuf, struct iov_iter *iter, bool *unmapped);

/**
 * vsm_read() - copy @len bytes of guest memory at @iova into @buf
 * @m: guest memory
 * @iova: where in guest memory
 * @buf: destination
 * @len: bytes
 *
 * Return: 0, or -EFAULT if any byte is not mapped for reading.
 */
int vsm_read(const struct vsm *m, u64 iova, void *buf, size_t len);

/**
 * vsm_write() - copy @len bytes of @buf into guest memory at @iova
 * @m: guest memory
 * @iova: where in guest memory
 * @buf: source
 * @len: bytes
 *
 * Return: 0, or -EFAULT if any byte is not mapped for writing.
 */
int vsm_write(const struct vsm *m, u64 iova, const void *buf, size_t len);

/**
 * vsm_load16() - one little-endian 16-bit load of a field the other side
 *	writes concurrently (a ring index)
 * @m: guest memory
 * @iova: the field, which must lie in one page
 * @val: the value read
 *
 * Return: 0, or -EFAULT if the field is not mapped for reading.
 */
int vsm_load16(const struct vsm *m, u64 iova, u16 *val);

/**
 * vsm_store16() - one little-endian 16-bit store of such a field
 * @m: guest memory
 * @iova: the field, which must lie in one page
 * @val: the value to store
 *
 * Return: 0, or -EFAULT if the field is not mapped for writing.
 */
int vsm_store16(const struct vsm *m, u64 iova, u16 val);

/**
 * vsm_map_copy() - the device's copy of a driver's IOTLB
 * @src: the map vhost-vdpa hands the device
 *
 * Each page the copy maps is held by a page reference until
 * vsm_map_free(): a page the device may reach is never freed under it.
 * Entries whose physical range wraps are left out.  The copy has the
 * source's entry limit.  May sleep.
 *
 * Return: the copy, or an ERR_PTR().
 */
struct vhost_iotlb *vsm_map_copy(struct vhost_iotlb *src);

/**
 * vsm_map_free() - drop the page references of a copy and free it
 * @iotlb: a copy made by vsm_map_copy(), or NULL
 *
 * No copy may be in flight through @iotlb.  May sleep.
 */
void vsm_map_free(struct vhost_iotlb *iotlb);

#endif /* _VSERIAL_MEM_H */
