/*
 * client.c - the "tcp" bootstrap back-end: each rank's connection to the
 * store that rank 0 serves (server.c, started here when rank == 0).
 * It is not the server and holds no store state: every operation is one
 * request and one reply (boot_wire.h), bounded by the handle's timeout.
 *
 * Threads: one caller thread at a time per handle (see bootstrap.h); the
 * only thread this file creates is rank 0's server, via boot_server_start.
 *
 * Failure paths, each ending with a message that says what was waited for:
 *   ABORTED from the server      -> -ECONNABORTED (another rank died or aborted)
 *   EOF / reset on the socket    -> -ECONNRESET   (rank 0 died)
 *   the deadline passes          -> -ETIMEDOUT; first we send ABORT with our
 *                                   reason so the others stop waiting, and
 *                                   use the server's reply, which names the
 *                                   ranks that never arrived
 *   ERROR or a malformed reply   -> -EPROTO
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "boot_impl.h"
#include "boot_wire.h"
#include "loom/err.h"
#include "server.h"

#define TCP_ABORT_GRACE_MS 1000 /* wait for the server's answer to our ABORT */
#define TCP_BACKOFF_MAX_MS 500

struct boot_tcp {
	struct boot base;
	int fd;
	struct boot_server *srv; /* rank 0 only */
	int port;
	char master[300]; /* "host:port", for messages */
};

/* One request in flight: what it is (for messages) and its deadline. */
struct tcp_op {
	const char *what; /* "barrier #3", "get 'qp/1'" */
	const char *hint; /* appended to a timeout message, or "" */
	int64_t start_ms, deadline_ms;
};

/* Where a reply goes: its type and arg must match; payload into buf. */
struct tcp_reply {
	unsigned type;
	uint32_t arg;
	void *buf;
	size_t cap;
	bool exact; /* payload must be exactly cap bytes */
	size_t len; /* out */
};

static struct boot_tcp *to_tcp(struct boot *b)
{
	return boot_container_of(b, struct boot_tcp, base);
}

static const struct boot_tcp *to_tcp_const(const struct boot *b)
{
	return boot_container_of(b, const struct boot_tcp, base);
}

static void tcp_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Discard len payload bytes (a reply we cannot use). */
static int tcp_skip(struct boot_tcp *t, size_t len, int64_t deadline_ms)
{
	uint8_t junk[4096];

	while (len) {
		size_t n = len < sizeof(junk) ? len : sizeof(junk);
		int err = boot_sock_recv(t->fd, junk, n, deadline_ms);

		if (err)
			return err;
		len -= n;
	}
	return 0;
}

/* Read a text payload (<= BOOT_WIRE_TEXT_MAX, checked by decode) as a
 * printable C string. */
static int tcp_read_text(struct boot_tcp *t, size_t len, char *buf, size_t cap,
			 int64_t deadline_ms)
{
	uint8_t raw[BOOT_WIRE_TEXT_MAX];
	int err = boot_sock_recv(t->fd, raw, len, deadline_ms);
	size_t n = len < cap - 1 ? len : cap - 1;

	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		buf[i] = raw[i] >= 0x20 && raw[i] <= 0x7e ? (char)raw[i] : '?';
	buf[n] = '\0';
	return 0;
}

/* After our ABORT: wait briefly for the server's ABORTED broadcast (it adds
 * who was missing), skipping other messages.  true with its text. */
static bool tcp_await_aborted(struct boot_tcp *t, char *text, size_t cap, int64_t deadline_ms)
{
	for (;;) {
		uint8_t hb[BOOT_WIRE_HDR_BYTES];
		struct boot_wire_hdr h;

		if (boot_sock_recv(t->fd, hb, sizeof(hb), deadline_ms) ||
		    boot_wire_hdr_decode(hb, false, &h) < 0)
			return false;
		if (h.type == BOOT_MSG_ABORTED)
			return tcp_read_text(t, h.len_bytes, text, cap, deadline_ms) == 0;
		if (tcp_skip(t, h.len_bytes, deadline_ms))
			return false;
	}
}

/* The deadline passed: abort the job with our reason, report it. */
static int tcp_timed_out(struct boot_tcp *t, const struct tcp_op *op)
{
	char reason[BOOT_MSG_TEXT_MAX], text[BOOT_MSG_TEXT_MAX];
	uint8_t hb[BOOT_WIRE_HDR_BYTES];
	int64_t grace = boot_now_ms() + TCP_ABORT_GRACE_MS;
	int n;

	n = snprintf(reason, sizeof(reason), "rank %d: %s timed out after %.1f s%s",
		     t->base.rank, op->what, (double)(boot_now_ms() - op->start_ms) / 1e3,
		     op->hint);
	n = n < (int)sizeof(reason) ? n : (int)sizeof(reason) - 1;
	boot_wire_hdr_encode(hb, BOOT_MSG_ABORT, 0, (uint32_t)n);
	if (boot_sock_send(t->fd, hb, sizeof(hb), reason, (size_t)n, grace) == 0 &&
	    tcp_await_aborted(t, text, sizeof(text), grace))
		return loom_err_set(ETIMEDOUT, "bootstrap: %s", text);
	return loom_err_set(ETIMEDOUT, "bootstrap: %s", reason);
}

/* A socket error during op: a timeout, or rank 0 is gone. */
static int tcp_io_fail(struct boot_tcp *t, const struct tcp_op *op, int err)
{
	if (err == -ETIMEDOUT)
		return tcp_timed_out(t, op);
	return loom_err_set(ECONNRESET, "bootstrap: rank %d: lost connection to rank 0 at %s "
			    "during %s (%s): rank 0 died or closed the store", t->base.rank,
			    t->master, op->what, err == -ECONNRESET ? "connection closed" :
			    strerror(-err));
}

/* ABORTED or ERROR instead of the reply. */
static int tcp_refused(struct boot_tcp *t, const struct tcp_op *op,
		       const struct boot_wire_hdr *h)
{
	char text[BOOT_MSG_TEXT_MAX];
	int err = tcp_read_text(t, h->len_bytes, text, sizeof(text), op->deadline_ms);

	if (err)
		return tcp_io_fail(t, op, err);
	if (h->type == BOOT_MSG_ABORTED)
		return loom_err_set(ECONNABORTED, "bootstrap: rank %d: job aborted during %s: %s",
				    t->base.rank, op->what, text);
	return loom_err_set(EPROTO, "bootstrap: rank %d: rank 0 rejected %s: %s", t->base.rank,
			    op->what, text);
}

/* Read the reply to op into r. */
static int tcp_recv_reply(struct boot_tcp *t, const struct tcp_op *op, struct tcp_reply *r)
{
	uint8_t hb[BOOT_WIRE_HDR_BYTES];
	struct boot_wire_hdr h;
	char why[BOOT_MSG_TEXT_MAX];
	int err = boot_sock_recv(t->fd, hb, sizeof(hb), op->deadline_ms);

	if (err)
		return tcp_io_fail(t, op, err);
	if (boot_wire_hdr_decode(hb, false, &h) < 0) {
		snprintf(why, sizeof(why), "%s", loom_err_msg());
		return loom_err_set(EPROTO, "bootstrap: rank %d: bad reply from rank 0 during %s: "
				    "%s", t->base.rank, op->what, why);
	}
	if (h.type == BOOT_MSG_ABORTED || h.type == BOOT_MSG_ERROR)
		return tcp_refused(t, op, &h);
	if (h.type != r->type || h.arg != r->arg || (r->exact && h.len_bytes != r->cap))
		return loom_err_set(EPROTO, "bootstrap: rank %d: unexpected %s (arg %u, %u bytes) "
				    "from rank 0 during %s", t->base.rank, boot_msg_name(h.type),
				    h.arg, h.len_bytes, op->what);
	r->len = h.len_bytes;
	if (h.len_bytes > r->cap) {
		err = tcp_skip(t, h.len_bytes, op->deadline_ms);
		if (err)
			return tcp_io_fail(t, op, err);
		return loom_err_set(EMSGSIZE, "bootstrap: rank %d: %s: the value is %u bytes, the "
				    "buffer holds %zu", t->base.rank, op->what, h.len_bytes, r->cap);
	}
	err = boot_sock_recv(t->fd, r->buf, h.len_bytes, op->deadline_ms);
	return err ? tcp_io_fail(t, op, err) : 0;
}

/* Send one request (header, then pre and body as its payload) and wait
 * for its reply. */
static int tcp_call(struct boot_tcp *t, struct tcp_op *op, unsigned type, uint32_t arg,
		    const void *pre, size_t pre_len, const void *body, size_t body_len,
		    struct tcp_reply *r)
{
	uint8_t head[BOOT_WIRE_HDR_BYTES + 2 + BOOT_KEY_MAX];
	int err;

	op->start_ms = boot_now_ms();
	op->deadline_ms = op->start_ms + t->base.timeout_ms;
	boot_wire_hdr_encode(head, type, arg, (uint32_t)(pre_len + body_len));
	if (pre_len)
		memcpy(head + BOOT_WIRE_HDR_BYTES, pre, pre_len);
	err = boot_sock_send(t->fd, head, BOOT_WIRE_HDR_BYTES + pre_len, body, body_len,
			     op->deadline_ms);
	if (err)
		return tcp_io_fail(t, op, err);
	return tcp_recv_reply(t, op, r);
}

/* ---- operations -------------------------------------------------------------- */

static int tcp_set(struct boot *b, const char *key, const void *val, size_t len_bytes)
{
	struct boot_tcp *t = to_tcp(b);
	size_t klen = strlen(key);
	uint8_t pre[2 + BOOT_KEY_MAX];
	char what[BOOT_KEY_MAX + 16];
	struct tcp_op op = { .what = what, .hint = "" };
	struct tcp_reply r = { .type = BOOT_MSG_SET_OK };

	pre[0] = (uint8_t)(klen >> 8);
	pre[1] = (uint8_t)klen;
	memcpy(pre + 2, key, klen);
	snprintf(what, sizeof(what), "set '%s'", key);
	return tcp_call(t, &op, BOOT_MSG_SET, 0, pre, 2 + klen, val, len_bytes, &r);
}

static int tcp_get(struct boot *b, const char *key, void *buf, size_t cap_bytes,
		   size_t *len_out)
{
	struct boot_tcp *t = to_tcp(b);
	char what[BOOT_KEY_MAX + 16];
	struct tcp_op op = { .what = what, .hint = " (no rank has set it)" };
	struct tcp_reply r = { .type = BOOT_MSG_VALUE, .buf = buf, .cap = cap_bytes };
	int rc;

	snprintf(what, sizeof(what), "get '%s'", key);
	rc = tcp_call(t, &op, BOOT_MSG_GET, 0, key, strlen(key), NULL, 0, &r);
	if ((rc == 0 || rc == -EMSGSIZE) && len_out)
		*len_out = r.len;
	return rc;
}

static int tcp_barrier(struct boot *b)
{
	struct boot_tcp *t = to_tcp(b);
	char what[48];
	struct tcp_op op = { .what = what, .hint = "" };
	struct tcp_reply r = { .type = BOOT_MSG_GATHERED, .arg = b->ncoll, .exact = true };

	snprintf(what, sizeof(what), "barrier #%u", b->ncoll);
	return tcp_call(t, &op, BOOT_MSG_BARRIER, b->ncoll, NULL, 0, NULL, 0, &r);
}

static int tcp_allgather(struct boot *b, const void *mine, void *all, size_t len_bytes)
{
	struct boot_tcp *t = to_tcp(b);
	char what[64];
	struct tcp_op op = { .what = what, .hint = "" };
	struct tcp_reply r = { .type = BOOT_MSG_GATHERED, .arg = b->ncoll, .buf = all,
			       .cap = len_bytes * (size_t)b->world_size, .exact = true };

	snprintf(what, sizeof(what), "allgather #%u (%zu bytes/rank)", b->ncoll, len_bytes);
	return tcp_call(t, &op, BOOT_MSG_GATHER, b->ncoll, NULL, 0, mine, len_bytes, &r);
}

/* Anything waiting on the socket between calls is an abort or EOF. */
static int tcp_check(struct boot *b)
{
	struct boot_tcp *t = to_tcp(b);
	struct pollfd p = { .fd = t->fd, .events = POLLIN };
	struct tcp_op op = { .what = "a health check", .hint = "" };
	struct tcp_reply r = { .type = 0 }; /* any reply here is unexpected */

	if (poll(&p, 1, 0) <= 0)
		return 0;
	op.start_ms = boot_now_ms();
	op.deadline_ms = op.start_ms + TCP_ABORT_GRACE_MS;
	return tcp_recv_reply(t, &op, &r);
}

static int tcp_abort(struct boot *b, const char *reason)
{
	struct boot_tcp *t = to_tcp(b);
	char text[BOOT_MSG_TEXT_MAX], echo[BOOT_MSG_TEXT_MAX];
	uint8_t hb[BOOT_WIRE_HDR_BYTES];
	int64_t grace = boot_now_ms() + TCP_ABORT_GRACE_MS;
	int n = snprintf(text, sizeof(text), "rank %d aborted the job: %s", b->rank, reason);

	n = n < (int)sizeof(text) ? n : (int)sizeof(text) - 1;
	boot_wire_hdr_encode(hb, BOOT_MSG_ABORT, 0, (uint32_t)n);
	if (boot_sock_send(t->fd, hb, sizeof(hb), text, (size_t)n, grace) ||
	    !tcp_await_aborted(t, echo, sizeof(echo), grace))
		return loom_err_set(ECONNRESET, "bootstrap: %s (rank 0 at %s did not confirm)",
				    text, t->master);
	return 0;
}

static int tcp_finalize(struct boot *b, bool dead)
{
	struct boot_tcp *t = to_tcp(b);
	struct tcp_op op = { .what = b->rank ? "finalize" : "finalize (rank 0 waits for "
				   "every rank to finalize)", .hint = "" };
	struct tcp_reply r = { .type = BOOT_MSG_BYE_OK };
	int rc = 0;

	if (!dead)
		rc = tcp_call(t, &op, BOOT_MSG_BYE, 0, NULL, 0, NULL, 0, &r);
	close(t->fd);
	boot_server_stop(t->srv);
	free(t);
	return rc;
}

static int tcp_master_port(const struct boot *b)
{
	return to_tcp_const(b)->port;
}

static const struct boot_ops tcp_ops = {
	.name = "tcp",
	.set = tcp_set,
	.get = tcp_get,
	.barrier = tcp_barrier,
	.allgather = tcp_allgather,
	.check = tcp_check,
	.abort = tcp_abort,
	.finalize = tcp_finalize,
	.master_port = tcp_master_port,
};

/* ---- joining ----------------------------------------------------------------- */

/* One connection attempt to every address of host:port before the
 * deadline.  0 with the socket in *fd, or -errno with why filled. */
static int tcp_connect_once(const char *host, int port, int64_t deadline_ms, int *fd,
			    char *why, size_t cap)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai, *a;
	char svc[8];
	int rc, err = -ECONNREFUSED;

	snprintf(svc, sizeof(svc), "%d", port);
	rc = getaddrinfo(host, svc, &hints, &ai);
	if (rc) {
		snprintf(why, cap, "resolve '%s': %s", host, gai_strerror(rc));
		return rc == EAI_AGAIN ? -EAGAIN : -EHOSTUNREACH;
	}
	for (a = ai; a; a = a->ai_next) {
		struct pollfd p;
		socklen_t sl = sizeof(err);
		int so_err = 0,
		    s = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (s < 0) {
			err = -errno;
			continue;
		}
		if (connect(s, a->ai_addr, a->ai_addrlen) == 0) {
			*fd = s;
			freeaddrinfo(ai);
			return 0;
		}
		so_err = errno;
		if (so_err == EINPROGRESS) {
			/* At least 20 ms, so the try at the deadline gets its answer. */
			int64_t left = deadline_ms - boot_now_ms();

			p = (struct pollfd){ .fd = s, .events = POLLOUT };
			so_err = ETIMEDOUT;
			if (poll(&p, 1, left > 20 ? (int)left : 20) > 0)
				getsockopt(s, SOL_SOCKET, SO_ERROR, &so_err, &sl);
		}
		if (so_err == 0) {
			*fd = s;
			freeaddrinfo(ai);
			return 0;
		}
		err = -so_err;
		close(s);
	}
	freeaddrinfo(ai);
	snprintf(why, cap, "%s", strerror(-err));
	return err;
}

static bool tcp_retryable(int err)
{
	return err == -ECONNREFUSED || err == -ETIMEDOUT || err == -EHOSTUNREACH ||
	       err == -ENETUNREACH || err == -ECONNRESET || err == -EAGAIN;
}

/* Connect to rank 0, retrying with backoff (10 ms doubling to 500 ms)
 * while it is not listening yet, until the timeout. */
static int tcp_connect(struct boot_tcp *t, const char *host)
{
	int64_t start = boot_now_ms(), deadline = start + t->base.timeout_ms, left;
	int backoff = 10, tries = 0, err;
	char why[200];

	for (;;) {
		tries++;
		err = tcp_connect_once(host, t->port, deadline, &t->fd, why, sizeof(why));
		if (err == 0) {
			boot_sock_tune(t->fd);
			return 0;
		}
		left = deadline - boot_now_ms();
		if ((err == -EHOSTUNREACH && strncmp(why, "resolve", 7) == 0) ||
		    !tcp_retryable(err) || left <= 0)
			break;
		tcp_sleep_ms(backoff < left ? backoff : (int)left); /* last try at the deadline */
		backoff = backoff * 2 > TCP_BACKOFF_MAX_MS ? TCP_BACKOFF_MAX_MS : backoff * 2;
	}
	return loom_err_set(err, "bootstrap: rank %d: connect %s: %s (tried %d time%s over "
			    "%.1f s)%s", t->base.rank, t->master, why, tries, tries == 1 ? "" : "s",
			    (double)(boot_now_ms() - start) / 1e3,
			    tcp_retryable(err) ? "; is rank 0 running?" : "");
}

/* HELLO: rank in arg; payload world size and pid. */
static int tcp_hello(struct boot_tcp *t)
{
	uint8_t p[8];
	struct tcp_op op = { .what = "join (HELLO)", .hint = "" };
	struct tcp_reply r = { .type = BOOT_MSG_HELLO_OK };

	boot_put_be32(p, (uint32_t)t->base.world_size);
	boot_put_be32(p + 4, (uint32_t)getpid());
	return tcp_call(t, &op, BOOT_MSG_HELLO, (uint32_t)t->base.rank, p, sizeof(p), NULL, 0,
			&r);
}

struct boot *boot_tcp_create(const struct boot_config *cfg)
{
	struct boot_tcp *t = calloc(1, sizeof(*t));
	bool v6 = strchr(cfg->master_addr, ':') != NULL;

	if (!t) {
		loom_err_set(ENOMEM, "bootstrap: out of memory");
		return NULL;
	}
	t->base = (struct boot){ .ops = &tcp_ops, .rank = cfg->rank,
				 .world_size = cfg->world_size, .timeout_ms = cfg->timeout_ms };
	t->fd = -1;
	t->port = cfg->master_port;
	if (cfg->rank == 0) {
		if (boot_server_start(cfg->master_addr, cfg->master_port, cfg->world_size,
				      cfg->timeout_ms, &t->srv))
			goto err_free;
		t->port = boot_server_port(t->srv);
	}
	snprintf(t->master, sizeof(t->master), v6 ? "[%s]:%d" : "%s:%d", cfg->master_addr,
		 t->port);
	if (tcp_connect(t, cfg->master_addr))
		goto err_stop_server;
	if (tcp_hello(t))
		goto err_close;
	return &t->base;

err_close:
	close(t->fd);
err_stop_server:
	boot_server_stop(t->srv);
err_free:
	free(t);
	return NULL;
}
