/*
 * ckpt.h - checkpoint files of the live workload: named binary blobs
 * (tensors, optimizer state, a config record) in one file, written to a
 * temporary name, fsync'ed and renamed, so a reader never sees half a file;
 * read back only after the whole file checked out (magic, version, sizes,
 * SHA-256 over the contents).
 *
 * Format (little-endian): header "LOOMCKPT", u32 version (1), u32 blob
 * count, u64 payload bytes; then per blob: u16 name length, name bytes,
 * u64 data length, data; then 32 bytes of SHA-256 over everything before
 * it. Names are unique, 1..255 bytes.
 *
 * Not here: the meaning of blobs (workloads/train.c), sharding (a caller
 * writes one file per rank).
 */
#ifndef LOOM_CKPT_H
#define LOOM_CKPT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ckpt_writer;
struct ckpt_reader;

/* Start writing path (via "<path>.tmp.<pid>"); NULL + loom_err_msg(). */
struct ckpt_writer *ckpt_write_begin(const char *path);
/* Append one blob (data copied or streamed at once). */
int ckpt_write_blob(struct ckpt_writer *w, const char *name, const void *data, size_t len);
/* Finish: checksum, fsync, rename over path, fsync the directory; frees w.
 * On any error the temporary file is removed and path is untouched. */
int ckpt_write_commit(struct ckpt_writer *w);
/* Give up: remove the temporary file; frees w. */
void ckpt_write_abort(struct ckpt_writer *w);

/* Open and verify the whole file; NULL + a message that says what is wrong
 * (missing, truncated at byte N, bad magic, version, checksum mismatch,
 * duplicate or malformed blob names). */
struct ckpt_reader *ckpt_open(const char *path);
/* Copy blob name into data; -ENOENT if absent, -EPROTO if its length is
 * not len (message gives both). */
int ckpt_read_blob(struct ckpt_reader *r, const char *name, void *data, size_t len);
/* Length of blob name, or -ENOENT. */
long long ckpt_blob_len(struct ckpt_reader *r, const char *name);
void ckpt_close(struct ckpt_reader *r);

#ifdef __cplusplus
}
#endif
#endif
