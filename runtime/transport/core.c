/*
 * core.c - the transport core: the provider table, devices, protection
 * domains, counters, name tables and the IBA timer encodings.  Contract in
 * include/loom/transport.h; the provider interface in provider.h.
 *
 * Not here: MRs (mr.c), CQs (cq.c), QPs and work requests (qp.c,
 * qp_state.c), option parsing (opts.c).  Concurrency: device and PD calls
 * take tp_device.lock only to update child counts; everything else they
 * touch is immutable after open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loom/err.h"
#include "provider.h"

/* ---- the provider table ------------------------------------------------- */

/* Every provider Loom knows, in listing order.  A NULL ops is a provider
 * whose code is not in this build: it is reported as such, never faked. */
static const struct tp_provider_entry {
	const char *name;
	const struct tp_provider_ops *ops;
} tp_providers[] = {
	{ "udp", &udp_provider_ops },
	{ "shm", &shm_provider_ops },
	{ "ibverbs", &ibverbs_provider_ops },
};

#define TP_N_PROVIDERS (sizeof(tp_providers) / sizeof(tp_providers[0]))

static const struct tp_provider_entry *provider_find(const char *name)
{
	for (size_t i = 0; i < TP_N_PROVIDERS; i++)
		if (strcmp(tp_providers[i].name, name) == 0)
			return &tp_providers[i];
	return NULL;
}

/* The ops of provider name, or NULL with the reason (-EINVAL unknown,
 * -ENODEV not built) in *err. */
static const struct tp_provider_ops *provider_ops(const char *name, int *err)
{
	const struct tp_provider_entry *p;

	if (!name) {
		*err = loom_err_set(EINVAL, "transport: provider name is NULL");
		return NULL;
	}
	p = provider_find(name);
	if (!p) {
		*err = loom_err_set(EINVAL, "transport: unknown provider '%s' (known: udp, shm, "
				    "ibverbs)", name);
		return NULL;
	}
	if (!p->ops) {
		*err = loom_err_set(ENODEV, "transport: provider '%s' is not built yet", name);
		return NULL;
	}
	return p->ops;
}

/* ---- devices ------------------------------------------------------------ */

int tp_get_devices(const char *provider, struct tp_device_info *list, int max)
{
	int total = 0, err;

	if (max < 0 || (max > 0 && !list))
		return loom_err_set(EINVAL, "transport: get_devices: list=%p max=%d", (void *)list,
				    max);
	if (provider) {
		const struct tp_provider_ops *ops = provider_ops(provider, &err);
		return ops ? ops->get_devices(list, max) : err;
	}
	for (size_t i = 0; i < TP_N_PROVIDERS; i++) {
		const struct tp_provider_ops *ops = tp_providers[i].ops;
		int n;

		if (!ops) {
			loom_err_set(ENODEV, "transport: provider '%s' is not built yet",
				     tp_providers[i].name);
			continue;
		}
		n = ops->get_devices(total < max ? list + total : NULL,
				     total < max ? max - total : 0);
		if (n > 0)
			total += n;
	}
	return total;
}

static int device_init_generic(struct tp_device *dev, const struct tp_provider_ops *ops,
			       const char *name)
{
	int err;

	dev->ops = ops;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	err = pthread_mutex_init(&dev->lock, NULL);
	if (err)
		return loom_err_set(err, "transport: device mutex: %s", strerror(err));
	err = tp_mr_table_init(&dev->mrs);
	if (err)
		pthread_mutex_destroy(&dev->lock);
	return err;
}

static void device_fini_generic(struct tp_device *dev)
{
	tp_mr_table_fini(&dev->mrs);
	pthread_mutex_destroy(&dev->lock);
}

/* name, or the provider's first device when name is NULL. */
static int device_name(const struct tp_provider_ops *ops, const char *name, char *out)
{
	struct tp_device_info info;
	int n;

	if (name) {
		if (strlen(name) >= TP_NAME_MAX)
			return loom_err_set(EINVAL, "%s: device name too long", ops->name);
		strcpy(out, name);
		return 0;
	}
	loom_err_set(0, "%s", ""); /* a provider with no device says why */
	n = ops->get_devices(&info, 1);
	if (n < 0)
		return n;
	if (n == 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", loom_err_msg());
		return loom_err_set(ENODEV, "%s: no device%s%s%s", ops->name, *why ? " (" : "",
				    why, *why ? ")" : "");
	}
	strcpy(out, info.name);
	return 0;
}

struct tp_device *tp_device_open(const char *provider, const char *name,
				 const char *const *opts)
{
	const struct tp_provider_ops *ops;
	struct tp_opts o;
	char dev_name[TP_NAME_MAX];
	struct tp_device *dev;
	int err;

	ops = provider_ops(provider, &err);
	if (!ops)
		return NULL;
	if (tp_opts_parse(ops, opts, getenv("LOOM_TP_OPTS"), &o) < 0)
		return NULL;
	if (device_name(ops, name, dev_name) < 0)
		return NULL;
	dev = calloc(1, ops->device_size);
	if (!dev) {
		loom_err_set(ENOMEM, "%s: out of memory for a device", ops->name);
		return NULL;
	}
	if (device_init_generic(dev, ops, dev_name) < 0)
		goto err_free;
	if (ops->device_open(dev, dev_name, &o) < 0)
		goto err_fini;
	return dev;

err_fini:
	device_fini_generic(dev);
err_free:
	free(dev);
	return NULL;
}

int tp_device_close(struct tp_device *dev)
{
	int n_pd, n_cq, n_mem;

	if (!dev)
		return loom_err_set(EINVAL, "transport: device_close: dev is NULL");
	pthread_mutex_lock(&dev->lock);
	n_pd = dev->n_pd;
	n_cq = dev->n_cq;
	n_mem = dev->n_mem;
	pthread_mutex_unlock(&dev->lock);
	if (n_pd || n_cq || n_mem)
		return loom_err_set(EBUSY, "%s: device %s still has %d PD(s), %d CQ(s) and %d "
				    "tp_mem block(s)", dev->ops->name, dev->name, n_pd, n_cq,
				    n_mem);
	dev->ops->device_close(dev);
	device_fini_generic(dev);
	free(dev);
	return 0;
}

int tp_device_addr(struct tp_device *dev, struct tp_addr *addr)
{
	if (!dev || !addr)
		return loom_err_set(EINVAL, "transport: device_addr: NULL argument");
	memset(addr, 0, sizeof(*addr));
	return dev->ops->device_addr(dev, addr);
}

int tp_addr_format(struct tp_device *dev, const struct tp_addr *addr, char *buf, size_t len)
{
	if (!dev || !addr || !buf || len == 0)
		return loom_err_set(EINVAL, "transport: addr_format: NULL argument or len 0");
	if (addr->len > TP_ADDR_MAX)
		return loom_err_set(EINVAL, "transport: addr_format: len %u > %d", addr->len,
				    TP_ADDR_MAX);
	return dev->ops->addr_format(addr, buf, len);
}

int tp_device_counters(struct tp_device *dev, struct tp_counters *c)
{
	uint64_t *out = (uint64_t *)c;

	if (!dev || !c)
		return loom_err_set(EINVAL, "transport: device_counters: NULL argument");
	for (size_t i = 0; i < TP_CNT_N; i++)
		out[i] = atomic_load_explicit(&dev->counters[i], memory_order_relaxed);
	return 0;
}

/* ---- protection domains ---------------------------------------------------- */

struct tp_pd *tp_pd_alloc(struct tp_device *dev)
{
	struct tp_pd *pd;

	if (!dev) {
		loom_err_set(EINVAL, "transport: pd_alloc: dev is NULL");
		return NULL;
	}
	pd = calloc(1, dev->ops->pd_size ? dev->ops->pd_size : sizeof(*pd));
	if (!pd) {
		loom_err_set(ENOMEM, "%s: out of memory for a PD", dev->ops->name);
		return NULL;
	}
	pd->dev = dev;
	if (dev->ops->pd_init && dev->ops->pd_init(pd) < 0) {
		free(pd);
		return NULL;
	}
	pthread_mutex_lock(&dev->lock);
	dev->n_pd++;
	pthread_mutex_unlock(&dev->lock);
	return pd;
}

int tp_pd_free(struct tp_pd *pd)
{
	struct tp_device *dev;
	int n_mr, n_qp;

	if (!pd)
		return loom_err_set(EINVAL, "transport: pd_free: pd is NULL");
	dev = pd->dev;
	pthread_mutex_lock(&dev->lock);
	n_mr = pd->n_mr;
	n_qp = pd->n_qp;
	if (!n_mr && !n_qp)
		dev->n_pd--;
	pthread_mutex_unlock(&dev->lock);
	if (n_mr || n_qp)
		return loom_err_set(EBUSY, "%s: PD still has %d MR(s) and %d QP(s)",
				    dev->ops->name, n_mr, n_qp);
	if (dev->ops->pd_fini)
		dev->ops->pd_fini(pd);
	free(pd);
	return 0;
}

/* ---- name tables -------------------------------------------------------------- */

static const char *const wc_status_names[] = {
	[TP_WC_SUCCESS] = "SUCCESS",
	[TP_WC_LOC_LEN_ERR] = "LOC_LEN_ERR",
	[TP_WC_LOC_QP_OP_ERR] = "LOC_QP_OP_ERR",
	[TP_WC_LOC_PROT_ERR] = "LOC_PROT_ERR",
	[TP_WC_WR_FLUSH_ERR] = "WR_FLUSH_ERR",
	[TP_WC_MW_BIND_ERR] = "MW_BIND_ERR",
	[TP_WC_BAD_RESP_ERR] = "BAD_RESP_ERR",
	[TP_WC_LOC_ACCESS_ERR] = "LOC_ACCESS_ERR",
	[TP_WC_REM_INV_REQ_ERR] = "REM_INV_REQ_ERR",
	[TP_WC_REM_ACCESS_ERR] = "REM_ACCESS_ERR",
	[TP_WC_REM_OP_ERR] = "REM_OP_ERR",
	[TP_WC_RETRY_EXC_ERR] = "RETRY_EXC_ERR",
	[TP_WC_RNR_RETRY_EXC_ERR] = "RNR_RETRY_EXC_ERR",
	[TP_WC_FATAL_ERR] = "FATAL_ERR",
	[TP_WC_GENERAL_ERR] = "GENERAL_ERR",
};

static const char *const wc_opcode_names[] = {
	[TP_WC_SEND] = "SEND",
	[TP_WC_RDMA_WRITE] = "RDMA_WRITE",
	[TP_WC_RDMA_READ] = "RDMA_READ",
	[TP_WC_COMP_SWAP] = "COMP_SWAP",
	[TP_WC_FETCH_ADD] = "FETCH_ADD",
	[TP_WC_RECV] = "RECV",
	[TP_WC_RECV_RDMA_WITH_IMM] = "RECV_RDMA_WITH_IMM",
};

const char *tp_wc_status_str(enum tp_wc_status s)
{
	if ((unsigned)s >= sizeof(wc_status_names) / sizeof(wc_status_names[0]))
		return "UNKNOWN_STATUS";
	return wc_status_names[s];
}

const char *tp_wc_opcode_str(enum tp_wc_opcode op)
{
	if ((unsigned)op >= sizeof(wc_opcode_names) / sizeof(wc_opcode_names[0]))
		return "UNKNOWN_OPCODE";
	return wc_opcode_names[op];
}

/* ---- time and IBA encodings ------------------------------------------------------ */

uint64_t tp_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t tp_ack_timeout_us(uint8_t timeout)
{
	if (timeout == 0)
		return 0;
	if (timeout > 31)
		timeout = 31;
	/* 4.096 us * 2^t = 4096 ns << t */
	return ((uint64_t)4096 << timeout) / 1000;
}

/* IBA table 45 (RNR NAK timer field), in units of 10 us; code 0 is the
 * longest, 655.36 ms. */
static const uint32_t rnr_timer_10us[32] = {
	65536, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192,
	256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576,
	32768, 49152,
};

uint64_t tp_rnr_timer_us(uint8_t enc)
{
	return (uint64_t)rnr_timer_10us[enc & 31] * 10;
}
