/*
 * server.h - rank 0's bootstrap store server (server.c), started and
 * stopped by the TCP client back-end (client.c).  Internal.
 */
#ifndef LOOM_BOOT_SERVER_H
#define LOOM_BOOT_SERVER_H

struct boot_server;

/* Bind addr:port (port 0: a free one), listen, start the server thread.
 * A connection that has not sent HELLO within hello_ms is refused (so
 * silent strangers cannot use up the connection slots).  0 or a negative
 * errno with a reason ("bind 127.0.0.1:29500: Address already in use"). */
int boot_server_start(const char *addr, int port, int world_size, int hello_ms,
		      struct boot_server **out);
/* The port it listens on. */
int boot_server_port(const struct boot_server *s);
/* Stop the thread, close every connection, free s.  NULL is a no-op. */
void boot_server_stop(struct boot_server *s);

#endif
