/*
 * fw_queue.c - the firmware's main loop: the host's submission ring
 * (fetch by DMA when the doorbell moves), descriptor validation, dispatch,
 * the jobs in flight, completion records (staged, then written by DMA
 * into the host's completion ring when it has room) and interrupt
 * coalescing.  Engine work is in fw_die.c, mesh work in fw_mesh.c.
 *
 * Resource invariant: jobs_used + stage_count <= FW_STAGE, so a job that
 * finishes always finds a stage slot for its record; a descriptor is taken
 * only when a job slot is free and the invariant leaves room for it.
 */
#include "fw.h"

#define FW_REAP_PER_STEP 32

/* which descriptor fields an opcode uses; the others must be zero */
#define U_REGION 1u
#define U_LEN 2u
#define U_HOST 4u
#define U_DEV 8u
#define U_RANK 16u
#define U_ENG 32u
#define U_VA 64u /* remote_va */

static uint64_t fw_now(struct fw *f)
{
	return f->hal.cycles(f->hal.ctx);
}

static uint32_t fw_entries(const struct fw *f)
{
	return 1u << f->log2;
}

bool fw_stage_has_room(const struct fw *f)
{
	return f->jobs_used + f->stage_count < FW_STAGE;
}

bool fw_stage_push(struct fw *f, const struct devif_comp *c)
{
	if (f->stage_count >= FW_STAGE)
		return false;
	f->stage[(f->stage_head + f->stage_count) % FW_STAGE] = *c;
	f->stage_count++;
	return true;
}

int fw_job_alloc(struct fw *f, const struct devif_desc *d, uint32_t index)
{
	for (int j = 0; j < FW_MAX_JOBS; j++) {
		struct fw_job *x = &f->jobs[j];
		if (x->state != FW_JOB_FREE)
			continue;
		fw_memset(x, 0, sizeof(*x));
		x->state = FW_JOB_DMA; /* busy; the dispatcher sets the real state */
		x->opcode = d ? d->opcode : 0;
		x->tag = d ? d->tag : 0;
		x->index = index;
		x->t_fetch = f->batch_t;
		f->jobs_used++;
		return j;
	}
	return -1;
}

static void fw_job_free(struct fw *f, int job)
{
	f->jobs[job].state = FW_JOB_FREE;
	f->jobs_used--;
}

/* The job's record goes to the stage (room guaranteed by the invariant). */
void fw_job_finish(struct fw *f, int job, uint16_t status)
{
	struct fw_job *x = &f->jobs[job];
	uint64_t dt = fw_now(f) - x->t_fetch;
	struct devif_comp c = {
		.tag = x->tag,
		.index = x->index,
		.status = status,
		.opcode = x->opcode,
		.cycles = dt > 0xffffffffu ? 0xffffffffu : (uint32_t)dt,
	};

	fw_job_free(f, job);
	fw_stage_push(f, &c);
}

/* ---- validation ---- */

static bool fw_unused_zero(const struct devif_desc *d, unsigned used)
{
	bool eng = d->eng_k || d->eng_nbits || d->eng_len || d->eng_nrows || d->eng_row_words ||
		   d->eng_src || d->eng_in_bytes || d->eng_dst || d->eng_out_bytes;

	return !((!(used & U_REGION) && d->region) || (!(used & U_LEN) && d->len_bytes) ||
		 (!(used & U_HOST) && d->host_addr) || (!(used & U_DEV) && d->dev_addr) ||
		 (!(used & U_RANK) && d->dst_rank) || (!(used & U_ENG) && eng) || d->rsvd0 ||
		 d->rsvd1 || (!(used & U_VA) && d->remote_va));
}

/* a DRAM range: 32-byte aligned start inside the DRAM, end not past it */
static bool fw_dram_range_ok(const struct fw *f, uint32_t addr, uint32_t bytes)
{
	uint64_t size = (uint64_t)1 << f->die.dram_log2;

	return !(addr & 31) && (uint64_t)addr + bytes <= size;
}

static bool fw_buf_len_ok(uint32_t bytes, uint32_t max)
{
	return bytes >= 32 && bytes <= max && !(bytes & 31);
}

/* the engine parameters each op uses (rtl_mfld.h's ranges); unused ones 0 */
static bool fw_eng_params_ok(const struct devif_desc *d)
{
	unsigned op = d->opcode;
	bool perm = op == DEVIF_OP_GATHER || op == DEVIF_OP_SCATTER;
	bool lf = op == DEVIF_OP_LOGFMT_ENC || op == DEVIF_OP_LOGFMT_DEC;

	if (d->eng_len < 1 || d->eng_len > RTL_MFLD_MAX_LEN)
		return false;
	if (op == DEVIF_OP_COMBINE ? d->eng_k < 1 || d->eng_k > RTL_MFLD_MAX_K
	    : op == DEVIF_OP_QUANT ? d->eng_k > RTL_MFLD_QUANT_POW2
				   : d->eng_k != 0)
		return false;
	if (lf ? d->eng_nbits < 8 || d->eng_nbits > 10 : d->eng_nbits != 0)
		return false;
	if (perm)
		return d->eng_nrows >= 1 && d->eng_row_words >= 1;
	return d->eng_nrows == 0 && d->eng_row_words == 0;
}

static uint16_t fw_check_engine(const struct fw *f, const struct devif_desc *d)
{
	if (!fw_unused_zero(d, U_ENG) || !fw_eng_params_ok(d))
		return DEVIF_ST_BAD_PARAM;
	if (!fw_buf_len_ok(d->eng_in_bytes, f->die.ib_bytes) ||
	    !fw_buf_len_ok(d->eng_out_bytes, f->die.ob_bytes))
		return DEVIF_ST_BAD_LEN;
	if (!fw_dram_range_ok(f, d->eng_src, d->eng_in_bytes) ||
	    !fw_dram_range_ok(f, d->eng_dst, d->eng_out_bytes))
		return DEVIF_ST_BAD_ADDR;
	return DEVIF_ST_OK;
}

static uint16_t fw_check_dma(const struct fw *f, const struct devif_desc *d)
{
	if (!fw_unused_zero(d, U_LEN | U_HOST | U_DEV))
		return DEVIF_ST_BAD_PARAM;
	if (d->len_bytes == 0 || d->len_bytes > DEVIF_DMA_MAX_BYTES || (d->len_bytes & 31))
		return DEVIF_ST_BAD_LEN;
	if (!fw_dram_range_ok(f, d->dev_addr, d->len_bytes))
		return DEVIF_ST_BAD_ADDR;
	return DEVIF_ST_OK;
}

static uint16_t fw_check_map(const struct devif_desc *d)
{
	if (!fw_unused_zero(d, U_REGION | U_LEN | U_HOST | U_VA) || d->region >= DEVIF_REGIONS)
		return DEVIF_ST_BAD_PARAM;
	if (d->host_addr + d->len_bytes < d->host_addr)
		return DEVIF_ST_BAD_ADDR;
	return DEVIF_ST_OK;
}

static bool fw_opcode_served(const struct fw *f, unsigned op)
{
	if (op >= DEVIF_OP_COUNT)
		return false;
	if (op >= DEVIF_OP_ENGINE_FIRST && op <= DEVIF_OP_ENGINE_LAST)
		return f->die.opcodes & (1u << (op - DEVIF_OP_ENGINE_FIRST));
	return true;
}

/* The status a descriptor earns before any work: OK or the class of the
 * first broken field (opcode, then flags, then the opcode's fields). */
static uint16_t fw_check(struct fw *f, const struct devif_desc *d)
{
	unsigned op = d->opcode;

	if (!fw_opcode_served(f, op))
		return DEVIF_ST_BAD_OPCODE;
	if (op == DEVIF_OP_MESH_SEND)
		return fw_mesh_check(f, d);
	if (d->flags)
		return DEVIF_ST_BAD_FLAGS;
	if (op >= DEVIF_OP_ENGINE_FIRST && op <= DEVIF_OP_ENGINE_LAST)
		return fw_check_engine(f, d);
	if (op == DEVIF_OP_DMA_TO_DEV || op == DEVIF_OP_DMA_FROM_DEV)
		return fw_check_dma(f, d);
	if (op == DEVIF_OP_REGION_MAP)
		return fw_check_map(d);
	return fw_unused_zero(d, 0) ? DEVIF_ST_OK : DEVIF_ST_BAD_PARAM; /* NOP */
}

/* ---- dispatch ---- */

/* Start a host <-> DRAM transfer; false when the DMA engine is full. */
static bool fw_start_dma(struct fw *f, int job, const struct devif_desc *d)
{
	struct fw_dma x = {
		.kind = d->opcode == DEVIF_OP_DMA_TO_DEV ? FW_DMA_HOST_TO_DRAM : FW_DMA_DRAM_TO_HOST,
		.len_bytes = d->len_bytes,
		.host_addr = d->host_addr,
		.dram_addr = d->dev_addr,
		.cookie = FW_CK(FW_CK_JOB, job),
	};
	int rc = f->hal.dma_submit(f->hal.ctx, &x);

	if (rc == -FW_EAGAIN)
		return false;
	if (rc) {
		fw_job_finish(f, job, DEVIF_ST_DMA_ERR);
		return true;
	}
	f->jobs[job].state = FW_JOB_DMA;
	f->jobs[job].pending = 1;
	return true;
}

/* Serve one checked-OK descriptor in job; false to retry it later (the
 * job is then released). */
static bool fw_start(struct fw *f, int job, const struct devif_desc *d)
{
	unsigned op = d->opcode;

	if (op >= DEVIF_OP_ENGINE_FIRST && op <= DEVIF_OP_ENGINE_LAST) {
		if (!fw_die_has_room(f))
			return false;
		fw_die_post(f, job, d);
		return true;
	}
	if (op == DEVIF_OP_DMA_TO_DEV || op == DEVIF_OP_DMA_FROM_DEV)
		return fw_start_dma(f, job, d);
	if (op == DEVIF_OP_MESH_SEND)
		return fw_mesh_send_start(f, job, d);
	if (op == DEVIF_OP_REGION_MAP)
		fw_mesh_map(f, d);
	fw_job_finish(f, job, DEVIF_ST_OK);
	return true;
}

/* Take the next fetched descriptor if resources allow; false to stop. */
static bool fw_dispatch_one(struct fw *f)
{
	const struct devif_desc *d = &f->batch[f->batch_i];
	uint32_t index = f->batch_first + f->batch_i;

	if (f->jobs_used >= FW_MAX_JOBS || !fw_stage_has_room(f))
		return false;
	uint16_t st = f->batch_err ? DEVIF_ST_DMA_ERR : fw_check(f, d);
	int job = fw_job_alloc(f, f->batch_err ? 0 : d, index);
	if (st != DEVIF_ST_OK) {
		fw_job_finish(f, job, st);
	} else if (!fw_start(f, job, d)) {
		fw_job_free(f, job);
		return false;
	}
	f->batch_i++;
	f->sq_head++;
	f->stats.descs++;
	return true;
}

static void fw_dispatch(struct fw *f)
{
	while (f->batch_i < f->batch_n && fw_dispatch_one(f))
		;
}

/* Fetch the next run of posted descriptors (not crossing the ring's end)
 * once the last batch is served. */
static void fw_fetch(struct fw *f)
{
	if (!(f->ctrl & DEVIF_CTRL_ENABLE) || f->fetch_busy || f->batch_i < f->batch_n ||
	    f->fetch_next == f->doorbell)
		return;
	uint32_t mask = fw_entries(f) - 1, slot = f->fetch_next & mask;
	uint32_t n = f->doorbell - f->fetch_next;
	if (n > FW_FETCH_BATCH)
		n = FW_FETCH_BATCH;
	if (n > fw_entries(f) - slot)
		n = fw_entries(f) - slot;
	struct fw_dma x = {
		.kind = FW_DMA_HOST_TO_LOCAL,
		.len_bytes = n * (uint32_t)sizeof(struct devif_desc),
		.host_addr = f->sq_base + (uint64_t)slot * sizeof(struct devif_desc),
		.cookie = FW_CK(FW_CK_FETCH, n),
		.local = f->batch,
	};
	if (f->hal.dma_submit(f->hal.ctx, &x) == 0)
		f->fetch_busy = true;
}

static void fw_fetch_done(struct fw *f, uint32_t n, int status)
{
	f->fetch_busy = false;
	f->batch_first = f->fetch_next;
	f->batch_n = n;
	f->batch_i = 0;
	f->batch_err = status != 0;
	f->batch_t = fw_now(f);
	f->fetch_next += n;
}

/* ---- DMA completions ---- */

static void fw_job_dma_done(struct fw *f, uint32_t job, int status)
{
	if (job >= FW_MAX_JOBS || f->jobs[job].state != FW_JOB_DMA)
		return;
	struct fw_job *x = &f->jobs[job];

	if (status)
		x->status = DEVIF_ST_DMA_ERR;
	if (--x->pending == 0)
		fw_job_finish(f, (int)job, x->status);
}

static void fw_reap(struct fw *f)
{
	uint32_t cookie;
	int status;

	for (int i = 0; i < FW_REAP_PER_STEP; i++) {
		if (f->hal.dma_reap(f->hal.ctx, &cookie, &status) != 1)
			return;
		uint32_t low = FW_CK_LOW(cookie);
		switch (FW_CK_KIND(cookie)) {
		case FW_CK_FETCH: fw_fetch_done(f, low, status); break;
		case FW_CK_COMP: f->stats.comp_dma_errors += status != 0; break;
		case FW_CK_JOB: fw_job_dma_done(f, low, status); break;
		default: fw_mesh_dma_done(f, cookie, status); break;
		}
	}
}

/* ---- records and interrupts ---- */

static void fw_overrun(struct fw *f)
{
	if (!f->overrun_pending || !fw_stage_has_room(f))
		return;
	struct devif_comp c = { .index = f->overrun_value, .status = DEVIF_ST_RING_OVERRUN };
	fw_stage_push(f, &c);
	f->overrun_pending = false;
}

/* Write staged records while the host's ring has room. */
static void fw_flush(struct fw *f)
{
	if (!(f->ctrl & DEVIF_CTRL_ENABLE))
		return;
	while (f->stage_count && f->cq_tail - f->cq_head < fw_entries(f)) {
		struct devif_comp *c = &f->stage[f->stage_head];
		c->phase = (uint8_t)(((f->cq_tail >> f->log2) & 1) ^ 1);
		struct fw_dma x = {
			.kind = FW_DMA_LOCAL_TO_HOST,
			.len_bytes = sizeof(*c),
			.host_addr = f->cq_base + (uint64_t)(f->cq_tail & (fw_entries(f) - 1)) * sizeof(*c),
			.cookie = FW_CK(FW_CK_COMP, 0),
			.local = c,
		};
		if (f->hal.dma_submit(f->hal.ctx, &x) != 0)
			return; /* -EAGAIN: next step */
		bool err = c->status != DEVIF_ST_OK;
		f->stage_head = (f->stage_head + 1) % FW_STAGE;
		f->stage_count--;
		f->cq_tail++;
		f->stats.errors += err;
		f->irq_status |= DEVIF_IRQ_COMP | (err ? DEVIF_IRQ_ERR : 0);
		if (f->unsignalled++ == 0)
			f->t_unsignalled = fw_now(f);
		f->err_unsignalled |= err;
	}
}

/* One interrupt message per batch of records: when coal_count are
 * waiting, when the oldest has waited coal_cycles, or at once for an error
 * record with errors enabled. */
static void fw_irq(struct fw *f)
{
	if (!f->unsignalled || !(f->irq_status & f->irq_enable))
		return;
	bool due = f->unsignalled >= f->coal_count ||
		   (f->err_unsignalled && (f->irq_enable & DEVIF_IRQ_ERR)) ||
		   (f->coal_cycles && fw_now(f) - f->t_unsignalled >= f->coal_cycles);
	if (!due)
		return;
	f->hal.irq(f->hal.ctx, 0);
	f->stats.irqs++;
	f->unsignalled = 0;
	f->err_unsignalled = false;
}

int fw_step(struct fw *f)
{
	if (!f || !f->hal.cycles)
		return -FW_EINVAL;
	fw_reap(f);
	int rc = fw_die_poll(f);
	if (rc)
		return rc;
	fw_mesh_step(f);
	fw_overrun(f);
	fw_dispatch(f);
	fw_fetch(f);
	fw_flush(f);
	fw_irq(f);
	return 0;
}
