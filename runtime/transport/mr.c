/*
 * mr.c - memory regions: registration rules, the device's key table, and
 * the check every provider makes before touching registered memory (bounds,
 * access rights, PD isolation) with the completion status IBA gives each
 * failure.  Also the SGE copy helpers built on it.
 *
 * Not here: pinning (nothing is pinned; a provider copies with the CPU) or
 * memory windows.  Concurrency: the key table is a writer-preferring rwlock
 * (provider.h); registration and deregistration take the write side, checks
 * and the copies that follow them the read side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "provider.h"

#define MR_INDEX_MAX ((1u << 24) - 1)
#define MR_RKEY_BIT 0x80u
#define MR_WRITE_BITS (TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_ATOMIC)
#define MR_ALL_BITS (MR_WRITE_BITS | TP_ACCESS_REMOTE_READ)

/* ---- the key table ---------------------------------------------------- */

int tp_mr_table_init(struct tp_mr_table *t)
{
	pthread_rwlockattr_t a;
	int err;

	memset(t, 0, sizeof(*t));
	pthread_rwlockattr_init(&a);
	/* Registration must not starve behind a stream of checks. */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(&t->lock, &a);
	pthread_rwlockattr_destroy(&a);
	if (err)
		return loom_err_set(err, "transport: MR table lock: %s", strerror(err));
	return 0;
}

void tp_mr_table_fini(struct tp_mr_table *t)
{
	free(t->slot);
	pthread_rwlock_destroy(&t->lock);
}

void tp_mr_read_lock(struct tp_device *dev)
{
	pthread_rwlock_rdlock(&dev->mrs.lock);
}

void tp_mr_read_unlock(struct tp_device *dev)
{
	pthread_rwlock_unlock(&dev->mrs.lock);
}

/* A free index (growing the table), or 0 when the table is full.  Write
 * lock held. */
static uint32_t table_free_index(struct tp_mr_table *t)
{
	uint32_t cap, old = t->cap;
	struct tp_mr_obj **s;

	for (uint32_t i = 1; i < t->cap; i++)
		if (!t->slot[i])
			return i;
	if (t->cap > MR_INDEX_MAX)
		return 0;
	cap = t->cap ? t->cap * 2 : 64;
	if (cap > MR_INDEX_MAX + 1)
		cap = MR_INDEX_MAX + 1;
	s = realloc(t->slot, cap * sizeof(*s));
	if (!s)
		return 0;
	memset(s + t->cap, 0, (cap - t->cap) * sizeof(*s));
	t->slot = s;
	t->cap = cap;
	return old ? old : 1;
}

/* ---- registration ---------------------------------------------------------- */

/* Whether [addr, addr + len) is mapped readable (and writable when write),
 * from /proc/self/maps: registration fails with -EFAULT otherwise, as
 * ibv_reg_mr does, instead of a fault in the middle of a transfer. */
static bool range_mapped(uintptr_t addr, size_t len, bool write)
{
	FILE *f = fopen("/proc/self/maps", "r");
	uintptr_t want = addr, end = addr + len;
	char line[512];

	if (!f)
		return true; /* no procfs: cannot tell, do not refuse */
	while (want < end && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perm[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perm) != 3)
			continue;
		if (lo > want)
			break; /* a hole before the next mapping (maps is sorted) */
		if (hi <= want)
			continue;
		if (perm[0] != 'r' || (write && perm[1] != 'w'))
			break;
		want = hi;
	}
	fclose(f);
	return want >= end;
}

static int mr_check_args(struct tp_pd *pd, void *addr, size_t length, unsigned access)
{
	if (!pd)
		return loom_err_set(EINVAL, "transport: mr_reg: pd is NULL");
	if (!addr || length == 0)
		return loom_err_set(EINVAL, "%s: mr_reg: addr=%p length=%zu: need memory",
				    pd->dev->ops->name, addr, length);
	if ((uintptr_t)addr + length < (uintptr_t)addr)
		return loom_err_set(EINVAL, "%s: mr_reg: [%p, +%zu) wraps around",
				    pd->dev->ops->name, addr, length);
	if (access & ~MR_ALL_BITS)
		return loom_err_set(EINVAL, "%s: mr_reg: unknown access bits 0x%x",
				    pd->dev->ops->name, access & ~MR_ALL_BITS);
	/* IBA 10.6.3.1 (and ibv_reg_mr): remote write and atomic need local write. */
	if ((access & (TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_ATOMIC)) &&
	    !(access & TP_ACCESS_LOCAL_WRITE))
		return loom_err_set(EINVAL, "%s: mr_reg: REMOTE_WRITE and REMOTE_ATOMIC need "
				    "LOCAL_WRITE", pd->dev->ops->name);
	if (!range_mapped((uintptr_t)addr, length, access & MR_WRITE_BITS))
		return loom_err_set(EFAULT, "%s: mr_reg: [%p, +%zu) is not mapped %s",
				    pd->dev->ops->name, addr, length,
				    access & MR_WRITE_BITS ? "read-write" : "readable");
	return 0;
}

/* Enter m into the table and give it keys; 0 or -ENOMEM. */
static int mr_table_add(struct tp_mr_table *t, struct tp_mr_obj *m)
{
	uint32_t idx, tag;

	pthread_rwlock_wrlock(&t->lock);
	idx = table_free_index(t);
	if (idx) {
		tag = t->next_tag++ & 0x7f;
		m->index = idx;
		m->mr.lkey = idx << 8 | tag;
		m->mr.rkey = idx << 8 | tag | MR_RKEY_BIT;
		t->slot[idx] = m;
	}
	pthread_rwlock_unlock(&t->lock);
	return idx ? 0 : -ENOMEM;
}

struct tp_mr *tp_mr_reg(struct tp_pd *pd, void *addr, size_t length, unsigned access)
{
	struct tp_mr_obj *m;

	if (mr_check_args(pd, addr, length, access) < 0)
		return NULL;
	m = calloc(1, pd->dev->ops->mr_size ? pd->dev->ops->mr_size : sizeof(*m));
	if (!m) {
		loom_err_set(ENOMEM, "%s: mr_reg: out of memory", pd->dev->ops->name);
		return NULL;
	}
	m->dev = pd->dev;
	m->mr = (struct tp_mr){ .pd = pd, .addr = addr, .length = length, .access = access };
	if (pd->dev->ops->mr_init) { /* the provider's keys (a NIC's) */
		if (pd->dev->ops->mr_init(m) < 0) {
			free(m);
			return NULL;
		}
	} else if (mr_table_add(&pd->dev->mrs, m) < 0) {
		loom_err_set(ENOMEM, "%s: mr_reg: key table full", pd->dev->ops->name);
		free(m);
		return NULL;
	}
	pthread_mutex_lock(&pd->dev->lock);
	pd->n_mr++;
	pthread_mutex_unlock(&pd->dev->lock);
	return &m->mr;
}

int tp_mr_dereg(struct tp_mr *mr)
{
	struct tp_mr_obj *m;
	struct tp_mr_table *t;

	if (!mr)
		return loom_err_set(EINVAL, "transport: mr_dereg: mr is NULL");
	m = to_mr_obj(mr);
	t = &m->dev->mrs;
	if (m->dev->ops->mr_fini) {
		m->dev->ops->mr_fini(m);
	} else {
		/* The write side waits for every check-and-copy in flight. */
		pthread_rwlock_wrlock(&t->lock);
		t->slot[m->index] = NULL;
		pthread_rwlock_unlock(&t->lock);
	}
	pthread_mutex_lock(&m->dev->lock);
	mr->pd->n_mr--;
	pthread_mutex_unlock(&m->dev->lock);
	free(m);
	return 0;
}

/* ---- checks ----------------------------------------------------------------- */

enum tp_wc_status tp_mr_check(struct tp_pd *pd, uint32_t key, uint64_t addr, uint64_t len,
			      unsigned access, bool remote)
{
	const enum tp_wc_status fail = remote ? TP_WC_REM_ACCESS_ERR : TP_WC_LOC_PROT_ERR;
	struct tp_mr_table *t = &pd->dev->mrs;
	uint32_t idx = key >> 8;
	struct tp_mr_obj *m;
	uint64_t start, off;

	if (len == 0)
		return TP_WC_SUCCESS;
	if (idx == 0 || idx >= t->cap || !(m = t->slot[idx]))
		return fail;
	if (key != (remote ? m->mr.rkey : m->mr.lkey) || m->mr.pd != pd)
		return fail;
	if ((m->mr.access & access) != access)
		return fail;
	start = (uintptr_t)m->mr.addr;
	off = addr - start;
	if (addr < start || off > m->mr.length || len > m->mr.length - off)
		return fail;
	return TP_WC_SUCCESS;
}

enum tp_wc_status tp_sge_check(struct tp_pd *pd, const struct tp_sge *sge, int n,
			       unsigned access)
{
	for (int i = 0; i < n; i++) {
		enum tp_wc_status s =
		    tp_mr_check(pd, sge[i].lkey, sge[i].addr, sge[i].length, access, false);
		if (s != TP_WC_SUCCESS)
			return s;
	}
	return TP_WC_SUCCESS;
}

enum tp_wc_status tp_sge_check_range(struct tp_pd *pd, const struct tp_sge *sge, int n,
				     uint64_t off, uint64_t len, unsigned access)
{
	for (int i = 0; i < n && len; i++) {
		uint64_t take;
		enum tp_wc_status s;

		if (off >= sge[i].length) {
			off -= sge[i].length;
			continue;
		}
		take = sge[i].length - off < len ? sge[i].length - off : len;
		s = tp_mr_check(pd, sge[i].lkey, sge[i].addr + off, take, access, false);
		if (s != TP_WC_SUCCESS)
			return s;
		len -= take;
		off = 0;
	}
	return len ? TP_WC_LOC_LEN_ERR : TP_WC_SUCCESS;
}

void tp_sge_copy_in(const struct tp_sge *sge, int n, uint64_t off, const void *src, size_t len)
{
	const uint8_t *p = src;

	for (int i = 0; i < n && len; i++) {
		size_t take;

		if (off >= sge[i].length) {
			off -= sge[i].length;
			continue;
		}
		take = sge[i].length - off < len ? sge[i].length - off : len;
		memcpy((uint8_t *)(uintptr_t)sge[i].addr + off, p, take);
		p += take;
		len -= take;
		off = 0;
	}
}

void tp_sge_copy_out(const struct tp_sge *sge, int n, uint64_t off, void *dst, size_t len)
{
	uint8_t *p = dst;

	for (int i = 0; i < n && len; i++) {
		size_t take;

		if (off >= sge[i].length) {
			off -= sge[i].length;
			continue;
		}
		take = sge[i].length - off < len ? sge[i].length - off : len;
		memcpy(p, (const uint8_t *)(uintptr_t)sge[i].addr + off, take);
		p += take;
		len -= take;
		off = 0;
	}
}
