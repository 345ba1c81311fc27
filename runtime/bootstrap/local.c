/*
 * local.c - the "local" bootstrap back-end: a world of one process, for
 * running Loom without a launcher.  No sockets and no threads; the store
 * is a list in this process.  Collectives are copies; a get of a missing
 * key fails at once with -ENOENT (no other rank could ever set it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot_impl.h"
#include "loom/err.h"

struct local_kv {
	struct local_kv *next;
	char key[BOOT_KEY_MAX + 1];
	size_t len;
	uint8_t *val;
};

struct boot_local {
	struct boot base;
	struct local_kv *kv;
};

static struct boot_local *to_local(struct boot *b)
{
	return boot_container_of(b, struct boot_local, base);
}

static struct local_kv *local_find(struct boot_local *l, const char *key)
{
	for (struct local_kv *e = l->kv; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static int local_set(struct boot *b, const char *key, const void *val, size_t len_bytes)
{
	struct boot_local *l = to_local(b);
	struct local_kv *e = local_find(l, key);
	uint8_t *copy = malloc(len_bytes ? len_bytes : 1);

	if (!copy)
		return loom_err_set(ENOMEM, "bootstrap: set '%s': out of memory", key);
	if (len_bytes)
		memcpy(copy, val, len_bytes);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			free(copy);
			return loom_err_set(ENOMEM, "bootstrap: set '%s': out of memory", key);
		}
		strcpy(e->key, key); /* length checked by boot_set */
		e->next = l->kv;
		l->kv = e;
	}
	free(e->val);
	e->val = copy;
	e->len = len_bytes;
	return 0;
}

static int local_get(struct boot *b, const char *key, void *buf, size_t cap_bytes,
		     size_t *len_out)
{
	struct local_kv *e = local_find(to_local(b), key);

	if (!e)
		return loom_err_set(ENOENT, "bootstrap: get '%s': no such key (local bootstrap: "
				    "a world of one, nobody else can set it)", key);
	if (len_out)
		*len_out = e->len;
	if (e->len > cap_bytes)
		return loom_err_set(EMSGSIZE, "bootstrap: rank 0: get '%s': the value is %zu "
				    "bytes, the buffer holds %zu", key, e->len, cap_bytes);
	if (e->len)
		memcpy(buf, e->val, e->len);
	return 0;
}

static int local_barrier(struct boot *b)
{
	(void)b;
	return 0;
}

static int local_allgather(struct boot *b, const void *mine, void *all, size_t len_bytes)
{
	(void)b;
	memcpy(all, mine, len_bytes);
	return 0;
}

static int local_check(struct boot *b)
{
	(void)b;
	return 0;
}

static int local_abort(struct boot *b, const char *reason)
{
	(void)b;
	(void)reason;
	return 0;
}

static int local_finalize(struct boot *b, bool dead)
{
	struct boot_local *l = to_local(b);

	(void)dead;
	while (l->kv) {
		struct local_kv *e = l->kv;

		l->kv = e->next;
		free(e->val);
		free(e);
	}
	free(l);
	return 0;
}

static const struct boot_ops local_ops = {
	.name = "local",
	.set = local_set,
	.get = local_get,
	.barrier = local_barrier,
	.allgather = local_allgather,
	.check = local_check,
	.abort = local_abort,
	.finalize = local_finalize,
};

struct boot *boot_local_create(void)
{
	struct boot_local *l = calloc(1, sizeof(*l));

	if (!l) {
		loom_err_set(ENOMEM, "bootstrap: out of memory");
		return NULL;
	}
	l->base = (struct boot){ .ops = &local_ops, .rank = 0, .world_size = 1,
				 .timeout_ms = BOOT_TIMEOUT_DEFAULT_MS };
	return &l->base;
}
