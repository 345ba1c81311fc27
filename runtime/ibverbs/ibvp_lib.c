/*
 * ibvp_lib.c - loading rdma-core's libibverbs at run time: dlopen of
 * $LOOM_IBVERBS_LIB or "libibverbs.so.1", then dlsym of every exported
 * function the provider calls (struct ibvp_lib).
 *
 * Not here: the static inline data-path calls of <infiniband/verbs.h>
 * (post, poll, notify), which go through the context's ops table and need
 * no symbol.  The library is never unloaded: rdma-core's providers are not
 * built to be, and open devices would dangle.  Concurrency: one mutex
 * around loading and the list of loaded tables; a table is immutable once
 * loaded.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "ibvp.h"

#define IBVP_LIB_DEFAULT "libibverbs.so.1"

/* Every entry point and where it goes in struct ibvp_lib. */
static const struct {
	const char *name;
	size_t offset;
} lib_syms[] = {
#define SYM(field) { "ibv_" #field, offsetof(struct ibvp_lib, field) }
	SYM(get_device_list), SYM(free_device_list), SYM(get_device_name),
	SYM(open_device), SYM(close_device), SYM(query_device), SYM(query_port),
	SYM(query_gid), SYM(alloc_pd), SYM(dealloc_pd), SYM(reg_mr), SYM(dereg_mr),
	SYM(create_comp_channel), SYM(destroy_comp_channel), SYM(create_cq),
	SYM(destroy_cq), SYM(get_cq_event), SYM(ack_cq_events), SYM(create_qp),
	SYM(modify_qp), SYM(query_qp), SYM(destroy_qp), SYM(get_async_event),
	SYM(ack_async_event),
#undef SYM
};

_Static_assert(sizeof(lib_syms) / sizeof(lib_syms[0]) * sizeof(void (*)(void)) ==
		       sizeof(struct ibvp_lib),
	       "every member of struct ibvp_lib is resolved");

/* Every library loaded, by file name: a changed $LOOM_IBVERBS_LIB loads
 * another (tests use this), while objects made with the first keep its
 * table. */
struct lib_entry {
	struct ibvp_lib lib;
	struct lib_entry *next;
	char file[];
};

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lib_entry *lib_loaded;
static const struct ibvp_lib *lib_forced;

/* Resolve every symbol of handle h into lib; 0 or -ENOSYS with the name. */
static int lib_resolve(void *h, const char *file, struct ibvp_lib *lib)
{
	for (size_t i = 0; i < sizeof(lib_syms) / sizeof(lib_syms[0]); i++) {
		void *p = dlsym(h, lib_syms[i].name);

		if (!p)
			return loom_err_set(ENOSYS, "ibverbs: %s has no %s (not rdma-core's "
					    "libibverbs, or too old)", file, lib_syms[i].name);
		/* POSIX: a data pointer from dlsym converts to a function pointer. */
		memcpy((char *)lib + lib_syms[i].offset, &p, sizeof(p));
	}
	return 0;
}

static const struct ibvp_lib *lib_load(const char *file)
{
	struct lib_entry *e;
	void *h;

	h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();

		loom_err_set(ENODEV, "ibverbs: libibverbs.so.1 not found (dlopen %s: %s); install "
			     "rdma-core's libibverbs1 or set LOOM_IBVERBS_LIB", file,
			     why ? why : "unknown error");
		return NULL;
	}
	e = calloc(1, sizeof(*e) + strlen(file) + 1);
	if (!e) {
		loom_err_set(ENOMEM, "ibverbs: out of memory");
		goto err_close;
	}
	strcpy(e->file, file);
	if (lib_resolve(h, file, &e->lib) < 0)
		goto err_free;
	e->next = lib_loaded;
	lib_loaded = e;
	return &e->lib;

err_free:
	free(e);
err_close:
	dlclose(h);
	return NULL;
}

const struct ibvp_lib *ibvp_lib_get(void)
{
	const char *file = getenv("LOOM_IBVERBS_LIB");
	const struct ibvp_lib *lib = NULL;

	if (!file || !*file)
		file = IBVP_LIB_DEFAULT;
	pthread_mutex_lock(&lib_lock);
	if (lib_forced)
		lib = lib_forced;
	for (struct lib_entry *e = lib_loaded; e && !lib; e = e->next)
		if (strcmp(e->file, file) == 0)
			lib = &e->lib;
	if (!lib)
		lib = lib_load(file);
	pthread_mutex_unlock(&lib_lock);
	return lib;
}

void ibvp_lib_override(const struct ibvp_lib *lib)
{
	pthread_mutex_lock(&lib_lock);
	lib_forced = lib;
	pthread_mutex_unlock(&lib_lock);
}
