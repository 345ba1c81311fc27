/*
 * data.h - the live workload's corpus (REFERENCE: ../shared/data/
 * tinyshakespeare.txt): loaded whole, checked by size and SHA-256, split
 * deterministically into train and validation, cut into batches of
 * byte-level tokens (vocabulary 256).
 *
 * Not here: tokenizers beyond bytes, streaming of files larger than memory.
 */
#ifndef LOOM_DATA_H
#define LOOM_DATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DATA_TINYSHAKESPEARE_BYTES 1115394
#define DATA_TINYSHAKESPEARE_SHA256 \
	"86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
#define DATA_VOCAB 256

/* SHA-256 (FIPS 180-4) of n bytes into 32 bytes / 65-char lowercase hex. */
void data_sha256(const void *p, size_t n, uint8_t out[32]);
void data_sha256_hex(const void *p, size_t n, char out[65]);

struct data_set {
	uint8_t *bytes;	  /* the whole file */
	size_t size;
	size_t train_end; /* train = [0, train_end), validation = [train_end, size) */
};

/* The default corpus path: $LOOM_DATA if set, else the first of
 * <repo>/../shared/data/tinyshakespeare.txt (repo found from the running
 * executable, build/bin/.. /..) and ./../shared/data/tinyshakespeare.txt
 * that exists; else the first candidate (so the error names it). */
const char *data_default_path(void);

/* Load path; if expect_sha256 is non-NULL, the file's size must be
 * expect_size and its SHA-256 must match (else -EPROTO, message names the
 * file, the expected and the found size/hash). val_fraction in (0, 0.5]:
 * the last fraction of the file is validation. -ENOENT etc. with the path. */
int data_load(struct data_set *ds, const char *path, const char *expect_sha256,
	      size_t expect_size, double val_fraction);
void data_free(struct data_set *ds);

enum data_split { DATA_TRAIN = 0, DATA_VAL = 1 };

/* Training batch of step `step`: B sequences of S tokens, sequence b
 * starting at an offset drawn from the PRNG (rng.h) seeded from (seed,
 * step, b) alone, so any rank can draw any sequence: tok (B, S) are
 * bytes [o, o+S), tgt (B, S) bytes [o+1, o+S+1). first/count select
 * sequences [first, first+count) of the B (a rank's slice); tok/tgt then
 * hold count * S entries. */
int data_batch(const struct data_set *ds, uint64_t seed, uint64_t step, int B, int S,
	       int first, int count, int32_t *tok, int32_t *tgt);

/* Validation sequences: the validation split cut into consecutive,
 * non-overlapping windows of S + 1 bytes (stride S); window i of
 * data_val_windows(). Same tok/tgt layout, windows [first, first+count). */
int data_val_windows(const struct data_set *ds, int S);
int data_val_batch(const struct data_set *ds, int S, int first, int count, int32_t *tok,
		   int32_t *tgt);

#ifdef __cplusplus
}
#endif
#endif
