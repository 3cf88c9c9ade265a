/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial: the device side of split virtqueues (the ring engine).
 *
 * The engine sits on the guest-memory layer (vserial_mem.h) and on
 * nothing else: it knows no port, no control protocol and no vDPA
 * device.  It checks everything the driver writes -- indexes, lengths,
 * addresses, flags -- before use, and reports a malformed ring by
 * returning -EIO and calling up once through vsq_host.broken; what the
 * device does about it is the device core's business.
 *
 * The caller keeps the guest memory map and the queue configuration from
 * changing while it works on a queue, and is the queue's only consumer
 * (see the table in vserial_dev.h).
 */
#ifndef _VSERIAL_VQ_H
#define _VSERIAL_VQ_H

#include <linux/atomic.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include "vserial_mem.h"

struct iov_iter;
struct vsq;

/* Queue size limits; QEMU 10.0 forces 1024 entries. */
#define VSERIAL_VQ_NUM_MAX	1024
/* Longest descriptor chain accepted, direct and indirect together. */
#define VSERIAL_CHAIN_MAX	VSERIAL_VQ_NUM_MAX
/* Descriptors one vsq_read_iter() or vsq_write_iter() walks, at most. */
#define VSERIAL_XFER_WALK	4096

/* Where the consumer of a descriptor chain stands. */
struct vsq_chain {
	u64 table;		/* IOVA of the indirect table, if indirect */
	u64 addr;		/* IOVA of the rest of the current segment */
	u64 consumed;		/* bytes read or written so far */
	u64 head_addr;		/* the head descriptor, as first read */
	u32 head_len;
	u32 len;		/* bytes left in the current segment */
	u32 table_num;		/* entries of the indirect table */
	u32 seen;		/* descriptors visited so far */
	u32 written;		/* bytes the device wrote (used length) */
	u16 head_flags;
	u16 head;		/* head index, reported in the used ring */
	u16 next;		/* next descriptor, valid if has_next */
	u16 pos;		/* available ring position it came from */
	bool has_next;
	bool indirect;		/* walking the indirect table at @table */
	bool write;		/* current segment is device-writable */
};

/*
 * A chain the device let go of with part of it consumed: the device was
 * reset or the ring moved while the chain was in flight.  The queue
 * state reports such a chain as not processed (nothing is completed
 * that was not consumed whole), so a driver that continues the ring
 * brings it back at the same position; the consumer then continues
 * where it stopped instead of taking its first bytes again.
 */
struct vsq_resume {
	u64 head_addr;		/* the chain, to recognise it */
	u64 skip;		/* bytes consumed before */
	u32 head_len;
	u16 head_flags;
	u16 head;
	u16 pos;
	bool discard;		/* the rest too, unread (vsq_abandon()) */
	bool valid;
};

/* The ring as it was at the last device reset, see vsq_continues(). */
struct vsq_saved {
	u64 desc_addr;
	u64 avail_addr;
	u64 used_addr;
	u32 num;
	u16 base;
	bool valid;
};

/* vsq->fence: chains popped before position (fence & 0xffff) are stale. */
#define VSQ_FENCE_SET	BIT(16)

/**
 * struct vsq_host - what the engine needs of the device it serves
 * @mem: the guest memory the rings and buffers are in
 * @features: the features the driver accepted (EVENT_IDX, INDIRECT_DESC)
 * @driver_ok: the driver set DRIVER_OK: the rings may be used
 * @suspended: the device is suspended: no ring is touched
 * @broken: called once when a queue is found malformed and stopped, with
 *	the queue owner's locks held; it must not call back into the engine
 *	for that queue (the device core sets NEEDS_RESET and wakes the
 *	consumer)
 *
 * One per device, shared by its queues; the device core owns and writes
 * it, the engine only reads it.
 */
struct vsq_host {
	struct vsm mem;
	u64 features;
	bool driver_ok;
	bool suspended;
	void (*broken)(struct vsq *vq);
};

struct vsq {
	spinlock_t lock;	/* ring state of atomic-owned queues */
	const struct vsq_host *host;
	u64 desc_addr;
	u64 avail_addr;
	u64 used_addr;
	u32 num;
	u16 idx;
	u16 last_avail_idx;	/* next avail entry to consume */
	/*
	 * The driver's avail->idx as last fetched and checked (at most
	 * @num ahead of @last_avail_idx): the only copy the engine uses, so
	 * that a value is read from guest memory, and checked, once.
	 */
	u16 avail_idx;
	u16 used_idx;		/* shadow of used->idx */
	u16 signalled_used;	/* used->idx at the last interrupt */
	u32 completed;		/* buffers used, see vsq_take_completed() */
	u32 walked;		/* descriptors read, for work budgets */
	u64 discarded;		/* bytes returned unread, vsq_take_discarded() */
	bool signalled_valid;
	bool ready;
	bool broken;		/* malformed ring: stopped until reset */
	const char *why;	/* ... what was wrong, for the log */
	bool device_writes;	/* receive queue: the device fills buffers */
	bool chain_active;	/* @chain is popped and not yet used */
	struct vsq_chain chain;
	/* Carried across device reset; see vsq_reset(), vsq_continues(). */
	struct vsq_resume resume;
	struct vsq_saved saved;
	/* Set by anyone (vsq_fence()), honoured by the consumer. */
	atomic_t fence;
};

void vsq_init(struct vsq *vq, const struct vsq_host *host, u16 idx);
void vsq_reset(struct vsq *vq);
bool vsq_running(const struct vsq *vq);
bool vsq_usable(struct vsq *vq);
int vsq_next_chain(struct vsq *vq);
u32 vsq_seg_left(const struct vsq *vq);
int vsq_chain_read(struct vsq *vq, void *buf, size_t len);
int vsq_chain_write(struct vsq *vq, const void *buf, size_t len);
int vsq_chain_pass(struct vsq *vq, u64 n);
int vsq_chain_discard(struct vsq *vq);
void vsq_complete(struct vsq *vq);
bool vsq_publish(struct vsq *vq);
bool vsq_has_avail(struct vsq *vq);
bool vsq_arm(struct vsq *vq);
void vsq_fail(struct vsq *vq, const char *why);
ssize_t vsq_read_iter(struct vsq *vq, struct iov_iter *to);
ssize_t vsq_write_iter(struct vsq *vq, struct iov_iter *from);
void vsq_unpop(struct vsq *vq);
unsigned int vsq_take_completed(struct vsq *vq);
u64 vsq_take_discarded(struct vsq *vq);
u16 vsq_base(const struct vsq *vq);
void vsq_set_base(struct vsq *vq, u16 base);
bool vsq_continues(struct vsq *vq);
void vsq_forget(struct vsq *vq);
void vsq_fence(struct vsq *vq, u16 pos);
bool vsq_abandon(struct vsq *vq);
int vsq_peek_avail(struct vsq *vq, u16 *idx);

#endif /* _VSERIAL_VQ_H */
