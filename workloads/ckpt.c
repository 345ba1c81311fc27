/*
 * ckpt.c - checkpoint files (format and contract in include/loom/ckpt.h).
 *
 * Layout (little-endian), offsets in bytes:
 *   0  "LOOMCKPT"
 *   8  u32 version (1)
 *   12 u32 blob count
 *   16 u64 payload bytes: everything between this header and the checksum
 *   24 blobs: u16 name length (1..255), name (no NUL byte), u64 data
 *      length, data
 *   .. 32 bytes of SHA-256 over bytes [0, here)
 *
 * Writing: "<path>.tmp.<pid>" is created at begin (so a bad directory
 * fails early); the file image is built in memory and written there at
 * commit, then fsync, rename over path, fsync of the directory: a reader
 * sees the old file or the whole new one (a failure of that last directory
 * fsync is reported, though path is already replaced).  Reading: the whole
 * file is read and checked (sizes, magic, version, checksum, every blob
 * header against the bytes that are really there) before ckpt_open returns;
 * lengths are compared with the file size before use, so a corrupt length
 * never becomes a giant allocation or an out-of-bounds read.
 *
 * Not here: what the blobs mean (workloads/train.c).  A writer or reader
 * belongs to one thread at a time.
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loom/ckpt.h"
#include "loom/data.h"
#include "loom/err.h"

#define CKPT_MAGIC "LOOMCKPT"
#define CKPT_VERSION 1u
#define CKPT_HEADER 24u
#define CKPT_SUM 32u
#define CKPT_NAME_MAX 255u
/* Smallest blob: u16 length, a 1-byte name, u64 data length, no data. */
#define CKPT_BLOB_MIN (2u + 1u + 8u)

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- writer -------------------------------------------------------------- */

struct ckpt_writer {
	char *path, *tmp;
	int fd;		  /* the temporary file, created at begin */
	uint8_t *img;	  /* header + blobs so far */
	size_t len, cap;
	uint32_t count;
};

static void writer_free(struct ckpt_writer *w)
{
	free(w->img);
	free(w->tmp);
	free(w->path);
	free(w);
}

struct ckpt_writer *ckpt_write_begin(const char *path)
{
	struct ckpt_writer *w;

	if (!path || !*path) {
		loom_err_set(EINVAL, "ckpt: write: path is NULL or empty");
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto err_nomem;
	w->path = strdup(path);
	if (!w->path || asprintf(&w->tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
		w->tmp = NULL;
		goto err_free_writer;
	}
	w->cap = 4096;
	w->img = malloc(w->cap);
	if (!w->img)
		goto err_free_writer;
	w->len = CKPT_HEADER;
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		loom_err_set(errno, "ckpt: create %s: %s", w->tmp, strerror(errno));
		writer_free(w);
		return NULL;
	}
	return w;

err_free_writer:
	writer_free(w);
err_nomem:
	loom_err_set(ENOMEM, "ckpt: out of memory starting %s", path);
	return NULL;
}

static int writer_reserve(struct ckpt_writer *w, size_t more)
{
	size_t cap = w->cap;
	uint8_t *img;

	if (more > SIZE_MAX - w->len)
		return -ENOMEM;
	while (cap < w->len + more)
		cap = cap > SIZE_MAX / 2 ? w->len + more : cap * 2;
	if (cap == w->cap)
		return 0;
	img = realloc(w->img, cap);
	if (!img)
		return -ENOMEM;
	w->img = img;
	w->cap = cap;
	return 0;
}

/* Is name already a blob of w?  (Linear: checkpoints hold tens of blobs.) */
static bool writer_has(const struct ckpt_writer *w, const char *name, size_t nlen)
{
	size_t off = CKPT_HEADER;

	for (uint32_t i = 0; i < w->count; i++) {
		size_t l = (size_t)get_le(w->img + off, 2);
		uint64_t dlen = get_le(w->img + off + 2 + l, 8);

		if (l == nlen && memcmp(w->img + off + 2, name, l) == 0)
			return true;
		off += 2 + l + 8 + (size_t)dlen;
	}
	return false;
}

int ckpt_write_blob(struct ckpt_writer *w, const char *name, const void *data, size_t len)
{
	size_t nlen;
	uint8_t *p;

	if (!w || !name)
		return loom_err_set(EINVAL, "ckpt: write_blob: %s is NULL", w ? "name" : "writer");
	nlen = strlen(name);
	if (nlen < 1 || nlen > CKPT_NAME_MAX)
		return loom_err_set(EINVAL, "ckpt: %s: blob name of %zu bytes (must be 1..255)",
				    w->path, nlen);
	if (len && !data)
		return loom_err_set(EINVAL, "ckpt: %s: blob '%s' has NULL data", w->path, name);
	if (writer_has(w, name, nlen))
		return loom_err_set(EEXIST, "ckpt: %s: blob '%s' written twice", w->path, name);
	if (w->count == UINT32_MAX || len > SIZE_MAX - (2 + nlen + 8) ||
	    writer_reserve(w, 2 + nlen + 8 + len) < 0)
		return loom_err_set(ENOMEM, "ckpt: %s: no memory for blob '%s' (%zu bytes)",
				    w->path, name, len);
	p = w->img + w->len;
	put_le(p, nlen, 2);
	memcpy(p + 2, name, nlen);
	put_le(p + 2 + nlen, len, 8);
	if (len)
		memcpy(p + 2 + nlen + 8, data, len);
	w->len += 2 + nlen + 8 + len;
	w->count++;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, const char *path)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return loom_err_set(k < 0 ? errno : EIO, "ckpt: write %s: %s", path,
					    k < 0 ? strerror(errno) : "wrote nothing");
		p += k, n -= (size_t)k;
	}
	return 0;
}

/* fsync the directory holding path, so the rename itself is durable. */
static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path), *dir;
	int fd, err = 0;

	if (!copy)
		return loom_err_set(ENOMEM, "ckpt: out of memory");
	dir = dirname(copy);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		err = loom_err_set(errno, "ckpt: fsync directory %s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return err;
}

int ckpt_write_commit(struct ckpt_writer *w)
{
	uint8_t sum[CKPT_SUM];
	int err;

	if (!w)
		return loom_err_set(EINVAL, "ckpt: commit: writer is NULL");
	memcpy(w->img, CKPT_MAGIC, 8);
	put_le(w->img + 8, CKPT_VERSION, 4);
	put_le(w->img + 12, w->count, 4);
	put_le(w->img + 16, w->len - CKPT_HEADER, 8);
	data_sha256(w->img, w->len, sum);
	err = write_all(w->fd, w->img, w->len, w->tmp);
	if (!err)
		err = write_all(w->fd, sum, CKPT_SUM, w->tmp);
	if (!err && fsync(w->fd) < 0)
		err = loom_err_set(errno, "ckpt: fsync %s: %s", w->tmp, strerror(errno));
	if (close(w->fd) < 0 && !err)
		err = loom_err_set(errno, "ckpt: close %s: %s", w->tmp, strerror(errno));
	if (!err && rename(w->tmp, w->path) < 0)
		err = loom_err_set(errno, "ckpt: rename %s to %s: %s", w->tmp, w->path,
				   strerror(errno));
	if (err)
		unlink(w->tmp);
	else
		err = fsync_dir_of(w->path);
	writer_free(w);
	return err;
}

void ckpt_write_abort(struct ckpt_writer *w)
{
	if (!w)
		return;
	close(w->fd);
	unlink(w->tmp);
	writer_free(w);
}

/* ---- reader -------------------------------------------------------------- */

struct ckpt_blob {
	const char *name; /* not NUL-terminated: name_len bytes inside file */
	size_t name_len;
	const uint8_t *data;
	size_t len;
};

struct ckpt_reader {
	char *path;
	uint8_t *file;
	size_t size;
	uint32_t count;
	struct ckpt_blob *blobs;
};

void ckpt_close(struct ckpt_reader *r)
{
	if (!r)
		return;
	free(r->blobs);
	free(r->file);
	free(r->path);
	free(r);
}

/* Read the whole file into r->file / r->size. */
static int reader_slurp(struct ckpt_reader *r)
{
	int fd = open(r->path, O_RDONLY | O_CLOEXEC), err = 0;
	struct stat st;

	if (fd < 0)
		return loom_err_set(errno, "ckpt: open %s: %s", r->path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err = loom_err_set(EINVAL, "ckpt: %s is not a regular file", r->path);
		goto out_close;
	}
	r->file = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!r->file) {
		err = loom_err_set(ENOMEM, "ckpt: %s: no memory for %lld bytes", r->path,
				   (long long)st.st_size);
		goto out_close;
	}
	while (r->size < (size_t)st.st_size) {
		ssize_t n = read(fd, r->file + r->size, (size_t)st.st_size - r->size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = loom_err_set(n < 0 ? errno : EIO, "ckpt: read %s: %s", r->path,
					   n < 0 ? strerror(errno) : "file shrank while reading");
			goto out_close;
		}
		r->size += (size_t)n;
	}
out_close:
	close(fd);
	return err;
}

/* Header, sizes and checksum: everything before the blobs are parsed. */
static int reader_check_frame(struct ckpt_reader *r)
{
	const uint8_t *f = r->file;
	uint8_t sum[CKPT_SUM];
	uint64_t payload;

	if (r->size < CKPT_HEADER + CKPT_SUM)
		return loom_err_set(EPROTO, "ckpt: %s: truncated at byte %zu (a checkpoint has "
				    "at least %u)", r->path, r->size, CKPT_HEADER + CKPT_SUM);
	if (memcmp(f, CKPT_MAGIC, 8) != 0)
		return loom_err_set(EPROTO, "ckpt: %s: bad magic (not a Loom checkpoint)",
				    r->path);
	if (get_le(f + 8, 4) != CKPT_VERSION)
		return loom_err_set(EPROTO, "ckpt: %s: version %u, this build reads version %u",
				    r->path, (unsigned)get_le(f + 8, 4), CKPT_VERSION);
	payload = get_le(f + 16, 8);
	if (payload != r->size - CKPT_HEADER - CKPT_SUM) {
		if (payload > r->size - CKPT_HEADER - CKPT_SUM)
			return loom_err_set(EPROTO, "ckpt: %s: truncated at byte %zu (the header "
					    "promises %llu payload bytes, %zu in total)", r->path,
					    r->size, (unsigned long long)payload,
					    r->size - CKPT_HEADER - CKPT_SUM);
		return loom_err_set(EPROTO, "ckpt: %s: %zu bytes, the header promises %llu "
				    "(trailing bytes)", r->path, r->size,
				    (unsigned long long)payload + CKPT_HEADER + CKPT_SUM);
	}
	data_sha256(f, r->size - CKPT_SUM, sum);
	if (memcmp(sum, f + r->size - CKPT_SUM, CKPT_SUM) != 0)
		return loom_err_set(EPROTO, "ckpt: %s: checksum mismatch (contents corrupted)",
				    r->path);
	return 0;
}

/* Parse the blob at *off (< end) into b; advances *off.  0 or -EPROTO. */
static int reader_parse_blob(struct ckpt_reader *r, uint32_t i, size_t *off, size_t end,
			     struct ckpt_blob *b)
{
	const uint8_t *f = r->file;
	size_t o = *off;
	uint64_t dlen;

	if (end - o < 2)
		return loom_err_set(EPROTO, "ckpt: %s: blob %u: name length past the payload",
				    r->path, i);
	b->name_len = (size_t)get_le(f + o, 2);
	o += 2;
	if (b->name_len < 1 || b->name_len > CKPT_NAME_MAX || end - o < b->name_len)
		return loom_err_set(EPROTO, "ckpt: %s: blob %u: malformed name length %zu", r->path,
				    i, b->name_len);
	b->name = (const char *)f + o;
	if (memchr(b->name, 0, b->name_len))
		return loom_err_set(EPROTO, "ckpt: %s: blob %u: malformed name (NUL byte)",
				    r->path, i);
	o += b->name_len;
	if (end - o < 8)
		return loom_err_set(EPROTO, "ckpt: %s: blob '%.*s': data length past the payload",
				    r->path, (int)b->name_len, b->name);
	dlen = get_le(f + o, 8);
	o += 8;
	if (dlen > end - o)
		return loom_err_set(EPROTO, "ckpt: %s: blob '%.*s': %llu data bytes, %zu left in "
				    "the payload", r->path, (int)b->name_len, b->name,
				    (unsigned long long)dlen, end - o);
	b->data = f + o;
	b->len = (size_t)dlen;
	*off = o + b->len;
	return 0;
}

static const struct ckpt_blob *reader_find(const struct ckpt_reader *r, const char *name,
					   size_t nlen, uint32_t upto)
{
	for (uint32_t i = 0; i < upto; i++)
		if (r->blobs[i].name_len == nlen && memcmp(r->blobs[i].name, name, nlen) == 0)
			return &r->blobs[i];
	return NULL;
}

static int reader_parse_blobs(struct ckpt_reader *r)
{
	size_t off = CKPT_HEADER, end = r->size - CKPT_SUM;
	uint64_t count = get_le(r->file + 12, 4);
	int err;

	/* Bounded by the payload before the index is allocated. */
	if (count > (end - off) / CKPT_BLOB_MIN)
		return loom_err_set(EPROTO, "ckpt: %s: %llu blobs cannot fit in %zu payload bytes",
				    r->path, (unsigned long long)count, end - off);
	r->blobs = calloc(count ? count : 1, sizeof(*r->blobs));
	if (!r->blobs)
		return loom_err_set(ENOMEM, "ckpt: %s: out of memory", r->path);
	for (uint32_t i = 0; i < count; i++) {
		struct ckpt_blob *b = &r->blobs[i];

		err = reader_parse_blob(r, i, &off, end, b);
		if (err < 0)
			return err;
		if (reader_find(r, b->name, b->name_len, i))
			return loom_err_set(EPROTO, "ckpt: %s: duplicate blob name '%.*s'", r->path,
					    (int)b->name_len, b->name);
		r->count = i + 1;
	}
	if (off != end)
		return loom_err_set(EPROTO, "ckpt: %s: %zu payload bytes after the last of %llu "
				    "blobs", r->path, end - off, (unsigned long long)count);
	return 0;
}

struct ckpt_reader *ckpt_open(const char *path)
{
	struct ckpt_reader *r;

	if (!path) {
		loom_err_set(EINVAL, "ckpt: open: path is NULL");
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->path = strdup(path))) {
		free(r);
		loom_err_set(ENOMEM, "ckpt: out of memory opening %s", path);
		return NULL;
	}
	if (reader_slurp(r) < 0 || reader_check_frame(r) < 0 || reader_parse_blobs(r) < 0) {
		ckpt_close(r);
		return NULL;
	}
	return r;
}

long long ckpt_blob_len(struct ckpt_reader *r, const char *name)
{
	const struct ckpt_blob *b;

	if (!r || !name)
		return loom_err_set(EINVAL, "ckpt: blob_len: %s is NULL", r ? "name" : "reader");
	b = reader_find(r, name, strlen(name), r->count);
	if (!b)
		return loom_err_set(ENOENT, "ckpt: %s: no blob '%s'", r->path, name);
	return (long long)b->len;
}

int ckpt_read_blob(struct ckpt_reader *r, const char *name, void *data, size_t len)
{
	const struct ckpt_blob *b;

	if (!r || !name)
		return loom_err_set(EINVAL, "ckpt: read_blob: %s is NULL", r ? "name" : "reader");
	b = reader_find(r, name, strlen(name), r->count);
	if (!b)
		return loom_err_set(ENOENT, "ckpt: %s: no blob '%s'", r->path, name);
	if (b->len != len)
		return loom_err_set(EPROTO, "ckpt: %s: blob '%s' holds %zu bytes, the caller "
				    "expects %zu", r->path, name, b->len, len);
	if (len && !data)
		return loom_err_set(EINVAL, "ckpt: read_blob '%s': data is NULL", name);
	if (len)
		memcpy(data, b->data, len);
	return 0;
}
