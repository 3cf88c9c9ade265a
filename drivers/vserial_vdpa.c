// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: the vDPA device -- config space, features, status, reset,
 * virtqueue configuration, the IOTLB, and the device worker.
 */

#include <linux/bitmap.h>
#include <linux/cc_platform.h>
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <linux/vhost_iotlb.h>
#include <uapi/linux/virtio_config.h>
#include <uapi/linux/virtio_ids.h>

#include "vserial_dev.h"
#include "vserial_trace.h"

/* Config space layout (virtio 1.x, 5.3.4), little endian. */
struct vserial_config {
	__le16 cols;
	__le16 rows;
	__le32 max_nr_ports;
	__le32 emerg_wr;
} __packed;

static_assert(sizeof(struct vserial_config) ==
	      sizeof(struct virtio_console_config));

/**
 * vserial_dev_quiesce() - stop every user of guest memory and the queues
 * @vs: the device
 * @flags: filled with the interrupt state, for vserial_dev_unquiesce()
 *
 * Stop every user of guest memory and of the queue configuration: host
 * readers and writers, the worker, interrupt delivery (mem_sem), and the
 * kick handlers (mem_lock).  Both are taken for writing until
 * vserial_dev_unquiesce().
 *
 * Context: May sleep.  Returns with interrupts disabled.
 */
void vserial_dev_quiesce(struct vserial_dev *vs, unsigned long *flags)
	__acquires(&vs->mem_lock)
{
	down_write(&vs->mem_sem);
	write_lock_irqsave(&vs->mem_lock, *flags);
}

/**
 * vserial_dev_unquiesce() - let the users vserial_dev_quiesce() stopped go on
 * @vs: the device
 * @flags: the interrupt state vserial_dev_quiesce() saved
 *
 * Context: Called quiesced; releases vs->mem_lock, then vs->mem_sem.
 */
void vserial_dev_unquiesce(struct vserial_dev *vs, unsigned long flags)
	__releases(&vs->mem_lock)
{
	write_unlock_irqrestore(&vs->mem_lock, flags);
	up_write(&vs->mem_sem);
}

/* The module's workqueue: device workers, configfs unregistration. */
struct workqueue_struct *vserial_dev_wq;

static struct vsq *vserial_dev_vq(struct vserial_dev *vs, u16 idx)
{
	return idx < vs->nvqs ? &vs->vqs[idx] : NULL;
}

/**
 * vserial_dev_schedule() - give the device worker a turn
 * @vs: the device
 *
 * Queue the device worker on the module's workqueue (vserial_dev_wq),
 * unless it is queued already.
 *
 * Context: Any context, atomic too (the kicks call it).
 */
void vserial_dev_schedule(struct vserial_dev *vs)
{
	queue_work(vserial_dev_wq, &vs->work);
}

/**
 * vserial_dev_config_changed() - config space changed
 * @vs: the device
 *
 * Interrupt the driver, if there is one: the device worker raises the
 * config interrupt.  A paused driver hears of it when it is up again.
 *
 * Context: Takes vs->lock.
 */
void vserial_dev_config_changed(struct vserial_dev *vs)
{
	unsigned long flags;
	bool notify;

	/* A paused driver hears of it when it is up again. */
	spin_lock_irqsave(&vs->lock, flags);
	notify = (vs->status & VIRTIO_CONFIG_S_DRIVER_OK) ||
		 vs->cp.session != VSP_SESSION_NONE;
	if (notify)
		vs->config_irq_pending = true;
	spin_unlock_irqrestore(&vs->lock, flags);
	if (notify)
		vserial_dev_schedule(vs);
}

/*
 * The engine stopped a queue the driver corrupted: the driver needs a
 * reset, and the queue's consumer must see that it stopped.  Called by
 * the queue's consumer, with the device quiesced against (mem_sem or
 * mem_lock held for reading).
 */
static void vserial_dev_vq_broken(struct vsq *vq)
{
	struct vserial_dev *vs = vserial_dev_of_vq(vq);
	unsigned long flags;

	spin_lock_irqsave(&vs->lock, flags);
	if (vs->status & VIRTIO_CONFIG_S_DRIVER_OK) {
		vs->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		vs->config_irq_pending = true;
	}
	spin_unlock_irqrestore(&vs->lock, flags);

	trace_vserial_op(vs, VSERIAL_OP_VQ_BROKEN, vq->idx, 0);
	/*
	 * Logged by the worker, holding no lock (vserial_dev_log_broken());
	 * vq->why before the bit.
	 */
	smp_mb__before_atomic();
	set_bit(vq->idx, vs->broken_pending);
	vs->hooks->wake_vq(vs, vq);
	vserial_dev_schedule(vs);
}

/*
 * Why the engine stopped a queue, rate-limited.  Not from where it
 * stopped it: that may be the kick, interrupts off, and a console on
 * one of the device's own ports would print through the device.
 */
static void vserial_dev_log_broken(struct vserial_dev *vs)
{
	u32 i;

	for_each_set_bit(i, vs->broken_pending, vs->nvqs)
		if (test_and_clear_bit(i, vs->broken_pending))
			dev_dbg_ratelimited(&vs->vdpa.dev,
					    "vq %u: %s; queue stopped\n", i,
					    READ_ONCE(vs->vqs[i].why));
}

/**
 * vserial_dev_irq() - interrupt the driver for @vq
 * @vq: the queue
 *
 * Without a callback the interrupt is kept (vs->irq_pending), for the
 * device worker to raise once the driver gives one: a VMM gives its
 * callbacks after DRIVER_OK.
 *
 * Context: Called with vs->mem_sem held.
 */
void vserial_dev_irq(struct vsq *vq)
{
	struct vserial_dev *vs = vserial_dev_of_vq(vq);
	struct vdpa_callback cb;
	unsigned long flags;

	lockdep_assert_held(&vs->mem_sem);
	spin_lock_irqsave(&vq->lock, flags);
	cb = vs->vq_cb[vq->idx];
	spin_unlock_irqrestore(&vq->lock, flags);
	if (cb.callback)
		cb.callback(cb.private);
	else	/* A VMM gives its callbacks after DRIVER_OK: keep it. */
		set_bit(vq->idx, vs->irq_pending);
}

/*
 * Raise the interrupts owed, once the driver is up and has given a
 * callback: after a reset, a VMM sets its callbacks only after
 * DRIVER_OK, and an interrupt owed across a pause must not be lost.
 * Called with vs->mem_sem held.
 */
static void vserial_dev_irqs(struct vserial_dev *vs)
{
	struct vdpa_callback cb = {};
	unsigned long flags;
	u32 i;

	if (READ_ONCE(vs->qh.suspended) ||
	    !(READ_ONCE(vs->status) & VIRTIO_CONFIG_S_DRIVER_OK))
		return;
	for_each_set_bit(i, vs->irq_pending, vs->nvqs)
		if (READ_ONCE(vs->vq_cb[i].callback) &&
		    test_and_clear_bit(i, vs->irq_pending))
			vserial_dev_irq(&vs->vqs[i]);

	spin_lock_irqsave(&vs->lock, flags);
	if (vs->config_irq_pending && vs->config_cb.callback) {
		cb = vs->config_cb;
		vs->config_irq_pending = false;
	}
	spin_unlock_irqrestore(&vs->lock, flags);
	if (cb.callback)
		cb.callback(cb.private);
}

/* guest_connected changes reach user space, rate-limited. */
static void vserial_dev_notify_work(struct work_struct *work)
{
	struct vserial_dev *vs = container_of(to_delayed_work(work),
					      struct vserial_dev, notify_work);

	vs->notified = jiffies;
	vs->hooks->notify(vs);
}

static void vserial_dev_work(struct work_struct *work)
{
	struct vserial_dev *vs = container_of(work, struct vserial_dev, work);
	unsigned long next;

	vserial_dev_log_broken(vs);
	vs->hooks->log(vs);
	if (READ_ONCE(vs->status) & VIRTIO_CONFIG_S_DRIVER_OK)
		vs->hooks->work(vs);
	if (READ_ONCE(vs->cp.uevent_pending)) {
		next = READ_ONCE(vs->notified) + HZ / VSERIAL_UEVENT_RATE;
		queue_delayed_work(vserial_dev_wq, &vs->notify_work,
				   time_after(next, jiffies) ? next - jiffies : 0);
	}

	down_read(&vs->mem_sem);
	vserial_dev_irqs(vs);
	up_read(&vs->mem_sem);
}

static int vserial_dev_set_vq_address(struct vdpa_device *vdpa, u16 idx,
				      u64 desc_area, u64 driver_area,
				      u64 device_area)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	struct vsq *vq = vserial_dev_vq(vs, idx);
	unsigned long flags;

	if (!vq)
		return -EINVAL;
	trace_vserial_op(vs, VSERIAL_OP_SET_VQ_ADDRESS, idx, desc_area);
	vserial_dev_quiesce(vs, &flags);
	if (vq->desc_addr != desc_area || vq->avail_addr != driver_area ||
	    vq->used_addr != device_area)
		vsq_unpop(vq);
	vq->desc_addr = desc_area;
	vq->avail_addr = driver_area;
	vq->used_addr = device_area;
	vserial_dev_unquiesce(vs, flags);
	return 0;
}

static void vserial_dev_set_vq_num(struct vdpa_device *vdpa, u16 idx, u32 num)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	struct vsq *vq = vserial_dev_vq(vs, idx);
	unsigned long flags;

	if (!vq)
		return;
	trace_vserial_op(vs, VSERIAL_OP_SET_VQ_NUM, idx, num);
	vserial_dev_quiesce(vs, &flags);
	if (vq->num != num)
		vsq_unpop(vq);
	vq->num = num;
	vserial_dev_unquiesce(vs, flags);
}

static void vserial_dev_kick_vq(struct vdpa_device *vdpa, u16 idx)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	struct vsq *vq = vserial_dev_vq(vs, idx);

	if (!vq)
		return;
	if (idx == VSERIAL_CTRL_TXQ)
		vs->hooks->ctrl_kick(vs);
	else if (idx == VSERIAL_CTRL_RXQ)
		vserial_dev_schedule(vs);
	else
		vs->hooks->kick(vs, vq);
}

static void vserial_dev_set_vq_cb(struct vdpa_device *vdpa, u16 idx,
				  struct vdpa_callback *cb)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	struct vsq *vq = vserial_dev_vq(vs, idx);
	unsigned long flags;

	if (!vq)
		return;
	/* Waits for interrupt delivery in flight, which holds mem_sem. */
	vserial_dev_quiesce(vs, &flags);
	spin_lock(&vq->lock);
	vs->vq_cb[idx] = *cb;
	spin_unlock(&vq->lock);
	vserial_dev_unquiesce(vs, flags);
	/* An interrupt may have waited for a callback. */
	if (cb->callback && test_bit(idx, vs->irq_pending))
		vserial_dev_schedule(vs);
}

static void vserial_dev_set_vq_ready(struct vdpa_device *vdpa, u16 idx,
				     bool ready)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	struct vsq *vq = vserial_dev_vq(vs, idx);
	unsigned long flags;

	if (!vq)
		return;
	trace_vserial_op(vs, VSERIAL_OP_SET_VQ_READY, idx, ready);
	vserial_dev_quiesce(vs, &flags);
	vq->ready = ready;
	vserial_dev_unquiesce(vs, flags);

	down_read(&vs->mem_sem);
	vs->hooks->wake_vq(vs, vq);
	up_read(&vs->mem_sem);
	if (ready)
		vserial_dev_schedule(vs);
}

static bool vserial_dev_get_vq_ready(struct vdpa_device *vdpa, u16 idx)
{
	struct vsq *vq = vserial_dev_vq(vserial_dev_of_vdpa(vdpa), idx);

	return vq && vq->ready;
}

static int vserial_dev_set_vq_state(struct vdpa_device *vdpa, u16 idx,
				    const struct vdpa_vq_state *state)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	struct vsq *vq = vserial_dev_vq(vs, idx);
	unsigned long flags;

	if (!vq)
		return -EINVAL;
	trace_vserial_op(vs, VSERIAL_OP_SET_VQ_STATE, idx,
			 state->split.avail_index);
	vserial_dev_quiesce(vs, &flags);
	vsq_set_base(vq, state->split.avail_index);
	vserial_dev_unquiesce(vs, flags);
	return 0;
}

static int vserial_dev_get_vq_state(struct vdpa_device *vdpa, u16 idx,
				    struct vdpa_vq_state *state)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	struct vsq *vq = vserial_dev_vq(vs, idx);
	unsigned long flags;

	if (!vq)
		return -EINVAL;
	vserial_dev_quiesce(vs, &flags);
	state->split.avail_index = vsq_base(vq);
	vserial_dev_unquiesce(vs, flags);
	trace_vserial_op(vs, VSERIAL_OP_GET_VQ_STATE, idx,
			 state->split.avail_index);
	return 0;
}

static u16 vserial_dev_get_vq_size(struct vdpa_device *vdpa, u16 idx)
{
	return VSERIAL_VQ_SIZE;
}

static u32 vserial_dev_get_vq_align(struct vdpa_device *vdpa)
{
	return PAGE_SIZE;
}

static u32 vserial_dev_get_vq_group(struct vdpa_device *vdpa, u16 idx)
{
	return 0;
}

static u64 vserial_dev_get_device_features(struct vdpa_device *vdpa)
{
	return vserial_dev_of_vdpa(vdpa)->dev_features;
}

static int vserial_dev_set_driver_features(struct vdpa_device *vdpa,
					   u64 features)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	unsigned long flags;

	trace_vserial_op(vs, VSERIAL_OP_SET_FEATURES, -1, features);
	vserial_dev_quiesce(vs, &flags);
	spin_lock(&vs->lock);
	vs->qh.features = features & vs->dev_features;
	spin_unlock(&vs->lock);
	vserial_dev_unquiesce(vs, flags);
	return 0;
}

static u64 vserial_dev_get_driver_features(struct vdpa_device *vdpa)
{
	return READ_ONCE(vserial_dev_of_vdpa(vdpa)->qh.features);
}

static void vserial_dev_set_config_cb(struct vdpa_device *vdpa,
				      struct vdpa_callback *cb)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	unsigned long flags;

	vserial_dev_quiesce(vs, &flags);
	spin_lock(&vs->lock);
	vs->config_cb = *cb;
	spin_unlock(&vs->lock);
	vserial_dev_unquiesce(vs, flags);
}

static u16 vserial_dev_get_vq_num_max(struct vdpa_device *vdpa)
{
	return VSERIAL_VQ_NUM_MAX;
}

static u16 vserial_dev_get_vq_num_min(struct vdpa_device *vdpa)
{
	return 1;
}

static u32 vserial_dev_get_device_id(struct vdpa_device *vdpa)
{
	return VIRTIO_ID_CONSOLE;
}

static u32 vserial_dev_get_vendor_id(struct vdpa_device *vdpa)
{
	return 0;
}

static u8 vserial_dev_get_status(struct vdpa_device *vdpa)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	unsigned long flags;
	u8 status;

	spin_lock_irqsave(&vs->lock, flags);
	status = vs->status;
	spin_unlock_irqrestore(&vs->lock, flags);
	return status;
}

/*
 * Device reset.  The IOTLB survives it: vhost-vdpa installs the map once
 * and keeps it across the guest's resets (IOTLB_PERSIST); only reset_map
 * goes back to the initial state.  The legacy compat_reset, which drops
 * the map, is for parents that used to do so, and is not implemented.
 *
 * The driver's session survives it too (see vserial_proto.c): a VMM
 * resets the device whenever its guest pauses.  So do the rings' bases
 * and chains in flight, for a driver that brings the rings back
 * (vsq_reset()), and a config interrupt not delivered yet.
 */
static void vserial_dev_do_reset(struct vserial_dev *vs)
{
	unsigned long irqflags;
	u32 i;

	trace_vserial_op(vs, VSERIAL_OP_RESET, -1, 0);
	vserial_dev_quiesce(vs, &irqflags);
	for (i = 0; i < vs->nvqs; i++) {
		vsq_reset(&vs->vqs[i]);
		vs->vq_cb[i] = (struct vdpa_callback) {};
	}
	spin_lock(&vs->lock);
	vs->status = 0;
	vs->qh.features = 0;
	vs->qh.driver_ok = false;
	vs->qh.suspended = false;
	vs->qh.mem.pt_ok = false;
	spin_unlock(&vs->lock);
	bitmap_zero(vs->irq_pending, vs->nvqs);
	bitmap_zero(vs->drain_pending, vs->nvqs);
	clear_bit(VSERIAL_DRAIN_ALL, &vs->work_flags);
	vs->hooks->reset(vs);
	vserial_dev_unquiesce(vs, irqflags);

	vs->hooks->wake_all(vs);
}

/*
 * The driver's session is over: no driver will continue it.  Called
 * without the device's locks.
 */
static void vserial_dev_session_end(struct vserial_dev *vs)
{
	unsigned long flags;

	trace_vserial_op(vs, VSERIAL_OP_SESSION_END, -1, 0);
	vserial_dev_quiesce(vs, &flags);
	vs->hooks->session_end(vs);
	vserial_dev_unquiesce(vs, flags);
	vs->hooks->wake_all(vs);
	/* guest_connected uevents. */
	vserial_dev_schedule(vs);
}

/*
 * The driver is up.  For each queue, did it bring back the ring it had
 * before the last reset (a paused guest resuming), or set up a new one?
 * A queue that goes on is interrupted once, in case an interrupt was
 * lost while the guest was paused (a VMM tears down its interrupt
 * channels then): the driver finds nothing new, or what it missed.
 */
static void vserial_dev_driver_ok(struct vserial_dev *vs)
{
	bool ctrl = false, cont, resync;
	unsigned long flags;
	struct vsq *vq;
	u32 i;

	vserial_dev_quiesce(vs, &flags);
	for (i = 0; i < vs->nvqs; i++) {
		vq = &vs->vqs[i];
		cont = vsq_continues(vq);
		if (i == VSERIAL_CTRL_RXQ)
			ctrl = cont;
		if (!cont)
			continue;
		trace_vserial_op(vs, VSERIAL_OP_VQ_CONTINUES, i,
				 vq->last_avail_idx);
		if (vq->used_idx)
			set_bit(i, vs->irq_pending);
	}
	resync = vs->hooks->driver_ok(vs, ctrl);
	vserial_dev_unquiesce(vs, flags);
	if (resync)
		mod_delayed_work(vserial_dev_wq, &vs->resync_work,
				 VSERIAL_RESYNC_DELAY);
}

static void vserial_dev_resync_work(struct work_struct *work)
{
	struct vserial_dev *vs = container_of(to_delayed_work(work),
					      struct vserial_dev, resync_work);

	vs->hooks->resync_timeout(vs);
	vserial_dev_schedule(vs);
}

/*
 * Without a map, IOVAs are taken as physical addresses (the identity
 * map).  That serves virtio_vdpa, which maps its rings and buffers with
 * the DMA API for vs->vdpa.dma_dev, if that API's addresses for the
 * device are physical addresses (vserial_dev_dma_probe()).  Any other
 * driver -- vhost-vdpa, that is user space -- reaches guest memory only
 * through the map it installs; until it does, the device reaches no
 * memory at all.  The driver is known by its name, which is unique on
 * the vdpa bus (driver_register() refuses a second driver of a name): a
 * driver we do not know fails safe, with no memory.
 */
static bool vserial_dev_driver_in_kernel(struct vserial_dev *vs)
{
	struct device_driver *drv = READ_ONCE(vs->vdpa.dev.driver);

	return drv && !strcmp(drv->name, "virtio_vdpa");
}

/*
 * Whether the DMA API's addresses for @dev are the physical addresses
 * the identity map takes them for, asked of the API itself with one
 * coherent page: an IOMMU, a bus offset, the SME bit or Xen's machine
 * addresses would each show.  Under memory encryption (an SEV or TDX
 * guest, an SME host) buffers may also be bounced through memory shared
 * decrypted, which nothing here has proven the identity map right for:
 * no, there too.
 */
static int vserial_dev_dma_probe(struct device *dev, bool *is_phys)
{
	dma_addr_t handle;
	void *cpu;

	*is_phys = false;
	if (cc_platform_has(CC_ATTR_MEM_ENCRYPT))
		return 0;
	cpu = dma_alloc_coherent(dev, PAGE_SIZE, &handle, GFP_KERNEL);
	if (!cpu)
		return -ENOMEM;
	*is_phys = !is_vmalloc_addr(cpu) && handle == virt_to_phys(cpu);
	dma_free_coherent(dev, PAGE_SIZE, cpu, handle);
	return 0;
}

/*
 * virtio_vdpa on a device whose DMA addresses are not physical
 * addresses is refused FEATURES_OK, and so fails to probe with a clear
 * error.  vhost-vdpa is not affected: its map holds the VMM's own pages.
 */
static bool vserial_dev_identity_refused(struct vserial_dev *vs)
{
	if (vs->dma_is_phys || !vserial_dev_driver_in_kernel(vs))
		return false;
	dev_warn(&vs->vdpa.dev,
		 "DMA addresses are not physical addresses here (IOMMU, memory encryption): virtio_vdpa cannot use the device; vhost_vdpa can\n");
	return true;
}

static void vserial_dev_set_status(struct vdpa_device *vdpa, u8 status)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	unsigned long flags;
	bool refused;
	u8 old;

	if (!status) {
		vserial_dev_do_reset(vs);
		return;
	}

	old = READ_ONCE(vs->status);
	refused = (status & ~old & VIRTIO_CONFIG_S_FEATURES_OK) &&
		  vserial_dev_identity_refused(vs);
	trace_vserial_op(vs, VSERIAL_OP_SET_STATUS, -1, status);
	dev_dbg(&vdpa->dev, "status %#x\n", status);

	/*
	 * Whether the rings go on from before a reset is decided before
	 * anyone may use them: nothing runs on a queue before DRIVER_OK,
	 * nor reaches memory, so the identity map is given here too, once,
	 * to an in-kernel driver whose FEATURES_OK was taken (reset takes
	 * it away).
	 */
	if (status & ~old & VIRTIO_CONFIG_S_DRIVER_OK) {
		if ((old & VIRTIO_CONFIG_S_FEATURES_OK) &&
		    vserial_dev_driver_in_kernel(vs))
			WRITE_ONCE(vs->qh.mem.pt_ok, true);
		vserial_dev_driver_ok(vs);
	}

	spin_lock_irqsave(&vs->lock, flags);
	old = vs->status;
	/* Only virtio 1.x is implemented: no legacy interface. */
	if ((status & ~old & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    (!vserial_dev_has_feature(vs, VIRTIO_F_VERSION_1) || refused))
		status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	/* NEEDS_RESET is the device's to set, and stays until reset. */
	status &= ~VIRTIO_CONFIG_S_NEEDS_RESET;
	status |= old & VIRTIO_CONFIG_S_NEEDS_RESET;
	vs->status = status;
	WRITE_ONCE(vs->qh.driver_ok, status & VIRTIO_CONFIG_S_DRIVER_OK);
	spin_unlock_irqrestore(&vs->lock, flags);

	if (status & ~old & VIRTIO_CONFIG_S_FEATURES_OK) {
		vserial_dev_quiesce(vs, &flags);
		vs->hooks->features_ok(vs);
		vserial_dev_unquiesce(vs, flags);
	}
	if (status & ~old & VIRTIO_CONFIG_S_DRIVER_OK) {
		vs->hooks->wake_all(vs);
		set_bit(VSERIAL_DRAIN_ALL, &vs->work_flags);
		vserial_dev_schedule(vs);
	}
}

static int vserial_dev_reset(struct vdpa_device *vdpa)
{
	vserial_dev_do_reset(vserial_dev_of_vdpa(vdpa));
	return 0;
}

static int vserial_dev_suspend(struct vdpa_device *vdpa)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	unsigned long flags;

	trace_vserial_op(vs, VSERIAL_OP_SUSPEND, -1, 0);
	vserial_dev_quiesce(vs, &flags);
	WRITE_ONCE(vs->qh.suspended, true);
	vserial_dev_unquiesce(vs, flags);
	return 0;
}

static int vserial_dev_resume(struct vdpa_device *vdpa)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	unsigned long flags;

	trace_vserial_op(vs, VSERIAL_OP_RESUME, -1, 0);
	vserial_dev_quiesce(vs, &flags);
	WRITE_ONCE(vs->qh.suspended, false);
	vserial_dev_unquiesce(vs, flags);

	/* Kicks were ignored while suspended. */
	vs->hooks->wake_all(vs);
	set_bit(VSERIAL_DRAIN_ALL, &vs->work_flags);
	vserial_dev_schedule(vs);
	return 0;
}

static size_t vserial_dev_get_config_size(struct vdpa_device *vdpa)
{
	return sizeof(struct vserial_config);
}

static void vserial_dev_get_config(struct vdpa_device *vdpa,
				   unsigned int offset, void *buf,
				   unsigned int len)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	struct vserial_config cfg = {};
	unsigned long flags;

	if (offset > sizeof(cfg) || len > sizeof(cfg) - offset)
		return;

	spin_lock_irqsave(&vs->lock, flags);
	cfg.cols = cpu_to_le16(vs->cols);
	cfg.rows = cpu_to_le16(vs->rows);
	cfg.max_nr_ports = cpu_to_le32(vs->max_nr_ports);
	spin_unlock_irqrestore(&vs->lock, flags);
	memcpy(buf, (u8 *)&cfg + offset, len);
}

static void vserial_dev_set_config(struct vdpa_device *vdpa,
				   unsigned int offset, const void *buf,
				   unsigned int len)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	unsigned int emerg = offsetof(struct vserial_config, emerg_wr);

	/* Only emerg_wr is writable: its low byte goes to port 0. */
	if (offset > emerg || len <= emerg - offset ||
	    offset + len > sizeof(struct vserial_config))
		return;
	if (!(vs->dev_features & BIT_ULL(VIRTIO_CONSOLE_F_EMERG_WRITE)))
		return;
	vs->hooks->emerg_write(vs, ((const u8 *)buf)[emerg - offset]);
}

static u32 vserial_dev_get_generation(struct vdpa_device *vdpa)
{
	return READ_ONCE(vserial_dev_of_vdpa(vdpa)->generation);
}

static struct vdpa_iova_range
vserial_dev_get_iova_range(struct vdpa_device *vdpa)
{
	return (struct vdpa_iova_range) { .first = 0, .last = U64_MAX };
}

/* Make @new the device's map; @new NULL: back to the initial state. */
static void vserial_dev_iotlb_swap(struct vserial_dev *vs,
				   struct vhost_iotlb *new)
{
	struct vhost_iotlb *old;
	unsigned long flags;

	vserial_dev_quiesce(vs, &flags);
	old = vs->qh.mem.iotlb;
	vs->qh.mem.iotlb = new;
	vserial_dev_unquiesce(vs, flags);
	/* No copy is in flight any more: the pages may go. */
	vsm_map_free(old);
}

/*
 * vhost-vdpa hands us the whole IOTLB (IOVA to pinned physical pages).
 * Build the copy before quiescing: nothing is allocated with the device
 * stopped.  The copy has the source's entry limit (vhost_vdpa's
 * max_iotlb_entries), which bounds its memory the same way.
 */
static int vserial_dev_set_map(struct vdpa_device *vdpa, unsigned int asid,
			       struct vhost_iotlb *iotlb)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);
	struct vhost_iotlb *new;

	if (asid)
		return -EINVAL;

	new = vsm_map_copy(iotlb);
	if (IS_ERR(new)) {
		dev_dbg(&vdpa->dev, "IOTLB copy failed: %ld\n", PTR_ERR(new));
		return PTR_ERR(new);
	}
	vserial_dev_iotlb_swap(vs, new);
	trace_vserial_op(vs, VSERIAL_OP_SET_MAP, -1, new->nmaps);
	dev_dbg(&vdpa->dev, "IOTLB set: %u maps\n", new->nmaps);
	return 0;
}

/*
 * vhost_vdpa resets the map when its file is released: the VMM is gone,
 * and with it the guest memory any session lived in.
 */
static int vserial_dev_reset_map(struct vdpa_device *vdpa, unsigned int asid)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);

	if (asid)
		return -EINVAL;
	trace_vserial_op(vs, VSERIAL_OP_RESET_MAP, -1, 0);
	vserial_dev_iotlb_swap(vs, NULL);
	vserial_dev_session_end(vs);
	dev_dbg(&vdpa->dev, "IOTLB reset to the initial state\n");
	return 0;
}

static void vserial_dev_free(struct vdpa_device *vdpa)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);

	cancel_delayed_work_sync(&vs->resync_work);
	cancel_work_sync(&vs->work);
	cancel_delayed_work_sync(&vs->notify_work);
	vsm_map_free(vs->qh.mem.iotlb);
	kfree(vs->vq_cb);
	bitmap_free(vs->irq_pending);
	bitmap_free(vs->drain_pending);
	bitmap_free(vs->broken_pending);
	vsp_free(&vs->cp);
	kfree(vs->vqs);
	kfree(vs->ports);
}

static const struct vdpa_config_ops vserial_dev_ops = {
	.set_vq_address = vserial_dev_set_vq_address,
	.set_vq_num = vserial_dev_set_vq_num,
	.kick_vq = vserial_dev_kick_vq,
	.set_vq_cb = vserial_dev_set_vq_cb,
	.set_vq_ready = vserial_dev_set_vq_ready,
	.get_vq_ready = vserial_dev_get_vq_ready,
	.set_vq_state = vserial_dev_set_vq_state,
	.get_vq_state = vserial_dev_get_vq_state,
	.get_vq_size = vserial_dev_get_vq_size,
	.get_vq_align = vserial_dev_get_vq_align,
	.get_vq_group = vserial_dev_get_vq_group,
	.get_device_features = vserial_dev_get_device_features,
	.set_driver_features = vserial_dev_set_driver_features,
	.get_driver_features = vserial_dev_get_driver_features,
	.set_config_cb = vserial_dev_set_config_cb,
	.get_vq_num_max = vserial_dev_get_vq_num_max,
	.get_vq_num_min = vserial_dev_get_vq_num_min,
	.get_device_id = vserial_dev_get_device_id,
	.get_vendor_id = vserial_dev_get_vendor_id,
	.get_status = vserial_dev_get_status,
	.set_status = vserial_dev_set_status,
	.reset = vserial_dev_reset,
	.suspend = vserial_dev_suspend,
	.resume = vserial_dev_resume,
	.get_config_size = vserial_dev_get_config_size,
	.get_config = vserial_dev_get_config,
	.set_config = vserial_dev_set_config,
	.get_generation = vserial_dev_get_generation,
	.get_iova_range = vserial_dev_get_iova_range,
	.set_map = vserial_dev_set_map,
	.reset_map = vserial_dev_reset_map,
	.free = vserial_dev_free,
};

/*
 * The bus driver (virtio_vdpa, vhost_vdpa) let go of the device: its
 * session is over, whatever it left the device in.
 */
static int vserial_dev_bus_notify(struct notifier_block *nb,
				  unsigned long action, void *data)
{
	struct vserial_dev *vs = container_of(nb, struct vserial_dev, bus_nb);

	if (data != &vs->vdpa.dev || action != BUS_NOTIFY_UNBOUND_DRIVER)
		return NOTIFY_DONE;
	vserial_dev_session_end(vs);
	return NOTIFY_OK;
}

/**
 * vserial_dev_register() - put the device on the vDPA bus
 * @vs: a device from vserial_dev_create()
 *
 * Put the device on the vDPA bus, and watch its driver go: the bus
 * driver unbinding ends the driver's session (vserial_dev_bus_notify()).
 *
 * Context: From the management device's dev_add(), as
 * _vdpa_register_device() requires.
 *
 * Return: 0, or a negative errno.
 */
int vserial_dev_register(struct vserial_dev *vs)
{
	int ret;

	vs->bus_nb.notifier_call = vserial_dev_bus_notify;
	ret = bus_register_notifier(vs->vdpa.dev.bus, &vs->bus_nb);
	if (ret)
		return ret;
	ret = _vdpa_register_device(&vs->vdpa, vs->nvqs);
	if (ret)
		bus_unregister_notifier(vs->vdpa.dev.bus, &vs->bus_nb);
	return ret;
}

/**
 * vserial_dev_unregister() - take the device off the vDPA bus
 * @vs: a device vserial_dev_register() registered
 *
 * Its driver, if any, is unbound while the device is still watched, so
 * its session ends; then the device's driver is watched no more.
 *
 * Context: From the management device's dev_add() or dev_del(), as
 * _vdpa_unregister_device() requires.
 */
void vserial_dev_unregister(struct vserial_dev *vs)
{
	_vdpa_unregister_device(&vs->vdpa);
	bus_unregister_notifier(vs->vdpa.dev.bus, &vs->bus_nb);
}

/**
 * vserial_dev_create() - allocate a device
 * @parent: the device's parent
 * @name: the vDPA device's name
 * @features: the features the device offers
 * @max_nr_ports: max_nr_ports of its config space
 * @hooks: what the device core asks of the layers above; @hooks->init
 *	sets up the control protocol
 *
 * The caller registers it (vserial_dev_register()).  put_device() on
 * its vdpa.dev frees it.
 *
 * Context: May sleep.
 *
 * Return: the device, or an ERR_PTR().
 */
struct vserial_dev *vserial_dev_create(struct device *parent,
				       const char *name, u64 features,
				       u32 max_nr_ports,
				       const struct vserial_dev_hooks *hooks)
{
	struct vserial_dev *vs;
	struct device *dev;
	u32 i;

	vs = vdpa_alloc_device(struct vserial_dev, vdpa, parent,
			       &vserial_dev_ops, 1, 1, name, false);
	if (IS_ERR(vs))
		return vs;

	spin_lock_init(&vs->lock);
	init_rwsem(&vs->mem_sem);
	rwlock_init(&vs->mem_lock);
	INIT_WORK(&vs->work, vserial_dev_work);
	INIT_DELAYED_WORK(&vs->resync_work, vserial_dev_resync_work);
	INIT_DELAYED_WORK(&vs->notify_work, vserial_dev_notify_work);
	vs->hooks = hooks;
	vs->dev_features = features;
	vs->max_nr_ports = max_nr_ports;
	vs->nvqs = 2 * (max_nr_ports + 1);

	/*
	 * virtio_vdpa maps its rings and buffers for this device; where
	 * its DMA addresses are physical addresses, the identity map (no
	 * vs->qh.mem.iotlb) takes them as they are.
	 */
	dev = &vs->vdpa.dev;
	dev->dma_mask = &dev->coherent_dma_mask;
	if (dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)) ||
	    vserial_dev_dma_probe(dev, &vs->dma_is_phys))
		goto err;
	vs->vdpa.dma_dev = dev;

	vs->qh.broken = vserial_dev_vq_broken;
	vs->vqs = kcalloc(vs->nvqs, sizeof(*vs->vqs), GFP_KERNEL);
	vs->vq_cb = kcalloc(vs->nvqs, sizeof(*vs->vq_cb), GFP_KERNEL);
	vs->irq_pending = bitmap_zalloc(vs->nvqs, GFP_KERNEL);
	vs->drain_pending = bitmap_zalloc(vs->nvqs, GFP_KERNEL);
	vs->broken_pending = bitmap_zalloc(vs->nvqs, GFP_KERNEL);
	vs->ports = kcalloc(max_nr_ports, sizeof(*vs->ports), GFP_KERNEL);
	if (!vs->vqs || !vs->vq_cb || !vs->irq_pending || !vs->drain_pending ||
	    !vs->broken_pending ||
	    !vs->ports || hooks->init(vs))
		goto err;

	for (i = 0; i < vs->nvqs; i++)
		vsq_init(&vs->vqs[i], &vs->qh, i);
	return vs;
err:
	put_device(&vs->vdpa.dev);
	return ERR_PTR(-ENOMEM);
}
