// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdpa_vserial: the host side of a virtio-console device as a vDPA device.
 *
 * Module entry points and the "vserial" vDPA management device:
 * "vdpa dev add name NAME mgmtdev vserial" creates a console device,
 * "vdpa dev del NAME" removes it.  (The module parameters are with
 * configfs, their only reader.)
 */

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <uapi/linux/vdpa.h>
#include <uapi/linux/virtio_config.h>
#include <uapi/linux/virtio_ids.h>

#include "vserial_cdev.h"
#include "vserial_cfg.h"
#include "vserial_dev.h"

static struct device *vserial_mgmt_root;
static struct vdpa_mgmt_dev vserial_mgmt_dev;

/* Features a device cannot work without. */
#define VSERIAL_FEATURES_REQUIRED	(BIT_ULL(VIRTIO_F_VERSION_1) | \
					 BIT_ULL(VIRTIO_F_ACCESS_PLATFORM))

/*
 * The ports are gone (vserial_cfg_release()): take the device away from
 * its driver and stop it for good.  @registered: on the vDPA bus.
 */
static void vserial_mgmt_teardown(struct vserial_dev *vs, bool registered)
{
	get_device(&vs->vdpa.dev);
	if (registered)
		vserial_dev_unregister(vs);
	/* No driver left: stop the queues and the worker. */
	vs->vdpa.config->reset(&vs->vdpa);
	cancel_delayed_work_sync(&vs->resync_work);
	cancel_work_sync(&vs->work);
	cancel_delayed_work_sync(&vs->notify_work);
	put_device(&vs->vdpa.dev);
	if (!registered)
		put_device(&vs->vdpa.dev);
}

static int vserial_mgmt_dev_add(struct vdpa_mgmt_dev *mdev, const char *name,
				const struct vdpa_dev_set_config *config)
{
	u64 features = VSERIAL_FEATURES;
	struct vserial_cfg_dev *cfg;
	struct vserial_dev *vs;
	bool registered = false;
	int ret;

	if (config->mask & BIT_ULL(VDPA_ATTR_DEV_FEATURES)) {
		features = config->device_features;
		if (features & ~VSERIAL_FEATURES) {
			pr_err("vdpa_vserial: device_features 0x%llx has unsupported bits 0x%llx\n",
			       features, features & ~VSERIAL_FEATURES);
			return -EINVAL;
		}
		if ((features & VSERIAL_FEATURES_REQUIRED) !=
		    VSERIAL_FEATURES_REQUIRED) {
			pr_err("vdpa_vserial: device_features must include VERSION_1 and ACCESS_PLATFORM\n");
			return -EINVAL;
		}
	}

	/* The template in configfs, or the module parameters. */
	cfg = vserial_cfg_claim(name, features &
				BIT_ULL(VIRTIO_CONSOLE_F_MULTIPORT));
	if (IS_ERR(cfg))
		return PTR_ERR(cfg);

	vs = vserial_dev_create(vserial_mgmt_root, name, features,
				vserial_cfg_max_ports(cfg),
				&vserial_cdev_hooks);
	if (IS_ERR(vs)) {
		vserial_cfg_release(cfg);
		return PTR_ERR(vs);
	}
	vs->vdpa.mdev = &vserial_mgmt_dev;

	ret = vserial_cfg_bind(cfg, vs);
	if (ret)
		goto err;
	ret = vserial_dev_register(vs);
	if (ret)
		goto err;
	registered = true;
	ret = vserial_cfg_publish(cfg);
	if (ret)
		goto err;
	mutex_unlock(&vserial_cfg_mutex);

	vserial_cfg_register(cfg);
	return 0;
err:
	vserial_cfg_release(cfg);
	vserial_mgmt_teardown(vs, registered);
	return ret;
}

static void vserial_mgmt_dev_del(struct vdpa_mgmt_dev *mdev,
				 struct vdpa_device *vdpa)
{
	struct vserial_dev *vs = vserial_dev_of_vdpa(vdpa);

	mutex_lock(&vserial_cfg_mutex);
	if (vs->cfg)
		vserial_cfg_release(vs->cfg);
	else
		mutex_unlock(&vserial_cfg_mutex);
	vserial_mgmt_teardown(vs, true);
}

static const struct vdpa_mgmtdev_ops vserial_mgmt_ops = {
	.dev_add = vserial_mgmt_dev_add,
	.dev_del = vserial_mgmt_dev_del,
};

static struct virtio_device_id vserial_mgmt_id_table[] = {
	{ VIRTIO_ID_CONSOLE, VIRTIO_DEV_ANY_ID },
	{ 0 },
};

static struct vdpa_mgmt_dev vserial_mgmt_dev = {
	.id_table = vserial_mgmt_id_table,
	.ops = &vserial_mgmt_ops,
	.config_attr_mask = BIT_ULL(VDPA_ATTR_DEV_FEATURES),
	.supported_features = VSERIAL_FEATURES,
	.max_supported_vqs = 2 * (VSERIAL_MAX_PORTS + 1),
};

static int __init vserial_init(void)
{
	int ret;

	vserial_dev_wq = alloc_workqueue("vdpa_vserial", WQ_UNBOUND, 0);
	if (!vserial_dev_wq)
		return -ENOMEM;

	ret = vserial_cdev_init();
	if (ret)
		goto err_wq;

	ret = vserial_cfg_init();
	if (ret)
		goto err_cdev;

	vserial_mgmt_root = root_device_register(VSERIAL_MGMTDEV_NAME);
	if (IS_ERR(vserial_mgmt_root)) {
		ret = PTR_ERR(vserial_mgmt_root);
		goto err_configfs;
	}

	vserial_mgmt_dev.device = vserial_mgmt_root;
	ret = vdpa_mgmtdev_register(&vserial_mgmt_dev);
	if (ret)
		goto err_root;
	return 0;

err_root:
	root_device_unregister(vserial_mgmt_root);
err_configfs:
	vserial_cfg_exit();
err_cdev:
	vserial_cdev_exit();
err_wq:
	destroy_workqueue(vserial_dev_wq);
	return ret;
}

static void __exit vserial_exit(void)
{
	/* Deletes every device of the management device. */
	vdpa_mgmtdev_unregister(&vserial_mgmt_dev);
	root_device_unregister(vserial_mgmt_root);
	vserial_cfg_exit();
	vserial_cdev_exit();
	destroy_workqueue(vserial_dev_wq);
}

module_init(vserial_init);
module_exit(vserial_exit);

MODULE_DESCRIPTION("virtio-console (virtio-serial) device implemented as a vDPA device");
MODULE_LICENSE("GPL");
