/*
 * shm_seg.c - shared-memory segments of the shm provider: creating a
 * device's segment (POSIX shm_open under /dev/shm, named in the device's
 * tp_addr), mapping peers' segments by that name, telling whether a peer
 * is alive, the futex doorbell, and removing segments that dead processes
 * left behind.
 *
 * Liveness: each segment holds a robust, process-shared mutex that the
 * owner's progress thread keeps locked for the device's lifetime.  When the
 * owner dies (any signal, any exit path), the kernel marks it owner-dead
 * while tearing the thread down, before the process becomes a zombie; a
 * trylock by anyone else then returns EOWNERDEAD.  This needs no PID (so it
 * works across PID namespaces sharing /dev/shm) and no heartbeat (so a slow
 * peer is not declared dead).  Concurrency: the peer list is guarded by
 * shm_device.peers_lock; the rest is stateless or per-segment atomics.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"
#include "shm.h"

/* ---- doorbell -------------------------------------------------------------- */

int shm_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_us)
{
	struct timespec ts = { .tv_sec = (time_t)(timeout_us / 1000000),
			       .tv_nsec = (long)(timeout_us % 1000000) * 1000 };

	/* Not FUTEX_PRIVATE: the word is shared between processes. */
	return (int)syscall(SYS_futex, addr, FUTEX_WAIT, val, &ts, NULL, 0);
}

/* Wake the progress thread of the segment h if it sleeps (shm.h). */
void shm_bell(struct shm_seg_hdr *h)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&h->sleeping, memory_order_relaxed))
		return;
	atomic_fetch_add_explicit(&h->doorbell, 1, memory_order_seq_cst);
	syscall(SYS_futex, &h->doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* ---- own segment --------------------------------------------------------------- */

static int life_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int err;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	err = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return err;
}

static void seg_name(struct shm_device *sd)
{
	static _Atomic unsigned counter;
	uint32_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)tp_now_us();
	snprintf(sd->seg_name, sizeof(sd->seg_name), "/" SHM_NAME_PREFIX "%d.%u.%08x",
		 (int)getpid(), atomic_fetch_add(&counter, 1), rnd);
}

static void seg_init_hdr(struct shm_device *sd)
{
	struct shm_seg_hdr *h = sd->hdr;

	h->version = SHM_VERSION;
	h->max_qp = sd->max_qp;
	if (getrandom(&h->uid, sizeof(h->uid), 0) != sizeof(h->uid))
		h->uid = tp_now_us() ^ ((uint64_t)getpid() << 32);
	h->ring_bytes = sd->ring_bytes;
	h->slot_bytes = SHM_SLOT_HDR + 2 * sd->ring_bytes;
	h->slots_off = 4096;
	h->pid = (int32_t)getpid();
}

/* Create, size and map the device's segment; the magic is published later
 * (shm.c), once the progress thread holds `life`. */
int shm_seg_create(struct shm_device *sd)
{
	size_t len = 4096 + (size_t)sd->max_qp * (SHM_SLOT_HDR + 2 * sd->ring_bytes);
	int fd, err;

	seg_name(sd);
	fd = shm_open(sd->seg_name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return loom_err_set(errno, "shm: shm_open %s: %s", sd->seg_name, strerror(errno));
	/* Sparse: only page 0 is reserved now, each QP slot when a QP takes
	 * it (shm_seg_reserve), so a full /dev/shm is an error, not SIGBUS. */
	if (ftruncate(fd, (off_t)len) < 0 || fallocate(fd, 0, 0, 4096) < 0) {
		err = loom_err_set(errno, "shm: size %s to %zu bytes: %s", sd->seg_name, len,
				   strerror(errno));
		goto err_unlink;
	}
	sd->hdr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sd->hdr == MAP_FAILED) {
		err = loom_err_set(errno, "shm: mmap %s: %s", sd->seg_name, strerror(errno));
		goto err_unlink;
	}
	sd->map_len = len;
	seg_init_hdr(sd);
	err = life_init(&sd->hdr->life);
	if (err) {
		err = loom_err_set(err, "shm: robust mutex: %s", strerror(err));
		goto err_unmap;
	}
	sd->seg_fd = fd;
	return 0;

err_unmap:
	munmap(sd->hdr, len);
err_unlink:
	shm_unlink(sd->seg_name);
	close(fd);
	return err;
}

void shm_seg_destroy(struct shm_device *sd)
{
	shm_unlink(sd->seg_name);
	munmap(sd->hdr, sd->map_len);
	close(sd->seg_fd);
}

/* Reserve (or, with release, give back) the memory of QP slot i. */
int shm_seg_reserve(struct shm_device *sd, unsigned i, bool release)
{
	off_t off = (off_t)(sd->hdr->slots_off + i * sd->hdr->slot_bytes);
	off_t len = (off_t)sd->hdr->slot_bytes;

	if (release)
		return fallocate(sd->seg_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
	if (fallocate(sd->seg_fd, 0, off, len) < 0)
		return loom_err_set(errno, "shm: reserving %lld KiB of %s for a QP: %s (see option "
				    "ring_kib)", (long long)len / 1024, sd->seg_name,
				    strerror(errno));
	return 0;
}

/* ---- peers ------------------------------------------------------------------------ */

/* The segment name in addr, checked to look like one of ours. */
static int addr_name(const struct tp_addr *addr, char *name)
{
	if (addr->len < 2 || addr->len > TP_ADDR_MAX || addr->bytes[0] != '/')
		return loom_err_set(EINVAL, "shm: address (len %u) is not a shm segment name",
				    addr->len);
	memcpy(name, addr->bytes, addr->len);
	name[addr->len] = '\0';
	if (strlen(name) != addr->len || strncmp(name + 1, SHM_NAME_PREFIX,
						 strlen(SHM_NAME_PREFIX)) != 0)
		return loom_err_set(EINVAL, "shm: address '%s' is not a shm segment name", name);
	return 0;
}

/* Geometry of a mapped peer header against the mapping's length. */
static bool seg_geometry_ok(const struct shm_seg_hdr *h, size_t len)
{
	uint64_t rb = h->ring_bytes;

	return h->version == SHM_VERSION && h->max_qp >= 1 && h->max_qp <= 256 && rb >= 4096 &&
	       (rb & (rb - 1)) == 0 && h->slot_bytes == SHM_SLOT_HDR + 2 * rb &&
	       h->slots_off == 4096 && h->slots_off + h->max_qp * h->slot_bytes <= len;
}

static int peer_map(const char *name, struct shm_peer *p)
{
	struct stat st;
	int fd, err = 0;

	fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return loom_err_set(errno, "shm: peer segment %s: %s (device closed, or on "
				    "another host?)", name, strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_size < 4096) {
		err = loom_err_set(EINVAL, "shm: peer segment %s is not a Loom segment", name);
		goto out;
	}
	p->hdr = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p->hdr == MAP_FAILED) {
		err = loom_err_set(errno, "shm: mmap peer %s: %s", name, strerror(errno));
		goto out;
	}
	p->map_len = (size_t)st.st_size;
	if (atomic_load_explicit(&p->hdr->magic, memory_order_acquire) != SHM_MAGIC ||
	    !seg_geometry_ok(p->hdr, p->map_len)) {
		munmap(p->hdr, p->map_len);
		err = loom_err_set(EINVAL, "shm: peer segment %s: bad magic, version or geometry",
				   name);
	}
out:
	close(fd);
	return err;
}

int shm_peer_get(struct shm_device *sd, const struct tp_addr *addr, struct shm_peer **out)
{
	char name[TP_ADDR_MAX + 1];
	struct shm_peer *p;
	int err;

	if ((err = addr_name(addr, name)) < 0)
		return err;
	pthread_mutex_lock(&sd->peers_lock);
	for (p = sd->peers; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			break;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			err = loom_err_set(ENOMEM, "shm: out of memory for a peer");
			goto out;
		}
		strcpy(p->name, name);
		pthread_rwlock_init(&p->rmap_lock, NULL);
		p->self = strcmp(name, sd->seg_name) == 0;
		if (p->self) {
			p->hdr = sd->hdr;
			p->map_len = sd->map_len;
		} else if ((err = peer_map(name, p)) < 0) {
			pthread_rwlock_destroy(&p->rmap_lock);
			free(p);
			goto out;
		}
		p->next = sd->peers;
		sd->peers = p;
	}
	p->refs++;
	*out = p;
out:
	pthread_mutex_unlock(&sd->peers_lock);
	return err;
}

void shm_peer_put(struct shm_device *sd, struct shm_peer *p)
{
	struct shm_peer **pp;

	pthread_mutex_lock(&sd->peers_lock);
	if (--p->refs == 0) {
		for (pp = &sd->peers; *pp != p; pp = &(*pp)->next)
			;
		*pp = p->next;
		shm_rmap_fini(p);
		if (!p->self)
			munmap(p->hdr, p->map_len);
		free(p);
	}
	pthread_mutex_unlock(&sd->peers_lock);
}

/* Whether the owner of h still holds its life lock (see the top). */
static bool life_held(struct shm_seg_hdr *h)
{
	int r;

	if (atomic_load_explicit(&h->closed, memory_order_acquire))
		return false;
	r = pthread_mutex_trylock(&h->life);
	if (r == EBUSY)
		return true;
	/* 0: released (device closed); EOWNERDEAD: owner died, and we now hold
	 * it: unlock without marking it consistent, so it stays unusable.
	 * Record the death in `closed` first: glibc's trylock of such an
	 * unusable mutex (ENOTRECOVERABLE) leaves it locked by the caller, so
	 * from the next look on it would read as held (EBUSY) forever. */
	atomic_store_explicit(&h->closed, 1, memory_order_release);
	if (r == 0 || r == EOWNERDEAD)
		pthread_mutex_unlock(&h->life);
	return false;
}

bool shm_peer_alive(struct shm_peer *p)
{
	if (p->self)
		return true;
	if (atomic_load_explicit(&p->dead, memory_order_relaxed))
		return false;
	if (life_held(p->hdr))
		return true;
	atomic_store_explicit(&p->dead, true, memory_order_relaxed);
	return false;
}

/* ---- stale segments ------------------------------------------------------------------ */

enum seg_state { SEG_LIVE, SEG_STALE, SEG_GONE };

/* Whether the device segment at path (a "/name") is live, left by a dead
 * or closed owner, or gone.  One in creation counts as live. */
static enum seg_state seg_state(const char *path)
{
	struct shm_seg_hdr *h;
	struct stat st;
	bool stale;
	int fd;

	fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return errno == ENOENT ? SEG_GONE : SEG_LIVE;
	/* A segment another process is creating may not be sized yet: reading
	 * its header page would be SIGBUS. */
	if (fstat(fd, &st) < 0 || st.st_size < 4096) {
		close(fd);
		return SEG_LIVE;
	}
	h = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (h == MAP_FAILED)
		return SEG_LIVE;
	stale = atomic_load_explicit(&h->magic, memory_order_acquire) == SHM_MAGIC &&
		!life_held(h);
	munmap(h, 4096);
	return stale ? SEG_STALE : SEG_LIVE;
}

/* Unlink /dev/shm/name when its owner is gone: a device segment whose
 * owner died, or a shared block ("<segment>.m<id>", shm_mem.c) whose
 * device segment is stale or gone. */
static void sweep_one(const char *name)
{
	char path[300];
	char *block;
	enum seg_state s;

	snprintf(path, sizeof(path), "/%s", name);
	block = strstr(path, ".m");
	if (block)
		*block = '\0'; /* the block's device segment */
	s = seg_state(path);
	if (block) {
		*block = '.';
		if (s != SEG_LIVE)
			shm_unlink(path);
	} else if (s == SEG_STALE) {
		shm_unlink(path);
	}
}

/* Remove segments left in /dev/shm by processes that died without closing
 * their devices (the name is unlinked at close otherwise). */
void shm_sweep_stale(void)
{
	char mine[32];
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	if (!d)
		return;
	snprintf(mine, sizeof(mine), SHM_NAME_PREFIX "%d.", (int)getpid());
	while ((e = readdir(d)))
		if (strncmp(e->d_name, SHM_NAME_PREFIX, strlen(SHM_NAME_PREFIX)) == 0 &&
		    strncmp(e->d_name, mine, strlen(mine)) != 0 &&
		    strlen(e->d_name) <= TP_ADDR_MAX + 20)
			sweep_one(e->d_name);
	closedir(d);
}
