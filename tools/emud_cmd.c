/*
 * emud_cmd.c - `loom emud`: run loom-emud, the emulator of one Loom device
 * (tools/emud.h), from flags or a config file of the same keys
 * ("key = value" lines, # comments; flags given after --config override it).
 */
#include "cli.h"
#include "emud.h"

#include "loom/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loom emud [--config FILE] [options]\n\n"
		"Run the emulator of one Loom device: per rank a device link (a Unix socket),\n"
		"the device firmware and a memory-facing logic die in RTL, the ranks joined by\n"
		"the SoW mesh in RTL.  Waits for every rank's host, runs until all have gone.\n\n"
		"  --config FILE            key = value lines with the keys below (no dashes)\n"
		"  --socket PATH            rank r listens at PATH.r (/tmp/loom-emud-PID)\n"
		"  --ranks N                ranks (dies on the wafer), 1..%d (1)\n"
		"  --clock-mhz F            device and link clock (1600: the DRAM's command clock)\n"
		"  --link-latency-ns L      host link latency, one way (500)\n"
		"  --link-bytes-per-cycle B host link bandwidth per clock (32)\n"
		"  --unsync                 do not synchronize with the hosts: functional only,\n"
		"                           no timing is reported\n"
		"  --fast                   the fast RTL builds (default: checked, assertions on)\n"
		"  --timeout-ms T           wait for hosts, and bound every link wait (10000)\n"
		"  --quiet                  no start-up line\n"
		"  --json                   the summary as one JSON object\n",
		EMUD_MAX_RANKS);
}

/* One key (flag without dashes) = value; false after printing why. */
static bool set_key(struct emud_config *c, const char *key, const char *v)
{
	long x;

	if (!strcmp(key, "socket")) {
		if (strlen(v) + 8 > sizeof(c->socket)) {
			fprintf(stderr, "loom emud: --socket: path too long\n");
			return false;
		}
		snprintf(c->socket, sizeof(c->socket), "%s", v);
	} else if (!strcmp(key, "ranks")) {
		if (!cli_long("emud", "--ranks", v, 1, EMUD_MAX_RANKS, &x))
			return false;
		c->ranks = (unsigned)x;
	} else if (!strcmp(key, "clock-mhz")) {
		return cli_double("emud", "--clock-mhz", v, 1, 100000, &c->clock_mhz);
	} else if (!strcmp(key, "link-latency-ns")) {
		return cli_double("emud", "--link-latency-ns", v, 0.001, 1e9, &c->link_latency_ns);
	} else if (!strcmp(key, "link-bytes-per-cycle")) {
		if (!cli_long("emud", "--link-bytes-per-cycle", v, 1, 1 << 20, &x))
			return false;
		c->link_bytes_per_cycle = (unsigned)x;
	} else if (!strcmp(key, "timeout-ms")) {
		if (!cli_long("emud", "--timeout-ms", v, 1, 3600000, &x))
			return false;
		c->timeout_ms = (int)x;
	} else if (!strcmp(key, "unsync") || !strcmp(key, "fast") || !strcmp(key, "quiet")) {
		bool on = !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes");

		if (!on && strcmp(v, "0") && strcmp(v, "false") && strcmp(v, "no")) {
			fprintf(stderr, "loom emud: %s: '%s' is not 0/1\n", key, v);
			return false;
		}
		if (key[0] == 'u')
			c->synchronized = !on;
		else
			*(key[0] == 'f' ? &c->fast : &c->quiet) = on;
	} else {
		fprintf(stderr, "loom emud: unknown key '%s' (try --help)\n", key);
		return false;
	}
	return true;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static bool read_config(struct emud_config *c, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	if (!f) {
		fprintf(stderr, "loom emud: --config %s: %s\n", path, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq;

		n++;
		if (!*s || *s == '#')
			continue;
		if (!(eq = strchr(s, '='))) {
			fprintf(stderr, "loom emud: %s:%d: not 'key = value'\n", path, n);
			fclose(f);
			return false;
		}
		*eq = 0;
		if (!set_key(c, trim(s), trim(eq + 1))) {
			fprintf(stderr, "loom emud: (in %s:%d)\n", path, n);
			fclose(f);
			return false;
		}
	}
	fclose(f);
	return true;
}

static int emud_main(int argc, char **argv)
{
	struct emud_config c;
	struct emud_summary s;
	bool json = false;
	int err;

	emud_config_default(&c);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--json")) {
			json = true;
			continue;
		}
		if (!strcmp(a, "--unsync") || !strcmp(a, "--fast") || !strcmp(a, "--quiet")) {
			set_key(&c, a + 2, "1");
			continue;
		}
		if (strncmp(a, "--", 2) || i + 1 >= argc) {
			fprintf(stderr, "loom emud: %s '%s' (try --help)\n",
				strncmp(a, "--", 2) ? "unexpected argument" : "missing value for", a);
			return 2;
		}
		if (!strcmp(a, "--config") ? !read_config(&c, argv[++i]) : !set_key(&c, a + 2, argv[++i]))
			return 2;
	}
	err = emud_run(&c, &s);
	if (json) {
		printf("{\"ok\": %s, \"ranks\": %u, \"cycles\": %llu, \"synchronized\": %s, "
		       "\"descriptors\": %llu, \"errors\": %llu, \"interrupts\": %llu, "
		       "\"mesh_messages\": %llu", err ? "false" : "true", c.ranks,
		       (unsigned long long)s.cycles, s.synchronized ? "true" : "false",
		       (unsigned long long)s.descs, (unsigned long long)s.errors,
		       (unsigned long long)s.irqs, (unsigned long long)s.mesh_msgs);
		if (err) {
			printf(", \"error\": ");
			cli_json_str(stdout, loom_err_msg());
		}
		printf("}\n");
	} else if (!c.quiet || err) {
		fprintf(stderr, "loom emud: %s; %llu cycles%s, %llu descriptors (%llu errors), %llu "
			"interrupts, %llu mesh messages\n", err ? loom_err_msg() : "all hosts gone",
			(unsigned long long)s.cycles, s.synchronized ? "" : " (functional only)",
			(unsigned long long)s.descs, (unsigned long long)s.errors,
			(unsigned long long)s.irqs, (unsigned long long)s.mesh_msgs);
	}
	return err ? 1 : 0;
}

const struct loom_cmd loom_cmd_emud = {
	.name = "emud",
	.summary = "run the emulator of a Loom device (firmware + RTL) for the runtime",
	.main = emud_main,
};
