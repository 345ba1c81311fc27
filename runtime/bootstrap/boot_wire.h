/*
 * boot_wire.h - the TCP bootstrap store's wire protocol, shared by the
 * server (server.c) and the client (client.c).  Not a general RPC layer.
 *
 * Every message is a 16-byte header followed by len_bytes of payload.
 * All integers are big-endian (network order).
 *
 *   offset  size  field
 *   0       4     magic      BOOT_WIRE_MAGIC ("LMBS")
 *   4       2     version    BOOT_WIRE_VERSION
 *   6       2     type       enum boot_msg_type
 *   8       4     arg        per type (below)
 *   12      4     len_bytes  payload length, checked against the type's limits
 *
 * Requests (client -> rank 0's server), one outstanding per connection
 * except ABORT, which may follow a pending request:
 *   HELLO    arg rank;  payload u32 world_size, u32 pid          (8 bytes)
 *   SET      payload u16 key_len, key, value
 *   GET      payload key
 *   BARRIER  arg collective number; no payload
 *   GATHER   arg collective number; payload this rank's blob
 *   ABORT    payload reason text
 *   BYE      no payload
 * Replies and events (server -> client):
 *   HELLO_OK, SET_OK, BYE_OK   no payload
 *   VALUE    payload the value (reply to GET, sent once the key exists)
 *   GATHERED arg collective number; payload world_size blobs in rank order
 *   ERROR    payload text; the server closes the connection after it
 *   ABORTED  payload text; the job is over (sent to every rank, at any time)
 *
 * A header with a bad magic, version, type or length is a protocol error:
 * the receiver reports it and drops the connection, never allocating more
 * than the type's limit.
 */
#ifndef LOOM_BOOT_WIRE_H
#define LOOM_BOOT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/bootstrap.h"

#define BOOT_WIRE_MAGIC 0x4C4D4253u /* "LMBS" */
#define BOOT_WIRE_VERSION 1
#define BOOT_WIRE_HDR_BYTES 16
#define BOOT_WIRE_TEXT_MAX 1024 /* ERROR / ABORTED / ABORT payloads */

enum boot_msg_type {
	BOOT_MSG_HELLO = 1,
	BOOT_MSG_SET = 2,
	BOOT_MSG_GET = 3,
	BOOT_MSG_BARRIER = 4,
	BOOT_MSG_GATHER = 5,
	BOOT_MSG_ABORT = 6,
	BOOT_MSG_BYE = 7,
	BOOT_MSG_HELLO_OK = 0x81,
	BOOT_MSG_SET_OK = 0x82,
	BOOT_MSG_VALUE = 0x83,
	BOOT_MSG_GATHERED = 0x84,
	BOOT_MSG_BYE_OK = 0x85,
	BOOT_MSG_ERROR = 0x86,
	BOOT_MSG_ABORTED = 0x87,
};

struct boot_wire_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t arg;
	uint32_t len_bytes;
};

/* The largest request payload: a SET of the longest key and value. */
#define BOOT_WIRE_REQ_MAX (2 + BOOT_KEY_MAX + BOOT_VALUE_MAX)

/* "GET", "GATHERED", ... or "type 0x42" for an unknown type (static or
 * per-thread storage; valid until the next call on the thread). */
const char *boot_msg_name(unsigned type);

void boot_wire_hdr_encode(uint8_t out[BOOT_WIRE_HDR_BYTES], unsigned type, uint32_t arg,
			  uint32_t len_bytes);
/* Decode and validate a header: magic, version, a known type of the
 * expected direction (requests when to_server, else replies) and a length
 * within that type's limits.  -EPROTO / -EMSGSIZE with a reason. */
int boot_wire_hdr_decode(const uint8_t in[BOOT_WIRE_HDR_BYTES], bool to_server,
			 struct boot_wire_hdr *h);

/* A key is 1..BOOT_KEY_MAX printable ASCII bytes (0x20..0x7e). */
bool boot_wire_key_valid(const char *key, size_t len);

static inline uint32_t boot_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void boot_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- socket helpers (non-blocking fds, absolute deadlines in boot_now_ms) */

/* TCP_NODELAY and keepalive (idle 5 s, 3 probes 2 s apart), close-on-exec. */
void boot_sock_tune(int fd);
/* "127.0.0.1:29500" (IPv6 as "[::1]:29500"). */
void boot_sock_name(const void *sockaddr, char *buf, size_t cap);
/* Write all iov bytes before the deadline: 0, -ETIMEDOUT, or -errno
 * (EPIPE, ECONNRESET).  No SIGPIPE.  No message set: callers add context. */
int boot_sock_send(int fd, const void *a, size_t alen, const void *b, size_t blen,
		   int64_t deadline_ms);
/* Read exactly len bytes before the deadline: 0, -ETIMEDOUT, -ECONNRESET on
 * EOF or reset, or -errno.  No message set. */
int boot_sock_recv(int fd, void *buf, size_t len, int64_t deadline_ms);

#endif
