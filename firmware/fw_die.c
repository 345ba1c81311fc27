/*
 * fw_die.c - the logic die as the firmware sees it: its register blocks
 * found by walking the self-describing chain (rtl_mfld.h: word 0 = type <<
 * 16 | version, word 1 = offset of the next block, 0 ends), and its own
 * descriptor ring, which lives in firmware memory (the firmware is the
 * die's host).  Offsets inside a block come from rtl_mfld.h; where a block
 * sits is never assumed.  Not here: validation of the host's descriptor
 * (fw_queue.c checks it before it reaches the die).
 */
#include "fw.h"

static int fw_die_rd(struct fw *f, uint32_t off, uint32_t *v)
{
	int rc = f->hal.mmio_read(f->hal.ctx, FW_SPACE_DIE, off, v);

	return rc ? fw_fail(f, rc < 0 ? rc : -FW_EIO, "die: register read failed") : 0;
}

static int fw_die_wr(struct fw *f, uint32_t off, uint32_t v)
{
	int rc = f->hal.mmio_write(f->hal.ctx, FW_SPACE_DIE, off, v);

	return rc ? fw_fail(f, rc < 0 ? rc : -FW_EIO, "die: register write failed") : 0;
}

/* Remember the first block of each type the firmware uses (seen[] in the
 * order device, queue, dram, engines); other types are skipped. */
static void fw_die_note(struct fw_die_map *d, uint32_t type, uint32_t off, bool seen[4])
{
	uint32_t *at[4] = { &d->device, &d->queue, &d->dram, &d->engines };
	static const uint32_t types[4] = { RTL_MFLD_BLK_DEVICE, RTL_MFLD_BLK_QUEUE,
					   RTL_MFLD_BLK_DRAM, RTL_MFLD_BLK_ENGINES };

	for (int i = 0; i < 4; i++)
		if (type == types[i] && !seen[i]) {
			*at[i] = off;
			seen[i] = true;
		}
}

/* Walk the chain: every next pointer must move forward, stay word-aligned
 * and inside the register space, so a corrupt chain ends instead of
 * looping. */
static int fw_die_walk(struct fw *f)
{
	uint32_t off = 0, w0, next;
	bool seen[4] = { false, false, false, false };

	for (;;) {
		if (++f->die.nblocks > FW_DIE_MAX_BLOCKS)
			return fw_fail(f, -FW_ELOOP, "die: register chain longer than 32 blocks");
		int rc = fw_die_rd(f, off, &w0);
		if (rc || (rc = fw_die_rd(f, off + 4, &next)))
			return rc;
		fw_die_note(&f->die, w0 >> 16, off, seen);
		if (next == 0)
			break;
		if (next <= off || (next & 3) || next + 8 > RTL_MFLD_MMIO_BYTES)
			return fw_fail(f, -FW_EPROTO,
				       "die: register chain: a next pointer goes backwards, "
				       "is unaligned or leaves the register space");
		off = next;
	}
	if (!seen[0] || !seen[1] || !seen[2] || !seen[3])
		return fw_fail(f, -FW_ENODEV,
			       "die: register chain lacks a device, queue, dram or engines block");
	return 0;
}

int fw_die_discover(struct fw *f)
{
	uint32_t magic, geo;
	struct fw_die_map *d = &f->die;
	int rc = fw_die_walk(f);

	if (rc)
		return rc;
	if ((rc = fw_die_rd(f, d->device + 8, &magic)))
		return rc;
	if (magic != RTL_MFLD_MAGIC)
		return fw_fail(f, -FW_ENODEV, "die: device block magic is not MFLD");
	if ((rc = fw_die_rd(f, d->engines + 8, &d->opcodes)) ||
	    (rc = fw_die_rd(f, d->engines + 12, &d->ib_bytes)) ||
	    (rc = fw_die_rd(f, d->engines + 16, &d->ob_bytes)) ||
	    (rc = fw_die_rd(f, d->dram + RTL_MFLD_DRAM_GEOMETRY, &geo)))
		return rc;
	d->dram_log2 = geo >> 16;
	if (d->dram_log2 < 5 || d->dram_log2 > 32 || d->ib_bytes < 32 || d->ob_bytes < 32)
		return fw_fail(f, -FW_EPROTO, "die: DRAM geometry or engine buffer size out of range");
	return 0;
}

/* Point the die's rings at firmware memory and let it serve. */
int fw_die_start(struct fw *f)
{
	uint32_t q = f->die.queue;
	uint64_t ring = f->hal.local_addr(f->hal.ctx, f->die_ring);
	uint64_t comp = f->hal.local_addr(f->hal.ctx, f->die_comp);
	int rc;

	if ((rc = fw_die_wr(f, q + RTL_MFLD_Q_CTRL, 0)) ||
	    (rc = fw_die_wr(f, q + RTL_MFLD_Q_RING_LO, (uint32_t)ring)) ||
	    (rc = fw_die_wr(f, q + RTL_MFLD_Q_RING_HI, (uint32_t)(ring >> 32))) ||
	    (rc = fw_die_wr(f, q + RTL_MFLD_Q_COMP_LO, (uint32_t)comp)) ||
	    (rc = fw_die_wr(f, q + RTL_MFLD_Q_COMP_HI, (uint32_t)(comp >> 32))) ||
	    (rc = fw_die_wr(f, q + RTL_MFLD_Q_LOG2, FW_DIE_LOG2)) ||
	    (rc = fw_die_wr(f, q + RTL_MFLD_Q_IRQ_ENABLE, 0)) ||
	    (rc = fw_die_rd(f, q + RTL_MFLD_Q_NCOMP, &f->die_seen)) ||
	    (rc = fw_die_rd(f, q + RTL_MFLD_Q_HEAD, &f->die_posted)) ||
	    (rc = fw_die_wr(f, q + RTL_MFLD_Q_CTRL, 1)))
		return rc;
	return 0;
}

bool fw_die_has_room(const struct fw *f)
{
	return f->die_posted - f->die_seen < FW_DIE_ENTRIES;
}

/* Translate a checked engine descriptor into the die's; the die's tag is
 * the job number.  Caller checked fw_die_has_room. */
void fw_die_post(struct fw *f, int job, const struct devif_desc *d)
{
	struct rtl_mfld_desc *x = &f->die_ring[f->die_posted % FW_DIE_ENTRIES];

	fw_memset(x, 0, sizeof(*x));
	x->op = (uint8_t)(d->opcode - DEVIF_OP_ENGINE_FIRST);
	x->k = d->eng_k;
	x->nbits = d->eng_nbits;
	x->len = d->eng_len;
	x->nrows = d->eng_nrows;
	x->row_words = d->eng_row_words;
	x->src = d->eng_src;
	x->in_bytes = d->eng_in_bytes;
	x->dst = d->eng_dst;
	x->out_bytes = d->eng_out_bytes;
	x->tag = (uint64_t)job;
	f->die_posted++;
	f->jobs[job].state = FW_JOB_DIE;
	if (fw_die_wr(f, f->die.queue + RTL_MFLD_Q_DOORBELL, f->die_posted))
		fw_job_finish(f, job, DEVIF_ST_ENGINE_ERR);
}

static uint16_t fw_die_status(uint32_t st)
{
	switch (st) {
	case RTL_MFLD_ST_OK: return DEVIF_ST_OK;
	case RTL_MFLD_ST_BAD_ADDR: return DEVIF_ST_BAD_ADDR;
	case RTL_MFLD_ST_BAD_LEN: return DEVIF_ST_BAD_LEN;
	case RTL_MFLD_ST_BAD_PARAM: return DEVIF_ST_BAD_PARAM;
	case RTL_MFLD_ST_BAD_OPCODE: return DEVIF_ST_BAD_OPCODE;
	case RTL_MFLD_ST_DMA: return DEVIF_ST_DMA_ERR;
	default: return DEVIF_ST_ENGINE_ERR;
	}
}

/* Take the die's new completions (its count register, then the records it
 * wrote into firmware memory). */
int fw_die_poll(struct fw *f)
{
	uint32_t ncomp;
	int rc;

	if (f->die_posted == f->die_seen)
		return 0;
	if ((rc = fw_die_rd(f, f->die.queue + RTL_MFLD_Q_NCOMP, &ncomp)))
		return rc;
	while (f->die_seen != ncomp && f->die_seen != f->die_posted) {
		const struct rtl_mfld_comp *c = &f->die_comp[f->die_seen % FW_DIE_ENTRIES];
		uint64_t job = c->tag;

		f->die_seen++;
		if (job < FW_MAX_JOBS && f->jobs[job].state == FW_JOB_DIE)
			fw_job_finish(f, (int)job, fw_die_status(c->status));
	}
	return 0;
}
