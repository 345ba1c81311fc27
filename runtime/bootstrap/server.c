/*
 * server.c - the TCP bootstrap store's server: one thread inside rank 0
 * that holds the key-value store, runs barriers and all-gathers, and turns
 * a rank's unannounced disconnect into an abort of the whole job.
 * It is not a client (client.c) and does not speak MPI (mpi.c).
 *
 * Concurrency contract:
 *   - boot_server_start() runs on the caller's thread: it binds, listens,
 *     fills struct boot_server and creates the server thread.  From
 *     pthread_create() on, every field except `stop` and `wake_fd` belongs
 *     to the server thread alone, so the store needs no locks.
 *   - boot_server_stop() (the same caller thread) stores stop = true with
 *     release order, writes wake_fd (an eventfd) so poll() returns, and
 *     joins; after the join the caller owns every field again and frees.
 *   - The server thread loads `stop` with acquire order after each poll().
 *   - Rank 0's own calls reach the server through its TCP connection like
 *     any other rank's, never by touching this state.
 *
 * Event loop: one poll() over the eventfd, the listening socket and every
 * connection (non-blocking).  Each connection assembles one message at a
 * time (header, then a payload no larger than its type's limit) and owns an
 * output queue of messages whose payloads ("blobs") are reference counted,
 * so an all-gather result is stored once however many ranks receive it.
 *
 * Errors: a malformed first message or a refused HELLO gets ERROR and the
 * connection is closed; the job goes on.  A protocol error from a rank
 * that has joined, a rank's connection closing before it said BYE, an ABORT
 * request, or collectives that do not match abort the job: every rank gets
 * ABORTED with the reason and every later request is answered the same.
 * Ranks are not re-admitted after an abort.
 */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "boot_impl.h"
#include "boot_wire.h"
#include "loom/err.h"

#define SRV_SPARE_CONNS 16	      /* connections beyond world_size (not yet HELLO'd) */
#define SRV_KV_BYTES_MAX (256u << 20) /* keys + values held by the store */
#define SRV_DRAIN_MS 2000	      /* how long a rejected connection may linger */
#define SRV_DRAIN_BYTES (1u << 20)    /* and how much it may still send */
#define SRV_MSGS_PER_READ 64	      /* fairness between connections */

struct srv_blob {
	int refs; /* owned by the server thread: plain int */
	size_t len;
	uint8_t data[];
};

struct srv_out {
	struct srv_out *next;
	uint8_t hdr[BOOT_WIRE_HDR_BYTES];
	struct srv_blob *blob; /* NULL: no payload */
	size_t sent;	       /* bytes of hdr + payload written so far */
};

enum srv_wait {
	SRV_WAIT_NONE,
	SRV_WAIT_GET,  /* key in wait_key */
	SRV_WAIT_COLL, /* in the current barrier / all-gather */
	SRV_WAIT_BYE,  /* rank 0's goodbye: until every other rank said BYE */
};

struct srv_conn {
	int fd;
	int rank; /* -1 until a HELLO is accepted */
	char peer[64];
	/* The message being read: header, then len_bytes of payload. */
	uint8_t hdr_buf[BOOT_WIRE_HDR_BYTES];
	size_t hdr_have;
	struct boot_wire_hdr hdr;
	uint8_t *payload;
	size_t payload_have;
	bool in_payload;
	enum srv_wait wait;
	char wait_key[BOOT_KEY_MAX + 1];
	struct srv_out *out_head, *out_tail;
	bool draining; /* rejected: flush, shut down, discard input, close */
	bool shut_wr;
	/* Until HELLO: when a silent stranger is refused; when draining: when
	 * it is closed; 0 once joined. */
	int64_t deadline_ms;
	size_t drained_bytes;
	bool closed; /* to be freed after this poll round */
};

struct srv_kv {
	char key[BOOT_KEY_MAX + 1];
	struct srv_blob *val;
};

/* The collective in progress (arrived == 0: none). */
struct srv_coll {
	uint32_t seq;
	unsigned type; /* BOOT_MSG_BARRIER or BOOT_MSG_GATHER */
	uint32_t len;  /* bytes per rank */
	int arrived;
	int first_rank;
	bool *in;	       /* (world) arrived? */
	struct srv_blob *blob; /* (world * len) result */
};

struct boot_server {
	int listen_fd;
	int wake_fd;
	int world;
	int port;
	int hello_ms; /* a new connection must say HELLO within this */
	pthread_t thread;
	atomic_bool stop;
	/* Everything below: server thread only (see the contract above). */
	struct srv_conn **conns;
	int nconns, conn_cap;
	struct pollfd *pfds; /* (conn_cap + 2) */
	struct srv_conn **by_rank; /* (world) connection of a joined rank */
	uint32_t *pid;		   /* (world) from HELLO */
	bool *ever;		   /* (world) joined at least once */
	bool *bye;		   /* (world) said BYE */
	struct srv_kv *kv;
	size_t nkv, kv_cap, kv_bytes;
	struct srv_coll coll;
	bool aborted;
	char abort_msg[BOOT_WIRE_TEXT_MAX];
};

static void srv_conn_lost(struct boot_server *s, struct srv_conn *c, const char *why);
static void srv_abort(struct boot_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- blobs and the output queue ------------------------------------------ */

static struct srv_blob *blob_new(const void *data, size_t len)
{
	struct srv_blob *b = malloc(sizeof(*b) + len);

	if (!b)
		return NULL;
	b->refs = 1;
	b->len = len;
	if (data && len)
		memcpy(b->data, data, len);
	return b;
}

static void blob_put(struct srv_blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

/* Write what the socket takes now; the rest waits for POLLOUT. */
static void srv_flush(struct boot_server *s, struct srv_conn *c)
{
	while (c->out_head && !c->closed) {
		struct srv_out *o = c->out_head;
		size_t blen = o->blob ? o->blob->len : 0;
		struct iovec iov[2];
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
		size_t h = o->sent < BOOT_WIRE_HDR_BYTES ? o->sent : BOOT_WIRE_HDR_BYTES;
		ssize_t n;

		iov[0] = (struct iovec){ o->hdr + h, BOOT_WIRE_HDR_BYTES - h };
		iov[1] = (struct iovec){ o->blob ? o->blob->data + (o->sent - h) : NULL,
					 blen - (o->sent - h) };
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				srv_conn_lost(s, c, strerror(errno));
			return;
		}
		o->sent += (size_t)n;
		if (o->sent < BOOT_WIRE_HDR_BYTES + blen)
			return;
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		blob_put(o->blob);
		free(o);
	}
	if (c->draining && !c->out_head && !c->shut_wr && !c->closed) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr = true;
	}
}

/* Queue a message (takes a reference on blob) and try to send it. */
static void srv_send(struct boot_server *s, struct srv_conn *c, unsigned type, uint32_t arg,
		     struct srv_blob *blob)
{
	struct srv_out *o;

	if (c->closed)
		return;
	o = calloc(1, sizeof(*o));
	if (!o) {
		srv_conn_lost(s, c, "server out of memory");
		return;
	}
	boot_wire_hdr_encode(o->hdr, type, arg, blob ? (uint32_t)blob->len : 0);
	o->blob = blob;
	if (blob)
		blob->refs++;
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	srv_flush(s, c);
}

static void srv_send_bytes(struct boot_server *s, struct srv_conn *c, unsigned type,
			   uint32_t arg, const void *data, size_t len)
{
	struct srv_blob *b = NULL;

	if (len) {
		b = blob_new(data, len);
		if (!b) {
			srv_conn_lost(s, c, "server out of memory");
			return;
		}
	}
	srv_send(s, c, type, arg, b);
	blob_put(b);
}

static void srv_send_text(struct boot_server *s, struct srv_conn *c, unsigned type,
			  const char *text)
{
	srv_send_bytes(s, c, type, 0, text, strnlen(text, BOOT_WIRE_TEXT_MAX));
}

/* Refuse a connection that has not joined: ERROR, then close. */
static void srv_reject(struct boot_server *s, struct srv_conn *c, unsigned type,
		       const char *text)
{
	srv_send_text(s, c, type, text);
	c->draining = true;
	c->deadline_ms = boot_now_ms() + SRV_DRAIN_MS;
	srv_flush(s, c);
}

/* ---- rank bookkeeping ------------------------------------------------------ */

/* "1-3,7" for the ranks r where pick(s, r) holds; "none" if there are none. */
static void srv_fmt_ranks(const struct boot_server *s,
			  bool (*pick)(const struct boot_server *s, int r), char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int r = 0; r < s->world; r++) {
		int end = r;

		if (!pick(s, r))
			continue;
		while (end + 1 < s->world && pick(s, end + 1))
			end++;
		if (n + 24 >= cap) {
			snprintf(buf + n, cap - n, ",...");
			return;
		}
		n += (size_t)snprintf(buf + n, cap - n, end > r ? "%s%d-%d" : "%s%d",
				      n ? "," : "", r, end);
		r = end;
	}
	if (!n)
		snprintf(buf, cap, "none");
}

static bool pick_not_in_coll(const struct boot_server *s, int r) { return !s->coll.in[r]; }
static bool pick_never(const struct boot_server *s, int r) { return !s->ever[r]; }
static bool pick_no_bye(const struct boot_server *s, int r) { return r != 0 && !s->bye[r]; }

static const char *coll_name(unsigned type)
{
	return type == BOOT_MSG_BARRIER ? "barrier" : "allgather";
}

/* What the job is waiting for, appended to a client's ABORT reason. */
static void srv_wait_context(const struct boot_server *s, char *buf, size_t cap)
{
	char missing[160], never[160];

	buf[0] = '\0';
	srv_fmt_ranks(s, pick_never, never, sizeof(never));
	if (s->coll.arrived > 0) {
		srv_fmt_ranks(s, pick_not_in_coll, missing, sizeof(missing));
		snprintf(buf, cap, "; %s #%u waits for ranks %s (never connected: %s)",
			 coll_name(s->coll.type), s->coll.seq, missing, never);
	} else if (s->by_rank[0] && s->by_rank[0]->wait == SRV_WAIT_BYE) {
		srv_fmt_ranks(s, pick_no_bye, missing, sizeof(missing));
		snprintf(buf, cap, "; rank 0's finalize waits for ranks %s (never connected: %s)",
			 missing, never);
	}
}

static void srv_coll_reset(struct boot_server *s)
{
	blob_put(s->coll.blob);
	s->coll.blob = NULL;
	s->coll.arrived = 0;
	memset(s->coll.in, 0, (size_t)s->world * sizeof(bool));
}

/* End the job: ABORTED with the reason to every joined rank, now and for
 * every later request. */
static void srv_abort(struct boot_server *s, const char *fmt, ...)
{
	va_list ap;

	if (s->aborted)
		return;
	s->aborted = true;
	va_start(ap, fmt);
	vsnprintf(s->abort_msg, sizeof(s->abort_msg), fmt, ap);
	va_end(ap);
	srv_coll_reset(s);
	for (int r = 0; r < s->world; r++) {
		struct srv_conn *c = s->by_rank[r];

		if (c && !c->closed) {
			c->wait = SRV_WAIT_NONE;
			srv_send_text(s, c, BOOT_MSG_ABORTED, s->abort_msg);
		}
	}
}

/* Rank 0's goodbye completes once every other rank has said BYE. */
static void srv_check_bye0(struct boot_server *s)
{
	struct srv_conn *c0 = s->by_rank[0];

	if (!c0 || c0->wait != SRV_WAIT_BYE || s->aborted)
		return;
	for (int r = 1; r < s->world; r++)
		if (!s->bye[r])
			return;
	c0->wait = SRV_WAIT_NONE;
	srv_send(s, c0, BOOT_MSG_BYE_OK, 0, NULL);
}

/* A collective can never finish once a rank that has not joined it said
 * BYE. */
static void srv_coll_check_bye(struct boot_server *s)
{
	if (s->coll.arrived == 0)
		return;
	for (int r = 0; r < s->world; r++)
		if (!s->coll.in[r] && s->bye[r]) {
			srv_abort(s, "rank %d finalized while rank %d waits in %s #%u", r,
				  s->coll.first_rank, coll_name(s->coll.type), s->coll.seq);
			return;
		}
}

/* The connection is gone (EOF, reset, or we gave up on it). */
static void srv_conn_lost(struct boot_server *s, struct srv_conn *c, const char *why)
{
	int r = c->rank;

	if (c->closed)
		return;
	c->closed = true;
	if (r < 0)
		return;
	s->by_rank[r] = NULL;
	if (!s->bye[r])
		srv_abort(s, "rank %d (pid %u) closed its connection without finalize (%s): it "
			  "died or exited early", r, s->pid[r], why);
	srv_check_bye0(s);
}

/* ---- requests -------------------------------------------------------------- */

static struct srv_kv *srv_kv_find(struct boot_server *s, const char *key)
{
	/* Linear: a job holds tens to a few thousand keys, set once each. */
	for (size_t i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return &s->kv[i];
	return NULL;
}

/* Room for one more key (the array doubles). */
static bool srv_kv_reserve(struct boot_server *s)
{
	size_t cap = s->kv_cap ? 2 * s->kv_cap : 64;
	struct srv_kv *kv;

	if (s->nkv < s->kv_cap)
		return true;
	kv = realloc(s->kv, cap * sizeof(*kv));
	if (!kv)
		return false;
	s->kv = kv;
	s->kv_cap = cap;
	return true;
}

/* Reply VALUE to every rank blocked in a GET of key. */
static void srv_wake_getters(struct boot_server *s, const char *key, struct srv_blob *val)
{
	for (int r = 0; r < s->world; r++) {
		struct srv_conn *w = s->by_rank[r];

		if (w && w->wait == SRV_WAIT_GET && strcmp(w->wait_key, key) == 0) {
			w->wait = SRV_WAIT_NONE;
			srv_send(s, w, BOOT_MSG_VALUE, 0, val);
		}
	}
}

/* SET payload: u16 key_len, key, value. */
static void srv_on_set(struct boot_server *s, struct srv_conn *c, const uint8_t *p, size_t len)
{
	size_t klen = (size_t)p[0] << 8 | p[1], vlen;
	struct srv_blob *val;
	struct srv_kv *e;
	char key[BOOT_KEY_MAX + 1];

	if (klen > len - 2 || !boot_wire_key_valid((const char *)p + 2, klen)) {
		srv_abort(s, "rank %d sent a SET with a bad key (%zu bytes)", c->rank, klen);
		return;
	}
	vlen = len - 2 - klen;
	memcpy(key, p + 2, klen);
	key[klen] = '\0';
	e = srv_kv_find(s, key);
	if (s->kv_bytes + klen + vlen > SRV_KV_BYTES_MAX) {
		srv_abort(s, "rank %d: set '%s' (%zu bytes) overflows the store's %u-byte limit",
			  c->rank, key, vlen, SRV_KV_BYTES_MAX);
		return;
	}
	val = blob_new(p + 2 + klen, vlen);
	if (!val || (!e && !srv_kv_reserve(s))) {
		blob_put(val);
		srv_abort(s, "rank %d: set '%s': server out of memory", c->rank, key);
		return;
	}
	if (e) {
		s->kv_bytes -= e->val->len;
		blob_put(e->val);
	} else {
		e = &s->kv[s->nkv++];
		memcpy(e->key, key, klen + 1);
		s->kv_bytes += klen;
	}
	e->val = val;
	s->kv_bytes += vlen;
	srv_send(s, c, BOOT_MSG_SET_OK, 0, NULL);
	srv_wake_getters(s, key, val);
}

static void srv_on_get(struct boot_server *s, struct srv_conn *c, const uint8_t *p, size_t len)
{
	struct srv_kv *e;

	if (!boot_wire_key_valid((const char *)p, len)) {
		srv_abort(s, "rank %d sent a GET with a bad key (%zu bytes)", c->rank, len);
		return;
	}
	memcpy(c->wait_key, p, len);
	c->wait_key[len] = '\0';
	e = srv_kv_find(s, c->wait_key);
	if (e)
		srv_send(s, c, BOOT_MSG_VALUE, 0, e->val);
	else
		c->wait = SRV_WAIT_GET;
}

/* Start collective `seq` with its first rank, or check that a later rank
 * joins the same one.  false: the job was aborted. */
static bool srv_coll_match(struct boot_server *s, int rank, unsigned type, uint32_t seq,
			   uint32_t len)
{
	struct srv_coll *k = &s->coll;

	if (k->arrived == 0) {
		if ((uint64_t)len * (uint64_t)s->world > BOOT_GATHER_MAX) {
			srv_abort(s, "rank %d: allgather #%u of %u bytes x %d ranks exceeds %u bytes",
				  rank, seq, len, s->world, BOOT_GATHER_MAX);
			return false;
		}
		k->blob = blob_new(NULL, (size_t)len * (size_t)s->world);
		if (!k->blob) {
			srv_abort(s, "rank %d: allgather #%u: server out of memory", rank, seq);
			return false;
		}
		k->seq = seq;
		k->type = type;
		k->len = len;
		k->first_rank = rank;
		return true;
	}
	if (k->seq == seq && k->type == type && k->len == len)
		return true;
	srv_abort(s, "rank %d entered %s #%u (%u bytes/rank) while rank %d is in %s #%u (%u "
		  "bytes/rank): every rank must make the same collective calls in the same order",
		  rank, coll_name(type), seq, len, k->first_rank, coll_name(k->type), k->seq,
		  k->len);
	return false;
}

static void srv_on_coll(struct boot_server *s, struct srv_conn *c, const uint8_t *p,
			uint32_t len)
{
	struct srv_coll *k = &s->coll;
	const struct boot_wire_hdr *h = &c->hdr;
	struct srv_blob *result;
	uint32_t seq = h->arg;

	if (!srv_coll_match(s, c->rank, h->type, seq, len))
		return;
	if (len)
		memcpy(k->blob->data + (size_t)c->rank * len, p, len);
	k->in[c->rank] = true;
	k->arrived++;
	c->wait = SRV_WAIT_COLL;
	srv_coll_check_bye(s);
	if (s->aborted || k->arrived < s->world)
		return;
	/* Complete: end the collective first, then send.  A send can fail and
	 * abort the job (clearing by_rank entries), so re-check each step. */
	result = k->blob;
	result->refs++;
	srv_coll_reset(s);
	for (int r = 0; r < s->world && !s->aborted; r++) {
		struct srv_conn *w = s->by_rank[r];

		if (w) {
			w->wait = SRV_WAIT_NONE;
			srv_send(s, w, BOOT_MSG_GATHERED, seq, result);
		}
	}
	blob_put(result);
}

static void srv_on_abort(struct boot_server *s, struct srv_conn *c, const uint8_t *p,
			 size_t len)
{
	char reason[BOOT_MSG_TEXT_MAX], ctx[400];
	size_t n = len < sizeof(reason) - 1 ? len : sizeof(reason) - 1;

	for (size_t i = 0; i < n; i++) /* text from the wire: printable only */
		reason[i] = p[i] >= 0x20 && p[i] <= 0x7e ? (char)p[i] : '?';
	reason[n] = '\0';
	srv_wait_context(s, ctx, sizeof(ctx));
	srv_abort(s, "%s%s", n ? reason : "rank aborted", ctx);
	(void)c;
}

static void srv_on_bye(struct boot_server *s, struct srv_conn *c)
{
	s->bye[c->rank] = true;
	if (c->rank == 0) {
		c->wait = SRV_WAIT_BYE;
		srv_coll_check_bye(s);
		srv_check_bye0(s);
		return;
	}
	srv_send(s, c, BOOT_MSG_BYE_OK, 0, NULL);
	srv_coll_check_bye(s);
	srv_check_bye0(s);
}

/* A message from a rank that has joined. */
static void srv_on_rank_msg(struct boot_server *s, struct srv_conn *c, const uint8_t *p)
{
	unsigned type = c->hdr.type;
	uint32_t len = c->hdr.len_bytes;

	if (type == BOOT_MSG_ABORT) {
		srv_on_abort(s, c, p, len);
		return;
	}
	if (s->aborted) {
		if (type == BOOT_MSG_BYE)
			s->bye[c->rank] = true;
		srv_send_text(s, c, type == BOOT_MSG_BYE ? BOOT_MSG_BYE_OK : BOOT_MSG_ABORTED,
			      type == BOOT_MSG_BYE ? "" : s->abort_msg);
		return;
	}
	if (c->wait != SRV_WAIT_NONE || type == BOOT_MSG_HELLO || s->bye[c->rank]) {
		srv_abort(s, "rank %d (pid %u) broke the protocol: %s %s", c->rank,
			  s->pid[c->rank], boot_msg_name(type),
			  type == BOOT_MSG_HELLO ? "after joining" :
			  s->bye[c->rank] ? "after BYE" : "while a request is pending");
		return;
	}
	switch (type) {
	case BOOT_MSG_SET: srv_on_set(s, c, p, len); break;
	case BOOT_MSG_GET: srv_on_get(s, c, p, len); break;
	case BOOT_MSG_BARRIER:
	case BOOT_MSG_GATHER: srv_on_coll(s, c, p, len); break;
	case BOOT_MSG_BYE: srv_on_bye(s, c); break;
	}
}

/* The first message of a connection must be a HELLO the job can accept. */
static void srv_on_hello(struct boot_server *s, struct srv_conn *c, const uint8_t *p)
{
	char why[200];
	int rank = (int)c->hdr.arg;
	uint32_t world, pid;

	if (c->hdr.type != BOOT_MSG_HELLO) {
		snprintf(why, sizeof(why), "expected HELLO as the first message, got %s",
			 boot_msg_name(c->hdr.type));
		srv_reject(s, c, BOOT_MSG_ERROR, why);
		return;
	}
	world = boot_get_be32(p);
	pid = boot_get_be32(p + 4);
	if (s->aborted) {
		srv_reject(s, c, BOOT_MSG_ABORTED, s->abort_msg);
		return;
	}
	why[0] = '\0';
	if (world != (uint32_t)s->world)
		snprintf(why, sizeof(why), "world size %u does not match rank 0's %d", world,
			 s->world);
	else if (c->hdr.arg >= (uint32_t)s->world)
		snprintf(why, sizeof(why), "rank %u is out of range for world size %d",
			 c->hdr.arg, s->world);
	else if (s->by_rank[rank])
		snprintf(why, sizeof(why), "rank %d is already connected (pid %u)", rank,
			 s->pid[rank]);
	else if (s->bye[rank])
		snprintf(why, sizeof(why), "rank %d has already finalized", rank);
	if (why[0]) {
		srv_reject(s, c, BOOT_MSG_ERROR, why);
		return;
	}
	c->rank = rank;
	c->deadline_ms = 0;
	s->by_rank[rank] = c;
	s->ever[rank] = true;
	s->pid[rank] = pid;
	srv_send(s, c, BOOT_MSG_HELLO_OK, 0, NULL);
}

/* ---- reading ---------------------------------------------------------------- */

static void srv_dispatch(struct boot_server *s, struct srv_conn *c)
{
	static const uint8_t none[8];
	const uint8_t *p = c->payload ? c->payload : none;

	if (c->rank < 0)
		srv_on_hello(s, c, p);
	else
		srv_on_rank_msg(s, c, p);
	free(c->payload);
	c->payload = NULL;
	c->payload_have = 0;
	c->hdr_have = 0;
	c->in_payload = false;
}

/* A header that fails validation: refuse a stranger, abort for a rank. */
static void srv_bad_header(struct boot_server *s, struct srv_conn *c)
{
	char why[BOOT_MSG_TEXT_MAX];

	snprintf(why, sizeof(why), "%s", loom_err_msg());
	if (c->rank < 0) {
		srv_reject(s, c, BOOT_MSG_ERROR, why);
		return;
	}
	srv_abort(s, "rank %d (pid %u) sent a malformed message: %s", c->rank, s->pid[c->rank],
		  why);
	srv_conn_lost(s, c, "protocol error");
}

/* Header complete: validate it and size the payload buffer by it. */
static void srv_header_done(struct boot_server *s, struct srv_conn *c)
{
	if (boot_wire_hdr_decode(c->hdr_buf, true, &c->hdr) < 0) {
		srv_bad_header(s, c);
		return;
	}
	c->in_payload = true;
	if (c->hdr.len_bytes == 0) {
		srv_dispatch(s, c);
		return;
	}
	c->payload = malloc(c->hdr.len_bytes); /* <= the type's limit (decode) */
	if (!c->payload) {
		loom_err_set(ENOMEM, "server out of memory for a %u-byte message",
			     c->hdr.len_bytes);
		srv_bad_header(s, c);
	}
}

/* Where the next bytes of the current message go. */
static void srv_rx_target(struct srv_conn *c, uint8_t **dst, size_t *want)
{
	if (!c->in_payload) {
		*dst = c->hdr_buf + c->hdr_have;
		*want = BOOT_WIRE_HDR_BYTES - c->hdr_have;
	} else {
		*dst = c->payload + c->payload_have;
		*want = c->hdr.len_bytes - c->payload_have;
	}
}

/* A rejected connection: discard what it sends until EOF or a limit. */
static void srv_drain(struct boot_server *s, struct srv_conn *c)
{
	uint8_t junk[4096];
	ssize_t n;

	while ((n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		if ((c->drained_bytes += (size_t)n) > SRV_DRAIN_BYTES)
			break;
	if (n == 0 || c->drained_bytes > SRV_DRAIN_BYTES ||
	    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		srv_conn_lost(s, c, "rejected");
}

static void srv_read(struct boot_server *s, struct srv_conn *c)
{
	for (int msgs = 0; msgs < SRV_MSGS_PER_READ && !c->closed && !c->draining;) {
		uint8_t *dst;
		size_t want;
		ssize_t n;

		srv_rx_target(c, &dst, &want);
		n = recv(c->fd, dst, want, MSG_DONTWAIT);
		if (n == 0) {
			srv_conn_lost(s, c, "EOF");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				srv_conn_lost(s, c, strerror(errno));
			return;
		}
		if (!c->in_payload) {
			c->hdr_have += (size_t)n;
			if (c->hdr_have == BOOT_WIRE_HDR_BYTES)
				srv_header_done(s, c);
		} else if ((c->payload_have += (size_t)n) == c->hdr.len_bytes) {
			srv_dispatch(s, c);
			msgs++;
		}
	}
	if (c->draining && !c->closed)
		srv_drain(s, c);
}

/* ---- connections and the loop ------------------------------------------------ */

static void srv_accept(struct boot_server *s)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct srv_conn *c;
	int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return; /* EAGAIN, or the peer gave up already */
	if (s->nconns == s->conn_cap) {
		close(fd); /* full: world_size ranks + SRV_SPARE_CONNS strangers */
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	boot_sock_tune(fd);
	c->fd = fd;
	c->rank = -1;
	c->deadline_ms = boot_now_ms() + s->hello_ms;
	boot_sock_name(&ss, c->peer, sizeof(c->peer));
	s->conns[s->nconns++] = c;
}

static void srv_conn_free(struct srv_conn *c)
{
	while (c->out_head) {
		struct srv_out *o = c->out_head;

		c->out_head = o->next;
		blob_put(o->blob);
		free(o);
	}
	free(c->payload);
	close(c->fd);
	free(c);
}

/* A connection past its deadline: a silent stranger is refused, a
 * refused one that lingers is closed. */
static void srv_expire(struct boot_server *s, struct srv_conn *c)
{
	char why[96];

	if (c->draining) {
		srv_conn_lost(s, c, "rejected");
		return;
	}
	snprintf(why, sizeof(why), "no HELLO within %.1f s of connecting", s->hello_ms / 1e3);
	srv_reject(s, c, BOOT_MSG_ERROR, why);
}

/* Free the connections closed this round; expire the late ones. */
static void srv_reap(struct boot_server *s)
{
	int64_t now = boot_now_ms();
	int j = 0;

	for (int i = 0; i < s->nconns; i++) {
		struct srv_conn *c = s->conns[i];

		if (!c->closed && c->deadline_ms && now >= c->deadline_ms)
			srv_expire(s, c);
		if (c->closed)
			srv_conn_free(c);
		else
			s->conns[j++] = c;
	}
	s->nconns = j;
}

/* Fill pfds: [0] wake, [1] listen, [2..] connections; returns the count
 * and sets *timeout_ms for the nearest connection deadline (-1: none). */
static int srv_poll_setup(struct boot_server *s, int *timeout_ms)
{
	int64_t now = boot_now_ms(), next = -1;

	s->pfds[0] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
	s->pfds[1] = (struct pollfd){ .fd = s->nconns < s->conn_cap ? s->listen_fd : -1,
				      .events = POLLIN };
	for (int i = 0; i < s->nconns; i++) {
		struct srv_conn *c = s->conns[i];

		s->pfds[2 + i] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		if (c->out_head)
			s->pfds[2 + i].events |= POLLOUT;
		if (c->deadline_ms && (next < 0 || c->deadline_ms - now < next))
			next = c->deadline_ms > now ? c->deadline_ms - now : 0;
	}
	*timeout_ms = (int)next;
	return 2 + s->nconns;
}

static void *srv_main(void *arg)
{
	struct boot_server *s = arg;

	while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
		int timeout_ms, n = srv_poll_setup(s, &timeout_ms), nconns = s->nconns;

		if (poll(s->pfds, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
			break; /* cannot happen with valid fds; the clients will see EOF */
		for (int i = 0; i < nconns; i++) {
			struct srv_conn *c = s->conns[i];
			short re = s->pfds[2 + i].revents;

			if (re & (POLLOUT | POLLERR | POLLHUP))
				srv_flush(s, c);
			if (re & (POLLIN | POLLERR | POLLHUP) && !c->closed)
				srv_read(s, c);
		}
		if (s->pfds[1].revents & POLLIN)
			srv_accept(s);
		srv_reap(s);
	}
	return NULL;
}

/* ---- start / stop ------------------------------------------------------------ */

/* Bind and listen on addr:port; the socket in *fd_out. */
static int srv_listen(const char *addr, int port, int backlog, int *fd_out, int *port_out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char svc[8], name[80];
	int one = 1, fd, rc;

	snprintf(svc, sizeof(svc), "%d", port);
	rc = getaddrinfo(addr, svc, &hints, &ai);
	if (rc)
		return loom_err_set(EADDRNOTAVAIL, "bootstrap: rank 0: resolve '%s': %s", addr,
				    gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = loom_err_set(errno, "bootstrap: rank 0: socket: %s", strerror(errno));
		goto err_free_ai;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	boot_sock_name(ai->ai_addr, name, sizeof(name));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
		rc = loom_err_set(errno, "bootstrap: rank 0: bind %s: %s", name, strerror(errno));
		goto err_close;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	freeaddrinfo(ai);
	return 0;

err_close:
	close(fd);
err_free_ai:
	freeaddrinfo(ai);
	return rc;
}

static void srv_free(struct boot_server *s)
{
	for (int i = 0; i < s->nconns; i++)
		srv_conn_free(s->conns[i]);
	for (size_t i = 0; i < s->nkv; i++)
		blob_put(s->kv[i].val);
	blob_put(s->coll.blob);
	free(s->kv);
	free(s->coll.in);
	free(s->bye);
	free(s->ever);
	free(s->pid);
	free(s->by_rank);
	free(s->pfds);
	free(s->conns);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s);
}

static struct boot_server *srv_alloc(int world)
{
	struct boot_server *s = calloc(1, sizeof(*s));
	size_t w = (size_t)world;

	if (!s)
		return NULL;
	s->listen_fd = s->wake_fd = -1;
	s->world = world;
	s->conn_cap = world + SRV_SPARE_CONNS;
	s->conns = calloc((size_t)s->conn_cap, sizeof(*s->conns));
	s->pfds = calloc((size_t)s->conn_cap + 2, sizeof(*s->pfds));
	s->by_rank = calloc(w, sizeof(*s->by_rank));
	s->pid = calloc(w, sizeof(*s->pid));
	s->ever = calloc(w, sizeof(*s->ever));
	s->bye = calloc(w, sizeof(*s->bye));
	s->coll.in = calloc(w, sizeof(*s->coll.in));
	atomic_init(&s->stop, false);
	if (!s->conns || !s->pfds || !s->by_rank || !s->pid || !s->ever || !s->bye ||
	    !s->coll.in) {
		srv_free(s);
		return NULL;
	}
	return s;
}

int boot_server_start(const char *addr, int port, int world_size, int hello_ms,
		      struct boot_server **out)
{
	struct boot_server *s = srv_alloc(world_size);
	int rc;

	if (!s)
		return loom_err_set(ENOMEM, "bootstrap: rank 0: out of memory for the store");
	s->hello_ms = hello_ms;
	rc = srv_listen(addr, port, s->conn_cap > 4096 ? 4096 : s->conn_cap, &s->listen_fd,
			&s->port);
	if (rc)
		goto err_free;
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		rc = loom_err_set(errno, "bootstrap: rank 0: eventfd: %s", strerror(errno));
		goto err_free;
	}
	rc = pthread_create(&s->thread, NULL, srv_main, s);
	if (rc) {
		rc = loom_err_set(rc, "bootstrap: rank 0: start the store thread: %s",
				  strerror(rc));
		goto err_free;
	}
	*out = s;
	return 0;

err_free:
	srv_free(s);
	return rc;
}

int boot_server_port(const struct boot_server *s)
{
	return s->port;
}

void boot_server_stop(struct boot_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	atomic_store_explicit(&s->stop, true, memory_order_release);
	while (write(s->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(s->thread, NULL);
	srv_free(s);
}
