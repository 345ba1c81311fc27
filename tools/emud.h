/*
 * emud.h - loom-emud, the emulator process of one emulated Loom device:
 * for each rank a device link (runtime/simlink) to that rank's host, the
 * device firmware (firmware/) and a memory-facing logic die in RTL
 * (rtl_mfld.h); the ranks' network interfaces on one SoW mesh in RTL
 * (rtl_mesh.h) when there is more than one rank.  `loom emud` (emud_cmd.c)
 * is its command line; the runtime starts it the same way.
 *
 * Time.  One device clock drives the firmware, the dies and the mesh in
 * lockstep (cycle c is at c * ps_per_cycle of link time).  Before each
 * cycle every link is advanced to that time (simlink_next), which in a
 * synchronized link waits for the host's promise: the device never runs
 * ahead of what its hosts allow.  Host <-> device DRAM copies go through
 * the die's DRAM test port, whose cycles the die spends on its own clock;
 * a die that is ahead of the device clock that way is not stepped (nor is
 * its firmware) until the clock catches up, so those cycles are charged.
 * Unsynchronized links: functional only (say so, print no timing).
 *
 * Threads: one.  Exits when every host has gone (or none came).
 */
#ifndef LOOM_TOOLS_EMUD_H
#define LOOM_TOOLS_EMUD_H

#include <stdbool.h>
#include <stdint.h>

#define EMUD_MAX_RANKS 16

struct emud_config {
	char socket[200];	 /* rank r listens at "<socket>.<r>" */
	unsigned ranks;		 /* 1..EMUD_MAX_RANKS */
	double clock_mhz;	 /* device (and link) clock */
	double link_latency_ns;	 /* one way */
	unsigned link_bytes_per_cycle;
	bool synchronized;
	bool fast;		 /* the fast RTL flavour (default: checked) */
	int timeout_ms;		 /* waiting for hosts; every link wait */
	bool quiet;
};

struct emud_summary {
	uint64_t cycles;
	uint64_t descs, errors, irqs;	/* over all ranks' firmware */
	uint64_t mesh_msgs;
	bool synchronized;
};

void emud_config_default(struct emud_config *c);
/* Listen, wait for every rank's host, run until all have gone.  0, or a
 * negative errno with the reason in loom_err_msg(). */
int emud_run(const struct emud_config *c, struct emud_summary *out);

#endif
