// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: ports and device templates in configfs.
 *
 * /sys/kernel/config/vdpa_vserial/
 *     DEV/                  the device named DEV ("vdpa dev add name DEV"),
 *                           or, made with mkdir before the device exists,
 *                           its template
 *         max_ports         max_nr_ports of the device (template only)
 *         resize_order      field order of RESIZE: cols_rows or rows_cols
 *         ports/
 *             PORT/         a port; mkdir makes one, rmdir removes it
 *                 name      the port's name (default: PORT)
 *                 id        port id, or "auto": the lowest free one
 *                 console   1 for a console port
 *                 enable    1: plugged in (PORT_ADD), 0: unplugged
 *                 dev       the host end, /dev/vserialN, while plugged
 *
 * "vdpa dev add name DEV" uses the template DEV if there is one (and pins
 * it until "vdpa dev del"); otherwise it makes DEV/ itself, with the
 * ports of the "ports" module parameter.  The directories the kernel
 * makes cannot be removed with rmdir (configfs answers EPERM); they go
 * with the device.  A kernel-made DEV/ that still holds ports made with
 * mkdir when its device is deleted stays, as the template of the next
 * device of that name, until those ports are removed.
 *
 * Locking: vserial_cfg_mutex protects this tree's state and its link to
 * the devices.  It is never held while calling configfs functions that
 * take configfs' own locks (registering, unregistering, depending), since
 * configfs calls us with those held.
 */

#include <linux/configfs.h>
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vserial_cdev.h"
#include "vserial_cfg.h"
#include "vserial_parse.h"
#include "vserial_port.h"

/*
 * Module parameters: the ports and max_nr_ports of a device made without
 * a template in configfs (vserial_cfg_from_params()).
 */
static unsigned int vserial_cfg_max_ports_param = 31;

static int vserial_cfg_max_ports_set(const char *val,
				     const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, VSERIAL_MAX_PORTS);
}

static const struct kernel_param_ops vserial_cfg_max_ports_ops = {
	.set = vserial_cfg_max_ports_set,
	.get = param_get_uint,
};

module_param_cb(max_ports, &vserial_cfg_max_ports_ops,
		&vserial_cfg_max_ports_param, 0644);
MODULE_PARM_DESC(max_ports,
		 "max_nr_ports of each new device without a configfs template, 1-511 (default 31); read at each \"vdpa dev add\"");

static char *vserial_cfg_ports_param = "console:,org.qemu.guest_agent.0";
module_param_named(ports, vserial_cfg_ports_param, charp, 0644);
MODULE_PARM_DESC(ports,
		 "Initial ports of each new device without a configfs template, comma separated: NAME for a port, console:NAME (NAME may be empty) for a console port. Ids follow the list from 1; the first console port takes id 0 (default \"console:,org.qemu.guest_agent.0\")");

/* This tree's state and its link to the devices (see above). */
DEFINE_MUTEX(vserial_cfg_mutex);
static LIST_HEAD(vserial_cfg_devs);

struct vserial_cfg_dev {
	struct config_group group;		/* DEV/ */
	struct config_group ports_group;	/* DEV/ports/ */
	struct list_head node;			/* on vserial_cfg_devs */
	struct list_head ports;			/* struct vserial_cfg_port */
	struct vserial_dev *vs;			/* the device, while it exists */
	unsigned int max_ports;
	enum vserial_resize_order resize_order;
	unsigned int user_ports;		/* ports made with mkdir */
	bool kernel_made;			/* registered by us */
	bool registered;			/* ... and in configfs now */
	bool pinned;				/* template, depended on */
	bool dying;				/* being unregistered */
	struct work_struct unregister_work;
};

struct vserial_cfg_port {
	struct config_group group;		/* DEV/ports/PORT/ */
	struct list_head node;			/* on cfg->ports */
	struct vserial_cfg_dev *cfg;
	char name[VSERIAL_PORT_NAME_MAX + 1];
	int id;					/* -1: automatic */
	bool console;
	bool enabled;
	bool kernel_made;
	bool registered;			/* kernel-made, in configfs */
	struct vserial_port *port;		/* while plugged */
};

static struct configfs_subsystem vserial_cfg_subsys;

static struct vserial_cfg_dev *vserial_cfg_dev_of(struct config_item *item)
{
	return container_of(to_config_group(item), struct vserial_cfg_dev,
			    group);
}

static struct vserial_cfg_port *vserial_cfg_port_of(struct config_item *item)
{
	return container_of(to_config_group(item), struct vserial_cfg_port,
			    group);
}

/* Called with vserial_cfg_mutex held. */
static struct vserial_cfg_dev *vserial_cfg_find(const char *name)
{
	struct vserial_cfg_dev *cfg;

	list_for_each_entry(cfg, &vserial_cfg_devs, node)
		if (!strcmp(config_item_name(&cfg->group.cg_item), name))
			return cfg;
	return NULL;
}

/* ---- ports ---- */

/* The id @cp has on the device: its own, or the one it was given. */
static int vserial_cfg_port_id(const struct vserial_cfg_port *cp)
{
	return cp->port ? cp->port->id : cp->id;
}

/* Is @id taken by a port of @cfg other than @self? */
static bool vserial_cfg_id_taken(struct vserial_cfg_dev *cfg, int id,
				 struct vserial_cfg_port *self)
{
	struct vserial_cfg_port *cp;

	list_for_each_entry(cp, &cfg->ports, node)
		if (cp != self && vserial_cfg_port_id(cp) == id)
			return true;
	return false;
}

static bool vserial_cfg_name_taken(struct vserial_cfg_dev *cfg,
				   const char *name,
				   struct vserial_cfg_port *self)
{
	struct vserial_cfg_port *cp;

	if (!*name)
		return false;
	list_for_each_entry(cp, &cfg->ports, node)
		if (cp != self && !strcmp(cp->name, name))
			return true;
	return false;
}

/* A port directory of @cfg is called @dir, made or still to be made. */
static bool vserial_cfg_dir_taken(struct vserial_cfg_dev *cfg, const char *dir)
{
	struct vserial_cfg_port *cp;

	list_for_each_entry(cp, &cfg->ports, node)
		if (!strcmp(config_item_name(&cp->group.cg_item), dir))
			return true;
	return false;
}

/*
 * The enabled ports of template @cfg, and @also if not NULL, fit in @max
 * ids: explicit ids below it, and enough free ids for the others (id 0
 * only for a console).
 */
static bool vserial_cfg_fits(struct vserial_cfg_dev *cfg, unsigned int max,
			     struct vserial_cfg_port *also)
{
	unsigned int used = 0, autos = 0, zero = 0, auto_console = 0;
	struct vserial_cfg_port *cp;

	list_for_each_entry(cp, &cfg->ports, node) {
		if (!cp->enabled && cp != also)
			continue;
		if (cp->id >= (int)max)
			return false;
		if (cp->id < 0) {
			autos++;
			auto_console |= cp->console;
		} else {
			used++;
			zero |= !cp->id;
		}
	}
	return autos <= max - 1 - (used - zero) + (!zero && auto_console);
}

/*
 * The id @cp gets when plugged: its own, or the lowest free one (a
 * console port tries 0 first; id 0 is otherwise left to consoles, as
 * QEMU does).
 */
static int vserial_cfg_pick_id(struct vserial_cfg_port *cp)
{
	struct vserial_cfg_dev *cfg = cp->cfg;
	unsigned int id;

	if (cp->id >= 0)
		return cp->id;
	if (cp->console && !vserial_cfg_id_taken(cfg, 0, cp))
		return 0;
	for (id = 1; id < cfg->max_ports; id++)
		if (!vserial_cfg_id_taken(cfg, id, cp))
			return id;
	return -ENOSPC;
}

/*
 * Make @cp's port on the live device @vs; @hotplug: plug it in now (else
 * the caller publishes it once the device is registered).
 */
static int vserial_cfg_port_create(struct vserial_cfg_port *cp,
				   struct vserial_dev *vs, bool hotplug)
{
	bool multiport = vs->dev_features & BIT_ULL(VIRTIO_CONSOLE_F_MULTIPORT);
	struct vserial_port *port;
	int id, ret;

	id = vserial_cfg_pick_id(cp);
	if (id < 0)
		return id;
	if (!multiport && (id || !cp->console))
		return -EOPNOTSUPP;

	port = vserial_cdev_new(vs, id, cp->name, cp->console);
	if (IS_ERR(port))
		return PTR_ERR(port);
	ret = hotplug ? vserial_cdev_plug(port) : vserial_port_install(port);
	if (ret) {
		vserial_port_put(port);
		return ret;
	}
	cp->port = port;
	return 0;
}

/* Unplug @cp's port, if it has one. */
static void vserial_cfg_port_destroy(struct vserial_cfg_port *cp,
				     bool announce)
{
	if (!cp->port)
		return;
	vserial_cdev_unplug(cp->port, announce);
	vserial_port_put(cp->port);
	cp->port = NULL;
}

static ssize_t vserial_cfg_port_name_show(struct config_item *item,
					  char *page)
{
	struct vserial_cfg_port *cp = vserial_cfg_port_of(item);
	ssize_t ret;

	mutex_lock(&vserial_cfg_mutex);
	ret = sysfs_emit(page, "%s\n", cp->name);
	mutex_unlock(&vserial_cfg_mutex);
	return ret;
}

static ssize_t vserial_cfg_port_name_store(struct config_item *item,
					   const char *page, size_t count)
{
	struct vserial_cfg_port *cp = vserial_cfg_port_of(item);
	char name[VSERIAL_PORT_NAME_MAX + 2];
	char *p;
	int ret;

	if (count > VSERIAL_PORT_NAME_MAX + 1)
		return -ENAMETOOLONG;
	memcpy(name, page, count);
	name[count] = '\0';
	p = strim(name);
	ret = vsn_name_valid(p);
	if (ret)
		return ret;

	mutex_lock(&vserial_cfg_mutex);
	if (cp->enabled)
		ret = -EBUSY;
	else if (vserial_cfg_name_taken(cp->cfg, p, cp))
		ret = -EEXIST;
	else
		strscpy(cp->name, p, sizeof(cp->name));
	mutex_unlock(&vserial_cfg_mutex);
	return ret ?: count;
}

static ssize_t vserial_cfg_port_id_show(struct config_item *item, char *page)
{
	struct vserial_cfg_port *cp = vserial_cfg_port_of(item);
	ssize_t ret;
	int id;

	mutex_lock(&vserial_cfg_mutex);
	id = vserial_cfg_port_id(cp);
	ret = id < 0 ? sysfs_emit(page, "auto\n") : sysfs_emit(page, "%d\n", id);
	mutex_unlock(&vserial_cfg_mutex);
	return ret;
}

static ssize_t vserial_cfg_port_id_store(struct config_item *item,
					 const char *page, size_t count)
{
	struct vserial_cfg_port *cp = vserial_cfg_port_of(item);
	unsigned int id;
	int ret = 0;

	if (sysfs_streq(page, "auto")) {
		id = UINT_MAX;
	} else {
		ret = kstrtouint(page, 0, &id);
		if (ret)
			return ret;
	}

	mutex_lock(&vserial_cfg_mutex);
	if (cp->enabled)
		ret = -EBUSY;
	else if (id == UINT_MAX)
		cp->id = -1;
	else if (id >= cp->cfg->max_ports)
		ret = -ERANGE;
	else if (vserial_cfg_id_taken(cp->cfg, id, cp))
		ret = -EEXIST;
	else
		cp->id = id;
	mutex_unlock(&vserial_cfg_mutex);
	return ret ?: count;
}

static ssize_t vserial_cfg_port_console_show(struct config_item *item,
					     char *page)
{
	struct vserial_cfg_port *port = vserial_cfg_port_of(item);

	return sysfs_emit(page, "%d\n", READ_ONCE(port->console));
}

static ssize_t vserial_cfg_port_console_store(struct config_item *item,
					      const char *page, size_t count)
{
	struct vserial_cfg_port *cp = vserial_cfg_port_of(item);
	bool console;
	int ret;

	ret = kstrtobool(page, &console);
	if (ret)
		return ret;

	mutex_lock(&vserial_cfg_mutex);
	if (cp->enabled)
		ret = -EBUSY;
	else
		WRITE_ONCE(cp->console, console);
	mutex_unlock(&vserial_cfg_mutex);
	return ret ?: count;
}

static ssize_t vserial_cfg_port_enable_show(struct config_item *item,
					    char *page)
{
	struct vserial_cfg_port *port = vserial_cfg_port_of(item);

	return sysfs_emit(page, "%d\n", READ_ONCE(port->enabled));
}

static ssize_t vserial_cfg_port_enable_store(struct config_item *item,
					     const char *page, size_t count)
{
	struct vserial_cfg_port *cp = vserial_cfg_port_of(item);
	bool enable;
	int ret;

	ret = kstrtobool(page, &enable);
	if (ret)
		return ret;

	mutex_lock(&vserial_cfg_mutex);
	if (enable == cp->enabled)
		goto out;
	if (enable) {
		/* A template only records it; the device plugs it. */
		if (cp->cfg->vs)
			ret = vserial_cfg_port_create(cp, cp->cfg->vs, true);
		else if (!vserial_cfg_fits(cp->cfg, cp->cfg->max_ports, cp))
			ret = -ENOSPC;
	} else {
		vserial_cfg_port_destroy(cp, true);
	}
	if (!ret)
		WRITE_ONCE(cp->enabled, enable);
out:
	mutex_unlock(&vserial_cfg_mutex);
	return ret ?: count;
}

static ssize_t vserial_cfg_port_dev_show(struct config_item *item, char *page)
{
	struct vserial_cfg_port *cp = vserial_cfg_port_of(item);
	ssize_t ret;

	mutex_lock(&vserial_cfg_mutex);
	if (cp->port)
		ret = sysfs_emit(page, "/dev/%s\n", dev_name(&cp->port->dev));
	else
		ret = sysfs_emit(page, "\n");
	mutex_unlock(&vserial_cfg_mutex);
	return ret;
}

CONFIGFS_ATTR(vserial_cfg_port_, name);
CONFIGFS_ATTR(vserial_cfg_port_, id);
CONFIGFS_ATTR(vserial_cfg_port_, console);
CONFIGFS_ATTR(vserial_cfg_port_, enable);
CONFIGFS_ATTR_RO(vserial_cfg_port_, dev);

static struct configfs_attribute *vserial_cfg_port_attrs[] = {
	&vserial_cfg_port_attr_name,
	&vserial_cfg_port_attr_id,
	&vserial_cfg_port_attr_console,
	&vserial_cfg_port_attr_enable,
	&vserial_cfg_port_attr_dev,
	NULL,
};

static void vserial_cfg_port_release(struct config_item *item)
{
	kfree(vserial_cfg_port_of(item));
}

static struct configfs_item_operations vserial_cfg_port_item_ops = {
	.release = vserial_cfg_port_release,
};

static const struct config_item_type vserial_cfg_port_type = {
	.ct_item_ops = &vserial_cfg_port_item_ops,
	.ct_attrs = vserial_cfg_port_attrs,
	.ct_owner = THIS_MODULE,
};

/* A port of @cfg, not yet on its list.  Called with the mutex held. */
static struct vserial_cfg_port *vserial_cfg_port_alloc(struct vserial_cfg_dev *cfg,
						       const char *dir,
						       const char *name)
{
	struct vserial_cfg_port *cp;

	cp = kzalloc(sizeof(*cp), GFP_KERNEL);
	if (!cp)
		return NULL;
	cp->cfg = cfg;
	cp->id = -1;
	strscpy(cp->name, name, sizeof(cp->name));
	config_group_init_type_name(&cp->group, dir, &vserial_cfg_port_type);
	return cp;
}

/* mkdir DEV/ports/PORT */
static struct config_group *vserial_cfg_port_make(struct config_group *group,
						  const char *dir)
{
	struct vserial_cfg_dev *cfg = container_of(group, struct vserial_cfg_dev,
						   ports_group);
	struct vserial_cfg_port *cp;
	int ret;

	/* The directory name is the default port name: it must be one. */
	ret = vsn_name_valid(dir);
	if (ret)
		return ERR_PTR(ret);

	mutex_lock(&vserial_cfg_mutex);
	if (cfg->dying) {
		cp = ERR_PTR(-ENOENT);
	} else if (vserial_cfg_name_taken(cfg, dir, NULL) ||
		   vserial_cfg_dir_taken(cfg, dir)) {
		cp = ERR_PTR(-EEXIST);
	} else {
		cp = vserial_cfg_port_alloc(cfg, dir, dir);
		if (!cp) {
			cp = ERR_PTR(-ENOMEM);
		} else {
			list_add_tail(&cp->node, &cfg->ports);
			cfg->user_ports++;
		}
	}
	mutex_unlock(&vserial_cfg_mutex);
	return IS_ERR(cp) ? ERR_CAST(cp) : &cp->group;
}

/* rmdir DEV/ports/PORT: unplug it first. */
static void vserial_cfg_port_drop(struct config_group *group,
				  struct config_item *item)
{
	struct vserial_cfg_port *cp = vserial_cfg_port_of(item);
	struct vserial_cfg_dev *cfg = cp->cfg;

	mutex_lock(&vserial_cfg_mutex);
	vserial_cfg_port_destroy(cp, true);
	list_del(&cp->node);
	/* A left-over kernel-made directory goes with its last such port. */
	if (!--cfg->user_ports && cfg->kernel_made && !cfg->vs && !cfg->dying) {
		cfg->dying = true;
		queue_work(vserial_dev_wq, &cfg->unregister_work);
	}
	mutex_unlock(&vserial_cfg_mutex);
	config_item_put(item);
}

static struct configfs_group_operations vserial_cfg_ports_group_ops = {
	.make_group = vserial_cfg_port_make,
	.drop_item = vserial_cfg_port_drop,
};

static const struct config_item_type vserial_cfg_ports_type = {
	.ct_group_ops = &vserial_cfg_ports_group_ops,
	.ct_owner = THIS_MODULE,
};

/* ---- devices ---- */

static ssize_t vserial_cfg_dev_max_ports_show(struct config_item *item,
					      char *page)
{
	struct vserial_cfg_dev *cfg = vserial_cfg_dev_of(item);

	return sysfs_emit(page, "%u\n", READ_ONCE(cfg->max_ports));
}

static ssize_t vserial_cfg_dev_max_ports_store(struct config_item *item,
					       const char *page, size_t count)
{
	struct vserial_cfg_dev *cfg = vserial_cfg_dev_of(item);
	struct vserial_cfg_port *cp;
	unsigned int max;
	int ret;

	ret = kstrtouint(page, 0, &max);
	if (ret)
		return ret;
	if (max < 1 || max > VSERIAL_MAX_PORTS)
		return -EINVAL;

	mutex_lock(&vserial_cfg_mutex);
	if (cfg->vs) {
		ret = -EBUSY;
		goto out;
	}
	list_for_each_entry(cp, &cfg->ports, node) {
		if (cp->id >= (int)max) {
			ret = -ERANGE;
			goto out;
		}
	}
	if (!vserial_cfg_fits(cfg, max, NULL)) {
		ret = -ENOSPC;
		goto out;
	}
	WRITE_ONCE(cfg->max_ports, max);
out:
	mutex_unlock(&vserial_cfg_mutex);
	return ret ?: count;
}

static const char *const vserial_cfg_resize_orders[] = {
	[VSERIAL_RESIZE_COLS_ROWS] = "cols_rows",
	[VSERIAL_RESIZE_ROWS_COLS] = "rows_cols",
};

static ssize_t vserial_cfg_dev_resize_order_show(struct config_item *item,
						 char *page)
{
	unsigned int order = READ_ONCE(vserial_cfg_dev_of(item)->resize_order);

	return sysfs_emit(page, "%s\n", vserial_cfg_resize_orders[order]);
}

static ssize_t vserial_cfg_dev_resize_order_store(struct config_item *item,
						  const char *page, size_t count)
{
	struct vserial_cfg_dev *cfg = vserial_cfg_dev_of(item);
	int order;

	order = sysfs_match_string(vserial_cfg_resize_orders, page);
	if (order < 0)
		return order;

	mutex_lock(&vserial_cfg_mutex);
	WRITE_ONCE(cfg->resize_order, order);
	if (cfg->vs) {
		spin_lock_irq(&cfg->vs->lock);
		cfg->vs->cp.resize_order = order;
		spin_unlock_irq(&cfg->vs->lock);
	}
	mutex_unlock(&vserial_cfg_mutex);
	return count;
}

CONFIGFS_ATTR(vserial_cfg_dev_, max_ports);
CONFIGFS_ATTR(vserial_cfg_dev_, resize_order);

static struct configfs_attribute *vserial_cfg_dev_attrs[] = {
	&vserial_cfg_dev_attr_max_ports,
	&vserial_cfg_dev_attr_resize_order,
	NULL,
};

static void vserial_cfg_dev_release(struct config_item *item)
{
	kfree(vserial_cfg_dev_of(item));
}

static struct configfs_item_operations vserial_cfg_dev_item_ops = {
	.release = vserial_cfg_dev_release,
};

static const struct config_item_type vserial_cfg_dev_type = {
	.ct_item_ops = &vserial_cfg_dev_item_ops,
	.ct_attrs = vserial_cfg_dev_attrs,
	.ct_owner = THIS_MODULE,
};

static void vserial_cfg_unregister_work(struct work_struct *work);

static struct vserial_cfg_dev *vserial_cfg_dev_alloc(const char *name,
						     unsigned int max_ports)
{
	struct vserial_cfg_dev *cfg;

	cfg = kzalloc(sizeof(*cfg), GFP_KERNEL);
	if (!cfg)
		return NULL;
	INIT_LIST_HEAD(&cfg->ports);
	INIT_WORK(&cfg->unregister_work, vserial_cfg_unregister_work);
	cfg->max_ports = max_ports;
	cfg->resize_order = VSERIAL_RESIZE_COLS_ROWS;
	config_group_init_type_name(&cfg->group, name, &vserial_cfg_dev_type);
	config_group_init_type_name(&cfg->ports_group, "ports",
				    &vserial_cfg_ports_type);
	configfs_add_default_group(&cfg->ports_group, &cfg->group);
	return cfg;
}

/* mkdir DEV: the template of a device that does not exist yet. */
static struct config_group *vserial_cfg_dev_make(struct config_group *group,
						 const char *name)
{
	struct vserial_cfg_dev *cfg;
	unsigned int max_ports;

	kernel_param_lock(THIS_MODULE);
	max_ports = vserial_cfg_max_ports_param;
	kernel_param_unlock(THIS_MODULE);

	mutex_lock(&vserial_cfg_mutex);
	if (vserial_cfg_find(name)) {
		cfg = ERR_PTR(-EEXIST);
	} else {
		cfg = vserial_cfg_dev_alloc(name, max_ports);
		if (cfg)
			list_add_tail(&cfg->node, &vserial_cfg_devs);
		else
			cfg = ERR_PTR(-ENOMEM);
	}
	mutex_unlock(&vserial_cfg_mutex);
	return IS_ERR(cfg) ? ERR_CAST(cfg) : &cfg->group;
}

/* rmdir DEV of a template (its ports are gone, configfs checked). */
static void vserial_cfg_dev_drop(struct config_group *group,
				 struct config_item *item)
{
	mutex_lock(&vserial_cfg_mutex);
	list_del(&vserial_cfg_dev_of(item)->node);
	mutex_unlock(&vserial_cfg_mutex);
	config_item_put(item);
}

static struct configfs_group_operations vserial_cfg_root_ops = {
	.make_group = vserial_cfg_dev_make,
	.drop_item = vserial_cfg_dev_drop,
};

static const struct config_item_type vserial_cfg_root_type = {
	.ct_group_ops = &vserial_cfg_root_ops,
	.ct_owner = THIS_MODULE,
};

static struct configfs_subsystem vserial_cfg_subsys = {
	.su_group = {
		.cg_item = {
			.ci_namebuf = "vdpa_vserial",
			.ci_type = &vserial_cfg_root_type,
		},
	},
	.su_mutex = __MUTEX_INITIALIZER(vserial_cfg_subsys.su_mutex),
};

/* Take the kernel-made directories of @cfg out of configfs. */
static void vserial_cfg_unregister(struct vserial_cfg_dev *cfg)
{
	struct vserial_cfg_port *cp, *tmp;

	list_for_each_entry_safe(cp, tmp, &cfg->ports, node) {
		if (!cp->kernel_made)
			continue;
		if (cp->registered)
			configfs_unregister_group(&cp->group);
		mutex_lock(&vserial_cfg_mutex);
		list_del(&cp->node);
		mutex_unlock(&vserial_cfg_mutex);
		config_group_put(&cp->group);
	}
	if (cfg->registered)
		configfs_unregister_group(&cfg->group);
	mutex_lock(&vserial_cfg_mutex);
	list_del(&cfg->node);
	mutex_unlock(&vserial_cfg_mutex);
	config_group_put(&cfg->group);
}

/* The last port made with mkdir left a device-less kernel-made DEV/. */
static void vserial_cfg_unregister_work(struct work_struct *work)
{
	vserial_cfg_unregister(container_of(work, struct vserial_cfg_dev,
					    unregister_work));
}

/* Free a configuration that was never listed nor registered. */
static void vserial_cfg_free(struct vserial_cfg_dev *cfg)
{
	struct vserial_cfg_port *cp, *tmp;

	list_for_each_entry_safe(cp, tmp, &cfg->ports, node) {
		list_del(&cp->node);
		config_group_put(&cp->group);
	}
	config_group_put(&cfg->group);
}

/*
 * The configuration of a device made from the module parameters: ports
 * from the "ports" list (@spec), ids following the list from 1, the
 * first console port taking id 0.  Without MULTIPORT the device has
 * exactly one port, console port 0.
 */
static struct vserial_cfg_dev *vserial_cfg_from_params(const char *name,
						       unsigned int max_ports,
						       const char *spec,
						       bool multiport)
{
	struct vserial_cfg_dev *cfg;
	struct vserial_cfg_port *cp;
	struct vsn_entry e;
	struct vsn_list l;
	const char *entry;
	char dir[32];
	char *buf;
	int ret = 0;

	cfg = vserial_cfg_dev_alloc(name, max_ports);
	buf = kstrdup(spec ?: "", GFP_KERNEL);
	if (!cfg || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	cfg->kernel_made = true;

	vsn_list_init(&l, buf, multiport);
	while ((ret = vsn_list_next(&l, &e)) > 0) {
		entry = e.name;
		if (e.id >= max_ports) {
			pr_err("vdpa_vserial: %s: port %u (\"%s\") exceeds max_ports %u\n",
			       name, e.id, entry, max_ports);
			ret = -ERANGE;
			goto out;
		}
		if (vserial_cfg_name_taken(cfg, entry, NULL)) {
			pr_err("vdpa_vserial: %s: duplicate port name \"%s\"\n",
			       name, entry);
			ret = -EEXIST;
			goto out;
		}
		snprintf(dir, sizeof(dir), "port%u", e.id);
		if (vserial_cfg_dir_taken(cfg, *entry ? entry : dir)) {
			pr_err("vdpa_vserial: %s: two ports would be directory \"%s\"\n",
			       name, *entry ? entry : dir);
			ret = -EEXIST;
			goto out;
		}
		cp = vserial_cfg_port_alloc(cfg, *entry ? entry : dir, entry);
		if (!cp) {
			ret = -ENOMEM;
			goto out;
		}
		cp->id = e.id;
		cp->console = e.console;
		cp->enabled = true;
		cp->kernel_made = true;
		list_add_tail(&cp->node, &cfg->ports);
	}
	if (ret < 0) {
		pr_err("vdpa_vserial: %s: bad port name \"%s\" in ports\n",
		       name, e.name);
		goto out;
	}

	if (!multiport && !l.have_console) {
		cp = vserial_cfg_port_alloc(cfg, "port0", "");
		if (!cp) {
			ret = -ENOMEM;
			goto out;
		}
		cp->id = 0;
		cp->console = true;
		cp->enabled = true;
		cp->kernel_made = true;
		list_add_tail(&cp->node, &cfg->ports);
	}
out:
	kfree(buf);
	if (ret && cfg)
		vserial_cfg_free(cfg);
	return ret ? ERR_PTR(ret) : cfg;
}

/**
 * vserial_cfg_claim() - the configuration of a new device
 * @name: the device's name ("vdpa dev add name @name")
 * @multiport: the device has MULTIPORT (for the module parameters' ports)
 *
 * Find the template of the device and pin it, or make the device's
 * configuration from the module parameters.  A kernel-made directory
 * left over from an earlier device of that name is taken as it is.
 *
 * Context: May sleep.  Returns with vserial_cfg_mutex held, or an error
 * without it.
 *
 * Return: the configuration, or an ERR_PTR(): -EINVAL if @name cannot
 * name a directory, -EEXIST if the device exists, -EBUSY if its template
 * is being removed, -ENOMEM, or an error in the module parameters.
 */
struct vserial_cfg_dev *vserial_cfg_claim(const char *name, bool multiport)
{
	struct vserial_cfg_dev *cfg;
	unsigned int max_ports;
	int tries = 0, ret;
	char *spec;

	/* The name is a configfs directory's too. */
	if (!*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, "..") || strlen(name) > NAME_MAX) {
		pr_err("vdpa_vserial: \"%s\" cannot name a device: no '/', '.' or '..'\n",
		       name);
		return ERR_PTR(-EINVAL);
	}

	for (;;) {
		mutex_lock(&vserial_cfg_mutex);
		cfg = vserial_cfg_find(name);
		if (!cfg)
			break;
		if (cfg->vs) {
			mutex_unlock(&vserial_cfg_mutex);
			return ERR_PTR(-EEXIST);
		}
		if (cfg->kernel_made && !cfg->dying)
			return cfg;	/* left over from an earlier device */
		if (!cfg->kernel_made && cfg->pinned)
			return cfg;

		/* A template to pin, or a directory on its way out. */
		config_group_get(&cfg->group);
		mutex_unlock(&vserial_cfg_mutex);
		if (cfg->dying) {
			flush_work(&cfg->unregister_work);
			ret = 0;
		} else {
			ret = configfs_depend_item(&vserial_cfg_subsys,
						   &cfg->group.cg_item);
		}
		mutex_lock(&vserial_cfg_mutex);
		if (!ret && !cfg->kernel_made)
			cfg->pinned = true;
		mutex_unlock(&vserial_cfg_mutex);
		config_group_put(&cfg->group);
		/* A template being removed: wait for rmdir to finish. */
		if (ret && ++tries > 50)
			return ERR_PTR(-EBUSY);
		if (ret)
			msleep(20);
	}

	/* No directory: the module parameters apply. */
	kernel_param_lock(THIS_MODULE);
	max_ports = vserial_cfg_max_ports_param;
	spec = kstrdup(vserial_cfg_ports_param ?: "", GFP_KERNEL);
	kernel_param_unlock(THIS_MODULE);
	if (!spec) {
		cfg = ERR_PTR(-ENOMEM);
	} else {
		cfg = vserial_cfg_from_params(name, max_ports, spec, multiport);
		kfree(spec);
	}
	if (IS_ERR(cfg)) {
		mutex_unlock(&vserial_cfg_mutex);
		return cfg;
	}
	list_add_tail(&cfg->node, &vserial_cfg_devs);
	return cfg;
}

/**
 * vserial_cfg_max_ports() - max_nr_ports of the device of @cfg
 * @cfg: a configuration from vserial_cfg_claim()
 *
 * Return: its max_ports.
 */
unsigned int vserial_cfg_max_ports(struct vserial_cfg_dev *cfg)
{
	return cfg->max_ports;
}

/**
 * vserial_cfg_bind() - give the new device @vs the enabled ports of @cfg
 * @cfg: a configuration from vserial_cfg_claim()
 * @vs: the new device
 *
 * The ports are installed, not yet published: the device is not
 * registered.  Ports with their own ids go first; a single-port device
 * leaves out those it cannot have.
 *
 * Context: Called with vserial_cfg_mutex held, from "vdpa dev add".
 *
 * Return: 0, or the negative errno of the port that failed.
 */
int vserial_cfg_bind(struct vserial_cfg_dev *cfg, struct vserial_dev *vs)
{
	struct vserial_cfg_port *cp;
	int ret;

	lockdep_assert_held(&vserial_cfg_mutex);
	vs->cp.resize_order = cfg->resize_order;
	/* Ports with their own ids first: automatic ones take what is left. */
	list_for_each_entry(cp, &cfg->ports, node) {
		if (!cp->enabled || cp->id < 0)
			continue;
		ret = vserial_cfg_port_create(cp, vs, false);
		if (ret == -EOPNOTSUPP)
			continue;	/* single-port device */
		if (ret)
			return ret;
	}
	list_for_each_entry(cp, &cfg->ports, node) {
		if (!cp->enabled || cp->id >= 0)
			continue;
		ret = vserial_cfg_port_create(cp, vs, false);
		if (ret == -EOPNOTSUPP)
			continue;
		if (ret)
			return ret;
	}
	cfg->vs = vs;
	vs->cfg = cfg;
	return 0;
}

/**
 * vserial_cfg_publish() - the host ends of the device's ports appear
 * @cfg: the configuration vserial_cfg_bind() gave the device
 *
 * The device is registered: /dev/vserialN appears for each of its ports.
 *
 * Context: Called with vserial_cfg_mutex held.
 *
 * Return: 0, or the negative errno of the first port that failed.
 */
int vserial_cfg_publish(struct vserial_cfg_dev *cfg)
{
	struct vserial_cfg_port *cp;
	int ret;

	lockdep_assert_held(&vserial_cfg_mutex);
	list_for_each_entry(cp, &cfg->ports, node) {
		if (!cp->port)
			continue;
		ret = vserial_cdev_add(cp->port);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * vserial_cfg_release() - a device lets go of its configuration
 * @cfg: the configuration
 *
 * "vdpa dev del", or a failed "vdpa dev add": unplug the ports of @cfg
 * (silently: the device goes) and let go of the configuration.  A
 * template is unpinned; a kernel-made directory goes, unless ports made
 * with mkdir keep it.
 *
 * Context: Called with vserial_cfg_mutex held; returns without it.  May
 * sleep.
 */
void vserial_cfg_release(struct vserial_cfg_dev *cfg)
{
	struct vserial_cfg_port *cp;
	bool unregister, unpin;

	lockdep_assert_held(&vserial_cfg_mutex);
	list_for_each_entry(cp, &cfg->ports, node)
		vserial_cfg_port_destroy(cp, false);
	if (cfg->vs)
		cfg->vs->cfg = NULL;
	cfg->vs = NULL;

	unpin = cfg->pinned;
	cfg->pinned = false;
	/* Ports made with mkdir keep a kernel-made directory alive. */
	unregister = cfg->kernel_made && !cfg->user_ports;
	if (unregister)
		cfg->dying = true;
	mutex_unlock(&vserial_cfg_mutex);

	if (unpin)
		configfs_undepend_item(&cfg->group.cg_item);
	if (unregister)
		vserial_cfg_unregister(cfg);
}

/**
 * vserial_cfg_register() - a kernel-made directory appears in configfs
 * @cfg: the configuration of a device just added
 *
 * After "vdpa dev add": DEV/ and its kernel-made ports appear.  Failing
 * that, the device works without them.
 *
 * Context: Called without vserial_cfg_mutex.  May sleep.
 */
void vserial_cfg_register(struct vserial_cfg_dev *cfg)
{
	struct vserial_cfg_port *cp;
	int ret;

	if (!cfg->kernel_made || cfg->registered)
		return;
	ret = configfs_register_group(&vserial_cfg_subsys.su_group,
				      &cfg->group);
	if (ret) {
		pr_warn("vdpa_vserial: %s: no configfs directory: %d\n",
			config_item_name(&cfg->group.cg_item), ret);
		return;
	}
	cfg->registered = true;

	/*
	 * ports/ takes mkdir and rmdir from now on: walk the list under the
	 * mutex, dropping it only to register.  Kernel-made ports stay: only
	 * vserial_cfg_unregister() removes them, and the vdpa core does not
	 * run it meanwhile.
	 */
	mutex_lock(&vserial_cfg_mutex);
	list_for_each_entry(cp, &cfg->ports, node) {
		if (!cp->kernel_made)
			continue;
		mutex_unlock(&vserial_cfg_mutex);
		ret = configfs_register_group(&cfg->ports_group, &cp->group);
		mutex_lock(&vserial_cfg_mutex);
		if (ret)
			pr_warn("vdpa_vserial: %s: no configfs directory for port %s: %d\n",
				config_item_name(&cfg->group.cg_item),
				config_item_name(&cp->group.cg_item), ret);
		else
			cp->registered = true;
	}
	mutex_unlock(&vserial_cfg_mutex);
}

/**
 * vserial_cfg_init() - register the configfs subsystem, at module load
 *
 * /sys/kernel/config/vdpa_vserial/ appears.
 *
 * Return: 0, or configfs_register_subsystem()'s negative errno.
 */
int vserial_cfg_init(void)
{
	config_group_init(&vserial_cfg_subsys.su_group);
	return configfs_register_subsystem(&vserial_cfg_subsys);
}

/**
 * vserial_cfg_exit() - unregister the configfs subsystem, at module unload
 *
 * The directories being unregistered on vserial_dev_wq go first.
 */
void vserial_cfg_exit(void)
{
	/* Directories left over are being unregistered: let them go. */
	flush_workqueue(vserial_dev_wq);
	configfs_unregister_subsystem(&vserial_cfg_subsys);
}
