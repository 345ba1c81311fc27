/*
 * shm_mem.c - shared blocks (tp_mem_alloc on an shm device) and the
 * by-reference transfers they allow.  Each block is a file of its own in
 * /dev/shm named after the device's segment, "<segment>.m<id>" (id counts
 * up from 1 and is never reused by the device), mapped shared by its owner.
 *
 * By reference: when a SEND/WRITE payload, or a READ's local target, lies
 * in a block of the requester's device, the requester posts a record that
 * names (block id, offset, length) instead of copying the bytes into the
 * ring; the responder maps the block by name (it knows the requester's
 * segment name from the connection) and copies straight between it and its
 * own registered memory after its usual rkey, bounds and rights checks.  So
 * each byte is copied once instead of twice, and the target's memory is
 * still never shared: only blocks the requester chose to allocate are.
 * The responder keeps up to SHM_RMAP_N blocks of each peer mapped
 * (direct-mapped by id; a new id evicts the old one), dropped with the
 * peer.  A block its owner freed stays readable through an existing
 * mapping (the pages live until the last unmap) and can no longer be
 * mapped anew (the name is gone: the request fails with REM_OP_ERR).
 *
 * Not here: which runs of a message go by reference (shm_req.c), the
 * checks of the target's memory (shm_resp.c).  Trust: as for the rings, a
 * process of the same user can open, and so read, write or truncate, a
 * block; a truncated block would fault its mapper (not defended against).
 *
 * Concurrency: sd->mems under sd->mem_lock (rwlock: read for lookups by
 * the requester, write to add or remove); a peer's rmap under its
 * rmap_lock (read while copying through a mapping, write to map or evict),
 * taken after the MR table's read lock.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loom/err.h"
#include "shm.h"

#define SHM_MEM_NAME_MAX (TP_ADDR_MAX + 24)

static void block_name(char *out, const char *seg, uint64_t id)
{
	snprintf(out, SHM_MEM_NAME_MAX, "%s.m%llx", seg, (unsigned long long)id);
}

/* ---- own blocks ------------------------------------------------------------ */

/* Create, reserve (so a full /dev/shm is an error now, not SIGBUS in a
 * peer later) and map block id. */
static int block_create(struct shm_device *sd, uint64_t id, size_t len, void **out)
{
	char name[SHM_MEM_NAME_MAX];
	int fd, err = 0;
	void *p;

	block_name(name, sd->seg_name, id);
	fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return loom_err_set(errno, "shm: mem_alloc: shm_open %s: %s", name,
				    strerror(errno));
	if (ftruncate(fd, (off_t)len) < 0 || fallocate(fd, 0, 0, (off_t)len) < 0) {
		err = loom_err_set(errno, "shm: mem_alloc: %zu bytes in %s: %s", len, name,
				   strerror(errno));
		goto out;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = loom_err_set(errno, "shm: mem_alloc: mmap %s: %s", name, strerror(errno));
		goto out;
	}
	*out = p;
out:
	if (err)
		shm_unlink(name);
	close(fd);
	return err;
}

/* Index of the first block whose start is above addr.  mem_lock held. */
static unsigned mem_upper(const struct shm_device *sd, uintptr_t addr)
{
	unsigned lo = 0, hi = sd->n_mems;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (sd->mems[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int mem_insert(struct shm_device *sd, const struct shm_mem *m)
{
	unsigned at;

	if (sd->n_mems == sd->cap_mems) {
		unsigned cap = sd->cap_mems ? 2 * sd->cap_mems : 16;
		struct shm_mem *v = realloc(sd->mems, cap * sizeof(*v));

		if (!v)
			return loom_err_set(ENOMEM, "shm: mem_alloc: out of memory");
		sd->mems = v;
		sd->cap_mems = cap;
	}
	at = mem_upper(sd, m->start);
	memmove(&sd->mems[at + 1], &sd->mems[at], (sd->n_mems - at) * sizeof(*m));
	sd->mems[at] = *m;
	sd->n_mems++;
	atomic_store_explicit(&sd->n_mems_hint, sd->n_mems, memory_order_relaxed);
	return 0;
}

int shm_mem_alloc(struct tp_device *dev, size_t len, void **out)
{
	struct shm_device *sd = to_shm_dev(dev);
	struct shm_mem m = { .len = len };
	char name[SHM_MEM_NAME_MAX];
	int err;

	pthread_rwlock_wrlock(&sd->mem_lock);
	m.id = ++sd->mem_next_id;
	pthread_rwlock_unlock(&sd->mem_lock);
	if ((err = block_create(sd, m.id, len, out)) < 0)
		return err;
	m.start = (uintptr_t)*out;
	pthread_rwlock_wrlock(&sd->mem_lock);
	err = mem_insert(sd, &m);
	pthread_rwlock_unlock(&sd->mem_lock);
	if (err) {
		munmap(*out, len);
		block_name(name, sd->seg_name, m.id);
		shm_unlink(name);
	}
	return err;
}

void shm_mem_free(struct tp_device *dev, void *addr, size_t len)
{
	struct shm_device *sd = to_shm_dev(dev);
	char name[SHM_MEM_NAME_MAX];
	uint64_t id = 0;
	unsigned at;

	pthread_rwlock_wrlock(&sd->mem_lock);
	at = mem_upper(sd, (uintptr_t)addr);
	if (at > 0 && sd->mems[at - 1].start == (uintptr_t)addr) {
		id = sd->mems[at - 1].id;
		memmove(&sd->mems[at - 1], &sd->mems[at], (sd->n_mems - at) * sizeof(sd->mems[0]));
		sd->n_mems--;
		atomic_store_explicit(&sd->n_mems_hint, sd->n_mems, memory_order_relaxed);
	}
	pthread_rwlock_unlock(&sd->mem_lock);
	munmap(addr, len);
	if (id) {
		block_name(name, sd->seg_name, id);
		shm_unlink(name);
	}
}

/* At device close: the core saw to it that no block is live. */
void shm_mem_fini(struct shm_device *sd)
{
	free(sd->mems);
	pthread_rwlock_destroy(&sd->mem_lock);
}

uint64_t shm_mem_run(struct shm_device *sd, uint64_t addr, uint64_t len, uint64_t *id,
		     uint64_t *off)
{
	unsigned at = mem_upper(sd, (uintptr_t)addr);
	uint64_t end;

	*id = 0;
	if (at > 0 && addr - sd->mems[at - 1].start < sd->mems[at - 1].len) {
		const struct shm_mem *m = &sd->mems[at - 1];

		*id = m->id;
		*off = addr - m->start;
		end = m->start + m->len - addr;
		return len < end ? len : end;
	}
	if (at < sd->n_mems && sd->mems[at].start - addr < len)
		return sd->mems[at].start - addr;
	return len;
}

/* ---- peers' blocks ----------------------------------------------------------------- */

/* Map the peer's block id into e (evicting what e held).  rmap_lock held
 * for writing. */
static int rmap_install(struct shm_peer *p, uint64_t id, struct shm_rmap *e)
{
	char name[SHM_MEM_NAME_MAX];
	struct stat st;
	void *base;
	int fd;

	if (e->id) {
		munmap(e->base, e->len);
		*e = (struct shm_rmap){ 0 };
	}
	block_name(name, p->name, id);
	fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size <= 0) {
		close(fd);
		return -ENOENT;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return -errno;
	*e = (struct shm_rmap){ .id = id, .base = base, .len = (size_t)st.st_size };
	return 0;
}

/* One copy through e, checked against the block's length. */
static int rmap_move(const struct shm_rmap *e, uint64_t off, void *local, uint64_t n,
		     bool to_peer)
{
	if (off > e->len || n > e->len - off)
		return -ERANGE;
	if (to_peer)
		memcpy(e->base + off, local, n);
	else
		memcpy(local, e->base + off, n);
	return 0;
}

/* One copy to make through a mapping: to or from local, or scattered into
 * bytes [msg_off, msg_off + n) of an SGE list. */
struct rmap_op {
	uint64_t off, n;
	void *local;			 /* rmap_move */
	const struct tp_sge *sge;	 /* rmap_scatter */
	int n_sge;
	uint64_t msg_off;
	bool to_peer;
};

static int rmap_scatter(const struct shm_rmap *e, const struct rmap_op *op)
{
	if (op->off > e->len || op->n > e->len - op->off)
		return -ERANGE;
	tp_sge_copy_in(op->sge, op->n_sge, op->msg_off, e->base + op->off, op->n);
	return 0;
}

static int rmap_apply(const struct shm_rmap *e, const struct rmap_op *op)
{
	return op->sge ? rmap_scatter(e, op) : rmap_move(e, op->off, op->local, op->n, op->to_peer);
}

/* Make op on the mapping of block id, mapping it first if needed: on the
 * read side when it is mapped, else on the write side right after mapping
 * (no window for another thread to evict it in between). */
static int rmap_run(struct shm_peer *p, uint64_t id, const struct rmap_op *op)
{
	struct shm_rmap *e = &p->rmap[id % SHM_RMAP_N];
	int err;

	if (id == 0)
		return -ENOENT;
	pthread_rwlock_rdlock(&p->rmap_lock);
	if (e->id == id) {
		err = rmap_apply(e, op);
		pthread_rwlock_unlock(&p->rmap_lock);
		return err;
	}
	pthread_rwlock_unlock(&p->rmap_lock);
	pthread_rwlock_wrlock(&p->rmap_lock);
	err = e->id == id ? 0 : rmap_install(p, id, e);
	if (!err)
		err = rmap_apply(e, op);
	pthread_rwlock_unlock(&p->rmap_lock);
	return err;
}

int shm_rmap_copy(struct shm_peer *p, uint64_t id, uint64_t off, void *local, uint64_t n,
		  bool to_peer)
{
	struct rmap_op op = { .off = off, .n = n, .local = local, .to_peer = to_peer };

	return rmap_run(p, id, &op);
}

int shm_rmap_copy_sge(struct shm_peer *p, uint64_t id, uint64_t off, const struct tp_sge *sge,
		      int n_sge, uint64_t msg_off, uint64_t n)
{
	struct rmap_op op = { .off = off, .n = n, .sge = sge, .n_sge = n_sge,
			      .msg_off = msg_off };

	return rmap_run(p, id, &op);
}

/* Drop every mapping of the peer's blocks (the peer is being freed). */
void shm_rmap_fini(struct shm_peer *p)
{
	for (unsigned i = 0; i < SHM_RMAP_N; i++)
		if (p->rmap[i].id)
			munmap(p->rmap[i].base, p->rmap[i].len);
	pthread_rwlock_destroy(&p->rmap_lock);
}
