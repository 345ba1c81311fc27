/*
 * fabric_tcp.h - the libfabric baseline of bench_transport.c: RDMA WRITE
 * bandwidth and WRITE/READ latency with fi_write/fi_read over libfabric's
 * `tcp` provider (FI_EP_RDM, i.e. tcp;ofi_rxm) between two processes on
 * 127.0.0.1, measured as `loom perf` measures (perftest's definitions).
 * Debian's libfabric tools have no RMA benchmark (fabtests is not
 * packaged), hence this harness.  Header-only: included once.
 *
 * libfabric is loaded at run time (dlopen "libfabric.so.1"), so the bench
 * links without it; the headers come from libfabric-dev (make deps).  Only
 * fi_getinfo, fi_freeinfo, fi_dupinfo, fi_fabric and fi_strerror are
 * library symbols; every other fi_* call is an inline through the objects'
 * ops tables.  Without the headers, fabric_available() says why and the
 * bench prints no libfabric figures.
 *
 * Shape of a run: fork; the child is the target (passive for write_bw and
 * read_lat, the ponger for write_lat); both swap (endpoint name, buffer
 * address, MR key) through pipes, then the parent measures.  The target
 * makes progress by reading its CQ (the tcp provider's progress is manual)
 * until the parent says it is done.  Each side checks every completion; the
 * parent checks the bytes it read (read_lat) and the child the bytes written
 * (write_bw), and a failure makes the run's figures invalid.
 */
#ifndef LOOM_BENCH_FABRIC_TCP_H
#define LOOM_BENCH_FABRIC_TCP_H

#if __has_include(<rdma/fabric.h>)
#define FABRIC_HAVE_HEADERS 1
#include <dlfcn.h>
#include <sched.h>
#include <sys/prctl.h>
#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#else
#define FABRIC_HAVE_HEADERS 0
#endif

enum fabric_test { FABRIC_WRITE_BW, FABRIC_WRITE_LAT, FABRIC_READ_LAT };

#if FABRIC_HAVE_HEADERS

#define FABRIC_NAME_MAX 128
#define FABRIC_TIMEOUT_S 30

/* Where the two processes of a run live: the target (child, [0]) and the
 * measuring parent ([1]); each side's IPv4 address, and a network
 * namespace to enter (an open /var/run/netns/NAME, -1 = stay).  The
 * default is both on 127.0.0.1 in this namespace; bench_transport points
 * it at the two ends of a veth pair. */
static struct {
	const char *node[2];
	int ns_fd[2];
} fab_path = { { "127.0.0.1", "127.0.0.1" }, { -1, -1 } };

static struct {
	const char *node; /* this process's side of fab_path */
	int (*getinfo)(uint32_t, const char *, const char *, uint64_t, const struct fi_info *,
		       struct fi_info **);
	void (*freeinfo)(struct fi_info *);
	struct fi_info *(*dupinfo)(const struct fi_info *);
	int (*fabric)(struct fi_fabric_attr *, struct fid_fabric **, void *);
	const char *(*strerror)(int);
	char why[160]; /* why libfabric is unusable, or "" */
} fab;

/* One side's objects. */
struct fab_end {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	struct fid_mr *mr;
	void *desc;
	uint8_t *buf;		/* 2 * len: [0, len) source, [len, 2 len) target */
	size_t len;
	fi_addr_t peer;
};

/* What the two processes swap. */
struct fab_card {
	char name[FABRIC_NAME_MAX];
	size_t name_len;
	uint64_t addr, key;
};

static bool fabric_available(char *why, size_t cap)
{
	void *h;

	if (fab.getinfo)
		return true;
	h = dlopen("libfabric.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, cap, "dlopen libfabric.so.1: %s", dlerror());
		return false;
	}
	fab.getinfo = (__typeof__(fab.getinfo))dlsym(h, "fi_getinfo");
	fab.freeinfo = (__typeof__(fab.freeinfo))dlsym(h, "fi_freeinfo");
	fab.dupinfo = (__typeof__(fab.dupinfo))dlsym(h, "fi_dupinfo");
	fab.fabric = (__typeof__(fab.fabric))dlsym(h, "fi_fabric");
	fab.strerror = (__typeof__(fab.strerror))dlsym(h, "fi_strerror");
	if (!fab.getinfo || !fab.freeinfo || !fab.dupinfo || !fab.fabric || !fab.strerror) {
		snprintf(why, cap, "libfabric.so.1 lacks fi_getinfo & co");
		fab.getinfo = NULL;
		return false;
	}
	return true;
}

/* rc of a libfabric call: true when 0, else say what failed. */
static bool fab_ok(int rc, const char *what)
{
	if (rc)
		fprintf(stderr, "fabric_tcp: %s: %s\n", what, fab.strerror(-rc));
	return rc == 0;
}

static bool fab_getinfo(struct fab_end *e)
{
	struct fi_info *hints = fab.dupinfo(NULL);
	int rc;

	if (!hints)
		return false;
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
	hints->mode = 0; /* no FI_CONTEXT: one context pointer serves every operation */
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED |
				      FI_MR_PROV_KEY;
	hints->fabric_attr->prov_name = strdup("tcp");
	rc = fab.getinfo(FI_VERSION(1, 9), fab.node ? fab.node : "127.0.0.1", NULL, FI_SOURCE,
			 hints, &e->info);
	fab.freeinfo(hints);
	if (rc) {
		fprintf(stderr, "fabric_tcp: fi_getinfo(tcp, RDM, RMA): %s\n", fab.strerror(-rc));
		return false;
	}
	return true;
}

static bool fab_open(struct fab_end *e, size_t len)
{
	struct fi_cq_attr cqa = { .format = FI_CQ_FORMAT_CONTEXT, .size = 1024 };
	struct fi_av_attr ava = { .type = FI_AV_TABLE };

	memset(e, 0, sizeof(*e));
	e->len = len;
	e->buf = aligned_alloc(4096, (2 * len + 4095) & ~(size_t)4095);
	if (!e->buf || !fab_getinfo(e))
		return false;
	memset(e->buf, 0, 2 * len);
	if (!(fab_ok(fab.fabric(e->info->fabric_attr, &e->fabric, NULL), "fi_fabric") &&
	      fab_ok(fi_domain(e->fabric, e->info, &e->domain, NULL), "fi_domain") &&
	      fab_ok(fi_cq_open(e->domain, &cqa, &e->cq, NULL), "fi_cq_open") &&
	      fab_ok(fi_av_open(e->domain, &ava, &e->av, NULL), "fi_av_open") &&
	      fab_ok(fi_endpoint(e->domain, e->info, &e->ep, NULL), "fi_endpoint") &&
	      fab_ok(fi_ep_bind(e->ep, &e->cq->fid, FI_TRANSMIT | FI_RECV), "fi_ep_bind cq") &&
	      fab_ok(fi_ep_bind(e->ep, &e->av->fid, 0), "fi_ep_bind av") &&
	      fab_ok(fi_enable(e->ep), "fi_enable") &&
	      fab_ok(fi_mr_reg(e->domain, e->buf, 2 * len, FI_READ | FI_WRITE | FI_REMOTE_READ |
			       FI_REMOTE_WRITE, 0, 1, 0, &e->mr, NULL), "fi_mr_reg")))
		return false;
	e->desc = fi_mr_desc(e->mr);
	return true;
}

static void fab_close(struct fab_end *e)
{
	if (e->mr)
		fi_close(&e->mr->fid);
	if (e->ep)
		fi_close(&e->ep->fid);
	if (e->av)
		fi_close(&e->av->fid);
	if (e->cq)
		fi_close(&e->cq->fid);
	if (e->domain)
		fi_close(&e->domain->fid);
	if (e->fabric)
		fi_close(&e->fabric->fid);
	if (e->info)
		fab.freeinfo(e->info);
	free(e->buf);
}

static struct fab_card fab_card_of(struct fab_end *e)
{
	struct fab_card c = { .name_len = FABRIC_NAME_MAX, .key = fi_mr_key(e->mr) };

	fi_getname(&e->ep->fid, c.name, &c.name_len);
	c.addr = e->info->domain_attr->mr_mode & FI_MR_VIRT_ADDR ? (uintptr_t)e->buf : 0;
	return c;
}

/* Swap cards over the pipes; insert the peer's address. */
static bool fab_swap(struct fab_end *e, int rd, int wr, struct fab_card *peer)
{
	struct fab_card mine = fab_card_of(e);

	if (write(wr, &mine, sizeof(mine)) != sizeof(mine) ||
	    read(rd, peer, sizeof(*peer)) != sizeof(*peer))
		return false;
	return fi_av_insert(e->av, peer->name, 1, &e->peer, 0, NULL) == 1;
}

/* Reap completions: how many (>= 0), or -1 on an error completion. */
static int fab_reap(struct fab_end *e)
{
	struct fi_cq_entry ent[16];
	struct fi_cq_err_entry err = { 0 };
	ssize_t n = fi_cq_read(e->cq, ent, 16);

	if (n >= 0)
		return (int)n;
	if (n == -FI_EAGAIN)
		return 0;
	if (n == -FI_EAVAIL) {
		fi_cq_readerr(e->cq, &err, 0);
		fprintf(stderr, "fabric_tcp: completion error: %s\n", fab.strerror(err.err));
	}
	return -1;
}

/* ---- the parent (measuring) side --------------------------------------------------- */

static bool fab_write_bw(struct fab_end *e, const struct fab_card *p, size_t size, int iters,
			 int depth, struct figures *f)
{
	int posted = 0, done = 0;
	double t0 = now_s(), end = t0 + FABRIC_TIMEOUT_S;

	while (done < iters && now_s() < end) {
		while (posted < iters && posted - done < depth) {
			ssize_t rc = fi_write(e->ep, e->buf, size, e->desc, e->peer,
					      p->addr + e->len, p->key, &e->buf);

			if (rc == -FI_EAGAIN)
				break;
			if (rc)
				return false;
			posted++;
		}
		int n = fab_reap(e);

		if (n < 0)
			return false;
		done += n;
	}
	f->bw_avg = (double)size * iters / (now_s() - t0) / (1 << 20);
	return done == iters;
}

/* One operation and its completion; false on error or after the timeout. */
static bool fab_one(struct fab_end *e, bool read, size_t size, const struct fab_card *p)
{
	double end = now_s() + FABRIC_TIMEOUT_S;
	ssize_t rc;
	int n = 0;

	do
		rc = read ? fi_read(e->ep, e->buf + e->len, size, e->desc, e->peer, p->addr,
				    p->key, &e->buf)
			  : fi_write(e->ep, e->buf, size, e->desc, e->peer, p->addr + e->len,
				     p->key, &e->buf);
	while (rc == -FI_EAGAIN && fab_reap(e) >= 0 && now_s() < end);
	while (!rc && n == 0 && now_s() < end)
		n = fab_reap(e);
	return !rc && n == 1;
}

/* Spin (with progress) until the last byte of the target half is want. */
static bool fab_wait_byte(struct fab_end *e, size_t size, uint8_t want)
{
	volatile uint8_t *b = e->buf + e->len + size - 1;
	double end = now_s() + FABRIC_TIMEOUT_S;

	while (*b != want)
		if (fab_reap(e) < 0 || now_s() > end)
			return false;
	return true;
}

static bool fab_lat(struct fab_end *e, enum fabric_test t, const struct fab_card *p,
		    size_t size, int iters, struct figures *f)
{
	double *us = malloc((size_t)iters * sizeof(*us)), sum = 0;
	bool ok = us != NULL;

	for (int i = 0; ok && i < iters; i++) {
		uint8_t mark = (uint8_t)(i % 255 + 1);
		double t0 = now_s();

		e->buf[size - 1] = mark;
		ok = fab_one(e, t == FABRIC_READ_LAT, size, p) &&
		     (t == FABRIC_READ_LAT ? e->buf[e->len + size - 1] == 0xa5
					   : fab_wait_byte(e, size, mark));
		us[i] = (now_s() - t0) * (t == FABRIC_READ_LAT ? 1e6 : 0.5e6);
	}
	if (ok) {
		qsort(us, (size_t)iters, sizeof(*us), cmp_double);
		for (int i = 0; i < iters; i++)
			sum += us[i];
		f->t_min = us[0];
		f->t_typical = us[iters / 2];
		f->t_avg = sum / iters;
		f->t_p99 = us[(int)ceil(0.99 * iters) - 1];
		f->t_p999 = us[(int)ceil(0.999 * iters) - 1];
	}
	free(us);
	return ok;
}

/* ---- the child (target) side -------------------------------------------------------- */

/* Serve until the parent writes its verdict byte (or closes the pipe):
 * progress, and for write_lat answer each WRITE with one. */
static int fab_target(struct fab_end *e, enum fabric_test t, const struct fab_card *p,
		      size_t size, int rd)
{
	uint8_t next = 1, verdict = 0;

	for (;;) {
		struct pollfd pfd = { .fd = rd, .events = POLLIN };

		for (int i = 0; i < 256; i++) {
			if (fab_reap(e) < 0)
				return 1;
			if (t == FABRIC_WRITE_LAT && e->buf[e->len + size - 1] == next) {
				e->buf[size - 1] = next;
				if (!fab_one(e, false, size, p))
					return 1;
				next = (uint8_t)(next % 255 + 1);
			}
		}
		if (poll(&pfd, 1, 0) > 0)
			break;
	}
	if (read(rd, &verdict, 1) != 1)
		return 1;
	/* write_bw: every WRITE carried the parent's 0x5a bytes. */
	if (t == FABRIC_WRITE_BW)
		for (size_t i = 0; i < size; i++)
			if (e->buf[e->len + i] != 0x5a)
				return 1;
	return 0;
}

/* Take side i of fab_path: its address, and its namespace when it has
 * one (*orig: the namespace to come back to, -1 if none was left); false
 * when setns fails. */
static bool fab_side(int i, int *orig)
{
	fab.node = fab_path.node[i];
	*orig = -1;
	if (fab_path.ns_fd[i] < 0)
		return true;
	*orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*orig < 0 || setns(fab_path.ns_fd[i], CLONE_NEWNET)) {
		fprintf(stderr, "fabric_tcp: setns: %s\n", strerror(errno));
		return false;
	}
	return true;
}

static void fab_side_leave(int orig)
{
	fab.node = NULL;
	if (orig >= 0) {
		if (setns(orig, CLONE_NEWNET))
			fprintf(stderr, "fabric_tcp: setns back: %s\n", strerror(errno));
		close(orig);
	}
}

/* One run of test over libfabric tcp: the parent's figures (f->ok). */
static struct figures fabric_run(enum fabric_test t, size_t size, int iters)
{
	int p2c[2], c2p[2], st, orig;
	struct figures f = { 0 };
	struct fab_end e;
	struct fab_card peer;
	pid_t pid;

	memset(&e, 0, sizeof(e));
	if (pipe(p2c) || pipe(c2p))
		return f;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int rc = 1;

		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
		close(p2c[1]);
		close(c2p[0]);
		if (fab_side(0, &orig) && fab_open(&e, size) && (memset(e.buf, 0xa5, size), true) &&
		    fab_swap(&e, p2c[0], c2p[1], &peer))
			rc = fab_target(&e, t, &peer, size, p2c[0]);
		fab_close(&e);
		_exit(rc);
	}
	close(p2c[0]);
	close(c2p[1]);
	if (fab_side(1, &orig) && fab_open(&e, size) && (memset(e.buf, 0x5a, size), true) &&
	    fab_swap(&e, c2p[0], p2c[1], &peer))
		f.ok = t == FABRIC_WRITE_BW ? fab_write_bw(&e, &peer, size, iters, 128, &f)
					    : fab_lat(&e, t, &peer, size, iters, &f);
	if (write(p2c[1], "x", 1) != 1)
		f.ok = false;
	close(p2c[1]);
	close(c2p[0]);
	waitpid(pid, &st, 0);
	f.ok = f.ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	fab_close(&e);
	fab_side_leave(orig);
	return f;
}

#else /* no headers */

static bool fabric_available(char *why, size_t cap)
{
	snprintf(why, cap, "built without libfabric's headers (make deps installs libfabric-dev)");
	return false;
}

static struct figures fabric_run(enum fabric_test t, size_t size, int iters)
{
	(void)t, (void)size, (void)iters;
	return (struct figures){ 0 };
}

#endif
#endif
