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
 */

#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vserial.h"

struct vserial_port *vserial_port_of_vq(struct vsq *vq)
{
	struct vserial_dev *vs = vq->vs;
	int id = vserial_qid_port(vq->idx);

	if (id < 0 || id >= vs->max_nr_ports)
		return NULL;
	return vs->ports[id];
}

/* Something changed that a reader, writer or poller waits for. */
void vserial_port_wake(struct vserial_port *port)
{
	atomic_inc(&port->wake_seq);
	wake_up_interruptible_poll(&port->wq, EPOLLIN | EPOLLOUT | EPOLLHUP);
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
	return READ_ONCE(port->guest_connected);
}

/* A queue of the port is corrupted: both directions fail until reset. */
static bool vserial_port_broken(struct vserial_port *port)
{
	return vserial_port_rxq_of(port)->broken ||
	       vserial_port_txq_of(port)->broken;
}

/*
 * Console output: take it now, in the kicker's context.  Transmit queues
 * that no port serves are drained the same way, so that no driver waits
 * on them forever.
 */
static void vserial_console_kick(struct vserial_dev *vs, struct vsq *vq,
				 struct vserial_port *port)
{
	unsigned long flags;
	bool irq, more = false;
	int done = 0, r;

	read_lock_irqsave(&vs->mem_lock, flags);
	spin_lock(&vq->lock);
	do {
		r = vsq_console_drain(vq, port);
		if (r == -EAGAIN)
			more = true;
		else if (r > 0)
			done += r;
	} while (r >= 0 && vsq_arm(vq));
	irq = vsq_publish(vq);
	spin_unlock(&vq->lock);
	read_unlock_irqrestore(&vs->mem_lock, flags);

	if (irq)
		set_bit(vq->idx, vs->irq_pending);
	if (irq || more)
		vserial_dev_schedule(vs);
	if (port && (done || more))
		vserial_port_wake(port);
}

/* The driver kicked one of @port's queues (@port may be NULL). */
void vserial_port_kick(struct vserial_port *port, struct vsq *vq)
{
	if (!vq->device_writes && (!port || port->console))
		vserial_console_kick(vq->vs, vq, port);
	else if (port)
		vserial_port_wake(port);
}

/* The worker: finish console output a kick left over. */
void vserial_ports_poll_consoles(struct vserial_dev *vs)
{
	u32 i;

	for (i = 0; i < vs->max_nr_ports; i++) {
		struct vserial_port *port = vs->ports[i];

		if (port && port->console)
			vserial_console_kick(vs, vserial_port_txq_of(port),
					     port);
	}
}

/* An emergency write (config space emerg_wr) goes to port 0's host end. */
void vserial_port_emerg_write(struct vserial_dev *vs, u8 c)
{
	struct vserial_port *port = vs->ports[0];
	struct vsq *vq;
	unsigned long flags;

	if (!port || !port->console) {
		dev_dbg(&vs->vdpa.dev,
			"emergency write without a console port 0 dropped\n");
		return;
	}

	/* The transmit queue's lock makes us the fifo's only producer. */
	vq = vserial_port_txq_of(port);
	spin_lock_irqsave(&vq->lock, flags);
	if (!kfifo_put(&port->cons_fifo, c))
		atomic64_inc(&port->cons_dropped);
	spin_unlock_irqrestore(&vq->lock, flags);
	vserial_port_wake(port);
}

int vserial_port_host_open(struct vserial_port *port)
{
	if (test_and_set_bit(VSERIAL_PORT_HOST_OPEN, &port->flags))
		return -EBUSY;
	if (READ_ONCE(port->dead)) {
		clear_bit(VSERIAL_PORT_HOST_OPEN, &port->flags);
		return -ENODEV;
	}
	vserial_ctrl_queue(port, VSERIAL_CTRL_OPEN);
	return 0;
}

void vserial_port_host_close(struct vserial_port *port)
{
	clear_bit(VSERIAL_PORT_HOST_OPEN, &port->flags);
	if (!READ_ONCE(port->dead))
		vserial_ctrl_queue(port, VSERIAL_CTRL_OPEN);
}

/* Console ports: hand out what the console buffer holds. */
static ssize_t vserial_console_read(struct vserial_port *port,
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

/*
 * One attempt to read.  Returns the bytes read, 0 at end of file, or
 * -EAGAIN when the caller has to wait.
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

	if (port->console) {
		ret = vserial_console_read(port, to);
		if (!ret && vserial_port_broken(port))
			ret = -EIO;
	} else if (vserial_port_broken(port)) {
		ret = -EIO;
	} else if (!vsq_usable(vq)) {
		ret = 0;
	} else {
		ret = vsq_read_iter(vq, to);
		if (ret > 0 && vsq_publish(vq))
			vserial_dev_irq(vq);
		else if (!ret && vsq_arm(vq))
			ret = -EAGAIN;	/* raced with the driver: retry */
		if (ret == -EAGAIN)
			atomic_inc(&port->wake_seq);
	}
	if (!ret && vserial_port_guest_connected(port))
		ret = -EAGAIN;
out:
	up_read(&vs->mem_sem);
	return ret;
}

ssize_t vserial_port_read(struct vserial_port *port, struct iov_iter *to,
			  bool nonblock)
{
	ssize_t ret;
	int seq;

	if (!iov_iter_count(to))
		return 0;

	for (;;) {
		seq = atomic_read(&port->wake_seq);
		if (mutex_lock_interruptible(&port->rlock))
			return -ERESTARTSYS;
		ret = vserial_port_try_read(port, to);
		mutex_unlock(&port->rlock);

		if (ret != -EAGAIN || nonblock)
			return ret;
		if (wait_event_interruptible(port->wq,
					     atomic_read(&port->wake_seq) != seq))
			return -ERESTARTSYS;
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
	ssize_t ret;

	down_read(&vs->mem_sem);
	if (port->dead) {
		ret = -ENODEV;
	} else if (vserial_port_broken(port)) {
		ret = -EIO;
	} else if (!vserial_port_guest_connected(port) || !vsq_usable(vq)) {
		ret = -EAGAIN;
	} else {
		ret = vsq_write_iter(vq, from);
		if (ret > 0 && vsq_publish(vq))
			vserial_dev_irq(vq);
		if (!ret) {
			ret = -EAGAIN;
			if (vsq_arm(vq))	/* raced with the driver */
				atomic_inc(&port->wake_seq);
		}
	}
	up_read(&vs->mem_sem);
	return ret;
}

ssize_t vserial_port_write(struct vserial_port *port, struct iov_iter *from,
			   bool nonblock)
{
	ssize_t total = 0, ret;
	int seq;

	while (iov_iter_count(from)) {
		seq = atomic_read(&port->wake_seq);
		if (mutex_lock_interruptible(&port->wlock))
			return total ?: -ERESTARTSYS;
		ret = vserial_port_try_write(port, from);
		mutex_unlock(&port->wlock);

		if (ret > 0) {
			total += ret;
			continue;
		}
		if (ret != -EAGAIN || nonblock)
			return total ?: ret;
		if (wait_event_interruptible(port->wq,
					     atomic_read(&port->wake_seq) != seq))
			return total ?: -ERESTARTSYS;
	}
	return total;
}

__poll_t vserial_port_poll(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;
	struct vsq *rxq = vserial_port_rxq_of(port);
	struct vsq *txq = vserial_port_txq_of(port);
	bool connected = vserial_port_guest_connected(port);
	__poll_t mask = 0;

	mutex_lock(&port->rlock);
	mutex_lock(&port->wlock);
	down_read(&vs->mem_sem);

	if (port->dead) {
		mask = EPOLLIN | EPOLLRDNORM | EPOLLHUP | EPOLLERR;
		goto out;
	}

	if (port->console ? !kfifo_is_empty(&port->cons_fifo) :
			    vsq_has_avail(txq) || vsq_arm(txq))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (!connected)
		mask |= EPOLLHUP;
	else if (vsq_has_avail(rxq) || vsq_arm(rxq))
		mask |= EPOLLOUT | EPOLLWRNORM;
	if (vserial_port_broken(port))
		mask |= EPOLLERR;
out:
	up_read(&vs->mem_sem);
	mutex_unlock(&port->wlock);
	mutex_unlock(&port->rlock);
	return mask;
}

/* Parse one entry of the "ports" list: "NAME" or "console:NAME". */
static int vserial_parse_entry(char *entry, bool *console, const char **name)
{
	const char *p;

	entry = strim(entry);
	*console = false;
	if (!strncmp(entry, "console:", 8)) {
		*console = true;
		entry += 8;
	}
	if (strlen(entry) > VSERIAL_PORT_NAME_MAX)
		return -ENAMETOOLONG;
	for (p = entry; *p; p++)
		if (*p == '/' || !isgraph(*p))
			return -EINVAL;
	*name = entry;
	return 0;
}

static struct vserial_port *vserial_port_alloc(struct vserial_dev *vs, u32 id,
					       const char *name, bool console)
{
	struct vserial_port *port;

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
	init_waitqueue_head(&port->wq);
	INIT_LIST_HEAD(&port->ctrl_node);
	atomic64_set(&port->cons_dropped, 0);
	atomic_set(&port->wake_seq, 0);
	return port;
}

static void vserial_port_free(struct vserial_port *port)
{
	kfifo_free(&port->cons_fifo);
	kfree(port);
}

/* Final put of a port's device: no file refers to it any more. */
void vserial_port_release(struct device *dev)
{
	struct vserial_port *port = container_of(dev, struct vserial_port, dev);
	struct vserial_dev *vs = port->vs;

	vserial_cdev_put_minor(port);
	vserial_port_free(port);
	put_device(&vs->vdpa.dev);
}

/*
 * Create the ports of a new device from the "ports" list: ids follow the
 * list from 1, the first console port takes id 0.  Without MULTIPORT the
 * device has exactly one port, console port 0.
 */
int vserial_ports_create(struct vserial_dev *vs, const char *spec)
{
	bool multiport = vs->dev_features & BIT_ULL(VIRTIO_CONSOLE_F_MULTIPORT);
	char *buf, *cur, *entry;
	bool have_console = false;
	u32 next_id = 1, id, i;
	const char *name;
	bool console;
	int ret = 0;

	buf = kstrdup(spec ?: "", GFP_KERNEL);
	if (!buf)
		return -ENOMEM;

	cur = buf;
	while ((entry = strsep(&cur, ","))) {
		struct vserial_port *port;

		ret = vserial_parse_entry(entry, &console, &name);
		if (ret) {
			dev_err(&vs->vdpa.dev, "bad port \"%s\" in ports list\n",
				entry);
			goto out;
		}
		if (!console && !*name)
			continue;	/* empty entry */

		if (!multiport && (!console || have_console))
			continue;
		if (console && !have_console) {
			id = 0;
			have_console = true;
		} else {
			id = next_id++;
		}
		if (id >= vs->max_nr_ports) {
			dev_err(&vs->vdpa.dev,
				"port %u (\"%s\") exceeds max_ports %u\n",
				id, name, vs->max_nr_ports);
			ret = -ERANGE;
			goto out;
		}
		for (i = 0; *name && i < vs->max_nr_ports; i++) {
			if (vs->ports[i] && !strcmp(vs->ports[i]->name, name)) {
				dev_err(&vs->vdpa.dev,
					"duplicate port name \"%s\"\n", name);
				ret = -EEXIST;
				goto out;
			}
		}

		port = vserial_port_alloc(vs, id, name, console);
		if (IS_ERR(port)) {
			ret = PTR_ERR(port);
			goto out;
		}
		vs->ports[id] = port;
	}

	if (!multiport && !vs->ports[0]) {
		struct vserial_port *port = vserial_port_alloc(vs, 0, "", true);

		if (IS_ERR(port)) {
			ret = PTR_ERR(port);
			goto out;
		}
		vs->ports[0] = port;
	}
out:
	kfree(buf);
	if (ret)
		vserial_ports_free(vs);
	return ret;
}

/* Free ports that never got a character device. */
void vserial_ports_free(struct vserial_dev *vs)
{
	u32 i;

	for (i = 0; i < vs->max_nr_ports; i++) {
		if (vs->ports[i] && vs->ports[i]->minor < 0) {
			vserial_port_free(vs->ports[i]);
			vs->ports[i] = NULL;
		}
	}
}

/* Give every port its /dev/vserialN once the vDPA device is registered. */
int vserial_ports_publish(struct vserial_dev *vs)
{
	u32 i;
	int ret;

	for (i = 0; i < vs->max_nr_ports; i++) {
		if (!vs->ports[i])
			continue;
		ret = vserial_cdev_add(vs->ports[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The device is going away: remove the host ends from view (open files
 * keep working until the device is unregistered).
 */
void vserial_ports_unpublish(struct vserial_dev *vs)
{
	u32 i;

	for (i = 0; i < vs->max_nr_ports; i++)
		if (vs->ports[i] && vs->ports[i]->minor >= 0)
			vserial_cdev_del(vs->ports[i]);
}

/*
 * The vDPA device is unregistered: fail what the host ends still do, and
 * drop the device's references to its ports.
 */
void vserial_ports_kill(struct vserial_dev *vs)
{
	struct vserial_port *port;
	u32 i;

	down_write(&vs->mem_sem);
	for (i = 0; i < vs->max_nr_ports; i++)
		if (vs->ports[i])
			WRITE_ONCE(vs->ports[i]->dead, true);
	up_write(&vs->mem_sem);

	for (i = 0; i < vs->max_nr_ports; i++) {
		port = vs->ports[i];
		if (!port)
			continue;
		vs->ports[i] = NULL;
		vserial_port_wake(port);
		if (port->minor >= 0)
			put_device(&port->dev);
		else
			vserial_port_free(port);
	}
}
