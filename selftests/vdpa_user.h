/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdpa_user - a small user-space vhost-vdpa driver for the selftests
 *
 * Drives a vdpa_vserial device through /dev/vhost-vdpa-N exactly as a
 * virtual machine monitor does (owner, features, status, config, IOTLB
 * messages, vrings, eventfds, suspend/resume), and plays the guest's
 * virtio-console driver on top: split rings in its own memory, whose
 * addresses are IOVAs it maps itself, receive buffers, control messages,
 * kicks and interrupts.
 *
 * Memory: each device has one arena, an anonymous mapping with a guard
 * page on either side.  The arena is mapped read-write into the device's
 * IOVA space at VU_ARENA_IOVA; the guard pages are never mapped.  Rings
 * and buffers are carved out of the arena; everything not handed out, and
 * the guard pages, is filled with VU_CANARY so that stray device writes
 * show (vu_canaries_ok()).
 *
 * Functions return 0 or a positive count on success and a negative errno
 * on failure; vu_error() describes the last failure.
 */
#ifndef VDPA_USER_H
#define VDPA_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ring.h>

#define VU_PAGE_SIZE		4096UL
#define VU_CANARY		0xcc
/* IOVA of the arena: far from 0 and from anything a test maps itself. */
#define VU_ARENA_IOVA		0x40000000ULL
#define VU_ARENA_SIZE		(8UL << 20)
/* Most segments of a chain built by vu_vq_add(). */
#define VU_MAX_SEGS		16
/* Virtqueue size limit of the device. */
#define VU_VQ_NUM_MAX		1024

#define VU_CFG_COLS		0
#define VU_CFG_ROWS		2
#define VU_CFG_MAX_NR_PORTS	4
#define VU_CFG_EMERG_WR		8
#define VU_CFG_SIZE		12

/* Queues of the virtio console device. */
#define VU_CTRL_RXQ		2
#define VU_CTRL_TXQ		3

static inline unsigned int vu_port_rxq(unsigned int id)
{
	return id ? 2 * id + 2 : 0;
}

static inline unsigned int vu_port_txq(unsigned int id)
{
	return vu_port_rxq(id) + 1;
}

#define VU_F(bit)		(1ULL << (bit))
/* What a VMM (QEMU's vhost-vdpa-device) negotiates with this device. */
#define VU_FEATURES_BASE	(VU_F(VIRTIO_F_VERSION_1) |		\
				 VU_F(VIRTIO_F_ACCESS_PLATFORM))
#define VU_FEATURES_ALL		(VU_FEATURES_BASE |			\
				 VU_F(VIRTIO_CONSOLE_F_SIZE) |		\
				 VU_F(VIRTIO_CONSOLE_F_MULTIPORT) |	\
				 VU_F(VIRTIO_CONSOLE_F_EMERG_WRITE) |	\
				 VU_F(VIRTIO_RING_F_INDIRECT_DESC) |	\
				 VU_F(VIRTIO_RING_F_EVENT_IDX))

/* The module's defaults (see Documentation/admin-guide.rst). */
#define VU_DEFAULT_MAX_PORTS	31
#define VU_DEFAULT_PORTS	"console:,org.qemu.guest_agent.0"

/* ---- System helpers: modules, vDPA devices, host ends ---- */

const char *vu_error(void);
/* Run a shell command (output discarded unless @verbose); exit status. */
int vu_system(bool verbose, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int vu_write_file(const char *path, const char *val);
int vu_read_file(const char *path, char *buf, size_t size);
/* modprobe vdpa_vserial and vhost_vdpa; 0 or -errno. */
int vu_load_modules(void);
/* Set the module parameters read by the next "vdpa dev add". */
int vu_set_params(unsigned int max_ports, const char *ports);
/*
 * "vdpa dev add name NAME mgmtdev vserial [device_features FEATURES]"
 * (FEATURES 0: the default), bound to @driver ("vhost_vdpa" or
 * "virtio_vdpa") whatever bus drivers are loaded.
 */
int vu_dev_add(const char *name, uint64_t features, const char *driver);
/* "vdpa dev del NAME"; 0 if it is gone (or was not there). */
int vu_dev_del(const char *name);
/* /dev/vhost-vdpa-N of vDPA device @name. */
int vu_vhost_path(const char *name, char *path, size_t size);
/* /dev/vserialN of port @id of vDPA device @name. */
int vu_port_path(const char *name, unsigned int id, char *path, size_t size);
/* Read /sys/class/vserial/<node of path>/<attr> as an integer. */
long vu_port_attr(const char *path, const char *attr);
/* Wait up to @timeout_ms for @fd to become readable/writable. */
int vu_poll(int fd, short events, int timeout_ms);
uint64_t vu_now_ms(void);

/* ---- Checksums and random data ---- */

uint32_t vu_crc32(uint32_t crc, const void *buf, size_t len);
/* xorshift64*: deterministic given the seed. */
uint64_t vu_rand(uint64_t *state);
void vu_fill_random(uint64_t *state, void *buf, size_t len);

/* ---- The vhost-vdpa device ---- */

struct vu_dev;

/* A buffer posted with vu_vq_add(). */
struct vu_seg {
	const void *data;	/* out segments: bytes to send (NULL: zeroes) */
	uint32_t len;
	bool write;		/* device-writable (in) segment */
};

struct vu_buf {
	bool posted;
	bool indirect;
	unsigned int nsegs;
	uint16_t descs[VU_MAX_SEGS];	/* direct: the descriptors used */
	uint64_t iova[VU_MAX_SEGS];
	uint8_t *va[VU_MAX_SEGS];
	uint32_t len[VU_MAX_SEGS];
	bool write[VU_MAX_SEGS];
	uint32_t in_len;		/* device-writable bytes */
	uint64_t cookie;
};

struct vu_vq {
	struct vu_dev *dev;
	unsigned int idx;
	unsigned int num;		/* configured size */
	unsigned int slot_size;		/* data bytes per descriptor */
	unsigned int slot_stride;	/* bytes between slots (>= size) */
	bool allocated;			/* rings and slots in the arena */
	bool enabled;
	/* Rings, in the arena (va) and as the device sees them (iova). */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_iova, avail_iova, used_iova;
	/* Data slot of descriptor i: slots + i * slot_stride. */
	uint8_t *slots;
	uint64_t slots_iova;
	/* Indirect table of head h: itabs + h * VU_MAX_SEGS entries. */
	struct vring_desc *itabs;
	uint64_t itabs_iova;
	unsigned int alloc_num;		/* size the memory was carved for */
	int kick_fd, call_fd;
	/* Driver state. */
	uint16_t avail_idx;		/* published avail->idx */
	uint16_t last_used;		/* next used entry to consume */
	uint16_t kicked_idx;		/* avail_idx at the last kick */
	uint16_t *free;			/* stack of free descriptors */
	unsigned int nfree;
	struct vu_buf *bufs;		/* by head */
	uint64_t calls;			/* interrupts seen */
	uint64_t kicks;
	bool event_kick;		/* kick only when avail_event asks */
	/* A VMM's stop and cont (vu_vmm_stop()). */
	bool stopped;
	uint16_t saved_base;
};

struct vu_dev {
	char name[64];
	char path[64];
	int fd;
	uint32_t device_id;
	uint64_t dev_features;		/* offered */
	uint64_t features;		/* negotiated */
	uint64_t backend_offered;
	uint64_t backend_features;
	uint32_t nvqs;
	uint16_t vq_num_max;
	struct vu_vq *vqs;		/* nvqs entries, set up on demand */
	int config_fd;
	uint64_t config_irqs;
	uint64_t stopped_features;	/* what vu_vmm_cont() negotiates */
	/* Arena. */
	uint8_t *map;			/* guard + arena + guard */
	size_t map_size;
	uint8_t *arena;
	size_t arena_size;
	uint64_t arena_iova;
	size_t arena_used;		/* bump allocator */
	bool arena_mapped;
	/* Errors seen by the driver side: bad used entries, canaries. */
	unsigned int proto_errors;
	unsigned int used_oob;		/* used ids >= ring size */
	char last_proto_error[256];
};

struct vu_opts {
	size_t arena_size;		/* 0: VU_ARENA_SIZE */
	/* Backend features to ask for on top of MSG_V2 and BATCH. */
	bool iotlb_persist;
	bool no_batch;			/* map the arena without BATCH_BEGIN/END */
};

/* Open /dev/vhost-vdpa-N of @name, become its owner, map the arena. */
int vu_open(const char *name, const struct vu_opts *opts,
	    struct vu_dev **devp);
void vu_close(struct vu_dev *dev);

/* Carve @size bytes (page aligned) out of the arena. */
void *vu_alloc(struct vu_dev *dev, size_t size, uint64_t *iova);
uint64_t vu_iova(struct vu_dev *dev, const void *va);
void *vu_va(struct vu_dev *dev, uint64_t iova);
/* Guard pages and the unallocated arena still hold VU_CANARY? */
bool vu_canaries_ok(struct vu_dev *dev);
bool vu_mem_is(const void *p, int c, size_t len);

/* IOTLB messages (struct vhost_msg_v2 written to the device). */
int vu_iotlb_update(struct vu_dev *dev, uint64_t iova, uint64_t size,
		    const void *uaddr, uint8_t perm);
int vu_iotlb_invalidate(struct vu_dev *dev, uint64_t iova, uint64_t size);
int vu_iotlb_batch(struct vu_dev *dev, bool begin);
int vu_iotlb_msg(struct vu_dev *dev, const struct vhost_iotlb_msg *msg);
/* Map the whole arena again (after a reset without IOTLB_PERSIST). */
int vu_remap_arena(struct vu_dev *dev);

int vu_get_status(struct vu_dev *dev, uint8_t *status);
int vu_set_status(struct vu_dev *dev, uint8_t status);
int vu_get_config(struct vu_dev *dev, unsigned int off, void *buf,
		  unsigned int len);
int vu_set_config(struct vu_dev *dev, unsigned int off, const void *buf,
		  unsigned int len);
int vu_suspend(struct vu_dev *dev);
int vu_resume(struct vu_dev *dev);
int vu_get_vring_base(struct vu_dev *dev, unsigned int idx, uint16_t *base);
int vu_set_vring_base(struct vu_dev *dev, unsigned int idx, uint16_t base);
/* Config interrupts since the last call. */
uint64_t vu_config_irqs(struct vu_dev *dev);

/*
 * Device initialisation as a VMM does it: reset, ACKNOWLEDGE | DRIVER,
 * features, FEATURES_OK (checked), the queues listed in @qids (each
 * @num entries with @slot_size bytes of buffer per descriptor), then
 * DRIVER_OK.  The arena mapping is kept (re-sent if the reset dropped
 * it).
 */
struct vu_qcfg {
	unsigned int idx;
	unsigned int num;
	unsigned int slot_size;
	uint16_t base;			/* initial avail/used index */
};

int vu_init(struct vu_dev *dev, uint64_t features,
	    const struct vu_qcfg *qs, unsigned int nqs);

/*
 * What QEMU's vhost-vdpa-device-pci does when its VM stops (QMP stop,
 * virsh suspend, a snapshot) and continues, while the guest runs on
 * unaware.  Stop: SUSPEND (if @suspend and offered), the ring bases
 * (GET_VRING_BASE; without SUSPEND, the used index in guest memory, as
 * QEMU does), reset, ACKNOWLEDGE | DRIVER, the memory unmapped.  Cont:
 * features, each ring with its saved base (NUM, BASE, ADDR, KICK,
 * ENABLE), the memory mapped again, DRIVER_OK, then the interrupt
 * eventfds.  The driver side's rings and buffers are not touched.
 */
int vu_vmm_stop(struct vu_dev *dev, bool suspend);
int vu_vmm_cont(struct vu_dev *dev);
/* vu_vmm_cont() in two steps: up to DRIVER_OK, then the eventfds. */
int vu_vmm_cont_rings(struct vu_dev *dev);
int vu_vmm_cont_calls(struct vu_dev *dev);
/* Steps of vu_init(), for tests that deviate from it. */
int vu_reset(struct vu_dev *dev);
int vu_negotiate(struct vu_dev *dev, uint64_t features);
int vu_vq_setup(struct vu_dev *dev, unsigned int idx, unsigned int num,
		unsigned int slot_size, uint16_t base);
int vu_vq_enable(struct vu_vq *vq, bool enable);
int vu_driver_ok(struct vu_dev *dev);
bool vu_needs_reset(struct vu_dev *dev);

/* ---- Virtqueues (the driver side of split rings) ---- */

/* Post a chain; returns the head or -errno (-ENOSPC: ring full). */
int vu_vq_add(struct vu_vq *vq, const struct vu_seg *segs,
	      unsigned int nsegs, bool indirect, uint64_t cookie);
/* Add one single-segment buffer. */
int vu_vq_add1(struct vu_vq *vq, const void *data, uint32_t len, bool write);
/* Put @head on the avail ring (no checks: tests use it for raw chains). */
void vu_vq_publish(struct vu_vq *vq, uint16_t head);
/* Notify the device (honours avail_event if vq->event_kick). */
int vu_vq_kick(struct vu_vq *vq);
/* Take one used entry; returns 1, or 0 if none. */
int vu_vq_get_used(struct vu_vq *vq, uint16_t *head, uint32_t *len);
/* Wait until a used entry is pending; 1, or 0 on timeout. */
int vu_vq_wait_used(struct vu_vq *vq, int timeout_ms);
/* Copy the device-written bytes of used buffer @head (at most @len). */
size_t vu_vq_copy_in(struct vu_vq *vq, uint16_t head, uint32_t len,
		     void *out, size_t size);
/* Used entries pending (used->idx - last_used). */
uint16_t vu_vq_pending(struct vu_vq *vq);
/* used->idx, and avail_event (where the device asks for a kick). */
uint16_t vu_vq_used_idx(struct vu_vq *vq);
uint16_t vu_vq_avail_event(struct vu_vq *vq);
/* Interrupts (call eventfd) since the start. */
uint64_t vu_vq_calls(struct vu_vq *vq);
/* Raw descriptor access for hostile tests. */
void vu_desc_set(struct vring_desc *d, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next);

/* ---- The virtio-console driver on top ---- */

struct vu_ctrl_msg {
	uint32_t id;
	uint16_t event;
	uint16_t value;
	uint32_t len;			/* bytes the device wrote */
	char name[512];			/* PORT_NAME payload, NUL-terminated */
};

#define VU_CTRL_BUF		512

/* Fill the control receive queue with 512-byte buffers and kick. */
int vu_ctrl_fill(struct vu_dev *dev);
/* Send a control message; waits for the device to take it. */
int vu_ctrl_send(struct vu_dev *dev, uint32_t id, uint16_t event,
		 uint16_t value);
int vu_ctrl_send_raw(struct vu_dev *dev, const void *buf, uint32_t len);
/*
 * Receive the next control message (the buffer is posted again).
 * Returns 1, 0 on timeout, or -errno.
 */
int vu_ctrl_recv(struct vu_dev *dev, struct vu_ctrl_msg *msg,
		 int timeout_ms);
const char *vu_event_name(uint16_t event);

/*
 * A console device brought up as the Linux driver does it:
 * vu_console_init() runs vu_init() with the control queues and the data
 * queues of ports 0..@nports-1 (@num entries each); then
 * vu_console_handshake() fills the control receive queue, sends
 * DEVICE_READY, collects @nadd PORT_ADDs, answers each with PORT_READY
 * and collects what follows until the device is quiet.
 */
struct vu_port_state {
	bool added;
	bool ready;
	bool console;
	bool host_open;			/* last PORT_OPEN value */
	bool guest_open;		/* opened by vu_console_open_port() */
	unsigned int adds, consoles, names, opens, removes, resizes;
	uint16_t size[2];		/* last RESIZE payload, as sent */
	char name[512];
};

struct vu_console {
	struct vu_dev *dev;
	uint64_t features;
	unsigned int nqports, num, slot;	/* queues set up */
	unsigned int nports;
	struct vu_port_state *ports;
	unsigned int unexpected;	/* messages that break the protocol */
	/*
	 * The driver asked again (PORT_READY sent at random): answers may
	 * repeat and interleave; only their format is checked.
	 */
	bool lenient;
	char why[256];
};

int vu_console_init(struct vu_console *con, struct vu_dev *dev,
		    uint64_t features, unsigned int nports, unsigned int num,
		    unsigned int slot_size);
/* Account one message to the port states; false if it breaks protocol. */
bool vu_console_account(struct vu_console *con, const struct vu_ctrl_msg *m);
/* Receive and account messages until none comes for @quiet_ms. */
int vu_console_drain(struct vu_console *con, int quiet_ms);
void vu_console_free(struct vu_console *con);
/* DEVICE_READY, all PORT_ADDs (expect @nadd), PORT_READY for each. */
int vu_console_handshake(struct vu_console *con, unsigned int nadd);
/* Open port @id on the driver side (PORT_OPEN 1) and set up its rx. */
int vu_console_open_port(struct vu_console *con, unsigned int id);

/*
 * What Linux's virtio_console does when its guest suspends and resumes
 * (virtcons_freeze(), virtcons_restore()): freeze resets the device and
 * drops every buffer; restore sets up new rings (base 0, new memory),
 * fills the receive queues, then sends PORT_READY for every port it knows
 * and PORT_OPEN 1 for those it has open -- no DEVICE_READY.  The
 * device's answers are left for the caller (vu_console_drain()).
 */
int vu_console_freeze(struct vu_console *con);
int vu_console_restore(struct vu_console *con);

/* Post receive buffers on port @id's rx queue until it is full. */
int vu_port_fill_rx(struct vu_dev *dev, unsigned int id, uint32_t len);
/* Send @len bytes as a chain of @segs segments on port @id. */
int vu_port_send(struct vu_dev *dev, unsigned int id, const void *buf,
		 size_t len, unsigned int segs, bool indirect);

/*
 * Move @len bytes through port @id and compare them: guest to host
 * (tx chains, read from the host end @hostfd) or host to guest (written
 * to @hostfd, received in rx chains).  @hostfd must be O_NONBLOCK; the
 * two sides are interleaved in this thread.  Chains have random sizes
 * and segment counts (indirect ones too if negotiated and asked for).
 * Returns 0, or -errno with vu_error() set.
 */
struct vu_xfer {
	unsigned int max_chunk;		/* bytes per chain; 0: slot size */
	unsigned int max_segs;		/* 0: 1 */
	unsigned int max_io;		/* bytes per host read/write; 0: 64K */
	bool indirect;
	uint64_t seed;
	int timeout_ms;			/* without progress; 0: 5000 */
	/* Results. */
	uint32_t crc_sent, crc_got;
	size_t done;
	unsigned int chains;
};

int vu_xfer_g2h(struct vu_dev *dev, unsigned int id, int hostfd,
		const void *data, size_t len, struct vu_xfer *x);
int vu_xfer_h2g(struct vu_dev *dev, unsigned int id, int hostfd,
		const void *data, size_t len, struct vu_xfer *x);

#endif /* VDPA_USER_H */
