/*
 * wire.c - the bootstrap store's message headers (validation of everything
 * that arrives) and the deadline-bounded socket helpers the client uses.
 * The protocol itself is described in boot_wire.h.
 */
#include "boot_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "boot_impl.h"
#include "loom/err.h"

/* Payload limits per type; max 0 with min 0 means "no payload". */
struct wire_type {
	unsigned type;
	const char *name;
	bool to_server;
	uint32_t min_len;
	uint32_t max_len;
};

static const struct wire_type wire_types[] = {
	{ BOOT_MSG_HELLO, "HELLO", true, 8, 8 },
	{ BOOT_MSG_SET, "SET", true, 3, BOOT_WIRE_REQ_MAX },
	{ BOOT_MSG_GET, "GET", true, 1, BOOT_KEY_MAX },
	{ BOOT_MSG_BARRIER, "BARRIER", true, 0, 0 },
	{ BOOT_MSG_GATHER, "GATHER", true, 1, BOOT_VALUE_MAX },
	{ BOOT_MSG_ABORT, "ABORT", true, 0, BOOT_WIRE_TEXT_MAX },
	{ BOOT_MSG_BYE, "BYE", true, 0, 0 },
	{ BOOT_MSG_HELLO_OK, "HELLO_OK", false, 0, 0 },
	{ BOOT_MSG_SET_OK, "SET_OK", false, 0, 0 },
	{ BOOT_MSG_VALUE, "VALUE", false, 0, BOOT_VALUE_MAX },
	{ BOOT_MSG_GATHERED, "GATHERED", false, 0, BOOT_GATHER_MAX },
	{ BOOT_MSG_BYE_OK, "BYE_OK", false, 0, 0 },
	{ BOOT_MSG_ERROR, "ERROR", false, 0, BOOT_WIRE_TEXT_MAX },
	{ BOOT_MSG_ABORTED, "ABORTED", false, 0, BOOT_WIRE_TEXT_MAX },
};

static const struct wire_type *wire_type_find(unsigned type)
{
	for (size_t i = 0; i < sizeof(wire_types) / sizeof(wire_types[0]); i++)
		if (wire_types[i].type == type)
			return &wire_types[i];
	return NULL;
}

const char *boot_msg_name(unsigned type)
{
	static _Thread_local char unknown[24];
	const struct wire_type *t = wire_type_find(type);

	if (t)
		return t->name;
	snprintf(unknown, sizeof(unknown), "type 0x%x", type);
	return unknown;
}

void boot_wire_hdr_encode(uint8_t out[BOOT_WIRE_HDR_BYTES], unsigned type, uint32_t arg,
			  uint32_t len_bytes)
{
	boot_put_be32(out, BOOT_WIRE_MAGIC);
	out[4] = BOOT_WIRE_VERSION >> 8;
	out[5] = BOOT_WIRE_VERSION & 0xff;
	out[6] = (uint8_t)(type >> 8);
	out[7] = (uint8_t)type;
	boot_put_be32(out + 8, arg);
	boot_put_be32(out + 12, len_bytes);
}

int boot_wire_hdr_decode(const uint8_t in[BOOT_WIRE_HDR_BYTES], bool to_server,
			 struct boot_wire_hdr *h)
{
	const struct wire_type *t;

	h->magic = boot_get_be32(in);
	h->version = (uint16_t)(in[4] << 8 | in[5]);
	h->type = (uint16_t)(in[6] << 8 | in[7]);
	h->arg = boot_get_be32(in + 8);
	h->len_bytes = boot_get_be32(in + 12);
	if (h->magic != BOOT_WIRE_MAGIC)
		return loom_err_set(EPROTO, "bad magic 0x%08x (want 0x%08x): not a Loom bootstrap "
				    "peer", h->magic, BOOT_WIRE_MAGIC);
	if (h->version != BOOT_WIRE_VERSION)
		return loom_err_set(EPROTO, "protocol version %u (this build speaks %u)",
				    h->version, BOOT_WIRE_VERSION);
	t = wire_type_find(h->type);
	if (!t || t->to_server != to_server)
		return loom_err_set(EPROTO, "unexpected message %s from a %s", boot_msg_name(h->type),
				    to_server ? "client" : "server");
	if (h->len_bytes > t->max_len)
		return loom_err_set(EMSGSIZE, "%s message of %u bytes exceeds its %u-byte limit",
				    t->name, h->len_bytes, t->max_len);
	if (h->len_bytes < t->min_len)
		return loom_err_set(EPROTO, "%s message of %u bytes is shorter than its %u-byte "
				    "minimum", t->name, h->len_bytes, t->min_len);
	return 0;
}

bool boot_wire_key_valid(const char *key, size_t len)
{
	if (len == 0 || len > BOOT_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			return false;
	return true;
}

/* ---- sockets ------------------------------------------------------------ */

void boot_sock_tune(int fd)
{
	int one = 1, idle_s = 5, intvl_s = 2, cnt = 3;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl_s, sizeof(intvl_s));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void boot_sock_name(const void *sockaddr, char *buf, size_t cap)
{
	const struct sockaddr *sa = sockaddr;
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = sockaddr;

		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(in4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = sockaddr;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, cap, "(family %d)", sa->sa_family);
	}
}

/* Wait until fd is ready for events or the deadline passes. */
static int sock_wait(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline_ms - boot_now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left > 1000 ? 1000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int boot_sock_send(int fd, const void *a, size_t alen, const void *b, size_t blen,
		   int64_t deadline_ms)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	while (iov[0].iov_len + iov[1].iov_len > 0) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		int err;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			err = sock_wait(fd, POLLOUT, deadline_ms);
			if (err)
				return err;
			continue;
		}
		for (int i = 0; i < 2 && n > 0; i++) {
			size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;

			iov[i].iov_base = (char *)iov[i].iov_base + take;
			iov[i].iov_len -= take;
			n -= (ssize_t)take;
		}
	}
	return 0;
}

int boot_sock_recv(int fd, void *buf, size_t len, int64_t deadline_ms)
{
	size_t have = 0;

	while (have < len) {
		ssize_t n = recv(fd, (char *)buf + have, len - have, MSG_DONTWAIT);
		int err;

		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		err = sock_wait(fd, POLLIN, deadline_ms);
		if (err)
			return err;
	}
	return 0;
}
