/*
 * helper_simlink_dev.c - a toy device on the device side of a simlink, for
 * test_simlink: a register file and a DMA engine that copies or fills host
 * memory, raising interrupt 0 when done and 1 on an error.  Not a model of
 * any real device; its register map is spelled out again, independently,
 * in test_simlink.c.
 *
 * Usage: helper_simlink_dev PATH [--unsync] [--latency PS] [--bpc N]
 *        [--credits BYTES] [--queue N] [--payload BYTES] [--interval PS]
 * Serves one host, then exits: 0 when the host left and nothing went
 * wrong, 2 when the link counted a violation, 1 on any other error.
 *
 * BAR0 (4 KiB), 8-byte registers:
 *   0x000 ID (0x4c4f4f4d; writes fail with -EPERM)
 *   0x008 DMA_SRC  0x010 DMA_DST  0x018 DMA_LEN
 *   0x020 DMA_CTRL: 1 copy SRC -> DST, 2 fill DST with (SRC + i) & 0xff,
 *         3 stall for LEN ms of wall time without serving the link
 *   0x028 DMA_STATUS (0 done, 1 busy, negative errno)
 *   0x030 DMA_START_PS (time CTRL arrived)  0x038 DMA_DONE_PS
 *   0x040 LOG: a write of v counts; v != LOG_COUNT counts an order error
 *   0x048 LOG_COUNT  0x050 ORDER_ERR  0x058 LOG_LAST_PS (time of the last)
 *   0x060 NOW_PS  0x068 VIOLATIONS  0x070 BAD_MSGS
 *   0x078 IRQ_RAISE: a write of v raises interrupt v
 *   0x100..0x1ff scratch (any access of 1, 2, 4, 8 bytes)
 * BAR1 (64 KiB): reads 0, writes ignored.  4 interrupt vectors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>

#include "loom/err.h"
#include "loom/simlink.h"

enum {
	R_ID = 0x000, R_SRC = 0x008, R_DST = 0x010, R_LEN = 0x018, R_CTRL = 0x020,
	R_STATUS = 0x028, R_START = 0x030, R_DONE = 0x038, R_LOG = 0x040, R_LOG_COUNT = 0x048,
	R_ORDER_ERR = 0x050, R_LOG_LAST = 0x058, R_NOW = 0x060, R_VIOL = 0x068, R_BAD = 0x070,
	R_IRQ = 0x078,
};

enum engine_state { ENG_IDLE, ENG_COPY_READ, ENG_COPY_WAIT, ENG_COPY_WRITE, ENG_FILL };

struct dev {
	struct simlink *l;
	uint8_t bar0[4096];
	enum engine_state st;
	uint64_t src, dst, len, pos;
	uint32_t chunk, read_id;
	uint8_t buf[1 << 20];
};

static uint64_t reg(const struct dev *d, uint64_t off)
{
	uint64_t v;

	memcpy(&v, d->bar0 + off, 8);
	return v;
}

static void set_reg(struct dev *d, uint64_t off, uint64_t v)
{
	memcpy(d->bar0 + off, &v, 8);
}

static void engine_finish(struct dev *d, int status)
{
	set_reg(d, R_STATUS, (uint64_t)(int64_t)status);
	set_reg(d, R_DONE, simlink_now(d->l));
	d->st = ENG_IDLE;
	simlink_irq(d->l, status ? 1 : 0);
}

static uint32_t chunk_len(const struct dev *d)
{
	uint64_t left = d->len - d->pos, max = simlink_params(d->l)->max_payload;

	return (uint32_t)(left < max ? left : max);
}

/* Issue as much engine work as the link takes now; -EAGAIN: ring full. */
static int engine_step(struct dev *d)
{
	int rc = 0;

	while (rc == 0 && d->st != ENG_IDLE && d->st != ENG_COPY_WAIT) {
		if (d->pos == d->len) {
			engine_finish(d, 0);
			break;
		}
		d->chunk = chunk_len(d);
		if (d->st == ENG_COPY_READ) {
			rc = simlink_dma_read(d->l, d->src + d->pos, d->chunk, &d->read_id);
			if (rc == 0)
				d->st = ENG_COPY_WAIT;
		} else {
			if (d->st == ENG_FILL)
				for (uint32_t i = 0; i < d->chunk; i++)
					d->buf[i] = (uint8_t)(d->src + d->pos + i);
			rc = simlink_dma_write(d->l, d->dst + d->pos, d->buf, d->chunk);
			if (rc == 0) {
				d->pos += d->chunk;
				if (d->st == ENG_COPY_WRITE)
					d->st = ENG_COPY_READ;
			}
		}
		if (rc < 0 && rc != -EAGAIN)
			engine_finish(d, rc);
	}
	return rc == -EAGAIN ? rc : 0;
}

static void dma_cmpl(struct dev *d, const struct simlink_msg *m)
{
	const void *p;

	if (d->st != ENG_COPY_WAIT || m->id != d->read_id)
		return;
	if (m->status < 0) {
		engine_finish(d, m->status);
		return;
	}
	p = simlink_dma_ptr(d->l, m->addr, m->len);
	if (!p) {
		engine_finish(d, -EFAULT);
		return;
	}
	memcpy(d->buf, p, m->len);
	d->st = ENG_COPY_WRITE;
}

static void ctrl(struct dev *d, uint64_t cmd)
{
	set_reg(d, R_START, simlink_now(d->l));
	if (cmd == 3) {
		struct timespec ts = { .tv_sec = (time_t)(reg(d, R_LEN) / 1000),
				       .tv_nsec = (long)(reg(d, R_LEN) % 1000) * 1000000 };

		nanosleep(&ts, NULL);
		return;
	}
	if ((cmd != 1 && cmd != 2) || d->st != ENG_IDLE) {
		set_reg(d, R_STATUS, (uint64_t)(int64_t)-EINVAL);
		return;
	}
	d->src = reg(d, R_SRC);
	d->dst = reg(d, R_DST);
	d->len = reg(d, R_LEN);
	d->pos = 0;
	set_reg(d, R_STATUS, 1);
	d->st = cmd == 1 ? ENG_COPY_READ : ENG_FILL;
}

/* A write's side effects; -EPERM for the read-only ID. */
static int reg_write(struct dev *d, const struct simlink_msg *m)
{
	if (m->bar != 0)
		return 0;
	if (m->addr < 8 && m->addr + m->len > 0)
		return -EPERM;
	memcpy(d->bar0 + m->addr, &m->data, m->len);
	if (m->len != 8)
		return 0;
	if (m->addr == R_CTRL)
		ctrl(d, m->data);
	else if (m->addr == R_LOG) {
		if (m->data != reg(d, R_LOG_COUNT))
			set_reg(d, R_ORDER_ERR, reg(d, R_ORDER_ERR) + 1);
		set_reg(d, R_LOG_COUNT, reg(d, R_LOG_COUNT) + 1);
		set_reg(d, R_LOG_LAST, simlink_now(d->l));
	} else if (m->addr == R_IRQ)
		simlink_irq(d->l, (uint32_t)m->data);
	return 0;
}

static uint64_t reg_read(struct dev *d, const struct simlink_msg *m)
{
	struct simlink_stats st;
	uint64_t v = 0;

	if (m->bar != 0)
		return 0;
	simlink_stats(d->l, &st);
	set_reg(d, R_ID, 0x4c4f4f4d);
	set_reg(d, R_NOW, simlink_now(d->l));
	set_reg(d, R_VIOL, st.violations);
	set_reg(d, R_BAD, st.bad_msgs);
	memcpy(&v, d->bar0 + m->addr, m->len);
	return v;
}

static int serve(struct dev *d, const struct simlink_msg *m)
{
	switch (m->type) {
	case SIMLINK_MMIO_READ:
		return simlink_mmio_complete(d->l, m, reg_read(d, m), 0);
	case SIMLINK_MMIO_WRITE: {
		int st = reg_write(d, m);

		return simlink_mmio_complete(d->l, m, 0, st);
	}
	case SIMLINK_POSTED_WRITE:
		reg_write(d, m);
		return 0;
	case SIMLINK_DMA_READ_CMPL:
		dma_cmpl(d, m);
		return 0;
	default:
		return 0;
	}
}

/* The device loop: until the host leaves.  Returns the exit status. */
static int run(struct dev *d)
{
	struct simlink_msg m;
	struct simlink_stats st;

	for (;;) {
		bool blocked = engine_step(d) == -EAGAIN;
		uint64_t until = blocked ? simlink_now(d->l) + simlink_params(d->l)->ps_per_cycle
					 : SIMLINK_FOREVER;
		int rc = simlink_next(d->l, until, &m);

		if (rc == 1)
			rc = serve(d, &m);
		else if (rc == 0 && !simlink_synchronized(d->l))
			sched_yield();
		if (rc == -ETIMEDOUT)
			continue; /* the host is idle, not gone */
		if (rc == -EPIPE)
			break;
		if (rc < 0) {
			fprintf(stderr, "helper_simlink_dev: %s\n", loom_err_msg());
			return 1;
		}
	}
	simlink_stats(d->l, &st);
	if (st.violations) {
		fprintf(stderr, "helper_simlink_dev: %llu violations\n",
			(unsigned long long)st.violations);
		return 2;
	}
	return 0;
}

static void describe(struct simlink_info *info)
{
	memset(info, 0, sizeof(*info));
	info->n_bars = 2;
	info->n_irqs = 4;
	info->bar_bytes[0] = 4096;
	info->bar_bytes[1] = 65536;
	info->n_blocks = 3;
	info->blocks[0] = (struct simlink_block){ .type = 1, .version = 3, .bar = 0,
						  .offset = 0x100, .bytes = 0x100 };
	info->blocks[1] = (struct simlink_block){ .type = 2, .version = 1, .bar = 0,
						  .offset = 0x008, .bytes = 0x058 };
	info->blocks[2] = (struct simlink_block){ .type = 7, .version = 2, .bar = 1,
						  .offset = 0, .bytes = 65536 };
}

static int parse(int argc, char **argv, struct simlink_params *p)
{
	simlink_params_default(p);
	p->timeout_ms = 60000;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		unsigned long long v = i + 1 < argc ? strtoull(argv[i + 1], NULL, 0) : 0;

		if (!strcmp(a, "--unsync")) {
			p->synchronized = 0;
			continue;
		}
		if (i + 1 >= argc)
			return -1;
		i++;
		if (!strcmp(a, "--latency"))
			p->latency_ps = p->sync_interval_ps = v;
		else if (!strcmp(a, "--interval"))
			p->sync_interval_ps = v;
		else if (!strcmp(a, "--bpc"))
			p->bytes_per_cycle = (uint32_t)v;
		else if (!strcmp(a, "--credits"))
			p->credit_bytes = (uint32_t)v;
		else if (!strcmp(a, "--queue"))
			p->queue_msgs = (uint32_t)v;
		else if (!strcmp(a, "--payload"))
			p->max_payload = (uint32_t)v;
		else
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct dev d;
	struct simlink_params p;
	struct simlink_info info;
	struct simlink_server *s;
	int rc;

	if (argc < 2 || parse(argc, argv, &p) < 0) {
		fprintf(stderr, "usage: helper_simlink_dev PATH [--unsync] [--latency PS] "
			"[--interval PS] [--bpc N] [--credits BYTES] [--queue N] [--payload BYTES]\n");
		return 1;
	}
	describe(&info);
	s = simlink_dev_listen(argv[1]);
	if (!s) {
		fprintf(stderr, "helper_simlink_dev: %s\n", loom_err_msg());
		return 1;
	}
	d.l = simlink_dev_accept(s, &info, &p, 10000);
	simlink_server_close(s);
	if (!d.l) {
		fprintf(stderr, "helper_simlink_dev: %s\n", loom_err_msg());
		return 1;
	}
	rc = run(&d);
	simlink_close(d.l);
	return rc;
}
