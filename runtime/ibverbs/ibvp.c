/*
 * ibvp.c - the ibverbs provider: Loom's transport API on rdma-core's
 * libibverbs, for real RDMA NICs (InfiniBand, RoCE) and Linux soft-RoCE
 * (rxe).  This file: devices (listing, opening on a port, choosing the GID,
 * the address), protection domains, memory regions, and the ops table.
 *
 * Not here: CQs and completions (ibvp_cq.c), QPs and posting (ibvp_qp.c),
 * the enum and attribute tables (ibvp_xlate.c), loading the library
 * (ibvp_lib.c).  The objects are the NIC's: keys are the NIC's lkey/rkey
 * (mlx5 gives both the same value, so unlike udp and shm an lkey may work
 * as an rkey), the NIC checks bounds and rights and reports violations as
 * completion statuses, and the NIC makes progress: there is no thread and
 * no progress hook.  Counters are left 0 (the NIC's own are in sysfs and
 * `rdma statistic`).
 *
 * Options: port (default: the first ACTIVE port), gid_index (default: the
 * first RoCE v2 GID of an IPv4 address, else the first RoCE v2 GID, else
 * the first non-zero one; 0 on InfiniBand), sl (service level, 0), tclass
 * (GRH traffic class, 0), atomic_be_reply (whether the NIC returns an
 * atomic's fetched value big-endian, which the provider then swaps to host
 * order when the WR completes; default by vendor, see below).
 * Concurrency: as the core's (provider.h) plus ibvp.h's contract.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "ibvp.h"

#define GID_SCAN_MAX 256
#define IBVP_VENDOR_MELLANOX 0x02c9 /* IEEE OUI of Mellanox, now NVIDIA networking */
#define OPT_ABSENT UINT64_MAX

static const struct tp_opt_spec ibvp_opts[] = {
	{ "port", TP_OPT_U64, 1, 255, "port number (default: the first active port)" },
	{ "gid_index", TP_OPT_U64, 0, 255, "GID table index (default: a RoCE v2 IPv4 GID)" },
	{ "sl", TP_OPT_U64, 0, 15, "service level of the address vectors" },
	{ "tclass", TP_OPT_U64, 0, 255, "GRH traffic class (RoCE: DSCP << 2)" },
	{ "atomic_be_reply", TP_OPT_BOOL, 0, 0,
	  "the NIC returns fetched atomic values big-endian (default: yes for Mellanox/NVIDIA "
	  "on a little-endian host)" },
	{ .key = NULL },
};

/* ---- devices -------------------------------------------------------------- */

static bool dev_usable(struct ibv_device *d)
{
	/* IB transport covers InfiniBand and RoCE; iWARP needs rdma_cm. */
	return d->transport_type == IBV_TRANSPORT_IB;
}

static int no_devices(int listed, int err)
{
	char why[96] = "";

	if (listed)
		snprintf(why, sizeof(why), ", none InfiniBand or RoCE");
	else if (err)
		snprintf(why, sizeof(why), ": %s", strerror(err));
	return loom_err_set(ENODEV, "ibverbs: no RDMA devices (libibverbs found %d devices%s; "
			    "is a NIC or rxe configured?)", listed, why);
}

static int ibvp_get_devices(struct tp_device_info *list, int max)
{
	const struct ibvp_lib *lib = ibvp_lib_get();
	struct ibv_device **devs;
	int n = 0, found = 0;

	if (!lib)
		return 0; /* no library is no device; the loader said why */
	devs = lib->get_device_list(&n);
	if (!devs) {
		no_devices(0, errno);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		if (!dev_usable(devs[i]))
			continue;
		if (found < max) {
			memset(&list[found], 0, sizeof(list[found]));
			snprintf(list[found].provider, TP_NAME_MAX, "ibverbs");
			snprintf(list[found].name, TP_NAME_MAX, "%s",
				 lib->get_device_name(devs[i]));
		}
		found++;
	}
	lib->free_device_list(devs);
	if (!found)
		no_devices(n, 0);
	return found;
}

/* Open the device called name into d->ctx; its sysfs path into path. */
static int dev_open_ctx(struct ibvp_device *d, const char *name, char *path, size_t path_len)
{
	const struct ibvp_lib *lib = d->lib;
	struct ibv_device **devs;
	int n = 0, err = 0, i;

	devs = lib->get_device_list(&n);
	if (!devs)
		return no_devices(0, errno);
	for (i = 0; i < n; i++)
		if (strcmp(lib->get_device_name(devs[i]), name) == 0)
			break;
	if (i == n) {
		err = loom_err_set(ENODEV, "ibverbs: no device '%s' (libibverbs lists %d)", name, n);
	} else if (!dev_usable(devs[i])) {
		err = loom_err_set(EPROTONOSUPPORT, "ibverbs: %s is not InfiniBand or RoCE "
				   "(iWARP and others are not supported)", name);
	} else {
		snprintf(path, path_len, "%s", devs[i]->ibdev_path);
		d->ctx = lib->open_device(devs[i]);
		if (!d->ctx)
			err = loom_err_set(errno ? errno : EIO, "ibverbs: ibv_open_device %s: %s",
					   name, strerror(errno ? errno : EIO));
	}
	lib->free_device_list(devs);
	return err;
}

/* Query port p (1-based); -ENETDOWN unless it is ACTIVE. */
static int port_query(struct ibvp_device *d, unsigned p, struct ibv_port_attr *pa)
{
	int rc;

	memset(pa, 0, sizeof(*pa));
	rc = d->lib->query_port(d->ctx, (uint8_t)p, pa);
	if (rc)
		return loom_err_set(rc, "ibverbs: %s: ibv_query_port %u: %s", d->base.name, p,
				    strerror(rc));
	if (pa->state != IBV_PORT_ACTIVE)
		return loom_err_set(ENETDOWN, "ibverbs: %s port %u is not ACTIVE (state %d); "
				    "choose another with port=N", d->base.name, p, pa->state);
	return 0;
}

/* The port from the options, or the first ACTIVE one. */
static int port_pick(struct ibvp_device *d, const struct tp_opts *o, struct ibv_port_attr *pa)
{
	uint64_t want = tp_opts_u64(o, "port", OPT_ABSENT);
	int err = 0;

	if (want != OPT_ABSENT) {
		if (want > d->attr.phys_port_cnt)
			return loom_err_set(EINVAL, "ibverbs: %s has %u port(s), not %llu",
					    d->base.name, d->attr.phys_port_cnt,
					    (unsigned long long)want);
		err = port_query(d, (unsigned)want, pa);
		d->port.port_num = (uint8_t)want;
		return err;
	}
	for (unsigned p = 1; p <= d->attr.phys_port_cnt; p++) {
		err = port_query(d, p, pa);
		if (!err) {
			d->port.port_num = (uint8_t)p;
			return 0;
		}
	}
	return err ? err : loom_err_set(ENETDOWN, "ibverbs: %s has no port", d->base.name);
}

/* How much we like GID index i for RoCE: 0 = unusable (zero), then
 * higher is better (RoCE v2, then an IPv4-mapped address). */
static int gid_score(struct ibvp_device *d, const char *path, int i, union ibv_gid *gid)
{
	static const uint8_t zero[16], v4_prefix[12] = { [10] = 0xff, [11] = 0xff };
	char file[512], type[32] = "";
	FILE *f;
	int score = 1;

	if (d->lib->query_gid(d->ctx, d->port.port_num, i, gid) || !memcmp(gid->raw, zero, 16))
		return 0;
	snprintf(file, sizeof(file), "%s/ports/%u/gid_attrs/types/%d", path, d->port.port_num, i);
	f = fopen(file, "r");
	if (f) {
		if (!fgets(type, sizeof(type), f))
			type[0] = 0;
		fclose(f);
	}
	if (strncmp(type, "RoCE v2", 7) == 0)
		score += 2;
	if (memcmp(gid->raw, v4_prefix, 12) == 0)
		score += 1;
	return score;
}

static int gid_pick(struct ibvp_device *d, const struct tp_opts *o, const char *path,
		    int tbl_len)
{
	uint64_t want = tp_opts_u64(o, "gid_index", OPT_ABSENT);
	bool roce = d->port.link_layer == IBV_LINK_LAYER_ETHERNET;
	int best = -1, best_score = 0;
	union ibv_gid gid;

	if (want != OPT_ABSENT || !roce) { /* InfiniBand: index 0, the port GUID's */
		int i = want != OPT_ABSENT ? (int)want : 0;

		if (i >= tbl_len || (roce ? !gid_score(d, path, i, &gid) :
				     d->lib->query_gid(d->ctx, d->port.port_num, i, &gid)))
			return loom_err_set(EINVAL, "ibverbs: %s port %u: GID index %d is empty or "
					    "beyond the table (%d entries)", d->base.name,
					    d->port.port_num, i, tbl_len);
		d->port.gid_index = (uint8_t)i;
		d->port.gid = gid;
		return 0;
	}
	for (int i = 0; i < tbl_len && i < GID_SCAN_MAX; i++) {
		int s = gid_score(d, path, i, &gid);

		if (s > best_score) {
			best = i;
			best_score = s;
			d->port.gid = gid;
		}
	}
	if (best < 0)
		return loom_err_set(EADDRNOTAVAIL, "ibverbs: %s port %u has no GID (no IP address "
				    "on its netdev?)", d->base.name, d->port.port_num);
	d->port.gid_index = (uint8_t)best;
	return 0;
}

/* Mellanox/NVIDIA HCAs (ConnectX, Connect-IB) on a little-endian host write
 * the original value an atomic fetched in big-endian (their documentation:
 * "atomic operation replied value is big-endian", MLNX_OFED's
 * IBV_EXP_ATOMIC_HCA_REPLY_BE, which upstream verbs does not report); the
 * operation on the target memory is in host order.  Other NICs, rxe
 * included, reply in host order. */
static bool atomic_reply_be_default(const struct ibvp_device *d)
{
	return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && d->attr.vendor_id == IBVP_VENDOR_MELLANOX;
}

/* Port, GID and limits of an open context. */
static int dev_setup_port(struct ibvp_device *d, const struct tp_opts *o, const char *path)
{
	struct ibv_port_attr pa;
	int rc, err;

	rc = d->lib->query_device(d->ctx, &d->attr);
	if (rc)
		return loom_err_set(rc, "ibverbs: %s: ibv_query_device: %s", d->base.name,
				    strerror(rc));
	err = port_pick(d, o, &pa);
	if (err)
		return err;
	d->port.link_layer = pa.link_layer;
	d->port.lid = pa.lid;
	d->port.active_mtu = pa.active_mtu;
	d->port.sl = (uint8_t)tp_opts_u64(o, "sl", 0);
	d->port.tclass = (uint8_t)tp_opts_u64(o, "tclass", 0);
	d->atomic_reply_be = tp_opts_bool(o, "atomic_be_reply", atomic_reply_be_default(d));
	return gid_pick(d, o, path, pa.gid_tbl_len);
}

static int ibvp_device_open(struct tp_device *dev, const char *name, const struct tp_opts *o)
{
	struct ibvp_device *d = to_ibvp_dev(dev);
	char path[IBV_SYSFS_PATH_MAX] = "";
	int err, fl;

	d->lib = ibvp_lib_get();
	if (!d->lib)
		return -ENODEV;
	err = dev_open_ctx(d, name, path, sizeof(path));
	if (err)
		return err;
	err = dev_setup_port(d, o, path);
	if (err)
		goto err_close;
	/* Async events are read without blocking, from the poll paths. */
	fl = fcntl(d->ctx->async_fd, F_GETFL);
	if (fl < 0 || fcntl(d->ctx->async_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		err = loom_err_set(errno, "ibverbs: %s: async fd: %s", name, strerror(errno));
		goto err_close;
	}
	err = pthread_rwlock_init(&d->qps_lock, NULL);
	if (err) {
		err = loom_err_set(err, "ibverbs: %s: rwlock: %s", name, strerror(err));
		goto err_close;
	}
	return 0;

err_close:
	d->lib->close_device(d->ctx);
	return err;
}

static void ibvp_device_close(struct tp_device *dev)
{
	struct ibvp_device *d = to_ibvp_dev(dev);

	ibvp_async_drain(d); /* acknowledge what is left */
	pthread_rwlock_destroy(&d->qps_lock);
	d->lib->close_device(d->ctx);
}

static int ibvp_device_addr(struct tp_device *dev, struct tp_addr *addr)
{
	ibvp_addr_encode(&to_ibvp_dev(dev)->port, addr);
	return 0;
}

/* ---- protection domains and memory regions ------------------------------------ */

static int ibvp_pd_init(struct tp_pd *pd)
{
	struct ibvp_device *d = to_ibvp_dev(pd->dev);
	struct ibvp_pd *p = to_ibvp_pd(pd);

	p->pd = d->lib->alloc_pd(d->ctx);
	if (!p->pd)
		return loom_err_set(errno ? errno : ENOMEM, "ibverbs: %s: ibv_alloc_pd: %s",
				    d->base.name, strerror(errno ? errno : ENOMEM));
	return 0;
}

static void ibvp_pd_fini(struct tp_pd *pd)
{
	struct ibvp_device *d = to_ibvp_dev(pd->dev);
	int rc = d->lib->dealloc_pd(to_ibvp_pd(pd)->pd);

	if (rc) /* the core checked for children: only a NIC fault is left */
		loom_err_set(rc, "ibverbs: %s: ibv_dealloc_pd: %s", d->base.name, strerror(rc));
}

static int ibvp_mr_init(struct tp_mr_obj *m)
{
	struct ibvp_device *d = to_ibvp_dev(m->dev);
	struct ibvp_mr *r = to_ibvp_mr(m);
	int access = ibvp_access_to_ibv(m->mr.access), e;

	if (access < 0) /* the core refuses unknown bits first */
		return loom_err_set(EINVAL, "ibverbs: mr_reg: access 0x%x", m->mr.access);
	r->mr = d->lib->reg_mr(to_ibvp_pd(m->mr.pd)->pd, m->mr.addr, m->mr.length, access);
	if (!r->mr) {
		e = errno ? errno : ENOMEM;
		return loom_err_set(e, "ibverbs: %s: ibv_reg_mr(%p, %zu bytes): %s%s", d->base.name,
				    m->mr.addr, m->mr.length, strerror(e),
				    e == ENOMEM || e == EPERM ? " (RLIMIT_MEMLOCK: ulimit -l?)" : "");
	}
	m->mr.lkey = r->mr->lkey;
	m->mr.rkey = r->mr->rkey;
	return 0;
}

static void ibvp_mr_fini(struct tp_mr_obj *m)
{
	int rc = to_ibvp_dev(m->dev)->lib->dereg_mr(to_ibvp_mr(m)->mr);

	if (rc)
		loom_err_set(rc, "ibverbs: ibv_dereg_mr: %s", strerror(rc));
}

/* ---- the ops table -------------------------------------------------------------- */

const struct tp_provider_ops ibverbs_provider_ops = {
	.name = "ibverbs",
	.opts = ibvp_opts,
	.device_size = sizeof(struct ibvp_device),
	.qp_size = sizeof(struct ibvp_qp),
	.get_devices = ibvp_get_devices,
	.device_open = ibvp_device_open,
	.device_close = ibvp_device_close,
	.device_addr = ibvp_device_addr,
	.addr_format = ibvp_addr_format,
	.qp_init = ibvp_qp_init,
	.qp_fini = ibvp_qp_fini,
	.qp_modify = ibvp_qp_modify,
	.post_send_kick = ibvp_post_send_kick,
	.progress = NULL, /* the NIC makes progress */
	.pd_size = sizeof(struct ibvp_pd),
	.mr_size = sizeof(struct ibvp_mr),
	.cq_size = sizeof(struct ibvp_cq),
	.pd_init = ibvp_pd_init,
	.pd_fini = ibvp_pd_fini,
	.mr_init = ibvp_mr_init,
	.mr_fini = ibvp_mr_fini,
	.cq_init = ibvp_cq_init,
	.cq_fini = ibvp_cq_fini,
	.cq_poll = ibvp_cq_poll,
	.cq_wait = ibvp_cq_wait,
	.cq_req_notify = ibvp_cq_req_notify,
	.cq_ack_notify = ibvp_cq_ack_notify,
	.post_send = ibvp_post_send,
	.post_recv = ibvp_post_recv,
};
