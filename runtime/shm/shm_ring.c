/*
 * shm_ring.c - the two ends of a single-producer/single-consumer byte ring
 * in shared memory (layout in shm.h): records of 64-byte-aligned size, a
 * header that never wraps, payloads that may (copied in two pieces).
 *
 * Concurrency: shm_tx_* run on the producer only (the requester or
 * responder of the one QP allowed to write the ring, under its qp lock);
 * shm_rx_* on the consumer only.  Publication: prod and cons are stored with
 * release and loaded with acquire; the want_space handshake is seq_cst on
 * both sides (shm.h).  Nothing here blocks.
 */
#include <string.h>

#include "shm.h"

/* ---- producer ------------------------------------------------------------ */

static uint64_t tx_free(const struct shm_tx *tx)
{
	uint64_t used = tx->prod - tx->cons_cache;

	/* A consumer index past ours would be a corrupt peer: no room. */
	return used > tx->size ? 0 : tx->size - used;
}

/* Whether bytes fit now; when not, asks the consumer for a doorbell on the
 * next cons update (want_space) and looks once more.  Producer only. */
bool shm_tx_room(struct shm_tx *tx, uint64_t bytes)
{
	if (tx_free(tx) >= bytes)
		return true;
	tx->cons_cache = atomic_load_explicit(&tx->ctl->cons, memory_order_acquire);
	if (tx_free(tx) >= bytes)
		return true;
	atomic_store_explicit(&tx->ctl->want_space, 1, memory_order_seq_cst);
	tx->cons_cache = atomic_load_explicit(&tx->ctl->cons, memory_order_seq_cst);
	return tx_free(tx) >= bytes;
}

/* Copy len bytes to ring position at (free-running); may wrap. */
void shm_tx_put(struct shm_tx *tx, uint64_t at, const void *src, uint64_t len)
{
	uint64_t off = at & (tx->size - 1);
	uint64_t first = len < tx->size - off ? len : tx->size - off;

	memcpy(tx->data + off, src, first);
	if (len > first)
		memcpy(tx->data, (const uint8_t *)src + first, len - first);
}

/* Gather bytes [off, off + len) of the message an SGE list describes into
 * the ring at position at; returns the bytes copied. */
uint64_t shm_tx_put_sge(struct shm_tx *tx, uint64_t at, const struct tp_sge *sge, int n,
			uint64_t off, uint64_t len)
{
	uint64_t done = 0;

	for (int i = 0; i < n && done < len; i++) {
		uint64_t take;

		if (off >= sge[i].length) {
			off -= sge[i].length;
			continue;
		}
		take = sge[i].length - off < len - done ? sge[i].length - off : len - done;
		shm_tx_put(tx, at + done, (const uint8_t *)(uintptr_t)sge[i].addr + off, take);
		done += take;
		off = 0;
	}
	return done;
}

/* Make the records written since the last publish visible (release). */
void shm_tx_publish(struct shm_tx *tx, uint64_t bytes)
{
	tx->prod += bytes;
	atomic_store_explicit(&tx->ctl->prod, tx->prod, memory_order_release);
}

/* ---- consumer ------------------------------------------------------------------ */

/* Copy the next record's header into rec; false when the ring is empty. */
bool shm_rx_peek(struct shm_rx *rx, struct shm_rec *rec)
{
	if (rx->cons == rx->prod_cache) {
		rx->prod_cache = atomic_load_explicit(&rx->ctl->prod, memory_order_acquire);
		if (rx->cons == rx->prod_cache)
			return false;
	}
	/* Records are multiples of SHM_REC and the ring size is a power of two
	 * >= 4096, so a header never wraps. */
	memcpy(rec, rx->data + (rx->cons & (rx->size - 1)), sizeof(*rec));
	return true;
}

/* Whether a record of bytes starting at cons was wholly published: a check
 * against a corrupt or hostile peer before its length is trusted. */
static bool rx_complete(const struct shm_rx *rx, uint64_t bytes)
{
	return bytes <= rx->size && rx->prod_cache - rx->cons >= bytes;
}

void shm_rx_get(const struct shm_rx *rx, uint64_t at, void *dst, uint64_t len)
{
	uint64_t off = at & (rx->size - 1);
	uint64_t first = len < rx->size - off ? len : rx->size - off;

	memcpy(dst, rx->data + off, first);
	if (len > first)
		memcpy((uint8_t *)dst + first, rx->data, len - first);
}

/* Scatter len ring bytes at position at into bytes [off, off + len) of the
 * message an SGE list describes. */
void shm_rx_get_sge(const struct shm_rx *rx, uint64_t at, const struct tp_sge *sge, int n,
		    uint64_t off, uint64_t len)
{
	uint64_t done = 0;

	for (int i = 0; i < n && done < len; i++) {
		uint64_t take;

		if (off >= sge[i].length) {
			off -= sge[i].length;
			continue;
		}
		take = sge[i].length - off < len - done ? sge[i].length - off : len - done;
		shm_rx_get(rx, at + done, (uint8_t *)(uintptr_t)sge[i].addr + off, take);
		done += take;
		off = 0;
	}
}

/* Release the record just processed to the producer (release). */
void shm_rx_consume(struct shm_rx *rx, uint64_t bytes)
{
	rx->cons += bytes;
	atomic_store_explicit(&rx->ctl->cons, rx->cons, memory_order_release);
}

/* After a batch of consumes: wake a producer that waits for room. */
void shm_rx_done(struct shm_rx *rx, struct shm_seg_hdr *producer)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&rx->ctl->want_space, memory_order_relaxed) &&
	    atomic_exchange_explicit(&rx->ctl->want_space, 0, memory_order_relaxed))
		shm_bell(producer);
}

/* Whether rec (just peeked) is a wholly published record of sane size. */
bool shm_rx_valid(const struct shm_rx *rx, const struct shm_rec *rec)
{
	return rec->len <= rx->size - SHM_REC && rx_complete(rx, shm_rec_bytes(rec->len));
}
