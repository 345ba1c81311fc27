/*
 * err.h - error convention shared by every Loom library.
 *
 * Action functions return 0 or a negative errno (-EINVAL, -ENOMEM, ...).
 * Constructors return NULL on failure.  In both cases the failing function
 * records a one-line, human-readable reason ("quant: k=100 is not a multiple
 * of 128") that the caller can print with loom_err_msg().  The message lives
 * in thread-local storage: it is valid until the next failing call on the
 * same thread.  Successful calls do not clear it.
 */
#ifndef LOOM_ERR_H
#define LOOM_ERR_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Record a reason for the error err (a positive or negative errno) and
 * return it as a negative errno, so callers can write
 *     return loom_err_set(EINVAL, "gemm: m=%d must be > 0", m);            */
int loom_err_set(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last recorded reason on this thread ("" if none). */
const char *loom_err_msg(void);

#ifdef __cplusplus
}
#endif
#endif
