/*
 * perf_conn.c - the TCP side channel of `loom perf`, as perftest's
 * "Ethernet" exchange: the client connects to the server's port (18515 by
 * default), they swap parameters and endpoint cards (address, QPN, PSN,
 * rkey, buffer address), and then synchronize each message size with a few
 * fixed-size messages (struct perf_msg).  The connection stays open for the
 * whole run: it is how each side learns, within a millisecond, that the
 * other died (EOF) or gave up (ABORT with its reason).
 *
 * Not the data path, and not runtime/bootstrap: that store retries a
 * missing rank 0 until its timeout and has no notion of a peer that is
 * expected to come and go; perftest's semantics (a refused connection fails
 * at once, the server waits forever) need only this.
 *
 * Wire format: struct perf_msg as raw bytes, both ends of the same byte
 * order and ABI (every Loom host is little-endian x86-64 or AArch64); the
 * first message carries a magic and version, so a stranger or an older
 * build on the port is refused with a message rather than misread.
 */
#include "perf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"

/* "LOOMPRF" + the protocol version, at the head of every message. */
#define PERF_MAGIC "LOOMPRF1"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void set_local_ip(struct perf_conn *c)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	c->local_ip[0] = 0;
	if (getsockname(c->fd, (struct sockaddr *)&sa, &len) == 0 && sa.sin_family == AF_INET)
		inet_ntop(AF_INET, &sa.sin_addr, c->local_ip, sizeof(c->local_ip));
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int perf_conn_listen(struct perf_conn *c, int port, const char *what)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	socklen_t len = sizeof(sa);
	int one = 1, err;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return loom_err_set(errno, "socket: %s", strerror(errno));
	setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(c->fd, 1)) {
		err = errno;
		close(c->fd);
		c->fd = -1;
		return loom_err_set(err, "listen on port %d: %s", port, strerror(err));
	}
	getsockname(c->fd, (struct sockaddr *)&sa, &len);
	c->port = ntohs(sa.sin_port);
	/* The line scripts wait for: the port is open from here on. */
	fprintf(stderr, "loom perf: %s: waiting for a client on port %d\n", what,
		ntohs(sa.sin_port));
	fflush(stderr);
	return 0;
}

/* Replace the listening socket by the first client's connection. */
int perf_conn_accept(struct perf_conn *c)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd;

	do
		fd = accept4(c->fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return loom_err_set(errno, "accept: %s", strerror(errno));
	close(c->fd);
	c->fd = fd;
	set_nodelay(fd);
	inet_ntop(AF_INET, &sa.sin_addr, c->peer, sizeof(c->peer));
	snprintf(c->peer + strlen(c->peer), sizeof(c->peer) - strlen(c->peer), ":%d",
		 ntohs(sa.sin_port));
	set_local_ip(c);
	return 0;
}

static int resolve(const char *host, int port, struct sockaddr_in *sa)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(host, NULL, &hints, &res);

	if (rc)
		return loom_err_set(EHOSTUNREACH, "resolve %s: %s", host, gai_strerror(rc));
	*sa = *(struct sockaddr_in *)res->ai_addr;
	sa->sin_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}

/* One connect attempt; 0, or the errno (positive). */
static int try_connect(struct perf_conn *c, const struct sockaddr_in *sa)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return errno;
	if (connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	int err = errno;

	close(c->fd);
	c->fd = -1;
	return err;
}

int perf_conn_connect(struct perf_conn *c, const char *host, int port, double wait_s)
{
	struct sockaddr_in sa;
	uint64_t end = mono_ms() + (uint64_t)(wait_s * 1000);
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
	err = resolve(host, port, &sa);
	if (err)
		return err;
	for (;;) {
		err = try_connect(c, &sa);
		if (!err)
			break;
		if ((err != ECONNREFUSED && err != EINTR) || mono_ms() >= end)
			return loom_err_set(err, "connect %s: %s", c->peer, strerror(err));
		usleep(50000);
	}
	set_nodelay(c->fd);
	set_local_ip(c);
	return 0;
}

void perf_conn_close(struct perf_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int perf_conn_send(struct perf_conn *c, const struct perf_msg *m)
{
	struct perf_msg w = *m;
	const char *p = (const char *)&w;
	size_t done = 0;

	memcpy(w.magic, PERF_MAGIC, sizeof(w.magic));
	while (done < sizeof(w)) {
		ssize_t n = send(c->fd, p + done, sizeof(w) - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return loom_err_set(errno ? errno : EPIPE, "send to %s: %s", c->peer,
					    strerror(errno ? errno : EPIPE));
		done += (size_t)n;
	}
	return 0;
}

static const char *const msg_names[] = {
	[PERF_MSG_HELLO] = "HELLO", [PERF_MSG_CARD] = "CARD", [PERF_MSG_BEGIN] = "BEGIN",
	[PERF_MSG_READY] = "READY", [PERF_MSG_DONE] = "DONE", [PERF_MSG_CHECKED] = "CHECKED",
	[PERF_MSG_BYE] = "BYE", [PERF_MSG_ABORT] = "ABORT",
};

static const char *msg_name(uint32_t t)
{
	return t < sizeof(msg_names) / sizeof(msg_names[0]) && msg_names[t] ? msg_names[t] : "?";
}

/* Read exactly len bytes before the deadline (UINT64_MAX = none). */
static int read_full(struct perf_conn *c, void *buf, size_t len, uint64_t end_ms)
{
	size_t got = 0;

	while (got < len) {
		uint64_t now = mono_ms();
		int wait = end_ms == UINT64_MAX ? -1 : now >= end_ms ? 0 : (int)(end_ms - now);
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int r = poll(&pfd, 1, wait);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return loom_err_set(ETIMEDOUT, "no answer from %s", c->peer);
		n = recv(c->fd, (char *)buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return loom_err_set(ECONNRESET, "the peer (%s) closed the connection "
					    "(it exited or died)", c->peer);
		if (n < 0)
			return loom_err_set(errno, "receive from %s: %s", c->peer, strerror(errno));
		got += (size_t)n;
	}
	return 0;
}

int perf_conn_recv(struct perf_conn *c, struct perf_msg *m, uint32_t want, int timeout_ms)
{
	uint64_t end = timeout_ms < 0 ? UINT64_MAX : mono_ms() + (uint64_t)timeout_ms;
	int err = read_full(c, m, sizeof(*m), end);

	if (err == -ETIMEDOUT)
		return loom_err_set(ETIMEDOUT, "no %s from %s within %d ms", msg_name(want),
				    c->peer, timeout_ms);
	if (err)
		return err;
	m->err[sizeof(m->err) - 1] = 0;
	if (memcmp(m->magic, PERF_MAGIC, sizeof(m->magic)))
		return loom_err_set(EPROTO, "%s is not a loom perf client of this version",
				    c->peer);
	if (m->type == PERF_MSG_ABORT)
		return loom_err_set(ECONNABORTED, "the peer (%s) failed: %s", c->peer, m->err);
	if (m->type != want)
		return loom_err_set(EPROTO, "expected %s from %s, got %s (type %u)",
				    msg_name(want), c->peer, msg_name(m->type), m->type);
	return 0;
}

int perf_conn_check(struct perf_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	struct perf_msg m;
	ssize_t n;

	if (c->fd < 0 || poll(&pfd, 1, 0) <= 0)
		return 0;
	/* Look without taking: the peer's next step message (DONE while this
	 * side still drains its last receives) is not news and stays queued. */
	n = recv(c->fd, &m, sizeof(m), MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return loom_err_set(ECONNRESET, "the peer (%s) closed the connection "
				    "(it exited or died)", c->peer);
	if (n < (ssize_t)sizeof(m) || m.type != PERF_MSG_ABORT)
		return 0;
	return perf_conn_recv(c, &m, PERF_MSG_ABORT, 1000); /* fails with its reason */
}

int perf_conn_wait_check(struct perf_conn *c, int wait_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

	if (c->fd >= 0)
		poll(&pfd, 1, wait_ms);
	return perf_conn_check(c);
}

void perf_conn_abort(struct perf_conn *c, const char *why)
{
	struct perf_msg m = { .type = PERF_MSG_ABORT, .status = -1 };

	if (c->fd < 0)
		return;
	memcpy(m.magic, PERF_MAGIC, sizeof(m.magic));
	snprintf(m.err, sizeof(m.err), "%s", why);
	send(c->fd, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
}
