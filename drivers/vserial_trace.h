/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vdpa_vserial tracepoints: control messages, port state changes and
 * the vDPA operations of the driver.
 *
 *   echo 1 > /sys/kernel/tracing/events/vdpa_vserial/enable
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vdpa_vserial

#if !defined(_VSERIAL_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VSERIAL_TRACE_H

#include <linux/tracepoint.h>

#define vserial_show_event(e)						\
	__print_symbolic(e,						\
		{ VIRTIO_CONSOLE_DEVICE_READY,	"DEVICE_READY" },	\
		{ VIRTIO_CONSOLE_PORT_ADD,	"PORT_ADD" },		\
		{ VIRTIO_CONSOLE_PORT_REMOVE,	"PORT_REMOVE" },	\
		{ VIRTIO_CONSOLE_PORT_READY,	"PORT_READY" },		\
		{ VIRTIO_CONSOLE_CONSOLE_PORT,	"CONSOLE_PORT" },	\
		{ VIRTIO_CONSOLE_RESIZE,	"RESIZE" },		\
		{ VIRTIO_CONSOLE_PORT_OPEN,	"PORT_OPEN" },		\
		{ VIRTIO_CONSOLE_PORT_NAME,	"PORT_NAME" })

DECLARE_EVENT_CLASS(vserial_ctrl,
		    TP_PROTO(struct vserial_dev *vs, u32 id, u16 event,
			     u16 value),
		    TP_ARGS(vs, id, event, value),
		    TP_STRUCT__entry(__string(dev, dev_name(&vs->vdpa.dev))
				     __field(u32, id)
				     __field(u16, event)
				     __field(u16, value)),
		    TP_fast_assign(__assign_str(dev);
				   __entry->id = id;
				   __entry->event = event;
				   __entry->value = value;),
		    TP_printk("%s port %u %s value %u", __get_str(dev),
			      __entry->id, vserial_show_event(__entry->event),
			      __entry->value)
);

/* A control message the device sent to the driver. */
DEFINE_EVENT(vserial_ctrl, vserial_ctrl_send,
	     TP_PROTO(struct vserial_dev *vs, u32 id, u16 event, u16 value),
	     TP_ARGS(vs, id, event, value)
);

/* A control message the device received from the driver. */
DEFINE_EVENT(vserial_ctrl, vserial_ctrl_recv,
	     TP_PROTO(struct vserial_dev *vs, u32 id, u16 event, u16 value),
	     TP_ARGS(vs, id, event, value)
);

/* Port state changes, see enum vserial_port_event. */
#define vserial_show_port_event(e)					\
	__print_symbolic(e,						\
		{ VSERIAL_EV_PLUG,		"plug" },		\
		{ VSERIAL_EV_UNPLUG,		"unplug" },		\
		{ VSERIAL_EV_READY,		"guest_ready" },	\
		{ VSERIAL_EV_GUEST_OPEN,	"guest_open" },		\
		{ VSERIAL_EV_GUEST_CLOSE,	"guest_close" },	\
		{ VSERIAL_EV_HOST_OPEN,		"host_open" },		\
		{ VSERIAL_EV_HOST_CLOSE,	"host_close" },		\
		{ VSERIAL_EV_RESIZE,		"resize" })

TRACE_EVENT(vserial_port,
	    TP_PROTO(struct vserial_port *port, int event),
	    TP_ARGS(port, event),
	    TP_STRUCT__entry(__string(dev, dev_name(&port->vs->vdpa.dev))
			     __string(name, port->name)
			     __field(u32, id)
			     __field(int, event)),
	    TP_fast_assign(__assign_str(dev);
			   __assign_str(name);
			   __entry->id = port->id;
			   __entry->event = event;),
	    TP_printk("%s port %u \"%s\" %s", __get_str(dev), __entry->id,
		      __get_str(name),
		      vserial_show_port_event(__entry->event))
);

/* vDPA operations of the driver (a VMM, through vhost_vdpa). */
#define vserial_show_op(o)						\
	__print_symbolic(o,						\
		{ VSERIAL_OP_SET_STATUS,	"set_status" },		\
		{ VSERIAL_OP_RESET,		"reset" },		\
		{ VSERIAL_OP_SUSPEND,		"suspend" },		\
		{ VSERIAL_OP_RESUME,		"resume" },		\
		{ VSERIAL_OP_SET_FEATURES,	"set_driver_features" }, \
		{ VSERIAL_OP_SET_VQ_NUM,	"set_vq_num" },		\
		{ VSERIAL_OP_SET_VQ_ADDRESS,	"set_vq_address" },	\
		{ VSERIAL_OP_SET_VQ_READY,	"set_vq_ready" },	\
		{ VSERIAL_OP_SET_VQ_STATE,	"set_vq_state" },	\
		{ VSERIAL_OP_GET_VQ_STATE,	"get_vq_state" },	\
		{ VSERIAL_OP_SET_MAP,		"set_map" },		\
		{ VSERIAL_OP_RESET_MAP,		"reset_map" },		\
		{ VSERIAL_OP_SESSION_END,	"session_end" },	\
		{ VSERIAL_OP_VQ_CONTINUES,	"vq_continues" },	\
		{ VSERIAL_OP_VQ_BROKEN,		"vq_broken" })

TRACE_EVENT(vserial_op,
	    TP_PROTO(struct vserial_dev *vs, int op, int idx, u64 value),
	    TP_ARGS(vs, op, idx, value),
	    TP_STRUCT__entry(__string(dev, dev_name(&vs->vdpa.dev))
			     __field(int, op)
			     __field(int, idx)
			     __field(u64, value)),
	    TP_fast_assign(__assign_str(dev);
			   __entry->op = op;
			   __entry->idx = idx;
			   __entry->value = value;),
	    TP_printk("%s %s vq %d value %#llx", __get_str(dev),
		      vserial_show_op(__entry->op), __entry->idx,
		      __entry->value)
);

#endif /* _VSERIAL_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE vserial_trace
#include <trace/define_trace.h>
