// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: the host end of every port, /dev/vserialN, and the
 * "vserial" device class (/sys/class/vserial/vserialN/).
 */

#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/termios.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include "vserial_cdev.h"
#include "vserial_ctrl.h"
#include "vserial_port.h"

#define VSERIAL_MINORS	BIT(16)

static dev_t vserial_cdev_devt;
static DEFINE_IDA(vserial_cdev_minor_ida);

static int vserial_cdev_open(struct inode *inode, struct file *file)
{
	struct vserial_port *port =
		container_of(inode->i_cdev, struct vserial_port, cdev);
	int ret;

	ret = vserial_port_host_open(port);
	if (ret)
		return ret;
	file->private_data = port;
	return stream_open(inode, file);
}

static int vserial_cdev_release(struct inode *inode, struct file *file)
{
	vserial_port_host_close(file->private_data);
	return 0;
}

static ssize_t vserial_cdev_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct vserial_port *port = iocb->ki_filp->private_data;

	return vserial_port_read(port, to, (iocb->ki_flags & IOCB_NOWAIT) ||
				 (iocb->ki_filp->f_flags & O_NONBLOCK));
}

static ssize_t vserial_cdev_write_iter(struct kiocb *iocb,
				       struct iov_iter *from)
{
	struct vserial_port *port = iocb->ki_filp->private_data;

	return vserial_port_write(port, from, (iocb->ki_flags & IOCB_NOWAIT) ||
				  (iocb->ki_filp->f_flags & O_NONBLOCK));
}

static __poll_t vserial_cdev_poll(struct file *file, poll_table *wait)
{
	struct vserial_port *port = file->private_data;

	poll_wait(file, &port->wq, wait);
	return vserial_port_poll(port);
}

/*
 * The console size of a console port: TIOCSWINSZ sends it to the driver
 * (RESIZE), TIOCGWINSZ reads it back.  Not a tty otherwise.
 */
static long vserial_cdev_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	struct vserial_port *port = file->private_data;
	void __user *argp = (void __user *)arg;
	struct winsize ws = {};
	u16 cols, rows;

	switch (cmd) {
	case TIOCSWINSZ:
		if (copy_from_user(&ws, argp, sizeof(ws)))
			return -EFAULT;
		return vserial_port_resize(port, ws.ws_col, ws.ws_row);
	case TIOCGWINSZ:
		if (!port->console)
			return -ENOTTY;
		vserial_port_get_size(port, &cols, &rows);
		ws.ws_col = cols;
		ws.ws_row = rows;
		return copy_to_user(argp, &ws, sizeof(ws)) ? -EFAULT : 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations vserial_cdev_fops = {
	.owner = THIS_MODULE,
	.open = vserial_cdev_open,
	.release = vserial_cdev_release,
	.read_iter = vserial_cdev_read_iter,
	.write_iter = vserial_cdev_write_iter,
	.poll = vserial_cdev_poll,
	.unlocked_ioctl = vserial_cdev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct vserial_port *vserial_cdev_port_of(struct device *dev)
{
	return container_of(dev, struct vserial_port, dev);
}

static ssize_t name_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n", vserial_cdev_port_of(dev)->name);
}
static DEVICE_ATTR_RO(name);

static ssize_t port_id_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%u\n", vserial_cdev_port_of(dev)->id);
}
static DEVICE_ATTR_RO(port_id);

static ssize_t console_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%d\n", vserial_cdev_port_of(dev)->console);
}
static DEVICE_ATTR_RO(console);

static ssize_t vdpa_device_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	struct vserial_port *port = vserial_cdev_port_of(dev);

	return sysfs_emit(buf, "%s\n", dev_name(&port->vs->vdpa.dev));
}
static DEVICE_ATTR_RO(vdpa_device);

static ssize_t guest_connected_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct vserial_port *port = vserial_cdev_port_of(dev);

	return sysfs_emit(buf, "%d\n", READ_ONCE(port->cp.guest_connected));
}
static DEVICE_ATTR_RO(guest_connected);

static ssize_t host_connected_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct vserial_port *port = vserial_cdev_port_of(dev);

	return sysfs_emit(buf, "%d\n",
			  test_bit(VSERIAL_PORT_HOST_OPEN, &port->flags));
}
static DEVICE_ATTR_RO(host_connected);

static ssize_t console_dropped_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct vserial_port *port = vserial_cdev_port_of(dev);

	return sysfs_emit(buf, "%lld\n", atomic64_read(&port->cons_dropped));
}
static DEVICE_ATTR_RO(console_dropped);

static struct attribute *vserial_cdev_attrs[] = {
	&dev_attr_name.attr,
	&dev_attr_port_id.attr,
	&dev_attr_console.attr,
	&dev_attr_vdpa_device.attr,
	&dev_attr_guest_connected.attr,
	&dev_attr_host_connected.attr,
	&dev_attr_console_dropped.attr,
	NULL,
};

/* console_dropped only means something for a console port. */
static umode_t vserial_cdev_attr_visible(struct kobject *kobj,
					 struct attribute *attr, int n)
{
	struct vserial_port *port = vserial_cdev_port_of(kobj_to_dev(kobj));

	if (attr == &dev_attr_console_dropped.attr && !port->console)
		return 0;
	return attr->mode;
}

static const struct attribute_group vserial_cdev_group = {
	.attrs = vserial_cdev_attrs,
	.is_visible = vserial_cdev_attr_visible,
};

/* stats/: counters since the port was plugged. */
struct vserial_cdev_stat_attr {
	struct device_attribute attr;
	size_t offset;		/* in struct vserial_port_stats */
};

static ssize_t vserial_cdev_stat_show(struct device *dev,
				      struct device_attribute *attr, char *buf)
{
	struct vserial_cdev_stat_attr *sa =
		container_of(attr, struct vserial_cdev_stat_attr, attr);
	struct vserial_port *port = vserial_cdev_port_of(dev);
	atomic64_t *stat = (void *)&port->stats + sa->offset;

	return sysfs_emit(buf, "%lld\n", atomic64_read(stat));
}

#define VSERIAL_STAT(_name) {						\
	.attr = {							\
		.attr = { .name = __stringify(_name), .mode = 0444 },	\
		.show = vserial_cdev_stat_show,				\
	},								\
	.offset = offsetof(struct vserial_port_stats, _name),		\
}

static struct vserial_cdev_stat_attr vserial_cdev_stats[] = {
	VSERIAL_STAT(bytes_to_guest),
	VSERIAL_STAT(buffers_to_guest),
	VSERIAL_STAT(bytes_from_guest),
	VSERIAL_STAT(buffers_from_guest),
	VSERIAL_STAT(bytes_discarded),
	VSERIAL_STAT(writer_blocked),
	VSERIAL_STAT(reader_blocked),
	VSERIAL_STAT(ctrl_queued),
};

static struct attribute *vserial_cdev_stats_attrs[] = {
	&vserial_cdev_stats[0].attr.attr,
	&vserial_cdev_stats[1].attr.attr,
	&vserial_cdev_stats[2].attr.attr,
	&vserial_cdev_stats[3].attr.attr,
	&vserial_cdev_stats[4].attr.attr,
	&vserial_cdev_stats[5].attr.attr,
	&vserial_cdev_stats[6].attr.attr,
	&vserial_cdev_stats[7].attr.attr,
	NULL,
};

static const struct attribute_group vserial_cdev_stats_group = {
	.name = "stats",
	.attrs = vserial_cdev_stats_attrs,
};

static const struct attribute_group *vserial_cdev_groups[] = {
	&vserial_cdev_group,
	&vserial_cdev_stats_group,
	NULL,
};

static char *vserial_cdev_devnode(const struct device *dev, umode_t *mode)
{
	if (mode)
		*mode = 0600;
	return NULL;
}

static const struct class vserial_cdev_class = {
	.name = "vserial",
	.devnode = vserial_cdev_devnode,
	.dev_groups = vserial_cdev_groups,
};

/* Final put of a port's device: no file refers to it any more. */
static void vserial_cdev_port_release(struct device *dev)
{
	struct vserial_port *port = container_of(dev, struct vserial_port, dev);
	struct vserial_dev *vs = port->vs;

	ida_free(&vserial_cdev_minor_ida, port->minor);
	vserial_port_free(port);
	put_device(&vs->vdpa.dev);
}

/*
 * Give a new port its struct device and minor; from here on the port is
 * freed by its release (vserial_cdev_port_release()).  On failure the port is
 * gone.
 */
static int vserial_cdev_prepare(struct vserial_port *port)
{
	struct vserial_dev *vs = port->vs;
	int minor, ret;

	minor = ida_alloc_max(&vserial_cdev_minor_ida, VSERIAL_MINORS - 1,
			      GFP_KERNEL);
	if (minor < 0) {
		vserial_port_free(port);
		return minor;
	}

	port->minor = minor;
	device_initialize(&port->dev);
	/* No power management: no power/ directory, no PM list entry. */
	device_set_pm_not_required(&port->dev);
	port->dev.class = &vserial_cdev_class;
	port->dev.parent = &vs->vdpa.dev;
	port->dev.devt = MKDEV(MAJOR(vserial_cdev_devt), minor);
	port->dev.release = vserial_cdev_port_release;
	/* Dropped by vserial_cdev_port_release(). */
	get_device(&vs->vdpa.dev);
	cdev_init(&port->cdev, &vserial_cdev_fops);
	port->cdev.owner = THIS_MODULE;

	ret = dev_set_name(&port->dev, "vserial%d", minor);
	if (ret)
		put_device(&port->dev);
	return ret;
}

/**
 * vserial_cdev_add() - /dev/vserialN appears
 * @port: a port from vserial_cdev_new()
 *
 * The port's character device and struct device are added, and the port
 * is published.
 *
 * Context: May sleep.
 *
 * Return: 0, or cdev_device_add()'s negative errno.
 */
int vserial_cdev_add(struct vserial_port *port)
{
	int ret;

	mutex_lock(&port->pub_lock);
	ret = cdev_device_add(&port->cdev, &port->dev);
	if (!ret)
		port->published = true;
	mutex_unlock(&port->pub_lock);
	return ret;
}

/**
 * vserial_cdev_del() - /dev/vserialN disappears
 * @port: the port
 *
 * Open files keep the port.  Nothing to do if it was not published.
 *
 * Context: May sleep.
 */
void vserial_cdev_del(struct vserial_port *port)
{
	mutex_lock(&port->pub_lock);
	if (port->published)
		cdev_device_del(&port->cdev, &port->dev);
	port->published = false;
	mutex_unlock(&port->pub_lock);
}

/*
 * The driver side opened or closed the port: wake pollers of the
 * guest_connected attribute and send a uevent ("change", with
 * VSERIAL_GUEST_CONNECTED=0 or 1).
 */
static void vserial_cdev_notify(struct vserial_port *port)
{
	char env[32], *envp[2];

	snprintf(env, sizeof(env), "VSERIAL_GUEST_CONNECTED=%d",
		 READ_ONCE(port->cp.guest_connected));
	envp[0] = env;
	envp[1] = NULL;
	/* A port unplugged meanwhile has no attribute any more. */
	mutex_lock(&port->pub_lock);
	if (port->published) {
		sysfs_notify(&port->dev.kobj, NULL, "guest_connected");
		kobject_uevent_env(&port->dev.kobj, KOBJ_CHANGE, envp);
	}
	mutex_unlock(&port->pub_lock);
}

/*
 * Tell user space of the guest sides that opened or closed: the port's
 * waiters (POLLRDHUP), the guest_connected attribute's pollers and a
 * uevent.  Runs in the device's notify work, at most VSERIAL_UEVENT_RATE
 * times a second (a guest may open and close as fast as it likes); the
 * uevent is sent without the device's locks.
 */
static void vserial_cdev_notify_all(struct vserial_dev *vs)
{
	struct vserial_port *port;
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&vs->lock, flags);
	if (!vs->cp.uevent_pending) {
		spin_unlock_irqrestore(&vs->lock, flags);
		return;
	}
	vs->cp.uevent_pending = false;
	spin_unlock_irqrestore(&vs->lock, flags);

	for (i = 0; i < vs->max_nr_ports; i++) {
		down_read(&vs->mem_sem);
		port = vs->ports[i];
		spin_lock_irqsave(&vs->lock, flags);
		if (port && port->cp.connected_changed) {
			port->cp.connected_changed = false;
			get_device(&port->dev);
		} else {
			port = NULL;
		}
		spin_unlock_irqrestore(&vs->lock, flags);
		up_read(&vs->mem_sem);
		if (port) {
			vserial_port_wake(port);
			vserial_cdev_notify(port);
			vserial_port_put(port);
		}
	}
}

/**
 * vserial_cdev_new() - a new port of @vs with id @id, and its struct device
 * @vs: the device
 * @id: the port id
 * @name: the port's name; may be empty
 * @console: a console port
 *
 * Not plugged yet.  The caller owns the one reference (vserial_port_put()).
 *
 * Context: May sleep.
 *
 * Return: the port, or an ERR_PTR() (see vserial_port_alloc()).
 */
struct vserial_port *vserial_cdev_new(struct vserial_dev *vs, u32 id,
				      const char *name, bool console)
{
	struct vserial_port *port;
	int ret;

	port = vserial_port_alloc(vs, id, name, console);
	if (IS_ERR(port))
		return port;
	/* From here on the port goes with its struct device. */
	ret = vserial_cdev_prepare(port);
	return ret ? ERR_PTR(ret) : port;
}

/**
 * vserial_cdev_plug() - hot-plug @port
 * @port: a port from vserial_cdev_new()
 *
 * Its host end /dev/vserialN appears, then the port.  If the port cannot
 * take its place, the host end is dead and disappears again.
 *
 * Context: May sleep.
 *
 * Return: 0, or a negative errno (-EEXIST if the id is taken).
 */
int vserial_cdev_plug(struct vserial_port *port)
{
	int ret;

	ret = vserial_cdev_add(port);
	if (ret)
		return ret;
	ret = vserial_port_install(port);
	if (ret) {
		WRITE_ONCE(port->dead, true);
		vserial_port_wake(port);
		vserial_cdev_del(port);
	}
	return ret;
}

/**
 * vserial_cdev_unplug() - unplug @port
 * @port: the port
 * @announce: tell the driver (not when the whole device goes)
 *
 * The driver is told PORT_REMOVE if it knew the port and @announce is
 * set, the host end fails from now on (read() end of file, everything
 * else ENODEV) and disappears, and, with @announce, what the driver had
 * queued for the port's host end is returned to it unread, as QEMU does.
 * The caller still holds its reference.
 *
 * Context: May sleep.
 */
void vserial_cdev_unplug(struct vserial_port *port, bool announce)
{
	vserial_port_detach(port, announce);
	vserial_cdev_del(port);
	vserial_port_return_tx(port, announce);
}

/* What the device core asks of the ports, the control queues and us. */
const struct vserial_dev_hooks vserial_cdev_hooks = {
	.init = vserial_ctrl_init,
	.kick = vserial_port_kick,
	.ctrl_kick = vserial_ctrl_handle_tx,
	.work = vserial_port_work,
	.notify = vserial_cdev_notify_all,
	.wake_all = vserial_port_wake_all,
	.wake_vq = vserial_port_wake_vq,
	.emerg_write = vserial_port_emerg_write,
	.reset = vserial_ctrl_reset,
	.session_end = vserial_ctrl_session_end,
	.features_ok = vserial_ctrl_features_ok,
	.driver_ok = vserial_ctrl_driver_ok,
	.resync_timeout = vserial_ctrl_resync_timeout,
	.log = vserial_ctrl_log,
};

/**
 * vserial_cdev_init() - set up the host ends, at module load
 *
 * Reserve the minors of /dev/vserialN and register the "vserial" class.
 *
 * Return: 0, or a negative errno.
 */
int vserial_cdev_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&vserial_cdev_devt, 0, VSERIAL_MINORS,
				  "vserial");
	if (ret)
		return ret;
	ret = class_register(&vserial_cdev_class);
	if (ret)
		unregister_chrdev_region(vserial_cdev_devt, VSERIAL_MINORS);
	return ret;
}

/**
 * vserial_cdev_exit() - undo vserial_cdev_init(), at module unload
 */
void vserial_cdev_exit(void)
{
	class_unregister(&vserial_cdev_class);
	unregister_chrdev_region(vserial_cdev_devt, VSERIAL_MINORS);
	ida_destroy(&vserial_cdev_minor_ida);
}
