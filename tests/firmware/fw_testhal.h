/*
 * fw_testhal.h - a test double for the firmware's HAL, for host unit
 * tests of the firmware's logic only: a software model of host memory and
 * rings, a logic die that is nothing but its register chain plus a ring
 * that completes each descriptor at the doorbell (no engines, no timing),
 * a DMA engine that may finish transfers in random order, and a mesh that
 * may deliver messages in random order.  It is not the emulator: loom-emud
 * runs the same firmware against the RTL models.
 */
#ifndef LOOM_TESTS_FW_TESTHAL_H
#define LOOM_TESTS_FW_TESTHAL_H

#include "firmware/fw.h"
#include "loom/rng.h"

#include <stdbool.h>
#include <stdint.h>

#define TH_HOST_BYTES (1u << 20)
#define TH_DRAM_LOG2 16
#define TH_SQ_AT 0x0u
#define TH_CQ_AT 0x20000u
#define TH_MAX_DMA 64
#define TH_MAX_MSGS 1024

struct th_dma {
	struct fw_dma d;
	uint8_t *copy; /* LOCAL_TO_HOST bytes taken at submit */
};

struct th_msg {
	unsigned src, dst;
	uint32_t len;
	uint8_t *bytes;
};

struct th_mesh {
	struct th_msg m[TH_MAX_MSGS];
	int n;
	bool random;	 /* deliver in random order, sometimes not at all */
	int cap;	 /* messages in flight before ni_send says -EAGAIN */
	struct loom_rng rng;
};

struct th_die {
	uint32_t regs[RTL_MFLD_MMIO_BYTES / 4];
	uint32_t q;	     /* queue block, where the doorbell is watched */
	int reject_op;	     /* die op answered RTL_MFLD_ST_ENGINE; -1 none */
	struct rtl_mfld_desc last; /* the last descriptor served */
	unsigned served;
};

struct th_dev {
	struct fw fw;
	struct th_die die;
	uint8_t *host, *dram;
	struct th_dma q[TH_MAX_DMA];
	int nq, cap;	     /* cap: transfers in flight before -EAGAIN */
	bool random;	     /* finish transfers in random order, with delays */
	struct loom_rng rng;
	uint64_t cycle;
	unsigned irqs;
	unsigned rank;
	struct th_mesh *mesh;
	/* the host side's view */
	uint32_t log2, posted, cq_seen;
	/* hook: called when a LOCAL_TO_HOST transfer lands (the test's model) */
	void (*on_land)(struct th_dev *d, uint64_t addr, uint32_t len, int status);
	/* hook: called when ni_recv hands over a message */
	void (*on_recv)(struct th_dev *d, unsigned src, const uint8_t *bytes, uint32_t len);
	void *user;
};

void th_die_default(struct th_die *die);
/* allocate a device; mesh may be NULL */
struct th_dev *th_dev_new(unsigned rank, struct th_mesh *mesh, uint64_t seed);
void th_dev_free(struct th_dev *d);
struct fw_hal th_hal(struct th_dev *d);
int th_init(struct th_dev *d, unsigned ranks);
/* rings at TH_SQ_AT / TH_CQ_AT, 2^log2 entries, enable, interrupts on */
void th_rings(struct th_dev *d, uint32_t log2);
/* one firmware step and one clock */
int th_step(struct th_dev *d);
/* host: post one descriptor (false: the ring is full); ring the doorbell */
bool th_post(struct th_dev *d, const struct devif_desc *x);
/* host: take up to max new records (phase bit), report them in CQ_HEAD */
int th_poll(struct th_dev *d, struct devif_comp *out, int max);
uint32_t th_reg(struct th_dev *d, uint32_t off);
void th_mesh_init(struct th_mesh *m, uint64_t seed);
void th_mesh_free(struct th_mesh *m);

#endif
