// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: ports and the host end of their data path.
 *
 * Guest to host: a data port's bytes stay in the driver's transmit
 * buffers until the host reads them, and read(2) copies them straight
 * from guest memory into the reader's buffer.  The guest's own buffers
 * are the backpressure; the host keeps no copy.  Console ports are the
 * exception (see struct vserial_port).
 *
 * Host to guest: write(2) copies straight into the driver's receive
 * buffers, and waits while there are none or the guest has not opened
 * the port.
 *
 * A host end outlives the guest's sessions: read(2) waits while the
 * guest is away -- not opened yet, closed, rebooting, paused -- and
 * returns end of file only when the port is gone.  poll(2) tells whether
 * the guest side is there (EPOLLRDHUP while it is not); so does the
 * guest_connected attribute, with a uevent when it changes.
 */

#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vserial_ctrl.h"
#include "vserial_parse.h"
#include "vserial_port.h"
#include "vserial_trace.h"

/**
 * vserial_port_of_vq() - the port whose queue @vq is
 * @vq: a queue of the device
 *
 * Context: Called with vs->mem_sem or vs->mem_lock held.
 *
 * Return: the port plugged in at @vq's id, or NULL for the control
 * queues and ids without a port.
 */
struct vserial_port *vserial_port_of_vq(struct vsq *vq)
{
	struct vserial_dev *vs = vserial_dev_of_vq(vq);
	int id = vserial_qid_port(vq->idx);

	if (id < 0 || id >= vs->max_nr_ports)
		return NULL;
	return vs->ports[id];
}

static struct vsq *vserial_port_rxq_of(struct vserial_port *port)
{
	return &port->vs->vqs[vserial_port_rxq(port->id)];
}

static struct vsq *vserial_port_txq_of(struct vserial_port *port)
{
	return &port->vs->vqs[vserial_port_txq(port->id)];
}

static bool vserial_port_guest_connected(struct vserial_port *port)
{
	return READ_ONCE(port->cp.guest_connected);
}

/*
 * The port replaces one the driver may still hold (vsp_port.replaces):
 * its transmit queue carries the previous port's bytes, not its own.
 */
static bool vserial_port_quarantined(struct vserial_port *port)
{
	/* Pairs with the release in vsp_port_ready(): the fence. */
	return smp_load_acquire(&port->cp.replaces);
}

/* A queue of the port is corrupted: both directions fail until reset. */
static bool vserial_port_broken(struct vserial_port *port)
{
	return READ_ONCE(vserial_port_rxq_of(port)->broken) ||
	       READ_ONCE(vserial_port_txq_of(port)->broken);
}

/*
 * @port holds its id's queues.  Not yet, between its host end appearing
 * and its plugging in, nor after a failed plug: its host end then
 * behaves as if the driver had not opened the port.  Called with
 * vs->mem_sem held.
 */
static bool vserial_port_installed(struct vserial_port *port)
{
	return port->vs->ports[port->id] == port;
}

/*
 * The current segment of the active chain is console output: copy what
 * is left of *@room (the console buffer's room when the drain began),
 * count the rest as dropped without reading it, and move on to the next
 * segment.  Room the reader makes meanwhile is for the next drain: a
 * reader that keeps up must not turn one drain, interrupts off, into a
 * copy of all a guest's descriptors can hold.
 */
static int vserial_port_console_take(struct vsq *vq, struct vserial_port *port,
				     u32 *room)
{
	u32 left = vsq_seg_left(vq);
	u8 buf[128];
	int n;

	atomic64_add(left, &port->stats.bytes_from_guest);
	while (left && *room) {
		n = min3(left, *room, (u32)sizeof(buf));
		n = vsq_chain_read(vq, buf, n);
		if (n <= 0)
			return n;
		kfifo_in(&port->cons_fifo, buf, n);
		left -= n;
		*room -= n;
	}
	atomic64_add(left, &port->cons_dropped);
	return vsq_chain_pass(vq, left);
}

/*
 * Take console output at once (see struct vserial_port); return the
 * buffers of ids without a port (@port NULL) unread.  Runs in the
 * kicker's context, under vq->lock, so its work is bounded: it walks at
 * most VSERIAL_KICK_WALK descriptors since @start (the kick's beginning; a
 * retry after vsq_arm() counts), plus one chain for @port NULL (a
 * chain may be left half-taken for the next call), and copies at most
 * *@room bytes.  Returns the number of buffers completed, or -EAGAIN if
 * the budget ran out with more to do.
 */
static int vserial_port_console_drain(struct vsq *vq, struct vserial_port *port,
				      u32 start, u32 *room)
{
	unsigned int done_bufs;
	int done = 0, r;

	for (;;) {
		if (vq->walked - start >= VSERIAL_KICK_WALK) {
			r = -EAGAIN;
			break;
		}
		r = vsq_next_chain(vq);
		if (r <= 0)
			break;
		if (vsq_seg_left(vq)) {
			r = port ? vserial_port_console_take(vq, port, room) :
				   vsq_chain_discard(vq);
			if (r < 0)
				break;
			continue;
		}
		vsq_complete(vq);
		done++;
	}
	/* Taken either way: what no port took is no port's to count. */
	done_bufs = vsq_take_completed(vq);
	if (port)
		atomic64_add(done_bufs, &port->stats.buffers_from_guest);
	return r == -EAGAIN ? r : done;
}

/*
 * Drain transmit queue @vq now, in the caller's context: console output
 * into the console buffer of @port, and the queues of ids without a
 * port into nowhere (the driver must not wait on them forever).  Called
 * with vs->mem_lock held for reading.
 */
static void vserial_port_tx_drain(struct vserial_dev *vs, struct vsq *vq,
				  struct vserial_port *port)
{
	struct vserial_port *taker = port;
	u32 room = 0, start;
	bool irq, more;
	int done = 0, r;
	u64 discarded;

	/* The previous port's output is not the console's. */
	if (port && vserial_port_quarantined(port))
		taker = NULL;

	/*
	 * One budget for the whole call, in descriptors walked and bytes
	 * copied: the driver may keep adding, the reader keep reading.
	 */
	spin_lock(&vq->lock);
	start = vq->walked;
	if (taker)
		room = kfifo_avail(&taker->cons_fifo);
	do {
		r = vserial_port_console_drain(vq, taker, start, &room);
		if (r > 0)
			done += r;
	} while (r >= 0 && vsq_arm(vq));
	more = r == -EAGAIN;
	irq = vsq_publish(vq);
	discarded = vsq_take_discarded(vq);
	spin_unlock(&vq->lock);

	if (port && discarded)
		atomic64_add(discarded, &port->stats.bytes_discarded);

	if (irq)
		set_bit(vq->idx, vs->irq_pending);
	if (more)
		set_bit(vq->idx, vs->drain_pending);
	if (irq || more)
		vserial_dev_schedule(vs);
	if (port && (done || more))
		vserial_port_wake(port);
}

/*
 * The driver kicked port queue @vq.  Data port queues belong to the
 * host end's reader and writer: wake them.  Console output and queues
 * of ids without a port are drained at once.  @worker: called by the
 * device worker to finish what a kick left over; wakes nobody.
 */
static void vserial_port_kick_vq(struct vserial_dev *vs, struct vsq *vq,
				 bool worker)
{
	struct vserial_port *port;
	unsigned long flags;

	read_lock_irqsave(&vs->mem_lock, flags);
	port = vserial_port_of_vq(vq);
	if (vq->device_writes || (port && !port->console)) {
		if (port && !worker)
			vserial_port_wake(port);
	} else {
		vserial_port_tx_drain(vs, vq, port);
	}
	read_unlock_irqrestore(&vs->mem_lock, flags);
}

/**
 * vserial_port_kick() - the driver kicked port queue @vq
 * @vs: the device
 * @vq: a port queue
 *
 * A receive queue and a data port's transmit queue belong to the host
 * end's writer and reader: wake them.  Console output and the transmit
 * queues of ids without a port are drained at once.
 *
 * Context: The kicker's context, maybe atomic.
 */
void vserial_port_kick(struct vserial_dev *vs, struct vsq *vq)
{
	vserial_port_kick_vq(vs, vq, false);
}

/**
 * vserial_port_drain_all() - drain the transmit queues kicks left work on
 * @vs: the device
 *
 * Finish the draining a kick left over (vs->drain_pending), or, when the
 * driver starts or the device resumes (VSERIAL_DRAIN_ALL), drain what was
 * queued meanwhile.
 *
 * Context: Runs in the device worker.
 */
void vserial_port_drain_all(struct vserial_dev *vs)
{
	bool all = test_and_clear_bit(VSERIAL_DRAIN_ALL, &vs->work_flags);
	struct vsq *vq;
	u32 i;

	for (i = 0; i < vs->max_nr_ports; i++) {
		vq = &vs->vqs[vserial_port_txq(i)];
		if (test_and_clear_bit(vq->idx, vs->drain_pending) || all)
			vserial_port_kick_vq(vs, vq, true);
	}
}

/**
 * vserial_port_emerg_write() - an emergency write (config space emerg_wr)
 * @vs: the device
 * @c: the character written
 *
 * It goes to port 0's host end, into its console buffer.  Without a
 * console port 0 it is dropped; so it is when the buffer is full, and
 * counted in cons_dropped.
 */
void vserial_port_emerg_write(struct vserial_dev *vs, u8 c)
{
	struct vserial_port *port;
	unsigned long flags;
	struct vsq *vq;

	read_lock_irqsave(&vs->mem_lock, flags);
	port = vs->ports[0];
	if (!port || !port->console) {
		read_unlock_irqrestore(&vs->mem_lock, flags);
		dev_dbg_ratelimited(&vs->vdpa.dev,
				    "emergency write without a console port 0 dropped\n");
		return;
	}

	/* The transmit queue's lock makes us the fifo's only producer. */
	vq = vserial_port_txq_of(port);
	spin_lock(&vq->lock);
	if (!kfifo_put(&port->cons_fifo, c))
		atomic64_inc(&port->cons_dropped);
	spin_unlock(&vq->lock);
	vserial_port_wake(port);
	read_unlock_irqrestore(&vs->mem_lock, flags);
}

/**
 * vserial_port_host_open() - the host end of @port is opened
 * @port: the port
 *
 * One opener at a time.  The driver is sent PORT_OPEN, if it knows the
 * port (vserial_ctrl_queue()).
 *
 * Return: 0, -EBUSY if the host end is open already, or -ENODEV if the
 * port is gone.
 */
int vserial_port_host_open(struct vserial_port *port)
{
	if (test_and_set_bit(VSERIAL_PORT_HOST_OPEN, &port->flags))
		return -EBUSY;
	if (READ_ONCE(port->dead)) {
		clear_bit(VSERIAL_PORT_HOST_OPEN, &port->flags);
		return -ENODEV;
	}
	trace_vserial_port(port, VSERIAL_EV_HOST_OPEN);
	vserial_ctrl_queue(port, VSP_MSG_OPEN);
	return 0;
}

/*
 * The host end closes in the middle of a guest buffer: the rest of it is
 * returned unread, so that the next session starts with a whole buffer.
 * What the host has not started to read stays for the next session.
 */
/*
 * The consumer of a queue lets go of it (@lock, the reader's or the
 * writer's mutex): a poll() that could not take @lock meanwhile looked at
 * the ring without it and may have missed what the consumer saw or left
 * (buffers fetched without a kick, a chain half taken); it is woken to
 * look again (vserial_port_poll()).
 */
static void vserial_port_unlock(struct vserial_port *port,
				struct mutex *lock, int poll_bit)
{
	mutex_unlock(lock);
	if (test_and_clear_bit(poll_bit, &port->flags))
		vserial_port_wake(port);
}

static void vserial_port_abandon(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;
	struct vsq *vq = vserial_port_txq_of(port);

	if (port->console)
		return;
	mutex_lock(&port->rlock);
	down_read(&vs->mem_sem);
	/* Only the port's own reader, here its last one, owns the queue. */
	if (!port->dead && vserial_port_installed(port) &&
	    !vserial_port_quarantined(port)) {
		if (vsq_abandon(vq)) {
			atomic64_add(vsq_take_completed(vq),
				     &port->stats.buffers_from_guest);
			if (vsq_publish(vq))
				vserial_dev_irq(vq);
		}
		atomic64_add(vsq_take_discarded(vq),
			     &port->stats.bytes_discarded);
	}
	up_read(&vs->mem_sem);
	vserial_port_unlock(port, &port->rlock, VSERIAL_PORT_POLL_R);
}

/**
 * vserial_port_host_close() - the host end of @port is closed
 * @port: the port
 *
 * The rest of a guest buffer the host was in the middle of reading is
 * returned unread (vserial_port_abandon()).  Unless the port is gone, the
 * driver is sent PORT_OPEN, if it knows the port.
 *
 * Context: May sleep.
 */
void vserial_port_host_close(struct vserial_port *port)
{
	vserial_port_abandon(port);
	clear_bit(VSERIAL_PORT_HOST_OPEN, &port->flags);
	trace_vserial_port(port, VSERIAL_EV_HOST_CLOSE);
	if (!READ_ONCE(port->dead))
		vserial_ctrl_queue(port, VSP_MSG_OPEN);
}

/* Console ports: hand out what the console buffer holds. */
static ssize_t vserial_port_console_read(struct vserial_port *port,
					 struct iov_iter *to)
{
	ssize_t total = 0;

	while (iov_iter_count(to)) {
		unsigned char *p;
		unsigned int n;
		size_t copied;

		n = kfifo_out_linear_ptr(&port->cons_fifo, &p,
					 iov_iter_count(to));
		if (!n)
			break;
		copied = copy_to_iter(p, n, to);
		kfifo_skip_count(&port->cons_fifo, copied);
		total += copied;
		if (copied < n)
			return total ?: -EFAULT;
	}
	return total;
}

/* Read what the guest sent on the transmit queue of a data port. */
static ssize_t vserial_port_read_vq(struct vserial_port *port,
				    struct iov_iter *to)
{
	struct vsq *vq = vserial_port_txq_of(port);
	unsigned int completed;
	ssize_t ret;

	ret = vsq_read_iter(vq, to);
	completed = vsq_take_completed(vq);
	atomic64_add(completed, &port->stats.buffers_from_guest);
	atomic64_add(vsq_take_discarded(vq), &port->stats.bytes_discarded);
	if (ret > 0)
		atomic64_add(ret, &port->stats.bytes_from_guest);
	/* Buffers returned unread are the driver's again, too. */
	if (completed && vsq_publish(vq))
		vserial_dev_irq(vq);
	if (!ret) {		/* not armed: retry */
		ret = -EAGAIN;
		atomic_inc(&port->wake_seq);
	}
	return ret;
}

/*
 * One attempt to read.  Returns the bytes read, 0 at end of file (the
 * port is gone), or -EAGAIN when the caller has to wait: for the guest
 * to write, to open the port, to come back.
 */
static ssize_t vserial_port_try_read(struct vserial_port *port,
				     struct iov_iter *to)
{
	struct vserial_dev *vs = port->vs;
	struct vsq *vq = vserial_port_txq_of(port);
	ssize_t ret;

	down_read(&vs->mem_sem);
	if (port->dead) {
		ret = 0;
		goto out;
	}

	/* User memory is not faulted in under mem_sem: see the caller. */
	pagefault_disable();
	if (!vserial_port_installed(port)) {
		ret = -EAGAIN;
	} else if (port->console) {
		ret = vserial_port_console_read(port, to);
		if (!ret)
			ret = vserial_port_broken(port) ? -EIO : -EAGAIN;
	} else if (vserial_port_broken(port)) {
		ret = -EIO;
	} else if (vserial_port_quarantined(port) || !vsq_usable(vq)) {
		ret = -EAGAIN;
	} else {
		ret = vserial_port_read_vq(port, to);
	}
	pagefault_enable();
out:
	up_read(&vs->mem_sem);
	return ret;
}

/*
 * Between attempts: a user buffer that faulted is faulted in here, up
 * to 64 KiB of it, without the device's locks (a fault may take any
 * time: userfaultfd, FUSE), and a busy retry lets others run.  Returns
 * 0 to retry.
 */
static int vserial_port_retry(struct iov_iter *iter, ssize_t ret, bool write)
{
	size_t size = min_t(size_t, iov_iter_count(iter), SZ_64K);

	if (ret == -EFAULT) {
		if ((write ? fault_in_iov_iter_readable(iter, size) :
			     fault_in_iov_iter_writeable(iter, size)) == size)
			return -EFAULT;
	}
	if (signal_pending(current))
		return -ERESTARTSYS;
	cond_resched();
	return 0;
}

/**
 * vserial_port_read() - read(2) on the host end of @port
 * @port: the port
 * @to: the reader's buffer
 * @nonblock: do not wait
 *
 * Copies what the guest sent straight from its transmit buffers (for a
 * console port, from the console buffer).  Waits while there is nothing
 * to read: for the guest to write, to open the port, to come back.
 *
 * Context: May sleep.
 *
 * Return: the bytes read; 0 if @to is empty or at end of file (the port
 * is gone); -EAGAIN if @nonblock and it would wait; -EIO if a queue of
 * the port broke; -EFAULT; or -ERESTARTSYS on a signal.
 */
ssize_t vserial_port_read(struct vserial_port *port, struct iov_iter *to,
			  bool nonblock)
{
	ssize_t ret;
	int seq;

	if (!iov_iter_count(to))
		return 0;

	for (;;) {
		seq = atomic_read_acquire(&port->wake_seq);
		if (mutex_lock_interruptible(&port->rlock))
			return -ERESTARTSYS;
		ret = vserial_port_try_read(port, to);
		vserial_port_unlock(port, &port->rlock, VSERIAL_PORT_POLL_R);

		if (ret == -EFAULT) {
			ret = vserial_port_retry(to, ret, false);
			if (ret)
				return ret;
			continue;
		}
		if (ret != -EAGAIN || nonblock)
			return ret;
		atomic64_inc(&port->stats.reader_blocked);
		if (wait_event_interruptible(port->wq,
					     atomic_read(&port->wake_seq) != seq))
			return -ERESTARTSYS;
		ret = vserial_port_retry(to, 0, false);
		if (ret)
			return ret;
	}
}

/*
 * One attempt to write.  Returns the bytes written or -EAGAIN when the
 * guest has no buffer or has not opened the port.
 */
static ssize_t vserial_port_try_write(struct vserial_port *port,
				      struct iov_iter *from)
{
	struct vserial_dev *vs = port->vs;
	struct vsq *vq = vserial_port_rxq_of(port);
	unsigned int completed;
	ssize_t ret;

	down_read(&vs->mem_sem);
	if (port->dead) {
		ret = -ENODEV;
	} else if (vserial_port_broken(port)) {
		ret = -EIO;
	} else if (!vserial_port_installed(port) ||
		   !vserial_port_guest_connected(port) || !vsq_usable(vq)) {
		ret = -EAGAIN;
	} else {
		/* User memory is not faulted in under mem_sem. */
		pagefault_disable();
		ret = vsq_write_iter(vq, from);
		pagefault_enable();
		completed = vsq_take_completed(vq);
		atomic64_add(completed, &port->stats.buffers_to_guest);
		if (ret > 0)
			atomic64_add(ret, &port->stats.bytes_to_guest);
		/* Empty receive buffers the walk completed are the driver's too. */
		if (completed && vsq_publish(vq))
			vserial_dev_irq(vq);
		if (!ret) {	/* not armed: retry */
			ret = -EAGAIN;
			atomic_inc(&port->wake_seq);
		}
	}
	up_read(&vs->mem_sem);
	return ret;
}

/**
 * vserial_port_write() - write(2) on the host end of @port
 * @port: the port
 * @from: the writer's buffer
 * @nonblock: do not wait
 *
 * Copies straight into the driver's receive buffers until @from is
 * empty.  Waits while there are none or the guest has not opened the
 * port.
 *
 * Context: May sleep.
 *
 * Return: the bytes written, if any (0 if @from is empty); otherwise
 * -EAGAIN if @nonblock and it would wait, -ENODEV if the port is gone,
 * -EIO if a queue of the port broke, -EFAULT, or -ERESTARTSYS on a
 * signal.
 */
ssize_t vserial_port_write(struct vserial_port *port, struct iov_iter *from,
			   bool nonblock)
{
	ssize_t total = 0, ret;
	int seq;

	while (iov_iter_count(from)) {
		seq = atomic_read_acquire(&port->wake_seq);
		if (mutex_lock_interruptible(&port->wlock))
			return total ?: -ERESTARTSYS;
		ret = vserial_port_try_write(port, from);
		vserial_port_unlock(port, &port->wlock, VSERIAL_PORT_POLL_W);

		if (ret > 0) {
			total += ret;
			cond_resched();
			continue;
		}
		if (ret == -EFAULT) {
			ret = vserial_port_retry(from, ret, true);
			if (ret)
				return total ?: ret;
			continue;
		}
		if (ret != -EAGAIN || nonblock)
			return total ?: ret;
		atomic64_inc(&port->stats.writer_blocked);
		if (wait_event_interruptible(port->wq,
					     atomic_read(&port->wake_seq) != seq))
			return total ?: -ERESTARTSYS;
		ret = vserial_port_retry(from, 0, true);
		if (ret)
			return total ?: ret;
	}
	return total;
}

/*
 * Is there a chain on @vq for its consumer?  With the consumer's mutex
 * (@own), poll() arms the ring for it, so that a kick comes with the next
 * buffer.  Without it, the consumer is at work: poll() only looks, and
 * the consumer wakes it when it lets go (vserial_port_unlock()), to look
 * again.
 */
static bool vserial_port_poll_vq(struct vsq *vq, bool own)
{
	if (vsq_has_avail(vq))
		return true;
	return own && vsq_arm(vq);
}

/**
 * vserial_port_poll() - poll(2) on the host end of @port
 * @port: the port
 *
 * poll() never waits for a reader or writer (they may hold their mutex
 * for a long copy): it looks at the rings under mem_sem only.  When it
 * cannot take a consumer's mutex it says so (VSERIAL_PORT_POLL_R/W)
 * before it looks, so that whatever the consumer does after the look, it
 * sees the flag when it lets go and wakes the poller.
 *
 * Context: May sleep (mem_sem).
 *
 * Return: EPOLLIN if there is something to read, EPOLLOUT if the guest
 * side is there and has a buffer, EPOLLRDHUP while it is away or the
 * port is not plugged in, EPOLLERR if a queue of the port broke; EPOLLIN,
 * EPOLLHUP and EPOLLERR once the port is gone.
 */
__poll_t vserial_port_poll(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;
	struct vsq *rxq = vserial_port_rxq_of(port);
	struct vsq *txq = vserial_port_txq_of(port);
	bool connected = vserial_port_guest_connected(port);
	bool reader = mutex_trylock(&port->rlock);
	bool writer = mutex_trylock(&port->wlock);
	__poll_t mask = 0;

	if (!reader)
		set_bit(VSERIAL_PORT_POLL_R, &port->flags);
	if (!writer)
		set_bit(VSERIAL_PORT_POLL_W, &port->flags);
	/* The flags before the look (pairs with test_and_clear_bit()). */
	smp_mb__after_atomic();
	down_read(&vs->mem_sem);

	/* Gone: end of file, and no more data ever. */
	if (port->dead) {
		mask = EPOLLIN | EPOLLRDNORM | EPOLLHUP | EPOLLERR;
		goto out;
	}
	if (!vserial_port_installed(port)) {
		mask = EPOLLRDHUP;
		goto out;
	}

	if (port->console ? !kfifo_is_empty(&port->cons_fifo) :
			    !vserial_port_quarantined(port) &&
			    vserial_port_poll_vq(txq, reader))
		mask |= EPOLLIN | EPOLLRDNORM;
	/* The guest side is away: a reader waits, a writer would block. */
	if (!connected)
		mask |= EPOLLRDHUP;
	else if (vserial_port_poll_vq(rxq, writer))
		mask |= EPOLLOUT | EPOLLWRNORM;
	if (vserial_port_broken(port))
		mask |= EPOLLERR;
out:
	up_read(&vs->mem_sem);
	if (writer)
		mutex_unlock(&port->wlock);
	if (reader)
		mutex_unlock(&port->rlock);
	return mask;
}

/**
 * vserial_port_resize() - TIOCSWINSZ on the host end of a console port
 * @port: the port
 * @cols: the console's columns
 * @rows: the console's rows
 *
 * Tell the driver the console's size.  With MULTIPORT, a RESIZE control
 * message for the port; without it, port 0's size in config space and a
 * config interrupt.  The size is kept and sent again whenever the driver
 * sets the port up.
 *
 * Return: 0, -ENOTTY if @port is not a console port, or -ENODEV if it is
 * gone.
 */
int vserial_port_resize(struct vserial_port *port, u16 cols, u16 rows)
{
	struct vserial_dev *vs = port->vs;
	unsigned long flags;
	bool config = false;

	if (!port->console)
		return -ENOTTY;
	if (READ_ONCE(port->dead))
		return -ENODEV;

	spin_lock_irqsave(&vs->lock, flags);
	port->cp.cols = cols;
	port->cp.rows = rows;
	if (port->id == 0 && (vs->cols != cols || vs->rows != rows)) {
		vs->cols = cols;
		vs->rows = rows;
		vs->generation++;
		config = vs->cp.session != VSP_SESSION_MULTI;
	}
	spin_unlock_irqrestore(&vs->lock, flags);

	trace_vserial_port(port, VSERIAL_EV_RESIZE);
	vserial_ctrl_queue(port, VSP_MSG_RESIZE);
	if (config)
		vserial_dev_config_changed(vs);
	return 0;
}

/**
 * vserial_port_get_size() - the console size of @port (TIOCGWINSZ)
 * @port: the port
 * @cols: filled with its columns
 * @rows: filled with its rows
 *
 * What vserial_port_resize() last set; 0 by 0 until then.
 */
void vserial_port_get_size(struct vserial_port *port, u16 *cols, u16 *rows)
{
	unsigned long flags;

	spin_lock_irqsave(&port->vs->lock, flags);
	*cols = port->cp.cols;
	*rows = port->cp.rows;
	spin_unlock_irqrestore(&port->vs->lock, flags);
}

/**
 * vserial_port_alloc() - a new port of @vs with id @id
 * @vs: the device
 * @id: the port id
 * @name: the port's name, sent to the driver (PORT_NAME); may be empty
 * @console: a console port
 *
 * Not plugged yet and without its struct device (vserial_cdev_new()
 * gives it one); vserial_port_free() frees it.
 *
 * Context: May sleep.
 *
 * Return: the port, or ERR_PTR(-ERANGE) if @id is not below
 * max_nr_ports, -ENAMETOOLONG or -EINVAL if @name cannot name a port
 * (vsn_name_valid()), or -ENOMEM.
 */
struct vserial_port *vserial_port_alloc(struct vserial_dev *vs, u32 id,
					const char *name, bool console)
{
	struct vserial_port *port;
	int ret;

	if (id >= vs->max_nr_ports)
		return ERR_PTR(-ERANGE);
	ret = vsn_name_valid(name);
	if (ret)
		return ERR_PTR(ret);

	port = kzalloc(sizeof(*port), GFP_KERNEL);
	if (!port)
		return ERR_PTR(-ENOMEM);

	if (console &&
	    kfifo_alloc(&port->cons_fifo, VSERIAL_CONSOLE_BUF_SIZE,
			GFP_KERNEL)) {
		kfree(port);
		return ERR_PTR(-ENOMEM);
	}

	port->vs = vs;
	port->id = id;
	port->console = console;
	port->minor = -1;
	strscpy(port->name, name, sizeof(port->name));
	mutex_init(&port->rlock);
	mutex_init(&port->wlock);
	mutex_init(&port->pub_lock);
	init_waitqueue_head(&port->wq);
	vsp_port_init(&port->cp, id, console, port->name,
		      &port->stats.ctrl_queued);
	return port;
}

/**
 * vserial_port_free() - free a port and its console buffer
 * @port: a port from vserial_port_alloc()
 *
 * Once the port has its struct device, the device's release calls this,
 * after the last vserial_port_put().
 */
void vserial_port_free(struct vserial_port *port)
{
	kfifo_free(&port->cons_fifo);
	kfree(port);
}

/**
 * vserial_port_put() - drop a reference on @port
 * @port: a port with its struct device (vserial_cdev_new())
 *
 * The last one frees the port (vserial_cdev_port_release()).
 */
void vserial_port_put(struct vserial_port *port)
{
	put_device(&port->dev);
}

/**
 * vserial_port_install() - put @port in its place on the device
 * @port: a new port
 *
 * If the driver is up, it is told PORT_ADD (vserial_ctrl_plug()).
 *
 * Context: May sleep (vserial_dev_quiesce()).
 *
 * Return: 0, or -EEXIST if the id is taken.
 */
int vserial_port_install(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;
	unsigned long flags;
	int ret = 0;

	vserial_dev_quiesce(vs, &flags);
	if (vs->ports[port->id]) {
		ret = -EEXIST;
	} else {
		vs->ports[port->id] = port;
		vserial_ctrl_plug(port);
	}
	vserial_dev_unquiesce(vs, flags);

	if (!ret)
		vserial_dev_schedule(vs);
	return ret;
}

/**
 * vserial_port_detach() - take @port off the device
 * @port: the port
 * @announce: tell the driver (not when the whole device goes)
 *
 * The driver is told PORT_REMOVE if it knew the port and @announce is
 * set, and the host end fails from now on (read() end of file,
 * everything else ENODEV).  See vserial_cdev_unplug().
 *
 * Context: May sleep (vserial_dev_quiesce()).
 */
void vserial_port_detach(struct vserial_port *port, bool announce)
{
	struct vserial_dev *vs = port->vs;
	unsigned long flags;

	vserial_dev_quiesce(vs, &flags);
	if (vs->ports[port->id] == port)
		vs->ports[port->id] = NULL;
	WRITE_ONCE(port->dead, true);
	vserial_ctrl_unplug(port, announce);
	vserial_dev_unquiesce(vs, flags);
	vserial_port_wake(port);
}

/**
 * vserial_port_return_tx() - return the buffers of a detached port
 * @port: the port, after vserial_port_detach()
 * @announce: as given to vserial_port_detach(); false: nothing is returned
 *
 * What the driver had queued for the port's host end is returned to it
 * unread, as QEMU does.
 */
void vserial_port_return_tx(struct vserial_port *port, bool announce)
{
	struct vserial_dev *vs = port->vs;

	/* No reader any more: return the driver's buffers, unread. */
	if (announce)
		vserial_port_kick(vs, vserial_port_txq_of(port));
	vserial_dev_schedule(vs);
}

/**
 * vserial_port_wake_vq() - wake the consumer of @vq, if it is a port's
 * @vs: the device
 * @vq: the queue
 *
 * Context: Called with vs->mem_sem or vs->mem_lock held.
 */
void vserial_port_wake_vq(struct vserial_dev *vs, struct vsq *vq)
{
	struct vserial_port *port = vserial_port_of_vq(vq);

	if (port)
		vserial_port_wake(port);
}

/**
 * vserial_port_work() - the device worker's turn
 * @vs: the device
 *
 * Control messages both ways, and port drains: what the driver sent on
 * the control transmit queue, the transmit queues kicks left work on,
 * then what the protocol owes the driver.
 *
 * Context: Runs in the device worker.
 */
void vserial_port_work(struct vserial_dev *vs)
{
	vserial_ctrl_handle_tx(vs);
	vserial_port_drain_all(vs);
	vserial_ctrl_flush(vs);
}

/**
 * vserial_port_wake_all() - wake every plugged port's waiters
 * @vs: the device
 *
 * Something changed that they all wait for, e.g. a reset.
 *
 * Context: May sleep (takes vs->mem_sem).
 */
void vserial_port_wake_all(struct vserial_dev *vs)
{
	u32 i;

	down_read(&vs->mem_sem);
	for (i = 0; i < vs->max_nr_ports; i++)
		if (vs->ports[i])
			vserial_port_wake(vs->ports[i]);
	up_read(&vs->mem_sem);
}
