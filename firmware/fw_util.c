/*
 * fw_util.c - the firmware's own memory helpers and error reporting
 * (freestanding: no libc).  Byte loops: the copies are small (descriptors,
 * records, one mesh payload), and code size matters more than speed on the
 * control core.
 */
#include "fw.h"

void fw_memcpy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	while (n--)
		*d++ = *s++;
}

void fw_memset(void *dst, int c, size_t n)
{
	uint8_t *d = dst;

	while (n--)
		*d++ = (uint8_t)c;
}

/* Record the reason and return err (negative), as loom_err_set does on the
 * host. */
int fw_fail(struct fw *f, int err, const char *why)
{
	f->why = why;
	return err;
}

const char *fw_why(const struct fw *f)
{
	return f->why ? f->why : "no error";
}
