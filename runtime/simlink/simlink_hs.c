/*
 * simlink_hs.c - setting a link up and down: parameter checks, the Unix
 * socket handshake (magic, version, device description, link parameters)
 * with the shared-memory fds passed by SCM_RIGHTS, the mappings, close.
 * Not here: anything that runs after the handshake (simlink.c).
 *
 * Handshake, in order (simlink.h): host -> HS_HOST + DMA memfd; device ->
 * HS_DEV + queue memfd (or HS_DEV with status -EPROTO and a reason);
 * host -> HS_ACK.  Each side checks magic and version of what it
 * receives; every receive waits at most the caller's timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"
#include "simlink_int.h"

struct simlink_server {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

void simlink_params_default(struct simlink_params *p)
{
	memset(p, 0, sizeof(*p));
	p->ps_per_cycle = 1000;
	p->latency_ps = 500000;
	p->sync_interval_ps = 500000;
	p->bytes_per_cycle = 32;
	p->credit_bytes = 64 << 10;
	p->queue_msgs = 1024;
	p->max_payload = 4096;
	p->synchronized = 1;
	p->timeout_ms = 10000;
}

int simlink_params_check(const struct simlink_params *p)
{
	if (!p)
		return loom_err_set(EINVAL, "simlink: params is NULL");
	if (p->ps_per_cycle == 0 || p->bytes_per_cycle == 0 || p->sync_interval_ps == 0)
		return loom_err_set(EINVAL, "simlink: ps_per_cycle, bytes_per_cycle and "
				    "sync_interval_ps must be > 0");
	if (p->synchronized > 1)
		return loom_err_set(EINVAL, "simlink: synchronized=%u is not 0 or 1", p->synchronized);
	if (p->synchronized && p->latency_ps == 0)
		return loom_err_set(EINVAL, "simlink: latency_ps must be > 0 when synchronized "
				    "(zero lookahead deadlocks)");
	if (p->queue_msgs < 4 || p->queue_msgs > 65536 || (p->queue_msgs & (p->queue_msgs - 1)))
		return loom_err_set(EINVAL, "simlink: queue_msgs=%u is not a power of two in 4..65536",
				    p->queue_msgs);
	if (p->max_payload < 64 || p->max_payload > (1u << 20))
		return loom_err_set(EINVAL, "simlink: max_payload=%u is not in 64..1048576",
				    p->max_payload);
	if ((uint64_t)p->credit_bytes < SIMLINK_MSG_BYTES + (uint64_t)p->max_payload)
		return loom_err_set(EINVAL, "simlink: credit_bytes=%u < 64 + max_payload=%u",
				    p->credit_bytes, p->max_payload);
	if (p->timeout_ms == 0 || p->timeout_ms > 3600000)
		return loom_err_set(EINVAL, "simlink: timeout_ms=%u is not in 1..3600000",
				    p->timeout_ms);
	return 0;
}

int simlink_info_check(const struct simlink_info *info)
{
	if (!info)
		return loom_err_set(EINVAL, "simlink: info is NULL");
	if (info->n_bars == 0 || info->n_bars > SIMLINK_MAX_BARS)
		return loom_err_set(EINVAL, "simlink: n_bars=%u is not in 1..%d", info->n_bars,
				    SIMLINK_MAX_BARS);
	if (info->n_irqs > SIMLINK_MAX_IRQS || info->n_blocks > SIMLINK_MAX_BLOCKS)
		return loom_err_set(EINVAL, "simlink: n_irqs=%u (max %d) or n_blocks=%u (max %d)",
				    info->n_irqs, SIMLINK_MAX_IRQS, info->n_blocks,
				    SIMLINK_MAX_BLOCKS);
	for (uint32_t i = 0; i < info->n_blocks; i++) {
		const struct simlink_block *b = &info->blocks[i];

		if (b->bar >= info->n_bars || b->offset > info->bar_bytes[b->bar] ||
		    b->bytes > info->bar_bytes[b->bar] - b->offset)
			return loom_err_set(EINVAL, "simlink: block %u (bar %u, offset %llu, %llu "
					    "bytes) is outside its BAR", i, b->bar,
					    (unsigned long long)b->offset,
					    (unsigned long long)b->bytes);
	}
	return 0;
}

struct simlink *simlink_alloc(enum simlink_side side, const struct simlink_params *p)
{
	struct simlink *l = calloc(1, sizeof(*l));

	if (!l) {
		loom_err_set(ENOMEM, "simlink: out of memory");
		return NULL;
	}
	l->side = side;
	l->peer = side == SIMLINK_HOST ? "device" : "host";
	l->sock = -1;
	l->p = *p;
	l->timeout_ms = (int)p->timeout_ms;
	/* Every message costs at least 64 credit bytes. */
	l->cred_cap = p->credit_bytes / SIMLINK_MSG_BYTES + 1;
	l->cred = calloc(l->cred_cap, sizeof(*l->cred));
	if (!l->cred) {
		free(l);
		loom_err_set(ENOMEM, "simlink: out of memory");
		return NULL;
	}
	l->st.horizon_ps = p->synchronized ? p->latency_ps : 0;
	return l;
}

/* Map the queue memory and point the four ring ends at it. */
int simlink_map_queues(struct simlink *l, int fd, uint64_t bytes)
{
	uint32_t n = l->p.queue_msgs;
	struct simlink_msg *base;
	struct simlink_bell *bells;
	int rx_req = l->side == SIMLINK_HOST ? SIMLINK_D2H_REQ : SIMLINK_H2D_REQ;
	int tx_req = l->side == SIMLINK_HOST ? SIMLINK_H2D_REQ : SIMLINK_D2H_REQ;

	bells = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bells == MAP_FAILED)
		return loom_err_set(errno, "simlink: mmap queues (%llu bytes): %s",
				    (unsigned long long)bytes, strerror(errno));
	l->qmem = bells;
	l->qmem_bytes = bytes;
	l->bell_self = &bells[l->side];
	l->bell_peer = &bells[l->side == SIMLINK_HOST ? SIMLINK_DEV : SIMLINK_HOST];
	base = (struct simlink_msg *)((uint8_t *)bells + SIMLINK_QHDR_BYTES);
	for (int q = 0; q < SIMLINK_NQ; q++) {
		l->tx[q].slots = base + (size_t)(tx_req + q) * n;
		l->rx[q].slots = base + (size_t)(rx_req + q) * n;
		l->tx[q].n = l->rx[q].n = n;
	}
	return 0;
}

/* ---- socket helpers ------------------------------------------------- */

static int sock_addr(const char *path, struct sockaddr_un *a)
{
	if (!path || !*path)
		return loom_err_set(EINVAL, "simlink: socket path is empty");
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return loom_err_set(ENAMETOOLONG, "simlink: socket path '%s' is too long", path);
	strcpy(a->sun_path, path);
	return 0;
}

/* Wait until fd is readable, at most timeout_ms. */
static int wait_readable(int fd, int timeout_ms, const char *what)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int rc;

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return loom_err_set(errno, "simlink: poll while %s: %s", what, strerror(errno));
	if (rc == 0)
		return loom_err_set(ETIMEDOUT, "simlink: timed out after %d ms %s", timeout_ms, what);
	return 0;
}

/* Send one datagram with an optional fd. */
static int send_msg(int sock, const void *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)len)
		return loom_err_set(errno ? errno : EIO, "simlink: handshake send: %s",
				    strerror(errno));
	return 0;
}

/* Receive one datagram (at most cap bytes) and the fd it carries (or -1). */
static ssize_t recv_msg(int sock, void *buf, size_t cap, int *fd, int timeout_ms, const char *what)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;
	int rc = wait_readable(sock, timeout_ms, what);

	*fd = -1;
	if (rc < 0)
		return rc;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return loom_err_set(errno, "simlink: %s: %s", what, strerror(errno));
	if (n == 0)
		return loom_err_set(EPIPE, "simlink: peer closed the socket %s", what);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

/* A header's magic and version: -EPROTO with both versions named. */
static int check_header(uint64_t magic, uint32_t version, uint32_t kind, uint32_t want_kind,
			const char *peer, char *reason, size_t cap)
{
	if (magic != SIMLINK_MAGIC || kind != want_kind)
		snprintf(reason, cap, "simlink: %s sent no simlink handshake (magic %#llx, "
			 "kind %u)", peer, (unsigned long long)magic, kind);
	else if (version != SIMLINK_VERSION)
		snprintf(reason, cap, "simlink: %s speaks protocol version %u, this side %u",
			 peer, version, SIMLINK_VERSION);
	else
		return 0;
	return loom_err_set(EPROTO, "%s", reason);
}

static int memfd_sized(const char *name, uint64_t bytes)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return loom_err_set(errno, "simlink: memfd_create %s: %s", name, strerror(errno));
	if (ftruncate(fd, (off_t)bytes) < 0) {
		int e = errno;

		close(fd);
		return loom_err_set(e, "simlink: size %s to %llu bytes: %s", name,
				    (unsigned long long)bytes, strerror(e));
	}
	return fd;
}

static int fd_bytes_at_least(int fd, uint64_t bytes, const char *what)
{
	struct stat sb;

	if (fd < 0)
		return loom_err_set(EPROTO, "simlink: handshake carried no %s fd", what);
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size < bytes)
		return loom_err_set(EPROTO, "simlink: %s memory is smaller than %llu bytes", what,
				    (unsigned long long)bytes);
	return 0;
}

static int map_dma(struct simlink *l, int fd, uint64_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return loom_err_set(errno, "simlink: mmap host DMA memory (%llu bytes): %s",
				    (unsigned long long)bytes, strerror(errno));
	l->dma = p;
	l->dma_bytes = bytes;
	return 0;
}

/* After the handshake: the socket only signals EOF; never block on it. */
static void sock_finish(struct simlink *l, int sock)
{
	int fl = fcntl(sock, F_GETFL);

	if (fl >= 0)
		fcntl(sock, F_SETFL, fl | O_NONBLOCK);
	l->sock = sock;
}

/* ---- device side ---------------------------------------------------- */

struct simlink_server *simlink_dev_listen(const char *path)
{
	struct simlink_server *s;
	struct sockaddr_un a;

	if (sock_addr(path, &a) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		loom_err_set(ENOMEM, "simlink: out of memory");
		return NULL;
	}
	strcpy(s->path, a.sun_path);
	s->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		loom_err_set(errno, "simlink: socket: %s", strerror(errno));
		goto err_free;
	}
	unlink(path); /* a stale socket of a dead emulator */
	if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->fd, 4) < 0) {
		loom_err_set(errno, "simlink: listen on %s: %s", path, strerror(errno));
		goto err_close;
	}
	return s;

err_close:
	close(s->fd);
err_free:
	free(s);
	return NULL;
}

void simlink_server_close(struct simlink_server *s)
{
	if (!s)
		return;
	close(s->fd);
	unlink(s->path);
	free(s);
}

/* Refuse a host: tell it why (best effort), keep the reason for our caller. */
static int dev_refuse(int sock, int err, const char *reason)
{
	struct simlink_hs_dev d;

	memset(&d, 0, sizeof(d));
	d.magic = SIMLINK_MAGIC;
	d.version = SIMLINK_VERSION;
	d.kind = SIMLINK_HS_DEV;
	d.status = -err;
	snprintf(d.reason, sizeof(d.reason), "%s", reason);
	send_msg(sock, &d, sizeof(d), -1);
	return loom_err_set(err, "%s", reason);
}

/* Read the host's hello, map its DMA memory. */
static int dev_hello(struct simlink *l, int sock, int timeout_ms)
{
	struct simlink_hs_host h;
	char reason[112];
	int fd, rc;
	ssize_t n;

	memset(&h, 0, sizeof(h));
	n = recv_msg(sock, &h, sizeof(h), &fd, timeout_ms, "waiting for the host's hello");
	if (n < 0)
		return (int)n;
	rc = check_header(h.magic, h.version, h.kind, SIMLINK_HS_HOST, "host", reason,
			  sizeof(reason));
	if (rc == 0 && (n != (ssize_t)sizeof(h) || h.dma_bytes == 0))
		rc = loom_err_set(EPROTO, "%s", strcpy(reason, "simlink: malformed host hello"));
	if (rc == 0)
		rc = fd_bytes_at_least(fd, h.dma_bytes, "host DMA");
	if (rc == 0)
		rc = map_dma(l, fd, h.dma_bytes);
	if (rc < 0) {
		snprintf(reason, sizeof(reason), "%s", loom_err_msg());
		rc = dev_refuse(sock, -rc, reason);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Send our description with the queue memory; wait for the host's ACK. */
static int dev_describe(struct simlink *l, int sock, int timeout_ms)
{
	struct simlink_hs_dev d;
	struct simlink_hs_ack a;
	char reason[112];
	uint64_t qbytes = simlink_qmem_bytes(l->p.queue_msgs);
	int fd = memfd_sized("loom-simlink-queues", qbytes), rc, afd;
	ssize_t n;

	if (fd < 0)
		return fd;
	rc = simlink_map_queues(l, fd, qbytes);
	memset(&d, 0, sizeof(d));
	d.magic = SIMLINK_MAGIC;
	d.version = SIMLINK_VERSION;
	d.kind = SIMLINK_HS_DEV;
	d.params = l->p;
	d.info = l->info;
	if (rc == 0)
		rc = send_msg(sock, &d, sizeof(d), fd);
	close(fd);
	if (rc < 0)
		return rc;
	memset(&a, 0, sizeof(a));
	n = recv_msg(sock, &a, sizeof(a), &afd, timeout_ms, "waiting for the host's ack");
	if (afd >= 0)
		close(afd);
	if (n < 0)
		return (int)n;
	rc = check_header(a.magic, a.version, a.kind, SIMLINK_HS_ACK, "host", reason,
			  sizeof(reason));
	if (rc == 0 && a.status != 0)
		rc = loom_err_set(a.status < 0 ? -a.status : EPROTO, "simlink: host refused: %.112s",
				  a.reason);
	return rc;
}

static int accept_one(struct simlink_server *s, int timeout_ms)
{
	int rc = wait_readable(s->fd, timeout_ms, "waiting for a host to connect");
	int sock;

	if (rc < 0)
		return rc;
	sock = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0)
		return loom_err_set(errno, "simlink: accept on %s: %s", s->path, strerror(errno));
	return sock;
}

struct simlink *simlink_dev_accept(struct simlink_server *s, const struct simlink_info *info,
				   const struct simlink_params *p, int timeout_ms)
{
	struct simlink *l;
	int sock;

	if (!s || timeout_ms <= 0) {
		loom_err_set(EINVAL, "simlink: accept needs a server and timeout_ms > 0");
		return NULL;
	}
	if (simlink_params_check(p) < 0 || simlink_info_check(info) < 0)
		return NULL;
	l = simlink_alloc(SIMLINK_DEV, p);
	if (!l)
		return NULL;
	l->info = *info;
	sock = accept_one(s, timeout_ms);
	if (sock < 0)
		goto err_free;
	if (dev_hello(l, sock, timeout_ms) < 0 || dev_describe(l, sock, timeout_ms) < 0)
		goto err_close;
	sock_finish(l, sock);
	return l;

err_close:
	close(sock);
err_free:
	simlink_close(l);
	return NULL;
}

/* ---- host side ------------------------------------------------------ */

static int host_dial(const char *path, int timeout_ms)
{
	struct sockaddr_un a;
	uint64_t end = simlink_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	int rc = sock_addr(path, &a), sock, e;

	if (rc < 0)
		return rc;
	for (;;) {
		sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (sock < 0)
			return loom_err_set(errno, "simlink: socket: %s", strerror(errno));
		if (connect(sock, (struct sockaddr *)&a, sizeof(a)) == 0)
			return sock;
		e = errno;
		close(sock);
		if ((e != ENOENT && e != ECONNREFUSED) || simlink_mono_ns() >= end)
			return loom_err_set(e, "simlink: connect to %s: %s", path, strerror(e));
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL); /* the device is starting */
	}
}

/* Check the device's answer; take its parameters, map the queues. */
static int host_take_dev(struct simlink *l, const struct simlink_hs_dev *d, ssize_t n, int qfd)
{
	char reason[112];
	uint64_t qbytes;
	int rc = check_header(d->magic, d->version, d->kind, SIMLINK_HS_DEV, "device", reason,
			      sizeof(reason));

	if (rc < 0)
		return rc;
	if (d->status != 0)
		return loom_err_set(d->status < 0 ? -d->status : EPROTO,
				    "simlink: device refused: %.112s", d->reason);
	if (n != (ssize_t)sizeof(*d))
		return loom_err_set(EPROTO, "simlink: device hello of %zd bytes, want %zu", n,
				    sizeof(*d));
	if (simlink_params_check(&d->params) < 0 || simlink_info_check(&d->info) < 0)
		return loom_err_set(EPROTO, "simlink: device sent bad parameters: %s",
				    loom_err_msg());
	l->info = d->info;
	l->p = d->params;
	qbytes = simlink_qmem_bytes(l->p.queue_msgs);
	rc = fd_bytes_at_least(qfd, qbytes, "queue");
	return rc < 0 ? rc : simlink_map_queues(l, qfd, qbytes);
}

/* Acknowledge (status 0) or refuse with the reason in loom_err_msg(). */
static void host_ack(int sock, int status)
{
	struct simlink_hs_ack a;

	memset(&a, 0, sizeof(a));
	a.magic = SIMLINK_MAGIC;
	a.version = SIMLINK_VERSION;
	a.kind = SIMLINK_HS_ACK;
	a.status = status;
	if (status)
		snprintf(a.reason, sizeof(a.reason), "%s", loom_err_msg());
	send_msg(sock, &a, sizeof(a), -1);
}

static int host_handshake(struct simlink *l, int sock, uint64_t dma_bytes)
{
	struct simlink_hs_host h = { .magic = SIMLINK_MAGIC, .version = SIMLINK_VERSION,
				     .kind = SIMLINK_HS_HOST, .dma_bytes = dma_bytes };
	struct simlink_hs_dev *d = calloc(1, sizeof(*d));
	int fd = memfd_sized("loom-simlink-dma", dma_bytes), qfd = -1, rc;
	ssize_t n;

	if (!d)
		rc = loom_err_set(ENOMEM, "simlink: out of memory");
	else if (fd < 0)
		rc = fd;
	else if ((rc = map_dma(l, fd, dma_bytes)) == 0 && (rc = send_msg(sock, &h, sizeof(h), fd)) == 0) {
		n = recv_msg(sock, d, sizeof(*d), &qfd, l->timeout_ms,
			     "waiting for the device's description");
		rc = n < 0 ? (int)n : host_take_dev(l, d, n, qfd);
		host_ack(sock, rc);
	}
	if (fd >= 0)
		close(fd);
	if (qfd >= 0)
		close(qfd);
	free(d);
	return rc;
}

struct simlink *simlink_host_connect(const char *path, uint64_t dma_bytes, int timeout_ms)
{
	struct simlink_params p;
	struct simlink *l;
	int sock;

	if (dma_bytes == 0 || timeout_ms <= 0) {
		loom_err_set(EINVAL, "simlink: connect needs dma_bytes > 0 (got %llu) and "
			     "timeout_ms > 0 (got %d)", (unsigned long long)dma_bytes, timeout_ms);
		return NULL;
	}
	simlink_params_default(&p); /* replaced by the device's in the handshake */
	l = simlink_alloc(SIMLINK_HOST, &p);
	if (!l)
		return NULL;
	sock = host_dial(path, timeout_ms);
	if (sock < 0)
		goto err_free;
	l->timeout_ms = timeout_ms;
	if (host_handshake(l, sock, dma_bytes) < 0)
		goto err_close;
	/* Credits follow the device's parameters. */
	free(l->cred);
	l->cred_cap = l->p.credit_bytes / SIMLINK_MSG_BYTES + 1;
	l->cred = calloc(l->cred_cap, sizeof(*l->cred));
	if (!l->cred) {
		loom_err_set(ENOMEM, "simlink: out of memory");
		goto err_close;
	}
	l->st.horizon_ps = l->p.synchronized ? l->p.latency_ps : 0;
	sock_finish(l, sock);
	return l;

err_close:
	close(sock);
err_free:
	simlink_close(l);
	return NULL;
}

void simlink_close(struct simlink *l)
{
	if (!l)
		return;
	if (l->sock >= 0)
		close(l->sock);
	if (l->qmem)
		munmap(l->qmem, l->qmem_bytes);
	if (l->dma)
		munmap(l->dma, l->dma_bytes);
	free(l->cred);
	free(l);
}
