/*
 * emud.c - loom-emud's core (contract and time model in emud.h): the
 * device links, the firmware's HAL on the RTL models, and the clock loop.
 *
 * The HAL (firmware/fw_hal.h) per rank:
 *   mmio (space DIE)  -> the rank's logic die registers (rtl_mfld_mmio_*);
 *   dma_submit/reap   -> transfers between host memory (over the link,
 *       chunks of at most the link's max payload), firmware memory and
 *       the die's DRAM (through its DRAM test port, 32-byte bursts, while
 *       the die serves no descriptor);
 *   ni_send/ni_recv   -> the rank's network interface on the mesh (one
 *       message = the firmware's header and payload, concatenated);
 *   cycles            -> the device clock; irq -> an interrupt message;
 *   local_addr        -> firmware memory as the die's DMA sees it: the die
 *       is the firmware's device, so its descriptor and completion rings
 *       live in the firmware's struct fw, at EMUD_LOCAL_BASE + offset.
 * Host BAR0 accesses go to fw_bar_read / fw_bar_write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loom/devif.h"
#include "loom/err.h"
#include "loom/rtl_mesh.h"
#include "loom/rtl_mfld.h"
#include "loom/simlink.h"
#include "../firmware/fw.h"
#include "emud.h"

#define EMUD_LOCAL_BASE 0x10000000ull /* the die's view of firmware memory */
#define EMUD_XFERS 32		       /* HAL transfers in flight per rank */
#define EMUD_READS 64		       /* host reads in flight per rank */
#define EMUD_PORT_OPS 64	       /* DRAM test-port bursts per call */

enum xfer_state { XF_FREE = 0, XF_HOST_IN, XF_DRAM_WRITE, XF_DRAM_READ, XF_HOST_OUT, XF_DONE };

struct xfer {
	uint8_t state;	  /* enum xfer_state */
	uint32_t kind, cookie, len, dram;
	uint64_t host;
	uint8_t *local;	  /* HOST_TO_LOCAL: destination */
	uint8_t *buf;	  /* staging (all kinds but HOST_TO_LOCAL) */
	uint32_t issued;  /* bytes of host reads issued / host writes sent / DRAM bursts moved */
	uint32_t arrived; /* bytes of host reads arrived */
	int status;
};

struct host_read {
	bool used;
	uint32_t id, xfer, off, len;
};

struct emud_rank {
	struct emud *e;
	unsigned r;
	struct simlink *link;
	bool gone;
	struct rtl_mfld *die;
	struct fw *fw;
	struct xfer x[EMUD_XFERS];
	struct host_read rd[EMUD_READS];
	uint32_t max_payload;
};

struct emud {
	struct emud_config c;
	uint64_t cycle, ps_per_cycle;
	struct rtl_mesh *mesh;
	uint64_t mesh_msgs;
	struct emud_rank rank[EMUD_MAX_RANKS];
};

void emud_config_default(struct emud_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->socket, sizeof(c->socket), "/tmp/loom-emud-%d", (int)getpid());
	c->ranks = 1;
	c->clock_mhz = 1600; /* the die's DRAM command clock (rtl_mfld.h) */
	c->link_latency_ns = 500;
	c->link_bytes_per_cycle = 32;
	c->synchronized = true;
	c->timeout_ms = 10000;
}

/* ---- the die's DMA: firmware memory ---------------------------------------------- */

static void *local_ptr(struct emud_rank *k, uint64_t addr, size_t n)
{
	if (addr < EMUD_LOCAL_BASE || addr - EMUD_LOCAL_BASE > sizeof(*k->fw) ||
	    n > sizeof(*k->fw) - (addr - EMUD_LOCAL_BASE))
		return NULL;
	return (uint8_t *)k->fw + (addr - EMUD_LOCAL_BASE);
}

static int die_dma_read(void *ctx, uint64_t addr, void *dst, size_t n)
{
	void *p = local_ptr(ctx, addr, n);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, n);
	return 0;
}

static int die_dma_write(void *ctx, uint64_t addr, const void *src, size_t n)
{
	void *p = local_ptr(ctx, addr, n);

	if (!p)
		return -EFAULT;
	memcpy(p, src, n);
	return 0;
}

/* ---- HAL --------------------------------------------------------------------------- */

static int hal_mmio_read(void *ctx, unsigned space, uint32_t off, uint32_t *val)
{
	struct emud_rank *k = ctx;

	if (space != FW_SPACE_DIE)
		return -FW_EFAULT; /* the NI model has no registers */
	return rtl_mfld_mmio_read(k->die, off, val) < 0 ? -FW_EFAULT : 0;
}

static int hal_mmio_write(void *ctx, unsigned space, uint32_t off, uint32_t val)
{
	struct emud_rank *k = ctx;

	if (space != FW_SPACE_DIE)
		return -FW_EFAULT;
	return rtl_mfld_mmio_write(k->die, off, val) < 0 ? -FW_EFAULT : 0;
}

static int hal_dma_submit(void *ctx, const struct fw_dma *d)
{
	struct emud_rank *k = ctx;
	struct xfer *x = NULL;

	if (!d->len_bytes || d->kind > FW_DMA_DRAM_TO_HOST ||
	    ((d->kind == FW_DMA_HOST_TO_LOCAL || d->kind == FW_DMA_LOCAL_TO_HOST) && !d->local) ||
	    ((d->kind == FW_DMA_HOST_TO_DRAM || d->kind == FW_DMA_DRAM_TO_HOST) &&
	     (d->dram_addr % 32 || d->len_bytes % 32)))
		return -FW_EINVAL;
	for (int i = 0; i < EMUD_XFERS && !x; i++)
		if (k->x[i].state == XF_FREE)
			x = &k->x[i];
	if (!x)
		return -FW_EAGAIN;
	memset(x, 0, sizeof(*x));
	x->kind = d->kind;
	x->cookie = d->cookie;
	x->len = d->len_bytes;
	x->host = d->host_addr;
	x->dram = d->dram_addr;
	x->local = d->local;
	if (d->kind != FW_DMA_HOST_TO_LOCAL && !(x->buf = malloc(x->len)))
		return -FW_ENOMEM;
	switch (d->kind) {
	case FW_DMA_HOST_TO_LOCAL:
	case FW_DMA_HOST_TO_DRAM:
		x->state = XF_HOST_IN;
		break;
	case FW_DMA_LOCAL_TO_HOST:
		memcpy(x->buf, d->local, x->len); /* posted: copied at submit */
		x->state = XF_HOST_OUT;
		break;
	default:
		x->state = XF_DRAM_READ;
	}
	return 0;
}

static int hal_dma_reap(void *ctx, uint32_t *cookie, int *status)
{
	struct emud_rank *k = ctx;

	for (int i = 0; i < EMUD_XFERS; i++) {
		struct xfer *x = &k->x[i];

		if (x->state != XF_DONE)
			continue;
		*cookie = x->cookie;
		*status = x->status;
		free(x->buf);
		x->state = XF_FREE;
		return 1;
	}
	return 0;
}

static int hal_ni_send(void *ctx, unsigned dst, const void *hdr, uint32_t hdr_bytes,
		       const void *payload, uint32_t payload_bytes)
{
	struct emud_rank *k = ctx;
	uint8_t msg[sizeof(struct fw_msg_hdr) + DEVIF_MESH_MAX_BYTES + 64];
	int err;

	if (!k->e->mesh || dst >= k->e->c.ranks)
		return -FW_EINVAL;
	if ((size_t)hdr_bytes + payload_bytes > sizeof(msg))
		return -FW_EMSGSIZE;
	memcpy(msg, hdr, hdr_bytes);
	memcpy(msg + hdr_bytes, payload, payload_bytes);
	err = rtl_mesh_inject(k->e->mesh, (int)k->r, (int)dst, 0, msg, hdr_bytes + payload_bytes);
	return err == -EAGAIN ? -FW_EAGAIN : err < 0 ? -FW_EINVAL : 0;
}

static int hal_ni_recv(void *ctx, void *buf, uint32_t max, unsigned *src)
{
	struct emud_rank *k = ctx;
	struct rtl_mesh_msg m;
	int r;

	if (!k->e->mesh)
		return 0;
	if ((r = rtl_mesh_poll(k->e->mesh, (int)k->r, &m)) <= 0)
		return r < 0 ? -FW_EIO : 0;
	k->e->mesh_msgs++;
	*src = (unsigned)m.src;
	if (m.len_bytes > max)
		return -FW_EMSGSIZE;
	memcpy(buf, m.payload, m.len_bytes);
	return (int)m.len_bytes;
}

static uint64_t hal_cycles(void *ctx)
{
	return ((struct emud_rank *)ctx)->e->cycle;
}

static void hal_irq(void *ctx, unsigned vector)
{
	struct emud_rank *k = ctx;

	/* a full ring: the link is wedged or the host gone; the record is in
	 * memory and the host's next wait finds it */
	if (!k->gone && simlink_irq(k->link, vector) == -EAGAIN)
		fprintf(stderr, "loom emud: rank %u: interrupt dropped (link queue full)\n", k->r);
}

static uint64_t hal_local_addr(void *ctx, const void *p)
{
	struct emud_rank *k = ctx;

	return EMUD_LOCAL_BASE + (uint64_t)((const uint8_t *)p - (const uint8_t *)k->fw);
}

/* ---- transfers ---------------------------------------------------------------------- */

static void xfer_done(struct xfer *x, int status)
{
	x->status = status;
	x->state = XF_DONE;
}

/* Issue host reads of x as far as the link takes them. */
static int xfer_read_host(struct emud_rank *k, struct xfer *x, uint32_t xi)
{
	while (x->issued < x->len) {
		uint32_t n = x->len - x->issued < k->max_payload ? x->len - x->issued : k->max_payload;
		struct host_read *h = NULL;
		uint32_t id;
		int err;

		for (int i = 0; i < EMUD_READS && !h; i++)
			if (!k->rd[i].used)
				h = &k->rd[i];
		if (!h)
			return 0;
		err = simlink_dma_read(k->link, x->host + x->issued, n, &id);
		if (err == -EAGAIN || err == -EBUSY)
			return 0;
		if (err < 0) {
			xfer_done(x, err);
			return 0;
		}
		*h = (struct host_read){ true, id, xi, x->issued, n };
		x->issued += n;
	}
	return 0;
}

static void host_read_done(struct emud_rank *k, const struct simlink_msg *m)
{
	for (int i = 0; i < EMUD_READS; i++) {
		struct host_read *h = &k->rd[i];
		struct xfer *x;
		const void *src;

		if (!h->used || h->id != m->id)
			continue;
		h->used = false;
		x = &k->x[h->xfer];
		if (x->state != XF_HOST_IN)
			return;
		src = m->status ? NULL : simlink_dma_ptr(k->link, x->host + h->off, h->len);
		if (!src) {
			xfer_done(x, m->status ? m->status : -EFAULT);
			return;
		}
		memcpy((x->kind == FW_DMA_HOST_TO_LOCAL ? x->local : x->buf) + h->off, src, h->len);
		x->arrived += h->len;
		if (x->arrived == x->len) {
			if (x->kind == FW_DMA_HOST_TO_LOCAL)
				xfer_done(x, 0);
			else {
				x->state = XF_DRAM_WRITE;
				x->issued = 0;
			}
		}
		return;
	}
}

/* Move up to EMUD_PORT_OPS bursts between x->buf and the die's DRAM. */
static void xfer_dram(struct emud_rank *k, struct xfer *x, bool write)
{
	struct rtl_mfld_dram_op ops[EMUD_PORT_OPS];
	size_t n = 0;
	int err;

	if (rtl_mfld_busy(k->die))
		return;
	for (; n < EMUD_PORT_OPS && x->issued + 32 * n < x->len; n++) {
		ops[n].addr = x->dram + x->issued + 32 * n;
		ops[n].write = write;
		if (write)
			memcpy(ops[n].data, x->buf + x->issued + 32 * n, 32);
	}
	err = rtl_mfld_dram_run(k->die, ops, n);
	if (err == -EBUSY)
		return;
	if (err < 0) {
		xfer_done(x, err);
		return;
	}
	if (!write)
		for (size_t i = 0; i < n; i++)
			memcpy(x->buf + x->issued + 32 * i, ops[i].data, 32);
	x->issued += (uint32_t)(32 * n);
	if (x->issued == x->len) {
		if (write)
			xfer_done(x, 0);
		else {
			x->state = XF_HOST_OUT;
			x->issued = 0;
		}
	}
}

static void xfer_write_host(struct emud_rank *k, struct xfer *x)
{
	while (x->issued < x->len) {
		uint32_t n = x->len - x->issued < k->max_payload ? x->len - x->issued : k->max_payload;
		int err = simlink_dma_write(k->link, x->host + x->issued, x->buf + x->issued, n);

		if (err == -EAGAIN)
			return;
		if (err < 0) {
			xfer_done(x, err);
			return;
		}
		x->issued += n;
	}
	xfer_done(x, 0);
}

/* Move every transfer of rank k one step along. */
static void xfers_service(struct emud_rank *k)
{
	for (uint32_t i = 0; i < EMUD_XFERS; i++) {
		struct xfer *x = &k->x[i];

		switch (x->state) {
		case XF_HOST_IN:
			xfer_read_host(k, x, i);
			break;
		case XF_DRAM_WRITE:
			xfer_dram(k, x, true);
			break;
		case XF_DRAM_READ:
			xfer_dram(k, x, false);
			break;
		case XF_HOST_OUT:
			xfer_write_host(k, x);
			break;
		default:
			break;
		}
	}
}

/* ---- links ---------------------------------------------------------------------------- */

/* Take what the link has for rank k up to link time t_ps. */
static int link_service(struct emud_rank *k, uint64_t t_ps)
{
	struct simlink_msg m;
	int r;

	while (!k->gone && (r = simlink_next(k->link, t_ps, &m)) != 0) {
		uint32_t v = 0;
		int st;

		if (r == -ETIMEDOUT)
			continue; /* a host busy elsewhere promised nothing new: keep waiting */
		if (r < 0) {
			if (r != -EPIPE)
				fprintf(stderr, "loom emud: rank %u: %s\n", k->r, loom_err_msg());
			k->gone = true;
			return 0;
		}
		switch (m.type) {
		case SIMLINK_MMIO_READ:
			st = m.bar || m.len != 4 ? -EINVAL
						 : fw_bar_read(k->fw, (uint32_t)m.addr, &v) ? -EFAULT : 0;
			simlink_mmio_complete(k->link, &m, v, st);
			break;
		case SIMLINK_MMIO_WRITE:
		case SIMLINK_POSTED_WRITE:
			st = m.bar || m.len != 4 ? -EINVAL
						 : fw_bar_write(k->fw, (uint32_t)m.addr, (uint32_t)m.data)
						       ? -EFAULT : 0;
			if (m.type == SIMLINK_MMIO_WRITE)
				simlink_mmio_complete(k->link, &m, 0, st);
			break;
		case SIMLINK_DMA_READ_CMPL:
			host_read_done(k, &m);
			break;
		default:
			break;
		}
	}
	return 0;
}

static void link_info(struct simlink_info *info)
{
	static const struct {
		uint32_t type, off, bytes;
	} blocks[] = {
		{ DEVIF_BLK_DEVICE, DEVIF_REG_DEVICE, DEVIF_REG_QUEUE - DEVIF_REG_DEVICE },
		{ DEVIF_BLK_QUEUE, DEVIF_REG_QUEUE, DEVIF_REG_IRQ - DEVIF_REG_QUEUE },
		{ DEVIF_BLK_IRQ, DEVIF_REG_IRQ, 0x40 },
	};

	memset(info, 0, sizeof(*info));
	info->n_bars = 1;
	info->n_irqs = 1;
	info->bar_bytes[0] = DEVIF_BAR0_BYTES;
	info->n_blocks = sizeof(blocks) / sizeof(blocks[0]);
	for (uint32_t i = 0; i < info->n_blocks; i++)
		info->blocks[i] = (struct simlink_block){ .type = blocks[i].type,
							  .version = DEVIF_BLK_VERSION,
							  .offset = blocks[i].off,
							  .bytes = blocks[i].bytes };
}

/* ---- set-up and the clock loop ---------------------------------------------------------- */

static int rank_open(struct emud *e, unsigned r, struct simlink_server *srv)
{
	struct emud_rank *k = &e->rank[r];
	struct rtl_mfld_params mp = { .flavour = e->c.fast ? RTL_MFLD_FAST : RTL_MFLD_CHECKED };
	struct rtl_mfld_dma dma = { die_dma_read, die_dma_write, k };
	struct fw_hal hal = { .mmio_read = hal_mmio_read, .mmio_write = hal_mmio_write,
			      .dma_submit = hal_dma_submit, .dma_reap = hal_dma_reap,
			      .ni_send = hal_ni_send, .ni_recv = hal_ni_recv, .cycles = hal_cycles,
			      .irq = hal_irq, .local_addr = hal_local_addr, .ctx = k };
	struct fw_config fc = { .rank = r, .ranks = e->c.ranks };
	struct simlink_params p;
	struct simlink_info info;
	int err;

	k->e = e;
	k->r = r;
	if (!(k->fw = calloc(1, sizeof(*k->fw))) || !(k->die = rtl_mfld_create(&mp)))
		return loom_err_set(ENOMEM, "loom emud: rank %u: %s", r,
				    k->fw ? loom_err_msg() : "out of memory");
	if ((err = rtl_mfld_set_dma(k->die, &dma)) < 0)
		return err;
	if ((err = fw_init(k->fw, &hal, &fc)) < 0)
		return loom_err_set(EIO, "loom emud: rank %u: firmware: %s", r, fw_why(k->fw));
	simlink_params_default(&p);
	p.ps_per_cycle = e->ps_per_cycle;
	p.latency_ps = (uint64_t)(e->c.link_latency_ns * 1000.0);
	p.bytes_per_cycle = e->c.link_bytes_per_cycle;
	p.synchronized = e->c.synchronized;
	p.timeout_ms = (uint32_t)e->c.timeout_ms;
	link_info(&info);
	k->link = simlink_dev_accept(srv, &info, &p, e->c.timeout_ms);
	if (!k->link)
		return loom_err_set(ETIMEDOUT, "loom emud: rank %u: no host: %s", r, loom_err_msg());
	k->max_payload = simlink_params(k->link)->max_payload;
	return 0;
}

static void rank_close(struct emud_rank *k)
{
	simlink_close(k->link);
	rtl_mfld_destroy(k->die);
	for (int i = 0; i < EMUD_XFERS; i++)
		if (k->x[i].state != XF_FREE)
			free(k->x[i].buf);
	free(k->fw);
	memset(k, 0, sizeof(*k));
}

/* One device cycle at every rank. */
static int cycle(struct emud *e)
{
	uint64_t t_ps = e->cycle * e->ps_per_cycle;
	int err;

	for (unsigned r = 0; r < e->c.ranks; r++) {
		struct emud_rank *k = &e->rank[r];
		struct rtl_mfld_counters dc;

		link_service(k, t_ps);
		rtl_mfld_counters(k->die, &dc);
		if (dc.cycles > e->cycle)
			continue; /* ahead of the clock after DRAM port work: wait */
		xfers_service(k);
		if ((err = fw_step(k->fw)) < 0)
			return loom_err_set(EIO, "loom emud: rank %u: firmware stopped: %s", r,
					    fw_why(k->fw));
		if ((err = rtl_mfld_step(k->die, 1)) < 0)
			return err;
	}
	if (e->mesh && (err = rtl_mesh_step(e->mesh, 1)) < 0)
		return err;
	e->cycle++;
	return 0;
}

static bool all_gone(const struct emud *e)
{
	for (unsigned r = 0; r < e->c.ranks; r++)
		if (!e->rank[r].gone)
			return false;
	return true;
}

int emud_run(const struct emud_config *c, struct emud_summary *out)
{
	struct simlink_server *srv[EMUD_MAX_RANKS] = { 0 };
	struct emud *e;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!c->ranks || c->ranks > EMUD_MAX_RANKS || !(c->clock_mhz > 0) ||
	    c->link_latency_ns < 0 || !c->link_bytes_per_cycle || c->timeout_ms <= 0)
		return loom_err_set(EINVAL, "loom emud: bad configuration (ranks 1..%d, clock > 0, "
				    "latency >= 0, link bytes per cycle > 0, timeout > 0)",
				    EMUD_MAX_RANKS);
	if (!(e = calloc(1, sizeof(*e))))
		return loom_err_set(ENOMEM, "loom emud: out of memory");
	e->c = *c;
	e->ps_per_cycle = (uint64_t)(1e6 / c->clock_mhz + 0.5);
	if (c->ranks > 1) {
		struct rtl_mesh_params mp = { .flavour = c->fast ? RTL_MESH_FAST : RTL_MESH_CHECKED };

		if (!(e->mesh = rtl_mesh_create(&mp))) {
			err = -errno;
			goto out;
		}
	}
	for (unsigned r = 0; r < c->ranks; r++) {
		char path[256];

		snprintf(path, sizeof(path), "%s.%u", c->socket, r);
		if (!(srv[r] = simlink_dev_listen(path))) {
			err = loom_err_set(EIO, "loom emud: %s", loom_err_msg());
			goto out;
		}
	}
	if (!c->quiet)
		fprintf(stderr, "loom emud: %u rank(s) at %s.<rank>, %.0f MHz, link %.0f ns, %u B/cycle, "
			"%s\n", c->ranks, c->socket, c->clock_mhz, c->link_latency_ns,
			c->link_bytes_per_cycle, c->synchronized ? "synchronized" : "functional only");
	for (unsigned r = 0; r < c->ranks; r++)
		if ((err = rank_open(e, r, srv[r])) < 0)
			goto out;
	while (!all_gone(e))
		if ((err = cycle(e)) < 0)
			break;
	out->cycles = e->cycle;
	out->mesh_msgs = e->mesh_msgs;
	out->synchronized = c->synchronized;
	for (unsigned r = 0; r < c->ranks; r++) {
		out->descs += e->rank[r].fw ? e->rank[r].fw->stats.descs : 0;
		out->errors += e->rank[r].fw ? e->rank[r].fw->stats.errors : 0;
		out->irqs += e->rank[r].fw ? e->rank[r].fw->stats.irqs : 0;
	}
out:
	for (unsigned r = 0; r < c->ranks; r++) {
		rank_close(&e->rank[r]);
		simlink_server_close(srv[r]);
	}
	rtl_mesh_destroy(e->mesh);
	free(e);
	return err;
}
