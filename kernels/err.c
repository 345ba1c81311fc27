/* err.c - thread-local "last error" message; see include/loom/err.h. */
#include "loom/err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char err_buf[512];

int loom_err_set(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	return err > 0 ? -err : err;
}

const char *loom_err_msg(void)
{
	return err_buf;
}
