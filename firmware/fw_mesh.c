/*
 * fw_mesh.c - the endpoint's transport duties on the mesh: MESH_SEND (a
 * host buffer read by DMA, sent to a rank's NI with a 32-byte header),
 * REGION_MAP, and the receive side, which lands each write in the mapped
 * host buffer by DMA and releases region epochs to the reader.
 * A write is addressed by a region offset, or by an address in the
 * reader's space (remote_va), which only the receiver can turn into an
 * offset (minus the VA it mapped the region with) and bounds-check.
 *
 * Region acquire/release (the paper's ordering for memory-semantic RDMA:
 * the receiver tracks which writes of a region have landed, so the sender
 * needs no fence round trip).  Sender, per (dst, region): CLOSED
 * --ACQUIRE--> OPEN --RELEASE--> CLOSED; every send of an epoch carries
 * the epoch number, and the RELEASE send carries the epoch's write count
 * (itself included).  The sender never waits.  Receiver, per (src,
 * region), a window of DEVIF_EPOCH_WINDOW epochs (struct fw_rx_region):
 * landed[e] counts writes whose DMA into host memory has completed (or
 * that were dropped as bad, so a bad write cannot stall the epoch), need[e]
 * is set by the RELEASE message (with imm[e]), bytes[e] sums the payload
 * bytes that landed (both for the release record).  The invariant is
 * fw.h's: epoch e is released iff need[e] != 0, landed[e] >= need[e] and
 * every earlier epoch was released; releases go out in epoch order.
 * Messages may arrive and land in any order, before or after their
 * epoch's RELEASE; bytes[e] is final when e is released, since every
 * write of e has landed by then.
 * Not here: retransmission (the mesh is lossless), flow control between
 * epochs (the reader's), the NI's packet format (the RTL's).
 */
#include "fw.h"

#define FW_HDR ((uint32_t)sizeof(struct fw_msg_hdr))

uint16_t fw_mesh_check(struct fw *f, const struct devif_desc *d)
{
	if (d->flags & ~(DEVIF_F_ACQUIRE | DEVIF_F_RELEASE))
		return DEVIF_ST_BAD_FLAGS;
	bool rsvd = d->rsvd0;
	for (unsigned i = 0; i < sizeof(d->mesh_rsvd) / sizeof(d->mesh_rsvd[0]); i++)
		rsvd = rsvd || d->mesh_rsvd[i];
	/* imm rides on the release record only; remote_va replaces dev_addr */
	if (rsvd || (d->imm && !(d->flags & DEVIF_F_RELEASE)) || (d->remote_va && d->dev_addr) ||
	    d->dst_rank >= f->ranks || d->region >= DEVIF_REGIONS)
		return DEVIF_ST_BAD_PARAM;
	if (d->len_bytes > DEVIF_MESH_MAX_BYTES)
		return DEVIF_ST_BAD_LEN;
	if ((uint64_t)d->dev_addr + d->len_bytes > 0xffffffffull ||
	    d->remote_va + d->len_bytes < d->remote_va)
		return DEVIF_ST_BAD_ADDR;
	const struct fw_tx_region *tx = &f->tx[d->dst_rank][d->region];
	/* ACQUIRE opens an epoch, so it needs a closed one; any other send an open one */
	if ((d->flags & DEVIF_F_ACQUIRE) ? tx->open : !tx->open)
		return DEVIF_ST_BAD_FLAGS;
	return DEVIF_ST_OK;
}

/* The epoch bookkeeping of one send (after its DMA was accepted). */
static void fw_mesh_epoch(struct fw *f, const struct devif_desc *d, struct fw_msg_hdr *h)
{
	struct fw_tx_region *tx = &f->tx[d->dst_rank][d->region];

	if (d->flags & DEVIF_F_ACQUIRE) {
		tx->open = 1;
		tx->writes = 0;
	}
	tx->writes++;
	h->epoch = tx->epoch;
	if (d->flags & DEVIF_F_RELEASE) {
		h->count = tx->writes;
		h->imm = d->imm;
		tx->open = 0;
		tx->epoch++;
	}
}

/* Start a send: read the payload into tx_buf; false when tx_buf or the
 * DMA engine is busy (retry). */
bool fw_mesh_send_start(struct fw *f, int job, const struct devif_desc *d)
{
	struct fw_msg_hdr h = { .magic = FW_MSG_MAGIC, .flags = d->flags,
				.region = (uint8_t)d->region, .offset = d->dev_addr,
				.remote_va = d->remote_va };
	struct fw_job *x = &f->jobs[job];

	if (f->tx_job >= 0)
		return false;
	x->state = FW_JOB_MESH_SEND;
	if (d->len_bytes) {
		struct fw_dma r = { .kind = FW_DMA_HOST_TO_LOCAL, .len_bytes = d->len_bytes,
				    .host_addr = d->host_addr, .local = f->tx_buf + FW_HDR,
				    .cookie = FW_CK(FW_CK_MESH_TX, job) };
		int rc = f->hal.dma_submit(f->hal.ctx, &r);
		if (rc == -FW_EAGAIN)
			return false;
		if (rc) { /* the write still counts in its epoch: send it void */
			h.flags |= FW_MSG_VOID;
			x->status = DEVIF_ST_DMA_ERR;
		} else {
			x->state = FW_JOB_MESH_READ;
		}
	}
	fw_mesh_epoch(f, d, &h);
	fw_memcpy(f->tx_buf, &h, FW_HDR);
	f->tx_len = (h.flags & FW_MSG_VOID) ? FW_HDR : FW_HDR + d->len_bytes;
	f->tx_dst = d->dst_rank;
	f->tx_job = job;
	return true;
}

/* Hand tx_buf to the NI; the job is done once the NI has the bytes. */
static void fw_mesh_try_send(struct fw *f)
{
	int job = f->tx_job;

	if (job < 0 || f->jobs[job].state != FW_JOB_MESH_SEND)
		return;
	int rc = f->hal.ni_send(f->hal.ctx, f->tx_dst, f->tx_buf, FW_HDR, f->tx_buf + FW_HDR,
				f->tx_len - FW_HDR);
	if (rc == -FW_EAGAIN)
		return;
	f->tx_job = -1;
	fw_job_finish(f, job, rc ? DEVIF_ST_MESH_ERR : f->jobs[job].status);
}

void fw_mesh_map(struct fw *f, const struct devif_desc *d)
{
	struct fw_region *r = &f->regions[d->region];

	r->host_addr = d->host_addr;
	r->bytes = d->len_bytes;
	r->tag = d->tag;
	r->va = d->remote_va;
}

static enum fw_epoch_state fw_epoch_state(const struct fw_rx_region *rx, unsigned s)
{
	if (!rx->need[s])
		return rx->landed[s] ? FW_EPOCH_FILLING : FW_EPOCH_IDLE;
	return rx->landed[s] < rx->need[s] ? FW_EPOCH_DRAINING : FW_EPOCH_COMPLETE;
}

/* Release every complete epoch of (src, region) in order (the invariant). */
static void fw_mesh_release(struct fw *f, unsigned src, unsigned region)
{
	struct fw_rx_region *rx = &f->rx[src][region];

	for (;;) {
		unsigned s = rx->next % DEVIF_EPOCH_WINDOW;
		if (fw_epoch_state(rx, s) != FW_EPOCH_COMPLETE)
			return;
		if (!fw_stage_has_room(f)) {
			f->release_scan = true;
			return;
		}
		struct devif_comp c = { .tag = f->regions[region].tag, .index = rx->next,
					.status = rx->bad[s], .opcode = DEVIF_OP_MESH_RELEASE,
					.result = src, .imm = rx->imm[s], .bytes = rx->bytes[s] };
		fw_stage_push(f, &c);
		rx->need[s] = rx->landed[s] = 0;
		rx->imm[s] = rx->bytes[s] = 0;
		rx->bad[s] = 0;
		rx->next++;
		f->stats.releases++;
	}
}

/* One write of the epoch in slot is done: bytes landed, or bad (nothing). */
static void fw_mesh_landed(struct fw *f, unsigned src, unsigned region, unsigned slot,
			   uint8_t bad, uint32_t bytes)
{
	struct fw_rx_region *rx = &f->rx[src][region];

	if (bad && !rx->bad[slot])
		rx->bad[slot] = bad;
	if (!bad)
		rx->bytes[slot] += bytes;
	rx->landed[slot]++;
	fw_mesh_release(f, src, region);
}

/* A received message's header, checked; NULL-free: false = malformed. */
static bool fw_mesh_hdr_ok(const struct fw *f, const struct fw_msg_hdr *h, uint32_t n,
			   unsigned src)
{
	if (n < FW_HDR || h->magic != FW_MSG_MAGIC || h->region >= DEVIF_REGIONS ||
	    src >= f->ranks || (h->flags & ~(DEVIF_F_ACQUIRE | DEVIF_F_RELEASE | FW_MSG_VOID)))
		return false;
	const struct fw_rx_region *rx = &f->rx[src][h->region];
	if ((uint16_t)(h->epoch - rx->next) >= DEVIF_EPOCH_WINDOW)
		return false;
	unsigned s = h->epoch % DEVIF_EPOCH_WINDOW;
	if (h->flags & DEVIF_F_RELEASE)
		return h->count != 0 && rx->need[s] == 0;
	return h->imm == 0;
}

/* Where a write of p bytes lands in region r: false if it does not fit.
 * Zero-byte writes land nowhere and always fit. */
static bool fw_mesh_where(const struct fw_region *r, const struct fw_msg_hdr *h, uint32_t p,
			  uint64_t *off)
{
	if (!h->remote_va)
		*off = h->offset;
	else if (h->remote_va >= r->va)
		*off = h->remote_va - r->va;
	else
		return p == 0;
	return p == 0 || (*off <= r->bytes && p <= r->bytes - *off);
}

/* Land rx_buf: false when the DMA engine is full (keep it for later). */
static bool fw_mesh_land(struct fw *f)
{
	struct fw_msg_hdr h;
	uint32_t n = f->rx_len;
	unsigned src = f->rx_src;

	fw_memcpy(&h, f->rx_buf, n < FW_HDR ? n : FW_HDR);
	if (!fw_mesh_hdr_ok(f, &h, n, src)) {
		f->stats.rx_bad++;
		return true;
	}
	unsigned slot = h.epoch % DEVIF_EPOCH_WINDOW;
	uint32_t p = n - FW_HDR;
	const struct fw_region *r = &f->regions[h.region];
	uint64_t off = 0;
	uint8_t bad = (h.flags & FW_MSG_VOID) ? DEVIF_ST_DMA_ERR
		    : !fw_mesh_where(r, &h, p, &off) ? DEVIF_ST_BAD_ADDR : 0;
	bool dma = p && !bad;
	if (dma) {
		struct fw_dma x = { .kind = FW_DMA_LOCAL_TO_HOST, .len_bytes = p,
				    .host_addr = r->host_addr + off, .local = f->rx_buf + FW_HDR,
				    .cookie = FW_CK(FW_CK_LAND, p << 12 | src << 8 | h.region << 4 | slot) };
		int rc = f->hal.dma_submit(f->hal.ctx, &x);
		if (rc == -FW_EAGAIN)
			return false;
		if (rc) {
			bad = DEVIF_ST_DMA_ERR;
			dma = false;
		}
	}
	if (h.flags & DEVIF_F_RELEASE) {
		f->rx[src][h.region].need[slot] = h.count;
		f->rx[src][h.region].imm[slot] = h.imm;
	}
	f->stats.rx_msgs++;
	if (!dma)
		fw_mesh_landed(f, src, h.region, slot, bad, 0);
	else
		fw_mesh_release(f, src, h.region);
	return true;
}

void fw_mesh_dma_done(struct fw *f, uint32_t cookie, int status)
{
	uint32_t low = FW_CK_LOW(cookie);

	if (FW_CK_KIND(cookie) == FW_CK_LAND) {
		unsigned src = (low >> 8) & 0xf, region = (low >> 4) & 0xf, slot = low & 0xf;
		if (slot < DEVIF_EPOCH_WINDOW)
			fw_mesh_landed(f, src, region, slot, status ? DEVIF_ST_DMA_ERR : 0,
				       low >> 12);
		return;
	}
	if (FW_CK_KIND(cookie) != FW_CK_MESH_TX || (int)low != f->tx_job)
		return;
	struct fw_job *x = &f->jobs[low];
	if (status) { /* nothing read: send it void so the epoch's count holds */
		x->status = DEVIF_ST_DMA_ERR;
		f->tx_buf[1] |= FW_MSG_VOID;
		f->tx_len = FW_HDR;
	}
	x->state = FW_JOB_MESH_SEND;
	fw_mesh_try_send(f);
}

static void fw_mesh_rx(struct fw *f)
{
	for (int i = 0; i < FW_RX_PER_STEP; i++) {
		if (!f->rx_len) {
			int n = f->hal.ni_recv(f->hal.ctx, f->rx_buf, sizeof(f->rx_buf), &f->rx_src);
			if (n == 0)
				return;
			if (n < 0) {
				f->stats.rx_bad++;
				continue;
			}
			f->rx_len = (uint32_t)n;
		}
		if (!fw_mesh_land(f))
			return;
		f->rx_len = 0;
	}
}

void fw_mesh_step(struct fw *f)
{
	fw_mesh_try_send(f);
	fw_mesh_rx(f);
	if (f->release_scan) {
		f->release_scan = false;
		for (unsigned s = 0; s < f->ranks; s++)
			for (unsigned r = 0; r < DEVIF_REGIONS; r++)
				fw_mesh_release(f, s, r);
	}
}
